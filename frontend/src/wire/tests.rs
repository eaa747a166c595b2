//! The browser's JSON against the protocol crate's serde format: every server
//! message serde writes is read back equal, every client message is written
//! byte for byte as serde writes it, and what serde refuses is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use parley_common::{
    ApiError, Channel, ChatMessage, ClientMsg, ClientMsgId, CloseInfo, Conversation, Credentials,
    ErrorCode, LongPollBatch, Me, MessageBody, MyRoom, PollInfo, ResumeFrom, RoomInfo, RoomName,
    ServerMsg, Tally, Username,
};

use super::*;

fn name(s: &str) -> Username {
    Username::parse(s).unwrap()
}
fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}
fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::parse(s).unwrap()
}
fn body(s: &str) -> MessageBody {
    MessageBody::parse(s).unwrap()
}

/// Text that needs escaping, and some that does not.
const TRICKY: &str =
    "quote \" backslash \\ slash / nl \n tab \t cr \r bell \u{7} \u{1f} del \u{7f} é 😀 </script>";
/// The same, as a message body may be (no control characters but newline and tab).
const TRICKY_BODY: &str = "quote \" backslash \\ slash / nl \n tab \t é 😀 </script>";

fn chat(channel: Channel, seq: u64, text: &str) -> ChatMessage {
    ChatMessage {
        channel,
        seq,
        sender: name("Bob"),
        body: body(text),
        ts: 1_700_000_000_123,
        client_id: cid("b-9"),
    }
}

fn poll(id: u64, closes_at: Option<u64>, my_vote: Option<u32>) -> PollInfo {
    PollInfo {
        id,
        room: room("lobby"),
        creator: name("Alice"),
        question: TRICKY.into(),
        options: vec!["pizza".into(), "sü\"shi".into(), String::new()],
        closes_at,
        tally: Tally {
            version: 4,
            counts: vec![2, 0, u64::MAX],
            voters: 3,
            closed: true,
        },
        my_vote,
    }
}

fn server_samples() -> Vec<ServerMsg> {
    let lobby = Channel::Room(room("lobby"));
    let bob = Channel::Dm(name("bob"));
    let mut samples = vec![
        ServerMsg::Welcome {
            protocol: 5,
            user: name("Alice"),
            rooms: vec![
                MyRoom {
                    room: room("lobby"),
                    last_seq: 7,
                    last_read: 5,
                },
                MyRoom {
                    room: room("rust-2"),
                    last_seq: 0,
                    last_read: 0,
                },
            ],
            conversations: vec![Conversation {
                with: name("bob"),
                last_seq: 3,
                last_read: 3,
                last_ts: 1_700_000_000_000,
                online: true,
            }],
        },
        ServerMsg::Welcome {
            protocol: u32::MAX,
            user: name("Al"),
            rooms: vec![],
            conversations: vec![],
        },
        ServerMsg::RoomList {
            rooms: vec![RoomInfo {
                room: room("lobby"),
                members: 3,
                joined: true,
            }],
        },
        ServerMsg::Missed {
            channel: lobby.clone(),
            messages: vec![
                chat(lobby.clone(), 8, "hi"),
                chat(lobby.clone(), 9, TRICKY_BODY),
            ],
        },
        ServerMsg::TooFarBehind {
            channel: bob.clone(),
            last_seq: 900,
        },
        ServerMsg::Pong,
        ServerMsg::Joined {
            room: room("lobby"),
            last_seq: 7,
        },
        ServerMsg::Left { room: room("rust") },
        ServerMsg::History {
            channel: bob.clone(),
            messages: vec![],
            has_more: false,
        },
        ServerMsg::History {
            channel: lobby.clone(),
            messages: vec![chat(lobby.clone(), 1, "x")],
            has_more: true,
        },
        ServerMsg::Message(chat(lobby.clone(), u64::MAX, TRICKY_BODY)),
        ServerMsg::Message(chat(bob.clone(), 1, "psst")),
        ServerMsg::Ack {
            client_id: cid("c-1"),
            channel: lobby.clone(),
            seq: 8,
        },
        ServerMsg::Online {
            channel: lobby.clone(),
            users: vec![name("Alice"), name("bob")],
            total: 2,
        },
        ServerMsg::Presence {
            channel: bob.clone(),
            user: name("bob"),
            online: false,
        },
        ServerMsg::Typing {
            channel: lobby,
            user: name("bob"),
        },
        ServerMsg::ReadMarker {
            channel: bob,
            seq: 9,
        },
        ServerMsg::Poll(poll(7, None, None)),
        ServerMsg::Poll(poll(8, Some(1_700_000_600_000), Some(2))),
        ServerMsg::Polls {
            room: room("lobby"),
            polls: vec![poll(1, None, Some(0)), poll(2, Some(5), None)],
        },
        ServerMsg::Tally {
            poll: 7,
            since: 1,
            tally: Tally {
                version: 3,
                counts: vec![2, 1],
                voters: 3,
                closed: false,
            },
        },
        ServerMsg::MyVote { poll: 7, option: 1 },
        ServerMsg::Error {
            code: ErrorCode::BadJson,
            message: TRICKY.into(),
            client_id: None,
        },
    ];
    for code in ErrorCode::ALL {
        samples.push(ServerMsg::Error {
            code,
            message: "m".into(),
            client_id: Some(cid("c-2")),
        });
    }
    samples
}

