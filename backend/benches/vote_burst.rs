//! Vote-burst benchmark: `CLIENTS` connected users each vote once within one
//! second; how long after the last vote does every client show the exact final
//! tally, and how many tally frames did each client get?
//!
//! Accounts, sessions and the poll are created through the store on a fresh
//! SQLite file; then the release `parley` binary serves it pinned to CPU 0 while
//! this generator runs on CPU 1. Every client connects over a real WebSocket and
//! the votes are sent open-loop: client i votes at start + i/N s.
//!
//! `cargo bench -p parley-backend --bench vote_burst`
//! (env: PARLEY_BENCH_CLIENTS=5000)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parley_backend::auth;
use parley_backend::store::AuthUser;
use parley_common::{Password, ServerMsg, Username};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    /// When this client's vote was sent.
    voted_at: Instant,
    /// When it first saw the exact final tally.
    final_at: Instant,
    tally_frames: usize,
}

/// User + system CPU seconds a process has used (Linux `/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// Runs `f` with this process pinned to one CPU (the server gets the other).
fn pin_self(cpu: usize) {
    let _ = std::process::Command::new("taskset")
        .args([
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clients = env("PARLEY_BENCH_CLIENTS", 5000);
    let dir = std::env::temp_dir().join(format!("parley-vote-bench-{}", std::process::id()));
    let database = dir.join("parley.db");
    println!("vote-burst benchmark: {clients} clients, one vote each within 1 s");

    // Accounts, sessions and the poll, straight through the store, before the
    // server starts (one precomputed hash: 5,000 deliberate slow hashes would
    // measure argon2, not votes).
    let store =
        parley_backend::Store::open(&database, std::sync::Arc::new(parley_backend::Hub::new()))
            .unwrap();
    let hash = auth::hash_password(&Password::parse("benchmark password").unwrap()).unwrap();
    let mut creating = Vec::new();
    for i in 0..clients {
        let store = store.clone();
        let hash = hash.clone();
        creating.push(tokio::spawn(async move {
            let name = Username::parse(&format!("voter{i}")).unwrap();
            let id = store.create_user(name.clone(), hash).await.unwrap();
            let (token, token_hash) = auth::new_token().unwrap();
            let user = AuthUser { id, name };
            store
                .create_session(token_hash, &user, u64::MAX / 2)
                .await
                .unwrap();
            (token, user)
        }));
    }
    let mut tokens = Vec::with_capacity(clients);
    let mut creator = None;
    for c in creating {
        let (token, user) = c.await.unwrap();
        creator.get_or_insert(user);
        tokens.push(token);
    }
    let poll = store
        .create_poll(
            parley_common::RoomName::lobby(),
            creator.unwrap(),
            parley_common::PollSpec::parse(
                "Best transport?",
                &["WebSocket".into(), "long-poll".into(), "poll".into()],
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap();
    store.close().await;
    drop(store);

    // The release server in its own process on CPU 0; this load generator on CPU 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = std::process::Command::new("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_parley")])
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--database")
        .arg(&database)
        .arg("--static-dir")
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the server (taskset from util-linux is needed)");
    pin_self(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Connect everyone (200 handshakes at a time).
    let started = Instant::now();
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut sockets = Vec::with_capacity(clients);
    for chunk in tokens.chunks(200) {
        let mut connecting = Vec::new();
        for token in chunk {
            let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(&format!("parley_session={token}")).unwrap(),
            );
            connecting.push(tokio::spawn(async move {
                let (mut ws, _) =
                    tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                        .await
                        .unwrap();
                ws.send(Message::text(
                    json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION})
                        .to_string(),
                ))
                .await
                .unwrap();
                // Read up to and including the welcome.
                while let Some(Ok(frame)) = ws.next().await {
                    if let Message::Text(t) = frame
                        && t.contains("\"type\":\"welcome\"")
                    {
                        break;
                    }
                }
                ws
            }));
        }
        for c in connecting {
            sockets.push(c.await.unwrap());
        }
    }
    println!(
        "{clients} connected in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let server_pid = server.id();
    let cpu_before = (cpu_seconds(server_pid), cpu_seconds(std::process::id()));
    let start = Instant::now() + Duration::from_millis(500);
    let n = clients;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let poll = poll.id;
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let at = start + Duration::from_secs_f64(i as f64 / n as f64);
                tokio::time::sleep_until(at.into()).await;
                let option = (i % 3) as u32;
                tx.send(Message::text(
                    json!({"type": "vote", "poll": poll, "option": option}).to_string(),
                ))
                .await
                .unwrap();
                let voted_at = Instant::now();
                let mut tally_frames = 0;
                // The generator must stay cheaper than the server: only the frame
                // that claims the final voter count is parsed in full and checked.
                let final_marker = format!("\"voters\":{n},");
                while let Some(Ok(frame)) = rx.next().await {
                    let Message::Text(text) = frame else { continue };
                    if !text.starts_with("{\"type\":\"tally\"") {
                        continue;
                    }
                    tally_frames += 1;
                    if text.contains(&final_marker) {
                        let final_at = Instant::now();
                        let Ok(ServerMsg::Tally { tally, .. }) = serde_json::from_str(&text) else {
                            panic!("bad tally frame {text}");
                        };
                        let expect: Vec<u64> = (0..3).map(|o| ((n + 2 - o) / 3) as u64).collect();
                        assert_eq!(tally.counts, expect, "exact final tally");
                        return Outcome {
                            voted_at,
                            final_at,
                            tally_frames,
                        };
                    }
                }
                panic!("connection ended before the final tally");
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let cpu_after = (cpu_seconds(server_pid), cpu_seconds(std::process::id()));
    println!(
        "CPU used from the poll to the last final tally: server {:.2} s, generator {:.2} s (over {:.2} s)",
        cpu_after.0 - cpu_before.0,
        cpu_after.1 - cpu_before.1,
        (Instant::now() - start).as_secs_f64() + 0.5
    );
    let last_vote = outcomes.iter().map(|o| o.voted_at).max().unwrap();
    let mut lat: Vec<Duration> = outcomes
        .iter()
        .map(|o| o.final_at.saturating_duration_since(last_vote))
        .collect();
    lat.sort();
    let mut frames: Vec<usize> = outcomes.iter().map(|o| o.tally_frames).collect();
    frames.sort_unstable();
    let pct = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize];
    let first_vote = outcomes.iter().map(|o| o.voted_at).min().unwrap();
    println!(
        "votes sent over {:.0} ms; first client saw the final tally {:.1} ms after the last vote",
        (last_vote - first_vote).as_secs_f64() * 1e3,
        lat[0].as_secs_f64() * 1e3
    );
    println!(
        "last vote -> exact final tally on every client: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "tally frames per client: median {}, max {}",
        frames[frames.len() / 2],
        frames.last().unwrap()
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
