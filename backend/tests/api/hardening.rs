//! Issue #19: malformed floods pay the same rate budgets as valid frames, a
//! kicked slow consumer really loses its socket, and the store's queues are
//! bounded.

use std::time::{Duration, Instant};

use parley_common::{ErrorCode, ServerMsg, close};
use serde_json::json;

use parley_backend::store::Database;

use crate::helpers::{Client, TIMEOUT, TestApp, pg_connect, spawn_app_with};

/// The production message limits (the test configuration lifts them).
fn production_rates(config: &mut parley_backend::Config) {
    config.message_rate = 20.0;
    config.message_burst = 60;
    config.user_message_rate = 50.0;
}

/// The bad frames of the issue, in turn: not JSON, an unknown type, wrong
/// fields, and (on a WebSocket) binary.
const BAD: [&str; 3] = [
    "garbage {",
    r#"{"type":"no_such_type"}"#,
    r#"{"type":"send","room":5,"client_id":[],"body":null}"#,
];

#[tokio::test]
async fn a_flood_of_malformed_frames_is_refused_then_closed_with_1008() {
    let app = spawn_app_with(production_rates).await;
    let mut alice = app.user("alice").await;
    let mut bob = app.user("bob").await;
    // 1,000 bad frames back to back, before reading anything.
    for i in 0..1000 {
        if i % 4 == 3 {
            alice.send_binary(vec![0xde, 0xad]).await;
        } else {
            alice.send_text(BAD[i % 4]).await;
        }
    }
    let (mut bad, mut limited) = (0, 0);
    let close = loop {
        match tokio::time::timeout(TIMEOUT, alice.next_frame()).await {
            Ok(Some(Ok(ServerMsg::Error { code, .. }))) => match code {
                ErrorCode::RateLimited => limited += 1,
                ErrorCode::BadJson | ErrorCode::BadMessage | ErrorCode::UnknownType => bad += 1,
                other => panic!("unexpected error {other:?}"),
            },
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(close))) => break close,
            Ok(None) => panic!("ended without a close frame"),
            Err(_) => panic!("no close in time: {bad} bad, {limited} rate-limited"),
        }
    };
    let close = close.expect("a close frame");
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (close::POLICY, close::CloseReason::RATE.reason),
        "the flooding client is closed for flooding, not as a slow reader"
    );
    // The burst (60, `hello` took one) was answered, then refusals.
    assert!(bad <= 70, "{bad} bad frames answered");
    assert!(limited >= 1, "{bad} bad, {limited} rate-limited");
    let metrics = wait_metrics(&app, |m| {
        metric(m, "parley_rate_limit_disconnects_total") == Some(1)
    })
    .await;
    assert!(metric(&metrics, "parley_rate_limited_total") >= Some(1));
    assert_eq!(
        metric(&metrics, "parley_slow_consumer_disconnects_total"),
        Some(0)
    );
    // Nobody else noticed.
    bob.say_acked("lobby", "b1", "still here").await;
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_malformed_messages_over_long_polling_is_closed_with_1008() {
    let app = spawn_app_with(production_rates).await;
    let token = app.register("alice").await;
    let mut lp = app.lp(&token, json!([])).await;
    let batch = lp.get(5).await;
    assert!(matches!(
        batch.events.first(),
        Some(ServerMsg::Welcome { .. })
    ));
    // Twenty requests of fifty bad messages each (the connection may be gone
    // before the last ones: 404).
    let bad: Vec<serde_json::Value> = (0..50)
        .map(|i| match i % 4 {
            0 => json!(1),
            1 => json!("garbage {"),
            2 => json!({"type": "no_such_type"}),
            _ => json!({"type": "send", "room": 5}),
        })
        .collect();
    for _ in 0..20 {
        let status = lp.post(json!(bad)).await;
        assert!(status == 204 || status == 404, "{status}");
    }
    let (mut limited, mut close) = (0, None);
    let deadline = Instant::now() + TIMEOUT;
    while close.is_none() {
        assert!(Instant::now() < deadline, "no close in time");
        let batch = lp.get(5).await;
        limited += batch
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ServerMsg::Error {
                        code: ErrorCode::RateLimited,
                        ..
                    }
                )
            })
            .count();
        close = batch.close;
    }
    let close = close.expect("closed");
    assert_eq!(
        (close.code, close.reason.as_str()),
        (close::POLICY, close::CloseReason::RATE.reason)
    );
    assert!(limited >= 1);
    let metrics = wait_metrics(&app, |m| {
        metric(m, "parley_rate_limit_disconnects_total") == Some(1)
    })
    .await;
    assert_eq!(
        metric(&metrics, "parley_slow_consumer_disconnects_total"),
        Some(0)
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_frames_spend_the_users_budget_on_all_connections() {
    // No per-connection limit to speak of; the user's: 2/s, burst 6.
    let app = spawn_app_with(|c| c.user_message_rate = 2.0).await;
    let token = app.register("alice").await;
    let (mut first, _) = app.connect(&token).await;
    let (mut second, _) = app.connect(&token).await;
    // Two hellos took two tokens; ten bad frames on the first connection
    // take the rest.
    for _ in 0..10 {
        first.send_text("garbage {").await;
    }
    first.expect_error(ErrorCode::BadJson).await;
    first
        .wait_for("a refusal", |m| {
            matches!(
                m,
                ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .await;
    // So a valid message on the second is refused, naming it.
    second.say("lobby", "m1", "hello").await;
    match second.recv().await {
        ServerMsg::Error {
            code: ErrorCode::RateLimited,
            client_id,
            ..
        } => assert_eq!(
            client_id.map(|c| c.as_str().to_owned()).as_deref(),
            Some("m1")
        ),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn a_kicked_slow_consumer_loses_its_socket_while_its_write_is_blocked() {
    use tokio::io::{AsyncWriteExt, Interest};
    // Kernel default buffers; production-like limits are not needed here.
    let app = spawn_app_with(|_| {}).await;
    let mut senders = Vec::new();
    for name in ["alice", "dave", "erin"] {
        senders.push(app.user(name).await);
    }
    let mut bob = app.user("bob").await;
    let carol = app.register("carol").await;
    // Carol says hello, then never reads her socket again.
    let mut slow = app.raw_ws(&carol).await;
    let hello = json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}).to_string();
    slow.write_text(&hello).await;
    slow.stream.flush().await.unwrap();
    wait_metrics(&app, |m| metric(m, "parley_connections") == Some(5)).await;

    // Three senders of 4,000-character messages, in rounds, each round read
    // by Bob, until Carol's connection is gone (at most 3,000 messages: ~12
    // MB, far beyond her outbox and any kernel buffer).
    let body = "x".repeat(4000);
    let mut seq = 0u64;
    let mut gone = false;
    'rounds: for round in 0..100 {
        for (s, sender) in senders.iter_mut().enumerate() {
            for i in 0..10 {
                sender
                    .say("lobby", &format!("r{round}s{s}m{i}"), &body)
                    .await;
            }
        }
        for sender in &mut senders {
            for _ in 0..10 {
                sender
                    .wait_for("an ack", |m| matches!(m, ServerMsg::Ack { .. }))
                    .await;
            }
        }
        for _ in 0..30 {
            seq += 1;
            assert_eq!(
                bob.recv_message().await.seq,
                seq,
                "Bob reads everything, in order"
            );
        }
        let metrics = app.http("GET", "/metrics", None, &[]).await.body;
        if metric(&metrics, "parley_slow_consumer_disconnects_total") == Some(1) {
            gone = true;
            break 'rounds;
        }
    }
    // The bound: gone at once when its write is blocked (the loop above sees
    // it after the round that overflowed the outbox), at most CLOSE_TIMEOUT
    // (5 s) otherwise.
    let stopped = Instant::now();
    let metrics = wait_metrics_within(&app, Duration::from_secs(5), |m| {
        metric(m, "parley_connections") == Some(4)
            && metric(m, "parley_slow_consumer_disconnects_total") == Some(1)
    })
    .await;
    assert!(gone, "{metrics}");
    // Carol's socket, never read, has been reset by the server.
    let ready = tokio::time::timeout(
        Duration::from_secs(5).saturating_sub(stopped.elapsed()),
        slow.stream.ready(Interest::ERROR),
    )
    .await
    .expect("no RST from the server in time")
    .unwrap();
    assert!(ready.is_error());
    let err = slow.stream.take_error().unwrap();
    assert_eq!(
        err.map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionReset)
    );

    // Whatever reached her before, then she resumes and gets exactly the rest.
    let mut last = 0;
    while let Some((opcode, payload)) = slow.try_read_frame().await {
        if opcode == 0x1
            && let Ok(ServerMsg::Message(m)) = serde_json::from_slice(&payload)
        {
            assert_eq!(m.seq, last + 1);
            last = m.seq;
        }
    }
    assert!(last < seq);
    let mut again = app.resume_ws(&carol, "lobby", last).await;
    let mut seqs = Vec::new();
    while seqs.last() != Some(&seq) {
        match again.recv().await {
            ServerMsg::Missed { messages, .. } => seqs.extend(messages.iter().map(|m| m.seq)),
            ServerMsg::TooFarBehind { .. } => {
                // More than the replay limit: she reloads the latest page.
                let (page, _) = again.history("lobby", None).await;
                assert_eq!(page.last().map(|m| m.seq), Some(seq));
                seqs = vec![seq];
            }
            other => panic!("expected missed, got {other:?}"),
        }
    }
    if seqs.len() > 1 {
        assert_eq!(seqs, ((last + 1)..=seq).collect::<Vec<_>>());
    }
    drop(senders);
    app.stop().await;
}

#[tokio::test]
async fn a_write_that_cannot_finish_ends_the_connection_at_its_deadline() {
    use tokio::io::{AsyncWriteExt, Interest};
    let app = spawn_app_with(|c| c.write_timeout_secs = 1).await;
    let mut alice = app.user("alice").await;
    // Pages of 50 messages of 4,000 four-byte characters: ~800 KB each.
    fill_a_page(&mut alice, &"😀".repeat(4000)).await;
    let carol = app.register("carol").await;
    let mut slow = app.raw_ws(&carol).await;
    let hello = json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}).to_string();
    slow.write_text(&hello).await;
    // Twenty pages (~16 MB) she never reads: far fewer frames than her outbox
    // holds, so nobody kicks her — only the write deadline can end it.
    let history = json!({"type": "history", "room": "lobby"}).to_string();
    for _ in 0..20 {
        slow.write_text(&history).await;
    }
    slow.stream.flush().await.unwrap();
    let ready = tokio::time::timeout(TIMEOUT, slow.stream.ready(Interest::ERROR))
        .await
        .expect("the blocked connection was never dropped")
        .unwrap();
    assert!(ready.is_error());
    let metrics = wait_metrics(&app, |m| metric(m, "parley_connections") == Some(1)).await;
    assert_eq!(
        metric(&metrics, "parley_slow_consumer_disconnects_total"),
        Some(0)
    );
    // Alice never noticed.
    alice.say_acked("lobby", "after", "still here").await;
    app.stop().await;
}

