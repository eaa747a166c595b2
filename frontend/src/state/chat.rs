//! One conversation as this tab knows it — a room or a private conversation: its
//! history, own messages on their way, the read marker, who is online and who is
//! typing.

use std::rc::Rc;

use parley_common::{Channel, ChatMessage, ClientMsgId, MessageBody, Username};

use super::polls::Poll;

/// How long "Alice is typing…" stays after her last typing signal.
pub const TYPING_SHOWN_MS: u64 = 4_000;

/// A message from Alice ends "Alice is typing…", unless her newest typing
/// signal arrived less than this before the message: that signal may be from
/// typing again *after* sending. The server forwards a typing signal at once
/// but a message only once it is stored, so a signal sent after the message
/// can overtake it by up to the store's commit time (milliseconds, more under
/// load or across nodes), while the signals from before the message arrive
/// earlier by that commit time plus however long she typed after her last
/// signal. 250 ms separates the two for everyone but a sender who hits Enter
/// within a quarter second of a signalled keystroke; for them the indicator
/// stays until it runs out (at most [`TYPING_SHOWN_MS`]), which is the
/// cheaper mistake than hiding someone who is typing.
pub const TYPING_OVERTAKE_MS: u64 = 250;

/// Whether `a` and `b` name the same conversation. User names are compared the
/// way the server compares them (case-insensitively): the server spells a
/// conversation as the other user spells their name, the user may have typed it
/// differently.
pub fn same_channel(a: &Channel, b: &Channel) -> bool {
    match (a, b) {
        (Channel::Room(a), Channel::Room(b)) => a == b,
        (Channel::Dm(a), Channel::Dm(b)) => same_user(a, b),
        (Channel::Room(_), Channel::Dm(_)) | (Channel::Dm(_), Channel::Room(_)) => false,
    }
}

pub fn same_user(a: &Username, b: &Username) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

/// An outgoing chat message whose stored copy has not arrived yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientMsgId,
    pub body: MessageBody,
    /// The server acknowledged it as this seq; it stays shown here until the
    /// message itself arrives (live, or in a history page) and takes its place.
    pub acked: Option<u64>,
    /// Set when the server rejected it (an `error` naming its `client_id`), with
    /// the server's reason. A failed message does not count as pending and is
    /// not re-sent on reconnect; the user may retry it (same client id) or
    /// discard it.
    pub failed: Option<String>,
}

impl Pending {
    /// Still waiting for the server's answer (and re-sent on a new connection).
    pub fn in_flight(&self) -> bool {
        self.acked.is_none() && self.failed.is_none()
    }
}

/// Someone typing, shown until `until` (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typist {
    pub user: Username,
    /// When their newest typing signal arrived (this browser's clock).
    pub since: u64,
    pub until: u64,
}

/// One of the user's rooms or private conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub channel: Channel,
    /// The latest sequence number, as far as the server has said.
    pub last_seq: u64,
    /// The user's read marker: everything up to here has been read (the server's
    /// value, moved forward locally when this tab reads or the user writes).
    pub last_read: u64,
    /// Time of the latest message (ms); orders the conversations. 0 for a
    /// conversation opened here in which nobody has written yet.
    pub last_ts: u64,
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
    /// Members online now (users, not connections), sorted by name; the user
    /// included. For a conversation: whether the other user is in it.
    pub online: Rc<Vec<Username>>,
    /// How many members are online: `online` lists at most the first 100 of a
    /// busy room (`PRESENCE_DETAIL_LIMIT`).
    pub online_total: u64,
    /// A room's polls, newest (highest id) first.
    pub polls: Rc<Vec<Poll>>,
    /// A `polls` list reached us since the last (re)connection.
    pub polls_loaded: bool,
    /// A `list_polls` is on its way.
    pub polls_loading: bool,
    /// Who is typing here, oldest signal first.
    pub typing: Vec<Typist>,
    /// Where the "New messages" divider goes (above this seq) while the chat is
    /// shown: the first unread message when it was opened.
    pub divider: Option<u64>,
}

impl Chat {
    pub fn new(channel: Channel, last_seq: u64, last_read: u64) -> Self {
        Self {
            channel,
            last_seq,
            last_read: last_read.min(last_seq),
            last_ts: 0,
            messages: Rc::default(),
            pending: Rc::default(),
            loaded: false,
            loading: false,
            has_more: false,
            online: Rc::default(),
            online_total: 0,
            polls: Rc::default(),
            polls_loaded: false,
            polls_loading: false,
            typing: Vec::new(),
            divider: None,
        }
    }

    /// The other user, for a private conversation.
    pub fn peer(&self) -> Option<&Username> {
        match &self.channel {
            Channel::Dm(user) => Some(user),
            Channel::Room(_) => None,
        }
    }

