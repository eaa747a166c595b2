//! The app state and its pure reducer: every change to what the UI shows is an
//! [`Action`] applied by [`AppState::reduce`], so the logic is unit-tested natively.
//!
//! The reducer also decides what to *send*: it appends [`ClientMsg`]s to the
//! [`AppState::outbox`] (a history page when a chat is opened, `join`, a chat
//! message, a read marker…). The root component hands them to the current
//! connection and reports them sent with [`Action::Flushed`]. So "what goes over
//! the wire, and when" is tested here too, without a socket.
//!
//! The reducer never reads the clock: actions that depend on time (typing
//! signals and their expiry) carry it.

mod chat;
mod network;
mod polls;

use std::rc::Rc;

use parley_common::{
    Channel, ChatMessage, ClientMsg, ClientMsgId, Conversation, ErrorCode, MessageBody, MyRoom,
    PROTOCOL_VERSION, PollSpec, ResumeFrom, RoomInfo, RoomName, ServerMsg, Username,
};
use yew::Reducible;

use crate::auth::AuthProblem;
use crate::transport::Transport;

pub use chat::{
    Chat, Pending, TYPING_OVERTAKE_MS, TYPING_SHOWN_MS, Typist, same_channel, same_user,
};
pub use polls::{NewPoll, Poll, TallyFit, leaders, percent, tally_fit, votes};

/// At most one `typing` signal per this many milliseconds while the user types.
pub const TYPING_EVERY_MS: u64 = 2_000;

/// Sorts `items` stably: `before(a, b)` says whether `a` goes before `b`. An
/// insertion sort, a fraction of the standard library's sort in wasm (which
/// costs several KB per element type): the lists sorted here are short (who is
/// online, a room's polls) or arrive in order already (the directory,
/// conversations after one moved), where it takes one pass.
pub fn sort_by<T>(items: &mut [T], mut before: impl FnMut(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && before(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Who is using the app, as far as the browser knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Session {
    /// Asking the server (`GET /api/me`) at startup.
    #[default]
    Checking,
    /// No session: show the log-in / create-account page.
    SignedOut,
    /// Logged in as this user (confirmed again by `welcome` on every connection).
    SignedIn(Username),
}

/// What the main panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The active room's or conversation's messages and the composer.
    #[default]
    Chat,
    /// The room directory and the create-room form.
    Directory,
}

/// Mirrors a WebSocket's `readyState` (whatever the transport), plus why it
/// closed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnState {
    /// No socket: nobody is logged in yet. Shown as "closed".
    #[default]
    Idle,
    Connecting,
    Open,
    Closing,
    Closed {
        /// The close code, when the socket got as far as a close event.
        code: Option<u16>,
        reason: String,
    },
}

impl ConnState {
    /// The `readyState` name, used as `data-state` and as the status bar's text.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Idle | Self::Closed { .. } => "closed",
        }
    }

    /// A short human explanation of a closed connection, e.g. "server restarting".
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Idle => Some("not connected".to_owned()),
            Self::Closed { code, reason } => Some(describe_close(*code, reason)),
            Self::Connecting | Self::Open | Self::Closing => None,
        }
    }
}

/// Explains a close code to a human, preferring the server's reason text when it
/// sent one.
pub fn describe_close(code: Option<u16>, reason: &str) -> String {
    use parley_common::close;
    let fallback = match code {
        None => "could not connect",
        Some(1000) => "connection closed",
        Some(close::GOING_AWAY) => "server restarting",
        Some(1006) => "connection lost",
        Some(close::TOO_BIG) => "disconnected: message too big",
        Some(close::SLOW_CONSUMER) => "disconnected: connection too slow",
        Some(close::LOGGED_OUT) => "logged out",
        Some(close::IDLE) => "disconnected: no traffic",
        Some(_) => "connection closed by server",
    };
    match (code, reason.trim()) {
        (Some(code), "") => format!("{fallback} ({code})"),
        (None, "") => fallback.to_owned(),
        (Some(code), reason) => format!("{reason} ({code})"),
        // Without a close code, the connection task's reason says it all
        // ("could not connect: …", "the server stopped answering").
        (None, reason) => reason.to_owned(),
    }
}

/// The room directory and the requests made from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directory {
    /// Every room with its member count, sorted by name; `None` until first loaded.
    pub rooms: Option<Vec<RoomInfo>>,
    /// A `list_rooms` is on its way.
    pub loading: bool,
    /// The room this tab asked to create (its `joined` opens it).
    pub creating: Option<RoomName>,
    /// Why the last create request failed, shown under the create form.
    pub create_error: Option<String>,
    /// The room this tab asked to join (its `joined` opens it).
    pub joining: Option<RoomName>,
}

impl Directory {
    fn mark(&mut self, room: &RoomName, joined: bool) {
        let Some(rooms) = &mut self.rooms else {
            return;
        };
        match rooms.binary_search_by(|r| r.room.cmp(room)) {
            Ok(at) if rooms[at].joined != joined => {
                let info = &mut rooms[at];
                info.joined = joined;
                info.members = if joined {
                    info.members.saturating_add(1)
                } else {
                    info.members.saturating_sub(1)
                };
            }
            Ok(_) => {}
            // A room created since the list was loaded: the joined user is its only
            // member.
            Err(at) if joined => rooms.insert(
                at,
                RoomInfo {
                    room: room.clone(),
                    members: 1,
                    joined: true,
                },
            ),
            Err(_) => {}
        }
    }
}

/// The "new conversation" form and its request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewDm {
    /// The user this tab asked to open a conversation with: the answer (a history
    /// page, or `unknown_user`) opens it or explains why not.
    pub opening: Option<Username>,
    /// Why the last attempt failed, shown under the form.
    pub error: Option<String>,
}

/// Something to show in the error banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The server's error code, or `None` for problems found by the client itself.
    pub code: Option<ErrorCode>,
    pub text: String,
}

/// Identifies one connection attempt. Events from an older connection task are
/// ignored, so a task that is still winding down can never overwrite the state of
/// its successor. 0 means "no connection yet".
pub type ConnId = u32;

