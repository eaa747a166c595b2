//! Golden-JSON and round-trip tests: these pin Parley's wire format.
#![allow(clippy::unwrap_used)]

use parley_common::*;
use serde_json::{Value, json};

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

/// One sample of every client message, with the JSON it must encode to.
fn client_samples() -> Vec<(ClientMsg, Value)> {
    vec![
        (
            ClientMsg::Hello {
                protocol: 5,
                resume: Vec::new(),
            },
            json!({"type": "hello", "protocol": 5}),
        ),
        (
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
            json!({"type": "hello", "protocol": 5,
                   "resume": [{"room": "rust", "seq": 41}, {"dm": "bob", "seq": 0}]}),
        ),
        (ClientMsg::Ping, json!({"type": "ping"})),
        (ClientMsg::ListRooms, json!({"type": "list_rooms"})),
        (
            ClientMsg::CreateRoom { room: room("rust") },
            json!({"type": "create_room", "room": "rust"}),
        ),
        (
            ClientMsg::Join { room: room("rust") },
            json!({"type": "join", "room": "rust"}),
        ),
        (
            ClientMsg::Leave { room: room("rust") },
            json!({"type": "leave", "room": "rust"}),
        ),
        (
            ClientMsg::History {
                channel: Channel::Room(room("rust")),
                before: Some(51),
            },
            json!({"type": "history", "room": "rust", "before": 51}),
        ),
        (
            ClientMsg::History {
                channel: Channel::Dm(name("bob")),
                before: None,
            },
            json!({"type": "history", "dm": "bob"}),
        ),
        (
            ClientMsg::Send {
                channel: Channel::Dm(name("bob")),
                client_id: cid("d-1"),
                body: body("psst"),
            },
            json!({"type": "send", "dm": "bob", "client_id": "d-1", "body": "psst"}),
        ),
        (
            ClientMsg::Typing {
                channel: Channel::Room(room("rust")),
            },
            json!({"type": "typing", "room": "rust"}),
        ),
        (
            ClientMsg::CreatePoll {
                room: room("lobby"),
                question: "Lunch?".into(),
                options: vec!["pizza".into(), "sushi".into()],
                closes_at: Some(1_700_000_600_000),
            },
            json!({"type": "create_poll", "room": "lobby", "question": "Lunch?",
                   "options": ["pizza", "sushi"], "closes_at": 1_700_000_600_000u64}),
        ),
        (
            ClientMsg::Vote { poll: 7, option: 1 },
            json!({"type": "vote", "poll": 7, "option": 1}),
        ),
        (
            ClientMsg::ClosePoll { poll: 7 },
            json!({"type": "close_poll", "poll": 7}),
        ),
        (
            ClientMsg::GetPoll { poll: 7 },
            json!({"type": "get_poll", "poll": 7}),
        ),
        (
            ClientMsg::ListPolls {
                room: room("lobby"),
            },
            json!({"type": "list_polls", "room": "lobby"}),
        ),
        (
            ClientMsg::MarkRead {
                channel: Channel::Dm(name("bob")),
                seq: 4,
            },
            json!({"type": "mark_read", "dm": "bob", "seq": 4}),
        ),
        (
            ClientMsg::Send {
                channel: Channel::Room(room("lobby")),
                client_id: cid("c-1"),
                body: body("hi <b>there</b>\n"),
            },
            json!({"type": "send", "room": "lobby", "client_id": "c-1", "body": "hi <b>there</b>\n"}),
        ),
    ]
}

fn chat(seq: u64) -> (ChatMessage, Value) {
    (
        ChatMessage {
            channel: Channel::Room(room("lobby")),
            seq,
            sender: name("Bob"),
            body: body("hello"),
            ts: 1_700_000_000_123,
            client_id: cid("b-9"),
        },
        json!({"room": "lobby", "seq": seq, "sender": "Bob", "body": "hello",
               "ts": 1_700_000_000_123u64, "client_id": "b-9"}),
    )
}

