use parley_common::{ServerMsg, close};

use crate::helpers::spawn_app;

#[tokio::test]
async fn shutdown_delivers_queued_messages_then_closes_with_going_away() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    // The ack comes after the broadcast was queued for everyone.
    alice.say_acked("lobby", "a-1", "last words").await;

    let stopping = tokio::spawn(app.stop());
    assert_eq!(bob.recv_message().await.body.as_str(), "last words");
    for client in [&mut alice, &mut bob] {
        let frame = client.recv_close().await.expect("a close frame");
        assert_eq!(u16::from(frame.code), close::GOING_AWAY);
        assert_eq!(frame.reason.as_str(), close::GOING_AWAY_REASON);
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_client_closing_leaves_the_others_undisturbed() {
    let app = spawn_app().await;
    let alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    alice.close().await;
    bob.say("lobby", "b-1", "anyone?").await;
    assert!(matches!(bob.recv().await, ServerMsg::Message(_)));
    assert!(matches!(bob.recv().await, ServerMsg::Ack { .. }));
    drop(bob);
    app.stop().await;
}
