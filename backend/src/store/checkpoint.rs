//! WAL checkpoints on their own thread, so the writer never stops for one.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that pushes the WAL
//! past 1,000 pages: that commit (and the broadcast and acks waiting behind it)
//! then also copies every page the log holds into the database file and fsyncs
//! it. Under steady chat traffic that is a periodic stall of every room at once.
//! Here the writer's connection has a WAL hook instead ([`watch`]), which
//! notes the log's size after each commit, and the writer asks this thread for
//! a checkpoint every [`COMMITS_PER_CHECKPOINT`] commits, or sooner when big
//! batches take the log past [`MAX_WAL_PAGES`]. The thread runs a `PASSIVE`
//! checkpoint on its own connection: it copies what it can without blocking the
//! writer or any reader, and the writer goes on committing to the log meanwhile
//! (SQLite starts the log over once a checkpoint has copied all of it). When the
//! last connection closes, SQLite checkpoints the rest.
//!
//! Asking on every commit once the log is past 1,000 pages was tried: under
//! steady traffic the checkpoint then chased the writer (the log only starts
//! over once a checkpoint has caught up), back to back, for more CPU and worse
//! latency than asking every few hundred commits.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::writer::Stats;

/// Commits between two checkpoint requests: a few pages each under chat
/// traffic, so about the 1,000 pages at which SQLite would have checkpointed.
pub const COMMITS_PER_CHECKPOINT: u64 = 256;

/// The log's size (in pages, 4 KiB each) past which a checkpoint is asked for
/// at once: batches of hundreds of messages would otherwise grow it by hundreds
/// of megabytes between two requests.
pub const MAX_WAL_PAGES: usize = 4000;

thread_local! {
    /// Pages in the log after the last commit on this thread's connection (the
    /// hook runs inside `COMMIT`, on the committing thread: the writer's).
    static WAL_PAGES: Cell<usize> = const { Cell::new(0) };
}

fn note_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(usize::try_from(pages).unwrap_or(0));
    Ok(())
}

/// Replaces SQLite's automatic checkpoint on `conn` (a WAL hook replaces it)
/// with a note of the log's size for [`wal_pages`].
pub fn watch(conn: &Connection) {
    conn.wal_hook(Some(note_pages));
}

/// Pages in the log after this thread's last commit on a watched connection.
pub fn wal_pages() -> usize {
    WAL_PAGES.get()
}

/// Asks the checkpoint thread for a checkpoint; dropping it ends the thread.
#[derive(Debug)]
pub struct Checkpointer {
    requests: mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Opens the thread's own connection to `path` and starts it.
    pub fn spawn(path: &Path, stats: Arc<Stats>) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // One request waiting is enough: more would ask for the same work.
        let (requests, pending) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("parley-checkpoint".into())
            .spawn(move || {
                while pending.recv().is_ok() {
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                    });
                    match result {
                        Ok((log, copied)) => {
                            stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                            tracing::trace!(log, copied, "checkpointed the WAL");
                        }
                        Err(err) => tracing::warn!(%err, "WAL checkpoint failed"),
                    }
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self { requests })
    }

    /// Asks for a checkpoint; returns at once (one already waiting covers it).
    pub fn request(&self) {
        let _ = self.requests.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::store::writer::open_connection;

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    #[test]
    fn the_writer_never_checkpoints_and_the_thread_does_when_asked() {
        WAL_PAGES.set(0);
        let dir = std::env::temp_dir().join(format!("parley-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let wal = dir.join("t.db-wal");
        let conn = open_connection(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        // 1,500 commits of a page each: past the 1,000 pages at which SQLite
        // would have checkpointed inside a commit (and reused the log).
        for _ in 0..1500 {
            conn.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
        }
        let page = 4096;
        assert!(
            file_len(&wal) > 1400 * page,
            "the writer checkpointed by itself"
        );
        let before = file_len(&db);

        let stats = Arc::new(Stats::default());
        let checkpointer = Checkpointer::spawn(&db, Arc::clone(&stats)).unwrap();
        checkpointer.request();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.checkpoints.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "no checkpoint within 10 s");
            std::thread::yield_now();
        }
        // The log's pages are in the database file now.
        assert!(file_len(&db) > before + 1400 * page);
        drop((checkpointer, conn));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
