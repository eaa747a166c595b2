//! The cluster test: a real PostgreSQL, a real Redis and three real `parley`
//! nodes on 127.0.0.2–4; users spread over the nodes, over WebSocket and over
//! long-polling (each long-poll request to a random live node: no stickiness);
//! faults one at a time and then together. After each phase: every
//! acknowledged message is stored once with the seq its ack named, every
//! client's stream per channel is exactly 1..last in order, retries get their
//! original seq. Also: a killed node's user shows offline elsewhere in time,
//! and the login limit holds across nodes.
//!
//! Runs when `PARLEY_TEST_CLUSTER=1` (`cargo xtask test` sets it and installs
//! the engines); otherwise it says it was skipped.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parley_common::{Channel, ClientMsg, LongPollBatch, PROTOCOL_VERSION, ResumeFrom, ServerMsg};
use parley_engines::{Postgres, PostgresOptions, Redis, RedisOptions};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{PASSWORD, TempDir, start_parley, try_http_to};

/// Longest any one wait of this test may take.
const WAIT: Duration = Duration::from_secs(30);
/// Messages each user sends per phase.
const PER_PHASE: usize = 12;
/// Login attempts per minute per name on every node.
const LOGIN_RATE: u32 = 4;

/// What the nodes log: warnings, and the cluster layer's own lines.
const LOG: &str =
    "warn,parley_backend=info,parley_backend::transport=warn,parley_backend::session=warn";

type Started = (tokio::process::Child, SocketAddr, Arc<Mutex<String>>);

struct Node {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

struct World {
    pg: Postgres,
    redis: Redis,
    db: String,
    prefix: String,
    dir: TempDir,
    nodes: Vec<Option<Node>>,
    /// The load balancer's view: nodes that pass its health check.
    live: Arc<Mutex<Vec<SocketAddr>>>,
}

/// A fault injected mid-phase.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    KillNode(usize),
    KillPubSub,
    RestartRedis,
    RestartPostgres,
    /// The last three at once.
    All,
}

impl World {
    async fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::None => {}
            Fault::KillNode(i) => self.kill_node(i).await,
            Fault::KillPubSub => drop(self.redis.kill_pubsub_clients().unwrap()),
            Fault::RestartRedis => self.redis.restart().unwrap(),
            Fault::RestartPostgres => self.pg.restart_fast().unwrap(),
            Fault::All => {
                self.redis.kill_pubsub_clients().unwrap();
                self.pg.restart_fast().unwrap();
                self.redis.restart().unwrap();
            }
        }
    }

    fn node_args(&self, i: usize, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let ip = format!("127.0.0.{}:0", i + 2);
        let mut args: Vec<std::ffi::OsString> = vec![
            "--listen".into(),
            ip.into(),
            "--database".into(),
            self.pg.url_for(&self.db).into(),
            "--redis".into(),
            self.redis.url().into(),
            "--redis-prefix".into(),
            self.prefix.clone().into(),
            "--static-dir".into(),
            self.dir.0.clone().into(),
            "--login-rate-per-minute".into(),
            LOGIN_RATE.to_string().into(),
            "--register-rate-per-minute".into(),
            "1000".into(),
        ];
        args.extend(extra.iter().map(Into::into));
        args
    }

    async fn start_node(&mut self, i: usize, extra: &[&str]) {
        let started = start_parley(self.node_args(i, extra), LOG).await;
        self.add_node(i, started);
    }

    fn add_node(&mut self, i: usize, (child, addr, log): Started) {
        self.live.lock().unwrap().push(addr);
        if self.nodes.len() <= i {
            self.nodes.resize_with(i + 1, || None);
        }
        self.nodes[i] = Some(Node { child, addr, log });
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].as_ref().unwrap().addr
    }

    async fn kill_node(&mut self, i: usize) {
        let mut node = self.nodes[i].take().unwrap();
        self.live.lock().unwrap().retain(|a| *a != node.addr);
        node.child.start_kill().unwrap();
        node.child.wait().await.unwrap();
    }

    fn sql(&self, query: &str) -> String {
        self.pg.psql(&self.db, query).unwrap()
    }

    /// (user, client id) → (channel row name, seq) of every stored message.
    fn stored(&self) -> HashMap<(String, String), (String, u64)> {
        let rows = self.sql(
            "SELECT u.name || '|' || m.client_id || '|' || r.name || '|' || m.seq
             FROM messages m JOIN users u ON u.id = m.sender_id JOIN rooms r ON r.id = m.room_id",
        );
        let mut out = HashMap::new();
        for line in rows.lines().map(str::trim).filter(|l| l.contains('|')) {
            let f: Vec<&str> = line.split('|').collect();
            let old = out.insert(
                (f[0].to_owned(), f[1].to_owned()),
                (f[2].to_owned(), f[3].parse().unwrap()),
            );
            assert!(old.is_none(), "stored twice: {line}");
        }
        out
    }

    /// The latest seq of a room or conversation row.
    fn head(&self, row: &str) -> u64 {
        let out = self.sql(&format!("SELECT last_seq FROM rooms WHERE name = '{row}'"));
        out.lines()
            .map(str::trim)
            .find_map(|l| l.parse().ok())
            .unwrap_or(0)
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.log.lock().unwrap().clone())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Ws,
    Lp,
}

