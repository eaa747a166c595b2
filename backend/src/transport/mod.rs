//! Transports: thin adapters that carry a [`Session`](crate::session::Session)'s
//! frames — a WebSocket ([`ws`]) or long-polling HTTP requests ([`longpoll`]).
//! Both drive the same session, so no feature exists on one transport only.

pub mod longpoll;
pub mod ws;
