//! A connection's bounded outbox: the only way the rest of the server talks to a
//! connection.
//!
//! Senders never wait: they `try_send` an already-serialized frame. When the outbox
//! is full the connection is too slow to keep up, and it is *kicked*: its writer
//! closes the socket with [`close::SLOW_CONSUMER`](parley_common::close) and the
//! client recovers by reconnecting. So a slow client never slows anyone else
//! (DESIGN.md rule 4: chat messages must be delivered, so they are never dropped
//! silently).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use parley_common::close;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// One encoded server message. Cloning shares the bytes, so one broadcast is
/// serialized once for all its recipients.
pub type Frame = Utf8Bytes;

/// How many frames may wait for a connection before it counts as a slow consumer.
pub const OUTBOX_CAPACITY: usize = 256;

/// Why the server ends a connection: a WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseReason {
    pub const GOING_AWAY: Self = Self {
        code: close::GOING_AWAY,
        reason: close::GOING_AWAY_REASON,
    };
    pub const SLOW_CONSUMER: Self = Self {
        code: close::SLOW_CONSUMER,
        reason: close::SLOW_CONSUMER_REASON,
    };
    pub const LOGGED_OUT: Self = Self {
        code: close::LOGGED_OUT,
        reason: close::LOGGED_OUT_REASON,
    };
    pub const TOO_BIG: Self = Self {
        code: close::TOO_BIG,
        reason: close::TOO_BIG_REASON,
    };
    pub const IDLE: Self = Self {
        code: close::IDLE,
        reason: close::IDLE_REASON,
    };
    pub const RATE: Self = Self {
        code: close::POLICY,
        reason: close::RATE_REASON,
    };
    pub const HELLO_TIMEOUT: Self = Self {
        code: close::POLICY,
        reason: close::HELLO_TIMEOUT_REASON,
    };
    pub const CLIENT_CLOSED: Self = Self {
        code: 1000,
        reason: "closed by the client",
    };
}

/// The sending half of a connection's outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Frame>,
    kick: Kick,
    states: Arc<States>,
    metrics: Arc<Metrics>,
}

/// State frames (poll tallies): one slot per key holding only the latest frame,
/// so under backpressure an old tally is replaced by the newer one instead of
/// queueing behind it (DESIGN.md rule 4: tallies are state, keep the latest).
#[derive(Debug, Default)]
pub struct States {
    latest: Mutex<HashMap<u64, Frame>>,
    /// Signalled when a slot is filled; a permit is kept if nobody waits.
    pub ready: Notify,
}

impl States {
    /// Takes every pending state frame.
    pub fn take(&self) -> Vec<Frame> {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        latest.drain().map(|(_, frame)| frame).collect()
    }
}

/// The signal that a connection must be closed, and why (the first reason wins).
#[derive(Clone, Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    reason: Arc<OnceLock<CloseReason>>,
}

impl Kick {
    pub fn kick(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub fn is_kicked(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why the connection was kicked, once it was.
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// Completes once the connection is kicked, with the reason.
    pub async fn kicked(&self) -> CloseReason {
        self.token.cancelled().await;
        self.reason
            .get()
            .copied()
            .unwrap_or(CloseReason::SLOW_CONSUMER)
    }
}

/// The connection's end: the frames to write, the latest state frames, and the
/// signal that it was kicked.
#[derive(Debug)]
pub struct OutboxReceiver {
    pub frames: mpsc::Receiver<Frame>,
    pub states: Arc<States>,
    pub kick: Kick,
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
        let (tx, frames) = mpsc::channel(capacity);
        let kick = Kick::default();
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
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.kick.is_kicked() {
                    Metrics::add(&self.metrics.slow_consumers, 1);
                }
                self.kick.kick(CloseReason::SLOW_CONSUMER);
                Pushed::Kicked
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Closed,
        }
    }

    /// Queues an ephemeral frame (a typing signal): dropped, never kicking, when the
    /// outbox is already half full, so it is the first thing a lagging connection
    /// loses and it never crowds out messages that must be delivered.
    pub fn push_ephemeral(&self, frame: Frame) -> bool {
        let queued =
            self.tx.capacity() * 2 > self.tx.max_capacity() && self.tx.try_send(frame).is_ok();
        if !queued {
            Metrics::add(&self.metrics.outbox_drops, 1);
        }
        queued
    }

    /// Puts the latest state frame for `key` (a poll), replacing one not yet sent.
    pub fn push_state(&self, key: u64, frame: Frame) {
        let replaced = self
            .states
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, frame);
        if replaced.is_some() {
            Metrics::add(&self.metrics.outbox_drops, 1);
        }
        self.states.ready.notify_one();
    }

    /// Asks the connection's writer to close it with `reason`.
    /// Whether the connection was told to close.
    pub fn is_kicked(&self) -> bool {
        self.kick.is_kicked()
    }

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

    #[test]
    fn a_newer_state_replaces_the_unsent_older_one() {
        let (outbox, rx) = Outbox::new(4);
        outbox.push_state(7, Frame::from("tally v1"));
        outbox.push_state(7, Frame::from("tally v2"));
        outbox.push_state(8, Frame::from("other poll"));
        let mut sent: Vec<String> = rx
            .states
            .take()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        sent.sort();
        assert_eq!(sent, ["other poll", "tally v2"]);
        assert!(rx.states.take().is_empty());
    }

    #[tokio::test]
    async fn the_first_kick_reason_wins() {
        let (outbox, rx) = Outbox::new(1);
        outbox.kick(CloseReason::LOGGED_OUT);
        outbox.kick(CloseReason::SLOW_CONSUMER);
        assert_eq!(rx.kick.kicked().await, CloseReason::LOGGED_OUT);
    }
}
