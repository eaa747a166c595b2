//! The hub: who is online, which of their connections are open, which channels
//! (rooms and private conversations) they are in, and fan-out of frames to those
//! connections' outboxes — chat messages, presence, typing.
//!
//! Sequence numbers and storage live in the [`store`](crate::store); the store's
//! writer calls [`Hub::publish`] (through the [`Fanout`] trait) after each commit,
//! in commit order, so members see every channel's messages in order.
//!
//! State lives behind one `std::sync::Mutex`, touched only in short synchronous
//! sections that never `.await` (DESIGN.md rule 7). A std mutex (not tokio's) is the
//! right tool: nothing inside waits, so holding it is a few microseconds, and fan-out
//! is `try_send` of one shared, already-encoded frame into bounded outboxes. A room
//! message is encoded once for everyone; a private message twice (once per side,
//! because each side names the conversation after the other).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use parley_common::{Channel, ChatMessage, PRESENCE_DETAIL_LIMIT, ServerMsg, Tally, Username};
use tokio_util::sync::CancellationToken;

use crate::outbox::{CloseReason, Frame, Outbox, Pushed};
use crate::polls::{TallyMailbox, TallyUpdate};
use crate::store::{AuthUser, ChannelKey, DmParties, Fanout, TokenHash, UserId};

/// Identifies one connection (one WebSocket, or later one long-poll session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A cheap, cloneable handle to the shared hub state.
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_conn: AtomicU64,
    state: Mutex<State>,
    /// Where new tallies go to be coalesced; unset (in unit tests) means "send
    /// each one at once".
    tallies: OnceLock<Arc<TallyMailbox>>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, OnlineUser>,
    /// Online members of each channel.
    channels: HashMap<ChannelKey, HashSet<UserId>>,
    /// Online users by lower-cased name, for typing in private conversations.
    by_name: HashMap<String, UserId>,
    /// Busy rooms whose online list changed since it was last sent.
    presence_dirty: HashSet<ChannelKey>,
    /// The online list last sent to each busy room, encoded: what a connection
    /// joining it gets, instead of a list sorted and encoded per connection (the
    /// room hears a fresh one within a second anyway). Replaced by
    /// [`Hub::flush_presence`].
    busy_snapshots: HashMap<ChannelKey, Frame>,
}

#[derive(Debug)]
struct OnlineUser {
    name: Username,
    /// Vectors, not hash maps: a user has a handful of each, and an idle
    /// connection should not carry a mostly empty table (~340 bytes for one
    /// connection, ~110 for one channel).
    conns: Vec<(ConnId, Conn)>,
    channels: Vec<ChannelKey>,
}

#[derive(Debug)]
struct Conn {
    outbox: Outbox,
    session: TokenHash,
}

/// How a frame is queued: must-deliver (a full outbox kicks) or ephemeral
/// (dropped first when a connection lags).
#[derive(Clone, Copy)]
enum Class {
    Deliver,
    Ephemeral,
}

fn encode(msg: &ServerMsg) -> Option<Frame> {
    match msg.to_json() {
        Ok(json) => Some(Frame::from(json)),
        Err(err) => {
            tracing::error!(%err, "could not encode a server message");
            None
        }
    }
}

