//! How a [`ServerMsg`] and a [`ChatMessage`] are read: through one flat struct
//! whose fields are all optional, then a `match` on `type`. The wire format is
//! the one serde writes for the tagged enums (the golden tests in
//! `tests/wire.rs` pin both directions); only the reading differs.
//!
//! Why: serde's derived decoder for an internally tagged enum (and for
//! `#[serde(flatten)]`) first copies the whole object into its private
//! `Content` buffer, then decodes it again per variant. That is slower and,
//! in the browser app's wasm, about 14 KB gzip bigger than this (measured on
//! Parley's SPA with the same build settings; removing `flatten` alone gained
//! nothing). The server does not decode these messages, except in its tests.

use serde::Deserialize;

use crate::msg::{Channel, ChatMessage, Conversation, ErrorCode, MyRoom, RoomInfo, ServerMsg};
use crate::poll::{PollInfo, Tally};
use crate::text::{ClientMsgId, MessageBody, RoomName, Username};

/// The `type` of a server message.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Welcome,
    RoomList,
    Missed,
    TooFarBehind,
    Pong,
    Joined,
    Left,
    History,
    Message,
    Ack,
    Online,
    Presence,
    Typing,
    ReadMarker,
    Poll,
    Polls,
    Tally,
    MyVote,
    Error,
}

/// An entry of `rooms`: a [`MyRoom`] in `welcome`, a [`RoomInfo`] in
/// `room_list` (one field name, two shapes).
#[derive(Deserialize)]
pub(crate) struct RoomEntry {
    room: RoomName,
    last_seq: Option<u64>,
    last_read: Option<u64>,
    members: Option<u32>,
    joined: Option<bool>,
}

/// Every field any server message has, each optional.
#[derive(Deserialize)]
pub(crate) struct FlatServerMsg {
    #[serde(rename = "type")]
    kind: Kind,
    protocol: Option<u32>,
    user: Option<Username>,
    rooms: Option<Vec<RoomEntry>>,
    conversations: Option<Vec<Conversation>>,
    room: Option<RoomName>,
    dm: Option<Username>,
    messages: Option<Vec<ChatMessage>>,
    last_seq: Option<u64>,
    has_more: Option<bool>,
    seq: Option<u64>,
    sender: Option<Username>,
    body: Option<MessageBody>,
    ts: Option<u64>,
    client_id: Option<ClientMsgId>,
    users: Option<Vec<Username>>,
    total: Option<u64>,
    online: Option<bool>,
    poll: Option<u64>,
    since: Option<u64>,
    version: Option<u64>,
    counts: Option<Vec<u64>>,
    voters: Option<u64>,
    closed: Option<bool>,
    option: Option<u32>,
    code: Option<ErrorCode>,
    message: Option<String>,
    id: Option<u64>,
    creator: Option<Username>,
    question: Option<String>,
    options: Option<Vec<String>>,
    closes_at: Option<u64>,
    tally: Option<Tally>,
    my_vote: Option<u32>,
    polls: Option<Vec<PollInfo>>,
}

/// The fields of a [`ChatMessage`], each optional.
#[derive(Deserialize)]
pub(crate) struct FlatChatMessage {
    room: Option<RoomName>,
    dm: Option<Username>,
    seq: Option<u64>,
    sender: Option<Username>,
    body: Option<MessageBody>,
    ts: Option<u64>,
    client_id: Option<ClientMsgId>,
}

/// A field the message's type requires.
fn need<T>(value: Option<T>, field: &'static str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing field `{field}`"))
}

/// `"room"` or `"dm"`: exactly one of them.
fn channel(room: Option<RoomName>, dm: Option<Username>) -> Result<Channel, String> {
    match (room, dm) {
        (Some(room), None) => Ok(Channel::Room(room)),
        (None, Some(user)) => Ok(Channel::Dm(user)),
        (None, None) => Err("missing field `room` or `dm`".into()),
        (Some(_), Some(_)) => Err("both `room` and `dm`: a message has one channel".into()),
    }
}

impl TryFrom<FlatChatMessage> for ChatMessage {
    type Error = String;

