//! The connection task: owns one connection attempt, whatever carries it — a
//! WebSocket ([`ws`]) or HTTP long-polling / short polling ([`http`]) — sends the
//! UI's [`ClientMsg`]s over it and reports everything that happens on it as the
//! same [`Event`]s (`Opened`, `Received`, `Closed`…), whatever the transport.
//! For the chat ([`spawn`]) they become reducer [`Action`]s, so the reducer
//! never knows which transport it is; the transport lab ([`open`]) counts them,
//! with the wire accounting events the chat ignores.
//!
//! The UI talks to the task only through an unbounded channel; dropping the channel's
//! sender (the root effect's teardown) makes the task close the connection and end.
//!
//! In automatic mode a connection attempt starts with a WebSocket; if that never
//! opens (refused, or nothing within [`WS_OPEN_TIMEOUT`]) while the browser
//! has a network ([`falls_back`]), the same attempt goes on over long-polling,
//! with the same `hello`. Every later attempt starts with
//! the WebSocket again, and while on long-polling the task checks now and then
//! whether a WebSocket would open ([`PROBE_FIRST`]); when one does, it asks the
//! app for a new connection ([`Action::Upgrade`]), which resumes over it.
//!
//! [`WS_OPEN_TIMEOUT`]: crate::transport::WS_OPEN_TIMEOUT
//! [`PROBE_FIRST`]: crate::transport::PROBE_FIRST
//! [`falls_back`]: crate::transport::falls_back

mod http;
mod ws;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use parley_common::{ClientMsg, ServerMsg};
use yew::UseReducerDispatcher;

use crate::api::Answer;
use crate::state::{Action, AppState, ConnId};
use crate::transport::{Transport, TransportMode, falls_back};

pub use ws::{ws_url, ws_url_for};

