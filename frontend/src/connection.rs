//! The connection task: owns the one WebSocket of a connection attempt, sends the
//! UI's [`ClientMsg`]s over it and turns everything that happens on it into reducer
//! [`Action`]s.
//!
//! The UI talks to the task only through an unbounded channel; dropping the channel's
//! sender (the root effect's teardown) makes the task close the socket and end.

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::future::{Either, select};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use parley_common::{ClientMsg, PROTOCOL_VERSION, ServerMsg};
use yew::UseReducerDispatcher;

use crate::state::{Action, AppState, ConnId};

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

/// Handle on a running connection task; dropping it closes the connection.
#[derive(Debug)]
pub struct Connection {
    conn: ConnId,
    outbox: UnboundedSender<ClientMsg>,
}

impl Connection {
    /// Which connection attempt this is.
    pub fn id(&self) -> ConnId {
        self.conn
    }

    /// Queues a message for the server. Returns `false` when the task has ended
    /// (what was pending then goes out again on the next connection).
    pub fn send(&self, msg: ClientMsg) -> bool {
        self.outbox.unbounded_send(msg).is_ok()
    }
}

/// Spawns the task for connection `conn`: it sends `hello`, then whatever the UI
/// sends. Who the user is comes from the session cookie, which the browser sends
/// with the upgrade request.
pub fn spawn(conn: ConnId, dispatch: UseReducerDispatcher<AppState>) -> Connection {
    let (outbox, inbox) = futures::channel::mpsc::unbounded();
    wasm_bindgen_futures::spawn_local(run(conn, inbox, dispatch));
    Connection { conn, outbox }
}

enum Event {
    Frame(Option<Result<Message, WebSocketError>>),
    Outgoing(Option<ClientMsg>),
}

async fn run(
    conn: ConnId,
    mut inbox: UnboundedReceiver<ClientMsg>,
    dispatch: UseReducerDispatcher<AppState>,
) {
    let closed = |code: Option<u16>, reason: String| {
        dispatch.dispatch(Action::Closed { conn, code, reason });
    };
    let Some(url) = ws_url() else {
        return closed(None, "no window location".into());
    };
    let mut ws = match WebSocket::open(&url) {
        Ok(ws) => ws,
        Err(err) => return closed(None, err.to_string()),
    };

    // gloo's sink waits for the socket to open before the first send. If the
    // connection fails instead, the send "succeeds" on the closed socket, so the
    // state is checked before reporting it open; the stream then reports the close.
    let hello = ClientMsg::Hello {
        protocol: PROTOCOL_VERSION,
        resume: Vec::new(),
    };
    if send(&mut ws, &hello).await.is_ok() && matches!(ws.state(), State::Open) {
        dispatch.dispatch(Action::Opened { conn });
    }

    let mut close_event = None;
    loop {
        // The select's losing future borrows `ws`; it is dropped with this statement.
        let event = match select(ws.next(), inbox.next()).await {
            Either::Left((frame, _)) => Event::Frame(frame),
            Either::Right((out, _)) => Event::Outgoing(out),
        };
        match event {
            Event::Frame(Some(Ok(Message::Text(text)))) => {
                match serde_json::from_str::<ServerMsg>(&text) {
                    Ok(msg) => dispatch.dispatch(Action::Received {
                        conn,
                        msg,
                        now_ms: js_sys::Date::now() as u64,
                    }),
                    Err(err) => dispatch.dispatch(Action::BadFrame {
                        conn,
                        detail: err.to_string(),
                    }),
                }
            }
            Event::Frame(Some(Ok(Message::Bytes(_)))) => dispatch.dispatch(Action::BadFrame {
                conn,
                detail: "unexpected binary frame".into(),
            }),
            Event::Frame(Some(Err(WebSocketError::ConnectionClose(event)))) => {
                close_event = Some(event);
            }
            // An `error` event; the `close` event with the details follows.
            Event::Frame(Some(Err(_))) => {}
            Event::Frame(None) => break,
            Event::Outgoing(Some(msg)) => {
                // A failed send means the socket is closing; its close event follows.
                let _ = send(&mut ws, &msg).await;
            }
            Event::Outgoing(None) => {
                // The app dropped its handle: it no longer wants this connection.
                dispatch.dispatch(Action::Closing { conn });
                let _ = ws.close(Some(1000), Some("client closed"));
                return closed(Some(1000), "closed by the app".into());
            }
        }
    }
    match close_event {
        Some(event) => closed(Some(event.code), event.reason),
        None => closed(None, String::new()),
    }
}

async fn send(ws: &mut WebSocket, msg: &ClientMsg) -> Result<(), ()> {
    use futures::SinkExt;
    let json = msg.to_json().map_err(drop)?;
    ws.send(Message::Text(json)).await.map_err(drop)
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
