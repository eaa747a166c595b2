//! Write-path benchmark: acked messages per second with many concurrent senders.
//!
//! Starts the real server in this process (release build, a fresh SQLite file in
//! WAL mode with synchronous=FULL), registers `SENDERS` users, each in a room of
//! its own, and has every one of them send as fast as acks come back, keeping up to
//! `WINDOW` messages in flight, for `SECS` seconds over real WebSockets. Prints
//! acked messages per second, ack latency (p50/p99) and how many messages each
//! commit carried (group commit).
//!
//! `cargo bench -p parley-backend --bench acked`
//! (env: PARLEY_BENCH_SENDERS=200, PARLEY_BENCH_WINDOW=8, PARLEY_BENCH_SECS=5;
//! PARLEY_BENCH_DATABASE=postgres://… to store in PostgreSQL instead, on an
//! empty database; PARLEY_BENCH_HOT=1 to have everyone send into the lobby, one
//! hot room, instead of a room each: every sender then also receives everyone's
//! messages, so keep senders x window under the outbox's 256 frames, e.g.
//! PARLEY_BENCH_SENDERS=16 PARLEY_BENCH_WINDOW=8, or slow clients are cut off)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parley_backend::{Application, Config};
use parley_common::ServerMsg;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn register(addr: std::net::SocketAddr, name: &str) -> String {
    let body = json!({"name": name, "password": "benchmark password"}).to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /api/register HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let cookie = raw
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: parley_session="))
        .unwrap_or_else(|| panic!("no session for {name}: {raw}"));
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::main]
async fn main() {
    let senders = env("PARLEY_BENCH_SENDERS", 200);
    let window = env("PARLEY_BENCH_WINDOW", 8);
    let secs = env("PARLEY_BENCH_SECS", 5);

    let dir = std::env::temp_dir().join(format!("parley-bench-{}", std::process::id()));
    let hot = env("PARLEY_BENCH_HOT", 0) == 1;
    let mut config = Config::for_tests(&dir);
    config.database = match std::env::var("PARLEY_BENCH_DATABASE") {
        Ok(database) => database.parse().unwrap(),
        Err(_) => dir.join("parley.db").into(),
    };
    config.register_rate_per_minute = u32::MAX;
    let config_database = config.database.to_string();
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let store = app.store();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    println!(
        "acked-messages benchmark: {senders} senders, window {window}, {secs} s, {}, {}",
        if hot { "one hot room" } else { "a room each" },
        config_database
    );
    let mut clients = Vec::new();
    for i in 0..senders {
        let token = register(addr, &format!("bench{i}")).await;
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request.headers_mut().insert(
            "cookie",
            HeaderValue::from_str(&format!("parley_session={token}")).unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        ws.send(Message::text(
            json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}).to_string(),
        ))
        .await
        .unwrap();
        let room = if hot {
            "lobby".to_owned()
        } else {
            format!("bench-{i}")
        };
        // Everyone is in the lobby already; a room of one's own is created.
        let ready = if hot {
            "{\"type\":\"welcome\""
        } else {
            ws.send(Message::text(
                json!({"type": "create_room", "room": room}).to_string(),
            ))
            .await
            .unwrap();
            // welcome, joined, who is online, then the room's (empty) history
            "{\"type\":\"history\""
        };
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(text) = frame
                && text.starts_with(ready)
            {
                break;
            }
        }
        clients.push((ws, room));
    }

    let (commits0, ops0, micros0) = (
        store.stats().commits.load(Ordering::Relaxed),
        store.stats().ops.load(Ordering::Relaxed),
        store.stats().commit_micros.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (ws, room))| {
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let mut sent_at: HashMap<String, Instant> = HashMap::new();
                let mut latencies = Vec::new();
                let mut next = 0u64;
                let send = |n: u64| {
                    json!({"type": "send", "room": room, "client_id": format!("s{i}-{n}"),
                           "body": format!("message {n} from sender {i}")})
                    .to_string()
                };
                for _ in 0..window {
                    sent_at.insert(format!("s{i}-{next}"), Instant::now());
                    tx.send(Message::text(send(next))).await.unwrap();
                    next += 1;
                }
                while let Some(Ok(frame)) = rx.next().await {
                    let Message::Text(text) = frame else { continue };
                    match serde_json::from_str::<ServerMsg>(&text).unwrap() {
                        ServerMsg::Ack { client_id, .. } => {
                            let t0 = sent_at.remove(client_id.as_str()).unwrap();
                            latencies.push(t0.elapsed());
                            if Instant::now() < deadline {
                                sent_at.insert(format!("s{i}-{next}"), Instant::now());
                                tx.send(Message::text(send(next))).await.unwrap();
                                next += 1;
                            } else if sent_at.is_empty() {
                                break;
                            }
                        }
                        // Broadcasts and who is online: not what is measured.
                        ServerMsg::Message(_)
                        | ServerMsg::Online { .. }
                        | ServerMsg::Presence { .. } => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    let commits = store.stats().commits.load(Ordering::Relaxed) - commits0;
    let ops = store.stats().ops.load(Ordering::Relaxed) - ops0;
    let micros = store.stats().commit_micros.load(Ordering::Relaxed) - micros0;
    latencies.sort();
    assert!(!latencies.is_empty(), "no message was acked");
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    let acked = latencies.len();
    println!(
        "acked {acked} messages in {:.2} s: {:.0} acked messages/s",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    println!(
        "ack latency p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "{commits} commits, {:.1} requests per commit (group commit), {:.2} ms per commit, writer busy {:.0}%",
        ops as f64 / commits.max(1) as f64,
        micros as f64 / commits.max(1) as f64 / 1e3,
        micros as f64 / elapsed.as_secs_f64() / 1e4
    );
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
}
