//! Liveness and size limits on the WebSocket.

use parley_common::close;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn an_over_size_message_closes_with_1009() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    let (mut alice, _) = app.connect(&token).await;
    alice.send_text("x".repeat(40 * 1024)).await;
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
    assert_eq!(frame.reason.as_str(), close::HELLO_TIMEOUT_REASON);
    // One that does is not.
    let (mut talker, _) = app.connect(&token).await;
    talker.say_acked("lobby", "t1", "here").await;
    app.stop().await;
}
