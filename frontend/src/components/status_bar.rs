//! The footer: connection state and the pending / received counters.

use yew::prelude::*;

use crate::state::ConnState;

#[derive(Properties, PartialEq)]
pub struct StatusBarProps {
    pub conn: ConnState,
    /// Own messages not yet acknowledged by the server.
    pub pending: usize,
    /// Chat messages received on the current connection.
    pub received: u64,
    /// Shown as a "Reconnect" button while the connection is closed.
    pub on_reconnect: Callback<()>,
}

#[component]
pub fn StatusBar(props: &StatusBarProps) -> Html {
    let state = props.conn.as_str();
    let detail = props.conn.detail();
    let closed = matches!(props.conn, ConnState::Closed { .. });
    let idle = matches!(props.conn, ConnState::Idle);
    let on_reconnect = props.on_reconnect.reform(|_: MouseEvent| ());
    html! {
        <footer id="status" class={classes!("status", format!("status-{state}"), idle.then_some("status-idle"))}>
            <span class="status-item conn" title="Connection to the server">
                <span class="dot" aria-hidden="true"></span>
                <span class="label">{ "Connection" }</span>
                <span id="conn-state" data-state={state}>{ state }</span>
                if let Some(detail) = detail {
                    <span id="conn-detail" class="detail">{ detail }</span>
                }
            </span>
            if closed {
                <button type="button" id="reconnect" class="small" onclick={on_reconnect}>
                    { "Reconnect" }
                </button>
            }
            <span class="spacer"></span>
            <span class="status-item" title="Your messages the server has not acknowledged yet">
                <span class="label">{ "Pending" }</span>
                <span id="pending-count" class="count">{ props.pending }</span>
            </span>
            <span class="status-item" title="Chat messages received on this connection">
                <span class="label">{ "Received" }</span>
                <span id="received-count" class="count">{ props.received }</span>
            </span>
        </footer>
    }
}
