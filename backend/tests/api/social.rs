//! Private messages, presence, typing and read markers.

use parley_common::{Channel, ErrorCode, ServerMsg};
use serde_json::json;

use crate::helpers::spawn_app;

fn dm_to(client_id: &str, to: &str, body: &str) -> serde_json::Value {
    json!({"type": "send", "dm": to, "client_id": client_id, "body": body})
}

fn channel_name(channel: &Channel) -> String {
    channel.to_string()
}

#[tokio::test]
async fn a_private_message_waits_for_an_offline_recipient() {
    let app = spawn_app().await;
    let bob_token = app.register("Bob").await;
    let mut alice = app.user("Alice").await;
    alice.send_json(dm_to("d-1", "bob", "are you there?")).await;
    let echo = alice.recv_message().await;
    assert_eq!(
        channel_name(&echo.channel),
        "@Bob",
        "named from Alice's side"
    );
    match alice.recv().await {
        ServerMsg::Ack { channel, seq, .. } => {
            assert_eq!((channel_name(&channel), seq), ("@Bob".into(), 1))
        }
        other => panic!("expected the ack, got {other:?}"),
    }

    let (mut bob, _) = app.connect(&bob_token).await;
    // The welcome listed the conversation as unread, and Alice as online.
    let mut welcome_bob = app.try_ws(Some(&bob_token), None).await.ok().unwrap();
    welcome_bob
        .send_json(json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}))
        .await;
    match welcome_bob.recv().await {
        ServerMsg::Welcome { conversations, .. } => {
            assert_eq!(conversations.len(), 1);
            let c = &conversations[0];
            assert_eq!(
                (c.with.as_str(), c.last_seq, c.last_read, c.online),
                ("Alice", 1, 0, true)
            );
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    let history = bob.dm_history("alice").await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        channel_name(&history[0].channel),
        "@Alice",
        "named from Bob's side"
    );
    assert_eq!(
        (history[0].sender.as_str(), history[0].body.as_str()),
        ("Alice", "are you there?")
    );
    drop((alice, bob, welcome_bob));
    app.stop().await;
}

#[tokio::test]
async fn private_messages_reach_every_tab_of_both_users_and_no_one_else() {
    let app = spawn_app().await;
    let alice_token = app.register("Alice").await;
    let bob_token = app.register("Bob").await;
    let (mut a1, _) = app.connect(&alice_token).await;
    let (mut a2, _) = app.connect(&alice_token).await;
    let (mut b1, _) = app.connect(&bob_token).await;
    let (mut b2, _) = app.connect(&bob_token).await;
    let mut carol = app.user("Carol").await;

    a1.send_json(dm_to("d-1", "Bob", "just for you")).await;
    for (tab, expect) in [
        (&mut b1, "@Alice"),
        (&mut b2, "@Alice"),
        (&mut a1, "@Bob"),
        (&mut a2, "@Bob"),
    ] {
        let m = tab.recv_message().await;
        assert_eq!(
            (channel_name(&m.channel).as_str(), m.body.as_str()),
            (expect, "just for you")
        );
    }
    b2.send_json(dm_to("d-2", "alice", "got it")).await;
    let reply = a2.recv_message().await;
    assert_eq!(
        (reply.seq, reply.sender.as_str()),
        (2, "Bob"),
        "one sequence per conversation"
    );
    carol.expect_quiet().await;
    // Carol cannot read it either: her conversation with Alice is empty.
    let history = carol.dm_history("Alice").await;
    assert!(history.is_empty());
    drop((a1, a2, b1, b2, carol));
    app.stop().await;
}

#[tokio::test]
async fn bad_private_messages_are_typed_errors_and_store_nothing() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    alice.send_json(dm_to("u-1", "nobody", "hello?")).await;
    assert_eq!(
        alice.expect_error(ErrorCode::UnknownUser).await.as_deref(),
        Some("u-1")
    );
    alice.send_json(dm_to("s-1", "ALICE", "note to self")).await;
    assert_eq!(
        alice
            .expect_error(ErrorCode::CannotMessageSelf)
            .await
            .as_deref(),
        Some("s-1")
    );
    app.register("Bob").await;
    alice.send_json(dm_to("e-1", "Bob", " ")).await;
    assert_eq!(
        alice.expect_error(ErrorCode::EmptyBody).await.as_deref(),
        Some("e-1")
    );
    alice
        .send_json(dm_to("l-1", "Bob", &"x".repeat(4001)))
        .await;
    assert_eq!(
        alice.expect_error(ErrorCode::BodyTooLong).await.as_deref(),
        Some("l-1")
    );
    alice
        .send_json(json!({"type": "history", "dm": "nobody"}))
        .await;
    alice.expect_error(ErrorCode::UnknownUser).await;
    // Nothing was stored: Bob has no conversation.
    let bob_token = app.login("Bob").await;
    let mut bob = app.try_ws(Some(&bob_token), None).await.ok().unwrap();
    bob.send_json(json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}))
        .await;
    match bob.recv().await {
        ServerMsg::Welcome { conversations, .. } => assert!(conversations.is_empty()),
        other => panic!("expected welcome, got {other:?}"),
    }
    drop((alice, bob));
    app.stop().await;
}

