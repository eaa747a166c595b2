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
                protocol: 1,
                name: name("Alice"),
            },
            json!({"type": "hello", "protocol": 1, "name": "Alice"}),
        ),
        (
            ClientMsg::Join { room: room("rust") },
            json!({"type": "join", "room": "rust"}),
        ),
        (
            ClientMsg::Send {
                room: room("lobby"),
                client_id: cid("c-1"),
                body: body("hi <b>there</b>\n"),
            },
            json!({"type": "send", "room": "lobby", "client_id": "c-1", "body": "hi <b>there</b>\n"}),
        ),
    ]
}

fn server_samples() -> Vec<(ServerMsg, Value)> {
    vec![
        (
            ServerMsg::Welcome {
                protocol: 1,
                name: name("Alice"),
            },
            json!({"type": "welcome", "protocol": 1, "name": "Alice"}),
        ),
        (
            ServerMsg::Joined {
                room: room("lobby"),
                last_seq: 7,
            },
            json!({"type": "joined", "room": "lobby", "last_seq": 7}),
        ),
        (
            ServerMsg::Message(ChatMessage {
                room: room("lobby"),
                seq: 8,
                sender: name("Bob"),
                body: body("hello"),
                ts: 1_700_000_000_123,
                client_id: cid("b-9"),
            }),
            json!({"type": "message", "room": "lobby", "seq": 8, "sender": "Bob",
                   "body": "hello", "ts": 1_700_000_000_123u64, "client_id": "b-9"}),
        ),
        (
            ServerMsg::Ack {
                client_id: cid("c-1"),
                room: room("lobby"),
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
        let decoded: ServerMsg = serde_json::from_value(golden).unwrap();
        assert_eq!(decoded, msg);
    }
}

#[test]
fn client_types_list_matches_the_enum() {
    let mut tags: Vec<String> = client_samples()
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    let mut listed: Vec<&str> = ClientMsg::TYPES.to_vec();
    listed.sort_unstable();
    assert_eq!(tags, listed);
}

#[test]
fn error_codes_are_snake_case_strings() {
    let codes = [
        (ErrorCode::BadJson, "bad_json"),
        (ErrorCode::BadMessage, "bad_message"),
        (ErrorCode::UnknownType, "unknown_type"),
        (ErrorCode::UnsupportedVersion, "unsupported_version"),
        (ErrorCode::HelloRequired, "hello_required"),
        (ErrorCode::AlreadyGreeted, "already_greeted"),
        (ErrorCode::InvalidName, "invalid_name"),
        (ErrorCode::InvalidRoomName, "invalid_room_name"),
        (ErrorCode::InvalidClientId, "invalid_client_id"),
        (ErrorCode::EmptyBody, "empty_body"),
        (ErrorCode::BodyTooLong, "body_too_long"),
        (ErrorCode::InvalidBody, "invalid_body"),
        (ErrorCode::NotInRoom, "not_in_room"),
        (ErrorCode::Internal, "internal"),
    ];
    for (code, s) in codes {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(s));
    }
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
        decode_err(r#"{"type": "hello", "protocol": 1}"#).code,
        ErrorCode::BadMessage
    );
    assert_eq!(
        decode_err(r#"{"type": "hello", "protocol": 1, "name": " "}"#).code,
        ErrorCode::InvalidName
    );
    assert_eq!(
        decode_err(r#"{"type": "join", "room": "no spaces"}"#).code,
        ErrorCode::InvalidRoomName
    );
    assert_eq!(
        decode_err(r#"{"type": "send", "room": "lobby", "client_id": "a b", "body": "x"}"#).code,
        ErrorCode::InvalidClientId
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
            room: room("lobby"),
            client_id: cid("m1"),
            body: body("hi"),
        }
    );
}
