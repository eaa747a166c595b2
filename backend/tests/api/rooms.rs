//! Creating, listing, joining and leaving rooms; who hears what.

use parley_common::ServerMsg;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn two_users_in_two_rooms_see_only_their_rooms() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    alice.enter("create_room", "rust").await;
    bob.enter("create_room", "go").await;

    alice.say_acked("rust", "a-1", "ownership!").await;
    bob.say_acked("go", "b-1", "goroutines!").await;
    alice.say_acked("lobby", "a-2", "hello everyone").await;

    // Bob hears the lobby message, not the one in #rust; Alice never hears #go.
    let m = bob.recv_message().await;
    assert_eq!(
        (m.channel.to_string().as_str(), m.client_id.as_str()),
        ("#lobby", "a-2")
    );
    bob.expect_quiet().await;
    alice.expect_quiet().await;

    // Reading a room you are not in is refused too.
    bob.send_json(json!({"type": "history", "room": "rust"}))
        .await;
    bob.expect_error(parley_common::ErrorCode::NotInRoom).await;
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn joining_sends_the_latest_history_and_the_directory_lists_rooms() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    alice.enter("create_room", "rust").await;
    for i in 0..3 {
        alice
            .say_acked("rust", &format!("r-{i}"), &format!("message {i}"))
            .await;
    }

    bob.send_json(json!({"type": "list_rooms"})).await;
    match bob.recv().await {
        ServerMsg::RoomList { rooms } => {
            let listed: Vec<_> = rooms
                .iter()
                .map(|r| (r.room.as_str(), r.members, r.joined))
                .collect();
            assert_eq!(listed, [("lobby", 2, true), ("rust", 1, false)]);
        }
        other => panic!("expected the room list, got {other:?}"),
    }

    let (history, has_more) = bob.enter("join", "rust").await;
    assert!(!has_more);
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    // Now Bob hears #rust live.
    alice.say_acked("rust", "r-3", "welcome Bob").await;
    assert_eq!(bob.recv_message().await.seq, 4);
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn joined_and_left_reach_all_tabs_and_leaving_stops_delivery() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    let (mut tab1, _) = app.connect(&token).await;
    let (mut tab2, _) = app.connect(&token).await;
    let mut bob = app.user("Bob").await;
    bob.enter("create_room", "rust").await;

    tab1.enter("join", "rust").await;
    match tab2.recv().await {
        ServerMsg::Joined { room, .. } => assert_eq!(room.as_str(), "rust"),
        other => panic!("expected joined on the other tab, got {other:?}"),
    }
    bob.say_acked("rust", "b-1", "hi").await;
    assert_eq!(tab2.recv_message().await.client_id.as_str(), "b-1");
    assert_eq!(tab1.recv_message().await.client_id.as_str(), "b-1");

    tab1.send_json(json!({"type": "leave", "room": "rust"}))
        .await;
    for tab in [&mut tab1, &mut tab2] {
        match tab.recv().await {
            ServerMsg::Left { room } => assert_eq!(room.as_str(), "rust"),
            other => panic!("expected left, got {other:?}"),
        }
    }
    bob.say_acked("rust", "b-2", "gone?").await;
    tab1.expect_quiet().await;
    tab2.expect_quiet().await;
    drop((tab1, tab2, bob));
    app.stop().await;
}
