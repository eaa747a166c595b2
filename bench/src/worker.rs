//! The load generator proper: one process holds thousands of client connections
//! on a single-threaded runtime (it is pinned to one core anyway) and runs the
//! steps the scenario runner sends it.
//!
//! Open loop: each sender's messages are *scheduled* (`start + (k + phase) /
//! rate`), sent when due — or at once, late, when the generator fell behind — and
//! always stamped with the scheduled time, so a slow server (or a slow generator)
//! shows up as latency instead of quietly lowering the load.
//!
//! [`Worker`] is the in-process API (used by the smoke test too); [`serve`] is the
//! `parley-bench worker` process around it, speaking [`crate::wire`] over stdio.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::proto::{Delivery, Incoming, Proto, payload};
use crate::wire::{
    Command, ConnectReport, ConnectSpec, Hist, Report, SenderSpec, StepPlan, StepReport, VotePlan,
    VoteReport, new_histogram,
};
use anyhow::{Context, Error, Result, bail};

pub type Ws = WebSocketStream<TcpStream>;

/// Wall clock in µs since the Unix epoch: comparable across processes.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The `Instant` at which the wall clock will read `at_us`.
fn instant_at(at_us: u64) -> Instant {
    let now = now_us();
    if at_us >= now {
        Instant::now() + Duration::from_micros(at_us - now)
    } else {
        Instant::now()
            .checked_sub(Duration::from_micros(now - at_us))
            .unwrap_or_else(Instant::now)
    }
}

/// Small buffers: a generator holds up to ~5,000 connections per process.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// What every client task of this worker updates (single-threaded: `RefCell`).
struct Counters {
    /// The step being counted (0: none).
    step: u32,
    received: u64,
    duplicates: u64,
    reordered: u64,
    stale: u64,
    /// Connections that ended, since the worker started.
    closed: u32,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
    send_lag: Histogram<u64>,
    /// Messages sent in this step, per room index.
    sent: Vec<u64>,
    /// Vote burst: when each client voted, when it saw the exact final tally, how
    /// many tally frames it got.
    voted_us: Vec<u64>,
    final_us: Vec<u64>,
    tally_frames: Vec<u32>,
}

impl Counters {
    fn new(rooms: usize, clients: usize) -> Result<Self> {
        Ok(Self {
            step: 0,
            received: 0,
            duplicates: 0,
            reordered: 0,
            stale: 0,
            closed: 0,
            errors: 0,
            first_error: None,
            latency: new_histogram()?,
            send_lag: new_histogram()?,
            sent: vec![0; rooms],
            voted_us: vec![0; clients],
            final_us: vec![0; clients],
            tally_frames: vec![0; clients],
        })
    }

    fn start_step(&mut self, step: u32) {
        self.step = step;
        self.received = 0;
        self.duplicates = 0;
        self.reordered = 0;
        self.stale = 0;
        self.errors = 0;
        self.first_error = None;
        self.latency.reset();
        self.send_lag.reset();
        self.sent.iter_mut().for_each(|s| *s = 0);
    }

    fn error(&mut self, text: &str) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(text.chars().take(300).collect());
        }
    }
}

/// A step as the client tasks see it.
enum Active {
    Messages {
        plan: StepPlan,
        by_client: HashMap<u32, SenderSpec>,
    },
    Vote(VotePlan),
}

/// Per (receiver, sender): the next sequence number expected and the ones
/// skipped so far (normally none), to tell late arrivals from duplicates.
#[derive(Default)]
struct Track {
    next: u32,
    missing: Vec<u32>,
}

enum Seen {
    New,
    Late,
    Duplicate,
}

impl Track {
    fn observe(&mut self, seq: u32) -> Seen {
        if seq == self.next {
            self.next += 1;
            Seen::New
        } else if seq > self.next {
            // A gap: remember what is missing (bounded, in case of a huge gap).
            let room = 100_000usize.saturating_sub(self.missing.len());
            self.missing.extend((self.next..seq).take(room));
            self.next = seq + 1;
            Seen::New
        } else if let Some(i) = self.missing.iter().position(|&m| m == seq) {
            self.missing.swap_remove(i);
            Seen::Late
        } else {
            Seen::Duplicate
        }
    }
}

/// One client's fixed facts.
struct ClientCtx {
    index: u32,
    room: Rc<str>,
    room_idx: usize,
    proto: Proto,
    counters: Rc<RefCell<Counters>>,
}

