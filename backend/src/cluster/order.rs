//! Per-channel delivery order on one node: the pure state machine behind the
//! [`Relay`](super::relay::Relay), with no I/O, so a property test can drive it
//! with a log and a bus that drop, repeat and reorder.
//!
//! Messages reach a node from two sides: its own commits (in this node's commit
//! order) and other nodes' hints over Redis pub/sub (at most once, any order
//! relative to the first). Neither alone is a channel's order. What is: the
//! channel's sequence numbers, assigned from the room's counter row in the
//! message's own transaction, so "seq N is visible" means "every seq below N is
//! readable" (SCALE-OUT.md). So per channel this node keeps the last seq it
//! delivered and:
//! - the next seq goes out at once;
//! - an old one (delivered already) is dropped;
//! - a jump is kept aside and the gap is read back from the log;
//! - a head check (periodic, and after every Redis reconnect) that finds the
//!   log ahead reads the missing tail, which catches a lost *last* message.
//!
//! A channel can also be *held* while a connection attaches to it (a resume):
//! nothing is delivered until the attach has queued its replay up to the held
//! point, so the replay and the live stream meet with no gap and no repeat.

use std::collections::{BTreeMap, HashMap};

use crate::store::{Appended, ChannelKey};

/// What the caller must do, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Hand this message to the local members (the hub).
    Deliver(Appended),
    /// Read `after < seq <= upto` of `key` from the log and pass the result to
    /// [`Order::fetched`] (or [`Order::fetch_failed`]).
    Fetch {
        key: ChannelKey,
        after: u64,
        upto: u64,
    },
}

#[derive(Debug, Default)]
struct Chan {
    /// Every seq up to this one went to the local members.
    delivered: u64,
    /// Messages seen beyond `delivered + 1`, waiting for the gap to be filled.
    pending: BTreeMap<u64, Appended>,
    /// The highest seq known to exist (from messages, hints or head checks).
    known: u64,
    /// A read of the gap is under way.
    fetching: bool,
    /// Attaches in progress: deliveries wait while above zero.
    holds: u32,
}

/// Delivery state of every channel this node has local members in.
#[derive(Debug, Default)]
pub struct Order {
    chans: HashMap<ChannelKey, Chan>,
}

impl Order {
    /// Whether `key` is tracked.
    pub fn tracks(&self, key: &ChannelKey) -> bool {
        self.chans.contains_key(key)
    }

    /// The channels tracked (for the head check).
    pub fn keys(&self) -> Vec<ChannelKey> {
        self.chans.keys().cloned().collect()
    }

    /// The last seq delivered in `key`, if tracked.
    pub fn delivered(&self, key: &ChannelKey) -> Option<u64> {
        self.chans.get(key).map(|c| c.delivered)
    }

    /// Starts tracking `key` with everything up to `head` counted as delivered
    /// (what a new member reads from history instead). No change if tracked.
    pub fn track(&mut self, key: &ChannelKey, head: u64) {
        self.chans.entry(key.clone()).or_insert_with(|| Chan {
            delivered: head,
            known: head,
            ..Chan::default()
        });
    }

    /// Stops tracking `key` (no local members left). Held channels stay.
    pub fn forget(&mut self, key: &ChannelKey) {
        if self.chans.get(key).is_some_and(|c| c.holds == 0) {
            self.chans.remove(key);
        }
    }

    /// A message committed here or announced by another node. Untracked
    /// channels are ignored (the caller tracks first if it has members).
    pub fn offer(&mut self, msg: Appended, out: &mut Vec<Step>) {
        let seq = msg.msg.seq;
        let key = msg.key.clone();
        let Some(chan) = self.chans.get_mut(&key) else {
            return;
        };
        if seq <= chan.delivered {
            return;
        }
        chan.known = chan.known.max(seq);
        chan.pending.insert(seq, msg);
        Self::advance(&key, chan, out);
    }

    /// The log's latest seq of `key` (a head check).
    pub fn head(&mut self, key: &ChannelKey, head: u64, out: &mut Vec<Step>) {
        // Also retries a read that failed: `advance` asks again when behind.
        if let Some(chan) = self.chans.get_mut(key) {
            chan.known = chan.known.max(head);
            Self::advance(key, chan, out);
        }
    }

    /// The answer of a [`Step::Fetch`]: the messages read, in any order.
    pub fn fetched(&mut self, key: &ChannelKey, msgs: Vec<Appended>, out: &mut Vec<Step>) {
        let Some(chan) = self.chans.get_mut(key) else {
            return;
        };
        chan.fetching = false;
        for msg in msgs {
            let seq = msg.msg.seq;
            if seq > chan.delivered {
                chan.known = chan.known.max(seq);
                chan.pending.insert(seq, msg);
            }
        }
        Self::advance(key, chan, out);
    }

