//! The hub: which connection is in which room, each room's sequence numbers, and
//! fan-out of messages to members' outboxes.
//!
//! State lives behind one `std::sync::Mutex`, touched only in short synchronous
//! sections that never `.await` (DESIGN.md rule 7). A std mutex (not tokio's) is the
//! right tool: nothing inside waits, so holding it is a few microseconds, and fan-out
//! is `try_send` into bounded outboxes. Assigning the sequence number, encoding the
//! frame and enqueueing it to every member happen under the same lock, which is what
//! makes every member see a room's messages in sequence order without gaps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use parley_common::{
    ChatMessage, ClientMsgId, ErrorCode, MessageBody, RoomName, ServerMsg, Username,
};

use crate::outbox::{Frame, Outbox, Pushed};

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
    rooms: HashMap<RoomName, Room>,
}

#[derive(Debug, Default)]
struct Room {
    last_seq: u64,
    members: HashMap<ConnId, Outbox>,
}

/// A message accepted by the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub seq: u64,
    /// How many members the frame was queued for.
    pub delivered: usize,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.inner.next_conn.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the whole server, so keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `conn` to `room` (creating the room on first use) and returns the room's
    /// latest sequence number. Joining twice is harmless.
    pub fn join(&self, room: &RoomName, conn: ConnId, outbox: &Outbox) -> u64 {
        let mut state = self.state();
        let entry = state.rooms.entry(room.clone()).or_default();
        entry.members.insert(conn, outbox.clone());
        entry.last_seq
    }

    /// Removes `conn` from `room`.
    pub fn leave(&self, room: &RoomName, conn: ConnId) {
        let mut state = self.state();
        if let Some(entry) = state.rooms.get_mut(room) {
            entry.members.remove(&conn);
        }
    }

    /// Accepts a chat message from `conn` (which must be a member of `room`), assigns
    /// the room's next sequence number and queues one shared frame for every member,
    /// the sender included. Members whose outbox is full are kicked and removed.
    pub fn post(
        &self,
        conn: ConnId,
        room: &RoomName,
        sender: &Username,
        client_id: &ClientMsgId,
        body: MessageBody,
    ) -> Result<Posted, ErrorCode> {
        let mut state = self.state();
        let entry = state
            .rooms
            .get_mut(room)
            .filter(|r| r.members.contains_key(&conn))
            .ok_or(ErrorCode::NotInRoom)?;
        let seq = entry.last_seq + 1;
        let msg = ServerMsg::Message(ChatMessage {
            room: room.clone(),
            seq,
            sender: sender.clone(),
            body,
            ts: now_ms(),
            client_id: client_id.clone(),
        });
        let frame = Frame::from(msg.to_json().map_err(|_| ErrorCode::Internal)?);
        entry.last_seq = seq;

        let mut delivered = 0;
        entry
            .members
            .retain(|_, outbox| match outbox.push(frame.clone()) {
                Pushed::Queued => {
                    delivered += 1;
                    true
                }
                Pushed::Kicked | Pushed::Closed => false,
            });
        Ok(Posted { seq, delivered })
    }

    /// How many connections are in `room` (for tests and metrics).
    pub fn member_count(&self, room: &RoomName) -> usize {
        self.state().rooms.get(room).map_or(0, |r| r.members.len())
    }
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

    fn member(hub: &Hub, room: &RoomName, capacity: usize) -> (ConnId, Outbox, OutboxReceiver) {
        let (outbox, rx) = Outbox::new(capacity);
        let id = hub.next_conn_id();
        hub.join(room, id, &outbox);
        (id, outbox, rx)
    }

    fn post(hub: &Hub, conn: ConnId, room: &RoomName, text: &str) -> Result<Posted, ErrorCode> {
        hub.post(
            conn,
            room,
            &Username::parse("alice").unwrap(),
            &ClientMsgId::parse("m1").unwrap(),
            MessageBody::parse(text).unwrap(),
        )
    }

    fn seqs(rx: &mut OutboxReceiver) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.frames.try_recv() {
            match serde_json::from_str::<ServerMsg>(&frame).unwrap() {
                ServerMsg::Message(m) => out.push(m.seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn sequence_numbers_are_per_room_and_gap_free() {
        let hub = Hub::new();
        let lobby = RoomName::lobby();
        let other = RoomName::parse("other").unwrap();
        let (a, _oa, mut ra) = member(&hub, &lobby, 16);
        let (b, _ob, mut rb) = member(&hub, &other, 16);
        for _ in 0..3 {
            post(&hub, a, &lobby, "x").unwrap();
        }
        post(&hub, b, &other, "y").unwrap();
        assert_eq!(seqs(&mut ra), vec![1, 2, 3]);
        assert_eq!(seqs(&mut rb), vec![1]);
    }

    #[test]
    fn one_frame_is_shared_by_all_members() {
        let hub = Hub::new();
        let lobby = RoomName::lobby();
        let (a, _oa, mut ra) = member(&hub, &lobby, 16);
        let (_b, _ob, mut rb) = member(&hub, &lobby, 16);
        let posted = post(&hub, a, &lobby, "hello").unwrap();
        assert_eq!(
            posted,
            Posted {
                seq: 1,
                delivered: 2
            }
        );
        let fa = ra.frames.try_recv().unwrap();
        let fb = rb.frames.try_recv().unwrap();
        // Same allocation, not two encodings of the same message.
        assert_eq!(fa.as_str().as_ptr(), fb.as_str().as_ptr());
    }

    #[test]
    fn posting_outside_a_joined_room_is_refused() {
        let hub = Hub::new();
        let lobby = RoomName::lobby();
        let other = RoomName::parse("other").unwrap();
        let (a, _oa, mut ra) = member(&hub, &lobby, 16);
        let (_b, _ob, mut rb) = member(&hub, &other, 16);
        assert_eq!(post(&hub, a, &other, "x"), Err(ErrorCode::NotInRoom));
        assert!(seqs(&mut rb).is_empty());
        assert!(seqs(&mut ra).is_empty());
        // The failed post did not consume a sequence number.
        let (b2, _o, _r) = member(&hub, &other, 16);
        assert_eq!(post(&hub, b2, &other, "y").unwrap().seq, 1);
    }

    #[test]
    fn a_slow_member_is_kicked_and_others_still_get_everything() {
        let hub = Hub::new();
        let lobby = RoomName::lobby();
        let (a, _oa, mut fast) = member(&hub, &lobby, 64);
        let (_s, _os, slow) = member(&hub, &lobby, 2);
        for _ in 0..5 {
            post(&hub, a, &lobby, "x").unwrap();
        }
        assert!(slow.kicked.is_cancelled());
        assert_eq!(hub.member_count(&lobby), 1);
        assert_eq!(seqs(&mut fast), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn leaving_stops_delivery() {
        let hub = Hub::new();
        let lobby = RoomName::lobby();
        let (a, _oa, _ra) = member(&hub, &lobby, 16);
        let (b, _ob, mut rb) = member(&hub, &lobby, 16);
        hub.leave(&lobby, b);
        post(&hub, a, &lobby, "x").unwrap();
        assert!(seqs(&mut rb).is_empty());
    }
}