/// What a connection's reader hands the user's driver.
enum Incoming {
    Msg(ServerMsg),
    Closed,
}

/// One user: a connection (re-opened on another node when lost), the stream
/// of each channel as it arrived, and the acks of what it sent.
struct User {
    name: String,
    token: String,
    transport: Transport,
    live: Arc<Mutex<Vec<SocketAddr>>>,
    /// Which node a new WebSocket goes to (round robin over the live ones).
    turn: usize,
    rx: Option<mpsc::UnboundedReceiver<Incoming>>,
    send: Option<mpsc::UnboundedSender<String>>,
    /// Per channel, the seqs in arrival order (live and replayed).
    seen: BTreeMap<Channel, Vec<u64>>,
    acks: BTreeMap<String, u64>,
    /// Presence events: (user, online).
    presence: Vec<(String, bool)>,
    sent: usize,
    reconnects: usize,
}

fn pick(live: &Arc<Mutex<Vec<SocketAddr>>>, turn: usize) -> Option<SocketAddr> {
    let live = live.lock().unwrap();
    (!live.is_empty()).then(|| live[turn % live.len()])
}

fn random_index() -> usize {
    // Long-poll requests go to a random live node.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos as usize).wrapping_mul(2_654_435_761) >> 7
}

impl User {
    fn last(&self, channel: &Channel) -> u64 {
        self.seen
            .get(channel)
            .and_then(|s| s.last().copied())
            .unwrap_or(0)
    }

    fn resume(&self) -> Vec<ResumeFrom> {
        self.seen
            .iter()
            .map(|(channel, seqs)| ResumeFrom {
                channel: channel.clone(),
                seq: seqs.last().copied().unwrap_or(0),
            })
            .collect()
    }

