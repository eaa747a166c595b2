//! The app state and its pure reducer: every change to what the UI shows is an
//! [`Action`] applied by [`AppState::reduce`], so the logic is unit-tested natively.
//!
//! The reducer also decides what to *send*: it appends [`ClientMsg`]s to the
//! [`AppState::outbox`] (a history page when a room is opened, `join`, a chat
//! message…). The root component hands them to the current connection and reports
//! them sent with [`Action::Flushed`]. So "what goes over the wire, and when" is
//! tested here too, without a socket.

use std::rc::Rc;

use parley_common::{
    ChatMessage, ClientMsg, ClientMsgId, ErrorCode, MessageBody, MyRoom, RoomInfo, RoomName,
    ServerMsg, Username,
};
use yew::Reducible;

use crate::auth::AuthProblem;

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
    /// The active room's messages and the composer.
    #[default]
    Room,
    /// The room directory and the create-room form.
    Directory,
}

/// Mirrors the WebSocket's `readyState`, plus why it closed.
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
        Some(close::SLOW_CONSUMER) => "disconnected: connection too slow",
        Some(close::LOGGED_OUT) => "logged out",
        Some(_) => "connection closed by server",
    };
    match (code, reason.trim()) {
        (Some(code), "") => format!("{fallback} ({code})"),
        (None, "") => fallback.to_owned(),
        (Some(code), reason) => format!("{reason} ({code})"),
        (None, reason) => format!("{fallback}: {reason}"),
    }
}

/// An outgoing chat message whose stored copy has not arrived yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientMsgId,
    pub body: MessageBody,
    /// The server acknowledged it as this seq; it stays shown here until the
    /// message itself arrives (live, or in a history page) and takes its place.
    pub acked: Option<u64>,
    /// Set when the server rejected it (an `error` naming its `client_id`). A
    /// failed message is never retried and does not count as pending.
    pub failed: Option<String>,
}

impl Pending {
    /// Still waiting for the server's answer (and re-sent on a new connection).
    pub fn in_flight(&self) -> bool {
        self.acked.is_none() && self.failed.is_none()
    }
}

/// One of the user's rooms, with what this tab has of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: RoomName,
    /// The room's latest sequence number, as far as the server has said.
    pub last_seq: u64,
    /// Ordered by `seq`, without duplicates. Contiguous once `loaded`.
    pub messages: Rc<Vec<ChatMessage>>,
    /// Own messages not yet shown as stored, in the order they were sent.
    pub pending: Rc<Vec<Pending>>,
    /// A history page reached us since the last (re)connection: `messages` run
    /// without gaps up to the newest message.
    pub loaded: bool,
    /// A history request is on its way.
    pub loading: bool,
    /// Older messages than the first one in `messages` exist on the server.
    pub has_more: bool,
}

impl Room {
    pub fn new(name: RoomName, last_seq: u64) -> Self {
        Self {
            name,
            last_seq,
            messages: Rc::default(),
            pending: Rc::default(),
            loaded: false,
            loading: false,
            has_more: false,
        }
    }