/// A message the reducer wants sent on connection `conn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Increasing: the root component sends each id once.
    pub id: u64,
    pub conn: ConnId,
    pub msg: ClientMsg,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppState {
    pub session: Session,
    /// A log-in or registration request is on its way.
    pub auth_busy: bool,
    /// Why the last log-in or registration failed.
    pub auth_problem: Option<AuthProblem>,
    /// Shown on the log-in page: why the user is there (e.g. logged out elsewhere).
    pub auth_notice: Option<String>,
    /// The user asked to log out; the request is on its way.
    pub logging_out: bool,

    pub conn: ConnState,
    /// The connection the root effect should be running; bumped to open a new one
    /// (and to close the old one).
    pub conn_id: ConnId,
    /// `welcome` arrived on the current connection: requests may be sent.
    pub ready: bool,
    /// Automatic reconnections since the last `welcome` (for the backoff).
    pub retries: u32,
    /// How the current connection travels, once it is open.
    pub transport: Option<Transport>,
    /// When the next automatic reconnection happens (ms since the Unix epoch,
    /// by the browser's clock), while the connection is closed.
    pub reconnect_at: Option<u64>,
    /// The browser says it has no network (`navigator.onLine` is false, the
    /// window's `offline` event fired): no connection is attempted until its
    /// `online` event; see `network.rs`.
    pub offline: bool,
    /// What the current connection's `hello` resumes: for each chat whose
    /// messages were loaded when it started, the seq up to which they run
    /// without gaps. Those chats get `missed` (or `too_far_behind`) instead of
    /// asking for their latest page again.
    pub resume: Vec<ResumeFrom>,

    /// The user's rooms, sorted by name.
    pub rooms: Vec<Chat>,
    /// The user's private conversations, most recent first.
    pub dms: Vec<Chat>,
    /// The room or conversation shown (and written to).
    pub active: Option<Channel>,
    pub view: View,
    pub directory: Directory,
    pub new_dm: NewDm,
    /// The new-poll form and its request.
    pub new_poll: NewPoll,
    /// Polls whose full state (`get_poll`) is on its way.
    pub snapshots: Vec<u64>,
    /// The room menu is open (phone layout).
    pub sidebar_open: bool,
    /// The page is visible and has the focus: what the list shows is being read.
    pub focused: bool,
    /// The last `typing` signal sent: where, and when (ms).
    pub typing_sent: Option<(Channel, u64)>,

    /// Chat messages (`message` frames) received on the current connection.
    pub received: u64,
    /// The last error to show, until dismissed.
    pub error: Option<Notice>,

    /// Messages to send, oldest first; see the module docs.
    pub outbox: Rc<Vec<Outgoing>>,
    /// The id the next outgoing message gets.
    pub next_out: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `GET /api/me` answered at startup: the user, or `None` (no session).
    SessionChecked(Option<Username>),
    /// A log-in or registration request went out.
    AuthSubmitted,
    /// It failed; show why.
    AuthFailed(AuthProblem),
    /// The user changed the form: hide the server's last complaint.
    AuthEdited,
    /// Logged in (or registered): show the app and connect.
    SignedIn(Username),
    /// The user asked to log out.
    LoggingOut,
    /// The log-out request failed; the session goes on.
    LogoutFailed(String),
    /// No session any more: back to the log-in page, with why.
    SignedOut { notice: Option<String> },

    /// Open a new connection in place of `conn` (only acted on when `conn` is the
    /// current one and it is closed).
    Reconnect { conn: ConnId },
    /// The closed connection `conn` is retried automatically at `at_ms` (ms since
    /// the Unix epoch), unless the user does it sooner.
    ReconnectScheduled { conn: ConnId, at_ms: u64 },
    /// Connection `conn` (long-polling, chosen automatically) found that a
    /// WebSocket opens now: replace it with a new connection, which tries the
    /// WebSocket first and resumes where this one stopped.
    Upgrade { conn: ConnId },
    /// The browser lost its network (the window's `offline` event, or
    /// `navigator.onLine` false at startup or when a connection ended).
    Offline,
    /// The browser has a network again (the window's `online` event).
    Online,
    /// The connection is open over `transport` and `hello` went out.
    Opened { conn: ConnId, transport: Transport },
    /// The app is closing the socket.
    Closing { conn: ConnId },
    /// The socket is closed (or never opened).
    Closed {
        conn: ConnId,
        code: Option<u16>,
        reason: String,
    },
    /// A frame from the server, decoded, and when it arrived (ms since the Unix
    /// epoch).
    Received {
        conn: ConnId,
        msg: ServerMsg,
        now_ms: u64,
    },
    /// A frame from the server that could not be decoded.
    BadFrame { conn: ConnId, detail: String },
    /// Outgoing messages with an id below `upto` were handed to the connection.
    Flushed { upto: u64 },

    /// Show this room or conversation.
    Select(Channel),
    /// Show the room directory (and refresh it).
    OpenDirectory,
    /// Create a room (and join it).
    CreateRoom(RoomName),
    /// The create-room input changed: hide its error.
    CreateEdited,
    /// Join a room from the directory.
    JoinRoom(RoomName),
    /// Leave a room.
    LeaveRoom(RoomName),
    /// Open the conversation with this user (asking the server whether they
    /// exist when it is a new one).
    OpenDm(Username),
    /// The new-conversation input changed: hide its error.
    NewDmEdited,
    /// The reader scrolled to the top of the chat: fetch the page before it.
    LoadOlder(Channel),
    /// The reader has seen everything in `channel` up to `seq`.
    Read { channel: Channel, seq: u64 },
    /// Open or close the room menu (phone layout).
    SetSidebar(bool),
    /// The page gained (`true`) or lost the focus, or was hidden.
    Focus(bool),
    /// The user is typing in `channel`'s composer, at `now_ms`.
    Typed { channel: Channel, now_ms: u64 },
    /// The clock reached `now_ms`: typing indicators that ran out disappear.
    Tick { now_ms: u64 },

    /// The user sent a message; it is pending until the server stores it.
    Queue {
        channel: Channel,
        client_id: ClientMsgId,
        body: MessageBody,
    },
    /// Forget a failed outgoing message.
    DiscardFailed {
        channel: Channel,
        client_id: ClientMsgId,
    },
    /// Send a failed message again, with the same client id (so the server
    /// stores it at most once, whatever happened to the first attempt).
    RetryFailed {
        channel: Channel,
        client_id: ClientMsgId,
    },
    /// Open (`true`) or close the new-poll form.
    NewPollForm(bool),
    /// Create a poll in `room`, closing by itself at `closes_at` (ms), if set.
    CreatePoll {
        room: RoomName,
        spec: PollSpec,
        closes_at: Option<u64>,
    },
    /// The new-poll form changed: hide the server's complaint.
    NewPollEdited,
    /// Vote for `option` of `poll` (again: change the vote).
    Vote { poll: u64, option: u32 },
    /// Close a poll the user created.
    ClosePoll(u64),
    /// Show a problem found by the client itself.
    ShowError(String),
    /// Hide the error banner.
    DismissError,
}

