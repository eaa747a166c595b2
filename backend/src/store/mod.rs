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
//! The rest of the server sees only [`Store`]'s async methods. Behind them is
//! one of two backends: SQLite ([`sqlite`], the embedded default, one node) or
//! PostgreSQL ([`pg`], several nodes on one database), chosen by
//! [`Database`]. The PostgreSQL backend keeps the same contracts (group
//! commit, publish before ack, resume at one point of the commit order) but
//! caches nothing another node could change.

mod checkpoint;
mod database;
mod migrate;
mod pg;
mod read;
mod sessions;
mod sqlite;
mod types;
mod write;
mod writer;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::Either;
use parley_common::{
    Channel, ClientMsgId, MessageBody, MyRoom, PollInfo, PollSpec, ResumeFrom, RoomInfo, RoomName,
    Username,
};
use prometheus_client::metrics::histogram::Histogram;

use crate::clock::now_ms;

pub use database::Database;
pub use pg::PgError;
pub use types::{
    Appended, AuthUser, ChannelKey, DmParties, HistoryPage, MyConversation, StoredUser, TokenHash,
    UserId, Voted,
};
pub use write::{Attach, missed_frames};
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
    #[error("PostgreSQL: {0}")]
    Pg(#[from] PgError),
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
    backend: Backend,
    sessions: Arc<sessions::SessionCache>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Pg),
}

