//! Login and registration limits shared by every node: a login guessing
//! passwords for one account gets the same budget however the load balancer
//! spreads its requests. A counter per key and minute in Redis (`INCR`, expiring
//! after two minutes): a fixed window, so at a window's edge up to twice the
//! rate can pass in one burst — the per-node token buckets still apply on top.
//! When Redis cannot answer, the node's own buckets decide alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

/// Longest a limit check waits for Redis before the node decides alone.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct SharedLimits {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
}

impl SharedLimits {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_owned(),
            conn: OnceCell::new(),
        }
    }

    /// Counts one attempt of `kind` for `key`; `Some(allowed)` when Redis
    /// answered, `None` when it did not (the caller's local limit decides).
    pub async fn allow(&self, kind: &str, key: &str, per_minute: u32) -> Option<bool> {
        let minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        let counter = format!("{}:limit:{kind}:{key}:{minute}", self.prefix);
        let count = async {
            let conn = self
                .conn
                .get_or_try_init(|| self.client.get_connection_manager())
                .await?;
            let mut conn = conn.clone();
            let (count,): (u64,) = redis::pipe()
                .cmd("INCR")
                .arg(&counter)
                .cmd("EXPIRE")
                .arg(&counter)
                .arg(120)
                .ignore()
                .query_async(&mut conn)
                .await?;
            Ok::<u64, redis::RedisError>(count)
        };
        match tokio::time::timeout(ANSWER_WITHIN, count).await {
            Ok(Ok(count)) => Some(count <= u64::from(per_minute)),
            Ok(Err(err)) => {
                tracing::warn!(%err, "shared limit unavailable; this node's limit decides");
                None
            }
            Err(_) => None,
        }
    }
}