fn server_samples() -> Vec<(ServerMsg, Value)> {
    let (m8, m8_json) = chat(8);
    let mut message_json = m8_json.clone();
    message_json["type"] = json!("message");
    vec![
        (
            ServerMsg::Welcome {
                protocol: 3,
                user: name("Alice"),
                rooms: vec![MyRoom {
                    room: room("lobby"),
                    last_seq: 7,
                    last_read: 5,
                }],
                conversations: vec![Conversation {
                    with: name("bob"),
                    last_seq: 3,
                    last_read: 3,
                    last_ts: 1_700_000_000_000,
                    online: true,
                }],
            },
            json!({"type": "welcome", "protocol": 3, "user": "Alice",
                   "rooms": [{"room": "lobby", "last_seq": 7, "last_read": 5}],
                   "conversations": [{"with": "bob", "last_seq": 3, "last_read": 3,
                                      "last_ts": 1_700_000_000_000u64, "online": true}]}),
        ),
        (
            ServerMsg::Missed {
                channel: Channel::Room(room("lobby")),
                messages: vec![m8.clone()],
            },
            json!({"type": "missed", "room": "lobby", "messages": [&m8_json]}),
        ),
        (
            ServerMsg::TooFarBehind {
                channel: Channel::Dm(name("bob")),
                last_seq: 900,
            },
            json!({"type": "too_far_behind", "dm": "bob", "last_seq": 900}),
        ),
        (ServerMsg::Pong, json!({"type": "pong"})),
        (
            ServerMsg::Online {
                channel: Channel::Room(room("lobby")),
                users: vec![name("Alice"), name("bob")],
                total: 2,
            },
            json!({"type": "online", "room": "lobby", "users": ["Alice", "bob"], "total": 2}),
        ),
        (
            ServerMsg::Presence {
                channel: Channel::Dm(name("bob")),
                user: name("bob"),
                online: false,
            },
            json!({"type": "presence", "dm": "bob", "user": "bob", "online": false}),
        ),
        (
            ServerMsg::Typing {
                channel: Channel::Room(room("lobby")),
                user: name("bob"),
            },
            json!({"type": "typing", "room": "lobby", "user": "bob"}),
        ),
        (
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
            json!({"type": "tally", "poll": 7, "since": 1, "version": 3, "counts": [2, 1], "voters": 3,
                   "closed": false}),
        ),
        (
            ServerMsg::MyVote { poll: 7, option: 1 },
            json!({"type": "my_vote", "poll": 7, "option": 1}),
        ),
        (
            ServerMsg::Poll(PollInfo {
                id: 7,
                room: room("lobby"),
                creator: name("Alice"),
                question: "Lunch?".into(),
                options: vec!["pizza".into(), "sushi".into()],
                closes_at: None,
                tally: Tally {
                    version: 0,
                    counts: vec![0, 0],
                    voters: 0,
                    closed: false,
                },
                my_vote: None,
            }),
            json!({"type": "poll", "id": 7, "room": "lobby", "creator": "Alice",
                   "question": "Lunch?", "options": ["pizza", "sushi"],
                   "tally": {"version": 0, "counts": [0, 0], "voters": 0, "closed": false}}),
        ),
        (
            ServerMsg::Polls {
                room: room("lobby"),
                polls: vec![],
            },
            json!({"type": "polls", "room": "lobby", "polls": []}),
        ),
        (
            ServerMsg::ReadMarker {
                channel: Channel::Room(room("lobby")),
                seq: 9,
            },
            json!({"type": "read_marker", "room": "lobby", "seq": 9}),
        ),
        (
            ServerMsg::RoomList {
                rooms: vec![RoomInfo {
                    room: room("lobby"),
                    members: 3,
                    joined: true,
                }],
            },
            json!({"type": "room_list", "rooms": [{"room": "lobby", "members": 3, "joined": true}]}),
        ),
        (
            ServerMsg::Joined {
                room: room("lobby"),
                last_seq: 7,
            },
            json!({"type": "joined", "room": "lobby", "last_seq": 7}),
        ),
        (
            ServerMsg::Left { room: room("rust") },
            json!({"type": "left", "room": "rust"}),
        ),
        (
            ServerMsg::History {
                channel: Channel::Room(room("lobby")),
                messages: vec![m8.clone()],
                has_more: true,
            },
            json!({"type": "history", "room": "lobby", "messages": [m8_json], "has_more": true}),
        ),
        (ServerMsg::Message(m8), message_json),
        (
            ServerMsg::Message(ChatMessage {
                channel: Channel::Dm(name("Bob")),
                seq: 1,
                sender: name("Alice"),
                body: body("psst"),
                ts: 5,
                client_id: cid("d-1"),
            }),
            json!({"type": "message", "dm": "Bob", "seq": 1, "sender": "Alice", "body": "psst",
                   "ts": 5, "client_id": "d-1"}),
        ),
        (
            ServerMsg::Ack {
                client_id: cid("c-1"),
                channel: Channel::Room(room("lobby")),
                seq: 8,
            },
            json!({"type": "ack", "client_id": "c-1", "room": "lobby", "seq": 8}),
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::BodyTooLong,
                message: "body must be at most 4000 characters".into(),
                client_id: Some(cid("c-2")),
            },
            json!({"type": "error", "code": "body_too_long",
                   "message": "body must be at most 4000 characters", "client_id": "c-2"}),
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::BadJson,
                message: "not valid JSON".into(),
                client_id: None,
            },
            json!({"type": "error", "code": "bad_json", "message": "not valid JSON"}),
        ),
    ]
}

