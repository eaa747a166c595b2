//! Presence: who is online in each channel, "online/offline" events while a
//! channel is small, and for busy rooms a fresh online list once a second from
//! the presence clock instead.

use std::time::Duration;

use parley_common::{Channel, PRESENCE_DETAIL_LIMIT, ServerMsg, Username};
use tokio_util::sync::CancellationToken;

use super::fanout::Class;
use super::{Hub, State, encode};
use crate::outbox::Frame;
use crate::store::{ChannelKey, UserId};

/// How often busy rooms' online lists are sent when they changed.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);

impl State {
    pub(super) fn name(&self, user: UserId) -> Option<Username> {
        self.users
            .get(&user)
            .map(|u| u.name.clone())
            .or_else(|| self.remote_name(user))
    }

    /// The channel as `viewer` names it.
    fn channel_for(&self, key: &ChannelKey, viewer: UserId) -> Option<Channel> {
        match key {
            ChannelKey::Room(room) => Some(Channel::Room(room.clone())),
            ChannelKey::Dm(..) => {
                let peer = key.peer(viewer)?;
                self.name(peer).map(Channel::Dm)
            }
        }
    }

    /// `user`'s connections here came to (or left) `key`: the channel hears
    /// about it unless they are there on another node anyway.
    pub(super) fn presence(&mut self, key: &ChannelKey, user: UserId, online: bool) {
        if !self.remote_in(key, user) {
            self.announce(key, user, online);
        }
    }

    /// Sends "`user` is online/offline here" to the channel's other online
    /// members. One shared frame for a room; a conversation names itself after
    /// `user` for the peer.
    pub(super) fn announce(&mut self, key: &ChannelKey, user: UserId, online: bool) {
        // In a busy room one event per person would be O(members²) frames while
        // people come and go: a fresh count goes out once a second instead.
        if self.online_count(key) > PRESENCE_DETAIL_LIMIT || self.presence_dirty.contains(key) {
            self.presence_dirty.insert(key.clone());
            return;
        }
        let Some(name) = self.name(user) else { return };
        let others: Vec<UserId> = self
            .members(key)
            .into_iter()
            .filter(|u| *u != user)
            .collect();
        let channel = match key {
            ChannelKey::Room(room) => Channel::Room(room.clone()),
            ChannelKey::Dm(..) => Channel::Dm(name.clone()),
        };
        let Some(frame) = encode(&ServerMsg::Presence {
            channel,
            user: name,
            online,
        }) else {
            return;
        };
        for other in others {
            self.queue_for(other, &frame, Class::Deliver);
        }
    }

    /// [`State::snapshot`], encoded; for a busy room the one last sent to it.
    pub(super) fn snapshot_frame(&mut self, key: &ChannelKey, viewer: UserId) -> Option<Frame> {
        let busy = self.online_count(key) > PRESENCE_DETAIL_LIMIT;
        if !busy {
            self.busy_snapshots.remove(key);
            return self.snapshot(key, viewer).as_ref().and_then(encode);
        }
        if let Some(frame) = self.busy_snapshots.get(key) {
            return Some(frame.clone());
        }
        let frame = self.snapshot(key, viewer).as_ref().and_then(encode)?;
        self.busy_snapshots.insert(key.clone(), frame.clone());
        Some(frame)
    }

    /// Who is online in `key`, as `viewer` sees it.
    pub(super) fn snapshot(&self, key: &ChannelKey, viewer: UserId) -> Option<ServerMsg> {
        let total = self.online_count(key);
        let mut users: Vec<Username> = self
            .online_ids(key)
            .take(PRESENCE_DETAIL_LIMIT)
            .filter_map(|u| self.name(u))
            .collect();
        users.sort();
        Some(ServerMsg::Online {
            channel: self.channel_for(key, viewer)?,
            users,
            total: total as u64,
        })
    }
}

impl Hub {
    /// Sends a fresh online list to every busy room whose list changed, as a state
    /// frame (a newer one replaces an unsent older one). Called about once a
    /// second.
    pub fn flush_presence(&self) {
        let mut state = self.state();
        let dirty: Vec<ChannelKey> = state.presence_dirty.drain().collect();
        for key in dirty {
            // Rooms only: conversations have two members and never get here.
            let Some(frame) = state.snapshot(&key, UserId(0)).as_ref().and_then(encode) else {
                continue;
            };
            state.busy_snapshots.insert(key.clone(), frame.clone());
            state.queue_state(&key, presence_slot(&key), &frame);
        }
    }
}

