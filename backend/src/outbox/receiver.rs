//! The connection's end of its outbox: what its writer waits for, and the batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::{CloseReason, Frame, FrameReceiver, Kick, States};

/// What a WebSocket's writer is woken for (see [`OutboxReceiver::next_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterEvent {
    /// Close with this reason.
    Kicked(CloseReason),
    /// The reader has finished.
    ReaderDone,
    /// This many frames were moved into the batch; 0: every sender is gone.
    Frames(usize),
    /// State frames are waiting in [`States`].
    States,
}

/// The connection's end: the frames to write, the latest state frames, and the
/// signal that it was kicked.
#[derive(Debug)]
pub struct OutboxReceiver {
    pub frames: FrameReceiver,
    pub states: Arc<States>,
    pub kick: Kick,
}

impl OutboxReceiver {
    /// A WebSocket writer's one wait: for a kick (first), its reader finishing,
    /// frames (up to `limit` are moved into `buffer`) or state frames. Only the
    /// writer may wait here; cancel-safe like [`FrameReceiver::recv_many`].
    pub async fn next_event(&mut self, buffer: &mut Vec<Frame>, limit: usize) -> WriterEvent {
        std::future::poll_fn(|cx| {
            let signals = &self.kick.signals;
            signals.waker.register(cx.waker());
            if let Some(reason) = signals.reason.get() {
                return Poll::Ready(WriterEvent::Kicked(*reason));
            }
            if signals.reader_done.load(Ordering::Acquire) {
                return Poll::Ready(WriterEvent::ReaderDone);
            }
            if let Some(n) = self.frames.take_now(buffer, limit) {
                return Poll::Ready(WriterEvent::Frames(n));
            }
            if signals.states_pending.swap(false, Ordering::AcqRel) {
                return Poll::Ready(WriterEvent::States);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::outbox::{CloseReason, Frame, Outbox, OutboxReceiver, Pushed, WriterEvent};

    /// The writer's next event, and the frames it moved into a fresh batch.
    async fn next(rx: &mut OutboxReceiver) -> (WriterEvent, Vec<Frame>) {
        let mut batch = Vec::new();
        let event = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            rx.next_event(&mut batch, 64),
        )
        .await
        .unwrap();
        (event, batch)
    }

    #[tokio::test]
    async fn the_writer_wakes_for_each_reason_kicks_first() {
        let (outbox, mut rx) = Outbox::new(8);
        // Woken from waiting by a frame queued later.
        let pushing = outbox.clone();
        let pushed = tokio::spawn(async move {
            tokio::task::yield_now().await;
            pushing.push(Frame::from("m1"))
        });
        let (event, got) = next(&mut rx).await;
        assert_eq!(pushed.await.unwrap(), Pushed::Queued);
        assert_eq!(event, WriterEvent::Frames(1));
        assert_eq!(got[0].as_str(), "m1");
        outbox.push_state(1, Frame::from("tally"));
        assert_eq!(next(&mut rx).await.0, WriterEvent::States);
        assert_eq!(rx.states.take().len(), 1);
        // A kick wins over frames already queued; the frames stay for the close.
        outbox.push(Frame::from("m2"));
        outbox.kick(CloseReason::LOGGED_OUT);
        let (event, got) = next(&mut rx).await;
        assert_eq!(event, WriterEvent::Kicked(CloseReason::LOGGED_OUT));
        assert!(got.is_empty());
        assert_eq!(rx.frames.try_recv().unwrap().as_str(), "m2");

        // The reader finishing wakes a waiting writer.
        let (outbox, mut rx) = Outbox::new(8);
        let done = rx.kick.clone();
        let finishing = tokio::spawn(async move {
            tokio::task::yield_now().await;
            done.reader_done();
        });
        assert_eq!(next(&mut rx).await.0, WriterEvent::ReaderDone);
        finishing.await.unwrap();
        // Every sender gone: Frames(0).
        let (outbox2, mut rx2) = Outbox::new(8);
        drop(outbox2);
        assert_eq!(next(&mut rx2).await.0, WriterEvent::Frames(0));
        drop(outbox);
    }
}
