//! Delivery guarantees: connections cut mid-stream (no close frame) and server
//! restarts, then resume — over WebSocket and long-polling — with zero gaps and
//! zero duplicates.

use std::collections::HashSet;
use std::time::Duration;

use parley_common::{ChatMessage, ErrorCode, ServerMsg, close};
use serde_json::json;

use crate::helpers::*;

/// Messages the sender writes to the lobby in these tests.
const N: u64 = 240;

/// Alice sends `from..=to` to the lobby as `m{i}`, paced so receivers are
/// mid-stream when they are cut, and waits until every one is acked.
fn send_stream(mut alice: Client, from: u64, to: u64) -> tokio::task::JoinHandle<Client> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        for i in from..=to {
            tick.tick().await;
            alice
                .say("lobby", &format!("m{i}"), &format!("message {i}"))
                .await;
        }
        let mut acked = HashSet::new();
        while acked.len() < usize::try_from(to - from + 1).unwrap() {
            if let ServerMsg::Ack { client_id, .. } = alice.recv().await {
                acked.insert(client_id);
            }
        }
        alice
    })
}

/// Checks that `messages` continue `seen` exactly: the next seq each time.
fn extend_in_order(seen: &mut Vec<ChatMessage>, messages: Vec<ChatMessage>) {
    for m in messages {
        let expected = seen.last().map_or(1, |l| l.seq + 1);
        assert_eq!(
            m.seq,
            expected,
            "gap or duplicate: got seq {} after {:?}",
            m.seq,
            seen.last().map(|l| l.seq)
        );
        assert_eq!(m.client_id.as_str(), format!("m{}", m.seq));
        seen.push(m);
    }
}

fn resume_lobby(seen: &[ChatMessage]) -> serde_json::Value {
    json!([{"room": "lobby", "seq": seen.last().map_or(0, |m| m.seq)}])
}

async fn hello_resume(app: &TestApp, token: &str, seen: &[ChatMessage]) -> Client {
    let mut client = app
        .try_ws(Some(token), None)
        .await
        .expect("upgrade refused");
    client
        .send_json(
            json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION,
                          "resume": resume_lobby(seen)}),
        )
        .await;
    match client.recv().await {
        ServerMsg::Welcome { .. } => client,
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// The chat messages in one event, if it carries any.
fn chat_messages(msg: ServerMsg) -> Option<Vec<ChatMessage>> {
    match msg {
        ServerMsg::Message(m) => Some(vec![m]),
        ServerMsg::Missed { messages, .. } => Some(messages),
        ServerMsg::TooFarBehind { .. } => panic!("unexpectedly too far behind"),
        _ => None,
    }
}

/// Receives the whole stream over WebSocket, dropping the TCP connection
/// (no close frame) whenever the last seq seen is in `cuts`, and resuming.
async fn receive_ws_with_cuts(app: &TestApp, token: &str, cuts: &[u64]) -> Vec<ChatMessage> {
    let mut seen = Vec::new();
    let mut client = hello_resume(app, token, &seen).await;
    let mut cut = 0;
    // Every cut happens, however many messages one frame carries (a loaded
    // machine sends bigger `missed` batches): several cuts in a row, or after
    // the last message, are fine.
    loop {
        let last = seen.last().map_or(0, |m| m.seq);
        if cut < cuts.len() && last >= cuts[cut] {
            cut += 1;
            drop(client);
            client = hello_resume(app, token, &seen).await;
            continue;
        }
        if last >= N {
            break;
        }
        if let Some(messages) = chat_messages(client.recv().await) {
            extend_in_order(&mut seen, messages);
        }
    }
    assert_eq!(cut, cuts.len(), "every cut happened");
    seen
}

/// The same over long-polling: at the first cut the answer of a GET is lost
/// (asked again with the same cursor, it comes again); at the others the whole
/// long-poll connection is abandoned and a new one resumes.
async fn receive_lp_with_cuts(app: &TestApp, token: &str, cuts: &[u64]) -> Vec<ChatMessage> {
    let mut seen = Vec::new();
    let mut lp = app.lp(token, resume_lobby(&seen)).await;
    let mut cut = 0;
    // As over the WebSocket: every cut happens, even when one batch jumps
    // past several, or past the end.
    loop {
        let last = seen.last().map_or(0, |m| m.seq);
        if last >= N && cut == cuts.len() {
            break;
        }
        if cut < cuts.len() && last >= cuts[cut] {
            if cut == 0 {
                // Lose an answer: it is taken from the outbox, then "lost".
                let lost = lp.get_raw(lp.since, 1).await;
                assert_eq!(lost.status, 200);
                let again = lp.get_raw(lp.since, 1).await;
                assert_eq!(
                    again.body, lost.body,
                    "a repeated cursor gets the same batch"
                );
            } else {
                lp = app.lp(token, resume_lobby(&seen)).await;
            }
            cut += 1;
            continue;
        }
        let batch = lp.get(5).await;
        assert_eq!(batch.close, None);
        for event in batch.events {
            if let Some(messages) = chat_messages(event) {
                extend_in_order(&mut seen, messages);
            }
        }
    }
    assert_eq!(cut, cuts.len(), "every cut happened");
    seen
}

#[tokio::test]
async fn cut_connections_resume_with_no_gap_and_no_duplicate_over_both_transports() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;

    let sender = send_stream(alice, 1, N);
    let (ws, lp) = tokio::join!(
        receive_ws_with_cuts(&app, &bob, &[20, 90, 170]),
        receive_lp_with_cuts(&app, &carol, &[30, 110, 200]),
    );
    sender.await.unwrap();

    let ids = |seen: &[ChatMessage]| -> Vec<(u64, String)> {
        seen.iter()
            .map(|m| (m.seq, m.client_id.as_str().to_owned()))
            .collect()
    };
    assert_eq!(ws.len() as u64, N);
    assert_eq!(ids(&ws), ids(&lp), "both transports see the same sequence");
    app.stop().await;
}