/// Calls the backend's method of the same name.
macro_rules! on_backend {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

/// A session read from PostgreSQL is read again after this long, so a logout
/// on another node takes effect here even if its revocation never arrives.
const SESSION_RECHECK_MS: u64 = 30_000;

impl Store {
    /// Opens (creating it and its directory if needed) the SQLite database at
    /// `path`, applies pending migrations and starts the writer thread.
    /// Committed messages are handed to `fanout`.
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
        let (backend, sessions) = sqlite::Sqlite::open(path, fanout, queues, commit_seconds)?;
        Ok(Self {
            backend: Backend::Sqlite(backend),
            sessions: Arc::new(sessions),
        })
    }

    /// Opens `database`, SQLite or PostgreSQL: migrates it (on PostgreSQL one
    /// node at a time) and starts the writer.
    pub async fn connect(
        database: &Database,
        fanout: Arc<dyn Fanout>,
        queues: QueueLimits,
        commit_seconds: Histogram,
    ) -> Result<Self, StoreError> {
        match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    Self::open_with(&path, fanout, queues, commit_seconds)
                })
                .await
                .map_err(|_| StoreError::Closed)?
            }
            Database::Postgres(url) => Ok(Self {
                backend: Backend::Postgres(
                    pg::Pg::connect(url, fanout, queues, commit_seconds).await?,
                ),
                sessions: Arc::new(sessions::SessionCache::default()),
            }),
        }
    }

    /// The SQLite file, if this store is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(b) => Some(&b.path),
            Backend::Postgres(_) => None,
        }
    }

    /// The secret a cluster's nodes share through their database (PostgreSQL
    /// only; one SQLite node has nobody to share with).
    pub async fn cluster_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(b) => b.cluster_secret().await.map(Some),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The writer's counters (commits, requests per commit, commit time).
    pub fn stats(&self) -> &Stats {
        match &self.backend {
            Backend::Sqlite(b) => &b.writer.stats,
            Backend::Postgres(b) => b.stats(),
        }
    }

    /// Requests waiting in the writer's queue and in the readers' queue.
    pub fn queued(&self) -> (usize, usize) {
        match &self.backend {
            Backend::Sqlite(b) => (b.writer.queued(), b.reads.queued()),
            Backend::Postgres(b) => b.queued(),
        }
    }

    /// Queries refused with [`StoreError::Busy`] so far.
    pub fn reads_refused(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(b) => b.reads.refused(),
            Backend::Postgres(b) => b.reads_refused(),
        }
    }

    // ---- accounts and sessions ----

    /// Creates an account (and puts it in the lobby).
    pub async fn create_user(
        &self,
        name: Username,
        password_hash: String,
    ) -> Result<UserId, StoreError> {
        on_backend!(self.create_user(name, password_hash))
    }

    /// Stores a new session of `user`; it is valid once this returns.
    pub async fn create_session(
        &self,
        token: TokenHash,
        user: &AuthUser,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        on_backend!(self.create_session(token, user.id, expires_at))?;
        let recheck = self.is_postgres().then_some(SESSION_RECHECK_MS);
        self.sessions
            .insert(token, user.clone(), expires_at, now_ms(), recheck);
        Ok(())
    }

    /// Ends a session: it stops working at once (on this node; other nodes
    /// are told by the cluster layer, see [`Store::forget_session`]), and its
    /// row is deleted.
    pub async fn delete_session(&self, token: TokenHash) -> Result<(), StoreError> {
        self.sessions.remove(&token);
        on_backend!(self.delete_session(token))
    }

    /// Drops this node's cached copy of a session (another node revoked it).
    pub fn forget_session(&self, token: &TokenHash) {
        self.sessions.remove(token);
    }

    pub async fn user_by_name(&self, name: &Username) -> Result<Option<StoredUser>, StoreError> {
        on_backend!(self.user_by_name(name))
    }

    /// The user of a session that exists and has not expired. On SQLite from
    /// memory only (see [`sessions`]); on PostgreSQL a miss (a session made on
    /// another node) or an entry read more than 30 s ago is read from the
    /// database.
    pub async fn session_user(
        &self,
        token: &TokenHash,
        now_ms: u64,
    ) -> Result<Option<AuthUser>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(self.sessions.user(token, now_ms)),
            Backend::Postgres(pg) => {
                if let Some(user) = self.sessions.user(token, now_ms) {
                    return Ok(Some(user));
                }
                match pg.session(token, now_ms).await? {
                    Some((user, expires_at)) => {
                        self.sessions.insert(
                            *token,
                            user.clone(),
                            expires_at,
                            now_ms,
                            Some(SESSION_RECHECK_MS),
                        );
                        Ok(Some(user))
                    }
                    None => {
                        self.sessions.remove(token);
                        Ok(None)
                    }
                }
            }
        }
    }

    // ---- rooms ----

    /// Creates a room and makes `creator` its first member.
    pub async fn create_room(&self, room: RoomName, creator: UserId) -> Result<(), StoreError> {
        on_backend!(self.create_room(room, creator))
    }

    /// Makes `user` a member of an existing room; returns its latest sequence number.
    pub async fn join(&self, room: RoomName, user: UserId) -> Result<u64, StoreError> {
        on_backend!(self.join(room, user))
    }

    pub async fn leave(&self, room: RoomName, user: UserId) -> Result<(), StoreError> {
        on_backend!(self.leave(room, user))
    }

    /// The user's rooms and private conversations at once (what `welcome` lists):
    /// one trip to the read pool instead of two on every connect.
    pub async fn rooms_and_conversations(
        &self,
        user: UserId,
    ) -> Result<(Vec<MyRoom>, Vec<MyConversation>), StoreError> {
        on_backend!(self.rooms_and_conversations(user))
    }

    /// Moves the user's read marker in `channel` forward to `seq`.
    pub async fn mark_read(
        &self,
        channel: Channel,
        user: AuthUser,
        seq: u64,
    ) -> Result<(Channel, u64), StoreError> {
        on_backend!(self.mark_read(channel, user, seq))
    }

    pub async fn room_list(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError> {
        on_backend!(self.room_list(user))
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
        match &self.backend {
            Backend::Sqlite(b) => Either::Left(b.append(channel, sender, client_id, body).await),
            Backend::Postgres(b) => Either::Right(b.append(channel, sender, client_id, body).await),
        }
    }

    /// Replays what a reconnecting `user` missed in each channel since `from`, and
    /// runs `attach` with the frames to send (`missed`, `too_far_behind`) at one
    /// point in the commit order: every message committed before it is in the
    /// replay, every later one is published after `attach` returns. So if `attach`
    /// queues the frames and then registers the connection with the hub, the
    /// client sees each channel's messages exactly once, in order, with no gap.
    /// (On PostgreSQL: this node's commit order; what other nodes commit reaches
    /// the hub through the cluster layer.)
    pub async fn resume(
        &self,
        user: AuthUser,
        from: Vec<ResumeFrom>,
        attach: Attach,
    ) -> Result<(), StoreError> {
        on_backend!(self.resume(user, from, attach))
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
        on_backend!(self.history(channel, user, before, limit))
    }

    /// Each channel's latest sequence number (rooms and conversations; channels
    /// with no row yet are left out). For the cluster layer's head checks.
    pub async fn heads(&self, keys: Vec<ChannelKey>) -> Result<Vec<(ChannelKey, u64)>, StoreError> {
        on_backend!(self.heads(keys))
    }

    /// The messages of `key` with `after < seq <= upto`, in seq order, each as
    /// the writer handed it to [`Fanout::publish`] (`duplicate: false`). For the
    /// cluster layer to fill a gap.
    pub async fn published(
        &self,
        key: ChannelKey,
        after: u64,
        upto: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        on_backend!(self.published(key, after, upto))
    }

    // ---- polls ----

    pub async fn create_poll(
        &self,
        room: RoomName,
        creator: AuthUser,
        spec: PollSpec,
        closes_at: Option<u64>,
    ) -> Result<PollInfo, StoreError> {
        on_backend!(self.create_poll(room, creator, spec, closes_at))
    }

    /// Records `user`'s vote (replacing an earlier one); the new tally goes to the
    /// fan-out after the commit.
    pub async fn vote(&self, poll: u64, user: UserId, option: u32) -> Result<Voted, StoreError> {
        on_backend!(self.vote(poll, user, option))
    }

    /// Closes a poll: by its creator, or (`by: None`) because its time is up.
    pub async fn close_poll(&self, poll: u64, by: Option<UserId>) -> Result<Voted, StoreError> {
        on_backend!(self.close_poll(poll, by))
    }

    /// A poll as `user` sees it (their vote included); they must be in its room.
    pub async fn poll(&self, poll: u64, user: UserId) -> Result<PollInfo, StoreError> {
        on_backend!(self.poll(poll, user))
    }

    /// The polls of a room `user` is in, newest first.
    pub async fn polls(&self, room: RoomName, user: UserId) -> Result<Vec<PollInfo>, StoreError> {
        on_backend!(self.polls(room, user))
    }

    /// Open polls with a closing time: (poll, closes_at).
    pub async fn poll_deadlines(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        on_backend!(self.poll_deadlines())
    }

    /// Stops the writer after it has committed everything submitted so far, and
    /// waits for it.
    pub async fn close(&self) {
        on_backend!(self.close())
    }
}
