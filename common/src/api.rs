//! The HTTP API's JSON bodies (`/api/register`, `/api/login`, `/api/logout`,
//! `/api/me`). Account and session management is plain HTTP so the session cookie
//! can be set HttpOnly; everything else travels over the WebSocket.

use serde::{Deserialize, Serialize};

use crate::msg::ErrorCode;
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