#[tokio::test]
async fn a_restart_mid_stream_loses_nothing_and_duplicates_nothing() {
    let app = spawn_app().await;
    let alice_token = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut alice, _) = app.connect(&alice_token).await;

    // Bob reads part of the stream, then the server restarts under everyone.
    let mut seen = Vec::new();
    let mut bob_ws = hello_resume(&app, &bob, &seen).await;
    for i in 1..=60 {
        alice
            .say("lobby", &format!("m{i}"), &format!("message {i}"))
            .await;
    }
    while seen.last().map_or(0, |m: &ChatMessage| m.seq) < 25 {
        if let Some(messages) = chat_messages(bob_ws.recv().await) {
            extend_in_order(&mut seen, messages);
        }
    }
    let app = app.restart().await;
    drop(bob_ws);
    drop(alice);

    // Alice retries everything she has no ack for (all of it, to be sure) with
    // the same ids, then goes on; Bob resumes from what he saw.
    let (alice, _) = app.connect(&alice_token).await;
    let sender = send_stream(alice, 1, N);
    let mut bob_ws = hello_resume(&app, &bob, &seen).await;
    while seen.last().map_or(0, |m| m.seq) < N {
        if let Some(messages) = chat_messages(bob_ws.recv().await) {
            extend_in_order(&mut seen, messages);
        }
    }
    sender.await.unwrap();
    assert_eq!(seen.len() as u64, N);
    // Nothing beyond N was stored: the retries were recognised.
    let mut carol = app.user("carol").await;
    let (page, _) = carol.history("lobby", None).await;
    assert_eq!(page.last().map(|m| m.seq), Some(N));

    // A long-poll connection does not survive a restart: it is unknown after it,
    // and a new one resumes.
    let mut lp = app.lp(&bob, resume_lobby(&seen)).await;
    let batch = lp.get(0).await;
    assert!(
        batch
            .events
            .iter()
            .all(|e| chat_messages(e.clone()).is_none())
    );
    let app = app.restart().await;
    // (The new server listens on a new port.)
    lp.addr = app.addr;
    let r = lp.get_raw(lp.since, 0).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "unknown_connection");
    let mut lp = app.lp(&bob, json!([{"room": "lobby", "seq": N - 3}])).await;
    let mut replayed = Vec::new();
    while replayed.is_empty() {
        for event in lp.get(5).await.events {
            if let ServerMsg::Missed { messages, .. } = event {
                replayed = messages.iter().map(|m| m.seq).collect();
            }
        }
    }
    assert_eq!(replayed, vec![N - 2, N - 1, N]);
    app.stop().await;
}

