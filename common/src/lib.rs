//! Parley's wire protocol, shared by the server and the browser app.
//!
//! Everything that crosses the wire is a [`ClientMsg`] or a [`ServerMsg`]: tagged JSON
//! objects (`{"type": "...", ...}`). Fields that carry user input are validated
//! newtypes ([`Username`], [`RoomName`], [`MessageBody`], [`ClientMsgId`]) whose only
//! constructor is `parse`, so both ends reject the same bad input. The golden-JSON
//! tests in this crate pin the format; change them only together with
//! [`PROTOCOL_VERSION`].

mod codec;
mod msg;
mod text;

pub use codec::{ProtocolError, decode_client};
pub use msg::{ChatMessage, ClientMsg, ErrorCode, ServerMsg};
pub use text::{ClientMsgId, MessageBody, RoomName, Username, ValidationError};

/// Bumped on every incompatible change of the wire format. The client sends it in
/// `hello`; the server answers `unsupported_version` when it differs.
pub const PROTOCOL_VERSION: u32 = 1;

/// The room every connection is placed in after `hello`.
pub const LOBBY: &str = "lobby";

/// WebSocket close codes the server uses, with the reason text it sends.
pub mod close {
    /// The server is shutting down or restarting; reconnect with backoff.
    pub const GOING_AWAY: u16 = 1001;
    pub const GOING_AWAY_REASON: &str = "server shutting down";
    /// The client read too slowly and its outbox overflowed; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4000;
    pub const SLOW_CONSUMER_REASON: &str = "outbox full: client too slow";
}
