//! Durable storage in SQLite: accounts, sessions, rooms, memberships, messages,
//! read markers and polls.
//!
//! Writes go through one writer thread ([`writer`]) that batches whatever is
//! waiting into one transaction (group commit: one fsync serves many messages)
//! and hands committed messages to the [`Fanout`] in commit order *before*
//! answering the callers — so an ack always means "stored", and every member
//! sees a room's messages in sequence order. What each request writes (and so
//! where a room's sequence numbers are assigned) is in [`write`], one file per
//! kind of data. Reads run on a small pool of read-only connections ([`read`],
//! again one file per kind of data); WAL mode lets them proceed while the writer
//! commits.
//!
//! The rest of the server sees only [`Store`]'s async methods, so moving to
//! PostgreSQL (DESIGN.md, "Growing past one machine") replaces this module, not its
//! callers.

mod checkpoint;
mod migrate;
mod read;
mod sessions;
mod stub_cluster;
mod types;
mod write;
mod writer;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley_common::{
    Channel, ClientMsgId, MessageBody, MyRoom, PollInfo, PollSpec, ResumeFrom, RoomInfo, RoomName,
    Username,
};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

use crate::clock::now_ms;

pub use types::{
    Appended, AuthUser, ChannelKey, DmParties, HistoryPage, MyConversation, StoredUser, TokenHash,
    UserId, Voted,
};
pub use write::Attach;
pub use writer::{Fanout, Stats};

/// What can go wrong with a store request. The first group are answers about the
/// data; `Db` and `Closed` are failures, logged and reported as `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("user name is taken")]
    NameTaken,
    #[error("room exists")]
    RoomExists,
    #[error("no such room")]
    NoSuchRoom,
    #[error("not a member of the room")]
    NotInRoom,
    #[error("no such user")]
    UnknownUser,
    #[error("cannot message yourself")]
    CannotMessageSelf,
    #[error("bad read marker: {0}")]
    BadReadMarker(&'static str),
    #[error("no such poll")]
    NoSuchPoll,
    #[error("the poll is closed")]
    PollClosed,
    #[error("no such option")]
    NoSuchOption,
    #[error("not the poll's creator")]
    NotPollCreator,
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the store is shut down")]
    Closed,
    #[error("the write could not be committed")]
    Aborted,
    /// The readers' queue is full: refused at once rather than queued.
    #[error("the server is busy")]
    Busy,
}

/// Bounds on the store's request queues (DESIGN.md rule 4).
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Write requests waiting for the writer thread; when full, callers wait
    /// for room (back-pressure).
    pub writes: usize,
    /// Queries waiting for a read thread; when full, more are refused with
    /// [`StoreError::Busy`].
    pub reads: usize,
}

impl QueueLimits {
    pub const DEFAULT_WRITES: usize = 4096;
    pub const DEFAULT_READS: usize = 1024;
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            writes: Self::DEFAULT_WRITES,
            reads: Self::DEFAULT_READS,
        }
    }
}