#[tokio::test]
async fn too_far_behind_or_ahead_is_said_and_nothing_is_replayed() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let bob = app.register("bob").await;
    let total = parley_common::RESUME_LIMIT + 20;
    for i in 1..=total {
        alice.say("lobby", &format!("m{i}"), "x").await;
    }
    let mut acks = 0;
    while acks < total {
        if let ServerMsg::Ack { .. } = alice.recv().await {
            acks += 1;
        }
    }
    for (from, why) in [(0, "behind"), (total + 5, "ahead")] {
        let mut client = app.try_ws(Some(&bob), None).await.unwrap();
        client
            .send_json(
                json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION,
                              "resume": [{"room": "lobby", "seq": from}]}),
            )
            .await;
        assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
        match client.recv().await {
            ServerMsg::TooFarBehind { channel, last_seq } => {
                assert_eq!(channel.to_string(), "#lobby", "{why}");
                assert_eq!(last_seq, total, "{why}");
            }
            other => panic!("{why}: expected too_far_behind, got {other:?}"),
        }
    }
    // Exactly the limit is still replayed.
    let mut client = app.try_ws(Some(&bob), None).await.unwrap();
    client
        .send_json(json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION,
                          "resume": [{"room": "lobby", "seq": total - parley_common::RESUME_LIMIT}]}))
        .await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
    match client.recv().await {
        ServerMsg::Missed { messages, .. } => {
            assert_eq!(messages.len() as u64, parley_common::RESUME_LIMIT);
            assert_eq!(messages.last().map(|m| m.seq), Some(total));
        }
        other => panic!("expected missed, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn private_messages_resume_too_and_unknown_channels_are_skipped() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let bob = app.register("bob").await;
    for i in 1..=5 {
        alice
            .send_json(
                json!({"type": "send", "dm": "bob", "client_id": format!("d{i}"),
                              "body": format!("psst {i}")}),
            )
            .await;
    }
    let mut acks = 0;
    while acks < 5 {
        if let ServerMsg::Ack { .. } = alice.recv().await {
            acks += 1;
        }
    }
    let mut client = app.try_ws(Some(&bob), None).await.unwrap();
    client
        .send_json(
            json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION,
                          "resume": [{"dm": "ALICE", "seq": 2}, {"room": "nowhere", "seq": 1},
                                     {"dm": "nobody", "seq": 1}, {"room": "lobby", "seq": 0}]}),
        )
        .await;
    assert!(matches!(client.recv().await, ServerMsg::Welcome { .. }));
    match client.recv().await {
        ServerMsg::Missed { channel, messages } => {
            // Named as Alice spells her name, from Bob's side.
            assert_eq!(channel.to_string(), "@alice");
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, vec![3, 4, 5]);
            assert!(messages.iter().all(|m| m.sender.as_str() == "alice"));
        }
        other => panic!("expected missed, got {other:?}"),
    }
    // The lobby had nothing new, the unknown channels are skipped: live
    // delivery follows.
    alice
        .send_json(json!({"type": "send", "dm": "bob", "client_id": "d6", "body": "live"}))
        .await;
    let m = client.recv_message().await;
    assert_eq!(m.seq, 6);
    app.stop().await;
}

#[tokio::test]
async fn ping_is_answered_with_pong_even_before_hello() {
    let app = spawn_app().await;
    let token = app.register("alice").await;
    let mut client = app.try_ws(Some(&token), None).await.unwrap();
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.recv().await, ServerMsg::Pong);
    let mut lp = app.lp(&token, json!([])).await;
    assert_eq!(lp.post(json!([{"type": "ping"}])).await, 204);
    let batch = lp.get(5).await;
    assert!(batch.events.contains(&ServerMsg::Pong), "{batch:?}");
    app.stop().await;
}

/// A GET that waits up to `wait` s in a task (retrying while it collides with
/// [`until_waiting`]'s probes).
fn wait_in_background(lp: &Lp, wait: u64) -> tokio::task::JoinHandle<HttpResponse> {
    let (since, sid, addr) = (lp.since, lp.sid.clone(), lp.addr);
    let cookie = format!("parley_session={}", lp.token);
    tokio::spawn(async move {
        loop {
            let r = http_to(
                addr,
                "GET",
                &format!("/api/lp/{sid}?since={since}&wait={wait}"),
                None,
                &[("Cookie", &cookie)],
            )
            .await;
            if r.status != 409 {
                return r;
            }
        }
    })
}

