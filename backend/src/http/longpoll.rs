//! `/api/lp`: the long-polling transport's HTTP requests — open, submit,
//! receive, close — answered from the connections [`crate::transport::longpoll`] keeps.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parley_common::{ErrorCode, LongPollOpened};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::http::error::AppError;
use crate::http::extract::{AppJson, JsonBody, SameOrigin, SessionCookie, SignedIn};
use crate::http::state::AppState;
use crate::outbox::{OUTBOX_CAPACITY, Outbox};
use crate::session::Session;

use crate::transport::longpoll::{LpConn, LpError};

/// Largest request body: a few dozen chat messages.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/lp", post(open))
        .route("/api/lp/{sid}", post(submit).get(receive).delete(close))
}

/// A request body: a JSON array of client messages, each passed on as its own
/// JSON text, so the session answers a bad one exactly as it would on a
/// WebSocket.
#[derive(Debug)]
struct Messages(Vec<String>);

impl JsonBody for Messages {
    const EXPECTED: &'static str = "a JSON array of messages";
    const MAX_BYTES: usize = MAX_BODY_BYTES;
    const TYPE_REQUIRED: bool = true;

    fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        let list: Vec<&RawValue> = serde_json::from_slice(bytes)?;
        Ok(Self(list.into_iter().map(|m| m.get().to_owned()).collect()))
    }
}

/// Opens a connection: a session of its own, fed the body's messages.
async fn open(
    State(state): State<AppState>,
    _: SameOrigin,
    SignedIn { user, token }: SignedIn,
    AppJson(Messages(messages)): AppJson<Messages>,
) -> Result<Response, AppError> {
    let slot = state.limits.connections.open(user.id)?;
    let (outbox, rx) = Outbox::with_metrics(OUTBOX_CAPACITY, Arc::clone(&state.metrics));
    let span = tracing::info_span!(
        parent: None,
        "conn",
        user = %user.name,
        conn = tracing::field::Empty,
        transport = "long-poll"
    );
    let session = Session::new(state.session_services(), outbox, user, token);
    span.record("conn", tracing::field::display(session.id()));
    let (sid, task) = state
        .longpolls
        .open(session, rx, token, slot)
        .map_err(|e| AppError::internal("random connection id", &e))?;
    state.tracker.spawn(task.instrument(span));
    if !messages.is_empty() {
        state
            .longpolls
            .deliver(&sid, messages)
            .await
            .map_err(refused)?;
    }
    Ok((StatusCode::CREATED, Json(LongPollOpened { sid })).into_response())
}

/// More client messages for the session.
async fn submit(
    State(state): State<AppState>,
    Connection { sid, conn }: Connection,
    AppJson(Messages(messages)): AppJson<Messages>,
) -> Result<StatusCode, AppError> {
    conn.touch();
    state
        .longpolls
        .deliver(&sid, messages)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
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
    Query(query): Query<ReceiveQuery>,
    Connection { sid, conn }: Connection,
) -> Result<Response, AppError> {
    let body = state
        .longpolls
        .receive(&sid, &conn, query.since, query.wait)
        .await
        .map_err(refused)?;
    Ok(json(body))
}

/// Closes the connection at the client's request.
async fn close(
    State(state): State<AppState>,
    Connection { sid, conn }: Connection,
) -> Result<StatusCode, AppError> {
    state.longpolls.close(&sid, &conn);
    Ok(StatusCode::NO_CONTENT)
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

/// The connection of the path's `{sid}`, if the request is same-origin and its
/// session cookie is the one that opened it.
struct Connection {
    sid: String,
    conn: Arc<LpConn>,
}

impl FromRequestParts<AppState> for Connection {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(sid) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        SameOrigin::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let SessionCookie(token) = SessionCookie::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match state.longpolls.get(&sid) {
            Some(conn) if conn.token() == token => Ok(Self { sid, conn }),
            // Someone else's connection is as unknown as a made-up one.
            _ => Err(refused(LpError::Unknown).into_response()),
        }
    }
}

/// The answer when a connection cannot serve a request.
fn refused(err: LpError) -> AppError {
    match err {
        LpError::Unknown => AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownConnection,
            "no such connection (it ended or expired): open a new one and resume",
        ),
        LpError::Pending => AppError::new(
            StatusCode::CONFLICT,
            ErrorCode::RequestPending,
            "another request is already waiting for this connection's events",
        ),
        LpError::Gone { next } => AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownConnection,
            format!("events before {next} are gone; open a new connection and resume"),
        ),
    }
}