fn is_presence(msg: &ServerMsg, who: &str, online: bool) -> bool {
    matches!(msg, ServerMsg::Presence { user, online: o, .. } if user.as_str() == who && *o == online)
}

#[tokio::test]
async fn presence_counts_users_not_tabs() {
    let app = spawn_app().await;
    let mut bob = app.user("Bob").await;
    let alice_token = app.register("Alice").await;
    let (tab1, _) = app.connect(&alice_token).await;
    bob.wait_for("Alice online", |m| is_presence(m, "Alice", true))
        .await;
    let (mut tab2, _) = app.connect(&alice_token).await;
    // tab2's own online list shows both users.
    match tab2
        .wait_for("an online list", |m| matches!(m, ServerMsg::Online { .. }))
        .await
    {
        ServerMsg::Online { users, .. } => {
            let names: Vec<_> = users.iter().map(|u| u.as_str()).collect();
            assert_eq!(names, ["Alice", "Bob"]);
        }
        _ => unreachable!(),
    }
    tab1.close().await;
    // Still online: Bob's next event is the message, not an "offline".
    tab2.say_acked("lobby", "t-1", "still here").await;
    assert_eq!(bob.recv_message().await.client_id.as_str(), "t-1");
    assert!(
        !bob.side.iter().any(|m| is_presence(m, "Alice", false)),
        "{:?}",
        bob.side
    );
    tab2.close().await;
    bob.wait_for("Alice offline", |m| is_presence(m, "Alice", false))
        .await;
    drop(bob);
    app.stop().await;
}

#[tokio::test]
async fn typing_is_forwarded_rate_limited_and_never_stored() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let bob_token = app.register("Bob").await;
    let (mut bob, _) = app.connect(&bob_token).await;
    for _ in 0..5 {
        alice
            .send_json(json!({"type": "typing", "room": "lobby"}))
            .await;
    }
    alice.say_acked("lobby", "m-1", "done typing").await;
    assert_eq!(bob.recv_message().await.client_id.as_str(), "m-1");
    let typing: Vec<_> = bob
        .side
        .iter()
        .filter(|m| matches!(m, ServerMsg::Typing { user, .. } if user.as_str() == "Alice"))
        .collect();
    assert_eq!(
        typing.len(),
        1,
        "five signals within a second forward as one"
    );
    assert!(
        !alice
            .side
            .iter()
            .any(|m| matches!(m, ServerMsg::Typing { .. })),
        "not echoed"
    );

    alice
        .send_json(json!({"type": "typing", "room": "elsewhere"}))
        .await;
    alice.expect_error(ErrorCode::NotInRoom).await;

    // Typing left no trace: the lobby holds exactly the one message.
    drop(bob);
    let (_bob2, rooms) = app.connect(&bob_token).await;
    let lobby = rooms.iter().find(|r| r.room.as_str() == "lobby").unwrap();
    assert_eq!((lobby.last_seq, lobby.last_read), (1, 0));
    drop((alice, _bob2));
    app.stop().await;
}

/// Issue 24, item 7: a message ends its sender's typing, so typing again
/// right after a send is forwarded at once instead of being dropped as a
/// repeat within the one-second window (which made "is typing…" late).
#[tokio::test]
async fn a_sent_message_restarts_the_typing_window() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let bob_token = app.register("Bob").await;
    let (mut bob, _) = app.connect(&bob_token).await;
    let alice_typing =
        |m: &ServerMsg| matches!(m, ServerMsg::Typing { user, .. } if user.as_str() == "Alice");
    let typing = json!({"type": "typing", "room": "lobby"});

    alice.send_json(typing.clone()).await;
    bob.wait_for("Alice typing", alice_typing).await;
    alice.say_acked("lobby", "m-1", "sent").await;
    assert_eq!(bob.recv_message().await.client_id.as_str(), "m-1");
    // Well within a second of the first signal: forwarded all the same.
    alice.send_json(typing.clone()).await;
    bob.wait_for("Alice typing again after her message", alice_typing)
        .await;

    // Without a message in between, a repeat is still dropped.
    alice.send_json(typing).await;
    alice.say_acked("lobby", "m-2", "again").await;
    assert_eq!(bob.recv_message().await.client_id.as_str(), "m-2");
    assert!(!bob.side.iter().any(alice_typing), "{:?}", bob.side);
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn read_markers_move_forward_only_and_reach_every_tab() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let bob_token = app.register("Bob").await;
    let (mut b1, _) = app.connect(&bob_token).await;
    let (mut b2, _) = app.connect(&bob_token).await;
    for i in 1..=3 {
        alice.say_acked("lobby", &format!("m-{i}"), "hello").await;
    }
    b1.send_json(json!({"type": "mark_read", "room": "lobby", "seq": 2}))
        .await;
    for tab in [&mut b1, &mut b2] {
        tab.wait_for("read marker 2", |m| {
            matches!(m, ServerMsg::ReadMarker { seq: 2, .. })
        })
        .await;
    }
    b1.send_json(json!({"type": "mark_read", "room": "lobby", "seq": 1}))
        .await;
    b1.wait_for("backwards refused", |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::BadReadMarker,
                ..
            }
        )
    })
    .await;
    b1.send_json(json!({"type": "mark_read", "room": "lobby", "seq": 9}))
        .await;
    b1.wait_for("beyond refused", |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::BadReadMarker,
                ..
            }
        )
    })
    .await;
    b1.send_json(json!({"type": "mark_read", "room": "nowhere", "seq": 1}))
        .await;
    b1.wait_for("unknown room refused", |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::NoSuchRoom,
                ..
            }
        )
    })
    .await;

    // Stored: a new connection sees 2 of 3 read; sending moves it to the end.
    let (mut b3, rooms) = app.connect(&bob_token).await;
    let lobby = rooms.iter().find(|r| r.room.as_str() == "lobby").unwrap();
    assert_eq!((lobby.last_seq, lobby.last_read), (3, 2));
    b3.say_acked("lobby", "b-1", "read it all").await;
    drop(b3);
    let (_b4, rooms) = app.connect(&bob_token).await;
    let lobby = rooms.iter().find(|r| r.room.as_str() == "lobby").unwrap();
    assert_eq!((lobby.last_seq, lobby.last_read), (4, 4));
    drop((alice, b1, b2, _b4));
    app.stop().await;
}

