//! A connection's bounded frame queue: many senders, one receiver, no waiting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use super::Frame;
use super::kick::Signals;

/// The frame queue of one connection: a bounded FIFO with one receiver.
///
/// Our own rather than tokio's `mpsc`, for idle memory: a tokio channel allocates
/// a 32-slot block and a cache-padded header up front (~1.5 KB per connection),
/// this one ~100 bytes, and its buffer only while frames wait (released again
/// once drained, unless small).
#[derive(Debug)]
pub(super) struct Queue {
    slots: Mutex<Slots>,
    /// Woken when a frame is queued or the last sender leaves.
    signals: Arc<Signals>,
    pub(super) capacity: usize,
    senders: AtomicUsize,
}

#[derive(Debug)]
struct Slots {
    frames: VecDeque<Frame>,
    receiver_alive: bool,
}

/// A drained queue keeps a buffer up to this many frames; a bigger one (after a
/// burst) is released.
const KEEP_SLOTS: usize = 8;

impl Queue {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sending side of a [`Queue`]; the queue closes when the last one is dropped.
#[derive(Debug)]
pub(super) struct FrameSender {
    pub(super) queue: Arc<Queue>,
}

impl Clone for FrameSender {
    fn clone(&self) -> Self {
        self.queue.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            queue: Arc::clone(&self.queue),
        }
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        if self.queue.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.signals.waker.wake();
        }
    }
}

pub(super) enum TrySend {
    Full,
    Closed,
}

impl FrameSender {
    pub(super) fn try_send(&self, frame: Frame) -> Result<(), TrySend> {
        {
            let mut slots = self.queue.slots();
            if !slots.receiver_alive {
                return Err(TrySend::Closed);
            }
            if slots.frames.len() >= self.queue.capacity {
                return Err(TrySend::Full);
            }
            slots.frames.push_back(frame);
        }
        self.queue.signals.waker.wake();
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.queue.slots().frames.len()
    }
}

/// The receiving side of a connection's frame queue.
#[derive(Debug)]
pub struct FrameReceiver {
    queue: Arc<Queue>,
}

/// Nothing is queued right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

impl FrameReceiver {
    /// Takes the oldest queued frame, if there is one.
    pub fn try_recv(&mut self) -> Result<Frame, Empty> {
        let mut slots = self.queue.slots();
        let frame = slots.frames.pop_front().ok_or(Empty);
        release_if_drained(&mut slots.frames);
        frame
    }

    /// Waits for frames and moves up to `limit` of them into `buffer`; returns
    /// how many, or 0 once every sender is gone and nothing is left. Cancel-safe:
    /// nothing is taken unless it returns. One task at a time may wait here.
    pub async fn recv_many(&mut self, buffer: &mut Vec<Frame>, limit: usize) -> usize {
        std::future::poll_fn(|cx| {
            self.queue.signals.waker.register(cx.waker());
            self.take_now(buffer, limit)
                .map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }

    /// Moves up to `limit` queued frames into `buffer`: `Some(n)` if there were
    /// any, `Some(0)` once every sender is gone and nothing is left.
    pub(super) fn take_now(&mut self, buffer: &mut Vec<Frame>, limit: usize) -> Option<usize> {
        {
            let mut slots = self.queue.slots();
            if !slots.frames.is_empty() {
                let n = slots.frames.len().min(limit);
                buffer.extend(slots.frames.drain(..n));
                release_if_drained(&mut slots.frames);
                return Some(n);
            }
        }
        (self.queue.senders.load(Ordering::Acquire) == 0).then_some(0)
    }
}

fn release_if_drained(frames: &mut VecDeque<Frame>) {
    if frames.is_empty() && frames.capacity() > KEEP_SLOTS {
        *frames = VecDeque::new();
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut slots = self.queue.slots();
        slots.receiver_alive = false;
        slots.frames = VecDeque::new();
    }
}

/// A new queue holding at most `capacity` frames.
pub(super) fn queue(capacity: usize, signals: Arc<Signals>) -> (FrameSender, FrameReceiver) {
    let queue = Arc::new(Queue {
        slots: Mutex::new(Slots {
            frames: VecDeque::new(),
            receiver_alive: true,
        }),
        signals,
        capacity,
        senders: AtomicUsize::new(1),
    });
    (
        FrameSender {
            queue: Arc::clone(&queue),
        },
        FrameReceiver { queue },
    )
}

#[cfg(test)]
mod tests {
    use crate::outbox::{Frame, Outbox, Pushed};

    #[tokio::test]
    async fn the_receiver_wakes_for_frames_and_ends_when_every_sender_is_gone() {
        let (outbox, mut rx) = Outbox::new(300);
        let second = outbox.clone();
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut batches = Vec::new();
            loop {
                let n = rx.frames.recv_many(&mut got, 64).await;
                batches.push(n);
                if n == 0 {
                    break (got, batches, rx);
                }
            }
        });
        // One at a time (the receiver wakes for each), then a burst of 100.
        for i in 0..100 {
            assert_eq!(second.push(Frame::from(i.to_string())), Pushed::Queued);
            tokio::task::yield_now().await;
        }
        for i in 100..200 {
            assert_eq!(second.push(Frame::from(i.to_string())), Pushed::Queued);
        }
        drop(outbox);
        drop(second);
        let (got, batches, rx) = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        let want: Vec<String> = (0..200).map(|i: i32| i.to_string()).collect();
        let got: Vec<String> = got.iter().map(|f| f.as_str().to_owned()).collect();
        assert_eq!(got, want);
        assert!(batches.iter().all(|&n| n <= 64));
        assert_eq!(batches.last(), Some(&0));
        // Drained after the burst: its buffer was given back.
        assert_eq!(rx.frames.queue.slots().frames.capacity(), 0);
    }
}
