//! Register, log in, log out, sessions, and who may open a WebSocket.

use parley_common::{ServerMsg, close};

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn register_sets_an_http_only_session_cookie_and_me_answers() {
    let app = spawn_app().await;
    let r = app
        .post_credentials("/api/register", "Alice", PASSWORD)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["name"], "Alice");
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let token = r.session().unwrap();

    let me = app
        .http(
            "GET",
            "/api/me",
            None,
            &[("Cookie", &format!("parley_session={token}"))],
        )
        .await;
    assert_eq!(
        (me.status, me.json()["name"].as_str()),
        (200, Some("Alice"))
    );
    let anonymous = app.http("GET", "/api/me", None, &[]).await;
    assert_eq!(
        (anonymous.status, anonymous.error_code().as_str()),
        (401, "unauthorized")
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_registrations_get_typed_errors_and_store_nothing() {
    let app = spawn_app().await;
    app.register("Alice").await;
    let cases = [
        ("alice", PASSWORD, 409, "name_taken"),
        ("ALICE", PASSWORD, 409, "name_taken"),
        ("Bob", "short", 400, "weak_password"),
        ("Bob", "password123", 400, "weak_password"),
        ("Bob", "bob-is-great", 400, "weak_password"),
        ("Bob", &"x".repeat(129), 400, "password_too_long"),
        ("B", PASSWORD, 400, "invalid_name"),
        ("Bob Smith", PASSWORD, 400, "invalid_name"),
        ("<script>", PASSWORD, 400, "invalid_name"),
    ];
    for (name, password, status, code) in cases {
        let r = app.post_credentials("/api/register", name, password).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{name}/{password}"
        );
        assert!(r.session().is_none());
    }
    let r = app
        .http("POST", "/api/register", Some("not json"), &[])
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_json"));
    let r = app
        .http("POST", "/api/register", Some("{\"name\": 1}"), &[])
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "bad_message"));
    // None of the rejected names exists: they can still be registered.
    app.register("Bob").await;
    app.stop().await;
}

#[tokio::test]
async fn login_checks_the_password_and_does_not_tell_unknown_users_apart() {
    let app = spawn_app().await;
    app.register("Alice").await;
    let token = app.login("alice").await;
    assert_eq!(token.len(), 64);

    let wrong = app
        .post_credentials("/api/login", "Alice", "not the password")
        .await;
    let unknown = app.post_credentials("/api/login", "Nobody", PASSWORD).await;
    for r in [&wrong, &unknown] {
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "invalid_credentials")
        );
        assert!(r.session().is_none());
    }
    assert_eq!(wrong.json()["message"], unknown.json()["message"]);
    app.stop().await;
}

#[tokio::test]
async fn hammered_logins_are_rate_limited() {
    let app = spawn_app().await;
    app.register("Alice").await;
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(
            app.post_credentials("/api/login", "Alice", "guess guess")
                .await,
        );
    }
    let limited = statuses.iter().filter(|r| r.status == 429).count();
    assert!(limited >= 4, "only {limited} of 15 attempts were limited");
    let last = statuses.last().unwrap();
    assert_eq!(last.error_code(), "rate_limited");
    assert!(last.header("retry-after").is_some());
    // Even the right password is refused while the bucket is empty.
    let r = app.post_credentials("/api/login", "Alice", PASSWORD).await;
    assert_eq!(r.status, 429);
    app.stop().await;
}

#[tokio::test]
async fn the_websocket_needs_a_valid_session_and_our_origin() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    assert_eq!(app.try_ws(None, None).await.err(), Some(401));
    let forged = "ab".repeat(32);
    assert_eq!(app.try_ws(Some(&forged), None).await.err(), Some(401));
    assert_eq!(app.try_ws(Some("garbage"), None).await.err(), Some(401));
    assert_eq!(
        app.try_ws(Some(&token), Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    let own = format!("http://{}", app.addr);
    let mut ok = app.try_ws(Some(&token), Some(&own)).await.ok().unwrap();
    ok.hello().await;
    // A foreign origin cannot use the account endpoints either.
    let r = app
        .http(
            "POST",
            "/api/login",
            Some(r#"{"name":"Alice","password":"x"}"#),
            &[("Origin", "https://evil.example")],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "forbidden_origin")
    );
    drop(ok);
    app.stop().await;
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets_and_ends_the_session() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    let other = app.login("Alice").await;
    let (mut tab, _) = app.connect(&token).await;
    let (mut other_device, _) = app.connect(&other).await;

    let r = app
        .http(
            "POST",
            "/api/logout",
            None,
            &[("Cookie", &format!("parley_session={token}"))],
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let frame = tab.recv_close().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), close::LOGGED_OUT);

    assert_eq!(app.try_ws(Some(&token), None).await.err(), Some(401));
    // The other session is untouched.
    other_device.say("lobby", "o-1", "still here").await;
    assert!(matches!(other_device.recv().await, ServerMsg::Message(_)));
    drop(other_device);
    app.stop().await;
}