#[tokio::test]
async fn a_new_member_starts_with_nothing_unread() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    alice.say_acked("lobby", "m-1", "before Carol").await;
    alice.say_acked("lobby", "m-2", "still before Carol").await;
    let token = app.register("Carol").await;
    let (_carol, rooms) = app.connect(&token).await;
    let lobby = rooms.iter().find(|r| r.room.as_str() == "lobby").unwrap();
    assert_eq!((lobby.last_seq, lobby.last_read), (2, 2));
    drop((alice, _carol));
    app.stop().await;
}

#[tokio::test]
async fn starting_a_conversation_tells_the_sender_the_recipient_is_online() {
    let app = spawn_app().await;
    let mut dan = app.user("Dan").await;
    let mut erin = app.user("Erin").await;
    dan.send_json(dm_to("ev-1", "erin", "first message")).await;
    let online = dan
        .wait_for("the conversation's online list", |m| {
            matches!(
                m,
                ServerMsg::Online {
                    channel: Channel::Dm(_),
                    ..
                }
            )
        })
        .await;
    match online {
        ServerMsg::Online { users, total, .. } => {
            let names: Vec<_> = users.iter().map(|u| u.as_str()).collect();
            assert_eq!((names, total), (vec!["Dan", "Erin"], 2));
        }
        _ => unreachable!(),
    }
    assert_eq!(erin.recv_message().await.client_id.as_str(), "ev-1");
    drop((dan, erin));
    app.stop().await;
}

/// `welcome` lists rooms by name and conversations most recent first, each
/// conversation named after the other user (one query reads both on connect).
#[tokio::test]
async fn welcome_lists_rooms_by_name_and_conversations_by_recency() {
    let app = spawn_app().await;
    let alice_token = app.register("Alice").await;
    let (mut alice, _) = app.connect(&alice_token).await;
    let _bob = app.user("Bob").await;
    let _carol = app.user("Carol").await;
    alice.enter("create_room", "zeta").await;
    alice.enter("create_room", "alpha").await;
    for (i, to) in ["carol", "bob"].into_iter().enumerate() {
        alice.send_json(dm_to(&format!("d-{i}"), to, "hi")).await;
        alice
            .wait_for("the ack", |m| matches!(m, ServerMsg::Ack { .. }))
            .await;
    }
    // Bob was written to last (at Carol's millisecond or later; a tie goes to
    // the newer conversation, Bob's, too).
    alice.send_json(dm_to("d-2", "bob", "again")).await;
    alice
        .wait_for("the ack", |m| matches!(m, ServerMsg::Ack { .. }))
        .await;

    let mut again = app.try_ws(Some(&alice_token), None).await.ok().unwrap();
    again
        .send_json(json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}))
        .await;
    match again.recv().await {
        ServerMsg::Welcome {
            rooms,
            conversations,
            ..
        } => {
            let rooms: Vec<_> = rooms.iter().map(|r| r.room.as_str()).collect();
            assert_eq!(rooms, ["alpha", "lobby", "zeta"]);
            let with: Vec<_> = conversations
                .iter()
                .map(|c| (c.with.as_str(), c.last_seq))
                .collect();
            assert_eq!(with, [("Bob", 2), ("Carol", 1)]);
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    drop((alice, again));
    app.stop().await;
}
