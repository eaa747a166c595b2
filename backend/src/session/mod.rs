//! One client's session, independent of the transport that carries it.
//!
//! A transport hands every text frame to [`Session::handle_text`]; everything the
//! session says back (welcome, acks, history, errors) goes through the
//! connection's outbox, in order with the broadcasts the hub puts there. The
//! session is the authority on who the client is: the user comes from the
//! authenticated session cookie, never from a payload.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use parley_common::{
    Channel, ClientMsg, ClientMsgId, ErrorCode, HISTORY_PAGE, MessageBody, PROTOCOL_VERSION,
    PollProblem, PollSpec, ProtocolError, ResumeFrom, RoomName, ServerMsg, decode_client,
};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::hub::{ConnId, Hub};
use crate::limits::{self, Admit};
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Frame, Outbox};
use crate::store::{Attach, AuthUser, ChannelKey, Store, StoreError, TokenHash};

/// Typing signals forwarded per channel and connection, at most one per this.
const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// Most messages a connection may have waiting for their commit; beyond that the
/// transport stops reading from it until acks go out (backpressure).
pub const MAX_IN_FLIGHT: usize = 64;

/// An ack (or error) that is ready once its message is committed.
type InFlight = Pin<Box<dyn Future<Output = ServerMsg> + Send>>;

