//! The cluster scenario's clients: WebSocket users of the lobby (pipelined
//! senders, paced senders, receivers that reconnect and resume), and a Redis
//! subscriber that sees which hints the nodes really published.
//!
//! Everything runs in the runner's own tokio runtime (no worker processes):
//! the loads here are small (thousands of messages per second, not the
//! hundreds of thousands of deliveries of S3) and every figure needs the
//! senders' and the receivers' clocks to be the same `Instant`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use anyhow::{Context, Result, bail};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Tx = SplitSink<Ws, Message>;
pub type Rx = SplitStream<Ws>;
/// An open connection: its halves and the lobby's head at its welcome.
pub type TxRx = (Tx, Rx, u64);
/// Set to `true` to stop a client (its connection closes when it returns).
pub type Halt = tokio::sync::watch::Receiver<bool>;

/// Longest a connect, or the wait for a `welcome`, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The few fields of a server frame this client reads (bodies are skipped).
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    messages: Vec<Seq>,
    #[serde(default)]
    rooms: Vec<MyRoom>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Seq {
    seq: u64,
}

#[derive(Debug, Deserialize)]
struct MyRoom {
    room: String,
    last_seq: u64,
}

/// What one frame means to a lobby client.
enum Event {
    Welcome {
        lobby_head: u64,
    },
    /// Lobby messages, live or replayed, in arrival order.
    Lobby(Vec<u64>),
    Ack {
        client_id: String,
        seq: u64,
    },
    Refused(String),
    Other,
}

fn decode(text: &str) -> Event {
    let Ok(f) = serde_json::from_str::<Frame>(text) else {
        return Event::Other;
    };
    let lobby = f.room.as_deref() == Some(parley_common::LOBBY);
    match f.kind.as_str() {
        "welcome" => Event::Welcome {
            lobby_head: f
                .rooms
                .iter()
                .find(|r| r.room == parley_common::LOBBY)
                .map_or(0, |r| r.last_seq),
        },
        "message" if lobby => Event::Lobby(f.seq.into_iter().collect()),
        "missed" if lobby => Event::Lobby(f.messages.iter().map(|m| m.seq).collect()),
        "ack" => match (f.client_id, f.seq) {
            (Some(client_id), Some(seq)) => Event::Ack { client_id, seq },
            _ => Event::Other,
        },
        "error" => Event::Refused(format!("{} ({})", f.code.unwrap_or_default(), text)),
        "too_far_behind" => Event::Refused(format!("too_far_behind: {text}")),
        _ => Event::Other,
    }
}

/// A WebSocket to `addr` with session `token`, `hello` sent (resuming the
/// lobby after `resume` when given) and its `welcome` read; with the lobby's
/// head as the welcome gives it.
pub async fn open(addr: SocketAddr, token: &str, resume: Option<u64>) -> Result<TxRx> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(&format!("parley_session={token}"))?,
    );
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .with_context(|| format!("connect to {addr}: timed out"))?
        .with_context(|| format!("connect to {addr}"))?;
    let (mut tx, mut rx) = ws.split();
    let hello = match resume {
        Some(seq) => {
            serde_json::json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION,
            "resume": [{"room": parley_common::LOBBY, "seq": seq}]})
        }
        None => serde_json::json!({"type": "hello", "protocol": parley_common::PROTOCOL_VERSION}),
    };
    tx.send(Message::text(hello.to_string())).await?;
    let head = tokio::time::timeout(CONNECT_TIMEOUT, async {
        while let Some(frame) = rx.next().await {
            if let Message::Text(text) = frame? {
                match decode(&text) {
                    Event::Welcome { lobby_head } => return Ok(lobby_head),
                    Event::Refused(e) => bail!("{addr} refused the hello: {e}"),
                    _ => {}
                }
            }
        }
        bail!("{addr} closed before its welcome")
    })
    .await
    .with_context(|| format!("{addr}: no welcome in {CONNECT_TIMEOUT:?}"))??;
    Ok((tx, rx, head))
}

