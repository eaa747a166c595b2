//! The long-polling transport: the same [`Session`] and protocol as the WebSocket,
//! over plain HTTP requests, for networks where WebSockets do not get through.
//! This module keeps the connections (their queues, cursors and tasks); the
//! requests are answered by [`crate::http::longpoll`].
//!
//! - `POST /api/lp` opens a connection: the body is a JSON array of client
//!   messages (normally `[hello]`), the answer its id, `{"sid": ...}`.
//! - `POST /api/lp/{sid}` submits more client messages (a JSON array), answered
//!   `204`; what the session says back arrives through the `GET`.
//! - `GET /api/lp/{sid}?since=N&wait=S` waits up to `S` seconds (at most
//!   [`LONG_POLL_WAIT_SECS`](parley_common::LONG_POLL_WAIT_SECS); `0` answers at once, which is short polling) and
//!   returns every queued event at once, with the cursor for the next request.
//!   Asking again with the same `since` returns the same batch: an answer lost on
//!   the way (a cut connection) loses nothing. One `GET` may wait at a time.
//! - `DELETE /api/lp/{sid}` closes it.
//!
//! Every request passes the same Origin and session-cookie checks as the
//! WebSocket upgrade, and must come from the session that opened the connection
//! ([`LpConn::token`]).
//! A connection nobody asks about for the idle timeout ends, like a silent
//! WebSocket. When the server ends one (shutdown, slow consumer, log-out), the
//! last batch carries the close code and reason a close frame would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use parley_common::CloseInfo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::limits::ConnectionSlot;
use crate::outbox::{CloseReason, Frame, Kick, OUTBOX_CAPACITY, OutboxReceiver};
use crate::session::Session;
use crate::store::TokenHash;
use crate::transport::Env;

/// Client-message batches waiting for the session; a POST beyond that waits.
const INBOUND_BATCHES: usize = 8;

/// Why a request about a connection cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpError {
    /// No such connection (it ended, expired, or is someone else's).
    Unknown,
    /// Another `GET` is already waiting for this connection's events.
    Pending,
    /// The events before cursor `next` were handed out and are gone.
    Gone { next: u64 },
}

/// The open long-poll connections, by id.
#[derive(Debug)]
pub struct LongPolls {
    conns: Mutex<HashMap<String, Arc<LpConn>>>,
    env: Env,
    /// In a cluster, ids name this node (signed), so any node can forward a
    /// request to the one that holds the connection.
    cluster: Option<Cluster>,
}

