//! Long-polling without sticky sessions: a long-poll connection lives on the
//! node that opened it, and its id names that node. A request that a load
//! balancer sends to another node is forwarded to the owner over Redis and
//! answered from there; when the owner is gone the answer is "unknown
//! connection", which tells the client to open a new one (anywhere) and resume.
//!
//! Each node listens on `<prefix>:lp:<node>` for requests and
//! `<prefix>:lpr:<node>` for replies. A `PUBLISH` answers how many listeners
//! got it, so a request to a dead node (its subscription closed with its
//! sockets) is refused at once instead of waiting; while a forwarded request
//! waits, the owner's subscription is checked every [`ALIVE_CHECK`].
//!
//! The receiving node has already checked the request's Origin and session
//! cookie; the owner checks that the cookie is the one that opened the
//! connection, exactly as for a local request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, oneshot};

/// How often a waiting forwarded request checks that its owner still listens.
const ALIVE_CHECK: Duration = Duration::from_secs(2);
/// Longest wait for an answer beyond the request's own wait.
const SLACK: Duration = Duration::from_secs(5);

/// What a forwarded request asks of the owner's connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LpOp {
    Submit { messages: Vec<String> },
    Receive { since: u64, wait: Option<u64> },
    Close,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LpRequest {
    pub id: u64,
    /// The node waiting for the reply.
    pub from: u64,
    pub sid: String,
    /// The session cookie's hash (hex) the request came with.
    pub token: String,
    pub op: LpOp,
}

/// An HTTP answer: status and JSON body (empty for 204).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LpReply {
    pub id: u64,
    pub status: u16,
    pub body: String,
}

/// The owner's side: runs a forwarded request against a local connection
/// (the HTTP layer implements it).
pub trait LpServer: Send + Sync + std::fmt::Debug {
    fn serve(&self, req: LpRequest) -> Pin<Box<dyn Future<Output = LpReply> + Send>>;
}

/// A connection id of this cluster: `<node hex>-<random>-<signature>`, the
/// signature made with the secret the nodes share (in their database), so a
/// node forwards a request only for an id one of them made — not for any node
/// a client cares to name.
pub fn signed_sid(secret: &[u8], node: u64, random: &str) -> String {
    let body = format!("{node:x}-{random}");
    let sig = signature(secret, &body);
    format!("{body}-{sig}")
}

/// The node a connection id names, if its signature is right.
pub fn owner(secret: &[u8], sid: &str) -> Option<u64> {
    let (body, sig) = sid.rsplit_once('-')?;
    let (node, _) = body.split_once('-')?;
    // Not secret-dependent timing worth hiding: a wrong id only learns "404".
    (signature(secret, body) == sig).then(|| u64::from_str_radix(node, 16).ok())?
}

fn signature(secret: &[u8], body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(secret);
    h.update(body.as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn request_channel(prefix: &str, node: u64) -> String {
    format!("{prefix}:lp:{node:x}")
}

pub fn reply_channel(prefix: &str, node: u64) -> String {
    format!("{prefix}:lpr:{node:x}")
}

/// Forwarded requests waiting for their replies.
#[derive(Debug)]
pub struct Forwarder {
    client: redis::Client,
    prefix: String,
    node: u64,
    conn: OnceCell<ConnectionManager>,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<LpReply>>>,
}

impl Forwarder {
    pub fn new(client: redis::Client, prefix: &str, node: u64) -> Self {
        Self {
            client,
            prefix: prefix.to_owned(),
            node,
            conn: OnceCell::new(),
            next: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<LpReply>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        self.conn
            .get_or_try_init(|| self.client.get_connection_manager())
            .await
            .cloned()
    }

    /// Sends `op` on connection `sid` to its owner and waits for the answer;
    /// `None` when the owner is gone (or does not answer in time).
    pub async fn forward(&self, owner: u64, sid: &str, token: String, op: LpOp) -> Option<LpReply> {
        let wait = match &op {
            LpOp::Receive { wait, .. } => {
                Duration::from_secs(wait.unwrap_or(parley_common::LONG_POLL_WAIT_SECS))
            }
            _ => Duration::ZERO,
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let req = LpRequest {
            id,
            from: self.node,
            sid: sid.to_owned(),
            token,
            op,
        };
        let payload = serde_json::to_vec(&req).ok()?;
        let (tx, rx) = oneshot::channel();
        self.waiting().insert(id, tx);
        let answer = self.send_and_wait(owner, payload, rx, wait + SLACK).await;
        self.waiting().remove(&id);
        answer
    }

    async fn send_and_wait(
        &self,
        owner: u64,
        payload: Vec<u8>,
        mut rx: oneshot::Receiver<LpReply>,
        limit: Duration,
    ) -> Option<LpReply> {
        let mut conn = self.conn().await.ok()?;
        let channel = request_channel(&self.prefix, owner);
        let listeners: u64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await
            .ok()?;
        if listeners == 0 {
            return None;
        }
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let mut alive = tokio::time::interval(ALIVE_CHECK);
        alive.tick().await;
        loop {
            tokio::select! {
                reply = &mut rx => return reply.ok(),
                () = &mut deadline => return None,
                _ = alive.tick() => {
                    let subs: redis::RedisResult<(String, u64)> = redis::cmd("PUBSUB")
                        .arg("NUMSUB")
                        .arg(&channel)
                        .query_async(&mut conn)
                        .await;
                    if matches!(subs, Ok((_, 0))) {
                        return None;
                    }
                }
            }
        }
    }

    /// This node's subscription was re-made: replies sent while it was down
    /// are lost, so every waiting request ends now ("unknown connection": the
    /// client reopens and resumes) instead of at its timeout.
    pub fn fail_waiting(&self) {
        self.waiting().clear();
    }

    /// A reply arrived on this node's reply channel.
    pub fn replied(&self, reply: LpReply) {
        if let Some(tx) = self.waiting().remove(&reply.id) {
            let _ = tx.send(reply);
        }
    }

    /// Sends the owner's `reply` back to the node that forwarded the request.
    pub async fn reply(&self, to: u64, reply: &LpReply) {
        let Ok(payload) = serde_json::to_vec(reply) else {
            return;
        };
        let Ok(mut conn) = self.conn().await else {
            return;
        };
        // Once more after a failure: the first command on a connection Redis
        // dropped (a restart) fails while the manager reconnects.
        for attempt in 0..2 {
            let sent: redis::RedisResult<u64> = redis::cmd("PUBLISH")
                .arg(reply_channel(&self.prefix, to))
                .arg(&payload)
                .query_async(&mut conn)
                .await;
            match sent {
                Ok(_) => return,
                Err(err) if attempt == 1 => {
                    tracing::warn!(%err, "could not reply to a forwarded long-poll request");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_id_names_its_node_and_only_a_signed_one_counts() {
        let sid = signed_sid(b"secret", 0x1f, "00ff");
        assert_eq!(owner(b"secret", &sid), Some(0x1f));
        assert_eq!(owner(b"other secret", &sid), None);
        let forged = sid.replacen("1f-", "2f-", 1);
        assert_eq!(owner(b"secret", &forged), None);
        assert_eq!(owner(b"secret", "00ff"), None);
        assert_eq!(owner(b"secret", "zz-1-2"), None);
    }
}
