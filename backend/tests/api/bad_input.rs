//! Every bad input gets a typed error, the connection stays usable, and nothing is
//! broadcast.

use parley_common::{ErrorCode, ServerMsg};
use serde_json::json;

use crate::helpers::{Client, spawn_app};

/// After the bad input, a valid message still goes through, and it is the very next
/// thing the other client sees (so nothing was broadcast for the bad input).
async fn still_chats(sender: &mut Client, observer: &mut Client, id: &str) {
    sender.say("lobby", id, "still here").await;
    match observer.recv().await {
        ServerMsg::Message(m) => assert_eq!(m.client_id.as_str(), id),
        other => panic!("expected the follow-up message, got {other:?}"),
    }
    match sender.recv().await {
        ServerMsg::Message(m) => assert_eq!(m.client_id.as_str(), id),
        other => panic!("expected own echo, got {other:?}"),
    }
    assert!(matches!(sender.recv().await, ServerMsg::Ack { .. }));
}

#[tokio::test]
async fn malformed_frames_get_typed_errors_and_the_connection_survives() {
    let app = spawn_app().await;
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;

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
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;

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
    match bob.recv().await {
        ServerMsg::Message(m) => assert_eq!(m.body.as_str().chars().count(), 4000),
        other => panic!("expected the 4000-character message, got {other:?}"),
    }
    assert!(matches!(alice.recv().await, ServerMsg::Message(_)));
    assert!(matches!(alice.recv().await, ServerMsg::Ack { .. }));

    still_chats(&mut alice, &mut bob, "ok-2").await;
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn hello_is_required_first_and_only_once() {
    let app = spawn_app().await;
    let mut bob = app.join_as("Bob").await;
    let mut anon = app.connect().await;

    anon.say("lobby", "x-1", "who am I").await;
    assert_eq!(
        anon.expect_error(ErrorCode::HelloRequired).await.as_deref(),
        None
    );
    anon.send_json(json!({"type": "join", "room": "lobby"}))
        .await;
    anon.expect_error(ErrorCode::HelloRequired).await;
    anon.send_json(json!({"type": "hello", "protocol": 999, "name": "Anon"}))
        .await;
    anon.expect_error(ErrorCode::UnsupportedVersion).await;
    anon.send_json(json!({"type": "hello", "protocol": 1, "name": "\u{1b}[31m"}))
        .await;
    anon.expect_error(ErrorCode::InvalidName).await;

    anon.hello("Anon").await;
    anon.send_json(json!({"type": "hello", "protocol": 1, "name": "Again"}))
        .await;
    anon.expect_error(ErrorCode::AlreadyGreeted).await;

    still_chats(&mut anon, &mut bob, "ok-3").await;
    drop((bob, anon));
    app.stop().await;
}

#[tokio::test]
async fn sending_to_a_room_not_joined_is_refused() {
    let app = spawn_app().await;
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;
    alice.say("elsewhere", "n-1", "psst").await;
    assert_eq!(
        alice.expect_error(ErrorCode::NotInRoom).await.as_deref(),
        Some("n-1")
    );
    alice.say("Not A Room!", "n-2", "psst").await;
    assert_eq!(
        alice
            .expect_error(ErrorCode::InvalidRoomName)
            .await
            .as_deref(),
        Some("n-2")
    );
    still_chats(&mut alice, &mut bob, "ok-4").await;
    drop((alice, bob));
    app.stop().await;
}