impl State {
    /// Queues `frame` on every connection of `user`; drops connections that were
    /// kicked or are gone. Returns how many took it.
    fn queue_for(&mut self, user: UserId, frame: &Frame, class: Class) -> usize {
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

    fn members(&self, key: &ChannelKey) -> Vec<UserId> {
        self.channels
            .get(key)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    fn name(&self, user: UserId) -> Option<Username> {
        self.users.get(&user).map(|u| u.name.clone())
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

    /// Sends "`user` is online/offline here" to the channel's other online
    /// members. One shared frame for a room; a conversation names itself after
    /// `user` for the peer.
    fn presence(&mut self, key: &ChannelKey, user: UserId, online: bool) {
        // In a busy room one event per person would be O(members²) frames while
        // people come and go: a fresh count goes out once a second instead.
        if self.channels.get(key).map_or(0, HashSet::len) > PRESENCE_DETAIL_LIMIT
            || self.presence_dirty.contains(key)
        {
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
    fn snapshot_frame(&mut self, key: &ChannelKey, viewer: UserId) -> Option<Frame> {
        let busy = self.channels.get(key).map_or(0, HashSet::len) > PRESENCE_DETAIL_LIMIT;
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
    fn snapshot(&self, key: &ChannelKey, viewer: UserId) -> Option<ServerMsg> {
        let members = self.channels.get(key);
        let total = members.map_or(0, HashSet::len);
        let mut users: Vec<Username> = members
            .into_iter()
            .flatten()
            .take(PRESENCE_DETAIL_LIMIT)
            .filter_map(|u| self.name(*u))
            .collect();
        users.sort();
        Some(ServerMsg::Online {
            channel: self.channel_for(key, viewer)?,
            users,
            total: total as u64,
        })
    }

    /// Adds `user` (if online) to `key`'s members; true if newly added.
    fn subscribe(&mut self, user: UserId, key: &ChannelKey) -> bool {
        let Some(online) = self.users.get_mut(&user) else {
            return false;
        };
        let added = !online.channels.contains(key);
        if added {
            online.channels.push(key.clone());
        }
        self.channels.entry(key.clone()).or_default().insert(user);
        added
    }

    fn unsubscribe(&mut self, user: UserId, key: &ChannelKey) {
        if let Some(online) = self.users.get_mut(&user) {
            online.channels.retain(|k| k != key);
        }
        if let Some(members) = self.channels.get_mut(key) {
            members.remove(&user);
            if members.is_empty() {
                self.channels.remove(key);
                self.busy_snapshots.remove(key);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps in a state worse
        // than losing the whole server, so keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers an open connection of `user`, a member of `channels`. The first
    /// connection of a user brings them online: their channels hear about it.
    /// Returns who is online in each channel, encoded, for the new connection.
    pub fn connect(
        &self,
        user: &AuthUser,
        conn: ConnId,
        session: TokenHash,
        outbox: Outbox,
        channels: impl IntoIterator<Item = ChannelKey>,
    ) -> Vec<Frame> {
        let mut state = self.state();
        let first = !state.users.contains_key(&user.id);
        if first {
            state.users.insert(
                user.id,
                OnlineUser {
                    name: user.name.clone(),
                    conns: Vec::with_capacity(1),
                    channels: Vec::new(),
                },
            );
            state.by_name.insert(user.name.key(), user.id);
        }
        if let Some(online) = state.users.get_mut(&user.id) {
            online.conns.retain(|(id, _)| *id != conn);
            // Exact sizes: most users have one or two tabs, in a few channels.
            online.conns.reserve_exact(1);
            online.conns.push((conn, Conn { outbox, session }));
        }
        let channels: Vec<ChannelKey> = channels.into_iter().collect();
        if let Some(online) = state.users.get_mut(&user.id) {
            online.channels.reserve_exact(channels.len());
        }
        for key in &channels {
            if state.subscribe(user.id, key) && first {
                state.presence(key, user.id, true);
            }
        }
        channels
            .iter()
            .filter_map(|key| state.snapshot_frame(key, user.id))
            .collect()
    }

    /// Forgets a connection; a user whose last connection closed goes offline and
    /// their channels hear about it.
    pub fn disconnect(&self, user: UserId, conn: ConnId) {
        let mut state = self.state();
        let Some(online) = state.users.get_mut(&user) else {
            return;
        };
        online.conns.retain(|(id, _)| *id != conn);
        if !online.conns.is_empty() {
            return;
        }
        let channels = online.channels.clone();
        for key in &channels {
            state.unsubscribe(user, key);
            state.presence(key, user, false);
        }
        if let Some(gone) = state.users.remove(&user) {
            state.by_name.remove(&gone.name.key());
        }
    }

    /// `user` joined `room`: deliver its messages to all their connections, tell
    /// the room they are here, and return who is online there.
    pub fn joined(&self, user: UserId, key: &ChannelKey) -> Option<ServerMsg> {
        let mut state = self.state();
        if state.subscribe(user, key) {
            state.presence(key, user, true);
        }
        state.snapshot(key, user)
    }

    /// `user` left `room`.
    pub fn left(&self, user: UserId, key: &ChannelKey) {
        let mut state = self.state();
        state.unsubscribe(user, key);
        state.presence(key, user, false);
    }

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

    /// Forwards "`user` is typing" to the channel's other online members, as an
    /// ephemeral frame. Typing to an offline (or unknown) user goes nowhere.
    pub fn typing(&self, user: &AuthUser, channel: &Channel) -> Result<(), NotInRoom> {
        let mut state = self.state();
        let key = match channel {
            Channel::Room(room) => ChannelKey::Room(room.clone()),
            Channel::Dm(peer) => match state.by_name.get(&peer.key()) {
                Some(peer) if *peer != user.id => ChannelKey::dm(user.id, *peer),
                _ => return Ok(()),
            },
        };
        let members = state.members(&key);
        if matches!(key, ChannelKey::Room(_)) && !members.contains(&user.id) {
            return Err(NotInRoom);
        }
        let shown_as = match &key {
            ChannelKey::Room(room) => Channel::Room(room.clone()),
            ChannelKey::Dm(..) => Channel::Dm(user.name.clone()),
        };
        let Some(frame) = encode(&ServerMsg::Typing {
            channel: shown_as,
            user: user.name.clone(),
        }) else {
            return Ok(());
        };
        for other in members.into_iter().filter(|u| *u != user.id) {
            state.queue_for(other, &frame, Class::Ephemeral);
        }
        Ok(())
    }

    /// Starts the task that coalesces poll tallies (once; needs a tokio runtime).
    pub fn start_tallies(&self, shutdown: CancellationToken) {
        let mailbox = Arc::new(TallyMailbox::default());
        if self.inner.tallies.set(Arc::clone(&mailbox)).is_ok() {
            tokio::spawn(crate::polls::coalesce_tallies(
                self.clone(),
                mailbox,
                shutdown,
            ));
        }
    }

    /// Puts a state frame (a poll's latest tally) in the state slot `slot` of every
    /// connection of the channel's online members, replacing an unsent older one.
    pub fn broadcast_state(&self, key: &ChannelKey, slot: u64, frame: &Frame) {
        let state = self.state();
        for user in state.members(key) {
            if let Some(online) = state.users.get(&user) {
                for conn in online.conns.iter().map(|(_, c)| c) {
                    conn.outbox.push_state(slot, frame.clone());
                }
            }
        }
    }

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
            let slot = presence_slot(&key);
            for user in state.members(&key) {
                if let Some(online) = state.users.get(&user) {
                    for conn in online.conns.iter().map(|(_, c)| c) {
                        conn.outbox.push_state(slot, frame.clone());
                    }
                }
            }
        }
    }

    /// Closes every connection of a session (logout) with `reason`.
    pub fn close_session(&self, session: TokenHash, reason: CloseReason) {
        let state = self.state();
        for online in state.users.values() {
            for conn in online
                .conns
                .iter()
                .map(|(_, c)| c)
                .filter(|c| c.session == session)
            {
                conn.outbox.kick(reason);
            }
        }
    }

    /// Whether `user` has an open connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.state().users.contains_key(&user)
    }

    /// Tallies waiting for the coalescer (at most one per poll).
    pub fn tallies_waiting(&self) -> usize {
        self.inner.tallies.get().map_or(0, |m| m.len())
    }

    /// How many users of `key` are online (for tests and metrics).
    pub fn online_members(&self, key: &ChannelKey) -> usize {
        self.state().channels.get(key).map_or(0, HashSet::len)
    }
}

impl Fanout for Hub {
    fn tally(&self, key: &ChannelKey, poll: u64, tally: &Tally) {
        let update = TallyUpdate {
            key: key.clone(),
            poll,
            tally: tally.clone(),
        };
        match self.inner.tallies.get() {
            Some(mailbox) => mailbox.put(update),
            None => {
                let msg = ServerMsg::Tally {
                    poll,
                    since: update.tally.version.saturating_sub(1),
                    tally: update.tally,
                };
                if let Some(frame) = encode(&msg) {
                    self.broadcast_state(key, poll, &frame);
                }
            }
        }
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

/// The state slot of a room's online list: poll ids are small positive numbers,
/// so these keys (top bit set) never collide with them.
fn presence_slot(key: &ChannelKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | (1 << 63)
}

/// A typing signal for a room the user is not in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInRoom;

#[cfg(test)]
mod tests {
    use parley_common::RoomName;

    use super::*;
    use crate::outbox::OutboxReceiver;

    const SESSION: TokenHash = TokenHash([7; 32]);

    fn room(name: &str) -> ChannelKey {
        ChannelKey::Room(RoomName::parse(name).unwrap())
    }

    fn user(id: i64) -> AuthUser {
        AuthUser {
            id: UserId(id),
            name: Username::parse(&format!("user{id}")).unwrap(),
        }
    }

    fn online(hub: &Hub, id: i64, rooms: &[&str], capacity: usize) -> (ConnId, OutboxReceiver) {
        let (outbox, rx) = Outbox::new(capacity);
        let conn = hub.next_conn_id();
        hub.connect(
            &user(id),
            conn,
            SESSION,
            outbox,
            rooms.iter().map(|r| room(r)),
        );
        (conn, rx)
    }

    fn frames(rx: &mut OutboxReceiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.frames.try_recv() {
            out.push(frame.as_str().to_owned());
        }
        out
    }

    /// Only the frames of this `type`.
    fn of_type(rx: &mut OutboxReceiver, kind: &str) -> Vec<String> {
        let tag = format!("{{\"type\":\"{kind}\"");
        frames(rx)
            .into_iter()
            .filter(|f| f.starts_with(&tag))
            .collect()
    }

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

    #[test]
    fn joining_and_leaving_change_delivery_for_all_tabs() {
        let hub = Hub::new();
        let (_, mut a1) = online(&hub, 1, &["lobby"], 16);
        let (_, mut a2) = online(&hub, 1, &["lobby"], 16);
        let snapshot = hub.joined(UserId(1), &room("rust")).unwrap();
        assert!(matches!(snapshot, ServerMsg::Online { ref users, .. } if users.len() == 1));
        frames(&mut a1);
        frames(&mut a2);
        hub.broadcast(&room("rust"), &Frame::from("r"));
        assert_eq!(frames(&mut a1), ["r"]);
        assert_eq!(frames(&mut a2), ["r"]);
        hub.left(UserId(1), &room("rust"));
        assert_eq!(hub.broadcast(&room("rust"), &Frame::from("r2")), 0);
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

    #[test]
    fn typing_reaches_the_others_and_is_refused_outside_the_room() {
        let hub = Hub::new();
        let (_, mut a) = online(&hub, 1, &["lobby"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 16);
        frames(&mut a);
        let lobby = Channel::Room(RoomName::parse("lobby").unwrap());
        hub.typing(&user(1), &lobby).unwrap();
        assert_eq!(of_type(&mut b, "typing").len(), 1);
        assert!(frames(&mut a).is_empty(), "not echoed to the typist");
        let rust = Channel::Room(RoomName::parse("rust").unwrap());
        assert_eq!(hub.typing(&user(1), &rust), Err(NotInRoom));
    }

    #[test]
    fn typing_is_dropped_for_a_lagging_connection_without_kicking_it() {
        let hub = Hub::new();
        let (_, _a) = online(&hub, 1, &["lobby"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 4);
        frames(&mut b);
        hub.broadcast(&room("lobby"), &Frame::from("m1"));
        hub.broadcast(&room("lobby"), &Frame::from("m2"));
        let lobby = Channel::Room(RoomName::parse("lobby").unwrap());
        hub.typing(&user(1), &lobby).unwrap();
        assert!(!b.kick.is_kicked());
        assert_eq!(frames(&mut b), ["m1", "m2"]);
    }

    #[tokio::test]
    async fn logout_kicks_only_that_sessions_connections() {
        let hub = Hub::new();
        let (o1, r1) = Outbox::new(4);
        let (o2, r2) = Outbox::new(4);
        let other = TokenHash([9; 32]);
        hub.connect(&user(1), hub.next_conn_id(), SESSION, o1, [room("lobby")]);
        hub.connect(&user(1), hub.next_conn_id(), other, o2, [room("lobby")]);
        hub.close_session(SESSION, CloseReason::LOGGED_OUT);
        assert_eq!(r1.kick.kicked().await, CloseReason::LOGGED_OUT);
        assert!(!r2.kick.is_kicked());
    }
}
