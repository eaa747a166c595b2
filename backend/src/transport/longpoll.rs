//! The long-polling transport: the same [`Session`] and protocol as the WebSocket,
//! over plain HTTP requests, for networks where WebSockets do not get through.
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
//! WebSocket upgrade, and must come from the session that opened the connection.
//! A connection nobody asks about for the idle timeout ends, like a silent
//! WebSocket. When the server ends one (shutdown, slow consumer, log-out), the
//! last batch carries the close code and reason a close frame would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parley_common::{CloseInfo, ErrorCode, LongPollOpened};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::api::{authenticate, check_origin};
use crate::auth;
use crate::error::AppError;
use crate::limits::ConnectionSlot;
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Frame, Kick, OUTBOX_CAPACITY, Outbox, OutboxReceiver};
use crate::session::Session;
use crate::store::{AuthUser, TokenHash};

/// Largest request body: a few dozen chat messages.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Client-message batches waiting for the session; a POST beyond that waits.
const INBOUND_BATCHES: usize = 8;

/// The open long-poll connections, by id.
#[derive(Debug, Default)]
pub struct LongPolls {
    conns: Mutex<HashMap<String, Arc<LpConn>>>,
}

impl LongPolls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LpConn>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, sid: &str) -> Option<Arc<LpConn>> {
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
}

/// One long-poll connection: the way in to its session task, and its outbox.
#[derive(Debug)]
struct LpConn {
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
    fn touch(&self) {
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/lp", post(open))
        .route("/api/lp/{sid}", post(submit).get(receive).delete(close))
}

/// Open: check the Origin and the session, start a session, feed it the body.
async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    check_origin(&state, &headers)?;
    let (user, token) = authenticate(&state, &headers)?;
    let messages = messages(&headers, body).await?;
    let slot = state.limits.connections.open(user.id)?;
    let sid = new_sid().map_err(|e| AppError::internal("random connection id", &e))?;
    let (outbox, rx) = Outbox::with_metrics(OUTBOX_CAPACITY, Arc::clone(&state.metrics));
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
    state
        .longpolls
        .lock()
        .insert(sid.clone(), Arc::clone(&conn));
    let task = serve(
        state.clone(),
        sid.clone(),
        conn,
        user,
        outbox,
        inbound_rx,
        slot,
    );
    state.tracker.spawn(task);
    if !messages.is_empty() {
        deliver(&state, &sid, messages).await?;
    }
    Ok((StatusCode::CREATED, Json(LongPollOpened { sid })).into_response())
}

/// More client messages for the session.
async fn submit(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, AppError> {
    let conn = connection(&state, &headers, &sid)?;
    conn.touch();
    let messages = messages(&headers, body).await?;
    deliver(&state, &sid, messages).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliver(state: &AppState, sid: &str, messages: Vec<String>) -> Result<(), AppError> {
    let conn = state.longpolls.get(sid).ok_or_else(unknown)?;
    conn.inbound.send(messages).await.map_err(|_| unknown())
}

#[derive(Debug, Deserialize)]
struct ReceiveQuery {
    #[serde(default)]
    since: u64,
    /// Seconds to wait for an event; absent means as long as allowed.
    wait: Option<u64>,
}

/// Waits for events (or answers at once with `wait=0`) and returns them all.
async fn receive(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(query): Query<ReceiveQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let conn = connection(&state, &headers, &sid)?;
    let Ok(mut receiving) = conn.receiving.try_lock() else {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::RequestPending,
            "another request is already waiting for this connection's events",
        ));
    };
    conn.touch();
    if let Some((since, body)) = &receiving.last
        && *since == query.since
    {
        // The previous answer was lost on the way: the same again.
        return Ok(json(body.clone()));
    }
    if receiving.closed {
        state.longpolls.remove(&sid);
        return Err(unknown());
    }
    if query.since != receiving.next {
        return Err(AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownConnection,
            format!(
                "events before {} are gone; open a new connection and resume",
                receiving.next
            ),
        ));
    }
    let max_wait = state.heartbeat.poll_wait;
    let wait = query
        .wait
        .map_or(max_wait, |s| Duration::from_secs(s).min(max_wait));
    let (frames, close) = next_events(&mut receiving.rx, &state.shutdown, wait).await;
    // No await from here on: events taken from the outbox are either in this
    // answer (kept for a retry) or still in the outbox.
    let since = receiving.next;
    receiving.next += frames.len() as u64;
    Metrics::add(&state.metrics.messages_out, frames.len() as u64);
    let body = batch(receiving.next, &frames, close);
    if !frames.is_empty() || close.is_some() {
        // An empty answer needs no repeat: the same cursor just waits again.
        receiving.last = Some((since, body.clone()));
    }
    receiving.closed = close.is_some();
    conn.touch();
    Ok(json(body))
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

fn json(body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Closes the connection at the client's request.
async fn close(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let conn = connection(&state, &headers, &sid)?;
    conn.kick.kick(CloseReason::CLIENT_CLOSED);
    state.longpolls.remove(&sid);
    Ok(StatusCode::NO_CONTENT)
}

/// The session task: feeds submitted messages to the session, sends acks as
/// their messages commit, and ends the connection when it goes quiet, is kicked,
/// or the server shuts down.
async fn serve(
    state: AppState,
    sid: String,
    conn: Arc<LpConn>,
    user: AuthUser,
    outbox: Outbox,
    mut inbound: mpsc::Receiver<Vec<String>>,
    slot: ConnectionSlot,
) {
    let mut session = Session::new(super::session_services(&state), outbox, user, conn.token);
    let id = session.id();
    tracing::info!(conn = %id, "long-poll connected");
    let idle_timeout = state.heartbeat.idle_timeout;
    let mut check = tokio::time::interval(idle_timeout / 4);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let hello_deadline = tokio::time::sleep(state.heartbeat.hello_timeout);
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
            () = state.shutdown.cancelled() => {
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
    state.metrics.closed(conn.kick.reason());
    // Keep the connection a while, so the client can fetch what is queued and
    // the reason; then forget it.
    let linger = idle_timeout;
    tokio::select! {
        () = tokio::time::sleep(linger) => {}
        () = state.shutdown.cancelled() => {
            // Let a final GET (woken by the shutdown) take the close first.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    state.longpolls.remove(&sid);
    tracing::info!(conn = %id, "long-poll disconnected");
}

/// The connection `sid`, if the request's Origin is allowed and its session
/// cookie is the one that opened it.
fn connection(state: &AppState, headers: &HeaderMap, sid: &str) -> Result<Arc<LpConn>, AppError> {
    check_origin(state, headers)?;
    let token = auth::session_token(headers).ok_or_else(AppError::unauthorized)?;
    let hash = auth::hash_token(token);
    match state.longpolls.get(sid) {
        Some(conn) if conn.token == hash => Ok(conn),
        // Someone else's connection is as unknown as a made-up one.
        _ => Err(unknown()),
    }
}

fn unknown() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownConnection,
        "no such connection (it ended or expired): open a new one and resume",
    )
}

/// Reads a request body: JSON (by Content-Type), at most [`MAX_BODY_BYTES`], an
/// array of messages. Each message is passed on as its own JSON text, so the
/// session answers a bad one exactly as it would on a WebSocket.
async fn messages(headers: &HeaderMap, body: Body) -> Result<Vec<String>, AppError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the messages as JSON (Content-Type: application/json)",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        })?;
    let list: Vec<&RawValue> = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::bad_body(&e, "a JSON array of messages"))?;
    Ok(list.into_iter().map(|m| m.get().to_owned()).collect())
}

/// A random connection id: 128 bits, hex.
fn new_sid() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}
