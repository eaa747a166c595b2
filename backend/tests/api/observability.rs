//! `/healthz`, `/metrics` and the security headers of the SPA.

use crate::helpers::spawn_app;

/// The value of the sample `name` in a Prometheus text page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
}

#[tokio::test]
async fn metrics_count_connections_messages_and_commits() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await, (200, "ok".to_owned()));
    let mut alice = app.user("alice").await;
    alice.say_acked("lobby", "m1", "hello").await;
    let r = app.http("GET", "/metrics", None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let page = &r.body;
    assert_eq!(sample(page, "parley_connections"), 1.0);
    assert!(
        sample(page, "parley_messages_in_total") >= 2.0,
        "hello and send"
    );
    assert!(
        sample(page, "parley_messages_out_total") >= 2.0,
        "welcome and ack"
    );
    assert_eq!(sample(page, "parley_slow_consumer_disconnects_total"), 0.0);
    assert!(sample(page, "parley_store_commit_seconds_count") >= 1.0);
    assert_eq!(
        sample(page, "parley_store_commit_seconds_bucket{le=\"+Inf\"}"),
        sample(page, "parley_store_commit_seconds_count")
    );
    // No message bodies, names or tokens in it.
    assert!(!page.contains("hello") && !page.contains("alice"));
    drop(alice);
    app.stop().await;
}

#[tokio::test]
async fn the_spa_is_served_with_a_content_security_policy() {
    let app = spawn_app().await;
    let r = app.http("GET", "/", None, &[]).await;
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").expect("a CSP header");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("'unsafe-eval'") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    app.stop().await;
}

#[tokio::test]
async fn the_policy_follows_the_pages_when_they_are_rebuilt() {
    let app = spawn_app().await;
    let index = app.dir.0.join("index.html");
    let page = |script: &str| format!("<!doctype html><script type=module>{script}</script>");
    std::fs::write(&index, page("boot_v1()")).unwrap();
    let before = app.http("GET", "/", None, &[]).await;
    let before = before.header("content-security-policy").unwrap().to_owned();
    assert_eq!(before.matches("'sha256-").count(), 1, "{before}");

    // `cargo xtask dist` while the server runs: a new loader, a new hash.
    std::fs::write(&index, page("boot_v2()")).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let after = app.http("GET", "/", None, &[]).await;
    assert_eq!(after.status, 200);
    assert!(after.body.contains("boot_v2()"));
    let after = after.header("content-security-policy").unwrap();
    assert_eq!(after.matches("'sha256-").count(), 1, "{after}");
    assert_ne!(after, before, "the new loader's hash, not the old one's");
    app.stop().await;
}
