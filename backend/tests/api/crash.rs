//! Crash safety: the real binary is killed with SIGKILL again and again while
//! clients send; after each restart they re-send what was not acknowledged (same
//! client ids). Every acknowledged message is stored exactly once, with the seq
//! its ack named, and (SQLite) the database passes `PRAGMA integrity_check`.
//! On PostgreSQL (`PARLEY_TEST_POSTGRES`) the same, with the server binary
//! killed (not PostgreSQL).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    PASSWORD, TIMEOUT, TempDir, database_for, http_to, pg_connect, postgres_url, start_binary,
    ws_hello,
};

/// Kills per run (`PARLEY_CRASH_KILLS` to change).
const KILLS: usize = 10;
/// Acks to collect per round before the kill.
const ACKS_PER_ROUND: usize = 60;
const WINDOW: usize = 16;

/// client id → the seq its ack named.
type Acked = Arc<Mutex<HashMap<String, u64>>>;

/// Sends `ids` (then more, numbered on from `next`) with up to `WINDOW`
/// unacknowledged, recording acks, until the connection dies. Returns the ids
/// sent but not acknowledged, and the next new number.
async fn send_until_killed(
    addr: std::net::SocketAddr,
    token: &str,
    who: &str,
    mut resend: Vec<String>,
    mut next: usize,
    acked: Acked,
) -> (Vec<String>, usize) {
    let Ok(mut ws) = ws_hello(addr, token).await else {
        return (resend, next);
    };
    let mut unacked: Vec<String> = Vec::new();
    loop {
        while unacked.len() < WINDOW {
            let id = resend.pop().unwrap_or_else(|| {
                next += 1;
                format!("{who}-{next}")
            });
            let send = json!({"type": "send", "room": "lobby", "client_id": id, "body": "x"});
            unacked.push(id);
            if ws.send(Message::text(send.to_string())).await.is_err() {
                return (unacked, next);
            }
        }
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ack" {
                    let id = value["client_id"].as_str().unwrap().to_owned();
                    let seq = value["seq"].as_u64().unwrap();
                    unacked.retain(|u| *u != id);
                    let before = acked.lock().unwrap().insert(id.clone(), seq);
                    if let Some(before) = before {
                        assert_eq!(before, seq, "{id} acked twice with different seqs");
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (unacked, next),
        }
    }
}

/// (client id, seq) of every message stored in the lobby; on SQLite after
/// checking the file's integrity.
async fn stored_in_lobby(dir: &std::path::Path) -> Vec<(String, u64)> {
    const LOBBY: &str = "SELECT m.client_id, m.seq FROM messages m JOIN rooms r ON r.id = m.room_id
                         WHERE r.name = 'lobby'";
    if postgres_url().is_some() {
        let db = pg_connect(&database_for(dir).await).await;
        let rows = db.query(LOBBY, &[]).await.unwrap();
        return rows
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap()))
            .collect();
    }
    let db = rusqlite::Connection::open(dir.join("parley.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = db.prepare(LOBBY).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn sigkill_while_sending_loses_no_acknowledged_message() {
    let dir = TempDir::new();
    let (mut server, mut addr) = start_binary(&dir.0).await;
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let body = json!({"name": name, "password": PASSWORD}).to_string();
        let r = http_to(addr, "POST", "/api/register", Some(&body), &[]).await;
        assert_eq!(r.status, 201, "{}", r.body);
        tokens.push((name, r.session().unwrap()));
    }
    let kills = std::env::var("PARLEY_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(KILLS);
    let acked: Acked = Arc::default();
    let mut state: Vec<(Vec<String>, usize)> = vec![(Vec::new(), 0); tokens.len()];
    for round in 0..kills {
        let target = (round + 1) * ACKS_PER_ROUND;
        let senders: Vec<_> = tokens
            .iter()
            .zip(state.drain(..))
            .map(|((name, token), (resend, next))| {
                let (token, name, acked) = (token.clone(), *name, acked.clone());
                tokio::spawn(async move {
                    send_until_killed(addr, &token, name, resend, next, acked).await
                })
            })
            .collect();
        // Kill as soon as enough acks came in: mid-stream, with sends in flight.
        tokio::time::timeout(TIMEOUT, async {
            while acked.lock().unwrap().len() < target {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("acks in time");
        server.start_kill().unwrap();
        server.wait().await.unwrap();
        for sender in senders {
            state.push(sender.await.unwrap());
        }
        (server, addr) = start_binary(&dir.0).await;
    }
    server.start_kill().unwrap();
    server.wait().await.unwrap();

    let stored = stored_in_lobby(&dir.0).await;
    let by_id: HashMap<&str, u64> = stored.iter().map(|(id, seq)| (id.as_str(), *seq)).collect();
    assert_eq!(by_id.len(), stored.len(), "no client id stored twice");
    let acked = acked.lock().unwrap();
    for (id, seq) in acked.iter() {
        assert_eq!(
            by_id.get(id.as_str()),
            Some(seq),
            "acked {id} stored as seq {seq}"
        );
    }
    // Seqs have no gap either.
    let mut seqs: Vec<u64> = stored.iter().map(|(_, seq)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>());
    eprintln!(
        "{kills} kills: {} acknowledged, {} stored, 0 lost, 0 duplicated",
        acked.len(),
        stored.len()
    );
}
