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

use super::order::{Order, Step};
use super::wire::Event;
use crate::hub::Hub;
use crate::store::{Appended, ChannelKey, DmParties, Fanout, Store, UserId};

/// A replay is split into `missed` frames of about this many bytes at most
/// (as the single-node resume does).
const MAX_REPLAY_FRAME_BYTES: usize = 256 * 1024;

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
        for step in steps {
            match step {
                Step::Deliver(a) => Fanout::publish(&self.inner.hub, &a.key, &a.msg, a.dm.as_ref()),
                Step::Fetch { key, after, upto } => self.fetch(order, key, after, upto),
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
        match store.heads(missing.clone()).await {
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
        let held: Vec<(ResumePoint, u64)> = {
            let mut order = self.order();
            resume
                .into_iter()
                .filter_map(|point| order.hold(&point.key).map(|upto| (point, upto)))
                .collect()
        };
        let mut frames = Vec::new();
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
        match store.published(point.key.clone(), point.after, upto).await {
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

/// `missed` frames of at most about [`MAX_REPLAY_FRAME_BYTES`] each.
fn missed_frames(channel: &Channel, messages: Vec<ChatMessage>) -> Vec<ServerMsg> {
    let mut frames = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for m in messages {
        bytes += m.body.as_str().len() + 128;
        chunk.push(m);
        if bytes >= MAX_REPLAY_FRAME_BYTES {
            frames.push(ServerMsg::Missed {
                channel: channel.clone(),
                messages: std::mem::take(&mut chunk),
            });
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        frames.push(ServerMsg::Missed {
            channel: channel.clone(),
            messages: chunk,
        });
    }
    frames
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