impl AppState {
    /// The state at startup, showing `channel` once connected if the user has it
    /// (the one named in the page's URL, so a reload comes back to it).
    pub fn opening(channel: Option<Channel>) -> Self {
        Self {
            active: channel,
            ..Self::default()
        }
    }

    /// The logged-in user, if any.
    pub fn me(&self) -> Option<&Username> {
        match &self.session {
            Session::SignedIn(me) => Some(me),
            Session::Checking | Session::SignedOut => None,
        }
    }

    /// The room or conversation `channel` names, if the user has it.
    pub fn chat(&self, channel: &Channel) -> Option<&Chat> {
        let list = match channel {
            Channel::Room(_) => &self.rooms,
            Channel::Dm(_) => &self.dms,
        };
        list.iter().find(|c| same_channel(&c.channel, channel))
    }

    /// The room or conversation shown, if any.
    pub fn active_chat(&self) -> Option<&Chat> {
        self.active.as_ref().and_then(|channel| self.chat(channel))
    }

    /// Every room, then every conversation.
    pub fn chats(&self) -> impl Iterator<Item = &Chat> {
        self.rooms.iter().chain(&self.dms)
    }

    /// Unread messages in every room and conversation (for the tab's title).
    pub fn unread_total(&self) -> u64 {
        self.chats().map(Chat::unread).sum()
    }

    /// When the next typing indicator runs out (ms), if one is shown.
    pub fn typing_expires(&self) -> Option<u64> {
        self.chats().filter_map(Chat::typing_expires).min()
    }

    /// Outgoing messages still waiting for the server, everywhere.
    pub fn pending_count(&self) -> usize {
        self.chats()
            .map(|c| c.pending.iter().filter(|p| p.in_flight()).count())
            .sum()
    }

    /// Whether the UI should offer a new connection.
    pub fn can_reconnect(&self) -> bool {
        // Offline, an attempt would fail at once: the `online` event reconnects.
        self.me().is_some() && matches!(self.conn, ConnState::Closed { .. }) && !self.offline
    }