    /// The seq of the newest message shown (0 when none).
    pub fn newest_seq(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.seq)
    }

    /// Messages after the read marker. Own messages are never among them: writing
    /// moves the marker past them (on the server, and here when they arrive).
    pub fn unread(&self) -> u64 {
        self.last_seq.saturating_sub(self.last_read)
    }

    pub fn is_online(&self, user: &Username) -> bool {
        self.online.iter().any(|u| same_user(u, user))
    }

    /// For a conversation: whether the other user is online.
    pub fn peer_online(&self) -> bool {
        self.peer().is_some_and(|peer| self.is_online(peer))
    }

    /// Where the divider goes if the chat is opened now: above the first unread
    /// message, if any.
    pub(super) fn first_unread(&self) -> Option<u64> {
        (self.unread() > 0).then_some(self.last_read + 1)
    }

    /// Takes the server's `last_seq` (and read marker). If what is shown goes
    /// beyond it, the server lost its data (or is another server): what is shown
    /// is stale, and new messages would collide with it by seq, so it is dropped.
    pub(super) fn sync(&mut self, last_seq: u64, last_read: Option<u64>) {
        if self.newest_seq() > last_seq {
            self.messages = Rc::default();
            self.loaded = false;
            self.has_more = false;
            self.last_read = 0;
            self.divider = None;
        }
        self.last_seq = last_seq;
        if let Some(read) = last_read {
            self.last_read = read;
        }
        self.last_read = self.last_read.min(last_seq);
    }

    /// Drops what is shown (`too_far_behind`: too much was missed to fill the
    /// gap): the latest page replaces it. A page already on its way (asked for
    /// by `welcome`) is that page.
    pub(super) fn forget_messages(&mut self) {
        self.messages = Rc::default();
        self.loaded = false;
        self.has_more = false;
    }

    /// Moves the read marker forward to `seq` (never back).
    pub(super) fn read_upto(&mut self, seq: u64) {
        self.last_seq = self.last_seq.max(seq);
        self.last_read = self.last_read.max(seq);
    }

    /// Inserts `msg` at its place by `seq`; a `seq` already present is kept as is.
    pub(super) fn insert(&mut self, msg: ChatMessage) {
        self.last_seq = self.last_seq.max(msg.seq);
        self.last_ts = self.last_ts.max(msg.ts);
        if let Err(at) = self.messages.binary_search_by_key(&msg.seq, |m| m.seq) {
            Rc::make_mut(&mut self.messages).insert(at, msg);
        }
    }

    /// Merges a history page (oldest first) into what is shown.
    pub(super) fn merge_page(&mut self, page: Vec<ChatMessage>, has_more: bool) {
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            // Nothing (older) to show: the chat is empty, or this is its start.
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
    pub(super) fn settle_pending<'a>(
        &mut self,
        arrived: impl IntoIterator<Item = &'a ClientMsgId>,
    ) {
        for id in arrived {
            if self.pending.iter().any(|p| &p.client_id == id) {
                Rc::make_mut(&mut self.pending).retain(|p| &p.client_id != id);
            }
        }
    }

    pub(super) fn pending_mut(&mut self, client_id: &ClientMsgId) -> Option<&mut Pending> {
        if !self.pending.iter().any(|p| &p.client_id == client_id) {
            return None;
        }
        Rc::make_mut(&mut self.pending)
            .iter_mut()
            .find(|p| &p.client_id == client_id)
    }

    pub(super) fn set_online(&mut self, users: Vec<Username>) {
        let total = users.len() as u64;
        self.set_online_total(users, total);
    }

    /// Who is online (the first ones of a busy room) and how many in all.
    pub(super) fn set_online_total(&mut self, mut users: Vec<Username>, total: u64) {
        // By `Username::key` (ASCII names: compared lower-cased, without allocating).
        fn key(u: &Username) -> impl Iterator<Item = u8> + '_ {
            u.as_str().bytes().map(|b| b.to_ascii_lowercase())
        }
        super::sort_by(&mut users, |a, b| key(a).lt(key(b)));
        users.dedup_by(|a, b| same_user(a, b));
        self.online_total = total.max(users.len() as u64);
        if *self.online != users {
            self.online = Rc::new(users);
        }
    }

    pub(super) fn presence(&mut self, user: Username, online: bool) {
        if !online {
            self.stopped_typing(&user);
        }
        let at = self.online.binary_search_by_key(&user.key(), Username::key);
        match (at, online) {
            (Err(at), true) => {
                Rc::make_mut(&mut self.online).insert(at, user);
                self.online_total += 1;
            }
            (Ok(at), false) => {
                Rc::make_mut(&mut self.online).remove(at);
                self.online_total = self.online_total.saturating_sub(1);
            }
            (Ok(_), true) | (Err(_), false) => {}
        }
    }

    /// `user` is typing, as of `now` (ms).
    pub(super) fn typing(&mut self, user: Username, now: u64) {
        self.stopped_typing(&user);
        self.typing.push(Typist {
            user,
            since: now,
            until: now.saturating_add(TYPING_SHOWN_MS),
        });
    }

    /// A message from `user` arrived at `now` (ms): they stopped typing,
    /// unless their newest signal may be from after it ([`TYPING_OVERTAKE_MS`]).
    pub(super) fn wrote(&mut self, user: &Username, now: u64) {
        self.typing.retain(|t| {
            !same_user(&t.user, user) || now.saturating_sub(t.since) < TYPING_OVERTAKE_MS
        });
    }

    pub(super) fn stopped_typing(&mut self, user: &Username) {
        self.typing.retain(|t| !same_user(&t.user, user));
    }

    /// When the next typing indicator runs out, if any.
    pub fn typing_expires(&self) -> Option<u64> {
        self.typing.iter().map(|t| t.until).min()
    }

    /// Forgets typing signals that ran out by `now`.
    pub(super) fn expire_typing(&mut self, now: u64) {
        self.typing.retain(|t| t.until > now);
    }
}
