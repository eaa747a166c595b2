//! The wire format in the browser, without serde: a small JSON reader ([`parse`]
//! into [`Json`]) and writer, and the protocol's messages on top of them —
//! [`server_msg`] and the HTTP answers the app reads, [`client_msg`] and
//! [`credentials`] for what it sends.
//!
//! The format itself is `parley_common`'s (its serde derives and golden tests
//! pin it; the server uses them). Decoding it here instead of with serde_json
//! keeps the download small: serde's code for the internally tagged,
//! flattened `ServerMsg` was the largest part of the wasm. The tests in
//! `wire/tests.rs` check, message by message, that this module reads what
//! serde writes and writes byte for byte what serde writes.
//!
//! Validated fields go through the same `parse` functions as serde's
//! deserializers, unknown fields are ignored, a missing or `null` optional field
//! is `None`: a message is accepted exactly when serde would accept it (for
//! everything the server sends).

use std::borrow::Cow;
use std::fmt::Write as _;

use parley_common::{
    ApiError, Channel, ChatMessage, ClientMsg, CloseInfo, Conversation, Credentials, ErrorCode, Me,
    MyRoom, PollInfo, RoomInfo, ServerMsg, Tally, Username, ValidationError,
};

use crate::lower::room_name;

#[cfg(test)]
mod tests;

/// Why a text is not the JSON (or the message) expected. Its text says what is
/// wrong, for the "unreadable message" notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(what: impl Into<String>) -> Result<T, Error> {
    Err(Error(what.into()))
}

/// A parsed JSON value. Numbers are all the protocol needs: non-negative
/// integers; any other number is kept only as "a number" (never a valid field).
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer that fits in a `u64`.
    Uint(u64),
    /// Any other number (negative, fractional, with an exponent, too big).
    Number,
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Deepest nesting accepted (serde_json's limit too).
const MAX_DEPTH: u32 = 128;

/// Parses one JSON text (RFC 8259, surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Json<'_>, Error> {
    let mut parser = Parser {
        text,
        at: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.space();
    if parser.at < text.len() {
        return parser.fail("trailing characters");
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn fail<T>(&self, what: &str) -> Result<T, Error> {
        fail(format!("{what} at byte {}", self.at))
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Skips `byte` (after whitespace) if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.space();
        let next = self.peek() == Some(byte);
        if next {
            self.at += 1;
        }
        next
    }

    fn value(&mut self) -> Result<Json<'a>, Error> {
        self.space();
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.literal(),
        }
    }

    fn literal(&mut self) -> Result<Json<'a>, Error> {
        let rest = &self.text.as_bytes()[self.at..];
        for (word, value) in [
            ("true", Json::Bool(true)),
            ("false", Json::Bool(false)),
            ("null", Json::Null),
        ] {
            if rest.starts_with(word.as_bytes()) {
                self.at += word.len();
                return Ok(value);
            }
        }
        self.fail("expected a value")
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json<'a>, Error>) -> Result<Json<'a>, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.at += 1;
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Json<'a>, Error> {
        let mut items = Vec::new();
        if !self.eat(b']') {
            loop {
                items.push(self.value()?);
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return self.fail("expected `,` or `]`");
                }
            }
        }
        Ok(Json::Array(items))
    }

    fn object(&mut self) -> Result<Json<'a>, Error> {
        let mut fields = Vec::new();
        if !self.eat(b'}') {
            loop {
                self.space();
                if self.peek() != Some(b'"') {
                    return self.fail("expected a field name");
                }
                let key = self.string()?;
                if !self.eat(b':') {
                    return self.fail("expected `:`");
                }
                fields.push((key, self.value()?));
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return self.fail("expected `,` or `}`");
                }
            }
        }
        Ok(Json::Object(fields))
    }

    /// A string, from its opening quote. Borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.at += 1;
        let mut owned = String::new();
        let mut escaped = false;
        let mut run = self.at;
        loop {
            let Some(byte) = self.peek() else {
                return self.fail("unterminated string");
            };
            match byte {
                b'"' => {
                    let tail = self.text.get(run..self.at).unwrap_or_default();
                    self.at += 1;
                    return Ok(if escaped {
                        owned.push_str(tail);
                        Cow::Owned(owned)
                    } else {
                        Cow::Borrowed(tail)
                    });
                }
                b'\\' => {
                    owned.push_str(self.text.get(run..self.at).unwrap_or_default());
                    escaped = true;
                    self.at += 1;
                    let c = self.escape()?;
                    owned.push(c);
                    run = self.at;
                }
                0..0x20 => return self.fail("control character in a string"),
                _ => self.at += 1,
            }
        }
    }

    /// The character of an escape, from after its backslash.
    fn escape(&mut self) -> Result<char, Error> {
        let byte = self.peek();
        self.at += 1;
        Ok(match byte {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    // A surrogate pair: the low half must follow.
                    if !self.text.as_bytes()[self.at..].starts_with(b"\\u") {
                        return self.fail("lone surrogate");
                    }
                    self.at += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return self.fail("lone surrogate");
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                match char::from_u32(code) {
                    Some(c) => c,
                    None => return self.fail("lone surrogate"),
                }
            }
            _ => return self.fail("invalid escape"),
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self.peek().and_then(|b| char::from(b).to_digit(16));
            let Some(digit) = digit else {
                return self.fail("invalid \\u escape");
            };
            code = code * 16 + digit;
            self.at += 1;
        }
        Ok(code)
    }

    fn number(&mut self) -> Result<Json<'a>, Error> {
        let mut plain = true;
        if self.peek() == Some(b'-') {
            plain = false;
            self.at += 1;
        }
        let mut value = Some(0u64);
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    value = value
                        .and_then(|v| v.checked_mul(10))
                        .and_then(|v| v.checked_add(u64::from(digit - b'0')));
                    self.at += 1;
                }
            }
            _ => return self.fail("invalid number"),
        }
        if self.peek() == Some(b'.') {
            plain = false;
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        Ok(match value {
            Some(v) if plain => Json::Uint(v),
            _ => Json::Number,
        })
    }

    /// One or more digits.
    fn digits(&mut self) -> Result<(), Error> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        if self.at == start {
            return self.fail("invalid number");
        }
        Ok(())
    }
}

