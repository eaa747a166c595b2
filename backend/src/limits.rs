//! Limits on what one client may take: token buckets for messages (per
//! connection and per user), and caps on open connections (per user and in
//! total). Everything here is synchronous and short; nothing awaits under a lock.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_common::ErrorCode;

use crate::store::UserId;

/// A token bucket: `burst` tokens at most, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_sec: f64,
}

impl Rate {
    pub fn per_second(per_sec: f64, burst: f64) -> Self {
        Self {
            burst: burst.max(1.0),
            per_sec: per_sec.max(0.0),
        }
    }

    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::per_second(f64::from(per_minute) / 60.0, f64::from(burst))
    }
}

/// One bucket's state.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_sec;
        self.tokens = (self.tokens + earned).min(rate.burst);
        self.at = now;
    }

    /// Takes a token; `false` when there is none.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst
    }
}

/// Token buckets keyed by `K` (a user name, a client address, a user id).
#[derive(Debug)]
pub struct RateLimiter<K = String> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub fn allow<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = Instant::now();
        let rate = self.rate;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Keep memory bounded: forget buckets that have refilled completely.
        if buckets.len() > 10_000 {
            buckets.retain(|_, bucket| !bucket.is_full(rate, now));
        }
        if let Some(bucket) = buckets.get_mut(key) {
            return bucket.take(rate, now);
        }
        let mut bucket = Bucket::full(rate, now);
        let allowed = bucket.take(rate, now);
        buckets.insert(key.to_owned(), bucket);
        allowed
    }
}

/// How fast one client may send, and what counts as abuse.
#[derive(Debug)]
pub struct MessageLimits {
    /// Each connection's own bucket.
    pub per_connection: Rate,
    /// Shared by all of a user's connections.
    pub per_user: RateLimiter<UserId>,
    /// Refusals within [`ABUSE_WINDOW`] after which the connection is closed
    /// with 1008.
    pub abuse_after: u32,
}

/// The window in which refused messages are counted towards abuse.
pub const ABUSE_WINDOW: Duration = Duration::from_secs(10);

/// What a connection's sender is allowed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Over the rate: refuse this message (a typed error), keep the connection.
    Refuse,
    /// Over the rate for too long: close the connection (1008).
    Close,
}

/// A connection's side of the message limits.
#[derive(Debug)]
pub struct Sender {
    limits: Arc<MessageLimits>,
    bucket: Bucket,
    refused: u32,
    window: Instant,
}

impl Sender {
    pub fn new(limits: Arc<MessageLimits>) -> Self {
        let now = Instant::now();
        Self {
            bucket: Bucket::full(limits.per_connection, now),
            limits,
            refused: 0,
            window: now,
        }
    }

    /// Whether `user` may send one more message on this connection.
    pub fn admit(&mut self, user: UserId) -> Admit {
        let now = Instant::now();
        if self.bucket.take(self.limits.per_connection, now) && self.limits.per_user.allow(&user) {
            return Admit::Yes;
        }
        if now.duration_since(self.window) > ABUSE_WINDOW {
            self.window = now;
            self.refused = 0;
        }
        self.refused += 1;
        if self.refused > self.limits.abuse_after {
            Admit::Close
        } else {
            Admit::Refuse
        }
    }
}

/// Why [`Connections::open`] refused: `code` is `ServerBusy` when the server is
/// full, `TooManyConnections` when the user has `max_per_user` open already. The
/// HTTP layer turns it into its answer (503 or 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub code: ErrorCode,
    pub max_per_user: usize,
}

/// Counts open connections (WebSockets and long-poll connections), per user and
/// in total, and refuses new ones over the caps.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_user: usize,
    open: Mutex<(usize, HashMap<UserId, usize>)>,
}

impl Connections {
    pub fn new(max_total: usize, max_per_user: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_user,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Counts a new connection of `user`, or refuses it: 503 when the server is
    /// full, 429 when the user has too many. The slot is freed when the returned
    /// guard is dropped.
    pub fn open(self: &Arc<Self>, user: UserId) -> Result<ConnectionSlot, Refused> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.0 >= self.max_total {
            tracing::warn!(max = self.max_total, "connection refused: server full");
            return Err(Refused {
                code: ErrorCode::ServerBusy,
                max_per_user: self.max_per_user,
            });
        }
        let mine = open.1.entry(user).or_default();
        if *mine >= self.max_per_user {
            return Err(Refused {
                code: ErrorCode::TooManyConnections,
                max_per_user: self.max_per_user,
            });
        }
        *mine += 1;
        open.0 += 1;
        Ok(ConnectionSlot {
            connections: Arc::clone(self),
            user,
        })
    }

    /// Open connections in total.
    pub fn total(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    connections: Arc<Connections>,
    user: UserId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.0 = open.0.saturating_sub(1);
        if let Some(mine) = open.1.get_mut(&self.user) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.1.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let rate = Rate::per_second(10.0, 3.0);
        let t0 = Instant::now();
        let mut bucket = Bucket::full(rate, t0);
        assert!((0..3).all(|_| bucket.take(rate, t0)));
        assert!(!bucket.take(rate, t0));
        assert!(bucket.take(rate, t0 + Duration::from_millis(100)));
        assert!(!bucket.take(rate, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_per_key_then_refuses() {
        let limiter = RateLimiter::<String>::new(Rate::per_minute(0, 3));
        assert!((0..3).all(|_| limiter.allow("alice")));
        assert!(!limiter.allow("alice"));
        assert!(limiter.allow("bob"));
    }

    #[test]
    fn sustained_excess_is_refused_then_closed() {
        let limits = Arc::new(MessageLimits {
            per_connection: Rate::per_second(0.0, 2.0),
            per_user: RateLimiter::new(Rate::per_second(1000.0, 1000.0)),
            abuse_after: 3,
        });
        let mut sender = Sender::new(limits);
        let user = UserId(1);
        let seen: Vec<Admit> = (0..6).map(|_| sender.admit(user)).collect();
        assert_eq!(
            seen,
            [
                Admit::Yes,
                Admit::Yes,
                Admit::Refuse,
                Admit::Refuse,
                Admit::Refuse,
                Admit::Close
            ]
        );
    }

    #[test]
    fn a_users_connections_share_one_bucket() {
        let limits = Arc::new(MessageLimits {
            per_connection: Rate::per_second(1000.0, 1000.0),
            per_user: RateLimiter::new(Rate::per_second(0.0, 3.0)),
            abuse_after: 100,
        });
        let (mut a, mut b) = (Sender::new(limits.clone()), Sender::new(limits));
        let user = UserId(7);
        assert_eq!(a.admit(user), Admit::Yes);
        assert_eq!(b.admit(user), Admit::Yes);
        assert_eq!(a.admit(user), Admit::Yes);
        assert_eq!(b.admit(user), Admit::Refuse);
        assert_eq!(b.admit(UserId(8)), Admit::Yes, "others are not affected");
    }

    #[test]
    fn connection_caps_count_and_free_slots() {
        let caps = Connections::new(3, 2);
        let a1 = caps.open(UserId(1)).unwrap();
        let _a2 = caps.open(UserId(1)).unwrap();
        let err = caps.open(UserId(1)).unwrap_err();
        assert_eq!(err.code, ErrorCode::TooManyConnections);
        let _b1 = caps.open(UserId(2)).unwrap();
        let err = caps.open(UserId(3)).unwrap_err();
        assert_eq!(err.code, ErrorCode::ServerBusy);
        drop(a1);
        assert_eq!(caps.total(), 2);
        assert!(caps.open(UserId(1)).is_ok());
    }
}
