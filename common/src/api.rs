//! The HTTP API's JSON bodies (`/api/register`, `/api/login`, `/api/logout`,
//! `/api/me`, and long-polling under `/api/lp`). Account and session management is
//! plain HTTP so the session cookie can be set HttpOnly; everything else travels
//! over the WebSocket, or as the same messages over long-polling.

use serde::{Deserialize, Serialize};

use crate::msg::{ErrorCode, ServerMsg};
use crate::text::Username;

/// Body of `POST /api/register` and `POST /api/login`. Plain strings on the wire:
/// the server parses them into [`Username`] and [`Password`](crate::Password) and
/// answers each kind of bad input with its own [`ErrorCode`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .field("password", &"***")
            .finish()
    }
}

/// Answer of register, login and `GET /api/me`: who the session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: Username,
}

/// The body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// Answer of `POST /api/lp` (open a long-polling connection): the connection's id,
/// for the URLs of its later requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongPollOpened {
    pub sid: String,
}

/// Answer of `GET /api/lp/{sid}?since=N`: the connection's events, in order.
/// `next` is the number of events delivered so far, counting these: the cursor for
/// the next request. Asking again with the same `since` returns the same batch
/// (the answer was lost on the way), so nothing is lost between requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongPollBatch {
    pub next: u64,
    pub events: Vec<ServerMsg>,
    /// Set when the server ended the connection: the same code and reason a
    /// WebSocket close frame would carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<CloseInfo>,
}

/// Why the server ended a connection (a WebSocket close code and reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
}
