//! Helpers for the hub's unit tests: users, rooms and connections to watch.

use parley_common::{RoomName, Username};

use super::{ConnId, Hub};
use crate::outbox::{Outbox, OutboxReceiver};
use crate::store::{AuthUser, ChannelKey, TokenHash, UserId};

pub const SESSION: TokenHash = TokenHash([7; 32]);

pub fn room(name: &str) -> ChannelKey {
    ChannelKey::Room(RoomName::parse(name).unwrap())
}

pub fn user(id: i64) -> AuthUser {
    AuthUser {
        id: UserId(id),
        name: Username::parse(&format!("user{id}")).unwrap(),
    }
}

/// Connects user `id` to `rooms` with an outbox of `capacity`.
pub fn online(hub: &Hub, id: i64, rooms: &[&str], capacity: usize) -> (ConnId, OutboxReceiver) {
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

/// Every frame waiting in `rx`, as text.
pub fn frames(rx: &mut OutboxReceiver) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.frames.try_recv() {
        out.push(frame.as_str().to_owned());
    }
    out
}

/// Only the frames of this `type`.
pub fn of_type(rx: &mut OutboxReceiver, kind: &str) -> Vec<String> {
    let tag = format!("{{\"type\":\"{kind}\"");
    frames(rx)
        .into_iter()
        .filter(|f| f.starts_with(&tag))
        .collect()
}
