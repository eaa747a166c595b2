//! The Prometheus metrics (a `prometheus-client` registry) and the commit-latency buckets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parley_common::close::CloseReason;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// Upper bounds (seconds) of the commit-latency histogram's buckets: from a
/// group commit that hit the page cache to one stuck behind a slow fsync.
const COMMIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The `Content-Type` of [`Metrics::encode`]'s page.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A histogram of commit durations in seconds, for a store's writer to observe
/// (registered by [`Metrics`], or unread when the store serves no `/metrics`).
pub fn commit_seconds() -> Histogram {
    Histogram::new(COMMIT_BUCKETS)
}

/// Values owned by other parts of the server, read when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readings {
    /// Open client connections (WebSocket and long-poll).
    pub connections: usize,
    pub long_polls: usize,
    pub store_write_queue: usize,
    pub store_read_queue: usize,
    /// Queries the store refused since it opened.
    pub store_reads_refused: u64,
    /// Requests the store committed since it opened.
    pub store_ops: u64,
    pub tally_queue: usize,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Client frames handled (any transport).
    pub messages_in: Counter,
    /// Frames written to clients (WebSocket frames, long-poll events).
    pub messages_out: Counter,
    /// Ephemeral frames (typing) dropped for a lagging connection, and state
    /// frames (tallies, online lists) replaced by a newer one before being sent.
    pub outbox_drops: Counter,
    /// Connections closed because their outbox filled up (4000), counted once
    /// the connection has ended ([`Metrics::closed`]).
    pub slow_consumers: Counter,
    /// Connections closed for sending too fast (1008), counted likewise.
    pub rate_limited_closes: Counter,
    /// Messages refused with `rate_limited`.
    pub rate_limited: Counter,
    /// The store's group commits by duration; its writer observes a clone.
    pub commit_seconds: Histogram,
    scraped: Scraped,
}

/// Where [`Readings`] are copied at each scrape.
#[derive(Debug)]
struct Scraped {
    connections: Gauge,
    long_polls: Gauge,
    store_write_queue: Gauge,
    store_read_queue: Gauge,
    store_reads_refused: CopiedCounter,
    tally_queue: Gauge,
    store_ops: CopiedCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, in the order of the `/metrics` page. Counters are
    /// named without `_total` and help texts without a final period: the
    /// registry adds both.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("parley");
        let connections = add(
            &mut r,
            "connections",
            "Open client connections (WebSocket and long-poll)",
        );
        let long_polls = add(
            &mut r,
            "long_poll_connections",
            "Open long-poll connections",
        );
        let messages_in = add(&mut r, "messages_in", "Client messages handled");
        let messages_out = add(&mut r, "messages_out", "Frames sent to clients");
        let outbox_drops = add(
            &mut r,
            "outbox_drops",
            "Typing signals dropped and stale state frames replaced for lagging connections",
        );
        let slow_consumers = add(
            &mut r,
            "slow_consumer_disconnects",
            "Connections closed because their outbox was full",
        );
        let rate_limited = add(
            &mut r,
            "rate_limited",
            "Client messages refused for exceeding the rate limit",
        );
        let rate_limited_closes = add(
            &mut r,
            "rate_limit_disconnects",
            "Connections closed for sending too fast for too long",
        );
        let store_write_queue = add(
            &mut r,
            "store_write_queue",
            "Write requests waiting for the store's writer (bounded: --store-write-queue)",
        );
        let store_read_queue = add(
            &mut r,
            "store_read_queue",
            "Queries waiting for a read thread (bounded: --store-read-queue)",
        );
        let store_reads_refused = add(
            &mut r,
            "store_reads_refused",
            "Queries refused with server_busy because the read queue was full",
        );
        let tally_queue = add(
            &mut r,
            "tally_queue",
            "Poll tallies waiting for the coalescer (one per poll at most)",
        );
        let store_ops = add(&mut r, "store_ops", "Store requests committed");
        let commit_seconds = commit_seconds();
        r.register(
            "store_commit_seconds",
            "Time from BEGIN to COMMIT of the store's group commits",
            commit_seconds.clone(),
        );
        Self {
            registry: r,
            messages_in,
            messages_out,
            outbox_drops,
            slow_consumers,
            rate_limited_closes,
            rate_limited,
            commit_seconds,
            scraped: Scraped {
                connections,
                long_polls,
                store_write_queue,
                store_read_queue,
                store_reads_refused,
                tally_queue,
                store_ops,
            },
        }
    }

    /// A connection has ended (its socket dropped, its slot freed), kicked for
    /// `reason` if it was: the disconnect counters count connections that are
    /// really gone, not ones merely told to go.
    pub fn closed(&self, reason: Option<CloseReason>) {
        match reason {
            Some(CloseReason::SLOW_CONSUMER) => {
                self.slow_consumers.inc();
            }
            Some(CloseReason::RATE) => {
                self.rate_limited_closes.inc();
            }
            _ => {}
        }
    }

    /// The `/metrics` page (Prometheus text format 0.0.4, [`CONTENT_TYPE`]), with
    /// `now` as the scrape-time values.
    pub fn encode(&self, now: &Readings) -> Result<String, std::fmt::Error> {
        let s = &self.scraped;
        s.connections.set(gauge(now.connections));
        s.long_polls.set(gauge(now.long_polls));
        s.store_write_queue.set(gauge(now.store_write_queue));
        s.store_read_queue.set(gauge(now.store_read_queue));
        s.store_reads_refused.set(now.store_reads_refused);
        s.tally_queue.set(gauge(now.tally_queue));
        s.store_ops.set(now.store_ops);
        let mut page = String::with_capacity(2048);
        prometheus_text::encode(&mut page, &self.registry)?;
        Ok(page)
    }
}

