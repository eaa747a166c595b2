//! A connection's bounded outbox: the only way the rest of the server talks to a
//! connection.
//!
//! Senders never wait: they `try_send` an already-serialized frame. When the outbox
//! is full the connection is too slow to keep up, and it is *kicked*: its writer
//! closes the socket with [`close::SLOW_CONSUMER`](parley_common::close) and the
//! client recovers by reconnecting. So a slow client never slows anyone else
//! (DESIGN.md rule 4: chat messages must be delivered, so they are never dropped
//! silently).
//!
//! The pieces, one file each: the bounded frame queue (`queue`), the kick and
//! the writer's waker (`kick`), the state-frame slots (`states`) and the
//! writer's end with its batching wait (`receiver`).

mod kick;
mod queue;
mod receiver;
mod states;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::Utf8Bytes;

use crate::metrics::Metrics;

pub use kick::Kick;
pub use queue::{Empty, FrameReceiver};
pub use receiver::{OutboxReceiver, WriterEvent};
pub use states::States;

use queue::{FrameSender, TrySend, queue};

/// One encoded server message. Cloning shares the bytes, so one broadcast is
/// serialized once for all its recipients.
pub type Frame = Utf8Bytes;

/// How many frames may wait for a connection before it counts as a slow consumer.
pub const OUTBOX_CAPACITY: usize = 256;

/// Why the server ends a connection: the protocol's one list of close codes
/// and reasons.
pub use parley_common::close::CloseReason;

/// The sending half of a connection's outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: FrameSender,
    kick: Kick,
    states: Arc<States>,
    metrics: Arc<Metrics>,
}

/// What happened to a frame handed to [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The outbox was full: the connection has been kicked.
    Kicked,
    /// The connection is gone.
    Closed,
}

impl Outbox {
    pub fn new(capacity: usize) -> (Self, OutboxReceiver) {
        Self::with_metrics(capacity, Arc::default())
    }

    /// An outbox that counts its drops and slow-consumer kicks in `metrics`.
    pub fn with_metrics(capacity: usize, metrics: Arc<Metrics>) -> (Self, OutboxReceiver) {
        let kick = Kick::default();
        let (tx, frames) = queue(capacity, Arc::clone(&kick.signals));
        let states = Arc::new(States::default());
        (
            Self {
                tx,
                kick: kick.clone(),
                states: Arc::clone(&states),
                metrics,
            },
            OutboxReceiver {
                frames,
                states,
                kick,
            },
        )
    }

    /// Queues a frame without waiting; kicks the connection when its outbox is full.
    pub fn push(&self, frame: Frame) -> Pushed {
        match self.tx.try_send(frame) {
            Ok(()) => Pushed::Queued,
            Err(TrySend::Full) => {
                // Counted when the connection has ended (`Metrics::closed`).
                self.kick.kick(CloseReason::SLOW_CONSUMER);
                Pushed::Kicked
            }
            Err(TrySend::Closed) => Pushed::Closed,
        }
    }

    /// Queues an ephemeral frame (a typing signal): dropped, never kicking, when the
    /// outbox is already half full, so it is the first thing a lagging connection
    /// loses and it never crowds out messages that must be delivered.
    pub fn push_ephemeral(&self, frame: Frame) -> bool {
        let queued = self.tx.len() * 2 < self.tx.queue.capacity && self.tx.try_send(frame).is_ok();
        if !queued {
            self.metrics.outbox_drops.inc();
        }
        queued
    }

    /// Puts the latest state frame for `key` (a poll), replacing one not yet sent.
    pub fn push_state(&self, key: u64, frame: Frame) {
        let replaced = self.states.put(key, frame);
        if replaced {
            self.metrics.outbox_drops.inc();
        }
        self.states.ready.notify_one();
        let signals = &self.kick.signals;
        signals.states_pending.store(true, Ordering::Release);
        signals.waker.wake();
    }

    /// Whether the connection was told to close.
    pub fn is_kicked(&self) -> bool {
        self.kick.is_kicked()
    }

    /// Asks the connection's writer to close it with `reason`.
    pub fn kick(&self, reason: CloseReason) {
        self.kick.kick(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_outbox_kicks_instead_of_waiting() {
        let (outbox, mut rx) = Outbox::new(2);
        assert_eq!(outbox.push(Frame::from("a")), Pushed::Queued);
        assert_eq!(outbox.push(Frame::from("b")), Pushed::Queued);
        assert!(!rx.kick.is_kicked());
        assert_eq!(outbox.push(Frame::from("c")), Pushed::Kicked);
        assert!(rx.kick.is_kicked());
        assert_eq!(rx.frames.try_recv().unwrap().as_str(), "a");
        drop(rx);
        assert_eq!(outbox.push(Frame::from("d")), Pushed::Closed);
    }

    #[test]
    fn ephemeral_frames_give_way_when_the_outbox_fills() {
        let (outbox, rx) = Outbox::new(4);
        assert!(outbox.push_ephemeral(Frame::from("t1")));
        assert_eq!(outbox.push(Frame::from("m1")), Pushed::Queued);
        // Half full: typing is dropped, messages still queue, nobody is kicked.
        assert!(!outbox.push_ephemeral(Frame::from("t2")));
        assert_eq!(outbox.push(Frame::from("m2")), Pushed::Queued);
        assert!(!rx.kick.is_kicked());
    }
}