impl LongPolls {
    pub fn new(env: Env, cluster: Option<Cluster>) -> Self {
        Self {
            conns: Mutex::default(),
            env,
            cluster,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LpConn>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, sid: &str) -> Option<Arc<LpConn>> {
        self.lock().get(sid).cloned()
    }

    fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    /// How many are open (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a connection for `session` (opened with the session cookie
    /// `token`; `rx` is its outbox's receiving end) and returns its id and the
    /// task that runs it, for the caller to spawn.
    pub fn open(
        self: &Arc<Self>,
        session: Session,
        rx: OutboxReceiver,
        token: TokenHash,
        slot: ConnectionSlot,
    ) -> Result<(String, impl Future<Output = ()> + Send + use<>), getrandom::Error> {
        let random = new_sid()?;
        let sid = match &self.cluster {
            Some(cluster) => cluster.sid(&random),
            None => random,
        };
        let (inbound, inbound_rx) = mpsc::channel(INBOUND_BATCHES);
        let conn = Arc::new(LpConn {
            token,
            inbound,
            kick: rx.kick.clone(),
            receiving: tokio::sync::Mutex::new(Receiving {
                rx,
                next: 0,
                last: None,
                closed: false,
            }),
            touched: Mutex::new(Instant::now()),
        });
        self.lock().insert(sid.clone(), Arc::clone(&conn));
        let task = serve(
            Arc::clone(self),
            sid.clone(),
            conn,
            session,
            inbound_rx,
            slot,
        );
        Ok((sid, task))
    }

    /// Hands client messages to the session of connection `sid`; waits while
    /// it has [`INBOUND_BATCHES`] batches to handle already.
    pub async fn deliver(&self, sid: &str, messages: Vec<String>) -> Result<(), LpError> {
        let conn = self.get(sid).ok_or(LpError::Unknown)?;
        conn.inbound
            .send(messages)
            .await
            .map_err(|_| LpError::Unknown)
    }

    /// The events after cursor `since` of connection `sid`, as the JSON body of
    /// a `GET`: waits up to `wait` seconds (at most the server's long-poll
    /// wait) for one, or answers at once with `Some(0)`.
    pub async fn receive(
        &self,
        sid: &str,
        conn: &LpConn,
        since: u64,
        wait: Option<u64>,
    ) -> Result<Bytes, LpError> {
        let Ok(mut receiving) = conn.receiving.try_lock() else {
            return Err(LpError::Pending);
        };
        conn.touch();
        if let Some((last_since, body)) = &receiving.last
            && *last_since == since
        {
            // The previous answer was lost on the way: the same again.
            return Ok(body.clone());
        }
        if receiving.closed {
            self.remove(sid);
            return Err(LpError::Unknown);
        }
        if since != receiving.next {
            return Err(LpError::Gone {
                next: receiving.next,
            });
        }
        let max_wait = self.env.heartbeat.poll_wait;
        let wait = wait.map_or(max_wait, |s| Duration::from_secs(s).min(max_wait));
        let (frames, close) = next_events(&mut receiving.rx, &self.env.shutdown, wait).await;
        // No await from here on: events taken from the outbox are either in this
        // answer (kept for a retry) or still in the outbox.
        let since = receiving.next;
        receiving.next += frames.len() as u64;
        self.env.metrics.messages_out.inc_by(frames.len() as u64);
        let body = batch(receiving.next, &frames, close);
        if !frames.is_empty() || close.is_some() {
            // An empty answer needs no repeat: the same cursor just waits again.
            receiving.last = Some((since, body.clone()));
        }
        receiving.closed = close.is_some();
        conn.touch();
        Ok(body)
    }

    /// Closes connection `sid` at the client's request.
    pub fn close(&self, sid: &str, conn: &LpConn) {
        conn.kick.kick(CloseReason::CLIENT_CLOSED);
        self.remove(sid);
    }
}

/// One long-poll connection: the way in to its session task, and its outbox.
#[derive(Debug)]
pub struct LpConn {
    /// The session cookie that opened it: only that session may use it.
    token: TokenHash,
    inbound: mpsc::Sender<Vec<String>>,
    /// Locked by the one `GET` allowed to wait.
    receiving: tokio::sync::Mutex<Receiving>,
    kick: Kick,
    /// When a request last came (the connection is alive while they do).
    touched: Mutex<Instant>,
}

impl LpConn {
    /// The hash of the session cookie that opened it.
    pub fn token(&self) -> TokenHash {
        self.token
    }

