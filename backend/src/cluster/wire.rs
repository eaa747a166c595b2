//! What nodes tell each other over Redis pub/sub, as JSON. Every event names
//! the node that sent it, so a node skips its own.
//!
//! Pub/sub is at most once: nothing here is the only copy of anything that
//! must not be lost. Messages and tallies are in the store (a lost hint is
//! caught by the head check or the next tally), presence is re-sent whole by
//! every node's heartbeat, typing is ephemeral, and a lost revocation expires
//! with the session cache's re-read (30 s).

use parley_common::{Channel, ChatMessage, PollInfo, RoomName, Tally, Username};
use serde::{Deserialize, Serialize};

use crate::store::{Appended, AuthUser, ChannelKey, DmParties, UserId};

/// A channel key as text: `r:<room>` or `d:<lower id>:<higher id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WireKey(String);

impl From<&ChannelKey> for WireKey {
    fn from(key: &ChannelKey) -> Self {
        Self(match key {
            ChannelKey::Room(room) => format!("r:{room}"),
            ChannelKey::Dm(a, b) => format!("d:{}:{}", a.0, b.0),
        })
    }
}

impl WireKey {
    pub fn key(&self) -> Option<ChannelKey> {
        if let Some(room) = self.0.strip_prefix("r:") {
            return RoomName::parse(room).ok().map(ChannelKey::Room);
        }
        let (a, b) = self.0.strip_prefix("d:")?.split_once(':')?;
        Some(ChannelKey::dm(
            UserId(a.parse().ok()?),
            UserId(b.parse().ok()?),
        ))
    }
}

/// A user as the events name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUser {
    pub id: i64,
    pub name: Username,
}

impl From<&AuthUser> for WireUser {
    fn from(u: &AuthUser) -> Self {
        Self {
            id: u.id.0,
            name: u.name.clone(),
        }
    }
}

impl From<WireUser> for AuthUser {
    fn from(u: WireUser) -> Self {
        Self {
            id: UserId(u.id),
            name: u.name,
        }
    }
}

/// One event between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// A message committed by `node` (as its writer handed it to the fan-out).
    Msg {
        node: u64,
        key: WireKey,
        msg: ChatMessage,
        /// Sender and recipient of a private message.
        dm: Option<(WireUser, WireUser)>,
    },
    /// A poll's new tally (versioned: an older one never replaces a newer one).
    Tally {
        node: u64,
        key: WireKey,
        poll: u64,
        tally: Tally,
    },
    /// `user` is typing in `channel` (as they named it).
    Typing {
        node: u64,
        user: WireUser,
        channel: Channel,
    },
    /// `user` is online on `node` in these channels; `None`: no longer there.
    /// `version` orders what one node says (hub::remote).
    Presence {
        node: u64,
        user: WireUser,
        channels: Option<Vec<WireKey>>,
        version: u64,
    },
    /// `user` joined `room` (on `node`): their tabs elsewhere follow it too.
    Joined {
        node: u64,
        user: i64,
        room: RoomName,
        last_seq: u64,
    },
    /// `user` left `room`.
    Left {
        node: u64,
        user: i64,
        room: RoomName,
    },
    /// A session was logged out: forget it and close its connections.
    Revoke { node: u64, token: String },
    /// A new poll in `room` (its first state, the same for every viewer).
    Poll {
        node: u64,
        room: RoomName,
        info: PollInfo,
    },
    /// A frame for every tab of `user` (e.g. their own vote), encoded.
    ToUser { node: u64, user: i64, frame: String },
}

impl Event {
    pub fn node(&self) -> u64 {
        match self {
            Self::Msg { node, .. }
            | Self::Tally { node, .. }
            | Self::Typing { node, .. }
            | Self::Presence { node, .. }
            | Self::Joined { node, .. }
            | Self::Left { node, .. }
            | Self::Revoke { node, .. }
            | Self::Poll { node, .. }
            | Self::ToUser { node, .. } => *node,
        }
    }

    pub fn message(node: u64, a: &Appended) -> Self {
        Self::Msg {
            node,
            key: WireKey::from(&a.key),
            msg: a.msg.clone(),
            dm: a
                .dm
                .as_ref()
                .map(|p| (WireUser::from(&p.sender), WireUser::from(&p.recipient))),
        }
    }
}

/// A `Msg` event back into what the fan-out takes.
pub fn appended(
    key: &WireKey,
    msg: ChatMessage,
    dm: Option<(WireUser, WireUser)>,
) -> Option<Appended> {
    Some(Appended {
        msg,
        key: key.key()?,
        dm: dm.map(|(sender, recipient)| DmParties {
            sender: sender.into(),
            recipient: recipient.into(),
        }),
        duplicate: false,
    })
}

/// A session token hash as hex, and back.
pub fn token_hex(token: &crate::store::TokenHash) -> String {
    token.0.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn token_from_hex(hex: &str) -> Option<crate::store::TokenHash> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(crate::store::TokenHash(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_round_trip() {
        let room = ChannelKey::Room(RoomName::parse("rust").unwrap());
        let dm = ChannelKey::dm(UserId(9), UserId(2));
        for key in [room, dm] {
            assert_eq!(WireKey::from(&key).key(), Some(key));
        }
        assert_eq!(WireKey("d:x:1".into()).key(), None);
        let token = crate::store::TokenHash([0xab; 32]);
        assert_eq!(token_from_hex(&token_hex(&token)), Some(token));
        assert_eq!(token_from_hex("zz"), None);
    }
}