pub struct Session {
    id: ConnId,
    hub: Hub,
    store: Store,
    outbox: Outbox,
    user: AuthUser,
    token: TokenHash,
    /// Set by `hello`; nothing but `hello` is accepted before.
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

/// Turns a refused new poll into the client's error.
fn poll_error(problem: PollProblem) -> ProtocolError {
    let code = match problem {
        PollProblem::EmptyQuestion
        | PollProblem::QuestionTooLong
        | PollProblem::ControlCharacter => ErrorCode::InvalidQuestion,
        PollProblem::TooFewOptions => ErrorCode::TooFewOptions,
        PollProblem::TooManyOptions => ErrorCode::TooManyOptions,
        PollProblem::EmptyOption | PollProblem::OptionTooLong => ErrorCode::InvalidOption,
        PollProblem::DuplicateOption => ErrorCode::DuplicateOption,
    };
    ProtocolError::new(code, problem.to_string())
}

/// Turns a store refusal into the client's error, naming the room or
/// conversation when the request named one (poll requests name only a poll);
/// failures are logged.
fn store_error(err: &StoreError, channel: Option<&Channel>) -> ProtocolError {
    let channel = channel.map_or_else(|| "that room".to_owned(), ToString::to_string);
    match err {
        StoreError::NoSuchRoom => {
            ProtocolError::new(ErrorCode::NoSuchRoom, format!("there is no room {channel}"))
        }
        StoreError::NotInRoom => ProtocolError::new(
            ErrorCode::NotInRoom,
            format!("you are not in {channel}: join it first"),
        ),
        StoreError::RoomExists => ProtocolError::new(
            ErrorCode::RoomExists,
            format!("room {channel} already exists"),
        ),
        StoreError::UnknownUser => ProtocolError::new(
            ErrorCode::UnknownUser,
            format!("there is no user {channel}"),
        ),
        StoreError::CannotMessageSelf => ProtocolError::new(
            ErrorCode::CannotMessageSelf,
            "private messages go to someone else",
        ),
        StoreError::BadReadMarker(why) => {
            ProtocolError::new(ErrorCode::BadReadMarker, format!("read marker {why}"))
        }
        StoreError::NoSuchPoll => {
            ProtocolError::new(ErrorCode::NoSuchPoll, "there is no such poll")
        }
        StoreError::PollClosed => ProtocolError::new(ErrorCode::PollClosed, "the poll is closed"),
        StoreError::NoSuchOption => {
            ProtocolError::new(ErrorCode::NoSuchOption, "the poll has no such option")
        }
        StoreError::NotPollCreator => ProtocolError::new(
            ErrorCode::NotPollCreator,
            "only the poll's creator can close it",
        ),
        StoreError::Busy => ProtocolError::new(
            ErrorCode::ServerBusy,
            "the server is busy: nothing was changed; try again in a moment",
        ),
        StoreError::NameTaken | StoreError::Db(_) | StoreError::Closed | StoreError::Aborted => {
            tracing::error!(%err, "store request failed");
            ProtocolError::new(
                ErrorCode::Internal,
                "something went wrong on the server; nothing was changed",
            )
        }
    }
}

impl Session {
    pub fn new(state: &AppState, outbox: Outbox, user: AuthUser, token: TokenHash) -> Self {
        Self {
            id: state.hub.next_conn_id(),
            hub: state.hub.clone(),
            store: state.store.clone(),
            outbox,
            user,
            token,
            greeted: false,
            in_flight: None,
            typing: HashMap::new(),
            shutdown: state.shutdown.clone(),
            alive: Arc::new(Mutex::new(true)),
            sender: limits::Sender::new(Arc::clone(&state.limits.messages)),
            metrics: Arc::clone(&state.metrics),
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
        Metrics::add(&self.metrics.messages_in, 1);
        if self.outbox.is_kicked() {
            return;
        }
        let result = match self.sender.admit(self.user.id) {
            Admit::Yes => match decoded {
                Ok(msg) => self.handle(msg).await,
                Err(err) => Err(err),
            },
            Admit::Refuse => {
                Metrics::add(&self.metrics.rate_limited, 1);
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

    async fn handle(&mut self, msg: ClientMsg) -> Result<(), ProtocolError> {
        match msg {
            ClientMsg::Hello { protocol, resume } => return self.hello(protocol, resume).await,
            ClientMsg::Ping => {
                self.reply(&ServerMsg::Pong);
                return Ok(());
            }
            _ => {}
        }
        if !self.greeted {
            return Err(ProtocolError::new(
                ErrorCode::HelloRequired,
                "send \"hello\" first",
            ));
        }
        match msg {
            ClientMsg::Hello { .. } | ClientMsg::Ping => Ok(()),
            ClientMsg::ListRooms => {
                let rooms = self
                    .store
                    .room_list(self.user.id)
                    .await
                    .map_err(|e| store_error(&e, None))?;
                self.reply(&ServerMsg::RoomList { rooms });
                Ok(())
            }
            ClientMsg::CreateRoom { room } => {
                self.store
                    .create_room(room.clone(), self.user.id)
                    .await
                    .map_err(|e| store_error(&e, Some(&Channel::Room(room.clone()))))?;
                tracing::info!(user = %self.user.name, %room, "created room");
                self.entered(room, 0).await
            }
            ClientMsg::Join { room } => {
                let last_seq = self
                    .store
                    .join(room.clone(), self.user.id)
                    .await
                    .map_err(|e| store_error(&e, Some(&Channel::Room(room.clone()))))?;
                self.entered(room, last_seq).await
            }
            ClientMsg::Leave { room } => {
                self.store
                    .leave(room.clone(), self.user.id)
                    .await
                    .map_err(|e| store_error(&e, Some(&Channel::Room(room.clone()))))?;
                self.hub.left(self.user.id, &ChannelKey::Room(room.clone()));
                self.to_all_tabs(&ServerMsg::Left { room });
                Ok(())
            }
            ClientMsg::History { channel, before } => self.history(channel, before).await,
            ClientMsg::Send {
                channel,
                client_id,
                body,
            } => {
                self.send(channel, client_id, body).await;
                Ok(())
            }
            ClientMsg::Typing { channel } => self.typing(channel),
            ClientMsg::CreatePoll {
                room,
                question,
                options,
                closes_at,
            } => self.create_poll(room, &question, &options, closes_at).await,
            ClientMsg::Vote { poll, option } => {
                self.store
                    .vote(poll, self.user.id, option)
                    .await
                    .map_err(|e| store_error(&e, None))?;
                // The tally reaches the room through the coalescer; your choice
                // reaches all your tabs.
                self.to_all_tabs(&ServerMsg::MyVote { poll, option });
                Ok(())
            }
            ClientMsg::ClosePoll { poll } => {
                self.store
                    .close_poll(poll, Some(self.user.id))
                    .await
                    .map_err(|e| store_error(&e, None))?;
                Ok(())
            }
            ClientMsg::GetPoll { poll } => {
                let info = self
                    .store
                    .poll(poll, self.user.id)
                    .await
                    .map_err(|e| store_error(&e, None))?;
                self.reply(&ServerMsg::Poll(info));
                Ok(())
            }
            ClientMsg::ListPolls { room } => {
                let polls = self
                    .store
                    .polls(room.clone(), self.user.id)
                    .await
                    .map_err(|e| store_error(&e, Some(&Channel::Room(room.clone()))))?;
                self.reply(&ServerMsg::Polls { room, polls });
                Ok(())
            }
            ClientMsg::MarkRead { channel, seq } => {
                let (channel, seq) = self
                    .store
                    .mark_read(channel.clone(), self.user.clone(), seq)
                    .await
                    .map_err(|e| store_error(&e, Some(&channel)))?;
                self.to_all_tabs(&ServerMsg::ReadMarker { channel, seq });
                Ok(())
            }
        }
    }

    async fn hello(&mut self, protocol: u32, resume: Vec<ResumeFrom>) -> Result<(), ProtocolError> {
        if self.greeted {
            return Err(ProtocolError::new(
                ErrorCode::AlreadyGreeted,
                "this connection already sent \"hello\"",
            ));
        }
        if protocol != PROTOCOL_VERSION {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "this server speaks protocol {PROTOCOL_VERSION}, not {protocol}; reload the page"
                ),
            ));
        }
        let (rooms, conversations) = self
            .store
            .rooms_and_conversations(self.user.id)
            .await
            .map_err(|e| store_error(&e, None))?;
        let keys: Vec<ChannelKey> = rooms
            .iter()
            .map(|r| ChannelKey::Room(r.room.clone()))
            .chain(
                conversations
                    .iter()
                    .map(|c| ChannelKey::dm(self.user.id, c.peer)),
            )
            .collect();
        // Each channel's latest seq, for a resume that cannot replay.
        let latest: HashMap<Channel, u64> = rooms
            .iter()
            .map(|r| (Channel::Room(r.room.clone()), r.last_seq))
            .chain(
                conversations
                    .iter()
                    .map(|c| (Channel::Dm(c.summary.with.clone()), c.summary.last_seq)),
            )
            .collect();
        let conversations = conversations
            .into_iter()
            .map(|c| parley_common::Conversation {
                online: self.hub.is_online(c.peer),
                ..c.summary
            })
            .collect();
        // `welcome` goes first: nothing is delivered before the connection is
        // attached to the hub below.
        self.reply(&ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            user: self.user.name.clone(),
            rooms,
            conversations,
        });
        self.greeted = true;
        let attach = self.attacher(keys);
        if resume.is_empty() {
            attach(Vec::new());
        } else {
            // The store attaches the connection at a point in its commit order,
            // with the replay of what was missed before that point.
            let channels: Vec<Channel> = resume.iter().map(|r| r.channel.clone()).collect();
            let attached = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&attached);
            let attach = Arc::new(Mutex::new(Some(attach)));
            let in_store = Arc::clone(&attach);
            let result = self
                .store
                .resume(
                    self.user.clone(),
                    resume,
                    Attach(Box::new(move |frames| {
                        if let Some(attach) = lock(&in_store).take() {
                            attach(frames);
                            flag.store(true, Ordering::Release);
                        }
                    })),
                )
                .await;
            if let Err(err) = result {
                tracing::error!(conn = %self.id, %err, "resume failed; asking for a reload");
            }
            if !attached.load(Ordering::Acquire)
                && let Some(attach) = lock(&attach).take()
            {
                // Nothing replayed: the client reloads the latest pages.
                let reload = channels
                    .into_iter()
                    .map(|channel| ServerMsg::TooFarBehind {
                        last_seq: latest.get(&channel).copied().unwrap_or_default(),
                        channel,
                    })
                    .collect();
                attach(reload);
            }
        }
        tracing::info!(conn = %self.id, user = %self.user.name, "session started");
        Ok(())
    }

