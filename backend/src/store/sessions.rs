//! Every live session in memory, so checking one (each WebSocket upgrade, each
//! long-poll and API request) is a hash lookup instead of a trip to the read pool.
//!
//! It matters most when it is busiest: after a restart or a deploy every client
//! reconnects at once, each with a session that already exists, so the sessions
//! are loaded when the store opens. The table stays the truth on disk; every
//! change to it goes through [`super::Store`], which keeps this copy in step:
//! a new session is added once its row is committed, a logout removes it before
//! its row is deleted (so it stops working at once). A session not here is not
//! valid: there is no fallback read that could race with a logout.
//!
//! Expired sessions stop working at their expiry time; their entries are swept
//! out every [`SWEEP_EVERY`] additions. About 100 bytes per session.
//!
//! On PostgreSQL several nodes share the sessions table, so this is a cache,
//! not the whole truth: a miss is read from the database by [`super::Store`],
//! and every entry carries a re-check time after which it counts as a miss
//! (a logout on another node takes effect within it).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use rusqlite::{Connection, params};

use super::read::text;
use super::{AuthUser, StoreError, TokenHash, UserId};
use parley_common::Username;

/// Expired entries are swept out after this many new sessions.
const SWEEP_EVERY: usize = 1024;

#[derive(Debug, Default)]
pub struct SessionCache {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<TokenHash, Entry>,
    added_since_sweep: usize,
}

#[derive(Debug)]
struct Entry {
    user: AuthUser,
    expires_at: u64,
    /// When set, the entry is not used from this time on (read again instead).
    recheck_at: Option<u64>,
}

impl SessionCache {
    /// Every session of the database that has not expired at `now_ms`.
    pub fn load(conn: &Connection, now_ms: u64) -> Result<Self, StoreError> {
        let mut stmt = conn.prepare(
            "SELECT s.token_hash, u.id, u.name, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.expires_at > ?1",
        )?;
        let rows = stmt.query_map(params![now_ms], |r| {
            let hash: Vec<u8> = r.get(0)?;
            Ok((
                hash,
                Entry {
                    user: AuthUser {
                        id: UserId(r.get(1)?),
                        name: text(r, 2, Username::parse)?,
                    },
                    expires_at: r.get(3)?,
                    recheck_at: None,
                },
            ))
        })?;
        let mut sessions = HashMap::new();
        for row in rows {
            let (hash, entry) = row?;
            // A malformed hash cannot match any token: skip it.
            if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
                sessions.insert(TokenHash(hash), entry);
            }
        }
        Ok(Self {
            inner: RwLock::new(Inner {
                sessions,
                added_since_sweep: 0,
            }),
        })
    }

    /// The user of `token`, if its session exists, has not expired and is not
    /// due for a re-check.
    pub fn user(&self, token: &TokenHash, now_ms: u64) -> Option<AuthUser> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .sessions
            .get(token)
            .filter(|e| e.expires_at > now_ms && e.recheck_at.is_none_or(|t| now_ms < t))
            .map(|e| e.user.clone())
    }

    /// A session whose row was committed (or read); with `recheck_ms`, it is
    /// read again that long after `now_ms`.
    pub fn insert(
        &self,
        token: TokenHash,
        user: AuthUser,
        expires_at: u64,
        now_ms: u64,
        recheck_ms: Option<u64>,
    ) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let recheck_at = recheck_ms.map(|ms| now_ms.saturating_add(ms));
        inner.sessions.insert(
            token,
            Entry {
                user,
                expires_at,
                recheck_at,
            },
        );
        inner.added_since_sweep += 1;
        if inner.added_since_sweep >= SWEEP_EVERY {
            inner.added_since_sweep = 0;
            inner.sessions.retain(|_, e| e.expires_at > now_ms);
        }
    }

    /// Ends a session here (its row is deleted next).
    pub fn remove(&self, token: &TokenHash) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.sessions.remove(token);
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .sessions
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> AuthUser {
        AuthUser {
            id: UserId(id),
            name: Username::parse(&format!("user{id}")).unwrap_or_else(|_| unreachable!()),
        }
    }

    #[test]
    fn sessions_expire_and_are_swept_out() {
        let cache = SessionCache::default();
        cache.insert(TokenHash([1; 32]), user(1), 1_000, 0, None);
        assert_eq!(cache.user(&TokenHash([1; 32]), 999), Some(user(1)));
        assert_eq!(cache.user(&TokenHash([1; 32]), 1_000), None, "expired");
        assert_eq!(cache.user(&TokenHash([2; 32]), 0), None, "unknown");
        // The sweep after SWEEP_EVERY additions drops the expired one only.
        for i in 0..SWEEP_EVERY {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64 + 10).to_le_bytes());
            cache.insert(TokenHash(hash), user(2), 5_000, 2_000, None);
        }
        assert_eq!(cache.len(), SWEEP_EVERY);
        cache.remove(&TokenHash([2; 32]));
        assert_eq!(cache.len(), SWEEP_EVERY);
    }

    #[test]
    fn a_removed_session_is_gone() {
        let cache = SessionCache::default();
        cache.insert(TokenHash([3; 32]), user(3), u64::MAX, 0, None);
        cache.remove(&TokenHash([3; 32]));
        assert_eq!(cache.user(&TokenHash([3; 32]), 0), None);
    }

    #[test]
    fn an_entry_with_a_recheck_time_is_a_miss_from_then_on() {
        let cache = SessionCache::default();
        cache.insert(TokenHash([4; 32]), user(4), u64::MAX, 1_000, Some(30_000));
        assert_eq!(cache.user(&TokenHash([4; 32]), 30_999), Some(user(4)));
        assert_eq!(cache.user(&TokenHash([4; 32]), 31_000), None);
    }
}
