//! The WebSocket transport (`/ws`): one text frame per message each way, and a
//! `ping` when the server has been quiet for a while, to notice a dead one.

use std::pin::pin;
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use futures::future::{Either, select};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use parley_common::{ClientMsg, ServerMsg};
use yew::platform::time::sleep;

use super::{Ended, Event};
use crate::time::now_ms;
use crate::transport::{PING_AFTER, PONG_WITHIN, Transport, WS_OPEN_TIMEOUT};

/// The WebSocket URL for a page served from `protocol` (`"https:"`) and `host`
/// (`"example.org:8443"`): same host, `/ws`, `wss` when the page is `https`.
pub fn ws_url_for(protocol: &str, host: &str) -> String {
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}/ws")
}

/// The WebSocket URL derived from `window.location`.
pub fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    Some(ws_url_for(
        &location.protocol().ok()?,
        &location.host().ok()?,
    ))
}

enum Happened {
    Frame(Option<Result<Message, WebSocketError>>),
    Outgoing(Option<ClientMsg>),
    /// The liveness timer ran out.
    Timer,
}

/// Runs a connection over a WebSocket until it ends.
pub(super) async fn run(
    hello: &ClientMsg,
    inbox: &mut UnboundedReceiver<ClientMsg>,
    events: &dyn Fn(Event<'_>),
) -> Ended {
    let Some(url) = ws_url() else {
        return Ended::NeverOpened("no window location".into());
    };
    let mut ws = match WebSocket::open(&url) {
        Ok(ws) => ws,
        Err(err) => return Ended::NeverOpened(err.to_string()),
    };
    if !open(&mut ws, hello, events).await {
        // Dropping the socket closes it (also one still connecting).
        return Ended::NeverOpened(String::new());
    }
    events(Event::Handshake { url: &url });
    events(Event::Opened(Transport::WebSocket));

    // A browser cannot see WebSocket pings, and a connection whose other end
    // vanished (a laptop's network changed, a server that froze) can look open
    // for many minutes. So: nothing heard for PING_AFTER, send `ping`; still
    // nothing PONG_WITHIN later, the connection is dead.
    let mut heard_at = now_ms();
    let mut pinged = false;
    let mut timer = Box::pin(sleep(PING_AFTER));
    let mut close_event = None;
    loop {
        // The select's losing futures borrow `ws`; they are dropped with this
        // statement.
        let event = match select(select(ws.next(), inbox.next()), timer.as_mut()).await {
            Either::Left((Either::Left((frame, _)), _)) => Happened::Frame(frame),
            Either::Left((Either::Right((out, _)), _)) => Happened::Outgoing(out),
            Either::Right(((), _)) => Happened::Timer,
        };
        match event {
            Happened::Frame(Some(frame)) => {
                heard_at = now_ms();
                pinged = false;
                match frame {
                    Ok(Message::Text(text)) => {
                        events(Event::Frame {
                            sent: false,
                            payload: text.len(),
                        });
                        match serde_json::from_str::<ServerMsg>(&text) {
                            // Liveness is all a pong says; the reducer need not wake.
                            Ok(ServerMsg::Pong) => {}
                            Ok(msg) => events(Event::Received {
                                msg,
                                at_ms: heard_at,
                            }),
                            Err(err) => events(Event::BadFrame(err.to_string())),
                        }
                    }
                    Ok(Message::Bytes(_)) => {
                        events(Event::BadFrame("unexpected binary frame".into()));
                    }
                    Err(WebSocketError::ConnectionClose(event)) => close_event = Some(event),
                    // An `error` event; the `close` event with the details follows.
                    Err(_) => {}
                }
            }
            Happened::Frame(None) => break,
            Happened::Outgoing(Some(msg)) => {
                // A failed send means the socket is closing; its close event follows.
                let _ = send(&mut ws, &msg, events).await;
            }
            Happened::Outgoing(None) => {
                events(Event::Closing);
                let _ = ws.close(Some(1000), Some("client closed"));
                return Ended::ByApp;
            }
            Happened::Timer => {
                let quiet = Duration::from_millis(now_ms().saturating_sub(heard_at));
                if quiet < PING_AFTER {
                    timer = Box::pin(sleep(PING_AFTER - quiet));
                } else if !pinged {
                    let _ = send(&mut ws, &ClientMsg::Ping, events).await;
                    pinged = true;
                    timer = Box::pin(sleep(PONG_WITHIN));
                } else {
                    // The close handshake would never finish: report it now.
                    let _ = ws.close(Some(1000), Some("no answer"));
                    return Ended::Closed {
                        code: None,
                        reason: "the server stopped answering".into(),
                    };
                }
            }
        }
    }
    match close_event {
        Some(event) => Ended::Closed {
            code: Some(event.code),
            reason: event.reason,
        },
        None => Ended::Closed {
            code: None,
            reason: "connection lost".into(),
        },
    }
}

/// Waits for the socket to open (at most [`WS_OPEN_TIMEOUT`]) and sends `hello`.
///
/// gloo's sink waits for the socket to open before the first send. If the
/// connection fails instead, the send "succeeds" on the closed socket, so the
/// state is checked too.
async fn open(ws: &mut WebSocket, hello: &ClientMsg, events: &dyn Fn(Event<'_>)) -> bool {
    let sent = {
        let sending = pin!(send(&mut *ws, hello, events));
        match select(sending, pin!(sleep(WS_OPEN_TIMEOUT))).await {
            Either::Left((sent, _)) => sent.is_ok(),
            Either::Right(_) => false,
        }
    };
    sent && matches!(ws.state(), State::Open)
}

/// Whether a WebSocket opens now (long-polling in automatic mode asks, to move
/// back to one). The probe sends nothing and closes at once.
pub(super) async fn probe() -> bool {
    let Some(url) = ws_url() else {
        return false;
    };
    let Ok(mut ws) = WebSocket::open(&url) else {
        return false;
    };
    let ready = futures::future::poll_fn(|cx| ws.poll_ready_unpin(cx));
    let settled = match select(pin!(ready), pin!(sleep(WS_OPEN_TIMEOUT))).await {
        Either::Left((settled, _)) => settled.is_ok(),
        Either::Right(_) => false,
    };
    let opened = settled && matches!(ws.state(), State::Open);
    let _ = ws.close(Some(1000), Some("probe"));
    opened
}

async fn send(ws: &mut WebSocket, msg: &ClientMsg, events: &dyn Fn(Event<'_>)) -> Result<(), ()> {
    let json = super::encode(msg, events)?;
    let payload = json.len();
    ws.send(Message::Text(json)).await.map_err(drop)?;
    events(Event::Frame {
        sent: true,
        payload,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ws_url_for;

    #[test]
    fn url_follows_the_page() {
        assert_eq!(
            ws_url_for("http:", "127.0.0.1:8080"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            ws_url_for("https:", "chat.example.org"),
            "wss://chat.example.org/ws"
        );
    }
}