/// A new metric, registered as `name`; the registry keeps a handle to the same value.
fn add<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A counter its owner (the store) keeps, copied in at each scrape: the crate's
/// own [`Counter`] only goes up by increments, and counting twice would let the
/// two disagree.
#[derive(Debug, Default, Clone)]
struct CopiedCounter(Arc<AtomicU64>);

impl CopiedCounter {
    fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl EncodeMetric for CopiedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.0.load(Ordering::Relaxed), None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dashboards, alerts, the API tests and the bench read these names: the
    /// move to `prometheus-client` kept every one, with its type.
    #[test]
    fn the_page_keeps_every_name_and_type() {
        let m = Metrics::new();
        m.messages_in.inc_by(3);
        m.closed(Some(CloseReason::SLOW_CONSUMER));
        m.commit_seconds.observe(0.003);
        m.commit_seconds.observe(2.0);
        let now = Readings {
            connections: 5,
            store_ops: 7,
            ..Readings::default()
        };
        let page = m.encode(&now).unwrap();
        let types: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE parley_"))
            .collect();
        assert_eq!(
            types,
            [
                "connections gauge",
                "long_poll_connections gauge",
                "messages_in_total counter",
                "messages_out_total counter",
                "outbox_drops_total counter",
                "slow_consumer_disconnects_total counter",
                "rate_limited_total counter",
                "rate_limit_disconnects_total counter",
                "store_write_queue gauge",
                "store_read_queue gauge",
                "store_reads_refused_total counter",
                "tally_queue gauge",
                "store_ops_total counter",
                "store_commit_seconds histogram",
            ]
        );
        for sample in [
            "parley_connections 5\n",
            "parley_messages_in_total 3\n",
            "parley_slow_consumer_disconnects_total 1\n",
            "parley_store_ops_total 7\n",
            "parley_store_commit_seconds_bucket{le=\"0.002\"} 0\n",
            "parley_store_commit_seconds_bucket{le=\"0.005\"} 1\n",
            "parley_store_commit_seconds_bucket{le=\"+Inf\"} 2\n",
            "parley_store_commit_seconds_sum 2.003\n",
            "parley_store_commit_seconds_count 2\n",
        ] {
            assert!(page.contains(sample), "no {sample:?} in\n{page}");
        }
        assert!(
            !page.contains("# EOF") && !page.contains("# UNIT"),
            "{page}"
        );
    }
}