#[test]
fn reads_every_server_message_serde_writes() {
    for msg in server_samples() {
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(server_msg(&json), Ok(msg.clone()), "{json}");
        // Pretty-printed (whitespace everywhere) reads the same.
        let pretty = serde_json::to_string_pretty(&msg).unwrap();
        assert_eq!(server_msg(&pretty), Ok(msg), "{pretty}");
    }
}

/// Which variant a server message is. No wildcard: a new `ServerMsg` variant
/// stops this from compiling until it is named here, and the test below then
/// asks for a sample of it, so this module cannot silently miss a message.
fn variant(msg: &ServerMsg) -> &'static str {
    match msg {
        ServerMsg::Welcome { .. } => "welcome",
        ServerMsg::RoomList { .. } => "room_list",
        ServerMsg::Missed { .. } => "missed",
        ServerMsg::TooFarBehind { .. } => "too_far_behind",
        ServerMsg::Pong => "pong",
        ServerMsg::Joined { .. } => "joined",
        ServerMsg::Left { .. } => "left",
        ServerMsg::History { .. } => "history",
        ServerMsg::Message(..) => "message",
        ServerMsg::Ack { .. } => "ack",
        ServerMsg::Online { .. } => "online",
        ServerMsg::Presence { .. } => "presence",
        ServerMsg::Typing { .. } => "typing",
        ServerMsg::ReadMarker { .. } => "read_marker",
        ServerMsg::Poll(..) => "poll",
        ServerMsg::Polls { .. } => "polls",
        ServerMsg::Tally { .. } => "tally",
        ServerMsg::MyVote { .. } => "my_vote",
        ServerMsg::Error { .. } => "error",
    }
}

#[test]
fn the_samples_cover_every_server_message() {
    let all = [
        "welcome",
        "room_list",
        "missed",
        "too_far_behind",
        "pong",
        "joined",
        "left",
        "history",
        "message",
        "ack",
        "online",
        "presence",
        "typing",
        "read_marker",
        "poll",
        "polls",
        "tally",
        "my_vote",
        "error",
    ];
    let sampled: std::collections::HashSet<&str> = server_samples().iter().map(variant).collect();
    for name in all {
        assert!(
            sampled.contains(name),
            "no sample of `{name}` in server_samples()"
        );
    }
}