fn send_frame(client_id: &str, body: &str) -> Message {
    Message::text(
        serde_json::json!({"type": "send", "room": parley_common::LOBBY,
            "client_id": client_id, "body": body})
        .to_string(),
    )
}

/// What a sender got back: per acked message its seq, and when it was sent
/// and acked.
#[derive(Debug, Default)]
pub struct Sent {
    pub acked: Vec<(u64, Instant, Instant)>,
    /// Sent but never acked before the end.
    pub unacked: usize,
    /// The node closed the connection (a slow consumer is kicked).
    pub closed: bool,
    /// The lobby's stream as this client received it.
    pub received: Received,
    pub errors: Vec<String>,
}

/// A receiver's view of the lobby: the head at its welcome, and every seq in
/// arrival order with when it arrived.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub start: u64,
    pub seqs: Vec<(u64, Instant)>,
    /// Each reconnect: the seq it resumed from, the node, and when.
    pub resumes: Vec<(u64, SocketAddr, Instant)>,
}

impl Received {
    pub fn last(&self) -> u64 {
        self.seqs.last().map_or(self.start, |s| s.0)
    }
}

/// Sends as fast as acks come back, `window` messages in flight, until
/// `until`; then waits (at most `drain`) for the outstanding acks. Every lobby
/// message it receives meanwhile is recorded, until `stop_reading` is set.
pub async fn pipelined(
    (mut tx, mut rx, start): TxRx,
    tag: String,
    window: usize,
    until: Instant,
    drain: Duration,
) -> (Sent, Rx) {
    let mut out = Sent {
        received: Received {
            start,
            ..Received::default()
        },
        ..Sent::default()
    };
    let body = format!("hot-room message from {tag}, a body of about the usual size");
    let mut in_flight: HashMap<String, Instant> = HashMap::new();
    let mut next = 0u64;
    for _ in 0..window {
        let id = format!("{tag}-{next}");
        next += 1;
        in_flight.insert(id.clone(), Instant::now());
        if let Err(e) = tx.send(send_frame(&id, &body)).await {
            out.errors.push(format!("{tag}: send: {e}"));
            return (out, rx);
        }
    }
    let hard_stop = until + drain;
    while !in_flight.is_empty() {
        let left = hard_stop.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, rx.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                out.errors.push(format!("{tag}: {e}"));
                break;
            }
            Ok(None) => {
                out.errors
                    .push(format!("{tag}: the node closed the socket"));
                out.closed = true;
                break;
            }
            Err(_) => break,
        };
        let frame = match frame {
            Message::Close(_) => {
                out.errors
                    .push(format!("{tag}: the node closed the socket"));
                out.closed = true;
                break;
            }
            Message::Text(text) => text,
            _ => continue,
        };
        match decode(&frame) {
            Event::Ack { client_id, seq } => {
                let Some(sent_at) = in_flight.remove(&client_id) else {
                    continue;
                };
                out.acked.push((seq, sent_at, Instant::now()));
                if Instant::now() < until {
                    let id = format!("{tag}-{next}");
                    next += 1;
                    in_flight.insert(id.clone(), Instant::now());
                    if let Err(e) = tx.send(send_frame(&id, &body)).await {
                        out.errors.push(format!("{tag}: send: {e}"));
                        break;
                    }
                }
            }
            Event::Lobby(seqs) => {
                let now = Instant::now();
                out.received.seqs.extend(seqs.into_iter().map(|s| (s, now)));
            }
            Event::Refused(e) => out.errors.push(format!("{tag}: {e}")),
            Event::Welcome { .. } | Event::Other => {}
        }
    }
    out.unacked = in_flight.len();
    (out, rx)
}

/// Reads the rest of a lobby stream until it reaches `head` (or `wait` passes).
pub async fn read_until(mut rx: Rx, mut received: Received, head: u64, wait: Duration) -> Received {
    let deadline = Instant::now() + wait;
    while received.last() < head {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(frame))) = tokio::time::timeout(left, rx.next()).await else {
            break;
        };
        if let Message::Text(text) = frame
            && let Event::Lobby(seqs) = decode(&text)
        {
            let now = Instant::now();
            received.seqs.extend(seqs.into_iter().map(|s| (s, now)));
        }
    }
    received
}