    fn try_from(f: FlatChatMessage) -> Result<Self, String> {
        Ok(Self {
            channel: channel(f.room, f.dm)?,
            seq: need(f.seq, "seq")?,
            sender: need(f.sender, "sender")?,
            body: need(f.body, "body")?,
            ts: need(f.ts, "ts")?,
            client_id: need(f.client_id, "client_id")?,
        })
    }
}

impl TryFrom<FlatServerMsg> for ServerMsg {
    type Error = String;

    fn try_from(f: FlatServerMsg) -> Result<Self, String> {
        Ok(match f.kind {
            Kind::Welcome => Self::Welcome {
                protocol: need(f.protocol, "protocol")?,
                user: need(f.user, "user")?,
                rooms: need(f.rooms, "rooms")?
                    .into_iter()
                    .map(|r| {
                        Ok(MyRoom {
                            room: r.room,
                            last_seq: need(r.last_seq, "last_seq")?,
                            last_read: need(r.last_read, "last_read")?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
                conversations: need(f.conversations, "conversations")?,
            },
            Kind::RoomList => Self::RoomList {
                rooms: need(f.rooms, "rooms")?
                    .into_iter()
                    .map(|r| {
                        Ok(RoomInfo {
                            room: r.room,
                            members: need(r.members, "members")?,
                            joined: need(r.joined, "joined")?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            },
            Kind::Missed => Self::Missed {
                channel: channel(f.room, f.dm)?,
                messages: need(f.messages, "messages")?,
            },
            Kind::TooFarBehind => Self::TooFarBehind {
                channel: channel(f.room, f.dm)?,
                last_seq: need(f.last_seq, "last_seq")?,
            },
            Kind::Pong => Self::Pong,
            Kind::Joined => Self::Joined {
                room: need(f.room, "room")?,
                last_seq: need(f.last_seq, "last_seq")?,
            },
            Kind::Left => Self::Left {
                room: need(f.room, "room")?,
            },
            Kind::History => Self::History {
                channel: channel(f.room, f.dm)?,
                messages: need(f.messages, "messages")?,
                has_more: need(f.has_more, "has_more")?,
            },
            Kind::Message => Self::Message(ChatMessage {
                channel: channel(f.room, f.dm)?,
                seq: need(f.seq, "seq")?,
                sender: need(f.sender, "sender")?,
                body: need(f.body, "body")?,
                ts: need(f.ts, "ts")?,
                client_id: need(f.client_id, "client_id")?,
            }),
            Kind::Ack => Self::Ack {
                client_id: need(f.client_id, "client_id")?,
                channel: channel(f.room, f.dm)?,
                seq: need(f.seq, "seq")?,
            },
            Kind::Online => Self::Online {
                channel: channel(f.room, f.dm)?,
                users: need(f.users, "users")?,
                total: need(f.total, "total")?,
            },
            Kind::Presence => Self::Presence {
                channel: channel(f.room, f.dm)?,
                user: need(f.user, "user")?,
                online: need(f.online, "online")?,
            },
            Kind::Typing => Self::Typing {
                channel: channel(f.room, f.dm)?,
                user: need(f.user, "user")?,
            },
            Kind::ReadMarker => Self::ReadMarker {
                channel: channel(f.room, f.dm)?,
                seq: need(f.seq, "seq")?,
            },
            Kind::Poll => Self::Poll(PollInfo {
                id: need(f.id, "id")?,
                room: need(f.room, "room")?,
                creator: need(f.creator, "creator")?,
                question: need(f.question, "question")?,
                options: need(f.options, "options")?,
                closes_at: f.closes_at,
                tally: need(f.tally, "tally")?,
                my_vote: f.my_vote,
            }),
            Kind::Polls => Self::Polls {
                room: need(f.room, "room")?,
                polls: need(f.polls, "polls")?,
            },
            Kind::Tally => Self::Tally {
                poll: need(f.poll, "poll")?,
                since: need(f.since, "since")?,
                tally: Tally {
                    version: need(f.version, "version")?,
                    counts: need(f.counts, "counts")?,
                    voters: need(f.voters, "voters")?,
                    closed: need(f.closed, "closed")?,
                },
            },
            Kind::MyVote => Self::MyVote {
                poll: need(f.poll, "poll")?,
                option: need(f.option, "option")?,
            },
            Kind::Error => Self::Error {
                code: need(f.code, "code")?,
                message: need(f.message, "message")?,
                client_id: f.client_id,
            },
        })
    }
}