    /// The `hello` that opens the current connection: the protocol version and
    /// where each loaded chat resumes.
    pub fn hello(&self) -> ClientMsg {
        ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            resume: self.resume.clone(),
        }
    }

    /// Where a new connection resumes: every room and conversation whose
    /// messages are loaded (contiguous up to the newest one shown), at its newest
    /// seq. Chats never shown have nothing to resume (their latest page is
    /// fetched when they are), nor has a conversation opened here in which
    /// nobody wrote yet (the server does not know it).
    pub fn resume_points(&self) -> Vec<ResumeFrom> {
        self.chats()
            .filter(|c| c.loaded && !(c.peer().is_some() && c.last_seq == 0))
            .map(|c| ResumeFrom {
                channel: c.channel.clone(),
                seq: c.newest_seq(),
            })
            .collect()
    }

    /// Outgoing messages the root component has not sent yet (ids from `from` on).
    pub fn outgoing_from(&self, from: u64) -> impl Iterator<Item = &Outgoing> {
        self.outbox.iter().filter(move |o| o.id >= from)
    }

    fn is_me(&self, user: &Username) -> bool {
        self.me().is_some_and(|me| same_user(me, user))
    }

    fn is_active(&self, channel: &Channel) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| same_channel(a, channel))
    }

    fn chat_mut(&mut self, channel: &Channel) -> Option<&mut Chat> {
        let list = match channel {
            Channel::Room(_) => &mut self.rooms,
            Channel::Dm(_) => &mut self.dms,
        };
        list.iter_mut().find(|c| same_channel(&c.channel, channel))
    }

    fn chats_mut(&mut self) -> impl Iterator<Item = &mut Chat> {
        self.rooms.iter_mut().chain(&mut self.dms)
    }

    /// The chat a server event names. A conversation the server tells about
    /// with `create` (its first message, or who is online in it) is added: the
    /// other user started it. The server's spelling of a user name wins over
    /// the one typed here.
    fn server_chat(&mut self, channel: &Channel, create: bool) -> Option<&mut Chat> {
        if let Channel::Room(_) = channel {
            return self.chat_mut(channel);
        }
        let at = match self
            .dms
            .iter()
            .position(|c| same_channel(&c.channel, channel))
        {
            Some(at) => at,
            None if create => {
                self.dms.push(Chat::new(channel.clone(), 0, 0));
                self.dms.len() - 1
            }
            None => return None,
        };
        if self.dms[at].channel != *channel {
            if self.is_active(channel) {
                self.active = Some(channel.clone());
            }
            self.dms[at].channel = channel.clone();
        }
        Some(&mut self.dms[at])
    }

    fn send(&mut self, msg: ClientMsg) {
        let out = Outgoing {
            id: self.next_out,
            conn: self.conn_id,
            msg,
        };
        self.next_out += 1;
        Rc::make_mut(&mut self.outbox).push(out);
    }

    fn start_connection(&mut self) {
        self.conn_id = self.conn_id.wrapping_add(1).max(1);
        self.conn = ConnState::Connecting;
        self.transport = None;
        self.reconnect_at = None;
        self.ready = false;
        self.received = 0;
        self.outbox = Rc::default();
        self.resume = self.resume_points();
    }

    /// Everything reset to the log-in page. The connection id moves on, which
    /// closes the current connection and makes its late events stale; the outbox
    /// counter moves on too (the root component remembers what it sent by id).
    fn signed_out(&self, notice: Option<String>) -> Self {
        Self {
            session: Session::SignedOut,
            auth_notice: notice,
            conn_id: self.conn_id.wrapping_add(1).max(1),
            next_out: self.next_out,
            focused: self.focused,
            offline: self.offline,
            ..Self::default()
        }
    }

    /// Asks for the latest history page of `channel` unless it is loaded or coming.
    fn request_history(&mut self, channel: &Channel) {
        let ready = self.ready;
        let Some(chat) = self.chat_mut(channel) else {
            return;
        };
        if ready && !chat.loaded && !chat.loading {
            chat.loading = true;
            let channel = chat.channel.clone();
            self.send(ClientMsg::History {
                channel,
                before: None,
            });
        }
    }

    /// Makes `channel` (one the user has) the active one, fetching its history if
    /// needed, without changing the view. A chat that was not shown gets its
    /// "New messages" divider above its first unread message; the one it
    /// replaces loses its divider.
    fn show(&mut self, channel: &Channel) {
        let Some(canonical) = self.chat(channel).map(|c| c.channel.clone()) else {
            return;
        };
        if !self.is_active(channel) {
            if let Some(old) = self.active.clone()
                && let Some(old) = self.chat_mut(&old)
            {
                old.divider = None;
            }
            if let Some(chat) = self.chat_mut(channel) {
                chat.divider = chat.first_unread();
            }
        }
        self.request_history(channel);
        self.request_polls(channel);
        self.active = Some(canonical);
    }

    /// Shows `channel` in the main panel (and closes the phone menu).
    fn activate(&mut self, channel: &Channel) {
        if !self.is_active(channel) {
            self.new_poll = NewPoll::default();
        }
        self.view = View::Chat;
        self.sidebar_open = false;
        self.new_dm.error = None;
        self.show(channel);
    }

    /// Keeps the active chat if it is still one of the user's, else picks the
    /// lobby, the first room or the latest conversation (or none at all).
    fn ensure_active(&mut self) {
        let lobby = Channel::Room(RoomName::lobby());
        let next = if let Some(active) = self.active_chat() {
            Some(active.channel.clone())
        } else if self.chat(&lobby).is_some() {
            Some(lobby)
        } else {
            self.chats().next().map(|c| c.channel.clone())
        };
        match next {
            Some(channel) => self.show(&channel),
            None => self.active = None,
        }
    }

    fn insert_room(&mut self, room: Chat) {
        let at = self
            .rooms
            .binary_search_by(|r| r.channel.cmp(&room.channel))
            .unwrap_or_else(|at| at);
        self.rooms.insert(at, room);
    }

    /// Most recent first; a conversation nobody wrote in yet (opened here) first
    /// of all, where the user looks for it.
    fn sort_dms(&mut self) {
        let recency = |c: &Chat| {
            if c.last_ts == 0 && c.last_seq == 0 {
                u64::MAX
            } else {
                c.last_ts
            }
        };
        sort_by(&mut self.dms, |a, b| recency(a) > recency(b));
    }

    fn refresh_directory(&mut self) {
        if self.ready {
            self.directory.loading = true;
            self.send(ClientMsg::ListRooms);
        }
    }

    fn show_error(&mut self, code: Option<ErrorCode>, text: String) {
        self.error = Some(Notice { code, text });
    }

    /// Takes what the server says the user has, keeping what this tab already
    /// shows of it.
    fn apply_welcome(&mut self, user: Username, rooms: Vec<MyRoom>, dms: Vec<Conversation>) {
        self.session = Session::SignedIn(user);
        self.ready = true;
        self.retries = 0;
        let mut old = std::mem::take(&mut self.rooms);
        for MyRoom {
            room,
            last_seq,
            last_read,
        } in rooms
        {
            let channel = Channel::Room(room);
            let chat = match take_chat(&mut old, &channel) {
                Some(kept) => resumed(kept, last_seq, last_read, &self.resume),
                None => Chat::new(channel, last_seq, last_read),
            };
            self.insert_room(chat);
        }
        let mut old = std::mem::take(&mut self.dms);
        for Conversation {
            with,
            last_seq,
            last_read,
            last_ts,
            online,
        } in dms
        {
            let channel = Channel::Dm(with.clone());
            let mut chat = match take_chat(&mut old, &channel) {
                Some(kept) => resumed(kept, last_seq, last_read, &self.resume),
                None => Chat::new(channel.clone(), last_seq, last_read),
            };
            chat.channel = channel;
            chat.last_ts = chat.last_ts.max(last_ts);
            chat.set_online(if online { vec![with] } else { Vec::new() });
            self.dms.push(chat);
        }
        // Conversations opened here in which nobody has written yet stay.
        for mut draft in old.into_iter().filter(|c| c.last_seq == 0) {
            draft.loaded = false;
            draft.loading = false;
            self.dms.push(draft);
        }
        self.sort_dms();
        if self.active_chat().is_none() {
            self.active = None;
        }
        self.ensure_active();
        // Messages that arrived while offline are new, too.
        if let Some(active) = self.active.clone()
            && let Some(chat) = self.chat_mut(&active)
            && chat.divider.is_none()
        {
            chat.divider = chat.first_unread();
        }
        // What is still pending goes out again: the server stores a retried client
        // id once, so nothing shows twice.
        let resend: Vec<ClientMsg> = self
            .chats()
            .flat_map(|c| {
                c.pending
                    .iter()
                    .filter(|p| p.in_flight())
                    .map(|p| ClientMsg::Send {
                        channel: c.channel.clone(),
                        client_id: p.client_id.clone(),
                        body: p.body.clone(),
                    })
            })
            .collect();
        for msg in resend {
            self.send(msg);
        }
        if self.view == View::Directory {
            self.refresh_directory();
        }
    }

    fn apply_server_msg(&mut self, msg: ServerMsg, now_ms: u64) {
        match msg {
            ServerMsg::Welcome {
                protocol: _,
                user,
                rooms,
                conversations,
            } => self.apply_welcome(user, rooms, conversations),
            ServerMsg::RoomList { mut rooms } => {
                sort_by(&mut rooms, |a, b| a.room < b.room);
                self.directory.rooms = Some(rooms);
                self.directory.loading = false;
            }
            ServerMsg::Joined { room, last_seq } => self.apply_joined(&room, last_seq),
            ServerMsg::Left { room } => {
                let channel = Channel::Room(room.clone());
                self.rooms.retain(|r| r.channel != channel);
                self.directory.mark(&room, false);
                self.ensure_active();
            }
            ServerMsg::History {
                channel,
                messages,
                has_more,
            } => self.apply_history(&channel, messages, has_more),
            ServerMsg::Message(msg) => {
                self.received += 1;
                let mine = self.is_me(&msg.sender);
                let active = self.is_active(&msg.channel);
                let focused = self.focused;
                let is_dm = matches!(msg.channel, Channel::Dm(_));
                let Some(chat) = self.server_chat(&msg.channel.clone(), true) else {
                    return;
                };
                let seq = msg.seq;
                chat.wrote(&msg.sender, now_ms);
                if is_dm && !mine {
                    // They just wrote: they are online (whatever an earlier
                    // snapshot said).
                    chat.presence(msg.sender.clone(), true);
                }
                if mine {
                    chat.settle_pending([&msg.client_id]);
                }
                chat.insert(msg);
                if mine {
                    // Writing means having read up to there (the server moved the
                    // marker too).
                    chat.read_upto(seq);
                } else if active && !focused && chat.divider.is_none() {
                    // Arrived while the user looks elsewhere: mark where the new
                    // ones start.
                    chat.divider = chat.first_unread();
                }
                if is_dm {
                    self.sort_dms();
                }
            }
            ServerMsg::Ack {
                client_id,
                channel,
                seq,
            } => {
                if let Some(chat) = self.chat_mut(&channel) {
                    chat.read_upto(seq);
                    if chat.messages.binary_search_by_key(&seq, |m| m.seq).is_ok() {
                        chat.settle_pending([&client_id]);
                    } else if let Some(p) = chat.pending_mut(&client_id) {
                        p.acked = Some(seq);
                    }
                }
            }
            ServerMsg::Online {
                channel,
                users,
                total,
            } => {
                let new = self.chat(&channel).is_none();
                if let Some(chat) = self.server_chat(&channel, true) {
                    chat.set_online_total(users, total);
                }
                if new {
                    self.sort_dms();
                }
            }
            ServerMsg::Presence {
                channel,
                user,
                online,
            } => {
                if let Some(chat) = self.server_chat(&channel, false) {
                    chat.presence(user, online);
                }
            }
            ServerMsg::Typing { channel, user } => {
                if !self.is_me(&user)
                    && let Some(chat) = self.server_chat(&channel, false)
                {
                    chat.typing(user, now_ms);
                }
            }
            ServerMsg::ReadMarker { channel, seq } => {
                if let Some(chat) = self.server_chat(&channel, false) {
                    chat.read_upto(seq);
                }
            }
            ServerMsg::Poll(poll) => self.apply_poll(poll),
            ServerMsg::Polls { room, polls } => self.apply_polls(&room, polls),
            ServerMsg::Tally { poll, since, tally } => self.apply_tally(poll, since, tally),
            ServerMsg::MyVote { poll, option } => self.apply_my_vote(poll, option),
            ServerMsg::Missed { channel, messages } => self.apply_missed(&channel, messages),
            ServerMsg::TooFarBehind { channel, last_seq } => {
                let active = self.is_active(&channel);
                if let Some(chat) = self.server_chat(&channel, false) {
                    chat.forget_messages();
                    chat.last_seq = chat.last_seq.max(last_seq);
                    let channel = chat.channel.clone();
                    // The latest page replaces them: now if the chat is shown,
                    // else when it is.
                    if active {
                        self.request_history(&channel);
                    }
                }
            }
            // Only the connection task cares (the server is alive).
            ServerMsg::Pong => {}
            ServerMsg::Error {
                code,
                message,
                client_id,
            } => self.apply_error(code, message, client_id.as_ref()),
        }
    }

    /// Messages of `channel` written while this tab was disconnected, oldest
    /// first, right after `welcome`: they fill the gap between what is shown and
    /// the live messages that follow, as if they had arrived live.
    fn apply_missed(&mut self, channel: &Channel, messages: Vec<ChatMessage>) {
        let me = self.me().cloned();
        let active = self.is_active(channel);
        let focused = self.focused;
        let count = messages.len() as u64;
        let Some(chat) = self.server_chat(channel, false) else {
            return;
        };
        let mine = own_messages(me.as_ref(), &messages);
        for msg in messages {
            chat.insert(msg);
        }
        chat.settle_pending(mine.iter().map(|(id, _)| id));
        if let Some(&(_, seq)) = mine.last() {
            chat.read_upto(seq);
        }
        if active && !focused && chat.divider.is_none() {
            chat.divider = chat.first_unread();
        }
        self.received += count;
        if matches!(channel, Channel::Dm(_)) {
            self.sort_dms();
        }
    }

    fn apply_joined(&mut self, room: &RoomName, last_seq: u64) {
        let requested = self.directory.joining.as_ref() == Some(room)
            || self.directory.creating.as_ref() == Some(room);
        let channel = Channel::Room(room.clone());
        match self.chat_mut(&channel) {
            Some(known) => known.sync(last_seq, None),
            None => self.insert_room(Chat::new(channel.clone(), last_seq, 0)),
        }
        self.directory.mark(room, true);
        if requested {
            self.directory.joining = None;
            self.directory.creating = None;
            if let Some(joined) = self.chat_mut(&channel) {
                // Its latest history page follows the `joined`.
                joined.loading = true;
                // Joining means catching up: what was said before is not news.
                // The other tabs hear it as a `read_marker`.
                joined.read_upto(last_seq);
            }
            if last_seq > 0 {
                self.send(ClientMsg::MarkRead {
                    channel: channel.clone(),
                    seq: last_seq,
                });
            }
            self.activate(&channel);
        } else if self.active.is_none() {
            self.show(&channel);
        }
    }

    fn apply_history(
        &mut self,
        channel: &Channel,
        messages: Vec<parley_common::ChatMessage>,
        has_more: bool,
    ) {
        let opened = match (channel, &self.new_dm.opening) {
            (Channel::Dm(user), Some(opening)) => same_user(user, opening),
            _ => false,
        };
        if opened && self.chat(channel).is_none() {
            // The user exists: the conversation starts here. The messages spell
            // the name as its owner does.
            let named = messages
                .first()
                .map_or_else(|| channel.clone(), |m| m.channel.clone());
            self.dms.push(Chat::new(named, 0, 0));
            self.sort_dms();
        }
        let me = self.me().cloned();
        let Some(chat) = self.chat_mut(channel) else {
            return;
        };
        let mine = own_messages(me.as_ref(), &messages);
        chat.merge_page(messages, has_more);
        chat.settle_pending(mine.iter().map(|(id, _)| id));
        if let Some(&(_, seq)) = mine.last() {
            chat.read_upto(seq);
        }
        chat.loaded = true;
        chat.loading = false;
        if opened {
            self.new_dm.opening = None;
            self.activate(channel);
        }
    }

    fn apply_error(&mut self, code: ErrorCode, message: String, client_id: Option<&ClientMsgId>) {
        // A rejected chat message is shown, in red, where it was written.
        if let Some(id) = client_id
            && let Some(p) = self.chats_mut().find_map(|c| c.pending_mut(id))
        {
            p.failed = Some(message);
            return;
        }
        match code {
            ErrorCode::RoomExists | ErrorCode::InvalidRoomName
                if self.directory.creating.is_some() =>
            {
                let name = self.directory.creating.take();
                self.directory.create_error = Some(match (code, name) {
                    (ErrorCode::RoomExists, Some(name)) => {
                        format!("#{name} already exists: join it from the list below.")
                    }
                    _ => message,
                });
            }
            ErrorCode::NoSuchRoom if self.directory.joining.is_some() => {
                if let Some(name) = self.directory.joining.take() {
                    self.show_error(Some(code), format!("#{name} does not exist any more."));
                }
                self.refresh_directory();
            }
            ErrorCode::UnknownUser | ErrorCode::CannotMessageSelf | ErrorCode::InvalidName
                if self.new_dm.opening.is_some() =>
            {
                let name = self.new_dm.opening.take();
                self.new_dm.error = Some(match (code, name) {
                    (ErrorCode::UnknownUser, Some(name)) => {
                        format!("There is no user named {name}.")
                    }
                    (ErrorCode::CannotMessageSelf, _) => {
                        "That is you: pick someone else.".to_owned()
                    }
                    _ => message,
                });
            }
            ErrorCode::NotInRoom => {
                // A history request for a room left meanwhile (in another tab).
                for chat in self.chats_mut() {
                    chat.loading = false;
                    chat.polls_loading = false;
                }
                self.new_poll.creating = None;
                self.show_error(Some(code), message);
            }
            // A read marker that another tab moved further already: harmless.
            ErrorCode::BadReadMarker => {}
            ErrorCode::TooFewOptions => {
                self.poll_form_error(code, "A poll needs at least 2 options.", message);
            }
            ErrorCode::TooManyOptions => {
                self.poll_form_error(code, "A poll has at most 10 options.", message);
            }
            ErrorCode::DuplicateOption => {
                self.poll_form_error(code, "Two options are the same.", message);
            }
            ErrorCode::InvalidOption => self.poll_form_error(
                code,
                "An option is empty or longer than 80 characters.",
                message,
            ),
            ErrorCode::InvalidQuestion => self.poll_form_error(
                code,
                "The question is empty or longer than 200 characters.",
                message,
            ),
            // The only malformed request the UI can make: a closing time that
            // passed meanwhile.
            ErrorCode::BadMessage if self.new_poll.creating.is_some() => {
                self.poll_form_error(code, "The closing time has passed already.", message);
            }
            ErrorCode::NoSuchPoll => {
                // Whatever snapshot was asked for is not coming.
                self.snapshots.clear();
                self.show_error(Some(code), "That poll does not exist.".into());
            }
            ErrorCode::NoSuchOption => {
                self.show_error(Some(code), "That poll has no such option.".into());
            }
            ErrorCode::PollClosed => {
                self.show_error(Some(code), "That poll is closed: no more votes.".into());
            }
            ErrorCode::NotPollCreator => {
                self.show_error(Some(code), "Only the poll's creator can close it.".into());
            }
            ErrorCode::BadJson
            | ErrorCode::BadMessage
            | ErrorCode::UnknownType
            | ErrorCode::UnsupportedVersion
            | ErrorCode::HelloRequired
            | ErrorCode::AlreadyGreeted
            | ErrorCode::InvalidName
            | ErrorCode::InvalidRoomName
            | ErrorCode::InvalidClientId
            | ErrorCode::EmptyBody
            | ErrorCode::BodyTooLong
            | ErrorCode::InvalidBody
            | ErrorCode::UnknownUser
            | ErrorCode::CannotMessageSelf
            | ErrorCode::NoSuchRoom
            | ErrorCode::RoomExists
            | ErrorCode::InvalidCredentials
            | ErrorCode::NameTaken
            | ErrorCode::WeakPassword
            | ErrorCode::PasswordTooLong
            | ErrorCode::RateLimited
            | ErrorCode::Unauthorized
            | ErrorCode::ForbiddenOrigin
            | ErrorCode::RequestPending
            | ErrorCode::TooManyConnections
            | ErrorCode::ServerBusy
            | ErrorCode::UnknownConnection
            | ErrorCode::TooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::Internal => self.show_error(Some(code), message),
        }
    }

    fn apply_closed(mut self, code: Option<u16>, reason: String) -> Self {
        if code == Some(parley_common::close::LOGGED_OUT) {
            let notice = (!self.logging_out).then(|| crate::auth::LOGGED_OUT.to_owned());
            return self.signed_out(notice);
        }
        self.conn = ConnState::Closed { code, reason };
        self.transport = None;
        self.reconnect_at = None;
        self.ready = false;
        self.outbox = Rc::default();
        // Requests in flight are lost with the connection, and who is online or
        // typing is unknown until the next `welcome`; offline, who was online
        // is shown as last known (the network, not the people, went away).
        let offline = self.offline;
        for chat in self.chats_mut() {
            chat.loading = false;
            chat.polls_loading = false;
            if !offline {
                chat.set_online(Vec::new());
            }
            chat.typing.clear();
        }
        self.snapshots.clear();
        self.new_poll.creating = None;
        self.directory.loading = false;
        self.directory.creating = None;
        self.directory.joining = None;
        self.new_dm.opening = None;
        self.typing_sent = None;
        self
    }

    /// True when `action` would change nothing; the reducer then returns the same
    /// `Rc`, which spares a re-render.
    fn ignores(&self, action: &Action) -> bool {
        match action {
            Action::Opened { conn, .. }
            | Action::Closing { conn }
            | Action::Closed { conn, .. }
            | Action::BadFrame { conn, .. } => *conn != self.conn_id,
            Action::Received { conn, msg, .. } => {
                *conn != self.conn_id || matches!(msg, ServerMsg::Pong)
            }
            Action::Reconnect { conn } => *conn != self.conn_id || !self.can_reconnect(),
            Action::ReconnectScheduled { conn, at_ms } => {
                *conn != self.conn_id || !self.can_reconnect() || self.reconnect_at == Some(*at_ms)
            }
            Action::Upgrade { conn } => *conn != self.conn_id || self.conn != ConnState::Open,
            Action::Offline => self.offline,
            Action::Online => !self.offline,
            Action::RetryFailed { channel, client_id } => self.chat(channel).is_none_or(|c| {
                !c.pending
                    .iter()
                    .any(|p| &p.client_id == client_id && p.failed.is_some())
            }),
            Action::SignedIn(_) | Action::SessionChecked(Some(_)) => self.me().is_some(),
            Action::AuthEdited => self.auth_problem.is_none(),
            Action::DismissError => self.error.is_none(),
            Action::Flushed { upto } => self.outbox.first().is_none_or(|o| o.id >= *upto),
            Action::SetSidebar(open) => self.sidebar_open == *open,
            Action::Focus(focused) => self.focused == *focused,
            Action::CreateEdited => self.directory.create_error.is_none(),
            Action::NewDmEdited => self.new_dm.error.is_none(),
            Action::NewPollEdited => self.new_poll.error.is_none(),
            Action::NewPollForm(open) => self.new_poll.open == *open,
            Action::Select(channel) => {
                self.chat(channel).is_none()
                    || (self.is_active(channel) && self.view == View::Chat && !self.sidebar_open)
            }
            Action::LoadOlder(channel) => self
                .chat(channel)
                .is_none_or(|c| !self.ready || c.loading || (c.loaded && !c.has_more)),
            // Only forward, and never beyond what the server has.
            Action::Read { channel, seq } => {
                !self.ready
                    || self
                        .chat(channel)
                        .is_none_or(|c| *seq <= c.last_read || *seq > c.last_seq)
            }
            Action::Typed { channel, now_ms } => {
                !self.ready
                    || self.chat(channel).is_none()
                    || self.typing_sent.as_ref().is_some_and(|(sent, at)| {
                        same_channel(sent, channel) && now_ms.saturating_sub(*at) < TYPING_EVERY_MS
                    })
            }
            Action::Tick { now_ms } => self.typing_expires().is_none_or(|t| t > *now_ms),
            Action::SessionChecked(None)
            | Action::AuthSubmitted
            | Action::AuthFailed(_)
            | Action::LoggingOut
            | Action::LogoutFailed(_)
            | Action::SignedOut { .. }
            | Action::OpenDirectory
            | Action::CreateRoom(_)
            | Action::JoinRoom(_)
            | Action::LeaveRoom(_)
            | Action::OpenDm(_)
            | Action::Queue { .. }
            | Action::DiscardFailed { .. }
            | Action::CreatePoll { .. }
            | Action::Vote { .. }
            | Action::ClosePoll(_)
            | Action::ShowError(_) => false,
        }
    }
}

