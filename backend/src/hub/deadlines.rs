//! Closing polls on time: one timer per open poll with a closing time, set when
//! the poll is created or the server starts.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Closes `poll` at `closes_at` (ms since the Unix epoch), unless the server
/// stops first (then the next start schedules it again).
pub fn close_at(store: Store, shutdown: CancellationToken, poll: u64, closes_at: u64) {
    let wait = Duration::from_millis(closes_at.saturating_sub(crate::clock::now_ms()));
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                if let Err(err) = store.close_poll(poll, None).await {
                    tracing::error!(poll, %err, "could not close a poll on time");
                }
            }
            () = shutdown.cancelled() => {}
        }
    });
}

/// Schedules the closing of every open poll that has a closing time.
pub async fn schedule_deadlines(store: &Store, shutdown: &CancellationToken) {
    match store.poll_deadlines().await {
        Ok(deadlines) => {
            for (poll, at) in deadlines {
                close_at(store.clone(), shutdown.clone(), poll, at);
            }
        }
        Err(err) => tracing::error!(%err, "could not read poll deadlines"),
    }
}
