//! API tests: the real server on a free port with a real SQLite file (or a
//! fresh PostgreSQL database when `PARLEY_TEST_POSTGRES` is set), driven by
//! real HTTP and WebSocket clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod accounts;
mod bad_input;
mod chat;
mod cluster;
mod crash;
mod durability;
mod hardening;
mod invariants;
mod lifecycle;
mod limits;
mod observability;
mod polls;
mod resume;
mod rooms;
mod social;
mod store;