/// Probes with answer-at-once GETs until one is refused because another GET
/// is waiting; returns that refusal.
async fn until_waiting(lp: &Lp) -> HttpResponse {
    loop {
        let r = lp.get_raw(lp.since, 0).await;
        if r.status == 409 {
            return r;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["events"], json!([]));
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn long_polling_carries_the_same_session_as_a_websocket() {
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let bob = app.register("bob").await;
    let mut lp = app.lp(&bob, json!([])).await;
    let batch = lp.get(5).await;
    assert!(
        matches!(batch.events.first(), Some(ServerMsg::Welcome { .. })),
        "{batch:?}"
    );

    // Bob sends over long-poll: acked (with a seq), delivered to Alice.
    let status = lp
        .post(
            json!([{"type": "send", "room": "lobby", "client_id": "b1", "body": "hi"},
                     {"type": "nonsense"}]),
        )
        .await;
    assert_eq!(status, 204);
    let mut events = Vec::new();
    // The error is immediate, the ack comes after the commit.
    while !(events.iter().any(|e| matches!(e, ServerMsg::Error { .. }))
        && events.iter().any(|e| matches!(e, ServerMsg::Ack { .. })))
    {
        events.extend(lp.get(5).await.events);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerMsg::Ack { seq: 1, .. })),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ServerMsg::Error {
            code: ErrorCode::UnknownType,
            ..
        }
    )));
    assert_eq!(alice.recv_message().await.body.as_str(), "hi");

    // Alice's message reaches Bob's long-poll while a GET waits.
    let waiting = wait_in_background(&lp, 20);
    let second = until_waiting(&lp).await;
    assert_eq!(second.error_code(), "request_pending");
    alice.say_acked("lobby", "a1", "to bob").await;
    let r = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("to bob"), "{}", r.body);
    app.stop().await;
}

#[tokio::test]
async fn long_polling_checks_origin_session_owner_body_and_type() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let hello = json!([{"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}]).to_string();

    // No session; a foreign origin.
    let r = app.http("POST", "/api/lp", Some(&hello), &[]).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let cookie = format!("parley_session={alice}");
    let r = app
        .http(
            "POST",
            "/api/lp",
            Some(&hello),
            &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "forbidden_origin")
    );

    let lp = app.lp(&alice, json!([])).await;
    let path = format!("/api/lp/{}", lp.sid);
    // Not JSON by type, not an array, too big.
    let r = lp
        .request("POST", &path, Some("[]"), &[("Content-Type", "text/plain")])
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let r = lp
        .request("POST", &path, Some("{\"type\":\"ping\"}"), &[])
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_message"));
    let r = lp.request("POST", &path, Some("[{"), &[]).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_json"));
    let big = format!("[\"{}\"]", "x".repeat(70 * 1024));
    let r = lp.request("POST", &path, Some(&big), &[]).await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "too_large"));
    let r = lp
        .request(
            "GET",
            &format!("{path}?since=0&wait=0"),
            None,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);

    // Bob cannot read or write Alice's connection.
    let bobs = Lp {
        addr: app.addr,
        token: bob.clone(),
        sid: lp.sid.clone(),
        since: 0,
    };
    let r = bobs.get_raw(0, 0).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "unknown_connection")
    );
    assert_eq!(bobs.post(json!([{"type": "ping"}])).await, 404);

    // A cursor from the future is refused; closing ends it.
    let r = lp.get_raw(7, 0).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "unknown_connection")
    );
    let r = lp.request("DELETE", &path, None, &[]).await;
    assert_eq!(r.status, 204);
    let r = lp.get_raw(0, 0).await;
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_ends_a_waiting_long_poll_with_going_away() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let mut lp = app.lp(&bob, json!([])).await;
    lp.get(5).await;
    let waiting = wait_in_background(&lp, 25);
    until_waiting(&lp).await;
    let started = std::time::Instant::now();
    app.stop().await;
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["close"]["code"], json!(close::GOING_AWAY));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drained in time"
    );
}