/// Another connection's transaction that keeps the store's writer waiting.
enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl WriteLock {
    async fn take(app: &TestApp) -> Self {
        match app.database() {
            Database::Sqlite(path) => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.execute_batch("BEGIN IMMEDIATE").unwrap();
                Self::Sqlite(db)
            }
            Database::Postgres(url) => {
                let db = pg_connect(url).await;
                db.batch_execute("BEGIN; SELECT 1 FROM rooms WHERE name = 'lobby' FOR UPDATE")
                    .await
                    .unwrap();
                Self::Postgres(db)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(db) => db.execute_batch("ROLLBACK").unwrap(),
            Self::Postgres(db) => db.batch_execute("ROLLBACK").await.unwrap(),
        }
    }
}

#[tokio::test]
async fn a_full_store_write_queue_slows_acks_instead_of_growing() {
    const QUEUE: u64 = 8;
    let app = spawn_app_with(|c| c.store_write_queue = QUEUE as usize).await;
    let mut alice = app.user("alice").await;
    let mut bob = app.user("bob").await;
    // Another connection holds the database's write lock (on PostgreSQL, the
    // lobby's row lock): the writer waits in its first batch, as on a stalled
    // disk.
    let db = WriteLock::take(&app).await;
    // 64 messages: as many as a connection may have in flight.
    for i in 1..=64 {
        alice.say("lobby", &format!("m{i}"), "queued").await;
    }
    // The queue fills to its bound and stays there.
    let metrics = wait_metrics(&app, |m| {
        metric(m, "parley_store_write_queue") == Some(QUEUE)
    })
    .await;
    assert_eq!(metric(&metrics, "parley_store_write_queue"), Some(QUEUE));
    for _ in 0..5 {
        let m = app.http("GET", "/metrics", None, &[]).await.body;
        assert!(metric(&m, "parley_store_write_queue") <= Some(QUEUE), "{m}");
    }
    db.release().await;
    // Then every message is stored, acked and delivered, in order.
    let mut acked = 0;
    while acked < 64 {
        match alice.recv().await {
            ServerMsg::Ack { seq, client_id, .. } => {
                acked += 1;
                assert_eq!(
                    (seq, client_id.as_str()),
                    (acked, format!("m{acked}").as_str())
                );
            }
            ServerMsg::Message(_) => {}
            other => panic!("expected an ack, got {other:?}"),
        }
    }
    for i in 1..=64 {
        assert_eq!(bob.recv_message().await.seq, i);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_full_read_queue_answers_server_busy_and_loses_nothing() {
    let app = spawn_app_with(|c| c.store_read_queue = 1).await;
    let mut alice = app.user("alice").await;
    // A room with a full history page of long messages: each read takes a while.
    let body = "x".repeat(4000);
    for i in 1..=parley_common::HISTORY_PAGE {
        alice.say("lobby", &format!("m{i}"), &body).await;
    }
    for _ in 1..=parley_common::HISTORY_PAGE {
        alice
            .wait_for("an ack", |m| matches!(m, ServerMsg::Ack { .. }))
            .await;
    }
    // Forty readers ask for it three times each, all at once.
    let mut readers: Vec<Client> = Vec::new();
    for i in 0..40 {
        readers.push(app.user(&format!("reader{i}")).await);
    }
    let asks = json!({"type": "history", "room": "lobby"});
    for reader in &mut readers {
        for _ in 0..3 {
            reader.send_json(asks.clone()).await;
        }
    }
    let (mut pages, mut busy) = (0, 0);
    for reader in &mut readers {
        for _ in 0..3 {
            match reader.recv().await {
                ServerMsg::History { messages, .. } => {
                    assert_eq!(messages.len(), parley_common::HISTORY_PAGE);
                    pages += 1;
                }
                ServerMsg::Error {
                    code: ErrorCode::ServerBusy,
                    ..
                } => busy += 1,
                other => panic!("expected history or server_busy, got {other:?}"),
            }
        }
    }
    assert_eq!(pages + busy, 120, "every request was answered");
    assert!(busy >= 1, "the queue of one never filled ({pages} pages)");
    let metrics = app.http("GET", "/metrics", None, &[]).await.body;
    assert!(metric(&metrics, "parley_store_reads_refused_total") >= Some(busy));
    // Asked again, calmly, it works.
    let (page, _) = readers[0].history("lobby", None).await;
    assert_eq!(page.len(), parley_common::HISTORY_PAGE);
    app.stop().await;
}

#[tokio::test]
async fn a_vote_burst_leaves_at_most_one_tally_per_poll_waiting() {
    let app = spawn_app_with(|_| {}).await;
    let mut creator = app.user("creator").await;
    let mut polls = Vec::new();
    for q in ["first?", "second?"] {
        creator
            .send_json(
                json!({"type": "create_poll", "room": "lobby", "question": q,
                              "options": ["yes", "no"]}),
            )
            .await;
        match creator
            .wait_for("the poll", |m| matches!(m, ServerMsg::Poll(_)))
            .await
        {
            ServerMsg::Poll(info) => polls.push(info.id),
            _ => unreachable!(),
        }
    }
    let mut voters = Vec::new();
    for i in 0..30 {
        voters.push(app.user(&format!("voter{i}")).await);
    }
    // Everyone votes on both polls, changing their mind five times.
    for round in 0..5u32 {
        for voter in &mut voters {
            for poll in &polls {
                voter
                    .send_json(json!({"type": "vote", "poll": poll, "option": round % 2}))
                    .await;
            }
        }
        let m = app.http("GET", "/metrics", None, &[]).await.body;
        assert!(metric(&m, "parley_tally_queue") <= Some(2), "{m}");
    }
    // The final tallies arrive: 30 voters, all on option 0 (round 4).
    for poll in &polls {
        creator
            .wait_for("the final tally", |m| {
                matches!(m, ServerMsg::Tally { poll: p, tally, .. }
                    if p == poll && tally.voters == 30 && tally.counts == [30, 0])
            })
            .await;
    }
    app.stop().await;
}

/// Fills the lobby with a history page of `body`s, each acked.
async fn fill_a_page(sender: &mut Client, body: &str) {
    for i in 1..=parley_common::HISTORY_PAGE {
        sender.say_acked("lobby", &format!("m{i}"), body).await;
    }
}

/// A counter's or gauge's value in a `/metrics` page.
fn metric(page: &str, name: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Fetches `/metrics` until `ready` holds (at most `TIMEOUT`).
async fn wait_metrics(app: &TestApp, ready: impl Fn(&str) -> bool) -> String {
    wait_metrics_within(app, TIMEOUT, ready).await
}

async fn wait_metrics_within(
    app: &TestApp,
    within: Duration,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let page = app.http("GET", "/metrics", None, &[]).await.body;
        if ready(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "not within {within:?}; the metrics are:\n{page}"
        );
        // Pacing the requests; the condition is checked on every page.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
