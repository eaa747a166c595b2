//! How a [`ServerMsg`] and a [`ChatMessage`] are read: into one flat set of
//! optional fields ([`Fields`], through serde's own map-reading API), then a
//! `match` on `type`. The wire format is the one serde writes for the tagged
//! enums (the golden tests in `tests/wire.rs` pin both directions); only the
//! reading differs.
//!
//! Why: serde's derived decoder for an internally tagged enum (and for
//! `#[serde(flatten)]`) first copies the whole object into its private
//! `Content` buffer, then decodes it again per variant. That is slower and,
//! in the browser app's wasm, about 14 KB gzip bigger than this (measured on
//! Parley's SPA with the same build settings; removing `flatten` alone gained
//! nothing). The same [`Fields`] reads every object inside a message too (a
//! chat message, a poll, its tally, a room, a conversation), so serde's
//! object-reading code is in the wasm once, not once per struct. The server
//! does not decode these messages, except in its tests.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

use crate::msg::{Channel, ChatMessage, Conversation, ErrorCode, MyRoom, RoomInfo, ServerMsg};
use crate::poll::{PollInfo, Tally};
use crate::text::{ClientMsgId, MessageBody, RoomName, Username};

/// The `type` of a server message.
#[derive(Clone, Copy)]
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

/// The name of a field of a server message (or of an object in one).
#[derive(Clone, Copy)]
enum Key {
    Type,
    Protocol,
    User,
    Rooms,
    Conversations,
    Room,
    Dm,
    Messages,
    LastSeq,
    HasMore,
    Seq,
    Sender,
    Body,
    Ts,
    ClientId,
    Users,
    Total,
    Online,
    Poll,
    Since,
    Version,
    Counts,
    Voters,
    Closed,
    Option,
    Code,
    Message,
    Id,
    Creator,
    Question,
    Options,
    ClosesAt,
    Tally,
    MyVote,
    Polls,
    With,
    LastRead,
    LastTs,
    Members,
    Joined,
    /// Unknown fields are ignored, as serde's derive does.
    Other,
}

const KINDS: &[(&str, Kind)] = &[
    ("welcome", Kind::Welcome),
    ("room_list", Kind::RoomList),
    ("missed", Kind::Missed),
    ("too_far_behind", Kind::TooFarBehind),
    ("pong", Kind::Pong),
    ("joined", Kind::Joined),
    ("left", Kind::Left),
    ("history", Kind::History),
    ("message", Kind::Message),
    ("ack", Kind::Ack),
    ("online", Kind::Online),
    ("presence", Kind::Presence),
    ("typing", Kind::Typing),
    ("read_marker", Kind::ReadMarker),
    ("poll", Kind::Poll),
    ("polls", Kind::Polls),
    ("tally", Kind::Tally),
    ("my_vote", Kind::MyVote),
    ("error", Kind::Error),
];

const KEYS: &[(&str, Key)] = &[
    ("type", Key::Type),
    ("protocol", Key::Protocol),
    ("user", Key::User),
    ("rooms", Key::Rooms),
    ("conversations", Key::Conversations),
    ("room", Key::Room),
    ("dm", Key::Dm),
    ("messages", Key::Messages),
    ("last_seq", Key::LastSeq),
    ("has_more", Key::HasMore),
    ("seq", Key::Seq),
    ("sender", Key::Sender),
    ("body", Key::Body),
    ("ts", Key::Ts),
    ("client_id", Key::ClientId),
    ("users", Key::Users),
    ("total", Key::Total),
    ("online", Key::Online),
    ("poll", Key::Poll),
    ("since", Key::Since),
    ("version", Key::Version),
    ("counts", Key::Counts),
    ("voters", Key::Voters),
    ("closed", Key::Closed),
    ("option", Key::Option),
    ("code", Key::Code),
    ("message", Key::Message),
    ("id", Key::Id),
    ("creator", Key::Creator),
    ("question", Key::Question),
    ("options", Key::Options),
    ("closes_at", Key::ClosesAt),
    ("tally", Key::Tally),
    ("my_vote", Key::MyVote),
    ("polls", Key::Polls),
    ("with", Key::With),
    ("last_read", Key::LastRead),
    ("last_ts", Key::LastTs),
    ("members", Key::Members),
    ("joined", Key::Joined),
];

