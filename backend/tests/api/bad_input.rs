//! Every bad input gets a typed error, the connection stays usable, and nothing is
//! stored or broadcast.

use parley_common::{ErrorCode, ServerMsg};
use serde_json::json;

use crate::helpers::{Client, spawn_app};

/// After the bad input, a valid message still goes through, and it is the very next
/// thing the other client sees (so nothing was broadcast for the bad input).
async fn still_chats(sender: &mut Client, observer: &mut Client, id: &str) {
    sender.say("lobby", id, "still here").await;
    assert_eq!(observer.recv_message().await.client_id.as_str(), id);
    assert_eq!(sender.recv_message().await.client_id.as_str(), id);
    assert!(matches!(sender.recv().await, ServerMsg::Ack { .. }));
}

#[tokio::test]
async fn malformed_frames_get_typed_errors_and_the_connection_survives() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;

    alice.send_text("not json").await;
    alice.expect_error(ErrorCode::BadJson).await;
    alice.send_text("{}").await;
    alice.expect_error(ErrorCode::BadMessage).await;
    alice
        .send_json(json!({"type": "shout", "body": "hey"}))
        .await;
    alice.expect_error(ErrorCode::UnknownType).await;
    alice
        .send_json(json!({"type": "send", "room": "lobby"}))
        .await;
    alice.expect_error(ErrorCode::BadMessage).await;
    alice.send_binary(vec![0, 1, 2]).await;
    alice.expect_error(ErrorCode::BadJson).await;

    still_chats(&mut alice, &mut bob, "ok-1").await;
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn empty_and_over_long_bodies_are_rejected_with_their_client_id() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;

    alice.say("lobby", "e-1", "").await;
    assert_eq!(
        alice.expect_error(ErrorCode::EmptyBody).await.as_deref(),
        Some("e-1")
    );
    alice.say("lobby", "e-2", "   \n  ").await;
    assert_eq!(
        alice.expect_error(ErrorCode::EmptyBody).await.as_deref(),
        Some("e-2")
    );
    alice.say("lobby", "l-1", &"x".repeat(4001)).await;
    assert_eq!(
        alice.expect_error(ErrorCode::BodyTooLong).await.as_deref(),
        Some("l-1")
    );
    alice.say("lobby", "c-1", "bell\u{7}").await;
    assert_eq!(
        alice.expect_error(ErrorCode::InvalidBody).await.as_deref(),
        Some("c-1")
    );

    // Exactly at the limit is fine.
    alice.say("lobby", "max", &"é".repeat(4000)).await;
    assert_eq!(bob.recv_message().await.body.as_str().chars().count(), 4000);
    assert!(matches!(alice.recv().await, ServerMsg::Message(_)));
    assert!(matches!(alice.recv().await, ServerMsg::Ack { .. }));

    still_chats(&mut alice, &mut bob, "ok-2").await;
    // Nothing of the rejected ones was stored.
    let (history, _) = bob.history("lobby", None).await;
    let ids: Vec<_> = history.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(ids, ["max", "ok-2"]);
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn hello_is_required_first_and_only_once() {
    let app = spawn_app().await;
    let mut bob = app.user("Bob").await;
    let token = app.register("Anon").await;
    let mut anon = app.try_ws(Some(&token), None).await.ok().unwrap();

    anon.say("lobby", "x-1", "too early").await;
    anon.expect_error(ErrorCode::HelloRequired).await;
    anon.send_json(json!({"type": "join", "room": "lobby"}))
        .await;
    anon.expect_error(ErrorCode::HelloRequired).await;
    anon.send_json(json!({"type": "hello", "protocol": 999}))
        .await;
    anon.expect_error(ErrorCode::UnsupportedVersion).await;

    anon.hello().await;
    anon.send_json(json!({"type": "hello", "protocol": 2}))
        .await;
    anon.expect_error(ErrorCode::AlreadyGreeted).await;

    still_chats(&mut anon, &mut bob, "ok-3").await;
    drop((bob, anon));
    app.stop().await;
}

#[tokio::test]
async fn room_errors_are_typed_and_change_nothing() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    bob.enter("create_room", "bobs-room").await;

    alice.say("bobs-room", "n-1", "psst").await;
    assert_eq!(
        alice.expect_error(ErrorCode::NotInRoom).await.as_deref(),
        Some("n-1")
    );
    alice.say("nowhere", "n-2", "psst").await;
    assert_eq!(
        alice.expect_error(ErrorCode::NoSuchRoom).await.as_deref(),
        Some("n-2")
    );
    alice.say("Not A Room!", "n-3", "psst").await;
    assert_eq!(
        alice
            .expect_error(ErrorCode::InvalidRoomName)
            .await
            .as_deref(),
        Some("n-3")
    );
    alice
        .send_json(json!({"type": "join", "room": "nowhere"}))
        .await;
    alice.expect_error(ErrorCode::NoSuchRoom).await;
    alice
        .send_json(json!({"type": "create_room", "room": "bobs-room"}))
        .await;
    alice.expect_error(ErrorCode::RoomExists).await;
    alice
        .send_json(json!({"type": "create_room", "room": "no spaces"}))
        .await;
    alice.expect_error(ErrorCode::InvalidRoomName).await;
    alice
        .send_json(json!({"type": "history", "room": "bobs-room"}))
        .await;
    alice.expect_error(ErrorCode::NotInRoom).await;
    alice
        .send_json(json!({"type": "leave", "room": "bobs-room"}))
        .await;
    alice.expect_error(ErrorCode::NotInRoom).await;

    // Bob's room is untouched: still empty, and Bob heard nothing.
    let (history, _) = bob.history("bobs-room", None).await;
    assert!(history.is_empty());
    bob.expect_quiet().await;
    still_chats(&mut alice, &mut bob, "ok-4").await;
    drop((alice, bob));
    app.stop().await;
}