/// The fields of a JSON object, read as a message's fields.
#[derive(Clone, Copy)]
struct Fields<'j, 'a>(&'j [(Cow<'a, str>, Json<'a>)]);

fn object<'j, 'a>(value: &'j Json<'a>) -> Result<Fields<'j, 'a>, Error> {
    match value {
        Json::Object(fields) => Ok(Fields(fields)),
        _ => fail("expected an object"),
    }
}

fn wrong(key: &str, expected: &str) -> Error {
    Error(format!("field `{key}`: expected {expected}"))
}

impl<'j, 'a> Fields<'j, 'a> {
    /// The field `key`, `None` when absent or `null`.
    fn get(self, key: &str) -> Option<&'j Json<'a>> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| **v != Json::Null)
    }

    fn req(self, key: &str) -> Result<&'j Json<'a>, Error> {
        self.get(key)
            .ok_or_else(|| Error(format!("missing field `{key}`")))
    }

    fn opt_u64(self, key: &str) -> Result<Option<u64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Uint(n)) => Ok(Some(*n)),
            Some(_) => Err(wrong(key, "a non-negative integer")),
        }
    }

    fn u64(self, key: &str) -> Result<u64, Error> {
        self.req(key)?;
        self.opt_u64(key)?.ok_or_else(|| wrong(key, "a number"))
    }

    fn opt_u32(self, key: &str) -> Result<Option<u32>, Error> {
        self.opt_u64(key)?
            .map(|n| u32::try_from(n).map_err(|_| wrong(key, "a smaller number")))
            .transpose()
    }

    fn u32(self, key: &str) -> Result<u32, Error> {
        self.req(key)?;
        self.opt_u32(key)?.ok_or_else(|| wrong(key, "a number"))
    }

    fn bool(self, key: &str) -> Result<bool, Error> {
        match self.req(key)? {
            Json::Bool(b) => Ok(*b),
            _ => Err(wrong(key, "true or false")),
        }
    }

    fn str(self, key: &str) -> Result<&'j str, Error> {
        as_str(self.req(key)?).ok_or_else(|| wrong(key, "a string"))
    }

    fn string(self, key: &str) -> Result<String, Error> {
        self.str(key).map(str::to_owned)
    }

    /// A validated text field (`Username`, `RoomName`…), checked by its `parse`.
    fn text<T>(self, key: &str, parse: fn(&str) -> Result<T, ValidationError>) -> Result<T, Error> {
        // Not the `ValidationError` itself: its `Display` would bring `char`'s
        // `Debug` and its Unicode tables into the wasm.
        parse(self.str(key)?).map_err(|_| wrong(key, "a valid value"))
    }

    fn list<T>(
        self,
        key: &str,
        each: impl Fn(&'j Json<'a>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        match self.req(key)? {
            Json::Array(items) => items.iter().map(each).collect(),
            _ => Err(wrong(key, "a list")),
        }
    }

    /// The flattened [`Channel`]: a `room` or a `dm` field.
    fn channel(self) -> Result<Channel, Error> {
        if self.get("room").is_some() {
            self.text("room", room_name).map(Channel::Room)
        } else if self.get("dm").is_some() {
            self.text("dm", Username::parse).map(Channel::Dm)
        } else {
            fail("missing field `room` or `dm`")
        }
    }
}

