use parley_common::ServerMsg;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn two_users_chat_in_the_lobby() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;

    alice.say("lobby", "a-1", "hello Bob").await;
    for client in [&mut alice, &mut bob] {
        let m = client.recv_message().await;
        assert_eq!(m.seq, 1);
        assert_eq!(m.sender.as_str(), "Alice");
        assert_eq!(m.body.as_str(), "hello Bob");
        assert_eq!(m.client_id.as_str(), "a-1");
        assert!(m.ts > 0);
    }
    match alice.recv().await {
        ServerMsg::Ack {
            client_id,
            channel,
            seq,
        } => {
            assert_eq!(
                (client_id.as_str(), channel.to_string().as_str(), seq),
                ("a-1", "#lobby", 1)
            );
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    bob.say("lobby", "b-1", "hi Alice").await;
    let m = alice.recv_message().await;
    assert_eq!((m.seq, m.sender.as_str()), (2, "Bob"));
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn the_sender_is_the_session_user_whatever_the_payload_says() {
    let app = spawn_app().await;
    let mut mallory = app.user("Mallory").await;
    let mut bob = app.user("Bob").await;
    mallory
        .send_json(serde_json::json!({
            "type": "send", "room": "lobby", "client_id": "m-1",
            "body": "I am Alice", "sender": "Alice", "user": "Alice", "name": "Alice"
        }))
        .await;
    assert_eq!(bob.recv_message().await.sender.as_str(), "Mallory");
    let (history, _) = bob.history("lobby", None).await;
    assert_eq!(history[0].sender.as_str(), "Mallory");
    drop((mallory, bob));
    app.stop().await;
}

#[tokio::test]
async fn every_tab_of_a_user_gets_the_messages() {
    let app = spawn_app().await;
    let token = app.register("Alice").await;
    let (mut tab1, _) = app.connect(&token).await;
    let (mut tab2, _) = app.connect(&token).await;
    let mut bob = app.user("Bob").await;
    bob.say("lobby", "b-1", "hi both tabs").await;
    assert_eq!(tab1.recv_message().await.client_id.as_str(), "b-1");
    assert_eq!(tab2.recv_message().await.client_id.as_str(), "b-1");
    drop((tab1, tab2, bob));
    app.stop().await;
}

#[tokio::test]
async fn a_retried_send_is_stored_once_and_acked_with_the_same_seq() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    let first = alice.say_acked("lobby", "dup-1", "only once").await;
    let again = alice.say_acked("lobby", "dup-1", "only once").await;
    assert_eq!(first, again);
    // Bob saw it once: the next thing he gets is the message after it.
    assert_eq!(bob.recv_message().await.client_id.as_str(), "dup-1");
    let next = alice.say_acked("lobby", "dup-2", "next").await;
    assert_eq!(next, first + 1);
    assert_eq!(bob.recv_message().await.client_id.as_str(), "dup-2");
    let (history, _) = bob.history("lobby", None).await;
    assert_eq!(
        history
            .iter()
            .filter(|m| m.client_id.as_str() == "dup-1")
            .count(),
        1
    );
    drop((alice, bob));
    app.stop().await;
}

#[tokio::test]
async fn the_spa_is_served_with_a_fallback_to_index_html() {
    let app = spawn_app().await;
    let (status, body) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("Parley test SPA"));
    let (status, body) = app.get("/rooms/some/deep/link").await;
    assert_eq!(status, 200);
    assert!(body.contains("Parley test SPA"));
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    app.stop().await;
}

#[tokio::test]
async fn the_transport_lab_is_a_page_of_its_own_under_lab() {
    let app = spawn_app_with(|config| {
        let lab = config.static_dir.join("lab");
        std::fs::create_dir_all(&lab).unwrap();
        std::fs::write(
            lab.join("index.html"),
            "<!doctype html><title>Lab test page</title><script type=module>lab()</script>",
        )
        .unwrap();
        std::fs::write(
            config.static_dir.join("index.html"),
            "<!doctype html><title>Parley test SPA</title><script type=module>chat()</script>",
        )
        .unwrap();
    })
    .await;
    let page = app.http("GET", "/lab/", None, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Lab test page"), "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    // Both pages' inline loaders are allowed, and nothing else inline.
    let csp = page
        .header("content-security-policy")
        .expect("a CSP header");
    assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
    assert_eq!(
        app.http("GET", "/", None, &[])
            .await
            .header("content-security-policy"),
        Some(csp)
    );
    // Without the slash: sent to the page.
    let bare = app.http("GET", "/lab", None, &[]).await;
    assert!((300..400).contains(&bare.status), "{}", bare.status);
    assert_eq!(bare.header("location"), Some("/lab/"));
    // The chat's own routes still fall back to its index.html.
    let (status, body) = app.get("/rooms/lab").await;
    assert_eq!(status, 200);
    assert!(body.contains("Parley test SPA"));
    app.stop().await;
}

#[tokio::test]
async fn hashed_assets_are_cached_and_sent_precompressed() {
    let app = spawn_app().await;
    let asset = app.dir.0.join("app-0123456789abcdef.js");
    std::fs::write(&asset, "console.log('plain')").unwrap();
    std::fs::write(app.dir.0.join("app-0123456789abcdef.js.br"), "BROTLI BYTES").unwrap();

    let plain = app.http("GET", "/app-0123456789abcdef.js", None, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, "console.log('plain')");
    assert_eq!(
        plain.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let br = app
        .http(
            "GET",
            "/app-0123456789abcdef.js",
            None,
            &[("Accept-Encoding", "gzip, br")],
        )
        .await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.body, "BROTLI BYTES");

    let index = app.http("GET", "/", None, &[]).await;
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    app.stop().await;
}
