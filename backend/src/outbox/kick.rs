//! The kick (close a connection, and why) and the one waker of its writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use super::CloseReason;

/// What wakes the one task that drains a connection's queue (a WebSocket's
/// writer, or the long-poll request waiting at the time), and why.
///
/// One waker, not a `Notify` or a `CancellationToken` per reason: a broadcast to
/// a big room wakes thousands of writers, and each wake-up used to poll three
/// cancellation tokens and a `Notify` (a mutex each, twice per delivery); this
/// is a few atomic operations. The waiter registers first and then checks the
/// flags and the queue, so a wake-up in between is never lost.
#[derive(Debug, Default)]
pub(super) struct Signals {
    pub(super) waker: AtomicWaker,
    /// Why the connection was kicked (the first reason wins).
    pub(super) reason: OnceLock<CloseReason>,
    /// The WebSocket's reader has finished.
    pub(super) reader_done: AtomicBool,
    /// A state frame is waiting in [`States`](super::States).
    pub(super) states_pending: AtomicBool,
}

/// The signal that a connection must be closed, and why (the first reason wins).
/// Long-polling's tasks (the session task and a waiting request at once) wait
/// on the token; a WebSocket's writer on
/// [`OutboxReceiver::next_event`](super::OutboxReceiver::next_event).
#[derive(Clone, Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    pub(super) signals: Arc<Signals>,
}

impl Kick {
    pub fn kick(&self, reason: CloseReason) {
        let _ = self.signals.reason.set(reason);
        self.token.cancel();
        self.signals.waker.wake();
    }

    pub fn is_kicked(&self) -> bool {
        self.signals.reason.get().is_some()
    }

    /// Why the connection was kicked, once it was.
    pub fn reason(&self) -> Option<CloseReason> {
        self.signals.reason.get().copied()
    }

    /// Completes once the connection is kicked, with the reason.
    pub async fn kicked(&self) -> CloseReason {
        self.token.cancelled().await;
        self.reason().unwrap_or(CloseReason::SLOW_CONSUMER)
    }

    /// Ready with the reason once the connection is kicked; registers the
    /// calling task's waker (the WebSocket writer's, racing a write against a
    /// kick) like [`OutboxReceiver::next_event`](super::OutboxReceiver::next_event),
    /// without a token's waiter list.
    pub fn poll_kicked(&self, cx: &mut std::task::Context<'_>) -> Poll<CloseReason> {
        self.signals.waker.register(cx.waker());
        self.signals
            .reason
            .get()
            .map_or(Poll::Pending, |reason| Poll::Ready(*reason))
    }

    /// Tells the WebSocket's writer that its reader has finished.
    pub fn reader_done(&self) {
        self.signals.reader_done.store(true, Ordering::Release);
        self.signals.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use crate::outbox::{CloseReason, Outbox};

    #[tokio::test]
    async fn the_first_kick_reason_wins() {
        let (outbox, rx) = Outbox::new(1);
        outbox.kick(CloseReason::LOGGED_OUT);
        outbox.kick(CloseReason::SLOW_CONSUMER);
        assert_eq!(rx.kick.kicked().await, CloseReason::LOGGED_OUT);
    }
}