/// A sender's schedule in the current step.
struct Sending {
    step: u32,
    id: u32,
    rate: f64,
    phase: f64,
    seq: u32,
    start_us: u64,
    end_us: u64,
    body_len: usize,
}

impl Sending {
    fn scheduled_us(&self) -> u64 {
        let offset = (f64::from(self.seq) + self.phase) / self.rate * 1e6;
        // Non-negative and far below u64::MAX for any sane plan.
        self.start_us + offset.max(0.0) as u64
    }
}

/// A vote to cast in the current vote burst.
struct Voting {
    at_us: u64,
    frame: String,
    /// `"voters":N,`: the frame that claims the final count.
    marker: String,
    expect: Vec<u64>,
    done: bool,
}

pub struct Worker {
    rooms: Vec<String>,
    counters: Rc<RefCell<Counters>>,
    plan: watch::Sender<Option<Rc<Active>>>,
}

/// How one connection attempt went.
struct Opened {
    start_us: u64,
    upgraded_us: u64,
    ready_us: u64,
}

impl Worker {
    /// Opens every connection of `spec` (at most `concurrency` attempts at once)
    /// and returns once each is ready or has failed; the ready ones keep running
    /// (reading, answering pings) until the worker is dropped.
    pub async fn connect(spec: ConnectSpec) -> Result<(Self, ConnectReport)> {
        let mut rooms: Vec<String> = Vec::new();
        let mut room_index: HashMap<String, usize> = HashMap::new();
        for c in &spec.clients {
            if !room_index.contains_key(&c.room) {
                room_index.insert(c.room.clone(), rooms.len());
                rooms.push(c.room.clone());
            }
        }
        let counters = Rc::new(RefCell::new(Counters::new(
            rooms.len(),
            spec.clients.len(),
        )?));
        let (plan, _) = watch::channel(None);
        let permits = Rc::new(Semaphore::new(spec.concurrency.max(1)));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<Opened, String>>();
        let timeout = Duration::from_millis(spec.timeout_ms.max(1));
        let room_names: Vec<Rc<str>> = rooms.iter().map(|r| Rc::from(r.as_str())).collect();
        let total = spec.clients.len();
        for (i, client) in spec.clients.into_iter().enumerate() {
            let room_idx = room_index.get(&client.room).copied().unwrap_or(0);
            let ctx = ClientCtx {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                room: Rc::clone(&room_names[room_idx]),
                room_idx,
                proto: spec.proto,
                counters: Rc::clone(&counters),
            };
            let plan_rx = plan.subscribe();
            let permits = Rc::clone(&permits);
            let done = done_tx.clone();
            let (addr, source_ip) = (spec.addr, spec.source_ip);
            tokio::task::spawn_local(async move {
                let Ok(permit) = permits.acquire().await else {
                    return;
                };
                let start_us = now_us();
                let attempt = open(
                    ctx.proto,
                    addr,
                    source_ip,
                    &ctx.room,
                    client.token.as_deref(),
                );
                let result = tokio::time::timeout(timeout, attempt).await;
                drop(permit);
                match result {
                    Ok(Ok((ws, upgraded_us))) => {
                        let opened = Opened {
                            start_us,
                            upgraded_us,
                            ready_us: now_us(),
                        };
                        let _ = done.send(Ok(opened));
                        drop(done);
                        client_loop(ws, ctx, plan_rx).await;
                    }
                    Ok(Err(err)) => {
                        let _ = done.send(Err(format!("{err:#}")));
                    }
                    Err(_) => {
                        let _ = done.send(Err(format!(
                            "not ready after {:.0} s",
                            timeout.as_secs_f64()
                        )));
                    }
                }
            });
        }
        drop(done_tx);

        let mut report = ConnectReport {
            first_start_us: u64::MAX,
            ..ConnectReport::default()
        };
        let mut upgrade = new_histogram()?;
        let mut ready = new_histogram()?;
        for _ in 0..total {
            let Some(result) = done_rx.recv().await else {
                break;
            };
            match result {
                Ok(o) => {
                    report.ok += 1;
                    report.first_start_us = report.first_start_us.min(o.start_us);
                    report.last_upgraded_us = report.last_upgraded_us.max(o.upgraded_us);
                    report.last_ready_us = report.last_ready_us.max(o.ready_us);
                    report.upgraded_at_us.push(o.upgraded_us);
                    report.ready_at_us.push(o.ready_us);
                    upgrade.saturating_record(o.upgraded_us.saturating_sub(o.start_us).max(1));
                    ready.saturating_record(o.ready_us.saturating_sub(o.start_us).max(1));
                }
                Err(e) => {
                    report.failed += 1;
                    if report.errors.len() < 5 && !report.errors.contains(&e) {
                        report.errors.push(e);
                    }
                }
            }
        }
        if report.first_start_us == u64::MAX {
            report.first_start_us = 0;
        }
        report.upgrade = Hist::from_histogram(&upgrade);
        report.ready = Hist::from_histogram(&ready);
        Ok((
            Self {
                rooms,
                counters,
                plan,
            },
            report,
        ))
    }

