//! Live polls: creation, exact counting under concurrency, live tallies,
//! coalescing, closing, and bad input.

use parley_common::{ErrorCode, PollInfo, ServerMsg, Tally};
use serde_json::json;

use crate::helpers::{Client, spawn_app};

async fn create_poll(client: &mut Client, options: &[&str]) -> PollInfo {
    client
        .send_json(json!({"type": "create_poll", "room": "lobby", "question": "Lunch?", "options": options}))
        .await;
    match client
        .wait_for("the new poll", |m| matches!(m, ServerMsg::Poll(_)))
        .await
    {
        ServerMsg::Poll(info) => info,
        _ => unreachable!(),
    }
}

async fn vote(client: &mut Client, poll: u64, option: u32) {
    client
        .send_json(json!({"type": "vote", "poll": poll, "option": option}))
        .await;
}

/// Waits for a tally of `poll` satisfying `pred`.
async fn tally_where(
    client: &mut Client,
    what: &str,
    poll: u64,
    pred: impl Fn(&Tally) -> bool,
) -> Tally {
    match client
        .wait_for(
            what,
            |m| matches!(m, ServerMsg::Tally { poll: p, tally, .. } if *p == poll && pred(tally)),
        )
        .await
    {
        ServerMsg::Tally { tally, .. } => tally,
        _ => unreachable!(),
    }
}

async fn snapshot(client: &mut Client, poll: u64) -> PollInfo {
    // Forget announcements stepped over earlier: the answer is the next one.
    client.side.retain(|m| !matches!(m, ServerMsg::Poll(_)));
    client
        .send_json(json!({"type": "get_poll", "poll": poll}))
        .await;
    match client
        .wait_for(
            "a poll snapshot",
            |m| matches!(m, ServerMsg::Poll(p) if p.id == poll),
        )
        .await
    {
        ServerMsg::Poll(info) => info,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn votes_update_everyone_live_and_a_changed_vote_counts_once() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    let poll = create_poll(&mut alice, &["pizza", "sushi"]).await;
    let seen_by_bob = bob
        .wait_for("the poll", |m| matches!(m, ServerMsg::Poll(_)))
        .await;
    assert!(
        matches!(seen_by_bob, ServerMsg::Poll(ref p) if p.id == poll.id && p.tally.counts == [0, 0])
    );

    vote(&mut bob, poll.id, 1).await;
    bob.wait_for("my vote", |m| {
        matches!(m, ServerMsg::MyVote { option: 1, .. })
    })
    .await;
    for client in [&mut alice, &mut bob] {
        let t = tally_where(client, "one vote", poll.id, |t| t.voters == 1).await;
        assert_eq!((t.counts.as_slice(), t.version), (&[0, 1][..], 1));
    }
    vote(&mut bob, poll.id, 0).await;
    let t = tally_where(&mut alice, "changed vote", poll.id, |t| t.version == 2).await;
    assert_eq!((t.counts.as_slice(), t.voters), (&[1, 0][..], 1));
    // Voting the same again changes nothing.
    vote(&mut bob, poll.id, 0).await;
    bob.wait_for("my vote again", |m| {
        matches!(m, ServerMsg::MyVote { option: 0, .. })
    })
    .await;
    let snap = snapshot(&mut bob, poll.id).await;
    assert_eq!((snap.tally.version, snap.my_vote), (2, Some(0)));
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_votes_are_counted_exactly_and_survive_a_restart() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let poll = create_poll(&mut alice, &["a", "b", "c"]).await;
    let mut voters = Vec::new();
    for i in 0..24 {
        voters.push(app.user(&format!("voter{i}")).await);
    }
    // Everyone votes at once; a third of them change their mind right after.
    let tasks: Vec<_> = voters
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            tokio::spawn(async move {
                let first = u32::try_from(i % 3).unwrap();
                vote(&mut client, poll.id, first).await;
                let last = if i % 3 == 0 { 2 } else { first };
                if last != first {
                    vote(&mut client, poll.id, last).await;
                }
                client
                    .wait_for(
                        "my last vote",
                        |m| matches!(m, ServerMsg::MyVote { option, .. } if *option == last),
                    )
                    .await;
                client
            })
        })
        .collect();
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    // 24 voters: 8 stayed on b, and 8 moved a → c joining 8 on c.
    let t = tally_where(&mut alice, "all votes", poll.id, |t| {
        t.voters == 24 && t.counts[0] == 0
    })
    .await;
    assert_eq!(t.counts, [0, 8, 16]);
    drop(clients);
    drop(alice);

    let app = app.restart().await;
    let token = app.login("Alice").await;
    let (mut alice, _) = app.connect(&token).await;
    let snap = snapshot(&mut alice, poll.id).await;
    assert_eq!(
        (snap.tally.counts.as_slice(), snap.tally.voters),
        (&[0, 8, 16][..], 24)
    );
    drop(alice);
    app.stop().await;
}

