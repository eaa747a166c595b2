//! Liveness and size limits on the WebSocket.

use parley_common::close;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn an_over_size_message_closes_with_1009() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    let (mut alice, _) = app.connect(&token).await;
    alice.send_text("x".repeat(65 * 1024)).await;
    let frame = alice.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), close::TOO_BIG);
    // The account is fine: a new connection works.
    let (mut again, _) = app.connect(&token).await;
    again.say_acked("lobby", "after", "still works").await;
    drop(again);
    app.stop().await;
}

async fn app_with_heartbeat(ping: u64, idle: u64) -> TestApp {
    crate::helpers::spawn_app_with(|config| {
        config.ping_interval_secs = ping;
        config.idle_timeout_secs = idle;
    })
    .await
}

#[tokio::test]
async fn the_server_pings_and_closes_a_silent_client() {
    let app = app_with_heartbeat(1, 3).await;
    let token = app.register("Alice").await;
    let mut dead = app.raw_ws(&token).await;
    // A ping arrives (opcode 9)...
    let (opcode, _) = dead.read_frame().await;
    assert_eq!(opcode, 0x9);
    // ...and, since this client never answers, the close follows.
    assert_eq!(dead.read_close_code().await, close::IDLE);
    drop(dead);
    app.stop().await;
}

