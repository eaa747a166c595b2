use parley_common::{ServerMsg, close};

use crate::helpers::spawn_app;

#[tokio::test]
async fn shutdown_delivers_queued_messages_then_closes_with_going_away() {
    let app = spawn_app().await;
    let mut alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;
    alice.say("lobby", "a-1", "last words").await;
    // Alice's ack means the broadcast is already in Bob's outbox.
    assert!(matches!(alice.recv().await, ServerMsg::Message(_)));
    assert!(matches!(alice.recv().await, ServerMsg::Ack { .. }));

    let stopping = tokio::spawn(app.stop());
    match bob.recv().await {
        ServerMsg::Message(m) => assert_eq!(m.body.as_str(), "last words"),
        other => panic!("expected the queued message, got {other:?}"),
    }
    for client in [&mut alice, &mut bob] {
        let frame = client.recv_close().await.expect("a close frame");
        assert_eq!(u16::from(frame.code), close::GOING_AWAY);
        assert_eq!(frame.reason.as_str(), close::GOING_AWAY_REASON);
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_client_closing_leaves_the_room_cleanly() {
    let app = spawn_app().await;
    let alice = app.join_as("Alice").await;
    let mut bob = app.join_as("Bob").await;
    alice.close().await;
    bob.say("lobby", "b-1", "anyone?").await;
    assert!(matches!(bob.recv().await, ServerMsg::Message(_)));
    assert!(matches!(bob.recv().await, ServerMsg::Ack { .. }));
    drop(bob);
    app.stop().await;
}