#[tokio::test]
async fn a_burst_of_votes_is_coalesced_and_the_final_tally_always_arrives() {
    let app = spawn_app().await;
    let mut watcher = app.user("Watcher").await;
    let poll = create_poll(&mut watcher, &["yes", "no"]).await;
    let mut voters = Vec::new();
    for i in 0..30 {
        voters.push(app.user(&format!("burst{i}")).await);
    }
    for (i, v) in voters.iter_mut().enumerate() {
        vote(v, poll.id, u32::try_from(i % 2).unwrap()).await;
    }
    let (final_since, last) = match watcher
        .wait_for("the final tally", |m| {
            matches!(m, ServerMsg::Tally { poll: p, tally, .. } if *p == poll.id && tally.voters == 30)
        })
        .await
    {
        ServerMsg::Tally { since, tally, .. } => (since, tally),
        _ => unreachable!(),
    };
    assert_eq!(last.counts, [15, 15]);
    let mut chain: Vec<(u64, u64)> = watcher
        .side
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Tally { since, tally, .. } => Some((*since, tally.version)),
            _ => None,
        })
        .collect();
    chain.push((final_since, last.version));
    assert!(
        chain.len() < 30,
        "30 votes arrived as {} tally frames",
        chain.len()
    );
    // Coalesced, yet gap-free from the viewer's side: each names the one before.
    assert_eq!(chain[0].0, 0, "{chain:?}");
    assert!(chain.windows(2).all(|w| w[1].0 == w[0].1), "{chain:?}");
    drop((watcher, voters));
    app.stop().await;
}

#[tokio::test]
async fn closing_sends_the_final_result_and_stops_votes() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    let poll = create_poll(&mut alice, &["yes", "no"]).await;
    vote(&mut bob, poll.id, 0).await;
    tally_where(&mut alice, "bob's vote", poll.id, |t| t.voters == 1).await;

    bob.send_json(json!({"type": "close_poll", "poll": poll.id}))
        .await;
    bob.wait_for("not the creator", |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::NotPollCreator,
                ..
            }
        )
    })
    .await;
    alice
        .send_json(json!({"type": "close_poll", "poll": poll.id}))
        .await;
    for client in [&mut alice, &mut bob] {
        let t = tally_where(client, "the final tally", poll.id, |t| t.closed).await;
        assert_eq!((t.counts.as_slice(), t.voters), (&[1, 0][..], 1));
    }
    vote(&mut bob, poll.id, 1).await;
    bob.wait_for("closed", |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::PollClosed,
                ..
            }
        )
    })
    .await;
    assert_eq!(snapshot(&mut bob, poll.id).await.tally.counts, [1, 0]);
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn a_poll_closes_by_itself_at_its_time() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let closes_at = parley_backend::clock::now_ms() + 1_000;
    alice
        .send_json(
            json!({"type": "create_poll", "room": "lobby", "question": "Quick?",
                          "options": ["y", "n"], "closes_at": closes_at}),
        )
        .await;
    let poll = match alice
        .wait_for("the poll", |m| matches!(m, ServerMsg::Poll(_)))
        .await
    {
        ServerMsg::Poll(p) => p,
        _ => unreachable!(),
    };
    assert_eq!(poll.closes_at, Some(closes_at));
    tally_where(&mut alice, "the closing tally", poll.id, |t| t.closed).await;
    drop(alice);
    app.stop().await;
}

#[tokio::test]
async fn bad_polls_and_votes_are_typed_errors_and_change_nothing() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    bob.enter("create_room", "bobs").await;
    let mut expect =
        |code| move |m: &ServerMsg| matches!(m, ServerMsg::Error { code: c, .. } if *c == code);
    let bad_polls = [
        (json!(["only one"]), ErrorCode::TooFewOptions),
        (
            json!((0..11).map(|i| i.to_string()).collect::<Vec<_>>()),
            ErrorCode::TooManyOptions,
        ),
        (json!(["same", " Same "]), ErrorCode::DuplicateOption),
        (json!(["fine", "  "]), ErrorCode::InvalidOption),
    ];
    for (options, code) in bad_polls {
        alice
            .send_json(json!({"type": "create_poll", "room": "lobby", "question": "Q?", "options": options}))
            .await;
        alice.wait_for("a poll error", expect(code)).await;
    }
    alice
        .send_json(
            json!({"type": "create_poll", "room": "lobby", "question": " ", "options": ["a", "b"]}),
        )
        .await;
    alice
        .wait_for("empty question", expect(ErrorCode::InvalidQuestion))
        .await;
    alice
        .send_json(
            json!({"type": "create_poll", "room": "bobs", "question": "Q?", "options": ["a", "b"]}),
        )
        .await;
    alice
        .wait_for("not in bobs", expect(ErrorCode::NotInRoom))
        .await;

    let poll = create_poll(&mut alice, &["a", "b"]).await;
    vote(&mut alice, poll.id, 2).await;
    alice
        .wait_for("no option 2", expect(ErrorCode::NoSuchOption))
        .await;
    vote(&mut alice, 999_999, 0).await;
    alice
        .wait_for("no poll", expect(ErrorCode::NoSuchPoll))
        .await;
    // A poll in Bob's room cannot be voted on (or seen) from outside it.
    let bobs_poll = {
        bob.send_json(
            json!({"type": "create_poll", "room": "bobs", "question": "Q?", "options": ["a", "b"]}),
        )
        .await;
        match bob
            .wait_for(
                "bob's poll",
                |m| matches!(m, ServerMsg::Poll(p) if p.room.as_str() == "bobs"),
            )
            .await
        {
            ServerMsg::Poll(p) => p,
            _ => unreachable!(),
        }
    };
    vote(&mut alice, bobs_poll.id, 0).await;
    alice
        .wait_for("not in the room", expect(ErrorCode::NotInRoom))
        .await;
    alice
        .send_json(json!({"type": "get_poll", "poll": bobs_poll.id}))
        .await;
    alice
        .wait_for("cannot see it", expect(ErrorCode::NoSuchPoll))
        .await;

    // Nothing changed.
    let snap = snapshot(&mut alice, poll.id).await;
    assert_eq!((snap.tally.version, snap.tally.voters), (0, 0));
    let snap = snapshot(&mut bob, bobs_poll.id).await;
    assert_eq!((snap.tally.version, snap.tally.voters), (0, 0));
    let _ = &mut expect;
    drop((alice, bob));
    app.stop().await;
}