/// `msg` as JSON, for a WebSocket frame or a polling `POST`. serde_json fails
/// only on maps with non-string keys, which no [`ClientMsg`] has; should it
/// ever fail, the message is reported and skipped (it stays pending).
fn encode(msg: &ClientMsg, events: &dyn Fn(Event<'_>)) -> Result<String, ()> {
    serde_json::to_string(msg)
        .map_err(|err| events(Event::BadFrame(format!("could not encode: {err}"))))
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

/// Everything a connection task reports, in order, whatever the transport.
/// The chat app turns these into reducer [`Action`]s ([`spawn`]); the transport
/// lab counts them ([`open`]).
#[derive(Debug)]
pub enum Event<'a> {
    /// It is open: the WebSocket handshake finished, or the long-poll `POST`
    /// was answered.
    Opened(Transport),
    /// A message from the server (never `pong`) and when it arrived (ms since
    /// the Unix epoch, by the browser's clock).
    Received { msg: ServerMsg, at_ms: u64 },
    /// Something from the server that is not a message this app understands.
    BadFrame(String),
    /// The app let go of the handle; the connection is closing.
    Closing,
    /// The server refused a polling `POST` (what it carried stays pending).
    Refused(String),
    /// It ended: the close code when the server sent one, and why (empty when
    /// there is nothing to say).
    Closed { code: Option<u16>, reason: String },
    /// Long-polling in automatic mode, and a WebSocket opens now: the app
    /// should reconnect (this connection is over).
    Upgrade,
    /// Wire accounting: a WebSocket opening handshake (one HTTP request) to `url`.
    Handshake { url: &'a str },
    /// Wire accounting: a WebSocket text frame, `sent` by the app or received,
    /// with `payload` bytes.
    Frame { sent: bool, payload: usize },
    /// Wire accounting: one HTTP request of the polling transports, and its
    /// answer (`None`: it failed or was given up).
    Http {
        method: &'a str,
        url: &'a str,
        body: usize,
        answer: Option<&'a Answer>,
    },
}

/// Where a connection task reports its [`Event`]s.
pub type Events = Box<dyn Fn(Event<'_>)>;

/// Whether the browser says it has a network (`navigator.onLine`; true when it
/// cannot tell). Only its `false` is reliable: "online" may still mean a
/// network that goes nowhere, which the connection finds out by itself.
pub fn browser_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// The transport mode the page's URL asks for (`?transport=ws|long-poll|poll`).
pub fn mode_from_page() -> TransportMode {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map_or(TransportMode::Auto, |search| {
            TransportMode::from_query(&search)
        })
}

/// Spawns the task for the chat's connection `conn`: it sends `hello` (built by
/// the reducer: it carries the resume points), then whatever the UI sends, and
/// dispatches what happens as actions tagged with `conn`. Who the user is comes
/// from the session cookie, which the browser sends with the upgrade request and
/// every polling request.
pub fn spawn(
    conn: ConnId,
    hello: ClientMsg,
    mode: TransportMode,
    dispatch: UseReducerDispatcher<AppState>,
) -> Connection {
    let events = move |event: Event<'_>| {
        dispatch.dispatch(match event {
            Event::Opened(transport) => Action::Opened { conn, transport },
            Event::Received { msg, at_ms } => Action::Received {
                conn,
                msg,
                now_ms: at_ms,
            },
            Event::BadFrame(detail) => Action::BadFrame { conn, detail },
            Event::Closing => Action::Closing { conn },
            Event::Refused(why) => {
                Action::ShowError(format!("The server refused a request: {why}"))
            }
            Event::Closed { code, reason } => {
                // It ended because the network is gone (often before the
                // window's `offline` event): the reducer hears that first, so
                // it shows the offline state, keeps who is online and waits
                // for the network instead of counting a failed attempt.
                if !browser_online() {
                    dispatch.dispatch(Action::Offline);
                }
                Action::Closed { conn, code, reason }
            }
            Event::Upgrade => Action::Upgrade { conn },
            Event::Handshake { .. } | Event::Frame { .. } | Event::Http { .. } => return,
        });
    };
    Connection {
        conn,
        outbox: open(hello, mode, Box::new(events)),
    }
}

/// Spawns a connection task that reports to `events` (the transport lab's
/// connections, which must not touch the chat's state). Returns the way in:
/// messages for the server; dropping it closes the connection.
pub fn open(hello: ClientMsg, mode: TransportMode, events: Events) -> UnboundedSender<ClientMsg> {
    let (outbox, inbox) = futures::channel::mpsc::unbounded();
    wasm_bindgen_futures::spawn_local(run(hello, mode, inbox, events));
    outbox
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
    hello: ClientMsg,
    mode: TransportMode,
    mut inbox: UnboundedReceiver<ClientMsg>,
    events: Events,
) {
    let events = &*events;
    let ended = match mode {
        TransportMode::Auto => match ws::run(&hello, &mut inbox, events).await {
            // The WebSocket does not get through, with a network: this attempt
            // goes on over long-polling, probing for the WebSocket now and
            // then. Without one, it just ends (see `falls_back`).
            Ended::NeverOpened(_) if falls_back(mode, browser_online()) => {
                http::run(&hello, &mut inbox, events, Transport::LongPoll, true).await
            }
            ended => ended,
        },
        TransportMode::Only(Transport::WebSocket) => ws::run(&hello, &mut inbox, events).await,
        TransportMode::Only(transport) => {
            http::run(&hello, &mut inbox, events, transport, false).await
        }
    };
    let (code, reason) = match ended {
        Ended::NeverOpened(why) if why.is_empty() => (None, String::new()),
        Ended::NeverOpened(why) => (None, format!("could not connect: {why}")),
        Ended::Closed { code, reason } => (code, reason),
        Ended::ByApp => (Some(1000), "closed by the app".to_owned()),
        Ended::Gone => (None, "the server forgot this connection".to_owned()),
        Ended::Upgrade => return events(Event::Upgrade),
    };
    events(Event::Closed { code, reason });
}