/// Sends `rate` messages per second (open loop: on schedule, whatever the
/// acks do) until `until` or `halt`, then waits at most `drain` for the
/// outstanding acks. Every ack raises `head` (the highest acked seq, for
/// resuming clients).
pub async fn paced(
    (mut tx, mut rx, _): TxRx,
    tag: String,
    rate: f64,
    until: Instant,
    drain: Duration,
    head: Arc<AtomicU64>,
    halt: Halt,
) -> Sent {
    let mut out = Sent::default();
    let body = format!("steady message from {tag}, a body of about the usual size");
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight: HashMap<String, Instant> = HashMap::new();
    let mut next = 0u64;
    let mut hard_stop = until + drain;
    let mut halted = false;
    loop {
        if !halted && *halt.borrow() {
            halted = true;
            hard_stop = hard_stop.min(Instant::now() + drain);
        }
        let sending = !halted && Instant::now() < until;
        if !sending && in_flight.is_empty() {
            break;
        }
        let left = hard_stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            _ = ticks.tick(), if sending => {
                let id = format!("{tag}-{next}");
                next += 1;
                in_flight.insert(id.clone(), Instant::now());
                if let Err(e) = tx.send(send_frame(&id, &body)).await {
                    out.errors.push(format!("{tag}: send: {e}"));
                    break;
                }
            }
            frame = tokio::time::timeout(left, rx.next()) => {
                let frame = match frame {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(Some(Err(e))) => { out.errors.push(format!("{tag}: {e}")); break; }
                    Ok(None) => { out.errors.push(format!("{tag}: the node closed the socket")); break; }
                    Err(_) => break,
                };
                let Message::Text(text) = frame else { continue };
                match decode(&text) {
                    Event::Ack { client_id, seq } => {
                        if let Some(sent_at) = in_flight.remove(&client_id) {
                            out.acked.push((seq, sent_at, Instant::now()));
                            head.fetch_max(seq, Ordering::SeqCst);
                        }
                    }
                    Event::Refused(e) => out.errors.push(format!("{tag}: {e}")),
                    _ => {}
                }
            }
        }
    }
    out.unacked = in_flight.len();
    out
}

/// A receiver's shared view, read by the scenario while it runs.
#[derive(Debug, Default)]
pub struct Shared {
    pub received: Mutex<Received>,
    /// Connections lost (each followed by a reconnect elsewhere).
    pub reconnects: AtomicU64,
    /// When the receiver got its replay after its last reconnect (`None`
    /// until then).
    pub resumed_at: Mutex<Option<Instant>>,
    pub errors: Mutex<Vec<String>>,
}

impl Shared {
    pub fn last(&self) -> u64 {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
    }
}

