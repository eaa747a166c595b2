//! The store's value types: ids, channel keys, and what its requests return.

use parley_common::{Channel, ChatMessage, Conversation, RoomName, Tally, Username};

/// A channel as the server keys it: a room by name, a private conversation by its
/// two users (lower id first, so both sides name it the same).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKey {
    Room(RoomName),
    Dm(UserId, UserId),
}

impl ChannelKey {
    pub fn dm(a: UserId, b: UserId) -> Self {
        if a <= b {
            Self::Dm(a, b)
        } else {
            Self::Dm(b, a)
        }
    }

    /// The `rooms.name` of the channel's row.
    pub fn db_name(&self) -> String {
        match self {
            Self::Room(r) => r.as_str().to_owned(),
            Self::Dm(a, b) => format!("@{}:{}", a.0, b.0),
        }
    }

    /// The other user of a conversation, seen from `me`.
    pub fn peer(&self, me: UserId) -> Option<UserId> {
        match self {
            Self::Room(_) => None,
            Self::Dm(a, b) => Some(if *a == me { *b } else { *a }),
        }
    }
}

/// The two users of a private message, with their names, so the fan-out can name
/// the conversation from each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmParties {
    pub sender: AuthUser,
    pub recipient: AuthUser,
}

/// One of the user's conversations, with the other user's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyConversation {
    pub peer: UserId,
    /// `online` is filled in by the caller (the store does not know).
    pub summary: Conversation,
}

/// A user's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// SHA-256 of a session token: what the database stores and what identifies a
/// logged-in session inside the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Enough to tell sessions apart in logs, not enough to be useful to anyone.
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// The user behind a valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub name: Username,
}

/// A user's stored credentials, for checking a login.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub id: UserId,
    pub name: Username,
    pub password_hash: String,
}

/// A message the writer stored (or found already stored, for a retried send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// As the sender sees it (a conversation is named after the recipient).
    pub msg: ChatMessage,
    pub key: ChannelKey,
    /// Set for private messages.
    pub dm: Option<DmParties>,
    /// True when (sender, client id) was already stored: nothing new was written
    /// or broadcast, and `msg` is the original.
    pub duplicate: bool,
}

/// A poll's tally after a vote or a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voted {
    /// The room of the poll.
    pub key: ChannelKey,
    pub tally: Tally,
    /// False when nothing changed (the same vote again).
    pub changed: bool,
}

/// A page of history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The channel as the reader names it (a conversation by the other user's
    /// name as they spell it).
    pub channel: Channel,
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}