    fn hello(&self) -> String {
        ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            resume: self.resume(),
        }
        .to_json()
        .unwrap()
    }

    /// Opens a connection on a live node (WebSocket or long-poll).
    async fn connect(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: no node took the connection",
                self.name
            );
            self.turn += 1;
            let opened = match self.transport {
                Transport::Ws => self.open_ws().await,
                Transport::Lp => self.open_lp().await,
            };
            if opened {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn open_ws(&mut self) -> bool {
        let Some(addr) = pick(&self.live, self.turn) else {
            return false;
        };
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request.headers_mut().insert(
            "cookie",
            HeaderValue::from_str(&format!("parley_session={}", self.token)).unwrap(),
        );
        let Ok(Ok((ws, _))) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await
        else {
            return false;
        };
        let (mut sink, mut stream) = ws.split();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame {
                    if let Ok(msg) = serde_json::from_str(&text) {
                        let _ = in_tx.send(Incoming::Msg(msg));
                    }
                } else if let Message::Close(_) = frame {
                    break;
                }
            }
            let _ = in_tx.send(Incoming::Closed);
        });
        let _ = out_tx.send(self.hello());
        self.rx = Some(in_rx);
        self.send = Some(out_tx);
        true
    }

    async fn open_lp(&mut self) -> bool {
        let Some(addr) = pick(&self.live, random_index()) else {
            return false;
        };
        let cookie = format!("parley_session={}", self.token);
        let body = format!("[{}]", self.hello());
        let Ok(r) = try_http_to(addr, "POST", "/api/lp", Some(&body), &[("Cookie", &cookie)]).await
        else {
            return false;
        };
        if r.status != 201 {
            return false;
        }
        let sid = r.json()["sid"].as_str().unwrap().to_owned();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let live = Arc::clone(&self.live);
        let (cookie2, sid2, live2, closed_tx) =
            (cookie.clone(), sid.clone(), live.clone(), in_tx.clone());
        // Submissions, each to a random live node.
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                let Some(addr) = pick(&live2, random_index()) else {
                    break;
                };
                let path = format!("/api/lp/{sid2}");
                let body = format!("[{text}]");
                match try_http_to(addr, "POST", &path, Some(&body), &[("Cookie", &cookie2)]).await {
                    Ok(r) if r.status == 204 => {}
                    _ => {
                        let _ = closed_tx.send(Incoming::Closed);
                        break;
                    }
                }
            }
        });
        // Receives, each GET to a random live node.
        tokio::spawn(async move {
            let mut since = 0;
            while let Some(addr) = pick(&live, random_index()) {
                let path = format!("/api/lp/{sid}?since={since}&wait=5");
                let r = match try_http_to(addr, "GET", &path, None, &[("Cookie", &cookie)]).await {
                    Ok(r) => r,
                    // The node went away under this request: ask another.
                    Err(_) => continue,
                };
                if r.status != 200 {
                    break;
                }
                let Ok(batch) = serde_json::from_str::<LongPollBatch>(&r.body) else {
                    break;
                };
                since = batch.next;
                for msg in batch.events {
                    let _ = in_tx.send(Incoming::Msg(msg));
                }
                if batch.close.is_some() {
                    break;
                }
            }
            let _ = in_tx.send(Incoming::Closed);
        });
        self.rx = Some(in_rx);
        self.send = Some(out_tx);
        true
    }

    fn record(&mut self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Message(m) => self.seen.entry(m.channel.clone()).or_default().push(m.seq),
            ServerMsg::Missed { channel, messages } => {
                let seen = self.seen.entry(channel.clone()).or_default();
                seen.extend(messages.iter().map(|m| m.seq));
            }
            ServerMsg::TooFarBehind { channel, .. } => {
                panic!("{}: too_far_behind in {channel:?}", self.name)
            }
            ServerMsg::Ack { client_id, seq, .. } => {
                self.acks.insert(client_id.as_str().to_owned(), *seq);
            }
            ServerMsg::Presence { user, online, .. } => {
                self.presence.push((user.as_str().to_owned(), *online));
            }
            _ => {}
        }
    }

    /// The next event, or `None` when the connection closed (then dropped).
    async fn next(&mut self, until: Instant) -> Option<ServerMsg> {
        let rx = self.rx.as_mut()?;
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Incoming::Msg(msg))) => {
                self.record(&msg);
                Some(msg)
            }
            Ok(Some(Incoming::Closed) | None) => {
                self.rx = None;
                self.send = None;
                None
            }
            Err(_) => None,
        }
    }

    /// Sends `cid` to `channel` until acked, reconnecting (and resuming) on
    /// another node whenever the connection is lost; returns the ack's seq.
    async fn send_acked(&mut self, channel: &Channel, cid: &str) -> u64 {
        let deadline = Instant::now() + WAIT * 2;
        let text =
            json!({"type": "send", "client_id": cid, "body": format!("{} says {cid}", self.name)});
        let mut text = text.as_object().unwrap().clone();
        match channel {
            Channel::Room(r) => text.insert("room".into(), json!(r.as_str())),
            Channel::Dm(u) => text.insert("dm".into(), json!(u.as_str())),
        };
        let text = serde_json::Value::Object(text).to_string();
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: {cid} never acked",
                self.name
            );
            if self.send.is_none() {
                self.reconnects += 1;
                self.connect().await;
            }
            if let Some(send) = &self.send {
                let _ = send.send(text.clone());
            }
            // Wait for the ack (or an error, or the connection's end).
            let until = Instant::now() + Duration::from_secs(8);
            loop {
                if let Some(seq) = self.acks.get(cid) {
                    return *seq;
                }
                match self.next(until).await {
                    Some(ServerMsg::Error {
                        client_id: Some(c), ..
                    }) if c.as_str() == cid => break,
                    Some(_) => {}
                    None => {
                        // Closed or timed out: a fresh connection, then retry.
                        self.rx = None;
                        self.send = None;
                        break;
                    }
                }
            }
        }
    }

    /// Reads until every channel in `heads` has arrived up to its head.
    async fn catch_up(&mut self, heads: &BTreeMap<Channel, u64>) {
        let deadline = Instant::now() + WAIT;
        while heads.iter().any(|(c, h)| self.last(c) < *h) {
            assert!(
                Instant::now() < deadline,
                "{}: stuck at {:?}, want {heads:?}",
                self.name,
                self.seen
                    .iter()
                    .map(|(c, s)| (c, s.last()))
                    .collect::<Vec<_>>()
            );
            if self.send.is_none() {
                self.reconnects += 1;
                self.connect().await;
            }
            self.next(Instant::now() + Duration::from_secs(2)).await;
        }
    }
}

