//! The footer: connection state and transport (or "offline" while the browser
//! has no network), the reconnect countdown, and the pending / received
//! counters.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use yew::prelude::*;

use crate::state::ConnState;
use crate::transport::Transport;

#[derive(Properties, PartialEq)]
pub struct StatusBarProps {
    pub conn: ConnState,
    /// The browser has no network: the footer says "offline" whatever the
    /// connection's last state, and offers no retry (the network's return
    /// reconnects).
    #[prop_or_default]
    pub offline: bool,
    /// How the connection travels, while it is open.
    #[prop_or_default]
    pub transport: Option<Transport>,
    /// When the closed connection is retried by itself (ms since the Unix epoch,
    /// by the browser's clock): shown as a countdown.
    #[prop_or_default]
    pub reconnect_at: Option<u64>,
    /// Own messages not yet acknowledged by the server.
    pub pending: usize,
    /// Chat messages received on the current connection.
    pub received: u64,
    /// The "Retry now" button, shown while the connection is closed.
    pub on_retry_now: Callback<()>,
}

/// Whole seconds left until `at` (rounded up, so "in 1 s" lasts until the
/// moment itself), by the browser's clock.
fn seconds_until(at: u64) -> u64 {
    at.saturating_sub(crate::time::now_ms()).div_ceil(1000)
}

#[component]
pub fn StatusBar(props: &StatusBarProps) -> Html {
    // The countdown is the one thing here that changes with the clock: the
    // component re-renders each time the number of seconds left drops.
    let ticks = use_state(|| 0u32);
    {
        use_effect_with((props.reconnect_at, *ticks), move |&(at, tick)| {
            let cancelled = Rc::new(Cell::new(false));
            let left = at.map_or(0, |at| at.saturating_sub(crate::time::now_ms()));
            if left > 0 {
                // Just after the next whole second is reached.
                let wait = match left % 1000 {
                    0 => 1000,
                    part => part,
                } + 5;
                let cancelled = cancelled.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    yew::platform::time::sleep(Duration::from_millis(wait)).await;
                    if !cancelled.get() {
                        ticks.set(tick.wrapping_add(1));
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    let offline = props.offline;
    let (state, detail) = if offline {
        ("offline", Some("waiting for the network".to_owned()))
    } else {
        (props.conn.as_str(), props.conn.detail())
    };
    let closed = matches!(props.conn, ConnState::Closed { .. }) && !offline;
    let idle = matches!(props.conn, ConnState::Idle);
    let transport = props
        .transport
        .filter(|_| matches!(props.conn, ConnState::Open | ConnState::Closing) && !offline);
    let countdown = props.reconnect_at.filter(|_| closed).map(seconds_until);
    let on_retry_now = props.on_retry_now.reform(|_: MouseEvent| ());
    html! {
        <footer id="status" class={classes!("status", format!("status-{state}"), idle.then_some("status-idle"), countdown.is_some().then_some("reconnecting"))}>
            <span class="status-item conn" title="Connection to the server">
                <span class="dot" aria-hidden="true"></span>
                <span class="label">{ "Connection" }</span>
                <span id="conn-state" data-state={state}>{ state }</span>
                if let Some(transport) = transport {
                    <span id="transport" class="transport" data-transport={transport.as_str()} title="How this connection travels">
                        { transport.label() }
                    </span>
                }
                if let Some(detail) = detail {
                    <span id="conn-detail" class="detail">{ detail }</span>
                }
            </span>
            if closed {
                <span class="status-item reconnect">
                    if let Some(seconds) = countdown {
                        <span id="reconnect-in" class="countdown" data-seconds={seconds.to_string()}>
                            if seconds > 0 {
                                { format!("Reconnecting in {seconds} s") }
                            } else {
                                { "Reconnecting…" }
                            }
                        </span>
                    }
                    <button type="button" id="retry-now" class="small" onclick={on_retry_now}>
                        { "Retry now" }
                    </button>
                </span>
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