#[tokio::test]
async fn a_client_answering_pings_stays_connected() {
    let app = app_with_heartbeat(1, 2).await;
    let token = app.register("Alice").await;
    let (mut alive, _) = app.connect(&token).await;
    // Four pings span two idle timeouts; the client's automatic pongs keep it
    // alive through them.
    alive.expect_pings(4).await;
    alive.say_acked("lobby", "still-here", "still here").await;
    drop(alive);
    app.stop().await;
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(|config| config.header_timeout_secs = 1).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let started = std::time::Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Meanwhile others are served.
    assert_eq!(app.get("/healthz").await, (200, "ok".to_owned()));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(crate::helpers::TIMEOUT, slow.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the server kept a header-less connection open"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(900),
        "cut off after {elapsed:?}, before the deadline"
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to a request that never finished"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_flood_is_refused_with_typed_errors_then_closed_with_1008() {
    use parley_common::{ErrorCode, ServerMsg};
    let app = crate::helpers::spawn_app_with(|config| {
        config.message_rate = 1.0;
        config.message_burst = 5;
    })
    .await;
    let token = app.register("Alice").await;
    let (mut alice, _) = app.connect(&token).await;
    for i in 0..40 {
        alice.say("lobby", &format!("f{i}"), "spam").await;
    }
    let (mut acked, mut refused) = (0, 0);
    let frame = loop {
        match tokio::time::timeout(crate::helpers::TIMEOUT, alice.next_frame()).await {
            Ok(Some(Ok(ServerMsg::Ack { .. }))) => acked += 1,
            Ok(Some(Ok(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                client_id,
                ..
            }))) => {
                assert!(client_id.is_some(), "the refused message is named");
                refused += 1;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(close))) => break close,
            Ok(None) => panic!("ended without a close frame"),
            Err(_) => panic!("no close in time"),
        }
    };
    // Some answers may be cut off by the close; the store tells what was taken.
    assert!(
        acked <= 4 && (1..=20).contains(&refused),
        "{acked} acked, {refused} refused"
    );
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(close::POLICY));
    // `hello` took one token of the burst of 5: four messages were stored.
    let mut bob = app.user("Bob").await;
    let (page, _) = bob.history("lobby", None).await;
    assert_eq!(page.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn connections_are_capped_per_user_and_in_total() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.max_connections = 3;
        config.max_connections_per_user = 2;
    })
    .await;
    let alice = app.register("Alice").await;
    let bob = app.register("Bob").await;
    let a1 = app.try_ws(Some(&alice), None).await.unwrap();
    let _a2 = app.try_ws(Some(&alice), None).await.unwrap();
    assert_eq!(app.try_ws(Some(&alice), None).await.err(), Some(429));
    let r = app
        .try_lp(&alice, serde_json::json!([]))
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (429, "too_many_connections")
    );
    let _b1 = app.try_ws(Some(&bob), None).await.unwrap();
    assert_eq!(app.try_ws(Some(&bob), None).await.err(), Some(503));
    // A closed connection frees its slot (once the server has seen it go).
    a1.close().await;
    let mut again = None;
    for _ in 0..100 {
        if let Ok(client) = app.try_ws(Some(&bob), None).await {
            again = Some(client);
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(again.is_some(), "the slot was freed");
    app.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_closed() {
    let app = crate::helpers::spawn_app_with(|config| config.hello_timeout_secs = 1).await;
    let token = app.register("Alice").await;
    let mut quiet = app.try_ws(Some(&token), None).await.unwrap();
    let frame = quiet.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), close::POLICY);
    assert_eq!(
        frame.reason.as_str(),
        close::CloseReason::HELLO_TIMEOUT.reason
    );
    // One that does is not.
    let (mut talker, _) = app.connect(&token).await;
    talker.say_acked("lobby", "t1", "here").await;
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_alone_and_resumes_without_loss() {
    use parley_common::{ChatMessage, ServerMsg};
    use serde_json::json;
    use tokio::io::AsyncWriteExt;

    // Small kernel buffers, so the outbox is what fills up.
    let app = crate::helpers::spawn_app_with(|c| c.send_buffer_bytes = Some(16 * 1024)).await;
    let alice_token = app.register("alice").await;
    let (alice, _) = app.connect(&alice_token).await;
    let mut bob = app.user("bob").await;
    let carol = app.register("carol").await;
    // Carol's socket takes little and she never reads it.
    let mut slow = app.raw_ws_small(&carol).await;
    let hello = json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}).to_string();
    slow.write_text(&hello).await;
    slow.stream.flush().await.unwrap();

    // 450 messages of 4,000 characters: far more than her outbox (256 frames)
    // and the kernel's buffers hold.
    const N: u64 = 450;
    let body = "x".repeat(4000);
    let sending = tokio::spawn(async move {
        let mut alice = alice;
        // In chunks, reading her acks, so she is not a slow reader herself.
        for chunk in (1..=N).collect::<Vec<_>>().chunks(50) {
            for i in chunk {
                alice.say("lobby", &format!("m{i}"), &body).await;
            }
            let mut acked = 0;
            while acked < chunk.len() {
                if let ServerMsg::Ack { .. } = alice.recv().await {
                    acked += 1;
                }
            }
        }
        alice
    });
    // Bob, reading, gets every one, in order, each within the usual timeout:
    // nobody waits for Carol.
    for i in 1..=N {
        let m = bob.recv_message().await;
        assert_eq!(m.seq, i);
    }
    let alice = sending.await.unwrap();
    let metrics = app.http("GET", "/metrics", None, &[]).await.body;
    // Carol, and only Carol, was cut off.
    assert!(
        metrics.contains("parley_slow_consumer_disconnects_total 1\n"),
        "{metrics}"
    );

    // What reached Carol before the cut, then the end of the connection.
    let mut seen: Vec<ChatMessage> = Vec::new();
    let mut close = None;
    while let Some((opcode, payload)) = slow.try_read_frame().await {
        match opcode {
            0x1 => {
                if let Ok(ServerMsg::Message(m)) = serde_json::from_slice(&payload) {
                    seen.push(m);
                }
            }
            0x8 => close = Some(u16::from_be_bytes([payload[0], payload[1]])),
            _ => {}
        }
    }
    assert!((seen.len() as u64) < N, "she was cut off before the end");
    if let Some(code) = close {
        assert_eq!(code, close::SLOW_CONSUMER);
    }
    // She resumes from the last one she has and gets exactly the rest.
    let last = seen.last().map_or(0, |m| m.seq);
    let mut again = app.resume_ws(&carol, "lobby", last).await;
    // Long messages come in several `missed` frames.
    let mut seqs = Vec::new();
    while seqs.last() != Some(&N) {
        match again.recv().await {
            ServerMsg::Missed { messages, .. } => seqs.extend(messages.iter().map(|m| m.seq)),
            other => panic!("expected missed, got {other:?}"),
        }
    }
    assert_eq!(seqs, ((last + 1)..=N).collect::<Vec<_>>());
    drop(alice);
    app.stop().await;
}

#[tokio::test]
async fn the_largest_history_page_and_replay_get_through() {
    use parley_common::ServerMsg;
    let app = spawn_app().await;
    let mut alice = app.user("alice").await;
    let bob = app.register("bob").await;
    // 60 messages of 4,000 four-byte characters: 16 KB each.
    let body = "😀".repeat(4000);
    for i in 1..=60 {
        alice.say_acked("lobby", &format!("m{i}"), &body).await;
    }
    let (mut reader, _) = app.connect(&bob).await;
    let (page, has_more) = reader.history("lobby", None).await;
    assert_eq!(page.len(), parley_common::HISTORY_PAGE);
    assert!(has_more);
    assert!(page.iter().all(|m| m.body.as_str() == body));
    let mut again = app.resume_ws(&bob, "lobby", 0).await;
    let mut seqs = Vec::new();
    while seqs.last() != Some(&60) {
        match again.recv().await {
            ServerMsg::Missed { messages, .. } => seqs.extend(messages.iter().map(|m| m.seq)),
            other => panic!("expected missed, got {other:?}"),
        }
    }
    assert_eq!(seqs, (1..=60).collect::<Vec<u64>>());
    app.stop().await;
}
