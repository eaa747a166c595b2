//! Delivery: frames into the outboxes of a user's or a channel's connections,
//! encoded once and shared, and the [`Fanout`] the store's writer publishes to.

use std::collections::HashSet;

use parley_common::{Channel, ChatMessage, ServerMsg, Tally};

use super::{Hub, State, encode};
use crate::outbox::{Frame, Pushed};
use crate::store::{ChannelKey, DmParties, Fanout, UserId};

/// How a frame is queued: must-deliver (a full outbox kicks) or ephemeral
/// (dropped first when a connection lags).
#[derive(Clone, Copy)]
pub(super) enum Class {
    Deliver,
    Ephemeral,
}

impl State {
    /// Queues `frame` on every connection of `user`; drops connections that were
    /// kicked or are gone. Returns how many took it.
    pub(super) fn queue_for(&mut self, user: UserId, frame: &Frame, class: Class) -> usize {
        let Some(online) = self.users.get_mut(&user) else {
            return 0;
        };
        let mut delivered = 0;
        online.conns.retain(|(_, conn)| match class {
            Class::Deliver => match conn.outbox.push(frame.clone()) {
                Pushed::Queued => {
                    delivered += 1;
                    true
                }
                Pushed::Kicked | Pushed::Closed => false,
            },
            Class::Ephemeral => {
                delivered += usize::from(conn.outbox.push_ephemeral(frame.clone()));
                true
            }
        });
        delivered
    }

    /// Puts `frame` in the state slot `slot` of every connection of `key`'s
    /// online members, replacing an unsent older one.
    pub(super) fn queue_state(&self, key: &ChannelKey, slot: u64, frame: &Frame) {
        for user in self.channels.get(key).into_iter().flatten() {
            if let Some(online) = self.users.get(user) {
                for conn in online.conns.iter().map(|(_, c)| c) {
                    conn.outbox.push_state(slot, frame.clone());
                }
            }
        }
    }

    pub(super) fn members(&self, key: &ChannelKey) -> Vec<UserId> {
        self.channels
            .get(key)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }
}

impl Hub {
    /// Queues `frame` for every connection of `user` (e.g. "you joined a room", so
    /// all their tabs learn it).
    pub fn send_to_user(&self, user: UserId, frame: &Frame) {
        self.state().queue_for(user, frame, Class::Deliver);
    }

    /// Queues `frame` for every online member of `key`; returns how many
    /// connections it was queued for. Connections whose outbox is full are kicked.
    pub fn broadcast(&self, key: &ChannelKey, frame: &Frame) -> usize {
        let mut state = self.state();
        state
            .members(key)
            .into_iter()
            .map(|user| state.queue_for(user, frame, Class::Deliver))
            .sum()
    }

    /// Puts a state frame (a poll's latest tally) in the state slot `slot` of every
    /// connection of the channel's online members, replacing an unsent older one.
    pub fn broadcast_state(&self, key: &ChannelKey, slot: u64, frame: &Frame) {
        self.state().queue_state(key, slot, frame);
    }

    /// How many users of `key` are online (for tests and metrics).
    pub fn online_members(&self, key: &ChannelKey) -> usize {
        self.state().channels.get(key).map_or(0, HashSet::len)
    }
}

impl Fanout for Hub {
    fn tally(&self, key: &ChannelKey, poll: u64, tally: &Tally) {
        self.post_tally(key, poll, tally);
    }

    fn publish(&self, key: &ChannelKey, msg: &ChatMessage, dm: Option<&DmParties>) {
        let Some(dm) = dm else {
            if let Some(frame) = encode(&ServerMsg::Message(msg.clone())) {
                self.broadcast(key, &frame);
            }
            return;
        };
        let mut state = self.state();
        // The first message of a conversation creates it: both sides (if online)
        // now follow it — both subscribed before either hears who is online — and
        // learn whether the other is online.
        let parties = [(&dm.sender, &dm.recipient), (&dm.recipient, &dm.sender)];
        let new = parties.map(|(me, _)| state.subscribe(me.id, key));
        for ((me, peer), new) in parties.into_iter().zip(new) {
            if new && let Some(frame) = state.snapshot(key, me.id).as_ref().and_then(encode) {
                state.queue_for(me.id, &frame, Class::Deliver);
            }
            let mut seen = msg.clone();
            seen.channel = Channel::Dm(peer.name.clone());
            if let Some(frame) = encode(&ServerMsg::Message(seen)) {
                state.queue_for(me.id, &frame, Class::Deliver);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::testing::{frames, online, room};

    #[test]
    fn broadcast_reaches_online_members_of_the_room_only() {
        let hub = Hub::new();
        let (_, mut a) = online(&hub, 1, &["lobby", "rust"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 16);
        frames(&mut a);
        assert_eq!(hub.broadcast(&room("rust"), &Frame::from("r1")), 1);
        assert_eq!(hub.broadcast(&room("lobby"), &Frame::from("l1")), 2);
        assert_eq!(frames(&mut a), ["r1", "l1"]);
        assert_eq!(frames(&mut b), ["l1"]);
    }

    #[test]
    fn one_frame_is_shared_by_all_connections() {
        let hub = Hub::new();
        let (_, mut a) = online(&hub, 1, &["lobby"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 16);
        frames(&mut a);
        hub.broadcast(&room("lobby"), &Frame::from(String::from("hello")));
        let fa = a.frames.try_recv().unwrap();
        let fb = b.frames.try_recv().unwrap();
        assert_eq!(fa.as_str().as_ptr(), fb.as_str().as_ptr());
    }

    #[test]
    fn a_slow_connection_is_kicked_and_others_still_get_everything() {
        let hub = Hub::new();
        let (_, mut fast) = online(&hub, 1, &["lobby"], 64);
        let (_, slow) = online(&hub, 2, &["lobby"], 2);
        frames(&mut fast);
        for i in 0..5 {
            hub.broadcast(&room("lobby"), &Frame::from(format!("m{i}")));
        }
        assert!(slow.kick.is_kicked());
        assert_eq!(frames(&mut fast).len(), 5);
        // The kicked connection no longer receives anything.
        assert_eq!(hub.broadcast(&room("lobby"), &Frame::from("after")), 1);
    }
}
