//! The relay: each channel's messages to this node's members in sequence
//! order, exactly once, whichever node committed them ([`super::order`] is the
//! rule; this file does its reads and deliveries).
//!
//! It is the store's [`Fanout`] on a clustered node: a local commit goes out as
//! a hint to the other nodes and into the local order; hints from the others
//! come in through [`Relay::offer`]. Deliveries happen under the relay's lock
//! (so they leave in order) and go to the [`Hub`] — lock order relay → hub,
//! never the reverse. Reads of a gap run as tasks on the runtime and come back
//! through the same lock.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use parley_common::{Channel, ChatMessage, RESUME_LIMIT, ServerMsg, Tally};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::order::{Order, Step};
use super::wire::Event;
use crate::hub::Hub;
use crate::store::{Appended, ChannelKey, DmParties, Fanout, Store, UserId, missed_frames};

/// Longest an attach retries a failing store read (a database restart takes
/// a second or two) before asking the client to reload instead.
const STORE_RETRY: std::time::Duration = std::time::Duration::from_secs(6);

/// Longest an attach waits for this node to reach a client's resume point.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a relay sends hints for the other nodes (never blocks).
pub trait Hints: Send + Sync + std::fmt::Debug {
    fn send(&self, event: &Event);
}

#[derive(Clone, Debug)]
pub struct Relay {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: u64,
    hub: Hub,
    /// Set once the store is open (the store needs the relay first).
    store: OnceLock<Store>,
    order: Mutex<Order>,
    hints: Arc<dyn Hints>,
    runtime: Handle,
    /// Woken whenever something is delivered (an attach waiting for this node
    /// to catch up with a client watches it).
    progress: Notify,
}

/// One channel of a resume: the viewer's name for it and where they stand.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    pub key: ChannelKey,
    pub channel: Channel,
    pub after: u64,
}

impl Relay {
    /// Needs a tokio runtime (gap reads are spawned on it).
    pub fn new(node: u64, hub: Hub, hints: Arc<dyn Hints>) -> Self {
        Self {
            inner: Arc::new(Inner {
                node,
                hub,
                store: OnceLock::new(),
                order: Mutex::new(Order::default()),
                hints,
                runtime: Handle::current(),
                progress: Notify::new(),
            }),
        }
    }

    pub fn set_store(&self, store: Store) {
        let _ = self.inner.store.set(store);
    }

    fn order(&self) -> MutexGuard<'_, Order> {
        self.inner
            .order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this node has someone to deliver `key` to.
    fn wanted(&self, key: &ChannelKey) -> bool {
        match key {
            ChannelKey::Room(_) => self.inner.hub.online_members(key) > 0,
            ChannelKey::Dm(a, b) => {
                self.inner.hub.has_local_user(*a) || self.inner.hub.has_local_user(*b)
            }
        }
    }

    /// A message committed on this node or announced by another one.
    pub fn offer(&self, msg: Appended) {
        let mut order = self.order();
        if !order.tracks(&msg.key) {
            if !self.wanted(&msg.key) {
                return;
            }
            // Members are attached with their channels tracked, so an untracked
            // channel with members here is a conversation that began after they
            // connected: everything in it is new to them.
            let from = match msg.key {
                ChannelKey::Dm(..) => 0,
                ChannelKey::Room(_) => {
                    tracing::warn!(key = ?msg.key, seq = msg.msg.seq, "message for an untracked room with members here");
                    msg.msg.seq.saturating_sub(1)
                }
            };
            order.track(&msg.key, from);
        }
        let mut steps = Vec::new();
        order.offer(msg, &mut steps);
        self.run(&mut order, steps);
    }

    /// Runs `steps` in order while the lock is held: deliveries leave in order.
    fn run(&self, order: &mut Order, steps: Vec<Step>) {
        let mut delivered = false;
        for step in steps {
            match step {
                Step::Deliver(a) => {
                    delivered = true;
                    Fanout::publish(&self.inner.hub, &a.key, &a.msg, a.dm.as_ref());
                }
                Step::Fetch { key, after, upto } => self.fetch(order, key, after, upto),
            }
        }
        if delivered {
            self.inner.progress.notify_waiters();
        }
    }

