//! Issue #19: malformed floods pay the same rate budgets as valid frames, a
//! kicked slow consumer really loses its socket, and the store's queues are
//! bounded.

use std::time::{Duration, Instant};

use parley_common::{ErrorCode, ServerMsg, close};
use serde_json::json;

use crate::helpers::{TIMEOUT, TestApp, spawn_app_with};

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
        (close::POLICY, close::RATE_REASON),
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
        (close::POLICY, close::RATE_REASON)
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