fn as_str<'j>(value: &'j Json<'_>) -> Option<&'j str> {
    match value {
        Json::Str(s) => Some(s),
        _ => None,
    }
}

/// Decodes one server message (a WebSocket frame, or an event of a batch).
pub fn server_msg(text: &str) -> Result<ServerMsg, Error> {
    decode_server_msg(&parse(text)?)
}

fn decode_server_msg(value: &Json<'_>) -> Result<ServerMsg, Error> {
    let o = object(value)?;
    Ok(match o.str("type")? {
        "welcome" => ServerMsg::Welcome {
            protocol: o.u32("protocol")?,
            user: o.text("user", Username::parse)?,
            rooms: o.list("rooms", |v| {
                let r = object(v)?;
                Ok(MyRoom {
                    room: r.text("room", room_name)?,
                    last_seq: r.u64("last_seq")?,
                    last_read: r.u64("last_read")?,
                })
            })?,
            conversations: o.list("conversations", |v| {
                let c = object(v)?;
                Ok(Conversation {
                    with: c.text("with", Username::parse)?,
                    last_seq: c.u64("last_seq")?,
                    last_read: c.u64("last_read")?,
                    last_ts: c.u64("last_ts")?,
                    online: c.bool("online")?,
                })
            })?,
        },
        "room_list" => ServerMsg::RoomList {
            rooms: o.list("rooms", |v| {
                let r = object(v)?;
                Ok(RoomInfo {
                    room: r.text("room", room_name)?,
                    members: r.u32("members")?,
                    joined: r.bool("joined")?,
                })
            })?,
        },
        "missed" => ServerMsg::Missed {
            channel: o.channel()?,
            messages: o.list("messages", chat_message)?,
        },
        "too_far_behind" => ServerMsg::TooFarBehind {
            channel: o.channel()?,
            last_seq: o.u64("last_seq")?,
        },
        "pong" => ServerMsg::Pong,
        "joined" => ServerMsg::Joined {
            room: o.text("room", room_name)?,
            last_seq: o.u64("last_seq")?,
        },
        "left" => ServerMsg::Left {
            room: o.text("room", room_name)?,
        },
        "history" => ServerMsg::History {
            channel: o.channel()?,
            messages: o.list("messages", chat_message)?,
            has_more: o.bool("has_more")?,
        },
        "message" => ServerMsg::Message(chat_message(value)?),
        "ack" => ServerMsg::Ack {
            client_id: o.text("client_id", parley_common::ClientMsgId::parse)?,
            channel: o.channel()?,
            seq: o.u64("seq")?,
        },
        "online" => ServerMsg::Online {
            channel: o.channel()?,
            users: o.list("users", |v| {
                as_str(v)
                    .and_then(|s| Username::parse(s).ok())
                    .ok_or_else(|| wrong("users", "valid names"))
            })?,
            total: o.u64("total")?,
        },
        "presence" => ServerMsg::Presence {
            channel: o.channel()?,
            user: o.text("user", Username::parse)?,
            online: o.bool("online")?,
        },
        "typing" => ServerMsg::Typing {
            channel: o.channel()?,
            user: o.text("user", Username::parse)?,
        },
        "read_marker" => ServerMsg::ReadMarker {
            channel: o.channel()?,
            seq: o.u64("seq")?,
        },
        "poll" => ServerMsg::Poll(poll_info(value)?),
        "polls" => ServerMsg::Polls {
            room: o.text("room", room_name)?,
            polls: o.list("polls", poll_info)?,
        },
        "tally" => ServerMsg::Tally {
            poll: o.u64("poll")?,
            since: o.u64("since")?,
            tally: tally(o)?,
        },
        "my_vote" => ServerMsg::MyVote {
            poll: o.u64("poll")?,
            option: o.u32("option")?,
        },
        "error" => ServerMsg::Error {
            code: error_code(o)?,
            message: o.string("message")?,
            client_id: match o.get("client_id") {
                None => None,
                Some(_) => Some(o.text("client_id", parley_common::ClientMsgId::parse)?),
            },
        },
        other => return fail(format!("unknown message type `{other}`")),
    })
}

