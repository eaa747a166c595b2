//! Parley's wire protocol, shared by the server and the browser app.
//!
//! Everything that crosses the wire is a [`ClientMsg`] or a [`ServerMsg`]: tagged JSON
//! objects (`{"type": "...", ...}`). Fields that carry user input are validated
//! newtypes ([`Username`], [`RoomName`], [`MessageBody`], [`ClientMsgId`]) whose only
//! constructor is `parse`, so both ends reject the same bad input. The golden-JSON
//! tests in this crate pin the format; change them only together with
//! [`PROTOCOL_VERSION`].

mod api;
mod codec;
mod decode;
mod msg;
mod poll;
mod text;

pub use api::{ApiError, CloseInfo, Credentials, LongPollBatch, LongPollOpened, Me};
pub use codec::{ProtocolError, decode_client};
pub use msg::{
    Channel, ChatMessage, ClientMsg, Conversation, ErrorCode, MyRoom, ResumeFrom, RoomInfo,
    ServerMsg,
};
pub use poll::{
    MAX_OPTION_CHARS, MAX_OPTIONS, MAX_QUESTION_CHARS, MIN_OPTIONS, PollInfo, PollProblem,
    PollSpec, Tally,
};
pub use text::{
    CharName, ClientMsgId, Lowercase, MessageBody, Password, PasswordProblem, RoomName, Username,
    ValidationError,
};

/// Bumped on every incompatible change of the wire format. The client sends it in
/// `hello`; the server answers `unsupported_version` when it differs.
pub const PROTOCOL_VERSION: u32 = 5;

/// Most messages replayed per channel on resume; a client further behind gets
/// `too_far_behind` and reloads the latest page instead.
pub const RESUME_LIMIT: u64 = 500;

/// Longest a long-poll `GET` waits for an event before answering empty.
pub const LONG_POLL_WAIT_SECS: u64 = 25;

/// The room every new account starts in.
pub const LOBBY: &str = "lobby";

/// How many messages a history page holds.
pub const HISTORY_PAGE: usize = 50;

/// Rooms with more users online than this get coalesced online counts instead of
/// one presence event per person coming or going.
pub const PRESENCE_DETAIL_LIMIT: usize = 100;

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "parley_session";

/// WebSocket close codes the server uses, with the reason text it sends: one
/// list, [`close::CloseReason`]'s constants; the bare codes are read off it.
pub mod close {
    /// Why the server ends a connection: a WebSocket close code and the reason
    /// text sent with it (also a long-poll batch's `close`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CloseReason {
        pub code: u16,
        pub reason: &'static str,
    }

    impl CloseReason {
        /// The client closed the connection itself.
        pub const CLIENT_CLOSED: Self = Self {
            code: 1000,
            reason: "closed by the client",
        };
        /// The server is shutting down or restarting; reconnect with backoff.
        pub const GOING_AWAY: Self = Self {
            code: 1001,
            reason: "server shutting down",
        };
        /// Too many messages for too long.
        pub const RATE: Self = Self {
            code: 1008,
            reason: "too many messages: slow down",
        };
        /// No `hello` in time.
        pub const HELLO_TIMEOUT: Self = Self {
            code: 1008,
            reason: "no hello in time",
        };
        /// A message over the server's size limit.
        pub const TOO_BIG: Self = Self {
            code: 1009,
            reason: "message too big",
        };
        /// The client read too slowly and its outbox overflowed; reconnect and
        /// resume.
        pub const SLOW_CONSUMER: Self = Self {
            code: 4000,
            reason: "outbox full: client too slow",
        };
        /// The session was logged out (in this tab or another); show the login
        /// page.
        pub const LOGGED_OUT: Self = Self {
            code: 4001,
            reason: "logged out",
        };
        /// Nothing (not even a pong) came from the client for too long.
        pub const IDLE: Self = Self {
            code: 4002,
            reason: "no traffic: connection presumed dead",
        };
    }

    pub const GOING_AWAY: u16 = CloseReason::GOING_AWAY.code;
    /// Too many messages for too long, or no `hello` in time.
    pub const POLICY: u16 = CloseReason::RATE.code;
    pub const TOO_BIG: u16 = CloseReason::TOO_BIG.code;
    pub const SLOW_CONSUMER: u16 = CloseReason::SLOW_CONSUMER.code;
    pub const LOGGED_OUT: u16 = CloseReason::LOGGED_OUT.code;
    pub const IDLE: u16 = CloseReason::IDLE.code;
}
