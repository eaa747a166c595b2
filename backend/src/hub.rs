//! The hub: who is online, which of their connections are open, which rooms they
//! are in, and fan-out of frames to those connections' outboxes.
//!
//! Sequence numbers and storage live in the [`store`](crate::store); the store's
//! writer calls [`Hub::publish`] (through the [`Fanout`] trait) after each commit,
//! in commit order, so members see every room's messages in order.
//!
//! State lives behind one `std::sync::Mutex`, touched only in short synchronous
//! sections that never `.await` (DESIGN.md rule 7). A std mutex (not tokio's) is the
//! right tool: nothing inside waits, so holding it is a few microseconds, and fan-out
//! is `try_send` of one shared, already-encoded frame into bounded outboxes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use parley_common::{ChatMessage, RoomName};

use crate::outbox::{CloseReason, Frame, Outbox, Pushed};
use crate::store::{Fanout, TokenHash, UserId};

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
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, OnlineUser>,
    /// Online members of each room.
    rooms: HashMap<RoomName, HashSet<UserId>>,
}

#[derive(Debug, Default)]
struct OnlineUser {
    conns: HashMap<ConnId, Conn>,
    rooms: HashSet<RoomName>,
}

#[derive(Debug)]
struct Conn {
    outbox: Outbox,
    session: TokenHash,
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

    /// Registers an open connection of `user`, who is a member of `rooms`.
    pub fn connect(
        &self,
        user: UserId,
        conn: ConnId,
        session: TokenHash,
        outbox: Outbox,
        rooms: impl IntoIterator<Item = RoomName>,
    ) {
        let mut state = self.state();
        let State {
            users,
            rooms: room_members,
        } = &mut *state;
        let online = users.entry(user).or_default();
        online.conns.insert(conn, Conn { outbox, session });
        for room in rooms {
            room_members.entry(room.clone()).or_default().insert(user);
            online.rooms.insert(room);
        }
    }

    /// Forgets a connection; a user whose last connection closed goes offline.
    pub fn disconnect(&self, user: UserId, conn: ConnId) {
        let mut state = self.state();
        let Some(online) = state.users.get_mut(&user) else {
            return;
        };
        online.conns.remove(&conn);
        if online.conns.is_empty()
            && let Some(gone) = state.users.remove(&user)
        {
            for room in gone.rooms {
                remove_member(&mut state.rooms, &room, user);
            }
        }
    }

    /// `user` joined `room`: deliver its messages to all their connections.
    pub fn joined(&self, user: UserId, room: &RoomName) {
        let mut state = self.state();
        let State { users, rooms } = &mut *state;
        if let Some(online) = users.get_mut(&user) {
            online.rooms.insert(room.clone());
            rooms.entry(room.clone()).or_default().insert(user);
        }
    }

    /// `user` left `room`.
    pub fn left(&self, user: UserId, room: &RoomName) {
        let mut state = self.state();
        if let Some(online) = state.users.get_mut(&user) {
            online.rooms.remove(room);
        }
        remove_member(&mut state.rooms, room, user);
    }

    /// Queues `frame` for every connection of `user` (e.g. "you joined a room", so
    /// all their tabs learn it).
    pub fn send_to_user(&self, user: UserId, frame: &Frame) {
        let mut state = self.state();
        if let Some(online) = state.users.get_mut(&user) {
            push_all(&mut online.conns, frame);
        }
    }

    /// Queues `frame` for every online member of `room`; returns how many
    /// connections it was queued for. Connections whose outbox is full are kicked.
    pub fn broadcast(&self, room: &RoomName, frame: &Frame) -> usize {
        let mut state = self.state();
        let State { users, rooms } = &mut *state;
        let Some(members) = rooms.get(room) else {
            return 0;
        };
        let mut delivered = 0;
        for user in members {
            if let Some(online) = users.get_mut(user) {
                delivered += push_all(&mut online.conns, frame);
            }
        }
        delivered
    }

    /// Closes every connection of a session (logout) with `reason`.
    pub fn close_session(&self, session: TokenHash, reason: CloseReason) {
        let state = self.state();
        for online in state.users.values() {
            for conn in online.conns.values().filter(|c| c.session == session) {
                conn.outbox.kick(reason);
            }
        }
    }

    /// Whether `user` has an open connection.
    pub fn is_online(&self, user: UserId) -> bool {
        self.state().users.contains_key(&user)
    }

