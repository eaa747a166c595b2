//! `GET /metrics`: the counters of [`crate::metrics`], the store's and the
//! hub's, in Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::state::AppState;
use crate::metrics::COMMIT_BUCKETS;

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
