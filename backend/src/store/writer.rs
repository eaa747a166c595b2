//! The single writer: one thread, one connection, group commit.
//!
//! Requests queue on a bounded channel ([`QueueLimits::writes`] requests): when
//! it is full, callers wait for room (an async wait), so under overload acks slow
//! down and sessions stop reading their sockets instead of memory growing. The
//! thread takes the first, then everything else
//! already waiting (up to [`MAX_BATCH`]), runs them all in one transaction and
//! commits once — with `synchronous = FULL` that is one fsync for the whole batch.
//! Only then are committed messages handed to the fan-out (in commit order) and the
//! callers answered. A failed commit answers every request of the batch with the
//! error and forgets the cached sequence numbers, which are re-read from the
//! database.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parley_common::{
    Channel, ChatMessage, ClientMsgId, MessageBody, RESUME_LIMIT, ResumeFrom, RoomName, ServerMsg,
    Username,
};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, COMMITS_PER_CHECKPOINT, Checkpointer, MAX_WAL_PAGES};
use super::{Appended, AuthUser, ChannelKey, DmParties, StoreError, TokenHash, UserId};
use parley_common::{PollInfo, PollSpec, Tally};

use super::Voted;
use crate::clock::now_ms;

/// Most requests committed together.
const MAX_BATCH: usize = 1024;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Receives committed messages, in commit order, from the writer thread. Must not
/// block: it runs between commits.
pub trait Fanout: Send + Sync + std::fmt::Debug {
    /// `msg` is as its sender sees it; `dm` is set for private messages.
    fn publish(&self, key: &ChannelKey, msg: &ChatMessage, dm: Option<&DmParties>);
    /// Poll `poll` in `key` has a new tally.
    fn tally(&self, key: &ChannelKey, poll: u64, tally: &Tally);
}

#[derive(Debug)]
pub enum Op {
    CreateUser {
        name: Username,
        password_hash: String,
        reply: Reply<UserId>,
    },
    CreateSession {
        token: TokenHash,
        user: UserId,
        expires_at: u64,
        reply: Reply<()>,
    },
    DeleteSession {
        token: TokenHash,
        reply: Reply<()>,
    },
    CreateRoom {
        room: RoomName,
        creator: UserId,
        reply: Reply<()>,
    },
    Join {
        room: RoomName,
        user: UserId,
        reply: Reply<u64>,
    },
    Leave {
        room: RoomName,
        user: UserId,
        reply: Reply<()>,
    },
    MarkRead {
        channel: Channel,
        user: AuthUser,
        seq: u64,
        reply: Reply<(Channel, u64)>,
    },
    CreatePoll {
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
        reply: Reply<PollInfo>,
    },
    Vote {
        poll: u64,
        user: UserId,
        option: u32,
        reply: Reply<Voted>,
    },
    /// `by: None` is the server closing a poll whose time is up.
    ClosePoll {
        poll: u64,
        by: Option<UserId>,
        reply: Reply<Voted>,
    },
    Append {
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
        reply: Reply<Appended>,
    },
    /// Replays what `user` missed since each point and runs `attach` with it, at
    /// this op's place in the commit order (see [`Store::resume`](super::Store::resume)).
    Resume {
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
        reply: Reply<()>,
    },
}

/// Called on the writer thread with the replay (`missed` / `too_far_behind`
/// frames), between two publishes: it must attach the connection to the fan-out
/// before returning, and must not block.
pub struct Attach(pub Box<dyn FnOnce(Vec<ServerMsg>) + Send>);

impl std::fmt::Debug for Attach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attach(..)")
    }
}

/// Most channels one resume may name (a user with more is asked to reload the
/// rest: they get nothing replayed, and live delivery covers what comes next).
const MAX_RESUME_CHANNELS: usize = 1000;

/// A replay is split into `missed` frames of about this many bytes at most.
const MAX_REPLAY_FRAME_BYTES: usize = 256 * 1024;

/// One channel to replay: the messages after `after` up to `upto` of `room_id`.
struct ReplayTarget {
    room_id: i64,
    channel: Channel,
    after: u64,
    upto: u64,
}

enum Job {
    Op(Op),
    /// Commit what came before, then stop.
    Close(oneshot::Sender<()>),
}

