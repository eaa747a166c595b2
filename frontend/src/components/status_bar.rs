//! The footer: connection state and transport, the reconnect countdown, and the
//! pending / received counters.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use web_sys::MouseEvent;

use crate::state::ConnState;
use crate::transport::Transport;
use crate::ui::{AttrValue, Callback, Html, classes, h, use_effect_with, use_state, when};

#[derive(Clone, PartialEq)]
pub struct StatusBarProps {
    pub conn: ConnState,
    /// How the connection travels, while it is open.
    pub transport: Option<Transport>,
    /// When the closed connection is retried by itself (ms since the Unix epoch,
    /// by the browser's clock): shown as a countdown.
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
    at.saturating_sub(js_sys::Date::now() as u64).div_ceil(1000)
}

pub fn status_bar(props: &StatusBarProps) -> Html {
    // The countdown is the one thing here that changes with the clock: the
    // component re-renders each time the number of seconds left drops.
    let ticks = use_state(|| 0u32);
    {
        use_effect_with((props.reconnect_at, *ticks), move |&(at, tick)| {
            let cancelled = Rc::new(Cell::new(false));
            let left = at.map_or(0, |at| at.saturating_sub(js_sys::Date::now() as u64));
            if left > 0 {
                // Just after the next whole second is reached.
                let wait = match left % 1000 {
                    0 => 1000,
                    part => part,
                } + 5;
                let cancelled = cancelled.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    crate::ui::sleep(Duration::from_millis(wait)).await;
                    if !cancelled.get() {
                        ticks.set(tick.wrapping_add(1));
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    let state = props.conn.as_str();
    let detail = props.conn.detail();
    let closed = matches!(props.conn, ConnState::Closed { .. });
    let idle = matches!(props.conn, ConnState::Idle);
    let transport = props
        .transport
        .filter(|_| matches!(props.conn, ConnState::Open | ConnState::Closing));
    let countdown = props.reconnect_at.filter(|_| closed).map(seconds_until);
    let on_retry_now = props.on_retry_now.reform(|_: MouseEvent| ());
    h("footer")
        .id("status")
        .class(classes(&[
            "status",
            &format!("status-{state}"),
            when(idle, "status-idle"),
            when(countdown.is_some(), "reconnecting"),
        ]))
        .child(
            h("span")
                .class("status-item conn")
                .attr("title", "Connection to the server")
                .child(h("span").class("dot").attr("aria-hidden", "true"))
                .child(h("span").class("label").text("Connection"))
                .child(
                    h("span")
                        .id("conn-state")
                        .attr("data-state", state)
                        .text(state),
                )
                .child(transport.map(|transport| {
                    h("span")
                        .id("transport")
                        .class("transport")
                        .attr("data-transport", transport.as_str())
                        .attr("title", "How this connection travels")
                        .text(transport.label())
                }))
                .child(
                    detail.map(|detail| h("span").id("conn-detail").class("detail").text(detail)),
                ),
        )
        .child(closed.then(|| {
            h("span")
                .class("status-item reconnect")
                .child(countdown.map(|seconds| {
                    h("span")
                        .id("reconnect-in")
                        .class("countdown")
                        .attr("data-seconds", seconds.to_string())
                        .text(if seconds > 0 {
                            AttrValue::Owned(format!("Reconnecting in {seconds} s"))
                        } else {
                            AttrValue::Borrowed("Reconnecting…")
                        })
                }))
                .child(
                    h("button")
                        .attr("type", "button")
                        .id("retry-now")
                        .class("small")
                        .onclick(on_retry_now)
                        .text("Retry now"),
                )
        }))
        .child(h("span").class("spacer"))
        .child(
            h("span")
                .class("status-item")
                .attr("title", "Your messages the server has not acknowledged yet")
                .child(h("span").class("label").text("Pending"))
                .child(
                    h("span")
                        .id("pending-count")
                        .class("count")
                        .text(props.pending.to_string()),
                ),
        )
        .child(
            h("span")
                .class("status-item")
                .attr("title", "Chat messages received on this connection")
                .child(h("span").class("label").text("Received"))
                .child(
                    h("span")
                        .id("received-count")
                        .class("count")
                        .text(props.received.to_string()),
                ),
        )
        .into()
}
