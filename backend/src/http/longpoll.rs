//! `/api/lp`: the long-polling transport's HTTP requests — open, submit,
//! receive, close — answered from the connections [`crate::transport::longpoll`] keeps.

use std::future::Future;
use std::pin::Pin;
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

use crate::cluster::lp::{LpOp, LpReply, LpRequest, LpServer};
use crate::cluster::wire::token_from_hex;
use crate::store::TokenHash;
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
    target: Target,
    AppJson(Messages(messages)): AppJson<Messages>,
) -> Response {
    target.run(&state, LpOp::Submit { messages }).await
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
    target: Target,
) -> Response {
    let op = LpOp::Receive {
        since: query.since,
        wait: query.wait,
    };
    target.run(&state, op).await
}

/// Closes the connection at the client's request.
async fn close(State(state): State<AppState>, target: Target) -> Response {
    target.run(&state, LpOp::Close).await
}

/// Runs `op` on a connection of this node.
async fn run_local(state: &AppState, sid: &str, conn: &LpConn, op: LpOp) -> Response {
    let result = match op {
        LpOp::Submit { messages } => {
            conn.touch();
            state
                .longpolls
                .deliver(sid, messages)
                .await
                .map(|()| StatusCode::NO_CONTENT.into_response())
        }
        LpOp::Receive { since, wait } => state
            .longpolls
            .receive(sid, conn, since, wait)
            .await
            .map(json),
        LpOp::Close => {
            state.longpolls.close(sid, conn);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    };
    result.unwrap_or_else(|err| refused(err).into_response())
}

/// Runs long-poll requests other nodes forward to this one (a cluster).
#[derive(Debug)]
pub struct Forwarded(pub AppState);

impl LpServer for Forwarded {
    fn serve(&self, req: LpRequest) -> Pin<Box<dyn Future<Output = LpReply> + Send>> {
        let state = self.0.clone();
        Box::pin(async move {
            let conn = token_from_hex(&req.token)
                .and_then(|token| state.longpolls.get(&req.sid).filter(|c| c.token() == token));
            let response = match conn {
                Some(conn) => run_local(&state, &req.sid, &conn, req.op).await,
                None => refused(LpError::Unknown).into_response(),
            };
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            LpReply {
                id: req.id,
                status,
                body,
            }
        })
    }
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
/// session cookie is the one that opened it: here, or (in a cluster) on the
/// node its id names.
enum Target {
    Local { sid: String, conn: Arc<LpConn> },
    Remote { sid: String, token: TokenHash },
}

impl Target {
    async fn run(self, state: &AppState, op: LpOp) -> Response {
        match self {
            Self::Local { sid, conn } => run_local(state, &sid, &conn, op).await,
            Self::Remote { sid, token } => {
                let reply = match &state.cluster {
                    Some(cluster) => cluster.forward_long_poll(&sid, &token, op).await,
                    None => None,
                };
                let Some(reply) = reply else {
                    // Its node is gone: open a new connection anywhere and resume.
                    return refused(LpError::Unknown).into_response();
                };
                let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
                if reply.body.is_empty() {
                    return status.into_response();
                }
                let mut response = json(Bytes::from(reply.body));
                *response.status_mut() = status;
                response
            }
        }
    }
}

impl FromRequestParts<AppState> for Target {
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
            Some(conn) if conn.token() == token => Ok(Self::Local { sid, conn }),
            None if state
                .cluster
                .as_ref()
                .is_some_and(|c| c.is_remote_sid(&sid)) =>
            {
                Ok(Self::Remote { sid, token })
            }
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
