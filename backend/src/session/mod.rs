//! One client's session, independent of the transport that carries it.
//!
//! A transport hands every text frame to [`Session::handle_text`]; everything the
//! session says back (welcome, acks, history, errors) goes through the
//! connection's outbox, in order with the broadcasts the hub puts there. The
//! session is the authority on who the client is: the user comes from the
//! authenticated session cookie, never from a payload. Each client message has
//! its handler in [`handlers`]; this module decodes, charges and dispatches.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use parley_common::{
    Channel, ClientMsg, ClientMsgId, ErrorCode, ProtocolError, ServerMsg, decode_client,
};
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::hub::{ConnId, Hub};
use crate::limits::{self, Admit};
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Frame, Outbox};
use crate::store::{AuthUser, Store, TokenHash};

use handlers::{hello, history, mark_read, ping, polls, rooms, send, typing};

mod handlers;
mod store_error;

/// Most messages a connection may have waiting for their commit; beyond that the
/// transport stops reading from it until acks go out (backpressure).
pub const MAX_IN_FLIGHT: usize = 64;

/// An ack (or error) that is ready once its message is committed.
type InFlight = Pin<Box<dyn Future<Output = ServerMsg> + Send>>;

/// What a session uses of the server's shared state, handed over by the
/// transport, so the session never reaches up to the app's state.
#[derive(Clone, Debug)]
pub struct Services {
    pub hub: Hub,
    pub store: Store,
    /// The message rate limits shared by all connections.
    pub messages: Arc<limits::MessageLimits>,
    pub metrics: Arc<Metrics>,
    /// The server's shutdown signal (for poll timers started here).
    pub shutdown: CancellationToken,
    /// The other nodes, when this one is part of a cluster.
    pub cluster: Option<Cluster>,
}

pub struct Session {
    id: ConnId,
    hub: Hub,
    store: Store,
    outbox: Outbox,
    user: AuthUser,
    token: TokenHash,
    /// Set by `hello`; nothing but `hello` and `ping` is accepted before.
    greeted: bool,
    /// Sends waiting for their commit, answered in the order they came.
    /// Created by the first send: an empty `FuturesOrdered` already holds two
    /// allocations (~150 bytes), which a connection that only listens never needs.
    in_flight: Option<FuturesOrdered<InFlight>>,
    /// When each channel's last typing signal was forwarded (rate limit).
    typing: HashMap<Channel, Instant>,
    /// The server's shutdown signal (for poll timers started here).
    shutdown: CancellationToken,
    /// False once the session is dropped: a resume finishing on the store's
    /// thread after that must not attach the connection.
    alive: Arc<Mutex<bool>>,
    /// This connection's message rate limit.
    sender: limits::Sender,
    metrics: Arc<Metrics>,
    cluster: Option<Cluster>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("greeted", &self.greeted)
            .field(
                "in_flight",
                &self.in_flight.as_ref().map_or(0, FuturesOrdered::len),
            )
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn new(services: Services, outbox: Outbox, user: AuthUser, token: TokenHash) -> Self {
        let Services {
            hub,
            store,
            messages,
            metrics,
            shutdown,
            cluster,
        } = services;
        Self {
            id: hub.next_conn_id(),
            hub,
            store,
            outbox,
            user,
            token,
            greeted: false,
            in_flight: None,
            typing: HashMap::new(),
            shutdown,
            alive: Arc::new(Mutex::new(true)),
            sender: limits::Sender::new(messages),
            metrics,
            cluster,
        }
    }

    /// Whether `hello` was accepted.
    pub fn is_greeted(&self) -> bool {
        self.greeted
    }

    /// Whether the transport should read the next frame (false while
    /// [`MAX_IN_FLIGHT`] messages wait for their commit).
    pub fn wants_input(&self) -> bool {
        self.in_flight.as_ref().map_or(0, FuturesOrdered::len) < MAX_IN_FLIGHT
    }