    /// The seq of the newest message shown (0 when none).
    pub fn newest_seq(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.seq)
    }

    /// Takes the server's `last_seq`. If what is shown goes beyond it, the server
    /// lost its data (or is another server): what is shown is stale, and new
    /// messages would collide with it by seq, so it is dropped.
    fn sync_last_seq(&mut self, last_seq: u64) {
        if self.newest_seq() > last_seq {
            self.messages = Rc::default();
            self.loaded = false;
            self.has_more = false;
        }
        self.last_seq = last_seq;
    }

    /// Inserts `msg` at its place by `seq`; a `seq` already present is kept as is.
    fn insert(&mut self, msg: ChatMessage) {
        self.last_seq = self.last_seq.max(msg.seq);
        if let Err(at) = self.messages.binary_search_by_key(&msg.seq, |m| m.seq) {
            Rc::make_mut(&mut self.messages).insert(at, msg);
        }
    }

    /// Merges a history page (oldest first) into what is shown.
    fn merge_page(&mut self, page: Vec<ChatMessage>, has_more: bool) {
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            // Nothing (older) to show: the room is empty, or this is its start.
            self.has_more = false;
            return;
        };
        let (first, last) = (first.seq, last.seq);
        // A page newer than what is shown, with a gap in between (messages were
        // missed while offline): drop the older part so the list stays contiguous;
        // it can be loaded again by scrolling up.
        if self.messages.last().is_some_and(|m| first > m.seq + 1) {
            Rc::make_mut(&mut self.messages).retain(|m| m.seq > last);
        }
        // `has_more` describes the oldest message shown.
        if self.messages.first().is_none_or(|m| first <= m.seq) {
            self.has_more = has_more;
        }
        for msg in page {
            self.insert(msg);
        }
    }

    /// Forgets own pending messages whose stored copy is now shown.
    fn settle_pending<'a>(&mut self, arrived: impl IntoIterator<Item = &'a ClientMsgId>) {
        for id in arrived {
            if self.pending.iter().any(|p| &p.client_id == id) {
                Rc::make_mut(&mut self.pending).retain(|p| &p.client_id != id);
            }
        }
    }

    fn pending_mut(&mut self, client_id: &ClientMsgId) -> Option<&mut Pending> {
        if !self.pending.iter().any(|p| &p.client_id == client_id) {
            return None;
        }
        Rc::make_mut(&mut self.pending)
            .iter_mut()
            .find(|p| &p.client_id == client_id)
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

    /// The user's rooms, sorted by name.
    pub rooms: Vec<Room>,
    /// The room shown (and written to).
    pub active: Option<RoomName>,
    pub view: View,
    pub directory: Directory,
    /// The room menu is open (phone layout).
    pub sidebar_open: bool,

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
    /// The socket is open and `hello` went out.
    Opened { conn: ConnId },
    /// The app is closing the socket.
    Closing { conn: ConnId },
    /// The socket is closed (or never opened).
    Closed {
        conn: ConnId,
        code: Option<u16>,
        reason: String,
    },
    /// A frame from the server, decoded.
    Received { conn: ConnId, msg: ServerMsg },
    /// A frame from the server that could not be decoded.
    BadFrame { conn: ConnId, detail: String },
    /// Outgoing messages with an id below `upto` were handed to the connection.
    Flushed { upto: u64 },

    /// Show this room.
    SelectRoom(RoomName),
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
    /// The reader scrolled to the top of the room: fetch the page before it.
    LoadOlder(RoomName),
    /// Open or close the room menu (phone layout).
    SetSidebar(bool),

    /// The user sent a message; it is pending until the server stores it.
    Queue {
        room: RoomName,
        client_id: ClientMsgId,
        body: MessageBody,
    },
    /// Forget a failed outgoing message.
    DiscardFailed {
        room: RoomName,
        client_id: ClientMsgId,
    },
    /// Show a problem found by the client itself.
    ShowError(String),
    /// Hide the error banner.
    DismissError,
}