    /// Runs one load step and reports what the receivers saw, once the drain
    /// time after the last scheduled send is over.
    pub async fn run(&self, plan: StepPlan) -> Result<StepReport> {
        if plan.step == 0 {
            bail!("step numbers start at 1");
        }
        let step = plan.step;
        self.counters.borrow_mut().start_step(step);
        let end = instant_at(plan.start_us + (plan.duration_ms + plan.drain_ms) * 1000);
        let by_client = plan.senders.iter().map(|s| (s.client, *s)).collect();
        self.plan
            .send_replace(Some(Rc::new(Active::Messages { plan, by_client })));
        tokio::time::sleep_until(end).await;
        self.plan.send_replace(None);
        let mut c = self.counters.borrow_mut();
        c.step = 0;
        Ok(StepReport {
            step,
            sent: self
                .rooms
                .iter()
                .cloned()
                .zip(c.sent.iter().copied())
                .collect(),
            received: c.received,
            duplicates: c.duplicates,
            reordered: c.reordered,
            stale: c.stale,
            closed: c.closed,
            errors: c.errors,
            first_error: c.first_error.clone(),
            latency: Hist::from_histogram(&c.latency),
            send_lag: Hist::from_histogram(&c.send_lag),
        })
    }

    /// Parley's vote burst: every client votes once at its scheduled time, then
    /// waits for the tally that shows every vote.
    pub async fn vote(&self, plan: VotePlan) -> Result<VoteReport> {
        let end = instant_at(plan.start_us + plan.window_ms * 1000 + plan.deadline_ms * 1000);
        {
            let mut c = self.counters.borrow_mut();
            c.voted_us.iter_mut().for_each(|v| *v = 0);
            c.final_us.iter_mut().for_each(|v| *v = 0);
            c.tally_frames.iter_mut().for_each(|v| *v = 0);
            c.errors = 0;
            c.first_error = None;
        }
        let clients = self.counters.borrow().final_us.len();
        self.plan.send_replace(Some(Rc::new(Active::Vote(plan))));
        // Done when every client has its final tally, or at the deadline.
        loop {
            let finished = self.counters.borrow().final_us.iter().all(|&f| f != 0);
            if finished || Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.plan.send_replace(None);
        let c = self.counters.borrow();
        Ok(VoteReport {
            clients: u32::try_from(clients).unwrap_or(u32::MAX),
            voted_us: c.voted_us.clone(),
            final_us: c.final_us.clone(),
            tally_frames: c.tally_frames.clone(),
            closed: c.closed,
            errors: c.errors,
            first_error: c.first_error.clone(),
        })
    }
}

/// TCP from `source_ip`, the WebSocket upgrade, then the protocol's greeting.
/// Returns the socket and the wall time the upgrade completed.
async fn open(
    proto: Proto,
    addr: SocketAddr,
    source_ip: Ipv4Addr,
    room: &str,
    token: Option<&str>,
) -> Result<(Ws, u64)> {
    let socket = TcpSocket::new_v4().context("socket")?;
    socket
        .bind(SocketAddr::from((source_ip, 0)))
        .with_context(|| format!("bind {source_ip}"))?;
    let stream = socket.connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut request = proto.url(addr, room).into_client_request()?;
    if let Some(token) = token {
        let cookie = format!("{}={token}", parley_common::SESSION_COOKIE);
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie)?);
    }
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(client_config()))
            .await
            .context("upgrade")?;
    let upgraded = now_us();
    greet(proto, &mut ws).await?;
    Ok((ws, upgraded))
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                bail!("closed by the server: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(Error::msg(format!("read: {e}"))),
            None => bail!("connection ended"),
        }
    }
}