    /// What attaches this connection to the hub: queue `frames` (a replay), then
    /// register with the hub and queue who is online. Unless the session has
    /// ended meanwhile (then nothing happens).
    fn attacher(&self, keys: Vec<ChannelKey>) -> Box<dyn FnOnce(Vec<ServerMsg>) + Send> {
        let hub = self.hub.clone();
        let user = self.user.clone();
        let (id, token) = (self.id, self.token);
        let outbox = self.outbox.clone();
        let alive = Arc::clone(&self.alive);
        Box::new(move |frames| {
            let alive = lock(&alive);
            if !*alive {
                return;
            }
            for msg in &frames {
                if let Some(frame) = encode(id, msg) {
                    outbox.push(frame);
                }
            }
            for frame in hub.connect(&user, id, token, outbox.clone(), keys) {
                outbox.push(frame);
            }
        })
    }

    /// After a successful join or create: start delivery to all the user's tabs,
    /// tell them, then send this tab the latest history page. Delivery starts
    /// before the page is read, so no message falls between the two (the client
    /// drops duplicates by sequence number).
    async fn entered(&mut self, room: RoomName, last_seq: u64) -> Result<(), ProtocolError> {
        let online = self
            .hub
            .joined(self.user.id, &ChannelKey::Room(room.clone()));
        self.to_all_tabs(&ServerMsg::Joined {
            room: room.clone(),
            last_seq,
        });
        if let Some(online) = online {
            self.to_all_tabs(&online);
        }
        self.history(Channel::Room(room), None).await
    }