#[test]
fn reads_the_http_answers() {
    let error = ApiError {
        code: ErrorCode::NameTaken,
        message: "taken".into(),
    };
    assert_eq!(
        api_error(&serde_json::to_string(&error).unwrap()),
        Ok(error)
    );
    let me_json = serde_json::to_string(&Me {
        name: name("Alice"),
    })
    .unwrap();
    assert_eq!(
        me(&me_json),
        Ok(Me {
            name: name("Alice")
        })
    );
    assert!(me(r#"{"name": "no spaces"}"#).is_err());
    assert_eq!(long_poll_sid(r#"{"sid": "abc"}"#), Ok("abc".to_owned()));
    assert!(long_poll_sid(r#"{"sid": 3}"#).is_err());
}

#[test]
fn reads_long_poll_batches_event_by_event() {
    let full = LongPollBatch {
        next: 3,
        events: server_samples(),
        close: Some(CloseInfo {
            code: 1001,
            reason: "server shutting down".into(),
        }),
    };
    let read = batch(&serde_json::to_string(&full).unwrap()).unwrap();
    assert_eq!(read.next, 3);
    assert_eq!(read.close, full.close);
    let events: Vec<ServerMsg> = read.events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events, full.events);

    let open = batch(r#"{"next": 0, "events": []}"#).unwrap();
    assert_eq!((open.next, open.events.len(), open.close), (0, 0, None));
    let null_close = batch(r#"{"next": 0, "events": [], "close": null}"#).unwrap();
    assert_eq!(null_close.close, None);

    // One bad event is reported alone; the others still arrive.
    let mixed = batch(r#"{"next": 2, "events": [{"type": "nope"}, {"type": "pong"}]}"#).unwrap();
    assert!(mixed.events[0].is_err());
    assert_eq!(mixed.events[1], Ok(ServerMsg::Pong));
    assert!(batch(r#"{"next": 2, "events": [{"type": "pong"}"#).is_err());
    assert!(batch(r#"{"events": []}"#).is_err());
}

fn client_samples() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Hello {
            protocol: 5,
            resume: Vec::new(),
        },
        ClientMsg::Hello {
            protocol: 5,
            resume: vec![
                ResumeFrom {
                    channel: Channel::Room(room("rust")),
                    seq: 41,
                },
                ResumeFrom {
                    channel: Channel::Dm(name("bob")),
                    seq: 0,
                },
            ],
        },
        ClientMsg::Ping,
        ClientMsg::ListRooms,
        ClientMsg::CreateRoom { room: room("rust") },
        ClientMsg::Join { room: room("rust") },
        ClientMsg::Leave { room: room("rust") },
        ClientMsg::History {
            channel: Channel::Room(room("rust")),
            before: Some(51),
        },
        ClientMsg::History {
            channel: Channel::Dm(name("bob")),
            before: None,
        },
        ClientMsg::Send {
            channel: Channel::Dm(name("bob")),
            client_id: cid("d-1"),
            body: body("psst"),
        },
        ClientMsg::Send {
            channel: Channel::Room(room("lobby")),
            client_id: cid("c-1"),
            body: body(TRICKY_BODY),
        },
        ClientMsg::Typing {
            channel: Channel::Room(room("rust")),
        },
        ClientMsg::MarkRead {
            channel: Channel::Dm(name("bob")),
            seq: u64::MAX,
        },
        ClientMsg::CreatePoll {
            room: room("lobby"),
            question: TRICKY.into(),
            options: vec!["pizza".into(), "su\"shi".into()],
            closes_at: Some(1_700_000_600_000),
        },
        ClientMsg::CreatePoll {
            room: room("lobby"),
            question: "q".into(),
            options: vec![],
            closes_at: None,
        },
        ClientMsg::Vote {
            poll: 7,
            option: u32::MAX,
        },
        ClientMsg::ClosePoll { poll: 7 },
        ClientMsg::GetPoll { poll: 7 },
        ClientMsg::ListPolls {
            room: room("lobby"),
        },
    ]
}

#[test]
fn writes_client_messages_byte_for_byte_as_serde() {
    for msg in client_samples() {
        assert_eq!(client_msg(&msg), msg.to_json().unwrap(), "{msg:?}");
    }
    let creds = Credentials {
        name: "Alice".into(),
        password: TRICKY.into(),
    };
    assert_eq!(credentials(&creds), serde_json::to_string(&creds).unwrap());
}

#[test]
fn every_control_character_is_escaped_as_serde_does() {
    let all: String = (0u32..0x80).filter_map(char::from_u32).collect();
    let mut ours = String::new();
    string(&mut ours, &all);
    assert_eq!(ours, serde_json::to_string(&all).unwrap());
}

#[test]
fn parses_json_as_serde_json_does() {
    let same = [
        r#""plain""#,
        r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \u20AC \ud83d\ude00""#,
        "\"raw é 😀\"",
        " [ 1 , 2 ,\n 3 ] ",
        "[]",
        "{}",
        r#"{"a": {"b": [true, false, null]}}"#,
        "0",
        "18446744073709551615",
    ];
    for text in same {
        let ours = parse(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(to_value(&ours), theirs, "{text}");
    }
    let both_refuse = [
        "",
        " ",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "{a: 1}",
        "01",
        "1.",
        "1e",
        "-",
        "\"unterminated",
        "\"ctrl \u{1} char\"",
        r#""\x""#,
        r#""\u12""#,
        r#""\ud83d""#,
        r#""\ud83d\u0041""#,
        r#""\ude00""#,
        "tru",
        "nul",
        "[1] x",
        "{} {}",
    ];
    for text in both_refuse {
        assert!(
            serde_json::from_str::<serde_json::Value>(text).is_err(),
            "serde accepts {text:?}"
        );
        assert!(parse(text).is_err(), "accepted {text:?}");
    }
    // Numbers the protocol never has are numbers, but never valid fields.
    for text in ["-1", "1.5", "1e3", "-0", "18446744073709551616"] {
        assert_eq!(parse(text), Ok(Json::Number), "{text}");
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(parse(&deep).is_err());
    let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(parse(&fine).is_ok());
}

/// Our value as serde_json's, to compare them.
fn to_value(json: &Json<'_>) -> serde_json::Value {
    use serde_json::Value;
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Uint(n) => Value::from(*n),
        Json::Number => panic!("not comparable"),
        Json::Str(s) => Value::String(s.to_string()),
        Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Json::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), to_value(v)))
                .collect(),
        ),
    }
}

#[test]
fn refuses_what_serde_refuses_and_ignores_what_it_ignores() {
    let refused = [
        r#"{"type": "shout"}"#,
        r#"{"room": "lobby"}"#,
        r#"{"type": 3}"#,
        r#"[{"type": "pong"}]"#,
        r#"{"type": "joined", "room": "lobby"}"#,
        r#"{"type": "joined", "room": "no spaces", "last_seq": 1}"#,
        r#"{"type": "joined", "room": "lobby", "last_seq": -1}"#,
        r#"{"type": "joined", "room": "lobby", "last_seq": 1.5}"#,
        r#"{"type": "joined", "room": "lobby", "last_seq": "1"}"#,
        r#"{"type": "my_vote", "poll": 1, "option": 4294967296}"#,
        r#"{"type": "typing", "user": "bob"}"#,
        r#"{"type": "typing", "dm": "x", "user": "bob"}"#,
        r#"{"type": "error", "code": "no_such_code", "message": "m"}"#,
        r#"{"type": "error", "code": "internal", "message": "m", "client_id": "a b"}"#,
        r#"{"type": "presence", "room": "lobby", "user": "bob", "online": 1}"#,
        r#"{"type": "online", "room": "lobby", "users": ["bob", 3], "total": 1}"#,
        r#"{"type": "message", "room": "lobby", "seq": 1, "sender": "bob", "body": "", "ts": 1, "client_id": "a"}"#,
    ];
    for text in refused {
        assert!(
            serde_json::from_str::<ServerMsg>(text).is_err(),
            "serde accepts {text}"
        );
        assert!(server_msg(text).is_err(), "accepted {text}");
    }
    let accepted = [
        r#"{"type": "pong", "extra": [1, {"x": null}]}"#,
        r#"{"last_seq": 3, "room": "Lobby", "type": "joined", "sender": "Mallory"}"#,
        r#"{"type": "error", "code": "internal", "message": "m", "client_id": null}"#,
        r#"{"type": "poll", "id": 1, "room": "lobby", "creator": "Al", "question": "q",
            "options": ["a", "b"], "closes_at": null, "my_vote": null,
            "tally": {"version": 0, "counts": [0, 0], "voters": 0, "closed": false}}"#,
    ];
    for text in accepted {
        let theirs: ServerMsg = serde_json::from_str(text).unwrap();
        assert_eq!(server_msg(text), Ok(theirs), "{text}");
    }
}