/// Until the client may chat: Parley's `welcome`, the plain server's `ready`, or
/// the Socket.IO handshake and the peer's `ready` event.
async fn greet(proto: Proto, ws: &mut Ws) -> Result<()> {
    match proto {
        Proto::Parley => {
            let hello = format!(
                r#"{{"type":"hello","protocol":{}}}"#,
                parley_common::PROTOCOL_VERSION
            );
            ws.send(Message::text(hello)).await?;
            loop {
                let t = next_text(ws).await?;
                if t.starts_with(r#"{"type":"welcome""#) {
                    return Ok(());
                }
                if t.starts_with(r#"{"type":"error""#) {
                    bail!("hello refused: {t}");
                }
            }
        }
        Proto::Plain => loop {
            if next_text(ws).await? == "ready" {
                return Ok(());
            }
        },
        Proto::SocketIo => {
            let open = next_text(ws).await?;
            if !open.starts_with("0{") {
                bail!("expected the Engine.IO open packet, got {open}");
            }
            ws.send(Message::text("40")).await?;
            loop {
                let t = next_text(ws).await?;
                if t.starts_with(r#"42["ready""#) {
                    return Ok(());
                }
                if t == "2" {
                    ws.send(Message::text("3")).await?;
                } else if t.starts_with("44") {
                    bail!("socket.io connect refused: {t}");
                }
            }
        }
    }
}

/// A ready client: reads everything (counting test messages), answers pings, and
/// sends on its schedule when the current step names it a sender.
async fn client_loop(mut ws: Ws, ctx: ClientCtx, mut plan_rx: watch::Receiver<Option<Rc<Active>>>) {
    let mut tracks: Vec<Track> = Vec::new();
    let mut track_step = 0u32;
    let mut sending: Option<Sending> = None;
    let mut voting: Option<Voting> = None;
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    let closed = |ctx: &ClientCtx| ctx.counters.borrow_mut().closed += 1;
    loop {
        tokio::select! {
            changed = plan_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let active = plan_rx.borrow_and_update().clone();
                sending = None;
                voting = None;
                match active.as_deref() {
                    Some(Active::Messages { plan, by_client }) => {
                        if let Some(s) = by_client.get(&ctx.index) {
                            let next = Sending {
                                step: plan.step,
                                id: s.id,
                                rate: s.rate.max(1e-9),
                                phase: s.phase,
                                seq: 0,
                                start_us: plan.start_us,
                                end_us: plan.start_us + plan.duration_ms * 1000,
                                body_len: plan.body_len,
                            };
                            timer.as_mut().reset(instant_at(next.scheduled_us()));
                            sending = Some(next);
                        }
                    }
                    Some(Active::Vote(plan)) => {
                        let v = vote_for(plan, ctx.index);
                        timer.as_mut().reset(instant_at(v.at_us));
                        voting = Some(v);
                    }
                    None => {}
                }
            }
            () = &mut timer, if sending.is_some() || voting.as_ref().is_some_and(|v| !v.done) => {
                timer.as_mut().reset(far());
                if let Some(v) = voting.as_mut() {
                    if !v.done {
                        v.done = true;
                        let frame = v.frame.clone();
                        if ws.send(Message::text(frame)).await.is_err() {
                            closed(&ctx);
                            return;
                        }
                        let mut c = ctx.counters.borrow_mut();
                        if let Some(slot) = c.voted_us.get_mut(ctx.index as usize) {
                            *slot = now_us();
                        }
                    }
                    continue;
                }
                let Some(s) = sending.as_mut() else { continue };
                let ts = s.scheduled_us();
                if ts >= s.end_us {
                    sending = None;
                    continue;
                }
                let body = payload(s.step, s.id, s.seq, ts, s.body_len);
                let frame = ctx.proto.send_frame(&ctx.room, s.step, s.seq, &body);
                let lag = now_us().saturating_sub(ts);
                if ws.send(Message::text(frame)).await.is_err() {
                    closed(&ctx);
                    return;
                }
                {
                    let mut c = ctx.counters.borrow_mut();
                    c.send_lag.saturating_record(lag.max(1));
                    if let Some(n) = c.sent.get_mut(ctx.room_idx) {
                        *n += 1;
                    }
                }
                s.seq += 1;
                let next = s.scheduled_us();
                if next < s.end_us {
                    timer.as_mut().reset(instant_at(next));
                } else {
                    sending = None;
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        closed(&ctx);
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                if let Some(v) = voting.as_mut() {
                    on_vote_frame(&ctx, v, &text);
                    continue;
                }
                match ctx.proto.classify(&text) {
                    Incoming::Delivery(d) => record(&ctx, d, &mut tracks, &mut track_step),
                    Incoming::Ping => {
                        if ws.send(Message::text("3")).await.is_err() {
                            closed(&ctx);
                            return;
                        }
                    }
                    Incoming::Error => ctx.counters.borrow_mut().error(&text),
                    Incoming::Disconnect => {
                        closed(&ctx);
                        return;
                    }
                    Incoming::Other => {}
                }
            }
        }
    }
}