#[test]
fn http_bodies_match_golden_json() {
    let creds: Credentials =
        serde_json::from_value(json!({"name": "Alice", "password": "hunter2hunter2"})).unwrap();
    assert_eq!(creds.name, "Alice");
    assert!(!format!("{creds:?}").contains("hunter2"));
    assert_eq!(
        serde_json::to_value(Me {
            name: name("Alice")
        })
        .unwrap(),
        json!({"name": "Alice"})
    );
    assert_eq!(
        serde_json::to_value(ApiError {
            code: ErrorCode::NameTaken,
            message: "taken".into()
        })
        .unwrap(),
        json!({"code": "name_taken", "message": "taken"})
    );
}

#[test]
fn client_messages_match_golden_json_and_round_trip() {
    for (msg, golden) in client_samples() {
        let encoded: Value = serde_json::from_str(&msg.to_json().unwrap()).unwrap();
        assert_eq!(encoded, golden, "encoding of {msg:?}");
        let decoded = decode_client(&golden.to_string()).unwrap();
        assert_eq!(decoded, msg);
    }
}

#[test]
fn server_messages_match_golden_json_and_round_trip() {
    for (msg, golden) in server_samples() {
        let encoded: Value = serde_json::from_str(&msg.to_json().unwrap()).unwrap();
        assert_eq!(encoded, golden, "encoding of {msg:?}");
        let from_text: ServerMsg = serde_json::from_str(&golden.to_string()).unwrap();
        assert_eq!(from_text, msg);
        let decoded: ServerMsg = serde_json::from_value(golden).unwrap();
        assert_eq!(decoded, msg);
    }
}