impl AppState {
    /// The state at startup, showing `room` once connected if the user is in it
    /// (the room named in the page's URL, so a reload comes back to it).
    pub fn opening(room: Option<RoomName>) -> Self {
        Self {
            active: room,
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

    pub fn room(&self, name: &RoomName) -> Option<&Room> {
        self.rooms.iter().find(|r| &r.name == name)
    }

    /// The room shown, if any.
    pub fn active_room(&self) -> Option<&Room> {
        self.active.as_ref().and_then(|name| self.room(name))
    }

    /// Outgoing messages still waiting for the server, in every room.
    pub fn pending_count(&self) -> usize {
        self.rooms
            .iter()
            .map(|r| r.pending.iter().filter(|p| p.in_flight()).count())
            .sum()
    }

    /// Whether the UI should offer a new connection.
    pub fn can_reconnect(&self) -> bool {
        self.me().is_some() && matches!(self.conn, ConnState::Closed { .. })
    }

    /// Outgoing messages the root component has not sent yet (ids from `from` on).
    pub fn outgoing_from(&self, from: u64) -> impl Iterator<Item = &Outgoing> {
        self.outbox.iter().filter(move |o| o.id >= from)
    }

    fn is_me(&self, sender: &Username) -> bool {
        self.me().is_some_and(|me| me.key() == sender.key())
    }

    fn room_mut(&mut self, name: &RoomName) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| &r.name == name)
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
        self.ready = false;
        self.received = 0;
        self.outbox = Rc::default();
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
            ..Self::default()
        }
    }

    /// Asks for the latest history page of `name` unless it is loaded or coming.
    fn request_history(&mut self, name: &RoomName) {
        let ready = self.ready;
        let Some(room) = self.room_mut(name) else {
            return;
        };
        if ready && !room.loaded && !room.loading {
            room.loading = true;
            self.send(ClientMsg::History {
                room: name.clone(),
                before: None,
            });
        }
    }

    /// Makes `name` (one of the user's rooms) the active room, fetching its history
    /// if needed, without changing the view.
    fn show(&mut self, name: RoomName) {
        self.request_history(&name);
        self.active = Some(name);
    }

    /// Shows room `name` in the main panel (and closes the phone menu).
    fn activate(&mut self, name: RoomName) {
        self.view = View::Room;
        self.sidebar_open = false;
        self.show(name);
    }

    /// Keeps the active room if it is still one of the user's, else picks the
    /// lobby or the first room (or none when the user is in no room).
    fn ensure_active(&mut self) {
        let keep = self.active_room().is_some();
        let lobby = RoomName::lobby();
        let next = if keep {
            self.active.clone()
        } else if self.room(&lobby).is_some() {
            Some(lobby)
        } else {
            self.rooms.first().map(|r| r.name.clone())
        };
        self.active = None;
        if let Some(name) = next {
            self.show(name);
        }
    }

    fn insert_room(&mut self, room: Room) {
        let at = self
            .rooms
            .binary_search_by(|r| r.name.cmp(&room.name))
            .unwrap_or_else(|at| at);
        self.rooms.insert(at, room);
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

    fn apply_welcome(&mut self, user: Username, rooms: Vec<MyRoom>) {
        self.session = Session::SignedIn(user);
        self.ready = true;
        self.retries = 0;
        let mut old = std::mem::take(&mut self.rooms);
        for MyRoom { room, last_seq } in rooms {
            let kept = old
                .iter()
                .position(|r| r.name == room)
                .map(|at| old.swap_remove(at));
            let room = match kept {
                Some(mut kept) => {
                    kept.sync_last_seq(last_seq);
                    // Messages may have been missed while disconnected: the latest
                    // page is fetched again (and merged) when the room is shown.
                    kept.loaded = kept.loaded && kept.newest_seq() >= last_seq;
                    kept.loading = false;
                    kept
                }
                None => Room::new(room, last_seq),
            };
            self.insert_room(room);
        }
        self.ensure_active();
        // What is still pending goes out again: the server stores a retried client
        // id once, so nothing shows twice.
        let resend: Vec<ClientMsg> = self
            .rooms
            .iter()
            .flat_map(|r| {
                r.pending
                    .iter()
                    .filter(|p| p.in_flight())
                    .map(|p| ClientMsg::Send {
                        room: r.name.clone(),
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

    fn apply_server_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome {
                protocol: _,
                user,
                rooms,
            } => self.apply_welcome(user, rooms),
            ServerMsg::RoomList { mut rooms } => {
                rooms.sort_by(|a, b| a.room.cmp(&b.room));
                self.directory.rooms = Some(rooms);
                self.directory.loading = false;
            }
            ServerMsg::Joined { room, last_seq } => {
                let requested = self.directory.joining.as_ref() == Some(&room)
                    || self.directory.creating.as_ref() == Some(&room);
                match self.room_mut(&room) {
                    Some(known) => known.sync_last_seq(last_seq),
                    None => self.insert_room(Room::new(room.clone(), last_seq)),
                }
                self.directory.mark(&room, true);
                if requested {
                    self.directory.joining = None;
                    self.directory.creating = None;
                    // Its latest history page follows the `joined`.
                    if let Some(joined) = self.room_mut(&room) {
                        joined.loading = true;
                    }
                    self.activate(room);
                } else if self.active.is_none() {
                    self.show(room);
                }
            }
            ServerMsg::Left { room } => {
                self.rooms.retain(|r| r.name != room);
                self.directory.mark(&room, false);
                self.ensure_active();
            }
            ServerMsg::History {
                room,
                messages,
                has_more,
            } => {
                let me = self.me().map(Username::key);
                let Some(shown) = self.room_mut(&room) else {
                    return;
                };
                let mine: Vec<ClientMsgId> = messages
                    .iter()
                    .filter(|m| me.as_ref() == Some(&m.sender.key()))
                    .map(|m| m.client_id.clone())
                    .collect();
                shown.merge_page(messages, has_more);
                shown.settle_pending(&mine);
                shown.loaded = true;
                shown.loading = false;
            }
            ServerMsg::Message(msg) => {
                self.received += 1;
                let mine = self.is_me(&msg.sender);
                if let Some(room) = self.room_mut(&msg.room) {
                    if mine {
                        room.settle_pending([&msg.client_id]);
                    }
                    room.insert(msg);
                }
            }
            ServerMsg::Ack {
                client_id,
                room,
                seq,
            } => {
                if let Some(room) = self.room_mut(&room) {
                    room.last_seq = room.last_seq.max(seq);
                    if room.messages.binary_search_by_key(&seq, |m| m.seq).is_ok() {
                        room.settle_pending([&client_id]);
                    } else if let Some(p) = room.pending_mut(&client_id) {
                        p.acked = Some(seq);
                    }
                }
            }
            ServerMsg::Error {
                code,
                message,
                client_id,
            } => self.apply_error(code, message, client_id.as_ref()),
        }
    }

    fn apply_error(&mut self, code: ErrorCode, message: String, client_id: Option<&ClientMsgId>) {
        // A rejected chat message is shown, in red, where it was written.
        if let Some(id) = client_id
            && let Some(p) = self.rooms.iter_mut().find_map(|r| r.pending_mut(id))
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
            ErrorCode::NotInRoom => {
                // A history request for a room left meanwhile (in another tab).
                for room in &mut self.rooms {
                    room.loading = false;
                }
                self.show_error(Some(code), message);
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
            | ErrorCode::NoSuchRoom
            | ErrorCode::RoomExists
            | ErrorCode::InvalidCredentials
            | ErrorCode::NameTaken
            | ErrorCode::WeakPassword
            | ErrorCode::PasswordTooLong
            | ErrorCode::RateLimited
            | ErrorCode::Unauthorized
            | ErrorCode::ForbiddenOrigin
            | ErrorCode::Internal => self.show_error(Some(code), message),
        }
    }

    fn apply_closed(mut self, code: Option<u16>, reason: String) -> Self {
        if code == Some(parley_common::close::LOGGED_OUT) {
            let notice = (!self.logging_out).then(|| "You were logged out.".to_owned());
            return self.signed_out(notice);
        }
        self.conn = ConnState::Closed { code, reason };
        self.ready = false;
        self.outbox = Rc::default();
        // Requests in flight are lost with the connection.
        for room in &mut self.rooms {
            room.loading = false;
        }
        self.directory.loading = false;
        self.directory.creating = None;
        self.directory.joining = None;
        self
    }

    /// True when `action` would change nothing; the reducer then returns the same
    /// `Rc`, which spares a re-render.
    fn ignores(&self, action: &Action) -> bool {
        match action {
            Action::Opened { conn }
            | Action::Closing { conn }
            | Action::Closed { conn, .. }
            | Action::Received { conn, .. }
            | Action::BadFrame { conn, .. } => *conn != self.conn_id,
            Action::Reconnect { conn } => *conn != self.conn_id || !self.can_reconnect(),
            Action::SignedIn(_) | Action::SessionChecked(Some(_)) => self.me().is_some(),
            Action::AuthEdited => self.auth_problem.is_none(),
            Action::DismissError => self.error.is_none(),
            Action::Flushed { upto } => self.outbox.first().is_none_or(|o| o.id >= *upto),
            Action::SetSidebar(open) => self.sidebar_open == *open,
            Action::CreateEdited => self.directory.create_error.is_none(),
            Action::SelectRoom(room) => {
                self.room(room).is_none()
                    || (self.active.as_ref() == Some(room)
                        && self.view == View::Room
                        && !self.sidebar_open)
            }
            Action::LoadOlder(room) => self
                .room(room)
                .is_none_or(|r| !self.ready || r.loading || (r.loaded && !r.has_more)),
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
            | Action::Queue { .. }
            | Action::DiscardFailed { .. }
            | Action::ShowError(_) => false,
        }
    }
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
            Action::Opened { .. } => next.conn = ConnState::Open,
            Action::Closing { .. } => next.conn = ConnState::Closing,
            Action::Closed { code, reason, .. } => next = next.apply_closed(code, reason),
            Action::Received { msg, .. } => next.apply_server_msg(msg),
            Action::BadFrame { detail, .. } => {
                next.show_error(
                    None,
                    format!("Unreadable message from the server: {detail}"),
                );
            }
            Action::Flushed { upto } => Rc::make_mut(&mut next.outbox).retain(|o| o.id >= upto),

            Action::SelectRoom(room) => next.activate(room),
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
                if next.room(&room).is_some() {
                    next.activate(room);
                } else if next.ready {
                    next.directory.joining = Some(room.clone());
                    next.send(ClientMsg::Join { room });
                }
            }
            Action::LeaveRoom(room) => {
                if next.ready && next.room(&room).is_some() {
                    next.send(ClientMsg::Leave { room });
                }
            }
            Action::LoadOlder(name) => {
                let oldest = next
                    .room(&name)
                    .filter(|r| r.loaded)
                    .and_then(|r| r.messages.first().map(|m| m.seq));
                match oldest {
                    Some(oldest) => {
                        if let Some(room) = next.room_mut(&name) {
                            room.loading = true;
                        }
                        next.send(ClientMsg::History {
                            room: name,
                            before: Some(oldest),
                        });
                    }
                    None => next.request_history(&name),
                }
            }
            Action::SetSidebar(open) => next.sidebar_open = open,

            Action::Queue {
                room,
                client_id,
                body,
            } => {
                let ready = next.ready;
                if let Some(shown) = next.room_mut(&room)
                    && !shown.pending.iter().any(|p| p.client_id == client_id)
                {
                    Rc::make_mut(&mut shown.pending).push(Pending {
                        client_id: client_id.clone(),
                        body: body.clone(),
                        acked: None,
                        failed: None,
                    });
                    // Offline, it waits: `welcome` sends everything still pending.
                    if ready {
                        next.send(ClientMsg::Send {
                            room,
                            client_id,
                            body,
                        });
                    }
                }
            }
            Action::DiscardFailed { room, client_id } => {
                if let Some(room) = next.room_mut(&room) {
                    Rc::make_mut(&mut room.pending)
                        .retain(|p| p.client_id != client_id || p.failed.is_none());
                }
            }
            Action::ShowError(text) => next.show_error(None, text),
            Action::DismissError => next.error = None,
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests;
