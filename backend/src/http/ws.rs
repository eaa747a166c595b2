//! `GET /ws`: the checks before a WebSocket upgrade and the socket's settings;
//! the connection itself is [`transport::ws`]'s.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use parley_common::ErrorCode;

use crate::http::error::AppError;
use crate::http::extract::{SameOrigin, SignedIn};
use crate::http::state::AppState;
use crate::limits::ConnectionSlot;
use crate::outbox::{OUTBOX_CAPACITY, Outbox};
use crate::session::Session;
use crate::store::{AuthUser, TokenHash};
use crate::transport::{self, SocketReset};

/// Largest message (and frame) a client may send: 64 KiB. The largest valid Parley
/// message (4,000 four-byte characters plus JSON, ~16 KB) fits with room to
/// spare, and so do the 64 KiB payloads of the WebSocket conformance suite
/// (Autobahn 1.1.7, 10.1.1); anything bigger is closed with 1009.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Small socket buffers keep an idle connection cheap (axum's default is 128 KiB
/// each); they grow on demand for large frames.
const READ_BUFFER_BYTES: usize = 512;
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// The most a connection's writer may buffer, above all for its largest frame: a
/// history page of 50 messages of 4,000 four-byte characters is ~800 KB. Only
/// what is used is allocated.
const MAX_WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;

/// Upgrades only same-origin requests (403) with a session (401): a page on
/// another site cannot open a socket with the user's cookie (cross-site
/// WebSocket hijacking), and nobody gets a socket without a session.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    reset: Option<Extension<SocketReset>>,
    _: SameOrigin,
    SignedIn { user, token }: SignedIn,
) -> Result<Response, AppError> {
    // Counted before upgrading: over a cap, the client gets a plain HTTP error.
    let slot = state.limits.connections.open(user.id)?;
    if state.refuse_websocket {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "WebSockets are switched off on this server (--refuse-websocket): use long-polling",
        ));
    }
    // A future keeps its captures and an async fn its arguments for as long as it
    // runs, so what the connection needs only to start (the app state, the
    // credentials, the unsplit socket: ~650 bytes) is boxed until then and set
    // up by `start`, a plain function.
    let reset = reset.map(|Extension(reset)| reset).unwrap_or_default();
    let setup = Box::new((state, user, token, slot, reset));
    Ok(configure(ws).on_upgrade(move |socket| {
        let (state, user, token, slot, reset) = *setup;
        let tracker = state.tracker.clone();
        tracker.track_future(start(socket, &state, user, token, slot, reset))
    }))
}

/// The connection's session and outbox, handed to the transport.
fn start(
    socket: WebSocket,
    state: &AppState,
    user: AuthUser,
    token: TokenHash,
    slot: ConnectionSlot,
    reset: SocketReset,
) -> impl Future<Output = ()> + Send + use<> {
    let (outbox, rx) = Outbox::with_metrics(OUTBOX_CAPACITY, state.metrics.clone());
    let session = Session::new(state.session_services(), outbox, user, token);
    transport::ws::run(socket, session, rx, state.transport_env(), slot, reset)
}

/// The production WebSocket settings: small buffers, the message size limit.
fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
}

/// `GET /autobahn` (only with `--autobahn-echo`): the echo of
/// [`transport::ws::echo`] with the production settings — except the message
/// and frame limit, which is `limit` (the production [`MAX_MESSAGE_BYTES`]
/// unless `--autobahn-max-message-bytes` says otherwise).
pub async fn echo(ws: WebSocketUpgrade, limit: usize) -> Response {
    configure(ws)
        .max_message_size(limit)
        .max_frame_size(limit)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES.max(2 * limit))
        .on_upgrade(transport::ws::echo)
}
