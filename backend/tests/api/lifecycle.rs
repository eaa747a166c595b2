use futures_util::{SinkExt, StreamExt};
use parley_common::{ServerMsg, close};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{PASSWORD, TIMEOUT, TempDir, http_to, spawn_app, start_binary, ws_hello};

#[tokio::test]
async fn shutdown_delivers_queued_messages_then_closes_with_going_away() {
    let app = spawn_app().await;
    let mut alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    // The ack comes after the broadcast was queued for everyone.
    alice.say_acked("lobby", "a-1", "last words").await;

    let stopping = tokio::spawn(app.stop());
    assert_eq!(bob.recv_message().await.body.as_str(), "last words");
    for client in [&mut alice, &mut bob] {
        let frame = client.recv_close().await.expect("a close frame");
        assert_eq!(u16::from(frame.code), close::GOING_AWAY);
        assert_eq!(frame.reason.as_str(), close::CloseReason::GOING_AWAY.reason);
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_client_closing_leaves_the_others_undisturbed() {
    let app = spawn_app().await;
    let alice = app.user("Alice").await;
    let mut bob = app.user("Bob").await;
    alice.close().await;
    bob.say("lobby", "b-1", "anyone?").await;
    assert!(matches!(bob.recv().await, ServerMsg::Message(_)));
    assert!(matches!(bob.recv().await, ServerMsg::Ack { .. }));
    drop(bob);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_closes_sockets_with_going_away_flushes_and_exits_in_time() {
    let dir = TempDir::new();
    let (mut server, addr) = start_binary(&dir.0).await;
    let body = json!({"name": "alice", "password": PASSWORD}).to_string();
    let r = http_to(addr, "POST", "/api/register", Some(&body), &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.session().unwrap();
    let mut ws = ws_hello(addr, &token).await.unwrap();
    let send = json!({"type": "send", "room": "lobby", "client_id": "a1", "body": "before"});
    ws.send(Message::text(send.to_string())).await.unwrap();
    // Wait for the ack: the message is stored.
    let acked = tokio::time::timeout(TIMEOUT, async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(text) = frame
                && text.contains("\"ack\"")
            {
                return;
            }
        }
        panic!("no ack");
    });
    acked.await.unwrap();

    let started = std::time::Instant::now();
    let pid = server.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let code = tokio::time::timeout(TIMEOUT, async {
        while let Some(frame) = ws.next().await {
            if let Ok(Message::Close(Some(frame))) = frame {
                return u16::from(frame.code);
            }
        }
        0
    })
    .await
    .expect("no close frame in time");
    assert_eq!(code, close::GOING_AWAY);
    let status = tokio::time::timeout(
        parley_backend::DRAIN_TIMEOUT + std::time::Duration::from_secs(5),
        server.wait(),
    )
    .await
    .expect("the server did not exit in time")
    .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < parley_backend::DRAIN_TIMEOUT);

    // Started again on the same file, the acknowledged message is there.
    let (_server, addr) = start_binary(&dir.0).await;
    let r = http_to(addr, "POST", "/api/login", Some(&body), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ws = ws_hello(addr, &r.session().unwrap()).await.unwrap();
    let history = json!({"type": "history", "room": "lobby"});
    ws.send(Message::text(history.to_string())).await.unwrap();
    let page = tokio::time::timeout(TIMEOUT, async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(text) = frame
                && let Ok(ServerMsg::History { messages, .. }) = serde_json::from_str(&text)
            {
                return messages;
            }
        }
        panic!("no history");
    })
    .await
    .unwrap();
    let bodies: Vec<&str> = page.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["before"]);
}

#[tokio::test]
async fn logs_hold_no_message_bodies_passwords_or_tokens() {
    let dir = TempDir::new();
    let (mut server, addr, log) = crate::helpers::start_binary_logging(&dir.0, "debug").await;
    let password = "zebra-secret-7731 horse";
    let body = json!({"name": "alice", "password": password}).to_string();
    let r = http_to(addr, "POST", "/api/register", Some(&body), &[]).await;
    assert_eq!(r.status, 201);
    let wrong = json!({"name": "alice", "password": "wrong-guess-5521 x"}).to_string();
    let r = http_to(addr, "POST", "/api/login", Some(&wrong), &[]).await;
    assert_eq!(r.status, 401);
    let r = http_to(addr, "POST", "/api/login", Some(&body), &[]).await;
    let token = r.session().unwrap();
    let mut ws = ws_hello(addr, &token).await.unwrap();
    let secret_body = "the-launch-code-is-0000";
    for frame in [
        json!({"type": "send", "room": "lobby", "client_id": "s1", "body": secret_body}),
        json!({"type": "send", "room": "no-such-room", "client_id": "s2", "body": secret_body}),
        json!({"type": "nonsense", "body": secret_body}),
    ] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    let mut errors = 0;
    tokio::time::timeout(TIMEOUT, async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(text) = frame
                && text.contains("\"error\"")
            {
                errors += 1;
                if errors == 2 {
                    return;
                }
            }
        }
    })
    .await
    .expect("both errors answered");
    drop(ws);
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("session started"),
        "the log was captured:\n{log}"
    );
    for secret in [password, "wrong-guess-5521", secret_body, token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}
