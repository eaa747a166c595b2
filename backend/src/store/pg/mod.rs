//! The PostgreSQL backend of [`Store`](super::Store), for several nodes on one
//! database.
//!
//! Messages, votes, poll closes and resumes go through one writer task per
//! node ([`writer`]): appends are batched into one transaction (one commit's
//! fsync for many messages, the room's counter row locked once per batch),
//! published in commit order, then acknowledged. Everything else runs as short
//! statements or transactions on the connection pool ([`write`], [`read`]).
//! Nothing another node can change (a room's latest seq, memberships, poll
//! counts) is cached: each batch reads it under the row's lock.

mod append;
mod migrate;
mod polls;
mod read;
mod resume;
mod write;
mod writer;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tokio_postgres::NoTls;

use super::{Fanout, QueueLimits, Stats, StoreError};

/// Connections in each node's pool (the writer task takes one of them).
const POOL_SIZE: usize = 16;

/// A PostgreSQL failure: reported to clients as `internal`, logged in full.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("{0}")]
    Other(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(PgError::Db(e))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Pg(PgError::Pool(e))
    }
}

/// A stored value that does not read back as what was written.
pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Pg(PgError::Other(format!("unexpected stored value: {what}")))
}

/// Numbers are `BIGINT` in the database and `u64` in the server.
pub(super) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Cheap, cloneable handle to the PostgreSQL backend.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    reads: Arc<Reads>,
    writer: writer::Handle,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").finish_non_exhaustive()
    }
}

/// The bound on queries in flight: beyond it, `Busy` at once.
struct Reads {
    permits: Semaphore,
    limit: usize,
    refused: AtomicU64,
}

impl Pg {
    /// Migrates the database at `url` (one node at a time) and starts the
    /// writer task.
    pub async fn connect(
        url: &str,
        fanout: Arc<dyn Fanout>,
        queues: QueueLimits,
        commit_seconds: Histogram,
    ) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(PgError::Db)?;
        migrate::apply(&config).await?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| PgError::Other(e.to_string()))?;
        // A first connection now, so a wrong URL fails the start, not a request.
        drop(pool.get().await?);
        // Queries beyond the pool's connections wait; beyond `reads` more, refused.
        let limit = queues.reads.max(1) + POOL_SIZE;
        let reads = Arc::new(Reads {
            permits: Semaphore::new(limit),
            limit,
            refused: AtomicU64::new(0),
        });
        let writer = writer::spawn(pool.clone(), fanout, queues.writes, commit_seconds);
        Ok(Self {
            pool,
            reads,
            writer,
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.writer.stats
    }

    /// (write requests queued for the writer task, queries waiting for a connection)
    pub fn queued(&self) -> (usize, usize) {
        let in_flight = self.reads.limit - self.reads.permits.available_permits();
        (self.writer.queued(), in_flight.saturating_sub(POOL_SIZE))
    }

    pub fn reads_refused(&self) -> u64 {
        self.reads.refused.load(Ordering::Relaxed)
    }

    /// A pooled connection for a query, within the read bound.
    pub(super) async fn reader(&self) -> Result<(SemaphorePermit<'_>, Object), StoreError> {
        let Ok(permit) = self.reads.permits.try_acquire() else {
            self.reads.refused.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Busy);
        };
        Ok((permit, self.pool.get().await?))
    }

    /// A pooled connection for a write that runs outside the writer task.
    pub(super) async fn conn(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    async fn to_writer<T: Send + 'static>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> writer::Job,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.submit(job(tx)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn append(
        &self,
        channel: parley_common::Channel,
        sender: super::AuthUser,
        client_id: parley_common::ClientMsgId,
        body: parley_common::MessageBody,
    ) -> impl Future<Output = Result<super::Appended, StoreError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let submitted = self
            .writer
            .submit(writer::Job::Append(append::Request {
                channel,
                sender,
                client_id,
                body,
                reply,
            }))
            .await;
        async move {
            submitted?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
    }

    pub async fn resume(
        &self,
        user: super::AuthUser,
        from: Vec<parley_common::ResumeFrom>,
        attach: super::Attach,
    ) -> Result<(), StoreError> {
        self.to_writer(|reply| writer::Job::Resume {
            user,
            from,
            attach,
            reply,
        })
        .await
    }

    pub async fn vote(
        &self,
        poll: u64,
        user: super::UserId,
        option: u32,
    ) -> Result<super::Voted, StoreError> {
        self.to_writer(|reply| writer::Job::Vote {
            poll,
            user,
            option,
            reply,
        })
        .await
    }

    pub async fn close_poll(
        &self,
        poll: u64,
        by: Option<super::UserId>,
    ) -> Result<super::Voted, StoreError> {
        self.to_writer(|reply| writer::Job::ClosePoll { poll, by, reply })
            .await
    }

    /// Stops the writer task after what was submitted so far.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close();
    }
}

/// The channel sender for a writer job's answer.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;
