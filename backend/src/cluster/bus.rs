//! Redis pub/sub between nodes: one publisher task (a reconnecting
//! connection, publishes pipelined) and one subscriber task that reconnects by
//! itself and, after every (re)subscribe, asks for a head check — a
//! subscription that died lost hints, and only the store knows what they were.
//!
//! Every node publishes to and listens on one channel, `<prefix>:events`: fine
//! for a handful of nodes (README, "Running several nodes", has the arithmetic
//! and what a larger deployment shards).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::relay::Hints;
use super::wire::Event;

/// Hints waiting for the publisher; beyond this they are dropped (the head
/// check still finds their messages).
const QUEUE: usize = 8192;
/// Most hints in one pipelined round trip.
const BATCH: usize = 256;
/// Wait before reconnecting a lost subscription.
const RECONNECT: Duration = Duration::from_millis(250);

/// The publishing end, handed to the relay and the session layer.
#[derive(Debug)]
pub struct Bus {
    tx: mpsc::Sender<Vec<u8>>,
    /// Test-only fault: the share of message hints dropped on purpose (0 in
    /// production).
    drop_share: f64,
    pub dropped: AtomicU64,
}

impl Hints for Bus {
    fn send(&self, event: &Event) {
        // The test switch drops message hints only: what the relay must (and
        // can) recover. Other events are at most once by design (wire.rs).
        if self.drop_share > 0.0
            && matches!(event, Event::Msg { .. })
            && random_share() < self.drop_share
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match serde_json::to_vec(event) {
            Ok(bytes) => {
                if self.tx.try_send(bytes).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(err) => tracing::error!(%err, "could not encode a cluster event"),
        }
    }
}

fn random_share() -> f64 {
    let n = getrandom::u64().unwrap_or(0);
    (n >> 11) as f64 / (1u64 << 53) as f64
}

/// Starts the publisher task; returns the bus that feeds it.
pub fn publisher(
    client: redis::Client,
    channel: String,
    drop_share: f64,
    shutdown: CancellationToken,
) -> Arc<Bus> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let mut conn = None;
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let first = tokio::select! {
                m = rx.recv() => m,
                () = shutdown.cancelled() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if conn.is_none() {
                conn = client.get_connection_manager().await.ok();
            }
            let Some(c) = conn.as_mut() else {
                tracing::warn!(lost = batch.len(), "Redis unreachable: hints dropped");
                batch.clear();
                tokio::time::sleep(RECONNECT).await;
                continue;
            };
            let mut pipe = redis::pipe();
            for payload in batch.drain(..) {
                pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
            }
            if pipe.query_async::<()>(c).await.is_err() {
                // Once more: the first command on a connection Redis dropped
                // fails while the manager reconnects.
                tokio::time::sleep(RECONNECT).await;
                if let Err(err) = pipe.query_async::<()>(c).await {
                    tracing::warn!(%err, "publishing hints failed (the head check covers them)");
                }
            }
        }
    });
    Arc::new(Bus {
        tx,
        drop_share,
        dropped: AtomicU64::new(0),
    })
}

/// Listens on `channels` until shutdown, reconnecting after any loss; calls
/// `connected` after every successful subscribe and `message` with each
/// message's channel and payload.
pub async fn subscriber(
    client: redis::Client,
    channels: Vec<String>,
    shutdown: CancellationToken,
    connected: impl Fn() + Send,
    message: impl Fn(&str, &[u8]) + Send,
) {
    while !shutdown.is_cancelled() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channels).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let pubsub = match subscribed {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(%err, "subscribing to Redis failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        tracing::info!(?channels, "subscribed to the cluster's channels");
        connected();
        let mut stream = pubsub.into_on_message();
        loop {
            let msg = tokio::select! {
                m = stream.next() => m,
                () = shutdown.cancelled() => return,
            };
            let Some(msg) = msg else {
                tracing::warn!("the Redis subscription ended; reconnecting");
                break;
            };
            message(msg.get_channel_name(), msg.get_payload_bytes());
        }
    }
}
