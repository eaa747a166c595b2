//! The single writer thread: one connection, group commit, commit-order
//! publishing. What each request writes is in [`super::write`]; this file only
//! batches, commits and publishes.
//!
//! Requests queue on a bounded channel ([`QueueLimits::writes`](super::QueueLimits)
//! requests): when it is full, callers wait for room (an async wait), so under
//! overload acks slow down and sessions stop reading their sockets instead of
//! memory growing. The thread takes the first, then everything else already
//! waiting (up to [`MAX_BATCH`]), runs them all in one transaction and commits
//! once — with `synchronous = FULL` that is one fsync for the whole batch. Only
//! then are committed messages handed to the fan-out (in commit order) and the
//! callers answered. A failed commit answers every request of the batch with the
//! error and forgets the cached sequence numbers, which are re-read from the
//! database. Every few hundred commits the checkpoint thread is asked to copy
//! the WAL into the database file ([`super::checkpoint`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parley_common::{ChatMessage, Tally};
use prometheus_client::metrics::histogram::Histogram;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, COMMITS_PER_CHECKPOINT, Checkpointer, MAX_WAL_PAGES};
use super::write::{Op, Publish, Tables};
use super::{ChannelKey, DmParties, StoreError};

/// Most requests committed together.
const MAX_BATCH: usize = 1024;

/// Receives committed messages, in commit order, from the writer thread. Must not
/// block: it runs between commits.
pub trait Fanout: Send + Sync + std::fmt::Debug {
    /// `msg` is as its sender sees it; `dm` is set for private messages.
    fn publish(&self, key: &ChannelKey, msg: &ChatMessage, dm: Option<&DmParties>);
    /// Poll `poll` in `key` has a new tally.
    fn tally(&self, key: &ChannelKey, poll: u64, tally: &Tally);
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
    commit_seconds: Histogram,
) -> Result<Handle, StoreError> {
    let (tx, mut rx) = mpsc::channel(queue.max(1));
    let stats = Arc::new(Stats::default());
    let writer = Writer {
        tables: Tables::new(conn),
        checkpoints: Checkpointer::spawn(path, Arc::clone(&stats))?,
        commits_since_checkpoint: 0,
        fanout,
        stats: Arc::clone(&stats),
        commit_seconds,
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

struct Writer {
    /// The connection and the caches of what it wrote.
    tables: Tables,
    checkpoints: Checkpointer,
    commits_since_checkpoint: u64,
    fanout: Arc<dyn Fanout>,
    stats: Arc<Stats>,
    commit_seconds: Histogram,
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
        if let Err((_, err)) = self.tables.conn.close() {
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
            self.tables.conn.execute_batch("BEGIN IMMEDIATE")?;
            for op in batch.drain(..) {
                done.push(self.tables.apply(op)?);
            }
            self.tables.flush()?;
            self.tables.conn.execute_batch("COMMIT")?;
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
                self.commit_seconds.observe(micros as f64 / 1e6);
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
                            (attach.0)(self.tables.replay(targets));
                        }
                        None => {}
                    }
                }
                done.into_iter().for_each(|d| (d.answer)(true));
                tracing::trace!(size, elapsed = ?started.elapsed(), "committed batch");
            }
            Err(err) => {
                tracing::error!(%err, size, "store batch failed; rolled back");
                let _ = self.tables.conn.execute_batch("ROLLBACK");
                self.tables.forget();
                // Requests never reached were dropped with `batch`; their callers
                // see `Closed`. The ones applied get the error.
                batch.clear();
                done.into_iter().for_each(|d| (d.answer)(false));
            }
        }
    }
}
