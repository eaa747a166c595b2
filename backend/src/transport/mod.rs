//! Transports: thin adapters that carry a [`Session`](crate::session::Session)'s
//! frames — a WebSocket ([`ws`]) or long-polling HTTP requests ([`longpoll`]).
//! Both drive the same session, so no feature exists on one transport only; the
//! HTTP requests that open them are answered in [`crate::http`].

pub mod longpoll;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Connection liveness: how often we ping, how long a silent client may live.
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat {
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// Longest a long-poll GET waits for an event.
    pub poll_wait: Duration,
    /// How soon after connecting a client must say `hello`.
    pub hello_timeout: Duration,
    /// Longest a write to a WebSocket may take before the connection is dropped.
    pub write_timeout: Duration,
}

/// What a connection's tasks need from the server besides their session.
#[derive(Clone, Debug)]
pub struct Env {
    pub heartbeat: Heartbeat,
    pub metrics: Arc<Metrics>,
    /// Cancelled once when the server starts shutting down.
    pub shutdown: CancellationToken,
}

/// Asks for a connection's socket to be reset (RST) rather than closed when it
/// is dropped. A WebSocket whose client stopped reading has data queued in the
/// kernel; an ordinary close would queue the FIN behind it, and the socket (with
/// its send buffer) would linger, unseen by the client, until that data drained.
/// Cheap to clone; a default one belongs to no socket and only remembers the
/// request (a router served without `serve::serve`).
#[derive(Clone, Debug, Default)]
pub struct SocketReset(Arc<AtomicBool>);

impl SocketReset {
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