fn chat_message(value: &Json<'_>) -> Result<ChatMessage, Error> {
    let m = object(value)?;
    Ok(ChatMessage {
        channel: m.channel()?,
        seq: m.u64("seq")?,
        sender: m.text("sender", Username::parse)?,
        body: m.text("body", parley_common::MessageBody::parse)?,
        ts: m.u64("ts")?,
        client_id: m.text("client_id", parley_common::ClientMsgId::parse)?,
    })
}

fn tally(t: Fields<'_, '_>) -> Result<Tally, Error> {
    Ok(Tally {
        version: t.u64("version")?,
        counts: t.list("counts", |v| match v {
            Json::Uint(n) => Ok(*n),
            _ => Err(wrong("counts", "numbers")),
        })?,
        voters: t.u64("voters")?,
        closed: t.bool("closed")?,
    })
}

fn poll_info(value: &Json<'_>) -> Result<PollInfo, Error> {
    let p = object(value)?;
    Ok(PollInfo {
        id: p.u64("id")?,
        room: p.text("room", room_name)?,
        creator: p.text("creator", Username::parse)?,
        question: p.string("question")?,
        options: p.list("options", |v| {
            as_str(v)
                .map(str::to_owned)
                .ok_or_else(|| wrong("options", "texts"))
        })?,
        closes_at: p.opt_u64("closes_at")?,
        tally: tally(object(p.req("tally")?)?)?,
        my_vote: p.opt_u32("my_vote")?,
    })
}

fn error_code(o: Fields<'_, '_>) -> Result<ErrorCode, Error> {
    let name = o.str("code")?;
    ErrorCode::ALL
        .into_iter()
        .find(|code| code.name() == name)
        .ok_or_else(|| Error(format!("unknown error code `{name}`")))
}

/// The body of an HTTP error answer.
pub fn api_error(text: &str) -> Result<ApiError, Error> {
    let value = parse(text)?;
    let o = object(&value)?;
    Ok(ApiError {
        code: error_code(o)?,
        message: o.string("message")?,
    })
}

/// The answer of register, login and `GET /api/me`.
pub fn me(text: &str) -> Result<Me, Error> {
    let value = parse(text)?;
    Ok(Me {
        name: object(&value)?.text("name", Username::parse)?,
    })
}

/// The answer of `POST /api/lp`: the long-polling connection's id.
pub fn long_poll_sid(text: &str) -> Result<String, Error> {
    let value = parse(text)?;
    object(&value)?.string("sid")
}

/// A long-polling `GET`'s answer (`parley_common::LongPollBatch`): the cursor
/// for the next request, the events — each decoded alone, so one unreadable
/// event is reported alone (as a WebSocket frame would be) — and the close, if
/// the server ended the connection.
#[derive(Debug)]
pub struct Batch {
    pub next: u64,
    pub events: Vec<Result<ServerMsg, Error>>,
    pub close: Option<CloseInfo>,
}

pub fn batch(text: &str) -> Result<Batch, Error> {
    let value = parse(text)?;
    let o = object(&value)?;
    Ok(Batch {
        next: o.u64("next")?,
        events: o.list("events", |v| Ok(decode_server_msg(v)))?,
        close: match o.get("close") {
            None => None,
            Some(close) => {
                let c = object(close)?;
                Some(CloseInfo {
                    code: u16::try_from(c.u64("code")?).map_err(|_| wrong("code", "a code"))?,
                    reason: c.string("reason")?,
                })
            }
        },
    })
}