/// Server messages are read through a flat helper (`decode.rs`): what the
/// tagged enum refused, it refuses too.
#[test]
fn malformed_server_messages_are_refused() {
    let refused = |text: &str| {
        serde_json::from_str::<ServerMsg>(text)
            .unwrap_err()
            .to_string()
    };
    assert!(refused(r#"{"type":"nope"}"#).contains("unknown message type `nope`"));
    assert!(
        refused(r#"{"type":"error","code":"nope","message":"m"}"#)
            .contains("unknown error code `nope`")
    );
    assert!(refused(r#"{"room":"lobby"}"#).contains("missing field `type`"));
    assert!(refused(r#"{"type":"joined","room":"lobby"}"#).contains("missing field `last_seq`"));
    assert!(refused(r#"{"type":"left"}"#).contains("missing field `room`"));
    assert!(refused(r#"{"type":"read_marker","room":"a","dm":"bob","seq":1}"#).contains("both"));
    assert!(refused(r#"{"type":"read_marker","seq":1}"#).contains("`room` or `dm`"));
    assert!(refused(r#"{"type":"joined","room":"no spaces","last_seq":1}"#).contains("RoomName"));
    assert!(
        refused(r#"{"type":"room_list","rooms":[{"room":"a","last_seq":1,"last_read":0}]}"#)
            .contains("missing field `members`")
    );
    let message = r#"{"type":"history","room":"a","has_more":false,"messages":[{"room":"a","seq":1,"sender":"bob","ts":1,"client_id":"c1"}]}"#;
    assert!(refused(message).contains("missing field `body`"));
    // Unknown fields are ignored, as before.
    let pong: ServerMsg = serde_json::from_str(r#"{"type":"pong","extra":[1,2]}"#).unwrap();
    assert_eq!(pong, ServerMsg::Pong);
}

#[test]
fn client_types_list_matches_the_enum() {
    let mut tags: Vec<String> = client_samples()
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags.dedup();
    let mut listed: Vec<&str> = ClientMsg::TYPES.to_vec();
    listed.sort_unstable();
    assert_eq!(tags, listed);
}

#[test]
fn error_codes_are_all_listed_with_their_wire_names() {
    // A new ErrorCode variant makes this match fail to compile: add it to
    // ErrorCode::ALL and ErrorCode::name too.
    fn listed(code: ErrorCode) -> bool {
        use ErrorCode::*;
        match code {
            BadJson | BadMessage | UnknownType | UnsupportedVersion | HelloRequired
            | AlreadyGreeted | InvalidName | InvalidRoomName | InvalidClientId | EmptyBody
            | BodyTooLong | InvalidBody | NotInRoom | UnknownUser | CannotMessageSelf
            | BadReadMarker | InvalidQuestion | TooFewOptions | TooManyOptions | InvalidOption
            | DuplicateOption | NoSuchPoll | NoSuchOption | PollClosed | NotPollCreator
            | NoSuchRoom | RoomExists | InvalidCredentials | NameTaken | WeakPassword
            | PasswordTooLong | RateLimited | TooManyConnections | ServerBusy | Unauthorized
            | RequestPending | UnknownConnection | TooLarge | UnsupportedMediaType
            | ForbiddenOrigin | Internal => ErrorCode::ALL.contains(&code),
        }
    }
    let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ErrorCode::ALL.len(), "every code listed once");
    for &code in ErrorCode::ALL {
        assert!(listed(code));
        let name = code.name();
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name}"
        );
        // The same strings in JSON, both ways.
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.name()));
        assert_eq!(
            serde_json::from_value::<ErrorCode>(json!(code.name())).unwrap(),
            code
        );
    }
    assert_eq!(ErrorCode::NoSuchRoom.name(), "no_such_room");
}

fn decode_err(text: &str) -> ProtocolError {
    decode_client(text).unwrap_err()
}

#[test]
fn bad_frames_get_precise_codes() {
    assert_eq!(decode_err("not json").code, ErrorCode::BadJson);
    assert_eq!(decode_err("").code, ErrorCode::BadJson);
    assert_eq!(decode_err("{}").code, ErrorCode::BadMessage);
    assert_eq!(decode_err("[1,2]").code, ErrorCode::BadMessage);
    assert_eq!(decode_err(r#"{"type": 3}"#).code, ErrorCode::BadMessage);
    assert_eq!(
        decode_err(r#"{"type": "shout", "body": "x"}"#).code,
        ErrorCode::UnknownType
    );
    assert_eq!(
        decode_err(r#"{"type": "hello"}"#).code,
        ErrorCode::BadMessage
    );
    assert_eq!(
        decode_err(r#"{"type": "history", "room": "lobby", "before": "x"}"#).code,
        ErrorCode::BadMessage
    );
    assert_eq!(
        decode_err(r#"{"type": "join", "room": "no spaces"}"#).code,
        ErrorCode::InvalidRoomName
    );
    assert_eq!(
        decode_err(r#"{"type": "send", "room": "lobby", "client_id": "a b", "body": "x"}"#).code,
        ErrorCode::InvalidClientId
    );
    assert_eq!(
        decode_err(r#"{"type": "send", "dm": "no body!", "client_id": "a", "body": "x"}"#).code,
        ErrorCode::InvalidName
    );
    assert_eq!(
        decode_err(r#"{"type": "send", "client_id": "a", "body": "x"}"#).code,
        ErrorCode::BadMessage
    );
}

#[test]
fn body_errors_carry_the_client_id() {
    let empty = decode_err(r#"{"type": "send", "room": "lobby", "client_id": "m1", "body": ""}"#);
    assert_eq!(empty.code, ErrorCode::EmptyBody);
    assert_eq!(empty.client_id, Some(cid("m1")));

    let long =
        json!({"type": "send", "room": "lobby", "client_id": "m2", "body": "x".repeat(4001)});
    let long = decode_err(&long.to_string());
    assert_eq!(long.code, ErrorCode::BodyTooLong);
    assert_eq!(long.client_id, Some(cid("m2")));

    let ctrl =
        decode_err(r#"{"type": "send", "room": "lobby", "client_id": "m3", "body": "a\u0007"}"#);
    assert_eq!(ctrl.code, ErrorCode::InvalidBody);
}

#[test]
fn a_sender_field_in_the_payload_is_ignored() {
    let msg = decode_client(
        r#"{"type": "send", "room": "lobby", "client_id": "m1", "body": "hi", "sender": "Mallory"}"#,
    )
    .unwrap();
    assert_eq!(
        msg,
        ClientMsg::Send {
            channel: Channel::Room(room("lobby")),
            client_id: cid("m1"),
            body: body("hi"),
        }
    );
}

#[test]
fn long_poll_bodies_are_pinned() {
    let batch = LongPollBatch {
        next: 3,
        events: vec![ServerMsg::Pong],
        close: Some(CloseInfo {
            code: 1001,
            reason: "server shutting down".into(),
        }),
    };
    let expected = json!({"next": 3, "events": [{"type": "pong"}],
                          "close": {"code": 1001, "reason": "server shutting down"}});
    assert_eq!(serde_json::to_value(&batch).unwrap(), expected);
    assert_eq!(
        serde_json::from_value::<LongPollBatch>(expected).unwrap(),
        batch
    );
    let open: LongPollBatch = serde_json::from_value(json!({"next": 0, "events": []})).unwrap();
    assert_eq!(open.close, None);
    assert_eq!(
        serde_json::to_value(LongPollOpened { sid: "abc".into() }).unwrap(),
        json!({"sid": "abc"})
    );
}
