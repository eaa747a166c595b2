use parley_common::ServerMsg;

use crate::helpers::spawn_app;

#[tokio::test]
async fn two_clients_chat_in_the_lobby() {
    let app = spawn_app().await;
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;

    alice.say("lobby", "a-1", "hello Bob").await;
    for client in [&mut alice, &mut bob] {
        match client.recv().await {
            ServerMsg::Message(m) => {
                assert_eq!(m.seq, 1);
                assert_eq!(m.sender.as_str(), "Alice");
                assert_eq!(m.body.as_str(), "hello Bob");
                assert_eq!(m.client_id.as_str(), "a-1");
                assert!(m.ts > 0);
            }
            other => panic!("expected the message, got {other:?}"),
        }
    }
    match alice.recv().await {
        ServerMsg::Ack {
            client_id,
            room,
            seq,
        } => {
            assert_eq!(
                (client_id.as_str(), room.as_str(), seq),
                ("a-1", "lobby", 1)
            );
        }
        other => panic!("expected an ack, got {other:?}"),
    }

    bob.say("lobby", "b-1", "hi Alice").await;
    match alice.recv().await {
        ServerMsg::Message(m) => assert_eq!((m.seq, m.sender.as_str()), (2, "Bob")),
        other => panic!("expected Bob's message, got {other:?}"),
    }
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn the_sender_is_stamped_by_the_server() {
    let app = spawn_app().await;
    let mut mallory = app.join_as("Mallory").await;
    let mut bob = app.join_as("Bob").await;
    mallory
        .send_json(serde_json::json!({
            "type": "send", "room": "lobby", "client_id": "m-1",
            "body": "I am Alice", "sender": "Alice", "name": "Alice"
        }))
        .await;
    match bob.recv().await {
        ServerMsg::Message(m) => assert_eq!(m.sender.as_str(), "Mallory"),
        other => panic!("expected the message, got {other:?}"),
    }
    drop((mallory, bob));
    app.stop().await;
}

#[tokio::test]
async fn joined_rooms_are_separate() {
    let app = spawn_app().await;
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;
    alice
        .send_json(serde_json::json!({"type": "join", "room": "Rust"}))
        .await;
    match alice.recv().await {
        ServerMsg::Joined { room, last_seq } => assert_eq!((room.as_str(), last_seq), ("rust", 0)),
        other => panic!("expected joined, got {other:?}"),
    }
    alice.say("rust", "a-1", "only for rust").await;
    alice.say("lobby", "a-2", "for everyone").await;
    // Bob is only in the lobby: the first thing he gets is the lobby message, seq 1.
    match bob.recv().await {
        ServerMsg::Message(m) => {
            assert_eq!(
                (m.room.as_str(), m.seq, m.body.as_str()),
                ("lobby", 1, "for everyone")
            );
        }
        other => panic!("expected the lobby message, got {other:?}"),
    }
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn the_spa_is_served_with_a_fallback_to_index_html() {
    let app = spawn_app().await;
    let (status, body) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("Parley test SPA"));
    let (status, body) = app.get("/rooms/some/deep/link").await;
    assert_eq!(status, 200);
    assert!(body.contains("Parley test SPA"));
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    app.stop().await;
}