/// Removes and returns the chat `channel` names from `list`.
fn take_chat(list: &mut Vec<Chat>, channel: &Channel) -> Option<Chat> {
    let at = list
        .iter()
        .position(|c| same_channel(&c.channel, channel))?;
    Some(list.swap_remove(at))
}

/// A chat this tab had, brought up to date with a new connection's `welcome`.
/// `resume` is what the connection's `hello` resumed.
fn resumed(mut kept: Chat, last_seq: u64, last_read: u64, resume: &[ResumeFrom]) -> Chat {
    let resuming = resume
        .iter()
        .any(|r| same_channel(&r.channel, &kept.channel) && r.seq == kept.newest_seq());
    kept.sync(last_seq, Some(last_read));
    // Messages may have been missed while disconnected. A resumed chat gets them
    // (`missed`, right after `welcome`) or is told to reload (`too_far_behind`);
    // any other one fetches its latest page again (and merges it) when shown.
    kept.loaded = kept.loaded && (resuming || kept.newest_seq() >= last_seq);
    kept.loading = false;
    // Votes were missed too: the list is fetched again when the room is shown.
    kept.polls_loaded = false;
    kept.polls_loading = false;
    kept
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        if self.ignores(&action) {
            return self;
        }
        let mut next = Rc::unwrap_or_clone(self);
        match action {
            Action::SessionChecked(None) => {
                if next.session == Session::Checking {
                    next.session = Session::SignedOut;
                }
            }
            Action::SessionChecked(Some(user)) | Action::SignedIn(user) => {
                next.session = Session::SignedIn(user);
                next.auth_busy = false;
                next.auth_problem = None;
                next.auth_notice = None;
                next.start_connection();
            }
            Action::AuthSubmitted => {
                next.auth_busy = true;
                next.auth_problem = None;
                next.auth_notice = None;
            }
            Action::AuthFailed(problem) => {
                next.auth_busy = false;
                next.auth_problem = Some(problem);
            }
            Action::AuthEdited => next.auth_problem = None,
            Action::LoggingOut => next.logging_out = true,
            Action::LogoutFailed(text) => {
                next.logging_out = false;
                next.show_error(None, text);
            }
            Action::SignedOut { notice } => next = next.signed_out(notice),

            Action::Reconnect { .. } => {
                next.retries = next.retries.saturating_add(1);
                next.start_connection();
            }
            Action::ReconnectScheduled { at_ms, .. } => next.reconnect_at = Some(at_ms),
            Action::Upgrade { .. } => {
                next = next.apply_closed(None, "switching to a WebSocket".into());
                next.start_connection();
            }
            Action::Offline => next = next.went_offline(),
            Action::Online => next.came_online(),
            Action::Opened { transport, .. } => {
                next.conn = ConnState::Open;
                next.transport = Some(transport);
            }
            Action::Closing { .. } => next.conn = ConnState::Closing,
            Action::Closed { code, reason, .. } => next = next.apply_closed(code, reason),
            // `hello` itself refused because the server is too busy to read
            // the user's rooms: nothing was set up on that connection, so it
            // counts as closed and is tried again after the usual backoff.
            Action::Received {
                msg:
                    ServerMsg::Error {
                        code: ErrorCode::ServerBusy,
                        message,
                        ..
                    },
                ..
            } if !next.ready => next = next.apply_closed(None, message),
            Action::Received { msg, now_ms, .. } => next.apply_server_msg(msg, now_ms),
            Action::BadFrame { detail, .. } => {
                next.show_error(
                    None,
                    format!("Unreadable message from the server: {detail}"),
                );
            }
            Action::Flushed { upto } => Rc::make_mut(&mut next.outbox).retain(|o| o.id >= upto),

            Action::Select(channel) => next.activate(&channel),
            Action::OpenDirectory => {
                next.view = View::Directory;
                next.sidebar_open = false;
                next.refresh_directory();
            }
            Action::CreateRoom(room) => {
                // Sent even for a room the user is in: the server's `room_exists`
                // is shown under the form.
                if next.ready {
                    next.directory.create_error = None;
                    next.directory.creating = Some(room.clone());
                    next.send(ClientMsg::CreateRoom { room });
                } else {
                    next.directory.create_error =
                        Some("You are offline: try again once connected.".into());
                }
            }
            Action::CreateEdited => next.directory.create_error = None,
            Action::JoinRoom(room) => {
                let channel = Channel::Room(room.clone());
                if next.chat(&channel).is_some() {
                    next.activate(&channel);
                } else if next.ready {
                    next.directory.joining = Some(room.clone());
                    next.send(ClientMsg::Join { room });
                }
            }
            Action::LeaveRoom(room) => {
                if next.ready && next.chat(&Channel::Room(room.clone())).is_some() {
                    next.send(ClientMsg::Leave { room });
                }
            }
            Action::OpenDm(user) => next.open_dm(user),
            Action::NewDmEdited => next.new_dm.error = None,
            Action::LoadOlder(channel) => {
                let oldest = next
                    .chat(&channel)
                    .filter(|c| c.loaded)
                    .and_then(|c| c.messages.first().map(|m| (c.channel.clone(), m.seq)));
                match oldest {
                    Some((channel, oldest)) => {
                        if let Some(chat) = next.chat_mut(&channel) {
                            chat.loading = true;
                        }
                        next.send(ClientMsg::History {
                            channel,
                            before: Some(oldest),
                        });
                    }
                    None => next.request_history(&channel),
                }
            }
            Action::Read { channel, seq } => {
                if let Some(chat) = next.chat_mut(&channel) {
                    chat.read_upto(seq);
                    let channel = chat.channel.clone();
                    next.send(ClientMsg::MarkRead { channel, seq });
                }
            }
            Action::SetSidebar(open) => next.sidebar_open = open,
            Action::Focus(focused) => next.focused = focused,
            Action::Typed { channel, now_ms } => {
                if let Some(chat) = next.chat(&channel) {
                    let channel = chat.channel.clone();
                    next.typing_sent = Some((channel.clone(), now_ms));
                    next.send(ClientMsg::Typing { channel });
                }
            }
            Action::Tick { now_ms } => {
                for chat in next.chats_mut() {
                    chat.expire_typing(now_ms);
                }
            }

            Action::Queue {
                channel,
                client_id,
                body,
            } => {
                let ready = next.ready;
                if let Some(chat) = next.chat_mut(&channel)
                    && !chat.pending.iter().any(|p| p.client_id == client_id)
                {
                    Rc::make_mut(&mut chat.pending).push(Pending {
                        client_id: client_id.clone(),
                        body: body.clone(),
                        acked: None,
                        failed: None,
                    });
                    let channel = chat.channel.clone();
                    // The message ends the typing; typing again signals at once.
                    next.typing_sent = None;
                    // Offline, it waits: `welcome` sends everything still pending.
                    if ready {
                        next.send(ClientMsg::Send {
                            channel,
                            client_id,
                            body,
                        });
                    }
                }
            }
            Action::DiscardFailed { channel, client_id } => {
                if let Some(chat) = next.chat_mut(&channel) {
                    Rc::make_mut(&mut chat.pending)
                        .retain(|p| p.client_id != client_id || p.failed.is_none());
                }
            }
            Action::RetryFailed { channel, client_id } => {
                let ready = next.ready;
                let retry = next.chat_mut(&channel).and_then(|chat| {
                    let channel = chat.channel.clone();
                    let p = chat.pending_mut(&client_id)?;
                    p.failed = None;
                    Some(ClientMsg::Send {
                        channel,
                        client_id: p.client_id.clone(),
                        body: p.body.clone(),
                    })
                });
                // In flight again; offline, `welcome` sends it with the others.
                if let Some(msg) = retry
                    && ready
                {
                    next.send(msg);
                }
            }
            Action::NewPollForm(open) => {
                next.new_poll = NewPoll {
                    open,
                    ..NewPoll::default()
                };
            }
            Action::CreatePoll {
                room,
                spec,
                closes_at,
            } => next.create_poll(room, &spec, closes_at),
            Action::NewPollEdited => next.new_poll.error = None,
            Action::Vote { poll, option } => next.vote(poll, option),
            Action::ClosePoll(poll) => next.close_poll(poll),
            Action::ShowError(text) => next.show_error(None, text),
            Action::DismissError => next.error = None,
        }
        Rc::new(next)
    }
}

impl AppState {
    /// Opens the conversation with `user`: at once when the user has it, else
    /// after the server said the user exists (see [`NewDm`]).
    fn open_dm(&mut self, user: Username) {
        let channel = Channel::Dm(user.clone());
        if self.is_me(&user) {
            self.new_dm.error = Some("That is you: pick someone else.".into());
        } else if self.chat(&channel).is_some() {
            self.new_dm.error = None;
            self.activate(&channel);
        } else if self.ready {
            self.new_dm.error = None;
            self.new_dm.opening = Some(user);
            self.send(ClientMsg::History {
                channel,
                before: None,
            });
        } else {
            self.new_dm.error = Some("You are offline: try again once connected.".into());
        }
    }
}

#[cfg(test)]
mod tests;

/// The client ids and seqs of the messages `me` wrote.
fn own_messages(me: Option<&Username>, messages: &[ChatMessage]) -> Vec<(ClientMsgId, u64)> {
    messages
        .iter()
        .filter(|m| me.is_some_and(|me| same_user(me, &m.sender)))
        .map(|m| (m.client_id.clone(), m.seq))
        .collect()
}