    async fn history(
        &mut self,
        channel: Channel,
        before: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let page = self
            .store
            .history(channel.clone(), self.user.id, before, HISTORY_PAGE)
            .await
            .map_err(|e| store_error(&e, Some(&channel)))?;
        self.reply(&ServerMsg::History {
            channel: page.channel,
            messages: page.messages,
            has_more: page.has_more,
        });
        Ok(())
    }

    async fn create_poll(
        &mut self,
        room: RoomName,
        question: &str,
        options: &[String],
        closes_at: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let spec = PollSpec::parse(question, options).map_err(poll_error)?;
        if closes_at.is_some_and(|t| t <= crate::clock::now_ms()) {
            return Err(ProtocolError::new(
                ErrorCode::BadMessage,
                "closes_at is in the past",
            ));
        }
        let info = self
            .store
            .create_poll(room.clone(), self.user.clone(), spec, closes_at)
            .await
            .map_err(|e| store_error(&e, Some(&Channel::Room(room.clone()))))?;
        tracing::info!(user = %self.user.name, %room, poll = info.id, "created poll");
        if let Some(at) = closes_at {
            crate::polls::close_at(self.store.clone(), self.shutdown.clone(), info.id, at);
        }
        if let Some(frame) = self.encode(&ServerMsg::Poll(info)) {
            self.hub.broadcast(&ChannelKey::Room(room), &frame);
        }
        Ok(())
    }

    /// Forwards a typing signal, at most one per channel per [`TYPING_INTERVAL`]
    /// (the rest are dropped silently: they carry no information).
    fn typing(&mut self, channel: Channel) -> Result<(), ProtocolError> {
        let now = Instant::now();
        if self
            .typing
            .get(&channel)
            .is_some_and(|last| now.duration_since(*last) < TYPING_INTERVAL)
        {
            return Ok(());
        }
        if self.typing.len() > 64 {
            self.typing
                .retain(|_, last| now.duration_since(*last) < TYPING_INTERVAL);
        }
        self.hub
            .typing(&self.user, &channel)
            .map_err(|_| store_error(&StoreError::NotInRoom, Some(&channel)))?;
        self.typing.insert(channel, now);
        Ok(())
    }

    /// Queues the message for storage without waiting for the commit (only for
    /// room in the writer's queue, which is back-pressure: meanwhile this
    /// connection is not read); the ack (or error) is sent by
    /// [`Session::answer_next`] once it is stored.
    async fn send(&mut self, channel: Channel, client_id: ClientMsgId, body: MessageBody) {
        let stored = self
            .store
            .append(channel.clone(), self.user.clone(), client_id.clone(), body)
            .await;
        let in_flight = self.in_flight.get_or_insert_with(FuturesOrdered::new);
        in_flight.push_back(Box::pin(async move {
            match stored.await {
                // Committed and broadcast; a retry gets the original seq.
                Ok(appended) => ServerMsg::Ack {
                    client_id: appended.msg.client_id,
                    channel: appended.msg.channel,
                    seq: appended.msg.seq,
                },
                Err(e) => store_error(&e, Some(&channel))
                    .with_client_id(Some(client_id))
                    .to_server_msg(),
            }
        }));
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
    match msg {
        ClientMsg::Send { client_id, .. } => Some(client_id.clone()),
        _ => None,
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