    /// A [`Step::Fetch`] failed: the next head check (or message) retries.
    pub fn fetch_failed(&mut self, key: &ChannelKey) {
        if let Some(chan) = self.chans.get_mut(key) {
            chan.fetching = false;
        }
    }

    /// Holds delivery in `key` for an attach; returns the seq the attach must
    /// replay up to. The channel must be tracked.
    pub fn hold(&mut self, key: &ChannelKey) -> Option<u64> {
        let chan = self.chans.get_mut(key)?;
        chan.holds += 1;
        Some(chan.delivered)
    }

    /// Ends a [`Order::hold`]; what waited goes out.
    pub fn release(&mut self, key: &ChannelKey, out: &mut Vec<Step>) {
        if let Some(chan) = self.chans.get_mut(key) {
            chan.holds = chan.holds.saturating_sub(1);
            Self::advance(key, chan, out);
        }
    }

    /// Delivers what is contiguous; asks for the gap when something is missing.
    fn advance(key: &ChannelKey, chan: &mut Chan, out: &mut Vec<Step>) {
        if chan.holds > 0 {
            return;
        }
        while let Some(msg) = chan.pending.remove(&(chan.delivered + 1)) {
            chan.delivered += 1;
            out.push(Step::Deliver(msg));
        }
        // Anything at or below `delivered` that came in twice is dropped.
        while let Some((&seq, _)) = chan.pending.first_key_value() {
            if seq > chan.delivered {
                break;
            }
            chan.pending.remove(&seq);
        }
        if chan.known > chan.delivered && !chan.fetching {
            // Read up to just before the first message already in hand, or the
            // whole known tail when nothing is.
            let upto = chan
                .pending
                .first_key_value()
                .map_or(chan.known, |(&seq, _)| seq - 1);
            chan.fetching = true;
            out.push(Step::Fetch {
                key: key.clone(),
                after: chan.delivered,
                upto,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use parley_common::{Channel, ChatMessage, ClientMsgId, MessageBody, RoomName, Username};
    use proptest::prelude::*;

    use super::*;

    fn key(i: u8) -> ChannelKey {
        ChannelKey::Room(RoomName::parse(&format!("room{i}")).unwrap())
    }

    fn msg(k: &ChannelKey, seq: u64) -> Appended {
        let ChannelKey::Room(room) = k else {
            unreachable!()
        };
        Appended {
            msg: ChatMessage {
                channel: Channel::Room(room.clone()),
                seq,
                sender: Username::parse("alice").unwrap(),
                body: MessageBody::parse(&format!("m{seq}")).unwrap(),
                ts: seq,
                client_id: ClientMsgId::parse(&format!("c{seq}")).unwrap(),
            },
            key: k.clone(),
            dm: None,
            duplicate: false,
        }
    }

    #[test]
    fn in_order_messages_go_out_at_once_and_repeats_are_dropped() {
        let mut order = Order::default();
        let k = key(1);
        order.track(&k, 3);
        let mut out = Vec::new();
        order.offer(msg(&k, 4), &mut out);
        order.offer(msg(&k, 4), &mut out);
        order.offer(msg(&k, 2), &mut out);
        order.offer(msg(&k, 5), &mut out);
        assert_eq!(out, [Step::Deliver(msg(&k, 4)), Step::Deliver(msg(&k, 5))]);
    }

    #[test]
    fn a_jump_reads_the_gap_then_delivers_in_order() {
        let mut order = Order::default();
        let k = key(1);
        order.track(&k, 0);
        let mut out = Vec::new();
        order.offer(msg(&k, 3), &mut out);
        assert_eq!(
            out,
            [Step::Fetch {
                key: k.clone(),
                after: 0,
                upto: 2
            }]
        );
        out.clear();
        order.fetched(&k, vec![msg(&k, 2), msg(&k, 1)], &mut out);
        assert_eq!(
            out,
            [1, 2, 3].map(|s| Step::Deliver(msg(&k, s))),
            "gap first, then the held message"
        );
    }

    #[test]
    fn a_hold_keeps_deliveries_until_released() {
        let mut order = Order::default();
        let k = key(1);
        order.track(&k, 5);
        assert_eq!(order.hold(&k), Some(5));
        let mut out = Vec::new();
        order.offer(msg(&k, 6), &mut out);
        assert!(out.is_empty());
        order.forget(&k);
        assert!(order.tracks(&k), "a held channel is not forgotten");
        order.release(&k, &mut out);
        assert_eq!(out, [Step::Deliver(msg(&k, 6))]);
    }

    /// One action of the simulated world.
    #[derive(Debug, Clone)]
    enum Act {
        /// Commit the next message of a channel; the hint may be lost.
        Commit { chan: u8, hint: bool },
        /// Deliver one waiting hint (index into the in-flight list).
        Hint(usize),
        /// Repeat a hint already delivered.
        Repeat(usize),
        /// Answer one outstanding fetch (index), possibly failing it.
        Answer { which: usize, fail: bool },
        /// A head check of every channel.
        Heads,
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            4 => (0u8..3, prop::bool::weighted(0.7)).prop_map(|(chan, hint)| Act::Commit { chan, hint }),
            4 => (0usize..8).prop_map(Act::Hint),
            1 => (0usize..8).prop_map(Act::Repeat),
            3 => (0usize..4, prop::bool::weighted(0.2)).prop_map(|(which, fail)| Act::Answer { which, fail }),
            1 => Just(Act::Heads),
        ]
    }

    proptest! {
        /// With hints lost, repeated and reordered and fetches failing or
        /// answered late, every channel is delivered exactly 1..=last, in order,
        /// once the world settles (the last head check and the fetches answered).
        #[test]
        fn every_channel_is_delivered_exactly_once_in_order(
            acts in prop::collection::vec(act(), 1..200),
            start in prop::collection::vec(0u64..3, 3),
        ) {
            let keys: Vec<ChannelKey> = (0..3).map(key).collect();
            // The log: what is committed per channel.
            let mut log: BTreeMap<ChannelKey, u64> = BTreeMap::new();
            let mut order = Order::default();
            let mut delivered: BTreeMap<ChannelKey, Vec<u64>> = BTreeMap::new();
            for (k, head) in keys.iter().zip(&start) {
                log.insert(k.clone(), *head);
                order.track(k, *head);
                delivered.insert(k.clone(), (1..=*head).collect());
            }
            let mut hints: Vec<Appended> = Vec::new();
            let mut seen: Vec<Appended> = Vec::new();
            let mut fetches: Vec<(ChannelKey, u64, u64)> = Vec::new();
            let run = |steps: Vec<Step>,
                           delivered: &mut BTreeMap<ChannelKey, Vec<u64>>,
                           fetches: &mut Vec<(ChannelKey, u64, u64)>| {
                for step in steps {
                    match step {
                        Step::Deliver(m) => delivered.entry(m.key.clone()).or_default().push(m.msg.seq),
                        Step::Fetch { key, after, upto } => fetches.push((key, after, upto)),
                    }
                }
            };
            for a in acts {
                let mut out = Vec::new();
                match a {
                    Act::Commit { chan, hint } => {
                        let k = &keys[usize::from(chan)];
                        let seq = log[k] + 1;
                        log.insert(k.clone(), seq);
                        if hint {
                            hints.push(msg(k, seq));
                        }
                    }
                    Act::Hint(i) if !hints.is_empty() => {
                        let m = hints.remove(i % hints.len());
                        seen.push(m.clone());
                        order.offer(m, &mut out);
                    }
                    Act::Repeat(i) if !seen.is_empty() => {
                        order.offer(seen[i % seen.len()].clone(), &mut out);
                    }
                    Act::Answer { which, fail } if !fetches.is_empty() => {
                        let (k, after, upto) = fetches.remove(which % fetches.len());
                        if fail {
                            order.fetch_failed(&k);
                        } else {
                            // Only what is committed can be read back.
                            let top = upto.min(log[&k]);
                            order.fetched(&k, (after + 1..=top).map(|s| msg(&k, s)).collect(), &mut out);
                        }
                    }
                    Act::Heads => {
                        for k in &keys {
                            order.head(k, log[k], &mut out);
                        }
                    }
                    _ => {}
                }
                run(out, &mut delivered, &mut fetches);
            }
            // Settle: the head check and every fetch answered, until quiet.
            for _ in 0..100 {
                let mut out = Vec::new();
                for k in &keys {
                    order.head(k, log[k], &mut out);
                }
                while let Some((k, after, upto)) = fetches.pop() {
                    let top = upto.min(log[&k]);
                    order.fetched(&k, (after + 1..=top).map(|s| msg(&k, s)).collect(), &mut out);
                }
                if out.is_empty() {
                    break;
                }
                run(out, &mut delivered, &mut fetches);
            }
            for k in &keys {
                let want: Vec<u64> = (1..=log[k]).collect();
                prop_assert_eq!(&delivered[k], &want, "channel {:?}", k);
            }
        }
    }
}