    /// A request came: the client is there.
    pub fn touch(&self) {
        *self
            .touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
    }
}

#[derive(Debug)]
struct Receiving {
    rx: OutboxReceiver,
    /// Events handed out so far: the cursor of the next batch.
    next: u64,
    /// The last answer with events and the cursor it answered, sent again when
    /// asked again.
    last: Option<(u64, Bytes)>,
    /// The close was delivered: the connection is over.
    closed: bool,
}

/// Waits up to `wait` for events: every frame queued, then the latest states,
/// and the close reason when the connection is ending.
async fn next_events(
    rx: &mut OutboxReceiver,
    shutdown: &CancellationToken,
    wait: Duration,
) -> (Vec<Frame>, Option<CloseReason>) {
    let mut frames = Vec::new();
    let mut close = None;
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    tokio::select! {
        biased;
        reason = rx.kick.kicked() => close = Some(reason),
        () = shutdown.cancelled() => close = Some(CloseReason::GOING_AWAY),
        n = rx.frames.recv_many(&mut frames, OUTBOX_CAPACITY) => {
            if n == 0 {
                // The session task is gone, and with it the outbox's senders.
                close = Some(rx.kick.reason().unwrap_or(CloseReason::GOING_AWAY));
            }
        }
        () = rx.states.ready.notified() => {}
        () = &mut deadline => {}
    }
    // Everything else already queued rides along.
    while let Ok(frame) = rx.frames.try_recv() {
        frames.push(frame);
    }
    frames.extend(rx.states.take());
    if close.is_none() && rx.kick.is_kicked() {
        close = rx.kick.reason();
    }
    (frames, close)
}

/// `{"next":N,"events":[...],"close":{...}}`, with each event's JSON as it was
/// encoded once for all its recipients.
fn batch(next: u64, frames: &[Frame], close: Option<CloseReason>) -> Bytes {
    let size: usize = frames.iter().map(|f| f.len() + 1).sum();
    let mut body = String::with_capacity(size + 64);
    body.push_str("{\"next\":");
    body.push_str(&next.to_string());
    body.push_str(",\"events\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(frame.as_str());
    }
    body.push(']');
    if let Some(reason) = close {
        let info = CloseInfo {
            code: reason.code,
            reason: reason.reason.to_owned(),
        };
        if let Ok(info) = serde_json::to_string(&info) {
            body.push_str(",\"close\":");
            body.push_str(&info);
        }
    }
    body.push('}');
    Bytes::from(body)
}

/// The session task: feeds submitted messages to the session, sends acks as
/// their messages commit, and ends the connection when it goes quiet, is kicked,
/// or the server shuts down.
async fn serve(
    polls: Arc<LongPolls>,
    sid: String,
    conn: Arc<LpConn>,
    mut session: Session,
    mut inbound: mpsc::Receiver<Vec<String>>,
    slot: ConnectionSlot,
) {
    let env = &polls.env;
    let id = session.id();
    tracing::info!(conn = %id, "long-poll connected");
    let idle_timeout = env.heartbeat.idle_timeout;
    let mut check = tokio::time::interval(idle_timeout / 4);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let hello_deadline = tokio::time::sleep(env.heartbeat.hello_timeout);
    tokio::pin!(hello_deadline);
    let mut waiting_for_hello = true;
    loop {
        tokio::select! {
            () = &mut hello_deadline, if waiting_for_hello => {
                waiting_for_hello = false;
                if !session.is_greeted() {
                    tracing::info!(conn = %id, "no hello in time: closing");
                    conn.kick.kick(CloseReason::HELLO_TIMEOUT);
                    break;
                }
            }
            batch = inbound.recv(), if session.wants_input() => {
                let Some(batch) = batch else { break };
                for text in &batch {
                    session.handle_text(text).await;
                }
            }
            () = session.answer_next(), if session.has_in_flight() => {}
            reason = conn.kick.kicked() => {
                tracing::info!(conn = %id, code = reason.code, "long-poll closed");
                break;
            }
            () = env.shutdown.cancelled() => {
                conn.kick.kick(CloseReason::GOING_AWAY);
                break;
            }
            _ = check.tick() => {
                // A waiting GET holds the lock: the client is there.
                if conn.idle_for() > idle_timeout && conn.receiving.try_lock().is_ok() {
                    tracing::info!(conn = %id, "no requests from the client: closing");
                    conn.kick.kick(CloseReason::IDLE);
                    break;
                }
            }
        }
    }
    // Submissions from now on are refused (404) instead of waiting for room in
    // a channel nobody reads.
    drop(inbound);
    drop(session);
    drop(slot);
    env.metrics.closed(conn.kick.reason());
    // Keep the connection a while, so the client can fetch what is queued and
    // the reason; then forget it.
    let linger = idle_timeout;
    tokio::select! {
        () = tokio::time::sleep(linger) => {}
        () = env.shutdown.cancelled() => {
            // Let a final GET (woken by the shutdown) take the close first.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    polls.remove(&sid);
    tracing::info!(conn = %id, "long-poll disconnected");
}

/// A random connection id: 128 bits, hex.
fn new_sid() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}
