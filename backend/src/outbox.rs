//! A connection's bounded outbox: the only way the rest of the server talks to a
//! connection.
//!
//! Senders never wait: they `try_send` an already-serialized frame. When the outbox
//! is full the connection is too slow to keep up, and it is *kicked*: its writer
//! closes the socket with [`close::SLOW_CONSUMER`](parley_common::close) and the
//! client recovers by reconnecting. So a slow client never slows anyone else
//! (DESIGN.md rule 4: chat messages must be delivered, so they are never dropped
//! silently).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// One encoded server message. Cloning shares the bytes, so one broadcast is
/// serialized once for all its recipients.
pub type Frame = Utf8Bytes;

/// How many frames may wait for a connection before it counts as a slow consumer.
pub const OUTBOX_CAPACITY: usize = 256;

/// Why the server ends a connection: the protocol's one list of close codes
/// and reasons.
pub use parley_common::close::CloseReason;

/// The frame queue of one connection: a bounded FIFO with one receiver.
///
/// Our own rather than tokio's `mpsc`, for idle memory: a tokio channel allocates
/// a 32-slot block and a cache-padded header up front (~1.5 KB per connection),
/// this one ~100 bytes, and its buffer only while frames wait (released again
/// once drained, unless small).
#[derive(Debug)]
struct Queue {
    slots: Mutex<Slots>,
    /// Woken when a frame is queued or the last sender leaves.
    signals: Arc<Signals>,
    capacity: usize,
    senders: AtomicUsize,
}

/// What wakes the one task that drains a connection's queue (a WebSocket's
/// writer, or the long-poll request waiting at the time), and why.
///
/// One waker, not a `Notify` or a `CancellationToken` per reason: a broadcast to
/// a big room wakes thousands of writers, and each wake-up used to poll three
/// cancellation tokens and a `Notify` (a mutex each, twice per delivery); this
/// is a few atomic operations. The waiter registers first and then checks the
/// flags and the queue, so a wake-up in between is never lost.
#[derive(Debug, Default)]
struct Signals {
    waker: AtomicWaker,
    /// Why the connection was kicked (the first reason wins).
    reason: OnceLock<CloseReason>,
    /// The WebSocket's reader has finished.
    reader_done: AtomicBool,
    /// A state frame is waiting in [`States`].
    states_pending: AtomicBool,
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
struct FrameSender {
    queue: Arc<Queue>,
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

enum TrySend {
    Full,
    Closed,
}

impl FrameSender {
    fn try_send(&self, frame: Frame) -> Result<(), TrySend> {
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

    fn len(&self) -> usize {
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
    fn take_now(&mut self, buffer: &mut Vec<Frame>, limit: usize) -> Option<usize> {
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
fn queue(capacity: usize, signals: Arc<Signals>) -> (FrameSender, FrameReceiver) {
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

/// The sending half of a connection's outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: FrameSender,
    kick: Kick,
    states: Arc<States>,
    metrics: Arc<Metrics>,
}

/// State frames (poll tallies): one slot per key holding only the latest frame,
/// so under backpressure an old tally is replaced by the newer one instead of
/// queueing behind it (DESIGN.md rule 4: tallies are state, keep the latest).
#[derive(Debug, Default)]
pub struct States {
    /// A few slots at most (the polls on screen): a vector, emptied and released
    /// once sent, so an idle connection holds nothing here.
    latest: Mutex<Vec<(u64, Frame)>>,
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
        std::mem::take(&mut *latest)
            .into_iter()
            .map(|(_, frame)| frame)
            .collect()
    }
}

/// The signal that a connection must be closed, and why (the first reason wins).
/// Long-polling's tasks (the session task and a waiting request at once) wait
/// on the token; a WebSocket's writer on [`OutboxReceiver::next_event`].
#[derive(Clone, Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    signals: Arc<Signals>,
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
    /// kick) like [`OutboxReceiver::next_event`], without a token's waiter list.
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
        let replaced = {
            let mut latest = self
                .states
                .latest
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match latest.iter_mut().find(|(k, _)| *k == key) {
                Some((_, older)) => {
                    *older = frame;
                    true
                }
                None => {
                    latest.push((key, frame));
                    false
                }
            }
        };
        if replaced {
            self.metrics.outbox_drops.inc();
        }
        self.states.ready.notify_one();
        let signals = &self.kick.signals;
        signals.states_pending.store(true, Ordering::Release);
        signals.waker.wake();
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

    #[tokio::test]
    async fn the_first_kick_reason_wins() {
        let (outbox, rx) = Outbox::new(1);
        outbox.kick(CloseReason::LOGGED_OUT);
        outbox.kick(CloseReason::SLOW_CONSUMER);
        assert_eq!(rx.kick.kicked().await, CloseReason::LOGGED_OUT);
    }
}