/// A new user with a WebSocket to node `i` only.
async fn pinned(world: &World, i: usize, name: &str) -> User {
    let mut user = User {
        name: name.into(),
        token: register(world.addr(i), name).await,
        transport: Transport::Ws,
        live: Arc::new(Mutex::new(vec![world.addr(i)])),
        turn: 0,
        rx: None,
        send: None,
        seen: BTreeMap::new(),
        acks: BTreeMap::new(),
        presence: Vec::new(),
        sent: 0,
        reconnects: 0,
    };
    user.connect().await;
    user
}

impl User {
    fn say(&self, msg: &serde_json::Value) {
        self.send.as_ref().unwrap().send(msg.to_string()).unwrap();
    }

    /// Reads until `pred` matches an event (bounded).
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let until = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < until, "{}: no {what}", self.name);
            if let Some(msg) = self.next(until).await
                && pred(&msg)
            {
                return msg;
            }
        }
    }
}

async fn register(addr: SocketAddr, name: &str) -> String {
    let body = json!({"name": name, "password": PASSWORD}).to_string();
    let r = try_http_to(addr, "POST", "/api/register", Some(&body), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    r.session().unwrap()
}

fn room(name: &str) -> Channel {
    Channel::Room(parley_common::RoomName::parse(name).unwrap())
}

fn dm(name: &str) -> Channel {
    Channel::Dm(parley_common::Username::parse(name).unwrap())
}

/// Runs one phase: every user sends [`PER_PHASE`] messages (alice also DMs
/// bob); `fault` runs once a third of them are acked. Then every invariant.
async fn phase(world: &mut World, users: &mut Vec<User>, name: &str, fault: Fault) {
    let started = Instant::now();
    let acked = Arc::new(AtomicUsize::new(0));
    let third = Arc::new(Notify::new());
    let total = users.len() * PER_PHASE;
    let mut tasks = Vec::new();
    for mut user in users.drain(..) {
        let (acked, third) = (Arc::clone(&acked), Arc::clone(&third));
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_PHASE {
                let n = user.sent;
                user.sent += 1;
                let channel = if user.name == "alice" && n % 3 == 0 {
                    dm("bob")
                } else {
                    room("lobby")
                };
                let cid = format!("{}-{n}", user.name);
                user.send_acked(&channel, &cid).await;
                if acked.fetch_add(1, Ordering::SeqCst) + 1 == total / 3 {
                    third.notify_one();
                }
            }
            user
        }));
    }
    tokio::time::timeout(WAIT, third.notified())
        .await
        .unwrap_or_else(|_| panic!("{name}: a third of the messages never got acked"));
    world.inject(fault).await;
    for task in tasks {
        users.push(task.await.unwrap());
    }
    check(world, users, name).await;
    eprintln!(
        "[cluster] {name}: {} messages acked and checked in {:?} ({} reconnects so far)",
        total,
        started.elapsed(),
        users.iter().map(|u| u.reconnects).sum::<usize>()
    );
}

