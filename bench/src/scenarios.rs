//! The scenarios (S1–S5 of issue #7, plus the SPA's download size), the servers
//! they run against, and their results.
//!
//! Every run starts its server afresh (pinned to [`SERVER_CPU`]), with a fresh
//! copy of the prepared database for Parley, and stops it afterwards; runs are
//! interleaved (scenario by scenario, size by size, the servers in a rotating
//! order) and repeated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::generator::{Connected, Generator, Sender, SourceAddrs, StepOutcome};
use crate::parley_db::{self, Accounts};
use crate::procs::{self, SERVER_CPU, ServerProc};
use crate::proto::Proto;
use crate::wire::ClientSpec;
use anyhow::{Context, Result, bail};

/// A server is stopped by force after this long, whatever happens to the runner.
const SERVER_MAX_SECS: u64 = 1800;
/// The latency objective of the fan-out sweep.
pub const SLO_P99_MS: f64 = 250.0;
/// A step is invalid when the generator used this much of its core.
pub const GENERATOR_SATURATED: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Server {
    Parley,
    Socketioxide,
    NodeSocketIo,
    Flask,
    /// S2's reference: a bare tokio-tungstenite server (`crate::bare`). Not a
    /// peer and not in [`Server::ALL`]: S2 runs it beside the others.
    Bare,
}

impl Server {
    pub const ALL: [Server; 4] = [
        Server::Parley,
        Server::Socketioxide,
        Server::NodeSocketIo,
        Server::Flask,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Parley => "Parley",
            Self::Socketioxide => "socketioxide",
            Self::NodeSocketIo => "Node socket.io",
            Self::Flask => "Flask + gevent-websocket",
            Self::Bare => "bare tokio-tungstenite (floor)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::Parley => "parley",
            Self::Socketioxide => "socketioxide",
            Self::NodeSocketIo => "socketio",
            Self::Flask => "flask",
            Self::Bare => "bare",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn proto(self) -> Proto {
        match self {
            Self::Parley => Proto::Parley,
            Self::Socketioxide | Self::NodeSocketIo => Proto::SocketIo,
            Self::Flask | Self::Bare => Proto::Plain,
        }
    }
}

/// Sizes and durations of one benchmark run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sizes {
    pub reps: usize,
    pub s1_connections: Vec<usize>,
    pub s2_connections: usize,
    /// Connection attempts in flight per generator process during the ramp.
    pub s2_concurrency: usize,
    pub s3_rooms: Vec<usize>,
    /// Offered deliveries per second, in order.
    pub s3_ladder: Vec<f64>,
    pub s3_senders: usize,
    pub s3_step_ms: u64,
    pub s3_drain_ms: u64,
    pub s4_voters: usize,
    pub s5_rooms: usize,
    pub s5_per_room: usize,
    pub s5_secs: u64,
    pub s5_interval_s: f64,
    pub body_len: usize,
    pub settle_ms: u64,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            reps: 2,
            s1_connections: vec![1000, 5000, 10_000, 18_000],
            s2_connections: 10_000,
            s2_concurrency: 256,
            s3_rooms: vec![100, 1000, 5000],
            s3_ladder: vec![
                5e3, 1e4, 2.5e4, 5e4, 1e5, 1.5e5, 2e5, 3e5, 4e5, 5e5, 6.5e5, 8e5, 1e6, 1.25e6,
                1.5e6, 2e6,
            ],
            s3_senders: 100,
            s3_step_ms: 3000,
            s3_drain_ms: 1000,
            s4_voters: 5000,
            s5_rooms: 1000,
            s5_per_room: 10,
            s5_secs: 30,
            s5_interval_s: 10.0,
            body_len: 100,
            settle_ms: 2000,
        }
    }

    pub fn quick() -> Self {
        Self {
            reps: 1,
            s1_connections: vec![1000, 5000],
            s2_connections: 5000,
            s2_concurrency: 256,
            s3_rooms: vec![100, 1000],
            s3_ladder: vec![5e3, 2.5e4, 5e4, 1e5, 2e5, 3e5, 5e5, 8e5, 1.2e6],
            s3_senders: 100,
            s3_step_ms: 2000,
            s3_drain_ms: 1000,
            s4_voters: 1000,
            s5_rooms: 200,
            s5_per_room: 10,
            s5_secs: 15,
            s5_interval_s: 10.0,
            body_len: 100,
            settle_ms: 1000,
        }
    }
}

