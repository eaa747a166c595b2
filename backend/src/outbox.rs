//! A connection's bounded outbox: the only way the rest of the server talks to a
//! connection.
//!
//! Senders never wait: they `try_send` an already-serialized frame. When the outbox
//! is full the connection is too slow to keep up, and it is *kicked*: its writer
//! closes the socket with [`close::SLOW_CONSUMER`](parley_common::close) and the
//! client recovers by reconnecting. So a slow client never slows anyone else
//! (DESIGN.md rule 4: chat messages must be delivered, so they are never dropped
//! silently).

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One encoded server message. Cloning shares the bytes, so one broadcast is
/// serialized once for all its recipients.
pub type Frame = Utf8Bytes;

/// How many frames may wait for a connection before it counts as a slow consumer.
pub const OUTBOX_CAPACITY: usize = 256;

/// The sending half of a connection's outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Frame>,
    kicked: CancellationToken,
}

/// The connection's end: the frames to write, and the signal that it was kicked.
#[derive(Debug)]
pub struct OutboxReceiver {
    pub frames: mpsc::Receiver<Frame>,
    pub kicked: CancellationToken,
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
        let (tx, frames) = mpsc::channel(capacity);
        let kicked = CancellationToken::new();
        (
            Self {
                tx,
                kicked: kicked.clone(),
            },
            OutboxReceiver { frames, kicked },
        )
    }

    /// Queues a frame without waiting; kicks the connection when its outbox is full.
    pub fn push(&self, frame: Frame) -> Pushed {
        match self.tx.try_send(frame) {
            Ok(()) => Pushed::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kicked.cancel();
                Pushed::Kicked
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Closed,
        }
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
        assert!(!rx.kicked.is_cancelled());
        assert_eq!(outbox.push(Frame::from("c")), Pushed::Kicked);
        assert!(rx.kicked.is_cancelled());
        assert_eq!(rx.frames.try_recv().unwrap().as_str(), "a");
        drop(rx);
        assert_eq!(outbox.push(Frame::from("d")), Pushed::Closed);
    }
}