    pub fn has_in_flight(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|f| !f.is_empty())
    }

    /// Waits for the oldest in-flight send to be committed and answers it. Pending
    /// forever when nothing is in flight (use with [`Session::has_in_flight`]).
    pub async fn answer_next(&mut self) {
        let next = match self.in_flight.as_mut() {
            Some(in_flight) => in_flight.next().await,
            None => None,
        };
        match next {
            Some(msg) => self.reply(&msg),
            None => std::future::pending().await,
        }
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The connection's tracing span (user, connection id, transport), made
    /// when it is needed: what happens while a frame is handled runs in it,
    /// and the transport's own log lines name it as their parent. Kept for a
    /// connection's whole life (the transports' tasks wrapped in it), a span
    /// made every idle WebSocket ~0.3 KB bigger (S1), even disabled.
    pub fn span(&self, transport: &'static str) -> tracing::Span {
        tracing::info_span!(parent: None, "conn", user = %self.user.name, conn = %self.id, transport)
    }

    /// Handles one text frame. Bad input is answered with an `error` event; the
    /// session stays usable.
    pub async fn handle_text(&mut self, text: &str) {
        self.handle_frame(decode_client(text)).await;
    }

    /// Answers a frame the transport could not even read as text. It costs a
    /// token like any other frame.
    pub async fn reject_binary(&mut self) {
        let err = ProtocolError::new(
            ErrorCode::BadJson,
            "binary frames are not supported: send JSON text frames",
        );
        self.handle_frame(Err(err)).await;
    }

    /// Every frame the client sends — valid, undecodable, of an unknown type,
    /// with wrong fields, binary — takes a token from the connection's and the
    /// user's budgets before anything else, so a flood of bad frames is refused
    /// and closed (1008) exactly like a flood of good ones. Nothing more is
    /// handled once the connection is being closed.
    async fn handle_frame(&mut self, decoded: Result<ClientMsg, ProtocolError>) {
        self.metrics.messages_in.inc();
        if self.outbox.is_kicked() {
            return;
        }
        let result = match self.sender.admit(self.user.id) {
            Admit::Yes => match decoded {
                Ok(msg) => self.handle(msg).await,
                Err(err) => Err(err),
            },
            Admit::Refuse => {
                self.metrics.rate_limited.inc();
                Err(ProtocolError::new(
                    ErrorCode::RateLimited,
                    "too many messages: slow down and send this again",
                )
                .with_client_id(decoded.ok().as_ref().and_then(client_id)))
            }
            Admit::Close => {
                // Counted in `parley_rate_limit_disconnects_total` once the
                // connection has actually closed.
                tracing::warn!(conn = %self.id, user = %self.user.name, "closing a connection that keeps sending too fast");
                self.outbox.kick(CloseReason::RATE);
                return;
            }
        };
        if let Err(err) = result {
            tracing::debug!(conn = %self.id, code = ?err.code, "rejected client message");
            // Errors answer the client's own frames, so a client that floods and
            // does not read could fill its outbox with them (and be closed as a
            // slow consumer, 4000, instead of for flooding). They give way like
            // typing signals: dropped once the outbox is half full.
            if let Some(frame) = self.encode(&err.to_server_msg()) {
                self.outbox.push_ephemeral(frame);
            }
        }
    }

    /// Dispatches a decoded message to its handler. Only `hello` and `ping`
    /// are answered before `hello`.
    async fn handle(&mut self, msg: ClientMsg) -> Result<(), ProtocolError> {
        if !self.greeted && !matches!(msg, ClientMsg::Hello { .. } | ClientMsg::Ping) {
            return Err(ProtocolError::new(
                ErrorCode::HelloRequired,
                "send \"hello\" first",
            ));
        }
        match msg {
            ClientMsg::Hello { protocol, resume } => hello::hello(self, protocol, resume).await,
            ClientMsg::Ping => {
                ping::ping(self);
                Ok(())
            }
            ClientMsg::ListRooms => rooms::list_rooms(self).await,
            ClientMsg::CreateRoom { room } => rooms::create_room(self, room).await,
            ClientMsg::Join { room } => rooms::join(self, room).await,
            ClientMsg::Leave { room } => rooms::leave(self, room).await,
            ClientMsg::History { channel, before } => history::history(self, channel, before).await,
            ClientMsg::Send {
                channel,
                client_id,
                body,
            } => {
                send::send(self, channel, client_id, body).await;
                Ok(())
            }
            ClientMsg::Typing { channel } => typing::typing(self, channel),
            ClientMsg::MarkRead { channel, seq } => mark_read::mark_read(self, channel, seq).await,
            ClientMsg::CreatePoll {
                room,
                question,
                options,
                closes_at,
            } => polls::create_poll(self, room, &question, &options, closes_at).await,
            ClientMsg::Vote { poll, option } => polls::vote(self, poll, option).await,
            ClientMsg::ClosePoll { poll } => polls::close_poll(self, poll).await,
            ClientMsg::GetPoll { poll } => polls::get_poll(self, poll).await,
            ClientMsg::ListPolls { room } => polls::list_polls(self, room).await,
        }
    }

    fn encode(&self, msg: &ServerMsg) -> Option<Frame> {
        encode(self.id, msg)
    }

    fn reply(&self, msg: &ServerMsg) {
        if let Some(frame) = self.encode(msg) {
            // A full outbox kicks the connection; its writer then closes it.
            self.outbox.push(frame);
        }
    }

    fn to_all_tabs(&self, msg: &ServerMsg) {
        if let Some(frame) = self.encode(msg) {
            self.hub.send_to_user(self.user.id, &frame);
        }
    }
}

/// The client message id a message carries, if any.
fn client_id(msg: &ClientMsg) -> Option<ClientMsgId> {
    if let ClientMsg::Send { client_id, .. } = msg {
        Some(client_id.clone())
    } else {
        None
    }
}

fn encode(conn: ConnId, msg: &ServerMsg) -> Option<Frame> {
    match msg.to_json() {
        Ok(json) => Some(Frame::from(json)),
        Err(err) => {
            tracing::error!(%conn, %err, "could not encode a reply");
            None
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Session {
    fn drop(&mut self) {
        // Under the lock, so a resume attaching on the store's thread either
        // happened before (and is undone here) or sees the session gone.
        let mut alive = lock(&self.alive);
        *alive = false;
        if self.greeted {
            self.hub.disconnect(self.user.id, self.id);
        }
    }
}