/// Where everything is.
#[derive(Debug)]
pub struct Setup {
    pub root: PathBuf,
    /// Scratch space: databases, server logs, raw results (`target/bench`).
    pub work: PathBuf,
    /// This program (the workers are started from it).
    pub exe: PathBuf,
    pub parley: PathBuf,
    /// Flags that lift Parley's abuse limits (connection caps, per-connection
    /// message rates) where this build has them: they would refuse the load
    /// itself. The limiter code still runs.
    pub parley_flags: Vec<String>,
    pub python: PathBuf,
    pub node: PathBuf,
    pub socketioxide: PathBuf,
}

impl Setup {
    pub fn discover(root: &Path) -> Result<Self> {
        let root = root.to_path_buf();
        let exe = std::env::current_exe().context("own path")?;
        // Beside this program (wherever CARGO_TARGET_DIR put both), else the
        // default target directory.
        let parley = exe
            .parent()
            .map(|dir| dir.join("parley"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| root.join("target/release/parley"));
        if !parley.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p parley-backend`",
                parley.display()
            );
        }
        let help = crate::sysinfo::output(std::process::Command::new(&parley).arg("--help"))
            .unwrap_or_default();
        let mut parley_flags = Vec::new();
        for (flag, value) in [
            ("--max-connections", "1000000"),
            ("--max-connections-per-user", "1000000"),
            ("--message-rate", "1000000"),
            ("--message-burst", "1000000"),
            ("--user-message-rate", "1000000"),
        ] {
            if help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")) {
                parley_flags.push(flag.to_owned());
                parley_flags.push(value.to_owned());
            }
        }
        Ok(Self {
            work: root.join("target/bench"),
            exe,
            parley,
            parley_flags,
            python: root.join(".tools/bench-venv/bin/python"),
            node: std::path::PathBuf::from("node"),
            socketioxide: root
                .join("bench/peers/socketioxide/target/release/bench-peer-socketioxide"),
            root,
        })
    }

    /// Why `server` cannot run here, if it cannot.
    pub fn missing(&self, server: Server) -> Option<String> {
        let need = |p: &Path, how: &str| {
            (!p.exists()).then(|| format!("{} not found ({how})", p.display()))
        };
        match server {
            Server::Parley => need(&self.parley, "cargo build --release -p parley-backend"),
            Server::Flask => need(&self.python, "cargo xtask bench installs it"),
            Server::NodeSocketIo => need(
                &self
                    .root
                    .join("bench/peers/socketio/node_modules/socket.io"),
                "cargo xtask bench installs it",
            ),
            Server::Socketioxide => need(&self.socketioxide, "cargo xtask bench builds it"),
            Server::Bare => None,
        }
    }
}

/// What every scenario needs.
pub struct Ctx<'a> {
    pub setup: &'a Setup,
    pub sizes: &'a Sizes,
    pub accounts: Option<&'a Accounts>,
    pub addrs: SourceAddrs,
}

impl Ctx<'_> {
    fn start(&self, server: Server, label: &str) -> Result<(ServerProc, Option<PathBuf>)> {
        let port = procs::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let setup = self.setup;
        let log = setup.work.join("logs").join(format!("{label}.log"));
        let mut db = None;
        let cmd = match server {
            Server::Parley => {
                let accounts = self.accounts.context("no Parley accounts prepared")?;
                let path = accounts.fresh_copy(&setup.work.join("run").join(label))?;
                let dist = setup.root.join("dist");
                let static_dir = if dist.join("index.html").is_file() {
                    dist
                } else {
                    setup.work.join("run")
                };
                let mut cmd = procs::pinned(&setup.parley, SERVER_CPU);
                cmd.arg("--listen")
                    .arg(addr.to_string())
                    .arg("--database")
                    .arg(&path)
                    .arg("--static-dir")
                    .arg(static_dir)
                    .args(&setup.parley_flags)
                    .env("RUST_LOG", "warn");
                db = Some(path);
                cmd
            }
            Server::Flask => {
                let mut cmd = procs::pinned(&setup.python, SERVER_CPU);
                cmd.arg(setup.root.join("bench/peers/flask/server.py"))
                    .arg(port.to_string());
                cmd
            }
            Server::NodeSocketIo => {
                let mut cmd = procs::pinned(&setup.node, SERVER_CPU);
                cmd.arg(setup.root.join("bench/peers/socketio/server.js"))
                    .arg(port.to_string())
                    .env("NODE_ENV", "production");
                cmd
            }
            Server::Socketioxide => {
                let mut cmd = procs::pinned(&setup.socketioxide, SERVER_CPU);
                cmd.arg(port.to_string());
                cmd
            }
            Server::Bare => {
                let mut cmd = procs::pinned(&setup.exe, SERVER_CPU);
                cmd.arg("bare-server").arg(port.to_string());
                cmd
            }
        };
        let cmd = procs::guarded(&setup.exe, SERVER_MAX_SECS, &cmd);
        let proc = ServerProc::start(cmd, addr, &log, label)?;
        Ok((proc, db))
    }

    /// `n` clients in one room (Parley: the lobby, one account each).
    fn one_room(&self, server: Server, n: usize) -> Result<Vec<ClientSpec>> {
        if server == Server::Parley {
            let accounts = self.accounts.context("no Parley accounts prepared")?;
            if accounts.lobby.len() < n {
                bail!(
                    "only {} Parley accounts prepared, {n} needed",
                    accounts.lobby.len()
                );
            }
            Ok(accounts.lobby[..n]
                .iter()
                .map(|a| ClientSpec {
                    room: parley_common::LOBBY.to_owned(),
                    token: Some(a.token.clone()),
                })
                .collect())
        } else {
            Ok((0..n)
                .map(|_| ClientSpec {
                    room: "bench".to_owned(),
                    token: None,
                })
                .collect())
        }
    }

    async fn connect(
        &mut self,
        server: Server,
        proc: &ServerProc,
        clients: Vec<ClientSpec>,
        concurrency: usize,
    ) -> Result<(Generator, Connected)> {
        Generator::connect(
            &self.setup.exe,
            server.proto(),
            proc.addr,
            clients,
            concurrency,
            &mut self.addrs,
        )
        .await
    }

    fn settle(&self) -> Duration {
        Duration::from_millis(self.sizes.settle_ms)
    }
}

// ---------------------------------------------------------------------------
// S1: idle memory

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S1Run {
    pub server: Server,
    pub rep: usize,
    pub connections: usize,
    pub connected: u64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// Server RSS growth per connection.
    pub bytes_per_conn: f64,
    /// Growth of all TCP socket memory (both ends, loopback) per connection.
    pub kernel_bytes_per_conn: f64,
    pub error: Option<String>,
}

pub async fn s1(ctx: &mut Ctx<'_>, server: Server, n: usize, rep: usize) -> S1Run {
    let mut run = S1Run {
        server,
        rep,
        connections: n,
        connected: 0,
        rss_before_kib: 0,
        rss_after_kib: 0,
        bytes_per_conn: 0.0,
        kernel_bytes_per_conn: 0.0,
        error: None,
    };
    let result: Result<()> = async {
        let label = format!("s1-{}-{n}-r{rep}", server.key());
        let (proc, _) = ctx.start(server, &label)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss0 = proc.rss_kib()?;
        let sock0 = procs::tcp_socket_bytes()?;
        let clients = ctx.one_room(server, n)?;
        let (generator, connected) = ctx.connect(server, &proc, clients, 128).await?;
        tokio::time::sleep(ctx.settle()).await;
        let rss1 = proc.rss_kib()?;
        let sock1 = procs::tcp_socket_bytes()?;
        generator.quit().await;
        drop(proc);
        run.connected = connected.ok;
        run.rss_before_kib = rss0;
        run.rss_after_kib = rss1;
        let per = |d: f64| d / connected.ok.max(1) as f64;
        run.bytes_per_conn = per((rss1 as f64 - rss0 as f64) * 1024.0);
        run.kernel_bytes_per_conn = per(sock1 as f64 - sock0 as f64);
        if connected.failed > 0 {
            bail!(
                "{} of {n} connections failed: {}",
                connected.failed,
                connected.errors.join("; ")
            );
        }
        Ok(())
    }
    .await;
    run.error = result.err().map(|e| format!("{e:#}"));
    run
}

// ---------------------------------------------------------------------------
// S2: connection ramp

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S2Run {
    pub server: Server,
    pub rep: usize,
    pub connections: usize,
    pub result: Connected,
    /// Server CPU during the ramp, as a fraction of its core.
    pub server_cpu: f64,
    pub error: Option<String>,
}

pub async fn s2(ctx: &mut Ctx<'_>, server: Server, rep: usize) -> S2Run {
    let n = ctx.sizes.s2_connections;
    let mut run = S2Run {
        server,
        rep,
        connections: n,
        result: Connected::default(),
        server_cpu: 0.0,
        error: None,
    };
    let result: Result<()> = async {
        let label = format!("s2-{}-{n}-r{rep}", server.key());
        let (proc, _) = ctx.start(server, &label)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let clients = ctx.one_room(server, n)?;
        let cpu0 = proc.cpu_seconds()?;
        let (generator, connected) = ctx
            .connect(server, &proc, clients, ctx.sizes.s2_concurrency)
            .await?;
        let cpu = proc.cpu_seconds()? - cpu0;
        generator.quit().await;
        drop(proc);
        run.server_cpu = cpu / connected.elapsed_s.max(1e-6);
        let failed = connected.failed;
        let errors = connected.errors.join("; ");
        run.result = connected;
        if failed > 0 {
            bail!("{failed} of {n} connections failed: {errors}");
        }
        Ok(())
    }
    .await;
    run.error = result.err().map(|e| format!("{e:#}"));
    run
}

// ---------------------------------------------------------------------------
// S3: fan-out sweep

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    /// Offered deliveries per second (messages/s × room size).
    pub offered: f64,
    pub outcome: StepOutcome,
    /// Within the objective: nothing lost, duplicated or cut off, p99 ≤ 250 ms.
    pub ok: bool,
    /// The generator kept up (its core was not saturated).
    pub valid: bool,
    pub verdict: String,
}

impl StepResult {
    pub fn counts(&self) -> bool {
        self.ok && self.valid
    }

    pub fn deliveries_per_cpu_s(&self) -> f64 {
        self.outcome.received as f64 / self.outcome.server_cpu_s.max(1e-6)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S3Run {
    pub server: Server,
    pub rep: usize,
    pub room: usize,
    pub connect: Connected,
    pub steps: Vec<StepResult>,
    /// Why the sweep stopped.
    pub stopped: String,
    pub error: Option<String>,
}

impl S3Run {
    /// The highest step that counts, below the first step the server failed (a
    /// step the generator could not measure does not count, but does not end
    /// the sweep either).
    pub fn best(&self) -> Option<&StepResult> {
        self.steps
            .iter()
            .take_while(|s| s.ok)
            .filter(|s| s.counts())
            .last()
    }

    /// Why the best step is only a lower bound of the server's capacity, if it is:
    /// the generator gave out first, or the server sustained the whole ladder.
    pub fn lower_bound(&self) -> Option<&'static str> {
        if self.steps.last().is_some_and(|s| !s.valid) {
            Some("generator saturated")
        } else if self.error.is_none() && self.steps.last().is_some_and(StepResult::counts) {
            Some("top of the ladder")
        } else {
            None
        }
    }

    pub fn at(&self, offered: f64) -> Option<&StepResult> {
        self.steps
            .iter()
            .find(|s| (s.offered - offered).abs() < 0.5)
    }
}

pub fn judge(outcome: &StepOutcome) -> (bool, bool, String) {
    let mut problems = Vec::new();
    if outcome.lost > 0 {
        problems.push(format!("{} lost", outcome.lost));
    }
    if outcome.duplicates > 0 {
        problems.push(format!("{} duplicated", outcome.duplicates));
    }
    if outcome.closed > 0 {
        problems.push(format!("{} connections closed", outcome.closed));
    }
    if outcome.errors > 0 {
        problems.push(format!(
            "{} error frames ({})",
            outcome.errors,
            outcome.first_error.as_deref().unwrap_or("")
        ));
    }
    if outcome.p99_ms > SLO_P99_MS {
        problems.push(format!("p99 {:.0} ms > {SLO_P99_MS:.0} ms", outcome.p99_ms));
    }
    let valid = outcome.generator_cpu < GENERATOR_SATURATED;
    if !valid {
        problems.push(format!(
            "generator saturated ({:.0}% of its core)",
            outcome.generator_cpu * 100.0
        ));
    }
    let ok = problems.is_empty() || (problems.len() == 1 && !valid);
    let verdict = if problems.is_empty() {
        "ok".to_owned()
    } else {
        problems.join(", ")
    };
    (ok, valid, verdict)
}

pub async fn s3(ctx: &mut Ctx<'_>, server: Server, n: usize, rep: usize) -> S3Run {
    let mut run = S3Run {
        server,
        rep,
        room: n,
        connect: Connected::default(),
        steps: Vec::new(),
        stopped: String::new(),
        error: None,
    };
    let result: Result<()> = async {
        let label = format!("s3-{}-{n}-r{rep}", server.key());
        let (mut proc, _) = ctx.start(server, &label)?;
        let clients = ctx.one_room(server, n)?;
        let (mut generator, connected) = ctx.connect(server, &proc, clients, 128).await?;
        let failed = connected.failed;
        let errors = connected.errors.join("; ");
        run.connect = connected;
        if failed > 0 {
            generator.quit().await;
            bail!("{failed} of {n} connections failed: {errors}");
        }
        tokio::time::sleep(ctx.settle()).await;
        let senders = ctx.sizes.s3_senders.min(n).max(1);
        let sizes = ctx.sizes.clone();
        run.stopped = "ladder exhausted (the server sustained every step)".to_owned();
        // Invalid steps (generator saturated) in a row: two end the sweep. One
        // alone does not: at moderate rates every delivery is its own wake-up on
        // the generator's core, which is then busier than at higher rates, where
        // its reads batch.
        let mut invalid_in_a_row = 0;
        for &offered in &sizes.s3_ladder {
            let msg_rate = offered / n as f64;
            let per_sender = msg_rate / senders as f64;
            let plan: Vec<Sender> = (0..senders)
                .map(|j| Sender {
                    client: j * n / senders,
                    id: u32::try_from(j).unwrap_or(u32::MAX),
                    rate: per_sender,
                    phase: j as f64 / senders as f64,
                })
                .collect();
            let outcome = generator
                .step(
                    &proc,
                    &plan,
                    Duration::from_millis(sizes.s3_step_ms),
                    Duration::from_millis(sizes.s3_drain_ms),
                    sizes.body_len,
                )
                .await?;
            let (ok, valid, verdict) = judge(&outcome);
            eprintln!(
                "[bench]   {:>9.0} deliveries/s offered: {:>9.0} delivered/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.2} s, generator {:.0}% — {verdict}",
                offered,
                outcome.delivered_per_s(),
                outcome.p50_ms,
                outcome.p99_ms,
                outcome.server_cpu_s,
                outcome.generator_cpu * 100.0
            );
            run.steps.push(StepResult {
                offered,
                outcome,
                ok,
                valid,
                verdict: verdict.clone(),
            });
            invalid_in_a_row = if valid { 0 } else { invalid_in_a_row + 1 };
            if !ok || invalid_in_a_row >= 2 {
                run.stopped = format!("at {}/s: {verdict}", crate::plot::human(offered));
                break;
            }
            if !proc.alive() {
                run.stopped = "the server died".to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        generator.quit().await;
        Ok(())
    }
    .await;
    run.error = result.err().map(|e| format!("{e:#}"));
    run
}

// ---------------------------------------------------------------------------
// S4: vote burst (Parley only)

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct S4Run {
    pub rep: usize,
    pub voters: usize,
    pub connect: Connected,
    /// Clients that never saw the exact final tally.
    pub missing: u64,
    /// Last vote sent → exact final tally on each client (ms).
    pub final_p50_ms: f64,
    pub final_p99_ms: f64,
    pub final_max_ms: f64,
    pub votes_spread_ms: f64,
    pub tally_frames_median: u32,
    pub tally_frames_max: u32,
    pub server_cpu_s: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub error: Option<String>,
}

pub async fn s4(ctx: &mut Ctx<'_>, rep: usize) -> S4Run {
    let n = ctx.sizes.s4_voters;
    let mut run = S4Run {
        rep,
        voters: n,
        ..S4Run::default()
    };
    let result: Result<()> = async {
        let label = format!("s4-parley-{n}-r{rep}");
        let accounts = ctx.accounts.context("no Parley accounts prepared")?;
        let creator = accounts.lobby.first().context("no accounts")?.user.clone();
        // The poll goes into the run's database before the server opens it.
        let dir = ctx.setup.work.join("run").join(&label);
        let db = accounts.fresh_copy(&dir)?;
        let options: Vec<String> = ["WebSocket", "long-poll", "poll"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let poll = parley_db::add_poll(&db, creator, &options).await?;
        let port = procs::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = procs::pinned(&ctx.setup.parley, SERVER_CPU);
        cmd.arg("--listen")
            .arg(addr.to_string())
            .arg("--database")
            .arg(&db)
            .arg("--static-dir")
            .arg(&dir)
            .args(&ctx.setup.parley_flags)
            .env("RUST_LOG", "warn");
        let log = ctx.setup.work.join("logs").join(format!("{label}.log"));
        let cmd = procs::guarded(&ctx.setup.exe, SERVER_MAX_SECS, &cmd);
        let proc = ServerProc::start(cmd, addr, &log, &label)?;
        let clients = ctx.one_room(Server::Parley, n)?;
        let (mut generator, connected) = ctx.connect(Server::Parley, &proc, clients, 128).await?;
        let failed = connected.failed;
        run.connect = connected;
        if failed > 0 {
            generator.quit().await;
            bail!("{failed} of {n} connections failed");
        }
        tokio::time::sleep(ctx.settle()).await;
        let cpu0 = proc.cpu_seconds()?;
        let reports = generator.vote(poll, 3, Duration::from_secs(1)).await?;
        run.server_cpu_s = proc.cpu_seconds()? - cpu0;
        generator.quit().await;
        drop(proc);
        let voted: Vec<u64> = reports
            .iter()
            .flat_map(|r| r.voted_us.iter().copied())
            .collect();
        let finals: Vec<u64> = reports
            .iter()
            .flat_map(|r| r.final_us.iter().copied())
            .collect();
        let mut frames: Vec<u32> = reports
            .iter()
            .flat_map(|r| r.tally_frames.iter().copied())
            .collect();
        run.errors = reports.iter().map(|r| r.errors).sum();
        run.first_error = reports.iter().find_map(|r| r.first_error.clone());
        let last_vote = voted.iter().copied().max().unwrap_or(0);
        let first_vote = voted.iter().copied().filter(|&v| v > 0).min().unwrap_or(0);
        run.votes_spread_ms = last_vote.saturating_sub(first_vote) as f64 / 1000.0;
        run.missing = finals.iter().filter(|&&f| f == 0).count() as u64;
        let mut lat: Vec<f64> = finals
            .iter()
            .filter(|&&f| f != 0)
            .map(|&f| f.saturating_sub(last_vote) as f64 / 1000.0)
            .collect();
        lat.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            lat.get(((lat.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        run.final_p50_ms = pct(0.5);
        run.final_p99_ms = pct(0.99);
        run.final_max_ms = lat.last().copied().unwrap_or(0.0);
        frames.sort_unstable();
        run.tally_frames_median = frames.get(frames.len() / 2).copied().unwrap_or(0);
        run.tally_frames_max = frames.last().copied().unwrap_or(0);
        if run.missing > 0 {
            bail!("{} clients never saw the exact final tally", run.missing);
        }
        Ok(())
    }
    .await;
    run.error = result.err().map(|e| format!("{e:#}"));
    run
}

// ---------------------------------------------------------------------------
// S5: realistic chat

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S5Run {
    pub server: Server,
    pub rep: usize,
    pub rooms: usize,
    pub per_room: usize,
    pub connect: Connected,
    pub outcome: StepOutcome,
    /// Server CPU over the measured window, as a fraction of its core.
    pub server_cpu: f64,
    pub rss_before_kib: u64,
    pub rss_kib: u64,
    pub error: Option<String>,
}

pub async fn s5(ctx: &mut Ctx<'_>, server: Server, rep: usize) -> S5Run {
    let sizes = ctx.sizes.clone();
    let (rooms, per_room) = (sizes.s5_rooms, sizes.s5_per_room);
    let mut run = S5Run {
        server,
        rep,
        rooms,
        per_room,
        connect: Connected::default(),
        outcome: StepOutcome::default(),
        server_cpu: 0.0,
        rss_before_kib: 0,
        rss_kib: 0,
        error: None,
    };
    let result: Result<()> = async {
        let label = format!("s5-{}-r{rep}", server.key());
        let mut clients = Vec::with_capacity(rooms * per_room);
        if server == Server::Parley {
            let accounts = ctx.accounts.context("no Parley accounts prepared")?;
            if accounts.rooms.len() < rooms {
                bail!("only {} Parley rooms prepared", accounts.rooms.len());
            }
            for (room, members) in &accounts.rooms[..rooms] {
                for m in members.iter().take(per_room) {
                    clients.push(ClientSpec {
                        room: room.clone(),
                        token: Some(m.token.clone()),
                    });
                }
            }
        } else {
            for r in 0..rooms {
                for _ in 0..per_room {
                    clients.push(ClientSpec {
                        room: format!("room-{r}"),
                        token: None,
                    });
                }
            }
        }
        let (proc, _) = ctx.start(server, &label)?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        run.rss_before_kib = proc.rss_kib()?;
        let (mut generator, connected) = ctx.connect(server, &proc, clients, 128).await?;
        let failed = connected.failed;
        run.connect = connected;
        if failed > 0 {
            generator.quit().await;
            bail!("{failed} connections failed");
        }
        tokio::time::sleep(ctx.settle()).await;
        // Everyone sends every `interval`, at a random-looking but fixed offset.
        let senders: Vec<Sender> = (0..rooms * per_room)
            .map(|i| Sender {
                client: i,
                id: u32::try_from(i % per_room).unwrap_or(0),
                rate: 1.0 / sizes.s5_interval_s,
                phase: (i as f64 * 0.618_033_988_75).fract(),
            })
            .collect();
        let drain = Duration::from_secs(2);
        let outcome = generator
            .step(
                &proc,
                &senders,
                Duration::from_secs(sizes.s5_secs),
                drain,
                sizes.body_len,
            )
            .await?;
        run.rss_kib = proc.rss_kib()?;
        run.server_cpu = outcome.server_cpu_s / (sizes.s5_secs as f64 + drain.as_secs_f64());
        let (ok, _, verdict) = judge(&outcome);
        run.outcome = outcome;
        generator.quit().await;
        drop(proc);
        if !ok {
            bail!("{verdict}");
        }
        Ok(())
    }
    .await;
    run.error = result.err().map(|e| format!("{e:#}"));
    run
}

// ---------------------------------------------------------------------------
// The SPA's first download

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Spa {
    /// (file, raw bytes, gzipped bytes, brotli bytes)
    pub files: Vec<(String, u64, u64, u64)>,
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

/// index.html and the js, wasm and css files it names, as `cargo xtask dist`
/// wrote them (with `.gz` copies) into `dist/`.
pub fn spa(dist: &Path) -> Result<Spa> {
    let index = std::fs::read_to_string(dist.join("index.html"))
        .context("dist/index.html (build it with `cargo xtask dist`)")?;
    let mut spa = Spa::default();
    let mut names = vec!["index.html".to_owned()];
    for entry in std::fs::read_dir(dist)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let wanted = [".js", ".wasm", ".css"].iter().any(|e| name.ends_with(e));
        if wanted && index.contains(&name) {
            names.push(name);
        }
    }
    names[1..].sort();
    for name in names {
        let raw = std::fs::metadata(dist.join(&name))?.len();
        let gz = std::fs::metadata(dist.join(format!("{name}.gz")))
            .with_context(|| format!("dist/{name}.gz missing (run `cargo xtask dist`)"))?
            .len();
        let br = std::fs::metadata(dist.join(format!("{name}.br"))).map_or(0, |m| m.len());
        spa.raw += raw;
        spa.gzip += gz;
        spa.brotli += br;
        spa.files.push((name, raw, gz, br));
    }
    Ok(spa)
}

// ---------------------------------------------------------------------------

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub quick: bool,
    pub sizes: Sizes,
    pub machine: crate::sysinfo::Machine,
    pub versions: Vec<(String, String)>,
    pub servers: Vec<Server>,
    pub scenarios: Vec<String>,
    pub notes: Vec<String>,
    pub s1: Vec<S1Run>,
    pub s2: Vec<S2Run>,
    pub s3: Vec<S3Run>,
    pub s4: Vec<S4Run>,
    pub s5: Vec<S5Run>,
    /// S3's floor: the same fan-out with no server (see [`crate::floor`]).
    #[serde(default)]
    pub floor: Vec<crate::floor::FloorRun>,
    pub spa: Option<Spa>,
    pub spa_error: Option<String>,
    pub elapsed_s: f64,
}

/// The load at which S3's no-server floor is measured (the p99 target's).
pub const FLOOR_LOAD: f64 = 25_000.0;

/// Runs the selected scenarios against the selected servers.
pub async fn run_all(ctx: &mut Ctx<'_>, results: &mut Results) -> Result<()> {
    let started = Instant::now();
    let sizes = ctx.sizes.clone();
    let wants = |s: &str| results.scenarios.iter().any(|x| x == s);
    let (s1_on, s2_on, s3_on, s4_on, s5_on) = (
        wants("s1"),
        wants("s2"),
        wants("s3"),
        wants("s4"),
        wants("s5"),
    );
    let servers = results.servers.clone();
    for rep in 0..sizes.reps {
        // A different server goes first in each repetition.
        let mut order = servers.clone();
        let shift = rep % order.len().max(1);
        order.rotate_left(shift);
        let say = |what: &str| {
            eprintln!(
                "[bench] rep {}/{} {what} ({:.0} s so far)",
                rep + 1,
                sizes.reps,
                started.elapsed().as_secs_f64()
            );
        };
        if s1_on {
            for &n in &sizes.s1_connections {
                for &server in &order {
                    say(&format!(
                        "S1 idle memory: {} with {n} connections",
                        server.name()
                    ));
                    let run = s1(ctx, server, n, rep).await;
                    eprintln!(
                        "[bench]   {:.1} KB per connection (kernel sockets {:.1} KB){}",
                        run.bytes_per_conn / 1000.0,
                        run.kernel_bytes_per_conn / 1000.0,
                        run.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                    results.s1.push(run);
                }
            }
        }
        if s2_on {
            // With Parley, the floor too: what a bare tokio server does here.
            let mut order = order.clone();
            if servers.contains(&Server::Parley) {
                order.push(Server::Bare);
            }
            for &server in &order {
                say(&format!(
                    "S2 connection ramp: {} with {} connections",
                    server.name(),
                    sizes.s2_connections
                ));
                let run = s2(ctx, server, rep).await;
                eprintln!(
                    "[bench]   {:.0} upgrades/s, {:.0} ready/s, time to ready p50 {:.1} ms p99 {:.1} ms, generator {:.0}%{}",
                    run.result.upgrades_per_s,
                    run.result.ready_per_s,
                    run.result.ready_p50_ms,
                    run.result.ready_p99_ms,
                    run.result.generator_cpu * 100.0,
                    run.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
                results.s2.push(run);
            }
        }
        if s3_on {
            for &n in &sizes.s3_rooms {
                say(&format!(
                    "S3 floor: no server, a room of {n} at {}/s",
                    crate::plot::human(FLOOR_LOAD)
                ));
                let floor = crate::floor::measure(
                    &ctx.setup.exe,
                    rep,
                    n,
                    FLOOR_LOAD,
                    sizes.s3_step_ms as f64 / 1000.0,
                )
                .await;
                eprintln!(
                    "[bench]   p50 {:.2} ms, p99 {:.2} ms, writer {:.1} µs CPU per delivery{}",
                    floor.p50_ms,
                    floor.p99_ms,
                    floor.source_us_per_delivery,
                    floor
                        .error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
                results.floor.push(floor);
                for &server in &order {
                    say(&format!("S3 fan-out: {} with a room of {n}", server.name()));
                    let run = s3(ctx, server, n, rep).await;
                    eprintln!(
                        "[bench]   best {} deliveries/s; stopped {}{}",
                        run.best()
                            .map_or("none".to_owned(), |s| format!("{:.0}", s.offered)),
                        run.stopped,
                        run.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                    results.s3.push(run);
                }
            }
        }
        if s4_on && servers.contains(&Server::Parley) {
            say(&format!(
                "S4 vote burst: Parley with {} voters",
                sizes.s4_voters
            ));
            let run = s4(ctx, rep).await;
            eprintln!(
                "[bench]   last vote → exact tally everywhere: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; tally frames median {}{}",
                run.final_p50_ms,
                run.final_p99_ms,
                run.final_max_ms,
                run.tally_frames_median,
                run.error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
            results.s4.push(run);
        }
        if s5_on {
            for &server in &order {
                say(&format!(
                    "S5 realistic chat: {} with {} rooms × {}",
                    server.name(),
                    sizes.s5_rooms,
                    sizes.s5_per_room
                ));
                let run = s5(ctx, server, rep).await;
                eprintln!(
                    "[bench]   server CPU {:.1}% of a core, RSS {:.1} MB, p99 {:.2} ms{}",
                    run.server_cpu * 100.0,
                    run.rss_kib as f64 * 1.024 / 1000.0,
                    run.outcome.p99_ms,
                    run.error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
                results.s5.push(run);
            }
        }
    }
    Ok(())
}
