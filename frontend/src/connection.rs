//! The connection task: owns one connection attempt, whatever carries it — a
//! WebSocket ([`ws`]) or HTTP long-polling / short polling ([`http`]) — sends the
//! UI's [`ClientMsg`]s over it and turns everything that happens on it into the
//! same reducer [`Action`]s (`Opened`, `Received`, `Closed`…), so the reducer
//! never knows which transport it is.
//!
//! The UI talks to the task only through an unbounded channel; dropping the channel's
//! sender (the root effect's teardown) makes the task close the connection and end.
//!
//! In automatic mode a connection attempt starts with a WebSocket; if that never
//! opens (refused, or nothing within [`WS_OPEN_TIMEOUT`]), the same attempt goes
//! on over long-polling, with the same `hello`. Every later attempt starts with
//! the WebSocket again, and while on long-polling the task checks now and then
//! whether a WebSocket would open ([`PROBE_FIRST`]); when one does, it asks the
//! app for a new connection ([`Action::Upgrade`]), which resumes over it.
//!
//! [`WS_OPEN_TIMEOUT`]: crate::transport::WS_OPEN_TIMEOUT
//! [`PROBE_FIRST`]: crate::transport::PROBE_FIRST

mod http;
mod ws;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use parley_common::ClientMsg;
use yew::UseReducerDispatcher;

use crate::state::{Action, AppState, ConnId};
use crate::transport::{Transport, TransportMode};

pub use ws::{ws_url, ws_url_for};

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

/// The transport mode the page's URL asks for (`?transport=ws|long-poll|poll`).
pub fn mode_from_page() -> TransportMode {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map_or(TransportMode::Auto, |search| {
            TransportMode::from_query(&search)
        })
}

/// Spawns the task for connection `conn`: it sends `hello` (built by the
/// reducer: it carries the resume points), then whatever the UI sends. Who the
/// user is comes from the session cookie, which the browser sends with the
/// upgrade request and every polling request.
pub fn spawn(
    conn: ConnId,
    hello: ClientMsg,
    mode: TransportMode,
    dispatch: UseReducerDispatcher<AppState>,
) -> Connection {
    let (outbox, inbox) = futures::channel::mpsc::unbounded();
    wasm_bindgen_futures::spawn_local(run(conn, hello, mode, inbox, dispatch));
    Connection { conn, outbox }
}

/// How a transport's run ended.
#[derive(Debug)]
enum Ended {
    /// It never opened (a WebSocket that did not connect, a refused long-poll
    /// `POST`), for this reason (may be empty).
    NeverOpened(String),
    /// It was open and ended: the close code when the server sent one, and why.
    Closed { code: Option<u16>, reason: String },
    /// The app dropped its handle: it no longer wants this connection.
    ByApp,
    /// Long-polling in automatic mode, and a WebSocket opens now.
    Upgrade,
    /// Polling: the server does not know the connection (any more): it expired,
    /// was closed, or the server restarted.
    Gone,
}

async fn run(
    conn: ConnId,
    hello: ClientMsg,
    mode: TransportMode,
    mut inbox: UnboundedReceiver<ClientMsg>,
    dispatch: UseReducerDispatcher<AppState>,
) {
    let ended = match mode {
        TransportMode::Auto => match ws::run(conn, &hello, &mut inbox, &dispatch).await {
            // The WebSocket does not get through: this attempt goes on over
            // long-polling, probing for the WebSocket now and then.
            Ended::NeverOpened(_) => {
                http::run(
                    conn,
                    &hello,
                    &mut inbox,
                    &dispatch,
                    Transport::LongPoll,
                    true,
                )
                .await
            }
            ended => ended,
        },
        TransportMode::Only(Transport::WebSocket) => {
            ws::run(conn, &hello, &mut inbox, &dispatch).await
        }
        TransportMode::Only(transport) => {
            http::run(conn, &hello, &mut inbox, &dispatch, transport, false).await
        }
    };
    let (code, reason) = match ended {
        Ended::NeverOpened(why) if why.is_empty() => (None, String::new()),
        Ended::NeverOpened(why) => (None, format!("could not connect: {why}")),
        Ended::Closed { code, reason } => (code, reason),
        Ended::ByApp => (Some(1000), "closed by the app".to_owned()),
        Ended::Gone => (None, "the server forgot this connection".to_owned()),
        Ended::Upgrade => return dispatch.dispatch(Action::Upgrade { conn }),
    };
    dispatch.dispatch(Action::Closed { conn, code, reason });
}

/// Milliseconds since the Unix epoch, by the browser's clock.
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