    /// How many users of `room` are online (for tests and metrics).
    pub fn online_members(&self, room: &RoomName) -> usize {
        self.state().rooms.get(room).map_or(0, HashSet::len)
    }
}

impl Fanout for Hub {
    fn publish(&self, msg: &ChatMessage, frame: String) {
        self.broadcast(&msg.room, &Frame::from(frame));
    }
}

fn remove_member(rooms: &mut HashMap<RoomName, HashSet<UserId>>, room: &RoomName, user: UserId) {
    if let Some(members) = rooms.get_mut(room) {
        members.remove(&user);
        if members.is_empty() {
            rooms.remove(room);
        }
    }
}

/// Pushes one shared frame into each connection's outbox, dropping the
/// connections that were kicked or are gone. Returns how many took it.
fn push_all(conns: &mut HashMap<ConnId, Conn>, frame: &Frame) -> usize {
    let mut delivered = 0;
    conns.retain(|_, conn| match conn.outbox.push(frame.clone()) {
        Pushed::Queued => {
            delivered += 1;
            true
        }
        Pushed::Kicked | Pushed::Closed => false,
    });
    delivered
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::OutboxReceiver;

    const SESSION: TokenHash = TokenHash([7; 32]);

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn online(hub: &Hub, user: i64, rooms: &[&str], capacity: usize) -> (ConnId, OutboxReceiver) {
        let (outbox, rx) = Outbox::new(capacity);
        let id = hub.next_conn_id();
        hub.connect(
            UserId(user),
            id,
            SESSION,
            outbox,
            rooms.iter().map(|r| room(r)),
        );
        (id, rx)
    }

    fn frames(rx: &mut OutboxReceiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.frames.try_recv() {
            out.push(frame.as_str().to_owned());
        }
        out
    }

    #[test]
    fn broadcast_reaches_online_members_of_the_room_only() {
        let hub = Hub::new();
        let (_, mut a) = online(&hub, 1, &["lobby", "rust"], 16);
        let (_, mut b) = online(&hub, 2, &["lobby"], 16);
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
        hub.broadcast(&room("lobby"), &Frame::from(String::from("hello")));
        let fa = a.frames.try_recv().unwrap();
        let fb = b.frames.try_recv().unwrap();
        assert_eq!(fa.as_str().as_ptr(), fb.as_str().as_ptr());
    }

    #[test]
    fn every_tab_of_a_user_gets_room_messages_and_the_user_stays_online_until_the_last_closes() {
        let hub = Hub::new();
        let (tab1, mut a1) = online(&hub, 1, &["lobby"], 16);
        let (tab2, mut a2) = online(&hub, 1, &["lobby"], 16);
        assert_eq!(hub.online_members(&room("lobby")), 1);
        hub.broadcast(&room("lobby"), &Frame::from("x"));
        assert_eq!(frames(&mut a1), ["x"]);
        assert_eq!(frames(&mut a2), ["x"]);
        hub.disconnect(UserId(1), tab1);
        assert!(hub.is_online(UserId(1)));
        hub.disconnect(UserId(1), tab2);
        assert!(!hub.is_online(UserId(1)));
        assert_eq!(hub.online_members(&room("lobby")), 0);
    }

    #[test]
    fn joining_and_leaving_change_delivery_for_all_tabs() {
        let hub = Hub::new();
        let (_, mut a1) = online(&hub, 1, &["lobby"], 16);
        let (_, mut a2) = online(&hub, 1, &["lobby"], 16);
        hub.joined(UserId(1), &room("rust"));
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
        for i in 0..5 {
            hub.broadcast(&room("lobby"), &Frame::from(format!("m{i}")));
        }
        assert!(slow.kick.is_kicked());
        assert_eq!(frames(&mut fast).len(), 5);
        // The kicked connection no longer receives anything.
        assert_eq!(hub.broadcast(&room("lobby"), &Frame::from("after")), 1);
    }

    #[tokio::test]
    async fn logout_kicks_only_that_sessions_connections() {
        let hub = Hub::new();
        let (o1, r1) = Outbox::new(4);
        let (o2, r2) = Outbox::new(4);
        let other = TokenHash([9; 32]);
        hub.connect(UserId(1), hub.next_conn_id(), SESSION, o1, [room("lobby")]);
        hub.connect(UserId(1), hub.next_conn_id(), other, o2, [room("lobby")]);
        hub.close_session(SESSION, CloseReason::LOGGED_OUT);
        assert_eq!(r1.kick.kicked().await, CloseReason::LOGGED_OUT);
        assert!(!r2.kick.is_kicked());
    }
}