    /// Waits (up to [`CATCH_UP`]) until this node has delivered each resumed
    /// channel up to where the client already is: a client that read further
    /// through another node must not be answered "too far behind", nor be sent
    /// again what it has.
    async fn catch_up(&self, resume: &[ResumePoint]) {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let progress = self.inner.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let behind = {
                let mut order = self.order();
                let mut steps = Vec::new();
                let mut behind = false;
                for point in resume {
                    if order.delivered(&point.key).is_some_and(|d| d < point.after) {
                        behind = true;
                        // The client saw `after`: it exists, so read up to it.
                        order.head(&point.key, point.after, &mut steps);
                    }
                }
                self.run(&mut order, steps);
                behind
            };
            if !behind || tokio::time::timeout_at(deadline, progress).await.is_err() {
                return;
            }
        }
    }

    fn fetch(&self, order: &mut Order, key: ChannelKey, after: u64, upto: u64) {
        let Some(store) = self.inner.store.get().cloned() else {
            order.fetch_failed(&key);
            return;
        };
        let relay = self.clone();
        self.inner.runtime.spawn(async move {
            let read = store.published(key.clone(), after, upto).await;
            let mut order = relay.order();
            match read {
                Ok(msgs) => {
                    let mut steps = Vec::new();
                    order.fetched(&key, msgs, &mut steps);
                    relay.run(&mut order, steps);
                }
                Err(err) => {
                    tracing::warn!(%err, ?key, "reading a gap failed; the head check retries");
                    order.fetch_failed(&key);
                }
            }
        });
    }

    /// Tracks `key` from `head` (a join: the history page covers up to it).
    pub fn track_at(&self, key: &ChannelKey, head: u64) {
        self.order().track(key, head);
    }

    /// Tracks every key not tracked yet, from its head in the store.
    pub async fn track(&self, keys: &[ChannelKey]) {
        let missing: Vec<ChannelKey> = {
            let order = self.order();
            keys.iter().filter(|k| !order.tracks(k)).cloned().collect()
        };
        if missing.is_empty() {
            return;
        }
        let Some(store) = self.inner.store.get() else {
            return;
        };
        match retrying(|| store.heads(missing.clone())).await {
            Ok(heads) => {
                let mut order = self.order();
                for (key, head) in heads {
                    order.track(&key, head);
                }
                // Conversations nobody wrote in yet have no row: start at 0.
                for key in missing.iter().filter(|k| matches!(k, ChannelKey::Dm(..))) {
                    order.track(key, 0);
                }
            }
            Err(err) => tracing::warn!(%err, "reading channel heads failed"),
        }
    }

    /// Compares every tracked channel with the store's heads and reads what is
    /// missing; forgets channels with nobody here. Run every second and after
    /// every reconnect to Redis (a subscription that died lost hints).
    pub async fn check_heads(&self) {
        let keys: Vec<ChannelKey> = {
            let mut order = self.order();
            for key in order.keys() {
                if !self.wanted(&key) {
                    order.forget(&key);
                }
            }
            order.keys()
        };
        let Some(store) = self.inner.store.get() else {
            return;
        };
        if keys.is_empty() {
            return;
        }
        match store.heads(keys).await {
            Ok(heads) => {
                let mut order = self.order();
                let mut steps = Vec::new();
                for (key, head) in heads {
                    order.head(&key, head, &mut steps);
                }
                self.run(&mut order, steps);
            }
            Err(err) => tracing::warn!(%err, "head check failed"),
        }
    }

    /// Attaches a connection: tracks its channels, holds the resumed ones,
    /// reads what it missed up to the held point, then runs `attach` with
    /// those frames (it queues them and registers with the hub) before the
    /// holds are released. So each resumed channel reaches the connection
    /// exactly once, in order: the replay up to the held point, live after it.
    pub async fn attach(
        &self,
        viewer: UserId,
        keys: &[ChannelKey],
        resume: Vec<ResumePoint>,
        attach: impl FnOnce(Vec<ServerMsg>),
    ) {
        self.track(keys).await;
        self.catch_up(&resume).await;
        let mut frames = Vec::new();
        let held: Vec<(ResumePoint, u64)> = {
            let mut order = self.order();
            resume
                .into_iter()
                .filter_map(|point| match order.hold(&point.key) {
                    Some(upto) => Some((point, upto)),
                    None => {
                        // Its head could not be read (the store is down): the
                        // client reloads the latest page instead.
                        frames.push(ServerMsg::TooFarBehind {
                            last_seq: point.after,
                            channel: point.channel,
                        });
                        None
                    }
                })
                .collect()
        };
        for (point, upto) in &held {
            self.replay(viewer, point, *upto, &mut frames).await;
        }
        let mut order = self.order();
        attach(frames);
        let mut steps = Vec::new();
        for (point, _) in &held {
            order.release(&point.key, &mut steps);
        }
        self.run(&mut order, steps);
    }

    /// The frames that bring `point` up to `upto`.
    async fn replay(
        &self,
        viewer: UserId,
        point: &ResumePoint,
        upto: u64,
        out: &mut Vec<ServerMsg>,
    ) {
        if point.after == upto {
            return;
        }
        let too_far = ServerMsg::TooFarBehind {
            channel: point.channel.clone(),
            last_seq: upto,
        };
        if point.after > upto || upto - point.after > RESUME_LIMIT {
            out.push(too_far);
            return;
        }
        let Some(store) = self.inner.store.get() else {
            out.push(too_far);
            return;
        };
        let read = retrying(|| store.published(point.key.clone(), point.after, upto)).await;
        match read {
            Ok(msgs) => {
                let messages: Vec<ChatMessage> =
                    msgs.into_iter().map(|a| seen_by(viewer, a)).collect();
                out.extend(missed_frames(&point.channel, messages));
            }
            Err(err) => {
                tracing::error!(%err, "reading messages to replay failed");
                out.push(too_far);
            }
        }
    }

    pub fn node(&self) -> u64 {
        self.inner.node
    }
}

