//! Queries, on a small pool of threads with read-only connections.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use parley_common::{
    Channel, ChatMessage, ClientMsgId, Conversation, MessageBody, MyRoom, PollInfo, RoomInfo,
    RoomName, Tally, Username,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{ChannelKey, HistoryPage, MyConversation, StoreError, StoredUser, UserId};

/// A read-only connection's job: runs on one of the pool's threads.
type Job = Box<dyn FnOnce(&Connection) + Send>;

/// A few threads, each with its own read-only connection, taking jobs from one
/// queue. Dedicated threads rather than `spawn_blocking`: a burst of reads (a
/// reconnect storm's welcomes) is worked off by the same few threads instead of
/// making tokio start a thread per waiting request, and a busy thread takes the
/// next job without going to sleep in between.
///
/// The queue is a mutex and a condition variable: a new job wakes one idle
/// thread and nothing else. (A shared `mpsc::Receiver` behind a mutex woke two
/// per job — the thread blocked in `recv` and then the one waiting for the
/// mutex — which on one core was two context switches per connect.)
///
/// The queue holds at most `capacity` jobs; a query beyond that is refused at
/// once with [`StoreError::Busy`] (the client gets `server_busy` and may try
/// again) instead of waiting behind work that is already late.
#[derive(Debug)]
pub struct Pool {
    queue: Arc<Queue>,
    capacity: usize,
    /// Queries refused because the queue was full.
    refused: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

#[derive(Default)]
struct Jobs {
    waiting: VecDeque<Job>,
    closed: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // Jobs run outside the lock, so a panic cannot leave the queue half-changed.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Pool {
    pub fn open(path: &Path, size: usize, capacity: usize) -> rusqlite::Result<Self> {
        let queue = Arc::new(Queue::default());
        for i in 0..size.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("parley-read-{i}"))
                .spawn(move || serve_reads(&conn, &queue))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        }
        Ok(Self {
            queue,
            capacity: capacity.max(1),
            refused: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Queries refused so far because the queue was full.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queries waiting for a thread.
    pub fn queued(&self) -> usize {
        self.queue.lock().waiting.len()
    }

    /// Runs `query` on a pooled connection, on the pool's threads.
    pub async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(query(conn));
        });
        {
            let mut jobs = self.queue.lock();
            if jobs.closed {
                return Err(StoreError::Closed);
            }
            if jobs.waiting.len() >= self.capacity {
                self.refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(StoreError::Busy);
            }
            jobs.waiting.push_back(job);
        }
        self.queue.ready.notify_one();
        // No answer: the query panicked (caught on its thread) or the pool is gone.
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Pool {
    /// The threads finish the jobs already queued, then end.
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// A pool thread: runs jobs until the pool is gone and the queue is empty. A
/// panicking query loses its answer (the caller gets `Closed`), not the thread.
fn serve_reads(conn: &Connection, queue: &Queue) {
    loop {
        let job = {
            let mut jobs = queue.lock();
            loop {
                if let Some(job) = jobs.waiting.pop_front() {
                    break job;
                }
                if jobs.closed {
                    return;
                }
                jobs = queue
                    .ready
                    .wait(jobs)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a read query panicked");
        }
    }
}

/// Reads a validated text column; a stored value that no longer validates is a
/// database error, not a panic.
pub(super) fn text<T>(
    row: &rusqlite::Row<'_>,
    i: usize,
    parse: impl FnOnce(&str) -> Result<T, parley_common::ValidationError>,
) -> rusqlite::Result<T> {
    let raw: String = row.get(i)?;
    parse(&raw).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub fn user_by_name(c: &Connection, key: &str) -> Result<Option<StoredUser>, StoreError> {
    Ok(
        c.prepare_cached("SELECT id, name, password_hash FROM users WHERE name_key = ?1")?
            .query_row(params![key], |r| {
                Ok(StoredUser {
                    id: UserId(r.get(0)?),
                    name: text(r, 1, Username::parse)?,
                    password_hash: r.get(2)?,
                })
            })
            .optional()?,
    )
}

/// The welcome's one statement. A conversation's peer is looked up in a `CASE`
/// (evaluated lazily, so only for conversations): a join would walk the lobby's
/// whole member index for every user who connects.
const ROOMS_AND_CONVERSATIONS: &str = "
    SELECT r.kind, r.name, r.last_seq, m.last_read, r.last_ts,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT o.user_id FROM memberships o
                WHERE o.room_id = r.id AND o.user_id != m.user_id) END,
           CASE WHEN r.kind = 'dm' THEN
               (SELECT u.name FROM memberships o JOIN users u ON u.id = o.user_id
                WHERE o.room_id = r.id AND o.user_id != m.user_id) END,
           r.id
    FROM memberships m JOIN rooms r ON r.id = m.room_id
    WHERE m.user_id = ?1";

/// The user's rooms (by name) and private conversations (most recent first),
/// as `welcome` lists them: one statement, so one read transaction, on every
/// connect.
pub fn rooms_and_conversations(
    c: &Connection,
    user: UserId,
) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
    let mut stmt = c.prepare_cached(ROOMS_AND_CONVERSATIONS)?;
    let mut rows = stmt.query(params![user.0])?;
    let (mut rooms, mut conversations) = (Vec::new(), Vec::new());
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        if kind == "room" {
            rooms.push(MyRoom {
                room: text(r, 1, RoomName::parse)?,
                last_seq: r.get(2)?,
                last_read: r.get(3)?,
            });
        } else if kind == "dm" {
            // A conversation whose other member is gone has no peer: not listed.
            let Some(peer) = r.get::<_, Option<i64>>(5)? else {
                continue;
            };
            let id: i64 = r.get(7)?;
            conversations.push((
                id,
                MyConversation {
                    peer: UserId(peer),
                    summary: Conversation {
                        with: text(r, 6, Username::parse)?,
                        last_seq: r.get(2)?,
                        last_read: r.get(3)?,
                        last_ts: r.get(4)?,
                        online: false,
                    },
                },
            ));
        }
    }
    rooms.sort_unstable_by(|a, b| a.room.as_str().cmp(b.room.as_str()));
    // Most recent first; at the same millisecond, the newer conversation.
    conversations.sort_unstable_by(|(a_id, a), (b_id, b)| {
        (b.summary.last_ts, b_id).cmp(&(a.summary.last_ts, a_id))
    });
    Ok((rooms, conversations.into_iter().map(|(_, c)| c).collect()))
}

pub fn room_list(c: &Connection, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT r.name,
                (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id),
                EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?1)
         FROM rooms r WHERE r.kind = 'room' ORDER BY r.name",
    )?;
    let rows = stmt.query_map(params![user.0], |r| {
        Ok(RoomInfo {
            room: text(r, 0, RoomName::parse)?,
            members: r.get(1)?,
            joined: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn history(
    c: &Connection,
    channel: &Channel,
    user: UserId,
    before: Option<u64>,
    limit: usize,
) -> Result<HistoryPage, StoreError> {
    // A conversation is named as the other user spells their name.
    let (db_name, channel) = match channel {
        Channel::Room(room) => (room.as_str().to_owned(), channel.clone()),
        Channel::Dm(name) => {
            let peer = user_by_name(c, &name.key())?.ok_or(StoreError::UnknownUser)?;
            if peer.id == user {
                return Err(StoreError::CannotMessageSelf);
            }
            (
                ChannelKey::dm(user, peer.id).db_name(),
                Channel::Dm(peer.name),
            )
        }
    };
    let channel = &channel;
    let membership: Option<(i64, bool)> = c
        .prepare_cached(
            "SELECT r.id, EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?2)
             FROM rooms r WHERE r.name = ?1",
        )?
        .query_row(params![db_name, user.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let room_id = match (membership, channel) {
        // A conversation nobody has written in yet: empty.
        (None, Channel::Dm(_)) => {
            return Ok(HistoryPage {
                channel: channel.clone(),
                messages: Vec::new(),
                has_more: false,
            });
        }
        (None, Channel::Room(_)) => return Err(StoreError::NoSuchRoom),
        (Some((_, false)), _) => return Err(StoreError::NotInRoom),
        (Some((id, true)), _) => id,
    };
    let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
    // One more than asked for tells whether older messages exist.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
    let mut stmt = c.prepare_cached(
        "SELECT m.seq, u.name, m.body, m.ts, m.client_id
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![room_id, before, fetch], |r| message(r, channel))?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = messages.len() > limit;
    messages.truncate(limit);
    messages.reverse();
    Ok(HistoryPage {
        channel: channel.clone(),
        messages,
        has_more,
    })
}

/// One row of `SELECT m.seq, u.name, m.body, m.ts, m.client_id` as a message of
/// `channel`.
fn message(r: &rusqlite::Row<'_>, channel: &Channel) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        channel: channel.clone(),
        seq: r.get(0)?,
        sender: text(r, 1, Username::parse)?,
        body: text(r, 2, MessageBody::parse)?,
        ts: r.get(3)?,
        client_id: text(r, 4, ClientMsgId::parse)?,
    })
}

/// The messages of room `room_id` after `after` up to `upto`, oldest first, named
/// as `channel` (for replaying what a reconnecting client missed).
pub fn range(
    c: &Connection,
    room_id: i64,
    channel: &Channel,
    after: u64,
    upto: u64,
) -> Result<Vec<ChatMessage>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT m.seq, u.name, m.body, m.ts, m.client_id
         FROM messages m JOIN users u ON u.id = m.sender_id
         WHERE m.room_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq",
    )?;
    let rows = stmt.query_map(params![room_id, after, upto], |r| message(r, channel))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Reads polls by a `WHERE` clause over `polls p` with `?1` = user id and `?2` =
/// the clause's parameter; the user must be a member of each poll's room.
fn polls_where(
    c: &Connection,
    clause: &str,
    user: UserId,
    param: &dyn rusqlite::ToSql,
) -> Result<Vec<PollInfo>, StoreError> {
    let sql = format!(
        "SELECT p.id, r.name, u.name, p.question, p.options, p.closes_at, p.closed, p.version,
                (SELECT v.option FROM votes v WHERE v.poll_id = p.id AND v.user_id = ?1)
         FROM polls p JOIN rooms r ON r.id = p.room_id JOIN users u ON u.id = p.creator_id
         WHERE {clause}
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = p.room_id AND m.user_id = ?1)
         ORDER BY p.id DESC LIMIT 50"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user.0, param], |r| {
        let options: String = r.get(4)?;
        Ok((
            r.get::<_, u64>(0)?,
            text(r, 1, RoomName::parse)?,
            text(r, 2, Username::parse)?,
            r.get::<_, String>(3)?,
            serde_json::from_str::<Vec<String>>(&options).unwrap_or_default(),
            r.get::<_, Option<u64>>(5)?,
            r.get::<_, bool>(6)?,
            r.get::<_, u64>(7)?,
            r.get::<_, Option<u32>>(8)?,
        ))
    })?;
    let mut polls = Vec::new();
    for row in rows {
        let (id, room, creator, question, options, closes_at, closed, version, my_vote) = row?;
        let (counts, voters) = vote_counts(c, id, options.len())?;
        let closed = closed || closes_at.is_some_and(|t| t <= crate::clock::now_ms());
        polls.push(PollInfo {
            id,
            room,
            creator,
            question,
            options,
            closes_at,
            tally: Tally {
                version,
                counts,
                voters,
                closed,
            },
            my_vote,
        });
    }
    Ok(polls)
}

pub fn poll(c: &Connection, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
    polls_where(c, "p.id = ?2", user, &poll)?
        .pop()
        .ok_or(StoreError::NoSuchPoll)
}

pub fn polls(c: &Connection, room: &RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
    polls_where(c, "r.name = ?2", user, &room.as_str())
}

pub fn poll_deadlines(c: &Connection) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT id, closes_at FROM polls WHERE closed = 0 AND closes_at IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Votes per option of `poll` (which has `options` options) and the number of
/// voters, counted from the stored votes. The writer uses it too, to load a
/// poll's counts the first time it sees the poll.
pub fn vote_counts(c: &Connection, poll: u64, options: usize) -> rusqlite::Result<(Vec<u64>, u64)> {
    let mut counts = vec![0u64; options];
    let mut voters = 0;
    let mut stmt =
        c.prepare_cached("SELECT option, COUNT(*) FROM votes WHERE poll_id = ?1 GROUP BY option")?;
    let rows = stmt.query_map(params![poll], |r| {
        Ok((r.get::<_, usize>(0)?, r.get::<_, u64>(1)?))
    })?;
    for row in rows {
        let (option, count) = row?;
        if let Some(c) = counts.get_mut(option) {
            *c = count;
        }
        voters += count;
    }
    Ok((counts, voters))
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// With every thread busy and the queue full, the next query is refused at
    /// once (`Busy`) instead of queueing; once the threads are free it works.
    #[tokio::test]
    async fn a_full_read_queue_refuses_at_once() {
        let dir = std::env::temp_dir().join(format!("parley-readq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("q.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let pool = Arc::new(Pool::open(&path, 2, 3).unwrap());
        // Two jobs hold both threads until released.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let mut waiting = Vec::new();
        for _ in 0..2 {
            let (held, started_tx) = (Arc::clone(&held), started_tx.clone());
            let pool = Arc::clone(&pool);
            waiting.push(tokio::spawn(async move {
                pool.run(move |_| {
                    let _ = started_tx.send(());
                    let _ = held.lock().unwrap().recv();
                    Ok(())
                })
                .await
            }));
        }
        for _ in 0..2 {
            started.recv().await.unwrap();
        }
        // Three fill the queue…
        for _ in 0..3 {
            let pool = Arc::clone(&pool);
            waiting.push(tokio::spawn(async move { pool.run(|_| Ok(())).await }));
        }
        while pool.queued() < 3 {
            tokio::task::yield_now().await;
        }
        // …and the next is refused without waiting.
        assert!(matches!(pool.run(|_| Ok(())).await, Err(StoreError::Busy)));
        assert_eq!(pool.refused(), 1);
        release.send(()).unwrap();
        release.send(()).unwrap();
        for job in waiting {
            job.await.unwrap().unwrap();
        }
        assert!(pool.run(|_| Ok(())).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The welcome's read must not grow with the size of the user's rooms: with
    /// a join on the other members it stepped through the lobby's whole member
    /// index (1 ms per connect with 10,000 members). Counted in SQLite's virtual
    /// machine steps, not timed.
    #[test]
    fn the_welcome_read_does_not_walk_a_big_rooms_members() {
        let dir = std::env::temp_dir().join(format!("parley-welcome-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let mut c = super::super::writer::open_connection(&db).unwrap();
        super::super::migrate::apply(&mut c).unwrap();
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO users (id, name, name_key, password_hash, created_at)
                 SELECT i, 'u' || i, 'u' || i, '', 0 FROM n;
             INSERT INTO memberships (user_id, room_id, joined_at)
                 SELECT id, (SELECT id FROM rooms WHERE name = 'lobby'), 0 FROM users;
             INSERT INTO rooms (name, kind, created_at) VALUES ('@1:2', 'dm', 0);
             INSERT INTO memberships (user_id, room_id, joined_at)
                 SELECT u, (SELECT id FROM rooms WHERE name = '@1:2'), 0
                 FROM (SELECT 1 AS u UNION ALL SELECT 2);",
        )
        .unwrap();
        let (rooms, conversations) = rooms_and_conversations(&c, UserId(1)).unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(conversations.len(), 1);
        assert_eq!(conversations[0].peer, UserId(2));
        let steps = c
            .prepare_cached(ROOMS_AND_CONVERSATIONS)
            .unwrap()
            .get_status(StatementStatus::VmStep);
        assert!(steps < 1000, "{steps} steps for two rooms");
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
