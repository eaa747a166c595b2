//! API tests: the real server on a free port, driven by real WebSocket clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod bad_input;
mod chat;
mod lifecycle;