/// Counters of the writer's work, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Requests carried by those transactions.
    pub ops: AtomicU64,
    /// Time spent in BEGIN…COMMIT, in microseconds.
    pub commit_micros: AtomicU64,
    /// Commits by duration: how many took at most each bound of
    /// [`COMMIT_BUCKETS`](crate::metrics::COMMIT_BUCKETS) (and more than the one
    /// before).
    pub commit_buckets: [AtomicU64; crate::metrics::COMMIT_BUCKETS.len()],
    /// WAL checkpoints done by the checkpoint thread.
    pub checkpoints: AtomicU64,
}

#[derive(Clone, Debug)]
pub struct Handle {
    pub stats: Arc<Stats>,
    tx: mpsc::Sender<Job>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl Handle {
    /// Queues `op`, waiting for room while the queue is full (back-pressure).
    /// Requests keep the order in which they got room.
    pub async fn submit(&self, op: Op) -> Result<(), StoreError> {
        self.tx
            .send(Job::Op(op))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Requests waiting for the writer thread.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

pub fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (fsync'd) before it returns, so an ack survives
    // a power cut, not just a killed process. Group commit keeps it affordable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Checkpoints run on their own thread (`checkpoint.rs`), not in a commit.
    super::checkpoint::watch(&conn);
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

pub fn spawn(
    conn: Connection,
    path: &Path,
    fanout: Arc<dyn Fanout>,
    queue: usize,
) -> Result<Handle, StoreError> {
    let (tx, mut rx) = mpsc::channel(queue.max(1));
    let stats = Arc::new(Stats::default());
    let writer = Writer {
        conn,
        checkpoints: Checkpointer::spawn(path, Arc::clone(&stats))?,
        commits_since_checkpoint: 0,
        fanout,
        rooms: HashMap::new(),
        members: HashSet::new(),
        dirty_rooms: HashMap::new(),
        dirty_reads: HashMap::new(),
        polls: HashMap::new(),
        dirty_polls: HashSet::new(),
        stats: Arc::clone(&stats),
    };
    let thread = std::thread::Builder::new()
        .name("parley-store-writer".into())
        .spawn(move || writer.run(&mut rx))
        .map_err(|e| StoreError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
    Ok(Handle {
        stats,
        tx,
        thread: Arc::new(std::sync::Mutex::new(Some(thread))),
    })
}

/// A poll as the writer knows it, with exact counts.
struct PollRow {
    room_id: i64,
    room: RoomName,
    creator: i64,
    closes_at: Option<u64>,
    tally: Tally,
}

/// `poll`'s tally (in `row`) changed: a new version, written with the batch.
fn changed(row: &mut PollRow, dirty: &mut HashSet<u64>, poll: u64, key: ChannelKey) -> Voted {
    row.tally.version += 1;
    dirty.insert(poll);
    Voted {
        key,
        tally: row.tally.clone(),
        changed: true,
    }
}

/// A room as the writer knows it: id and latest sequence number.
#[derive(Clone, Copy)]
struct RoomRow {
    id: i64,
    last_seq: u64,
}

struct Writer {
    conn: Connection,
    checkpoints: Checkpointer,
    commits_since_checkpoint: u64,
    fanout: Arc<dyn Fanout>,
    /// Cache of rooms and conversations by `rooms.name` (never deleted, so never
    /// stale) with their latest seq.
    rooms: HashMap<String, RoomRow>,
    /// Cache of known (user, room) memberships.
    members: HashSet<(i64, i64)>,
    /// Rooms whose latest (seq, ts) changed in the open transaction.
    dirty_rooms: HashMap<i64, (u64, u64)>,
    /// Read markers moved by sending in the open transaction: (user, room) → seq.
    dirty_reads: HashMap<(i64, i64), u64>,
    /// Cache of polls touched since start, with their exact counts.
    polls: HashMap<u64, PollRow>,
    /// Polls whose version changed in the open transaction.
    dirty_polls: HashSet<u64>,
    stats: Arc<Stats>,
}

/// What the fan-out must hear about once a batch has committed.
enum Publish {
    Message(Appended),
    Tally(ChannelKey, u64, Tally),
    Resume(Vec<ReplayTarget>, Attach),
}

/// The outcome of one op inside a batch, waiting for the commit: how to answer
/// its caller (`true`: committed, send the result; `false`: rolled back), and
/// what to publish after the commit.
struct Done {
    answer: Box<dyn FnOnce(bool) + Send>,
    publish: Option<Publish>,
}

impl Done {
    fn new<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Self {
        Self {
            answer: Box::new(move |committed| {
                // A caller that went away (connection closed) no longer needs it.
                let _ = reply.send(if committed {
                    result
                } else {
                    Err(StoreError::Aborted)
                });
            }),
            publish: None,
        }
    }

    fn publishing(mut self, publish: Option<Publish>) -> Self {
        self.publish = publish;
        self
    }
}

impl Writer {
    fn run(mut self, rx: &mut mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut closing = None;
        while closing.is_none() {
            // Block for the first job; an empty channel with no senders left means
            // the store was dropped.
            let Some(first) = rx.blocking_recv() else {
                break;
            };
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Op(op) => batch.push(op),
                    Job::Close(done) => {
                        closing = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit_batch(&mut batch);
            }
        }
        if let Err((_, err)) = self.conn.close() {
            tracing::error!(%err, "closing the database failed");
        }
        if let Some(done) = closing {
            let _ = done.send(());
        }
        tracing::info!("store writer stopped");
    }

    fn commit_batch(&mut self, batch: &mut Vec<Op>) {
        let started = std::time::Instant::now();
        let size = batch.len();
        let mut done = Vec::with_capacity(size);
        let result = (|| -> Result<(), StoreError> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            for op in batch.drain(..) {
                done.push(self.apply(op)?);
            }
            for (room_id, (seq, ts)) in self.dirty_rooms.drain() {
                self.conn
                    .prepare_cached("UPDATE rooms SET last_seq = ?1, last_ts = ?2 WHERE id = ?3")?
                    .execute(params![seq, ts, room_id])?;
            }
            for ((user, room_id), seq) in self.dirty_reads.drain() {
                self.conn
                    .prepare_cached(
                        "UPDATE memberships SET last_read = max(last_read, ?1)
                         WHERE user_id = ?2 AND room_id = ?3",
                    )?
                    .execute(params![seq, user, room_id])?;
            }
            for poll in self.dirty_polls.drain() {
                if let Some(row) = self.polls.get(&poll) {
                    self.conn
                        .prepare_cached("UPDATE polls SET version = ?1, closed = ?2 WHERE id = ?3")?
                        .execute(params![row.tally.version, row.tally.closed, poll])?;
                }
            }
            self.conn.execute_batch("COMMIT")?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.commits_since_checkpoint += 1;
                if self.commits_since_checkpoint >= COMMITS_PER_CHECKPOINT
                    || checkpoint::wal_pages() >= MAX_WAL_PAGES
                {
                    self.commits_since_checkpoint = 0;
                    self.checkpoints.request();
                }
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.ops.fetch_add(size as u64, Ordering::Relaxed);
                self.stats
                    .commit_micros
                    .fetch_add(micros, Ordering::Relaxed);
                let secs = micros as f64 / 1e6;
                if let Some(i) = crate::metrics::COMMIT_BUCKETS
                    .iter()
                    .position(|bound| secs <= *bound)
                {
                    self.stats.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
                // Publish in commit order, then answer: an ack never overtakes the
                // message it acknowledges.
                for d in &mut done {
                    match d.publish.take() {
                        Some(Publish::Message(a)) => {
                            self.fanout.publish(&a.key, &a.msg, a.dm.as_ref());
                        }
                        Some(Publish::Tally(key, poll, tally)) => {
                            self.fanout.tally(&key, poll, &tally);
                        }
                        Some(Publish::Resume(targets, attach)) => {
                            (attach.0)(self.replay(targets));
                        }
                        None => {}
                    }
                }
                done.into_iter().for_each(|d| (d.answer)(true));
                tracing::trace!(size, elapsed = ?started.elapsed(), "committed batch");
            }
            Err(err) => {
                tracing::error!(%err, size, "store batch failed; rolled back");
                let _ = self.conn.execute_batch("ROLLBACK");
                self.rooms.clear();
                self.members.clear();
                self.dirty_rooms.clear();
                self.dirty_reads.clear();
                self.polls.clear();
                self.dirty_polls.clear();
                // Requests never reached were dropped with `batch`; their callers
                // see `Closed`. The ones applied get the error.
                batch.clear();
                done.into_iter().for_each(|d| (d.answer)(false));
            }
        }
    }

    /// Applies one op inside the open transaction. `Err` only for database
    /// failures (which abort the batch); refusals are the op's own result.
    fn apply(&mut self, op: Op) -> Result<Done, StoreError> {
        Ok(match op {
            Op::CreateUser {
                name,
                password_hash,
                reply,
            } => {
                let r = self.create_user(&name, &password_hash)?;
                Done::new(reply, r)
            }
            Op::CreateSession {
                token,
                user,
                expires_at,
                reply,
            } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![&token.0[..], user.0, now_ms(), expires_at])?;
                Done::new(reply, Ok(()))
            }
            Op::DeleteSession { token, reply } => {
                self.conn
                    .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                    .execute(params![&token.0[..]])?;
                Done::new(reply, Ok(()))
            }
            Op::CreateRoom {
                room,
                creator,
                reply,
            } => {
                let r = if self.room(room.as_str())?.is_some() {
                    Err(StoreError::RoomExists)
                } else {
                    self.conn
                        .prepare_cached(
                            "INSERT INTO rooms (name, created_by, created_at) VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![room.as_str(), creator.0, now_ms()])?;
                    let id = self.conn.last_insert_rowid();
                    self.rooms
                        .insert(room.as_str().to_owned(), RoomRow { id, last_seq: 0 });
                    self.add_member(RoomRow { id, last_seq: 0 }, creator)?;
                    Ok(())
                };
                Done::new(reply, r)
            }
            Op::Join { room, user, reply } => {
                let r = match self.room(room.as_str())? {
                    None => Err(StoreError::NoSuchRoom),
                    Some(row) => {
                        self.add_member(row, user)?;
                        Ok(row.last_seq)
                    }
                };
                Done::new(reply, r)
            }
            Op::Leave { room, user, reply } => {
                let r = match self.room(room.as_str())? {
                    None => Err(StoreError::NoSuchRoom),
                    Some(row) => {
                        let n = self
                            .conn
                            .prepare_cached(
                                "DELETE FROM memberships WHERE user_id = ?1 AND room_id = ?2",
                            )?
                            .execute(params![user.0, row.id])?;
                        self.members.remove(&(user.0, row.id));
                        if n == 0 {
                            Err(StoreError::NotInRoom)
                        } else {
                            Ok(())
                        }
                    }
                };
                Done::new(reply, r)
            }
            Op::CreatePoll {
                room,
                creator,
                spec,
                closes_at,
                reply,
            } => {
                let r = self.create_poll(&room, &creator, &spec, closes_at)?;
                Done::new(reply, r)
            }
            Op::Vote {
                poll,
                user,
                option,
                reply,
            } => {
                let r = self.vote(poll, user, option)?;
                let publish = match &r {
                    Ok(v) if v.changed => {
                        Some(Publish::Tally(v.key.clone(), poll, v.tally.clone()))
                    }
                    _ => None,
                };
                Done::new(reply, r).publishing(publish)
            }
            Op::ClosePoll { poll, by, reply } => {
                let r = self.close_poll(poll, by)?;
                let publish = match &r {
                    Ok(v) if v.changed => {
                        Some(Publish::Tally(v.key.clone(), poll, v.tally.clone()))
                    }
                    _ => None,
                };
                Done::new(reply, r).publishing(publish)
            }
            Op::Append {
                channel,
                sender,
                client_id,
                body,
                reply,
            } => {
                let r = self.append(channel, sender, client_id, body)?;
                let publish = match &r {
                    Ok(a) if !a.duplicate => Some(Publish::Message(a.clone())),
                    _ => None,
                };
                Done::new(reply, r).publishing(publish)
            }
            Op::MarkRead {
                channel,
                user,
                seq,
                reply,
            } => {
                let r = self.mark_read(&channel, &user, seq)?;
                Done::new(reply, r)
            }
            Op::Resume {
                user,
                from,
                attach,
                reply,
            } => {
                let mut targets = Vec::with_capacity(from.len().min(MAX_RESUME_CHANNELS));
                for point in from.into_iter().take(MAX_RESUME_CHANNELS) {
                    if let Some(target) = self.replay_target(&user, point)? {
                        targets.push(target);
                    }
                }
                Done::new(reply, Ok(())).publishing(Some(Publish::Resume(targets, attach)))
            }
        })
    }

    /// Where a resume point stands now. The room's latest seq is read here, at the
    /// op's place in the batch: messages applied before it are replayed, the ones
    /// after it are published live. Channels the user is not in (any more), and
    /// conversations nobody wrote in, are skipped.
    fn replay_target(
        &mut self,
        user: &AuthUser,
        point: ResumeFrom,
    ) -> Result<Option<ReplayTarget>, StoreError> {
        let Ok((_, peer, Some(row))) = self.resolve(&point.channel, user)? else {
            return Ok(None);
        };
        if !self.is_member(user.id, row.id)? {
            return Ok(None);
        }
        // A conversation is named as the other user spells their name.
        let channel = match peer {
            Some(peer) => Channel::Dm(peer.name),
            None => point.channel,
        };
        Ok(Some(ReplayTarget {
            room_id: row.id,
            channel,
            after: point.seq,
            upto: row.last_seq,
        }))
    }

    /// Reads what each target missed (committed by now): a `missed` frame, or
    /// `too_far_behind` when it is more than [`RESUME_LIMIT`] or the client is
    /// ahead of the server.
    fn replay(&self, targets: Vec<ReplayTarget>) -> Vec<ServerMsg> {
        let mut frames = Vec::new();
        for t in targets {
            if t.after == t.upto {
                continue;
            }
            let too_far = ServerMsg::TooFarBehind {
                channel: t.channel.clone(),
                last_seq: t.upto,
            };
            if t.after > t.upto || t.upto - t.after > RESUME_LIMIT {
                frames.push(too_far);
                continue;
            }
            match super::read::range(&self.conn, t.room_id, &t.channel, t.after, t.upto) {
                Ok(messages) => {
                    // Several frames when the bodies are long: no frame much
                    // bigger than a history page.
                    let mut chunk = Vec::new();
                    let mut bytes = 0;
                    for m in messages {
                        bytes += m.body.as_str().len() + 128;
                        chunk.push(m);
                        if bytes >= MAX_REPLAY_FRAME_BYTES {
                            frames.push(ServerMsg::Missed {
                                channel: t.channel.clone(),
                                messages: std::mem::take(&mut chunk),
                            });
                            bytes = 0;
                        }
                    }
                    if !chunk.is_empty() {
                        frames.push(ServerMsg::Missed {
                            channel: t.channel,
                            messages: chunk,
                        });
                    }
                }
                Err(err) => {
                    // The client reloads the latest page instead.
                    tracing::error!(%err, "reading messages to replay failed");
                    frames.push(too_far);
                }
            }
        }
        frames
    }

    fn create_user(
        &mut self,
        name: &Username,
        hash: &str,
    ) -> Result<Result<UserId, StoreError>, StoreError> {
        let key = name.key();
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM users WHERE name_key = ?1")?
            .exists(params![key])?;
        if exists {
            return Ok(Err(StoreError::NameTaken));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO users (name, name_key, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name.as_str(), key, hash, now_ms()])?;
        let id = UserId(self.conn.last_insert_rowid());
        if let Some(lobby) = self.room(parley_common::LOBBY)? {
            self.add_member(lobby, id)?;
        }
        Ok(Ok(id))
    }

    /// Makes `user` a member of the room whose latest message is `last_seq`.
    /// What was said before you arrived does not count as unread.
    fn add_member(&mut self, room: RoomRow, user: UserId) -> rusqlite::Result<()> {
        let room_id = room.id;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, last_read)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![user.0, room_id, now_ms(), room.last_seq])?;
        self.members.insert((user.0, room_id));
        Ok(())
    }

    fn room(&mut self, name: &str) -> rusqlite::Result<Option<RoomRow>> {
        if let Some(row) = self.rooms.get(name) {
            return Ok(Some(*row));
        }
        let row = self
            .conn
            .prepare_cached("SELECT id, last_seq FROM rooms WHERE name = ?1")?
            .query_row(params![name], |r| {
                Ok(RoomRow {
                    id: r.get(0)?,
                    last_seq: r.get(1)?,
                })
            })
            .optional()?;
        if let Some(row) = row {
            self.rooms.insert(name.to_owned(), row);
        }
        Ok(row)
    }

    /// Looks a user up by name (for private messages).
    fn user_named(&mut self, name: &Username) -> rusqlite::Result<Option<AuthUser>> {
        self.conn
            .prepare_cached("SELECT id, name FROM users WHERE name_key = ?1")?
            .query_row(params![name.key()], |r| {
                Ok((UserId(r.get(0)?), r.get::<_, String>(1)?))
            })
            .optional()
            .map(|row| {
                row.and_then(|(id, name)| {
                    Username::parse(&name)
                        .ok()
                        .map(|name| AuthUser { id, name })
                })
            })
    }

    /// Resolves where a message goes: the channel key, the peer of a conversation,
    /// and its row if it exists yet. `Ok(Err(..))` is a refusal.
    #[allow(clippy::type_complexity)]
    fn resolve(
        &mut self,
        channel: &Channel,
        me: &AuthUser,
    ) -> Result<Result<(ChannelKey, Option<AuthUser>, Option<RoomRow>), StoreError>, StoreError>
    {
        Ok(Ok(match channel {
            Channel::Room(room) => {
                let key = ChannelKey::Room(room.clone());
                let row = self.room(room.as_str())?;
                (key, None, row)
            }
            Channel::Dm(name) => {
                let Some(peer) = self.user_named(name)? else {
                    return Ok(Err(StoreError::UnknownUser));
                };
                if peer.id == me.id {
                    return Ok(Err(StoreError::CannotMessageSelf));
                }
                let key = ChannelKey::dm(me.id, peer.id);
                let row = self.room(&key.db_name())?;
                (key, Some(peer), row)
            }
        }))
    }

    fn append(
        &mut self,
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
    ) -> Result<Result<Appended, StoreError>, StoreError> {
        let (key, peer, row) = match self.resolve(&channel, &sender)? {
            Ok(resolved) => resolved,
            Err(refusal) => {
                return Ok(match self.stored(&sender, &client_id)? {
                    Some(original) => Ok(original),
                    None => Err(refusal),
                });
            }
        };
        let row = match (row, &peer) {
            (Some(row), _) => row,
            // The first message of a conversation creates it.
            (None, Some(peer)) => self.create_conversation(&key, sender.id, peer.id)?,
            (None, None) => {
                return Ok(match self.stored(&sender, &client_id)? {
                    Some(original) => Ok(original),
                    None => Err(StoreError::NoSuchRoom),
                });
            }
        };
        if !self.is_member(sender.id, row.id)? {
            // A retry of a message stored before the sender left still gets its ack.
            return Ok(match self.stored(&sender, &client_id)? {
                Some(original) => Ok(original),
                None => Err(StoreError::NotInRoom),
            });
        }
        let seq = row.last_seq + 1;
        let ts = now_ms();
        // The common case is one statement; a retry hits the (sender, client_id)
        // unique index and inserts nothing.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO messages (room_id, seq, sender_id, body, ts, client_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (sender_id, client_id) DO NOTHING",
            )?
            .execute(params![
                row.id,
                seq,
                sender.id.0,
                body.as_str(),
                ts,
                client_id.as_str()
            ])?;
        if inserted == 0 {
            return Ok(self.stored(&sender, &client_id)?.ok_or(StoreError::Aborted));
        }
        self.rooms.insert(
            key.db_name(),
            RoomRow {
                id: row.id,
                last_seq: seq,
            },
        );
        // Written once per room (and reader) per batch, before the commit. Sending
        // means having read the channel up to your own message.
        self.dirty_rooms.insert(row.id, (seq, ts));
        self.dirty_reads.insert((sender.id.0, row.id), seq);
        // A conversation is named as the recipient spells their name.
        let channel = match &peer {
            Some(recipient) => Channel::Dm(recipient.name.clone()),
            None => channel,
        };
        let dm = peer.map(|recipient| DmParties {
            sender: sender.clone(),
            recipient,
        });
        Ok(Ok(Appended {
            msg: ChatMessage {
                channel,
                seq,
                sender: sender.name,
                body,
                ts,
                client_id,
            },
            key,
            dm,
            duplicate: false,
        }))
    }

    fn create_conversation(
        &mut self,
        key: &ChannelKey,
        a: UserId,
        b: UserId,
    ) -> rusqlite::Result<RoomRow> {
        let name = key.db_name();
        self.conn
            .prepare_cached(
                "INSERT INTO rooms (name, kind, created_by, created_at) VALUES (?1, 'dm', ?2, ?3)",
            )?
            .execute(params![name, a.0, now_ms()])?;
        let row = RoomRow {
            id: self.conn.last_insert_rowid(),
            last_seq: 0,
        };
        self.rooms.insert(name, row);
        self.add_member(row, a)?;
        self.add_member(row, b)?;
        Ok(row)
    }

    fn mark_read(
        &mut self,
        channel: &Channel,
        user: &AuthUser,
        seq: u64,
    ) -> Result<Result<(Channel, u64), StoreError>, StoreError> {
        let (_, peer, row) = match self.resolve(channel, user)? {
            Ok(resolved) => resolved,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(row) = row else {
            return Ok(Err(match channel {
                Channel::Room(_) => StoreError::NoSuchRoom,
                Channel::Dm(_) => StoreError::BadReadMarker("there are no messages yet"),
            }));
        };
        let current: Option<u64> = self
            .conn
            .prepare_cached(
                "SELECT last_read FROM memberships WHERE user_id = ?1 AND room_id = ?2",
            )?
            .query_row(params![user.id.0, row.id], |r| r.get(0))
            .optional()?;
        let Some(current) = current else {
            return Ok(Err(StoreError::NotInRoom));
        };
        let current = current.max(
            self.dirty_reads
                .get(&(user.id.0, row.id))
                .copied()
                .unwrap_or(0),
        );
        if seq > row.last_seq {
            return Ok(Err(StoreError::BadReadMarker("beyond the latest message")));
        }
        if seq < current {
            return Ok(Err(StoreError::BadReadMarker(
                "behind the current read marker",
            )));
        }
        self.dirty_reads.insert((user.id.0, row.id), seq);
        let channel = match peer {
            Some(peer) => Channel::Dm(peer.name),
            None => channel.clone(),
        };
        Ok(Ok((channel, seq)))
    }

    /// The message `sender` already stored under `client_id`, if any, as the
    /// sender sees it.
    fn stored(
        &mut self,
        sender: &AuthUser,
        client_id: &ClientMsgId,
    ) -> Result<Option<Appended>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT r.name, r.kind, m.seq, m.body, m.ts FROM messages m JOIN rooms r ON r.id = m.room_id
                 WHERE m.sender_id = ?1 AND m.client_id = ?2",
            )?
            .query_row(params![sender.id.0, client_id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u64>(4)?,
                ))
            })
            .optional()?;
        let Some((room, kind, seq, body, ts)) = row else {
            return Ok(None);
        };
        let corrupt = || {
            StoreError::Db(rusqlite::Error::InvalidColumnType(
                0,
                "rooms.name".into(),
                rusqlite::types::Type::Text,
            ))
        };
        let (channel, key) = if kind == "dm" {
            let (a, b) = room
                .strip_prefix('@')
                .and_then(|ids| ids.split_once(':'))
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(corrupt)?;
            let key = ChannelKey::dm(UserId(a), UserId(b));
            let peer_id = key.peer(sender.id).ok_or_else(corrupt)?;
            let peer: String = self
                .conn
                .prepare_cached("SELECT name FROM users WHERE id = ?1")?
                .query_row(params![peer_id.0], |r| r.get(0))?;
            (
                Channel::Dm(Username::parse(&peer).map_err(|_| corrupt())?),
                key,
            )
        } else {
            let room = RoomName::parse(&room).map_err(|_| corrupt())?;
            (Channel::Room(room.clone()), ChannelKey::Room(room))
        };
        Ok(Some(Appended {
            msg: ChatMessage {
                channel,
                seq,
                sender: sender.name.clone(),
                body: MessageBody::parse(&body).map_err(|_| corrupt())?,
                ts,
                client_id: client_id.clone(),
            },
            key,
            dm: None,
            duplicate: true,
        }))
    }

    fn create_poll(
        &mut self,
        room: &RoomName,
        creator: &AuthUser,
        spec: &PollSpec,
        closes_at: Option<u64>,
    ) -> Result<Result<PollInfo, StoreError>, StoreError> {
        let Some(row) = self.room(room.as_str())? else {
            return Ok(Err(StoreError::NoSuchRoom));
        };
        if !self.is_member(creator.id, row.id)? {
            return Ok(Err(StoreError::NotInRoom));
        }
        let options = serde_json::to_string(spec.options())
            .map_err(|e| StoreError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        self.conn
            .prepare_cached(
                "INSERT INTO polls (room_id, creator_id, question, options, closes_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                row.id,
                creator.id.0,
                spec.question(),
                options,
                closes_at,
                now_ms()
            ])?;
        let id = u64::try_from(self.conn.last_insert_rowid()).unwrap_or_default();
        let tally = Tally {
            version: 0,
            counts: vec![0; spec.options().len()],
            voters: 0,
            closed: false,
        };
        self.polls.insert(
            id,
            PollRow {
                room_id: row.id,
                room: room.clone(),
                creator: creator.id.0,
                closes_at,
                tally: tally.clone(),
            },
        );
        Ok(Ok(PollInfo {
            id,
            room: room.clone(),
            creator: creator.name.clone(),
            question: spec.question().to_owned(),
            options: spec.options().to_vec(),
            closes_at,
            tally,
            my_vote: None,
        }))
    }

    /// The poll's cached row, loaded (with exact counts) on first use.
    fn poll(&mut self, id: u64) -> rusqlite::Result<Option<&mut PollRow>> {
        if !self.polls.contains_key(&id) {
            let row = self
                .conn
                .prepare_cached(
                    "SELECT p.room_id, r.name, p.creator_id, p.options, p.closes_at, p.closed, p.version
                     FROM polls p JOIN rooms r ON r.id = p.room_id WHERE p.id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<u64>>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, u64>(6)?,
                    ))
                })
                .optional()?;
            let Some((room_id, room, creator, options, closes_at, closed, version)) = row else {
                return Ok(None);
            };
            let n = serde_json::from_str::<Vec<String>>(&options).map_or(0, |o| o.len());
            let (counts, voters) = super::read::vote_counts(&self.conn, id, n)?;
            let Ok(room) = RoomName::parse(&room) else {
                return Ok(None);
            };
            self.polls.insert(
                id,
                PollRow {
                    room_id,
                    room,
                    creator,
                    closes_at,
                    tally: Tally {
                        version,
                        counts,
                        voters,
                        closed,
                    },
                },
            );
        }
        Ok(self.polls.get_mut(&id))
    }

    fn vote(
        &mut self,
        poll: u64,
        user: UserId,
        option: u32,
    ) -> Result<Result<Voted, StoreError>, StoreError> {
        let now = now_ms();
        let Some(row) = self.poll(poll)? else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let (room_id, room) = (row.room_id, row.room.clone());
        let open = !row.tally.closed && row.closes_at.is_none_or(|t| now < t);
        let options = row.tally.counts.len();
        if !self.is_member(user, room_id)? {
            // Not telling a non-member anything about the poll.
            return Ok(Err(StoreError::NotInRoom));
        }
        if !open {
            return Ok(Err(StoreError::PollClosed));
        }
        let Some(index) = usize::try_from(option).ok().filter(|i| *i < options) else {
            return Ok(Err(StoreError::NoSuchOption));
        };
        let previous: Option<usize> = self
            .conn
            .prepare_cached("SELECT option FROM votes WHERE poll_id = ?1 AND user_id = ?2")?
            .query_row(params![poll, user.0], |r| r.get(0))
            .optional()?;
        let key = ChannelKey::Room(room);
        let Some(row) = self.polls.get_mut(&poll) else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        if previous == Some(index) {
            return Ok(Ok(Voted {
                key,
                tally: row.tally.clone(),
                changed: false,
            }));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO votes (poll_id, user_id, option, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (poll_id, user_id) DO UPDATE SET option = excluded.option,
                                                           updated_at = excluded.updated_at",
            )?
            .execute(params![poll, user.0, index, now])?;
        match previous.and_then(|p| row.tally.counts.get_mut(p)) {
            Some(old) => *old = old.saturating_sub(1),
            None => row.tally.voters += 1,
        }
        if let Some(new) = row.tally.counts.get_mut(index) {
            *new += 1;
        }
        Ok(Ok(changed(row, &mut self.dirty_polls, poll, key)))
    }

    fn close_poll(
        &mut self,
        poll: u64,
        by: Option<UserId>,
    ) -> Result<Result<Voted, StoreError>, StoreError> {
        let Some(row) = self.poll(poll)? else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let (room_id, creator, closed) = (row.room_id, row.creator, row.tally.closed);
        if let Some(user) = by {
            if !self.is_member(user, room_id)? {
                return Ok(Err(StoreError::NotInRoom));
            }
            if user.0 != creator {
                return Ok(Err(StoreError::NotPollCreator));
            }
        }
        let Some(row) = self.polls.get_mut(&poll) else {
            return Ok(Err(StoreError::NoSuchPoll));
        };
        let key = ChannelKey::Room(row.room.clone());
        if closed {
            return Ok(match by {
                Some(_) => Err(StoreError::PollClosed),
                None => Ok(Voted {
                    key,
                    tally: row.tally.clone(),
                    changed: false,
                }),
            });
        }
        row.tally.closed = true;
        Ok(Ok(changed(row, &mut self.dirty_polls, poll, key)))
    }

    /// Membership, cached: every change goes through this writer.
    fn is_member(&mut self, user: UserId, room_id: i64) -> rusqlite::Result<bool> {
        if self.members.contains(&(user.0, room_id)) {
            return Ok(true);
        }
        let member = self
            .conn
            .prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND room_id = ?2")?
            .exists(params![user.0, room_id])?;
        if member {
            self.members.insert((user.0, room_id));
        }
        Ok(member)
    }
}