/// Runs a store read again while it fails (the database restarting), for up
/// to [`STORE_RETRY`] with a growing pause; the last error if it never works.
async fn retrying<T, F, Fut>(mut read: F) -> Result<T, crate::store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::store::StoreError>>,
{
    let deadline = tokio::time::Instant::now() + STORE_RETRY;
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        match read().await {
            Ok(v) => return Ok(v),
            Err(err) if tokio::time::Instant::now() + pause > deadline => return Err(err),
            Err(err) => {
                tracing::debug!(%err, "store read failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
        }
    }
}

/// A message as `viewer` names its channel (a conversation after the other user).
fn seen_by(viewer: UserId, a: Appended) -> ChatMessage {
    let mut msg = a.msg;
    if let Some(DmParties { sender, recipient }) = a.dm {
        let other = if sender.id == viewer {
            recipient
        } else {
            sender
        };
        msg.channel = Channel::Dm(other.name);
    }
    msg
}

impl Fanout for Relay {
    fn publish(&self, key: &ChannelKey, msg: &ChatMessage, dm: Option<&DmParties>) {
        let a = Appended {
            msg: msg.clone(),
            key: key.clone(),
            dm: dm.cloned(),
            duplicate: false,
        };
        self.inner.hints.send(&Event::message(self.inner.node, &a));
        self.offer(a);
    }

    fn tally(&self, key: &ChannelKey, poll: u64, tally: &Tally) {
        self.inner.hints.send(&Event::Tally {
            node: self.inner.node,
            key: key.into(),
            poll,
            tally: tally.clone(),
        });
        Fanout::tally(&self.inner.hub, key, poll, tally);
    }
}
