//! Counters for `/metrics` (Prometheus text format): connections, messages in and
//! out, outbox drops, slow-consumer disconnects, store commits and their latency.
//! Plain atomics, bumped where things happen; the endpoint only reads them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::outbox::CloseReason;

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

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let stats = state.store.stats();
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let connections = state.limits.connections.total() as u64;
    metric(
        "parley_connections",
        "gauge",
        "Open client connections (WebSocket and long-poll).",
        connections,
    );
    metric(
        "parley_long_poll_connections",
        "gauge",
        "Open long-poll connections.",
        state.longpolls.len() as u64,
    );
    metric(
        "parley_messages_in_total",
        "counter",
        "Client messages handled.",
        get(&m.messages_in),
    );
    metric(
        "parley_messages_out_total",
        "counter",
        "Frames sent to clients.",
        get(&m.messages_out),
    );
    metric(
        "parley_outbox_drops_total",
        "counter",
        "Typing signals dropped and stale state frames replaced for lagging connections.",
        get(&m.outbox_drops),
    );
    metric(
        "parley_slow_consumer_disconnects_total",
        "counter",
        "Connections closed because their outbox was full.",
        get(&m.slow_consumers),
    );
    metric(
        "parley_rate_limited_total",
        "counter",
        "Client messages refused for exceeding the rate limit.",
        get(&m.rate_limited),
    );
    metric(
        "parley_rate_limit_disconnects_total",
        "counter",
        "Connections closed for sending too fast for too long.",
        get(&m.rate_limited_closes),
    );
    let (write_queue, read_queue) = state.store.queued();
    metric(
        "parley_store_write_queue",
        "gauge",
        "Write requests waiting for the store's writer (bounded: --store-write-queue).",
        write_queue as u64,
    );
    metric(
        "parley_store_read_queue",
        "gauge",
        "Queries waiting for a read thread (bounded: --store-read-queue).",
        read_queue as u64,
    );
    metric(
        "parley_store_reads_refused_total",
        "counter",
        "Queries refused with server_busy because the read queue was full.",
        state.store.reads_refused(),
    );
    metric(
        "parley_tally_queue",
        "gauge",
        "Poll tallies waiting for the coalescer (one per poll at most).",
        state.hub.tallies_waiting() as u64,
    );
    metric(
        "parley_store_ops_total",
        "counter",
        "Store requests committed.",
        get(&stats.ops),
    );
    let _ = writeln!(
        out,
        "# HELP parley_store_commit_seconds Time from BEGIN to COMMIT of the store's group commits.\n\
         # TYPE parley_store_commit_seconds histogram"
    );
    let mut cumulative = 0;
    for (bound, count) in COMMIT_BUCKETS.iter().zip(&stats.commit_buckets) {
        cumulative += get(count);
        let _ = writeln!(
            out,
            "parley_store_commit_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let commits = get(&stats.commits);
    let _ = writeln!(
        out,
        "parley_store_commit_seconds_bucket{{le=\"+Inf\"}} {commits}\n\
         parley_store_commit_seconds_sum {}\n\
         parley_store_commit_seconds_count {commits}",
        get(&stats.commit_micros) as f64 / 1e6
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