/// The value `name` stands for in `table`.
fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// Reads a string that names one of a fixed set of values. Serde's derive
/// writes a string match twice per enum (text and bytes) plus a number form;
/// a table and one lookup serve every such enum here.
pub(crate) struct ByName<T> {
    pub what: &'static str,
    pub find: fn(&str) -> Option<T>,
}

impl<T> Visitor<'_> for ByName<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<T, E> {
        (self.find)(name).ok_or_else(|| E::custom(format_args!("unknown {} `{name}`", self.what)))
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ByName {
            what: "message type",
            find: |name| lookup(KINDS, name),
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(ByName {
            what: "field name",
            find: |name| Some(lookup(KEYS, name).unwrap_or(Key::Other)),
        })
    }
}

/// Every field any server message (or any object in one) has, each
/// optional: what one JSON object held.
#[derive(Default)]
pub(crate) struct Fields {
    kind: Option<Kind>,
    protocol: Option<u32>,
    user: Option<Username>,
    rooms: Option<Vec<Fields>>,
    conversations: Option<Vec<Fields>>,
    room: Option<RoomName>,
    dm: Option<Username>,
    messages: Option<Vec<Fields>>,
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
    tally: Option<Box<Fields>>,
    my_vote: Option<u32>,
    polls: Option<Vec<Fields>>,
    with: Option<Username>,
    last_read: Option<u64>,
    last_ts: Option<u64>,
    members: Option<u32>,
    joined: Option<bool>,
}

