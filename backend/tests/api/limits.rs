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