/// Reads the lobby until `stop` or `halt`; when the connection is lost, reconnects to
/// `fallbacks` (in turn, from `turn`) with `hello` + resume, and records when
/// it has its `welcome` and everything up to the highest seq acked (`head`)
/// at the moment it sent that hello: its replay.
#[allow(clippy::too_many_arguments)]
pub async fn receiver(
    (tx, mut rx, start): TxRx,
    token: String,
    fallbacks: Vec<SocketAddr>,
    mut turn: usize,
    head: Arc<AtomicU64>,
    shared: Arc<Shared>,
    stop: Instant,
    mut halt: Halt,
) {
    // The write half lives as long as the connection (dropping it closes it).
    let mut tx_keep = Some(tx);
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .start = start;
    // The seq this receiver must reach to count as resumed (0: not resuming).
    let mut target: Option<u64> = None;
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let frame = tokio::select! {
            _ = halt.changed() => break,
            frame = tokio::time::timeout(left, rx.next()) => frame,
        };
        let lost = match frame {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Event::Lobby(seqs) = decode(&text) {
                    let now = Instant::now();
                    let mut r = shared
                        .received
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    r.seqs.extend(seqs.into_iter().map(|s| (s, now)));
                    if let Some(t) = target
                        && r.last() >= t
                    {
                        *shared
                            .resumed_at
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Some(now);
                        target = None;
                    }
                }
                false
            }
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => true,
            Ok(Some(Ok(_))) => false,
        };
        if !lost {
            continue;
        }
        // The node is gone: another one, resuming where this stream stopped.
        drop(tx_keep.take());
        shared.reconnects.fetch_add(1, Ordering::SeqCst);
        let mut reopened = None;
        while Instant::now() < stop && !fallbacks.is_empty() {
            let addr = fallbacks[turn % fallbacks.len()];
            turn += 1;
            let from = shared.last();
            let want = head.load(Ordering::SeqCst).max(from);
            match open(addr, &token, Some(from)).await {
                Ok((tx, new_rx, _)) => {
                    shared
                        .received
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .resumes
                        .push((from, addr, Instant::now()));
                    reopened = Some((tx, new_rx, want));
                    break;
                }
                Err(e) => {
                    shared
                        .errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(format!("reconnect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let Some((tx, new_rx, want)) = reopened else {
            break;
        };
        tx_keep = Some(tx);
        rx = new_rx;
        if shared.last() >= want {
            *shared
                .resumed_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        } else {
            target = Some(want);
        }
    }
}

/// Subscribes to the nodes' event channel (RESP by hand: one command, then a
/// stream of `message` pushes) and records the lobby seqs hinted, until
/// `stop`. A seq acked but never seen here had its hint dropped.
pub async fn hint_listener(
    redis: SocketAddr,
    channel: String,
    seen: Arc<Mutex<HashSet<u64>>>,
    stop: Instant,
) -> Result<()> {
    let mut stream = TcpStream::connect(redis)
        .await
        .context("connect to Redis")?;
    let cmd = format!(
        "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
        channel.len()
    );
    stream.write_all(cmd.as_bytes()).await?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        // Each push: *3, then three bulk strings (kind, channel, payload).
        line.clear();
        match tokio::time::timeout(left, reader.read_line(&mut line)).await {
            Err(_) => return Ok(()),
            Ok(Ok(0)) => bail!("Redis closed the subscription"),
            Ok(r) => drop(r?),
        }
        if !line.starts_with('*') {
            continue;
        }
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            line.clear();
            reader.read_line(&mut line).await?;
            let len: usize = match line.trim_end().strip_prefix('$').map(str::parse) {
                Some(Ok(n)) => n,
                // `:1` (the subscription count) ends the confirmation.
                _ => break,
            };
            let mut buf = vec![0u8; len + 2];
            reader.read_exact(&mut buf).await?;
            buf.truncate(len);
            parts.push(buf);
        }
        if parts.len() == 3 && parts[0] == b"message" {
            if let Some(seq) = lobby_hint(&parts[2]) {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(seq);
            }
        }
    }
}

/// The seq of a hint `{"t":"msg","key":"r:lobby","msg":{…,"seq":N,…}}`.
fn lobby_hint(payload: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Hint {
        t: String,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        msg: Option<Seq>,
    }
    let hint: Hint = serde_json::from_slice(payload).ok()?;
    let lobby = format!("r:{}", parley_common::LOBBY);
    (hint.t == "msg" && hint.key.as_deref() == Some(lobby.as_str())).then_some(hint.msg?.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_hints_are_read() {
        let msg = r#"{"type":"message","room":"lobby","seq":7,"sender":"a","body":"x","ts":1,"client_id":"c"}"#;
        assert!(matches!(decode(msg), Event::Lobby(s) if s == vec![7]));
        let ack = r#"{"type":"ack","client_id":"c-1","room":"lobby","seq":9}"#;
        assert!(matches!(decode(ack), Event::Ack { seq: 9, .. }));
        let hint = br#"{"t":"msg","node":3,"key":"r:lobby","msg":{"room":"lobby","seq":12,"sender":"a","body":"x","ts":1,"client_id":"c"},"dm":null}"#;
        assert_eq!(lobby_hint(hint), Some(12));
        assert_eq!(lobby_hint(br#"{"t":"typing","node":1}"#), None);
    }
}
