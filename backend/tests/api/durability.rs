//! History pages, and what survives a restart.

use std::collections::BTreeSet;

use crate::helpers::spawn_app;

#[tokio::test]
async fn history_pages_are_complete_and_ordered() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    // Two senders interleaved: 120 messages.
    for i in 0..60 {
        alice
            .say("lobby", &format!("a-{i}"), &format!("alice {i}"))
            .await;
        bob.say("lobby", &format!("b-{i}"), &format!("bob {i}"))
            .await;
    }
    // Wait until both have all their acks.
    for (client, prefix) in [(&mut alice, "a"), (&mut bob, "b")] {
        let mut acked = 0;
        while acked < 60 {
            if let parley_common::ServerMsg::Ack { client_id, .. } = client.recv().await {
                assert!(client_id.as_str().starts_with(prefix));
                acked += 1;
            }
        }
    }

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let (page, has_more) = bob.history("lobby", before).await;
        assert!(page.len() <= parley_common::HISTORY_PAGE);
        assert!(
            page.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
            "page in order, no gaps"
        );
        before = page.first().map(|m| m.seq);
        seen.splice(0..0, page);
        if !has_more {
            break;
        }
    }
    let seqs: Vec<u64> = seen.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=120).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = seen.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(ids.len(), 120);
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn history_memberships_and_accounts_survive_a_restart() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    alice.enter("create_room", "rust").await;
    let s1 = alice.say_acked("rust", "a-1", "before the restart").await;
    alice.say_acked("lobby", "a-2", "lobby too").await;
    drop(alice);

    let app = app.restart().await;
    let token = app.login("Alice").await;
    let (mut alice, rooms) = app.connect(&token).await;
    let mine: Vec<(&str, u64)> = rooms
        .iter()
        .map(|r| (r.room.as_str(), r.last_seq))
        .collect();
    assert_eq!(mine, [("lobby", 1), ("rust", 1)]);
    let (history, _) = alice.history("rust", None).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].seq, history[0].body.as_str()),
        (s1, "before the restart")
    );
    // Sequence numbers continue where they stopped; a retried send from before the
    // restart is still recognised.
    assert_eq!(alice.say_acked("rust", "a-3", "after").await, 2);
    assert_eq!(
        alice.say_acked("rust", "a-1", "before the restart").await,
        s1
    );
    drop(alice);
    app.stop().await;
}