/// Reads the next value into `slot` (a `null` leaves it empty, as for an
/// `Option` field of a derived struct); a field given twice is an error.
fn put<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(A::Error::duplicate_field(name));
    }
    *slot = map.next_value()?;
    Ok(())
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    // Only objects: serde's derive would also take an array of every field in
    // order, which JSON messages never are (and which doubled the code).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut f = Fields::default();
        let m = &mut map;
        while let Some(key) = m.next_key::<Key>()? {
            match key {
                Key::Type => put(&mut f.kind, m, "type")?,
                Key::Protocol => put(&mut f.protocol, m, "protocol")?,
                Key::User => put(&mut f.user, m, "user")?,
                Key::Rooms => put(&mut f.rooms, m, "rooms")?,
                Key::Conversations => put(&mut f.conversations, m, "conversations")?,
                Key::Room => put(&mut f.room, m, "room")?,
                Key::Dm => put(&mut f.dm, m, "dm")?,
                Key::Messages => put(&mut f.messages, m, "messages")?,
                Key::LastSeq => put(&mut f.last_seq, m, "last_seq")?,
                Key::HasMore => put(&mut f.has_more, m, "has_more")?,
                Key::Seq => put(&mut f.seq, m, "seq")?,
                Key::Sender => put(&mut f.sender, m, "sender")?,
                Key::Body => put(&mut f.body, m, "body")?,
                Key::Ts => put(&mut f.ts, m, "ts")?,
                Key::ClientId => put(&mut f.client_id, m, "client_id")?,
                Key::Users => put(&mut f.users, m, "users")?,
                Key::Total => put(&mut f.total, m, "total")?,
                Key::Online => put(&mut f.online, m, "online")?,
                Key::Poll => put(&mut f.poll, m, "poll")?,
                Key::Since => put(&mut f.since, m, "since")?,
                Key::Version => put(&mut f.version, m, "version")?,
                Key::Counts => put(&mut f.counts, m, "counts")?,
                Key::Voters => put(&mut f.voters, m, "voters")?,
                Key::Closed => put(&mut f.closed, m, "closed")?,
                Key::Option => put(&mut f.option, m, "option")?,
                Key::Code => put(&mut f.code, m, "code")?,
                Key::Message => put(&mut f.message, m, "message")?,
                Key::Id => put(&mut f.id, m, "id")?,
                Key::Creator => put(&mut f.creator, m, "creator")?,
                Key::Question => put(&mut f.question, m, "question")?,
                Key::Options => put(&mut f.options, m, "options")?,
                Key::ClosesAt => put(&mut f.closes_at, m, "closes_at")?,
                Key::Tally => put(&mut f.tally, m, "tally")?,
                Key::MyVote => put(&mut f.my_vote, m, "my_vote")?,
                Key::Polls => put(&mut f.polls, m, "polls")?,
                Key::With => put(&mut f.with, m, "with")?,
                Key::LastRead => put(&mut f.last_read, m, "last_read")?,
                Key::LastTs => put(&mut f.last_ts, m, "last_ts")?,
                Key::Members => put(&mut f.members, m, "members")?,
                Key::Joined => put(&mut f.joined, m, "joined")?,
                Key::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(f)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
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

/// Each object of a list, converted.
fn each<T>(
    list: Option<Vec<Fields>>,
    field: &'static str,
    convert: fn(Fields) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    need(list, field)?.into_iter().map(convert).collect()
}

impl TryFrom<Fields> for ChatMessage {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
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

fn tally(f: Fields) -> Result<Tally, String> {
    Ok(Tally {
        version: need(f.version, "version")?,
        counts: need(f.counts, "counts")?,
        voters: need(f.voters, "voters")?,
        closed: need(f.closed, "closed")?,
    })
}

fn poll_info(f: Fields) -> Result<PollInfo, String> {
    Ok(PollInfo {
        id: need(f.id, "id")?,
        room: need(f.room, "room")?,
        creator: need(f.creator, "creator")?,
        question: need(f.question, "question")?,
        options: need(f.options, "options")?,
        closes_at: f.closes_at,
        tally: tally(*need(f.tally, "tally")?)?,
        my_vote: f.my_vote,
    })
}

fn my_room(f: Fields) -> Result<MyRoom, String> {
    Ok(MyRoom {
        room: need(f.room, "room")?,
        last_seq: need(f.last_seq, "last_seq")?,
        last_read: need(f.last_read, "last_read")?,
    })
}

fn room_info(f: Fields) -> Result<RoomInfo, String> {
    Ok(RoomInfo {
        room: need(f.room, "room")?,
        members: need(f.members, "members")?,
        joined: need(f.joined, "joined")?,
    })
}

fn conversation(f: Fields) -> Result<Conversation, String> {
    Ok(Conversation {
        with: need(f.with, "with")?,
        last_seq: need(f.last_seq, "last_seq")?,
        last_read: need(f.last_read, "last_read")?,
        last_ts: need(f.last_ts, "last_ts")?,
        online: need(f.online, "online")?,
    })
}

impl TryFrom<Fields> for ServerMsg {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
        Ok(match need(f.kind, "type")? {
            Kind::Welcome => Self::Welcome {
                protocol: need(f.protocol, "protocol")?,
                user: need(f.user, "user")?,
                rooms: each(f.rooms, "rooms", my_room)?,
                conversations: each(f.conversations, "conversations", conversation)?,
            },
            Kind::RoomList => Self::RoomList {
                rooms: each(f.rooms, "rooms", room_info)?,
            },
            Kind::Missed => Self::Missed {
                channel: channel(f.room, f.dm)?,
                messages: each(f.messages, "messages", ChatMessage::try_from)?,
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
                messages: each(f.messages, "messages", ChatMessage::try_from)?,
                has_more: need(f.has_more, "has_more")?,
            },
            Kind::Message => Self::Message(ChatMessage::try_from(f)?),
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
            Kind::Poll => Self::Poll(poll_info(f)?),
            Kind::Polls => Self::Polls {
                room: need(f.room, "room")?,
                polls: each(f.polls, "polls", poll_info)?,
            },
            Kind::Tally => Self::Tally {
                poll: need(f.poll, "poll")?,
                since: need(f.since, "since")?,
                tally: tally(f)?,
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
