//! Transports: thin adapters that carry a [`Session`](crate::session::Session)'s
//! frames. WebSocket today; long-polling joins it later over the same session.

pub mod ws;