/// Every ack stored once with its seq; every stream exactly 1..head in order;
/// a retry answered with the original seq.
async fn check(world: &World, users: &mut [User], name: &str) {
    let stored = world.stored();
    for user in users.iter() {
        for (cid, seq) in &user.acks {
            let (_, stored_seq) = stored
                .get(&(user.name.clone(), cid.clone()))
                .unwrap_or_else(|| panic!("{name}: {}'s acked {cid} is not stored", user.name));
            assert_eq!(stored_seq, seq, "{name}: {}'s {cid}", user.name);
        }
    }
    let lobby = world.head("lobby");
    let ab = world.sql("SELECT name FROM rooms WHERE kind = 'dm'");
    let dm_row = ab
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('@'))
        .map(str::to_owned);
    let dm_head = dm_row.as_deref().map_or(0, |r| world.head(r));
    for user in users.iter_mut() {
        let mut heads = BTreeMap::from([(room("lobby"), lobby)]);
        match user.name.as_str() {
            "alice" => drop(heads.insert(dm("bob"), dm_head)),
            "bob" => drop(heads.insert(dm("alice"), dm_head)),
            _ => {}
        }
        user.catch_up(&heads).await;
        for (channel, head) in &heads {
            let want: Vec<u64> = (1..=*head).collect();
            let got = &user.seen[channel];
            assert_eq!(
                got, &want,
                "{name}: {}'s stream of {channel:?} is not 1..{head} in order",
                user.name
            );
        }
    }
    // A retry of an acked message gets its original seq back.
    for user in users.iter_mut() {
        let Some((cid, seq)) = user.acks.iter().next_back().map(|(c, s)| (c.clone(), *s)) else {
            continue;
        };
        user.acks.remove(&cid);
        let channel = if stored[&(user.name.clone(), cid.clone())].0.starts_with('@') {
            dm(if user.name == "alice" { "bob" } else { "alice" })
        } else {
            room("lobby")
        };
        assert_eq!(
            user.send_acked(&channel, &cid).await,
            seq,
            "{name}: retry of {cid}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_nothing_through_faults() {
    if std::env::var_os("PARLEY_TEST_CLUSTER").is_none() {
        eprintln!(
            "skipped: set PARLEY_TEST_CLUSTER=1 (cargo xtask test does) to run the cluster test"
        );
        return;
    }
    let dir = TempDir::new();
    std::fs::write(dir.0.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let pg = Postgres::start(&dir.0.join("pg"), PostgresOptions::for_tests()).unwrap();
    let redis = Redis::start(&dir.0.join("redis"), RedisOptions::default()).unwrap();
    pg.create_database("parley").unwrap();
    let mut world = World {
        pg,
        redis,
        db: "parley".into(),
        prefix: format!("t{}", std::process::id()),
        dir,
        nodes: Vec::new(),
        live: Arc::new(Mutex::new(Vec::new())),
    };
    // Three nodes started together migrate one empty database safely. Node 1
    // drops a quarter of its hints on purpose for the whole test.
    let (n1, n2, n3) = tokio::join!(
        start_parley(world.node_args(0, &["--cluster-drop-hints", "0.25"]), LOG),
        start_parley(world.node_args(1, &[]), LOG),
        start_parley(world.node_args(2, &[]), LOG),
    );
    world.add_node(0, n1);
    world.add_node(1, n2);
    world.add_node(2, n3);
    let live = Arc::clone(&world.live);

    // alice on node 1 (WebSocket), bob on node 3 (WebSocket, until it dies),
    // carol by long-polling to random nodes, eve on node 3 only (never
    // reconnected). A first connection goes to live node `turn + 1`.
    let mut users = Vec::new();
    for (i, (name, transport, turn)) in [
        ("alice", Transport::Ws, 2),
        ("bob", Transport::Ws, 1),
        ("carol", Transport::Lp, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let token = register(world.addr(i % 3), name).await;
        let mut user = User {
            name: name.into(),
            token,
            transport,
            live: Arc::clone(&live),
            turn,
            rx: None,
            send: None,
            seen: BTreeMap::new(),
            acks: BTreeMap::new(),
            presence: Vec::new(),
            sent: 0,
            reconnects: 0,
        };
        user.connect().await;
        users.push(user);
    }
    let mut eve = pinned(&world, 2, "eve").await;
    eve.send_acked(&room("lobby"), "eve-0").await;

    phase(&mut world, &mut users, "baseline", Fault::None).await;

    // A node dies mid-stream: its clients resume elsewhere, its users go
    // offline everywhere else within 20 s.
    // Alice (node 1) sees eve (node 3) online first.
    let alice = &mut users[0];
    let deadline = Instant::now() + WAIT;
    while alice.presence.iter().rev().find(|(u, _)| u == "eve") != Some(&("eve".to_owned(), true)) {
        assert!(
            Instant::now() < deadline,
            "alice never saw eve online: {:?}",
            alice.presence
        );
        alice.next(Instant::now() + Duration::from_secs(1)).await;
    }
    alice.presence.clear();
    let killed_at = Instant::now();
    phase(&mut world, &mut users, "SIGKILL node 3", Fault::KillNode(2)).await;
    let alice = &mut users[0];
    let deadline = killed_at + Duration::from_secs(20);
    while !alice.presence.contains(&("eve".to_owned(), false)) {
        assert!(
            Instant::now() < deadline,
            "eve still online for alice 20 s after node 3 died"
        );
        if alice.send.is_none() {
            alice.connect().await;
        }
        alice.next(Instant::now() + Duration::from_secs(1)).await;
    }
    eprintln!(
        "[cluster] eve offline for alice {:?} after the kill",
        killed_at.elapsed()
    );
    world.start_node(2, &[]).await;

    phase(
        &mut world,
        &mut users,
        "pub/sub connections killed",
        Fault::KillPubSub,
    )
    .await;
    phase(
        &mut world,
        &mut users,
        "Redis restarted",
        Fault::RestartRedis,
    )
    .await;
    phase(
        &mut world,
        &mut users,
        "PostgreSQL fast restart",
        Fault::RestartPostgres,
    )
    .await;
    phase(&mut world, &mut users, "all together", Fault::All).await;

    // Typing and polls cross nodes too: frank on node 1, gina on node 2.
    let mut frank = pinned(&world, 0, "frank").await;
    let mut gina = pinned(&world, 1, "gina").await;
    let is_gina = |u: &parley_common::Username| u.as_str() == "gina";
    // Both see each other online first (so typing has somewhere to go).
    frank
        .wait_for(
            "gina online",
            |m| matches!(m, ServerMsg::Presence { user, online: true, .. } if is_gina(user)),
        )
        .await;
    // Typing is ephemeral (at most once between nodes): like a real client,
    // gina says it again every second while she types.
    let deadline = Instant::now() + WAIT;
    'typing: loop {
        assert!(Instant::now() < deadline, "frank never saw gina typing");
        gina.say(&json!({"type": "typing", "room": "lobby"}));
        let until = Instant::now() + Duration::from_secs(1);
        while let Some(m) = frank.next(until).await {
            if matches!(&m, ServerMsg::Typing { user, .. } if is_gina(user)) {
                break 'typing;
            }
        }
    }
    frank.say(&json!({"type": "create_poll", "room": "lobby", "question": "Lunch?", "options": ["soup", "salad"]}));
    let ServerMsg::Poll(poll) = gina
        .wait_for("the poll", |m| matches!(m, ServerMsg::Poll(_)))
        .await
    else {
        unreachable!()
    };
    gina.say(&json!({"type": "vote", "poll": poll.id, "option": 1}));
    frank
        .wait_for("gina's vote counted", |m| {
            matches!(m, ServerMsg::Tally { poll: p, tally, .. } if *p == poll.id && tally.counts == [0, 1])
        })
        .await;
    eprintln!("[cluster] typing, a new poll and a vote crossed nodes");

    // The login limit holds across nodes: each node alone would let
    // 3 × LOGIN_RATE wrong guesses through.
    let mut let_through = 0;
    for i in 0..(3 * LOGIN_RATE as usize) {
        let body = json!({"name": "alice", "password": "wrong password guess"}).to_string();
        let addr = world.addr(i % 3);
        let r = try_http_to(addr, "POST", "/api/login", Some(&body), &[])
            .await
            .unwrap();
        if r.status != 429 {
            let_through += 1;
        }
    }
    // A fixed one-minute window: at most two windows' worth at an edge.
    assert!(
        let_through <= 2 * LOGIN_RATE as usize,
        "{let_through} login attempts got through across nodes"
    );
    eprintln!(
        "[cluster] login guesses let through across 3 nodes: {let_through} of {}",
        3 * LOGIN_RATE
    );
    if std::env::var_os("PARLEY_CLUSTER_LOGS").is_some() {
        eprintln!("{}", world.logs());
    }
}
