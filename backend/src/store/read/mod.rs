//! Queries, on a small pool of threads with read-only connections; one file
//! per kind of data read.

pub mod accounts;
pub mod messages;
pub mod polls;
pub mod rooms;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::StoreError;

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

#[cfg(test)]
mod tests {
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
}