/// The presence clock: runs until `shutdown`, flushing busy rooms' online lists
/// every [`PRESENCE_INTERVAL`].
pub async fn presence_clock(hub: Hub, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PRESENCE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => hub.flush_presence(),
            () = shutdown.cancelled() => break,
        }
    }
}

/// The state slot of a room's online list: poll ids are small positive numbers,
/// so these keys (top bit set) never collide with them.
fn presence_slot(key: &ChannelKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::testing::{SESSION, of_type, online, room, user};
    use crate::outbox::{Outbox, OutboxReceiver};

    #[test]
    fn presence_counts_users_not_connections() {
        let hub = Hub::new();
        let (_, mut watcher) = online(&hub, 9, &["lobby"], 64);
        let (tab1, _r1) = online(&hub, 1, &["lobby"], 16);
        let (tab2, _r2) = online(&hub, 1, &["lobby"], 16);
        // One "online" for two tabs.
        assert_eq!(of_type(&mut watcher, "presence").len(), 1);
        assert_eq!(hub.online_members(&room("lobby")), 2);
        hub.disconnect(UserId(1), tab1);
        assert!(hub.is_online(UserId(1)));
        assert!(of_type(&mut watcher, "presence").is_empty());
        hub.disconnect(UserId(1), tab2);
        assert!(!hub.is_online(UserId(1)));
        let offline = of_type(&mut watcher, "presence");
        assert_eq!(offline.len(), 1);
        assert!(offline[0].contains("\"online\":false"), "{offline:?}");
    }

    #[test]
    fn a_busy_room_gets_coalesced_online_lists_instead_of_one_event_per_person() {
        let hub = Hub::new();
        let (_, mut watcher) = online(&hub, 0, &["lobby"], 1024);
        let mut others = Vec::new();
        for id in 1..=(PRESENCE_DETAIL_LIMIT as i64 + 5) {
            others.push(online(&hub, id, &["lobby"], crate::outbox::OUTBOX_CAPACITY));
        }
        let events = of_type(&mut watcher, "presence").len();
        // The watcher hears about everyone who arrived while the room had at most
        // PRESENCE_DETAIL_LIMIT members online (itself included).
        assert_eq!(
            events,
            PRESENCE_DETAIL_LIMIT - 1,
            "per-person events only while small"
        );
        assert!(watcher.states.take().is_empty(), "nothing until the flush");
        hub.flush_presence();
        let lists = watcher.states.take();
        assert_eq!(lists.len(), 1);
        match serde_json::from_str(lists[0].as_str()).unwrap() {
            ServerMsg::Online { users, total, .. } => {
                assert_eq!(total, PRESENCE_DETAIL_LIMIT as u64 + 6);
                assert_eq!(users.len(), PRESENCE_DETAIL_LIMIT);
            }
            other => panic!("{other:?}"),
        }
        // Nobody's outbox was flooded.
        assert!(others.iter().all(|(_, rx)| !rx.kick.is_kicked()));
    }

    #[test]
    fn connections_to_a_busy_room_share_its_last_online_list() {
        let hub = Hub::new();
        let online_total = |frames: &[Frame]| -> Vec<u64> {
            frames
                .iter()
                .map(|f| match serde_json::from_str(f.as_str()).unwrap() {
                    ServerMsg::Online { total, .. } => total,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let mut keep = Vec::new();
        let connect = |hub: &Hub, id: i64, keep: &mut Vec<OutboxReceiver>| {
            let (outbox, rx) = Outbox::new(1024);
            keep.push(rx);
            hub.connect(
                &user(id),
                hub.next_conn_id(),
                SESSION,
                outbox,
                [room("lobby")],
            )
        };
        let limit = PRESENCE_DETAIL_LIMIT as i64;
        for id in 1..=limit {
            let got = connect(&hub, id, &mut keep);
            // Small room: a fresh list each time, counting the newcomer.
            assert_eq!(online_total(&got), [id as u64]);
        }
        let first_busy = connect(&hub, limit + 1, &mut keep);
        let next = connect(&hub, limit + 2, &mut keep);
        // Busy: the same encoded list (the same bytes, not a copy) until the flush.
        assert_eq!(online_total(&first_busy), [limit as u64 + 1]);
        assert!(std::ptr::eq(first_busy[0].as_str(), next[0].as_str()));
        hub.flush_presence();
        let after = connect(&hub, limit + 3, &mut keep);
        assert_eq!(online_total(&after), [limit as u64 + 2]);
    }
}