fn record(ctx: &ClientCtx, d: Delivery, tracks: &mut Vec<Track>, track_step: &mut u32) {
    let now = now_us();
    let mut c = ctx.counters.borrow_mut();
    if d.step == 0 || d.step != c.step {
        c.stale += 1;
        return;
    }
    if *track_step != d.step {
        tracks.clear();
        *track_step = d.step;
    }
    let i = d.sender as usize;
    if tracks.len() <= i {
        tracks.resize_with(i + 1, Track::default);
    }
    match tracks[i].observe(d.seq) {
        Seen::New => {
            c.received += 1;
            c.latency.saturating_record(now.saturating_sub(d.ts).max(1));
        }
        Seen::Late => {
            c.received += 1;
            c.reordered += 1;
            c.latency.saturating_record(now.saturating_sub(d.ts).max(1));
        }
        Seen::Duplicate => c.duplicates += 1,
    }
}

/// Client `index` of this worker votes for option `global % options` at
/// `start + global / voters × window`.
fn vote_for(plan: &VotePlan, index: u32) -> Voting {
    let global = u64::from(plan.first_index) + u64::from(index);
    let options = u64::from(plan.options.max(1));
    let voters = plan.voters.max(1);
    let at_us = plan.start_us + global * plan.window_ms * 1000 / voters;
    let option = global % options;
    let expect = (0..options)
        .map(|o| (voters + options - 1 - o) / options)
        .collect();
    Voting {
        at_us,
        frame: format!(
            r#"{{"type":"vote","poll":{},"option":{option}}}"#,
            plan.poll
        ),
        marker: format!(r#""voters":{voters},"#),
        expect,
        done: false,
    }
}

fn on_vote_frame(ctx: &ClientCtx, v: &Voting, text: &str) {
    if text.starts_with(r#"{"type":"error""#) {
        ctx.counters.borrow_mut().error(text);
        return;
    }
    if !text.starts_with(r#"{"type":"tally""#) {
        return;
    }
    let now = now_us();
    let mut c = ctx.counters.borrow_mut();
    let i = ctx.index as usize;
    if let Some(n) = c.tally_frames.get_mut(i) {
        *n += 1;
    }
    if !text.contains(&v.marker) || c.final_us.get(i).is_some_and(|&f| f != 0) {
        return;
    }
    // Only the frame claiming the final count is parsed in full and checked.
    let counts: Option<Vec<u64>> = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|j| {
            j.get("counts")?
                .as_array()?
                .iter()
                .map(serde_json::Value::as_u64)
                .collect()
        });
    if counts.as_ref() == Some(&v.expect) {
        if let Some(f) = c.final_us.get_mut(i) {
            *f = now;
        }
    } else {
        c.error(&format!("final tally with wrong counts: {text}"));
    }
}

/// `parley-bench worker`: commands on stdin, reports on stdout, one JSON object
/// per line. Ends at `Quit`, when stdin closes (the runner is gone) or after
/// `max_secs`, whichever comes first.
pub fn serve(max_secs: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        tokio::select! {
            r = serve_commands() => r,
            () = tokio::time::sleep(Duration::from_secs(max_secs)) => {
                Err(Error::msg(format!("worker stopped after its limit of {max_secs} s")))
            }
        }
    })
}

async fn serve_commands() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let mut worker: Option<Worker> = None;
    while let Some(line) = lines.next_line().await? {
        let command: Command = serde_json::from_str(&line).context("bad command")?;
        let report = match command {
            Command::Connect(spec) => match Worker::connect(spec).await {
                Ok((w, r)) => {
                    worker = Some(w);
                    Report::Connected(r)
                }
                Err(e) => Report::Failed(format!("{e:#}")),
            },
            Command::Run(plan) => match &worker {
                Some(w) => w
                    .run(plan)
                    .await
                    .map_or_else(|e| Report::Failed(format!("{e:#}")), Report::Step),
                None => Report::Failed("run before connect".into()),
            },
            Command::Vote(plan) => match &worker {
                Some(w) => w
                    .vote(plan)
                    .await
                    .map_or_else(|e| Report::Failed(format!("{e:#}")), Report::Vote),
                None => Report::Failed("vote before connect".into()),
            },
            Command::Quit => return Ok(()),
        };
        let mut text = serde_json::to_string(&report)?;
        text.push('\n');
        out.write_all(text.as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}