/// Cheap, cloneable handle to the store.
#[derive(Clone, Debug)]
pub struct Store {
    writer: writer::Handle,
    reads: Arc<read::Pool>,
    sessions: Arc<sessions::SessionCache>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its directory if needed) the database at `path`,
    /// applies pending migrations and starts the writer thread. Committed messages
    /// are handed to `fanout`.
    pub fn open(path: &Path, fanout: Arc<dyn Fanout>) -> Result<Self, StoreError> {
        // No `/metrics` reads this store's commit latency: observed, never scraped.
        let unread = crate::metrics::commit_seconds();
        Self::open_with(path, fanout, QueueLimits::default(), unread)
    }

    /// [`Store::open`] with the given bounds on the writer's and the readers'
    /// queues, observing each commit's duration (seconds) in `commit_seconds`.
    pub fn open_with(
        path: &Path,
        fanout: Arc<dyn Fanout>,
        queues: QueueLimits,
        commit_seconds: Histogram,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            })?;
        }
        let mut conn = writer::open_connection(path)?;
        migrate::apply(&mut conn)?;
        let sessions = Arc::new(sessions::SessionCache::load(&conn, now_ms())?);
        tracing::debug!(sessions = sessions.len(), "live sessions loaded");
        // One read thread per core (2 to 8): more only switch between each other.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let reads = Arc::new(read::Pool::open(path, threads, queues.reads)?);
        let writer = writer::spawn(conn, path, fanout, queues.writes, commit_seconds)?;
        Ok(Self {
            writer,
            reads,
            sessions,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's counters (commits, requests per commit, commit time).
    pub fn stats(&self) -> &Stats {
        &self.writer.stats
    }

    /// Requests waiting in the writer's queue and in the readers' queue.
    pub fn queued(&self) -> (usize, usize) {
        (self.writer.queued(), self.reads.queued())
    }

    /// Queries refused with [`StoreError::Busy`] so far.
    pub fn reads_refused(&self) -> u64 {
        self.reads.refused()
    }

    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> write::Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.submit(op(tx)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    // ---- accounts and sessions ----

    /// Creates an account (and puts it in the lobby).
    pub async fn create_user(
        &self,
        name: Username,
        password_hash: String,
    ) -> Result<UserId, StoreError> {
        self.write(|reply| write::Op::CreateUser {
            name,
            password_hash,
            reply,
        })
        .await
    }

    /// Stores a new session of `user`; it is valid once this returns.
    pub async fn create_session(
        &self,
        token: TokenHash,
        user: &AuthUser,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let id = user.id;
        self.write(|reply| write::Op::CreateSession {
            token,
            user: id,
            expires_at,
            reply,
        })
        .await?;
        self.sessions
            .insert(token, user.clone(), expires_at, now_ms());
        Ok(())
    }

    /// Ends a session: it stops working at once, and its row is deleted.
    pub async fn delete_session(&self, token: TokenHash) -> Result<(), StoreError> {
        self.sessions.remove(&token);
        self.write(|reply| write::Op::DeleteSession { token, reply })
            .await
    }

    pub async fn user_by_name(&self, name: &Username) -> Result<Option<StoredUser>, StoreError> {
        let key = name.key();
        self.reads
            .run(move |c| read::accounts::user_by_name(c, &key))
            .await
    }

    /// The user of a session that exists and has not expired (from memory: see
    /// [`sessions`]).
    pub fn session_user(&self, token: &TokenHash, now_ms: u64) -> Option<AuthUser> {
        self.sessions.user(token, now_ms)
    }

    // ---- rooms ----

    /// Creates a room and makes `creator` its first member.
    pub async fn create_room(&self, room: RoomName, creator: UserId) -> Result<(), StoreError> {
        self.write(|reply| write::Op::CreateRoom {
            room,
            creator,
            reply,
        })
        .await
    }

    /// Makes `user` a member of an existing room; returns its latest sequence number.
    pub async fn join(&self, room: RoomName, user: UserId) -> Result<u64, StoreError> {
        self.write(|reply| write::Op::Join { room, user, reply })
            .await
    }

    pub async fn leave(&self, room: RoomName, user: UserId) -> Result<(), StoreError> {
        self.write(|reply| write::Op::Leave { room, user, reply })
            .await
    }

    /// The user's rooms and private conversations at once (what `welcome` lists):
    /// one trip to the read pool instead of two on every connect.
    pub async fn rooms_and_conversations(
        &self,
        user: UserId,
    ) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
        self.reads
            .run(move |c| read::rooms::rooms_and_conversations(c, user))
            .await
    }

    /// Moves the user's read marker in `channel` forward to `seq`.
    pub async fn mark_read(
        &self,
        channel: Channel,
        user: AuthUser,
        seq: u64,
    ) -> Result<(Channel, u64), StoreError> {
        self.write(|reply| write::Op::MarkRead {
            channel,
            user,
            seq,
            reply,
        })
        .await
    }

    pub async fn room_list(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        self.reads
            .run(move |c| read::rooms::room_list(c, user))
            .await
    }

    // ---- messages ----

    /// Stores a message from `sender` (who must be a member of `room`), assigning
    /// the room's next sequence number. This waits only until the request is in
    /// the writer's queue (at once, unless the queue is full: back-pressure), so
    /// one caller's requests keep their order; the returned future completes
    /// after the commit, once the message has been handed to the fan-out.
    /// Callers may keep several in flight: that is what lets one commit carry many.
    pub async fn append(
        &self,
        channel: Channel,
        sender: AuthUser,
        client_id: ClientMsgId,
        body: MessageBody,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let submitted = self
            .writer
            .submit(write::Op::Append {
                channel,
                sender,
                client_id,
                body,
                reply,
            })
            .await;
        async move {
            submitted?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    /// Replays what a reconnecting `user` missed in each channel since `from`, and
    /// runs `attach` with the frames to send (`missed`, `too_far_behind`) at one
    /// point in the commit order: every message committed before it is in the
    /// replay, every later one is published after `attach` returns. So if `attach`
    /// queues the frames and then registers the connection with the hub, the
    /// client sees each channel's messages exactly once, in order, with no gap.
    pub async fn resume(
        &self,
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .submit(write::Op::Resume {
                user,
                from,
                attach,
                reply,
            })
            .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The page of up to `limit` messages before `before` (the latest page when
    /// `None`) of a room `user` is in, or of their conversation with a user.
    pub async fn history(
        &self,
        channel: Channel,
        user: UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        self.reads
            .run(move |c| read::messages::history(c, &channel, user, before, limit))
            .await
    }

    // ---- polls ----

    pub async fn create_poll(
        &self,
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
    ) -> Result<PollInfo, StoreError> {
        self.write(|reply| write::Op::CreatePoll {
            room,
            creator,
            spec,
            closes_at,
            reply,
        })
        .await
    }

    /// Records `user`'s vote (replacing an earlier one); the new tally goes to the
    /// fan-out after the commit.
    pub async fn vote(&self, poll: u64, user: UserId, option: u32) -> Result<Voted, StoreError> {
        self.write(|reply| write::Op::Vote {
            poll,
            user,
            option,
            reply,
        })
        .await
    }

    /// Closes a poll: by its creator, or (`by: None`) because its time is up.
    pub async fn close_poll(&self, poll: u64, by: Option<UserId>) -> Result<Voted, StoreError> {
        self.write(|reply| write::Op::ClosePoll { poll, by, reply })
            .await
    }

    /// A poll as `user` sees it (their vote included); they must be in its room.
    pub async fn poll(&self, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
        self.reads
            .run(move |c| read::polls::poll(c, poll, user))
            .await
    }

    /// The polls of a room `user` is in, newest first.
    pub async fn polls(&self, room: RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
        self.reads
            .run(move |c| read::polls::polls(c, &room, user))
            .await
    }

    /// Open polls with a closing time: (poll, closes_at).
    pub async fn poll_deadlines(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        self.reads.run(read::polls::poll_deadlines).await
    }

    /// Stops the writer after it has committed everything submitted so far, and
    /// waits for it.
    pub async fn close(&self) {
        self.writer.close().await;
    }
}
