//! Counters for `/metrics` (Prometheus text format): connections, messages in and
//! out, outbox drops, slow-consumer disconnects, store commits and their latency.
//! Plain atomics, bumped where things happen; the endpoint ([`crate::http::metrics`])
//! only reads them.

use std::sync::atomic::{AtomicU64, Ordering};

use parley_common::close::CloseReason;

/// Upper bounds (seconds) of the commit-latency histogram's buckets.
pub const COMMIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    /// Client frames handled (any transport).
    pub messages_in: AtomicU64,
    /// Frames written to clients (WebSocket frames, long-poll events).
    pub messages_out: AtomicU64,
    /// Ephemeral frames (typing) dropped for a lagging connection, and state
    /// frames (tallies, online lists) replaced by a newer one before being sent.
    pub outbox_drops: AtomicU64,
    /// Connections closed because their outbox filled up (4000), counted once
    /// the connection has ended ([`Metrics::closed`]).
    pub slow_consumers: AtomicU64,
    /// Connections closed for sending too fast (1008), counted likewise.
    pub rate_limited_closes: AtomicU64,
    /// Messages refused with `rate_limited`.
    pub rate_limited: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A connection has ended (its socket dropped, its slot freed), kicked for
    /// `reason` if it was: the disconnect counters count connections that are
    /// really gone, not ones merely told to go.
    pub fn closed(&self, reason: Option<CloseReason>) {
        match reason {
            Some(CloseReason::SLOW_CONSUMER) => Self::add(&self.slow_consumers, 1),
            Some(CloseReason::RATE) => Self::add(&self.rate_limited_closes, 1),
            _ => {}
        }
    }
}