/// Writes a JSON object the way serde_json does (compact, fields in order).
struct Writer(String);

impl Writer {
    fn new() -> Self {
        Self(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        string(&mut self.0, key);
        self.0.push(':');
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        string(&mut self.0, value);
        self
    }

    fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.0, "{value}");
        self
    }

    fn opt(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        if let Some(value) = value {
            self.num(key, value);
        }
        self
    }

    fn channel(&mut self, channel: &Channel) -> &mut Self {
        match channel {
            Channel::Room(room) => self.str("room", room.as_str()),
            Channel::Dm(user) => self.str("dm", user.as_str()),
        }
    }

    fn done(&mut self) -> String {
        self.0.push('}');
        std::mem::take(&mut self.0)
    }
}

/// `s` as a JSON string, escaped as serde_json escapes.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..'\u{20}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Encodes a client message (a WebSocket frame, or one of a `POST`'s).
pub fn client_msg(msg: &ClientMsg) -> String {
    let mut w = Writer::new();
    let tag = |w: &mut Writer, tag: &str| {
        w.str("type", tag);
    };
    match msg {
        ClientMsg::Hello { protocol, resume } => {
            tag(&mut w, "hello");
            w.num("protocol", u64::from(*protocol));
            if !resume.is_empty() {
                w.key("resume");
                w.0.push('[');
                for (i, from) in resume.iter().enumerate() {
                    if i > 0 {
                        w.0.push(',');
                    }
                    w.0.push_str(
                        &Writer::new()
                            .channel(&from.channel)
                            .num("seq", from.seq)
                            .done(),
                    );
                }
                w.0.push(']');
            }
        }
        ClientMsg::Ping => tag(&mut w, "ping"),
        ClientMsg::ListRooms => tag(&mut w, "list_rooms"),
        ClientMsg::CreateRoom { room } => {
            tag(&mut w, "create_room");
            w.str("room", room.as_str());
        }
        ClientMsg::Join { room } => {
            tag(&mut w, "join");
            w.str("room", room.as_str());
        }
        ClientMsg::Leave { room } => {
            tag(&mut w, "leave");
            w.str("room", room.as_str());
        }
        ClientMsg::History { channel, before } => {
            tag(&mut w, "history");
            w.channel(channel).opt("before", *before);
        }
        ClientMsg::Send {
            channel,
            client_id,
            body,
        } => {
            tag(&mut w, "send");
            w.channel(channel)
                .str("client_id", client_id.as_str())
                .str("body", body.as_str());
        }
        ClientMsg::Typing { channel } => {
            tag(&mut w, "typing");
            w.channel(channel);
        }
        ClientMsg::MarkRead { channel, seq } => {
            tag(&mut w, "mark_read");
            w.channel(channel).num("seq", *seq);
        }
        ClientMsg::CreatePoll {
            room,
            question,
            options,
            closes_at,
        } => {
            tag(&mut w, "create_poll");
            w.str("room", room.as_str()).str("question", question);
            w.key("options");
            w.0.push('[');
            for (i, option) in options.iter().enumerate() {
                if i > 0 {
                    w.0.push(',');
                }
                string(&mut w.0, option);
            }
            w.0.push(']');
            w.opt("closes_at", *closes_at);
        }
        ClientMsg::Vote { poll, option } => {
            tag(&mut w, "vote");
            w.num("poll", *poll).num("option", u64::from(*option));
        }
        ClientMsg::ClosePoll { poll } => {
            tag(&mut w, "close_poll");
            w.num("poll", *poll);
        }
        ClientMsg::GetPoll { poll } => {
            tag(&mut w, "get_poll");
            w.num("poll", *poll);
        }
        ClientMsg::ListPolls { room } => {
            tag(&mut w, "list_polls");
            w.str("room", room.as_str());
        }
    }
    w.done()
}

/// The body of `POST /api/register` and `/api/login`.
pub fn credentials(credentials: &Credentials) -> String {
    Writer::new()
        .str("name", &credentials.name)
        .str("password", &credentials.password)
        .done()
}
