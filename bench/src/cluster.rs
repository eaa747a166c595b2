//! The cluster scenario (issue #22): three Parley nodes on 127.0.0.2–4, one
//! PostgreSQL (fsync on: durability is the point) and one Redis, all started
//! here and stopped at the end; one hot room (the lobby).
//!
//! Phases, on one cluster:
//! 1. **hot**: pipelined senders spread over the three nodes; acked messages/s.
//! 2. **steady**: 1,000 messages/s from node 2, receivers on nodes 1 and 3;
//!    send → delivery latency.
//! 3. **gap**: the same from node 1 restarted with `--cluster-drop-hints 0.1`;
//!    the latency of the messages whose hint never reached Redis (a listener
//!    of our own subscribes to the nodes' channel to know which).
//! 4. **failover**: clients on node 3, which is SIGKILLed; every client
//!    reconnects to node 1 or 2 with `hello` + resume; time until the last one
//!    has its welcome and its replay.
//!
//! In every phase each receiver's lobby stream is checked against the acks:
//! every acked seq exactly once (lost, duplicated, out of order counted).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_engines::{Postgres, PostgresOptions, Redis, RedisOptions};
use serde::{Deserialize, Serialize};

use crate::cluster_phases as phases;
use crate::parley_db::{Account, new_account};
use crate::procs::{self, ServerProc};
use crate::scenarios::Setup;
use anyhow::{Context, Result, bail};

/// A node is killed by its guard after this long, whatever happens here.
const NODE_MAX_SECS: u64 = 600;
/// The database the nodes share.
const DB: &str = "parley";
/// Longest the scenario waits for receivers to catch up after a phase.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(15);
/// Longest the failover phase waits for the last client to resume.
pub(crate) const FAILOVER_WAIT: Duration = Duration::from_secs(40);
/// The goals of issue #22.
pub const GOAL_HOT: f64 = 3_000.0;
pub const GOAL_P99_MS: f64 = 50.0;
pub const GOAL_GAP_MS: f64 = 1_000.0;
pub const GOAL_FAILOVER_S: f64 = 15.0;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSizes {
    /// Repetitions of the hot and steady phases (gap and failover run once).
    pub reps: usize,
    pub hot_senders_per_node: usize,
    pub hot_window: usize,
    pub hot_secs: f64,
    pub steady_rate: f64,
    pub steady_senders: usize,
    pub steady_receivers_per_node: usize,
    pub steady_secs: f64,
    pub drop_hints: f64,
    pub failover_clients: usize,
    /// Messages/s sent on node 1 through the failover (what the replay holds).
    pub failover_rate: f64,
}

impl ClusterSizes {
    pub fn new(quick: bool, reps: usize) -> Self {
        Self {
            reps,
            // 180 in flight in all: a node's commit batch then stays below a
            // connection's 256-frame outbox (with 576 in flight, bursts of a
            // batch plus relayed ones kicked receivers as slow consumers).
            hot_senders_per_node: 6,
            hot_window: 10,
            hot_secs: if quick { 4.0 } else { 8.0 },
            steady_rate: 1000.0,
            steady_senders: 10,
            steady_receivers_per_node: 10,
            steady_secs: if quick { 5.0 } else { 10.0 },
            drop_hints: 0.1,
            failover_clients: if quick { 100 } else { 300 },
            failover_rate: 100.0,
        }
    }
}

/// Every acked seq delivered exactly once to every receiver?
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivery {
    pub receivers: usize,
    /// Acked messages × receivers: what should have arrived.
    pub expected: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Arrivals with a lower seq than the one before.
    pub out_of_order: u64,
    /// Receivers whose node closed their connection (a slow consumer is
    /// kicked: the generator did not keep up). Their streams end early, so
    /// they are left out of `expected` and `lost`.
    #[serde(default)]
    pub kicked: u64,
}

impl Delivery {
    pub(crate) fn add(&mut self, other: &Delivery) {
        self.receivers += other.receivers;
        self.expected += other.expected;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.kicked += other.kicked;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HotRun {
    pub senders: usize,
    pub acked: u64,
    pub secs: f64,
    pub acked_per_s: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    /// CPU seconds per wall second of each node during the phase.
    pub node_cpu: Vec<f64>,
    /// The same for this process (the clients).
    #[serde(default)]
    pub generator_cpu: f64,
    /// The same for PostgreSQL (every backend: a backend that ended during
    /// the phase is missed) and Redis together.
    #[serde(default)]
    pub engines_cpu: f64,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SteadyRun {
    pub offered_per_s: f64,
    pub acked_per_s: f64,
    /// Send → delivery on another node (includes the commit's fsync).
    pub send_to_delivery: Latency,
    /// Ack on the sending node → delivery on another.
    pub ack_to_delivery: Latency,
    pub ack: Latency,
    /// Gap phase: deliveries of messages whose hint was dropped.
    pub dropped_hints: u64,
    pub gap_filled: Latency,
    /// Gap phase: deliveries of messages whose hint arrived.
    pub hinted: Latency,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FailoverRun {
    pub clients: usize,
    pub resumed: usize,
    /// Kill → the last client has its welcome and its replay.
    pub last_s: f64,
    pub p50_s: f64,
    pub reconnect_failures: usize,
    /// Messages acked between the kill and the last resume (in every replay).
    pub acked_during: u64,
    pub delivery: Delivery,
    /// For each client that missed acked messages: which, and where it
    /// resumed (what the server's side of a loss needs to be found).
    #[serde(default)]
    pub losses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterResults {
    pub date: String,
    pub command: String,
    pub quick: bool,
    pub sizes: ClusterSizes,
    pub hot: Vec<HotRun>,
    pub steady: Vec<SteadyRun>,
    pub gap: Option<SteadyRun>,
    pub failover: Option<FailoverRun>,
    /// Lost and duplicated over every phase.
    pub total: Delivery,
    pub errors: Vec<String>,
    pub elapsed_s: f64,
    /// `/proc/loadavg`'s 1-minute figure before the run: on a shared machine
    /// the tails move with it.
    #[serde(default)]
    pub load_before: Option<f64>,
}

pub(crate) struct Cluster<'a> {
    setup: &'a Setup,
    pg: Postgres,
    pub(crate) redis: Redis,
    pub(crate) prefix: String,
    port: u16,
    nodes: Vec<Option<ServerProc>>,
    pub(crate) accounts: Vec<Account>,
    static_dir: PathBuf,
}

impl Cluster<'_> {
    fn addr(i: usize, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 2 + u8::try_from(i).unwrap_or(0)], port))
    }

    pub(crate) fn node_addr(&self, i: usize) -> SocketAddr {
        Self::addr(i, self.port)
    }

    fn start_node(&mut self, i: usize, extra: &[&str]) -> Result<()> {
        let addr = self.node_addr(i);
        let nofile = procs::nofile_limit();
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg(&self.setup.parley)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database")
            .arg(self.pg.url_for(DB))
            .arg("--redis")
            .arg(self.redis.url())
            .arg("--redis-prefix")
            .arg(&self.prefix)
            .arg("--static-dir")
            .arg(&self.static_dir)
            .args(&self.setup.parley_flags)
            .args(extra)
            .env("RUST_LOG", "warn");
        let label = format!("cluster-node{}", i + 1);
        let log = self.setup.work.join("logs").join(format!("{label}.log"));
        let cmd = procs::guarded(&self.setup.exe, NODE_MAX_SECS, &cmd);
        let proc = ServerProc::start(cmd, addr, &log, &label)?;
        self.nodes[i] = Some(proc);
        Ok(())
    }

    /// CPU seconds so far: each node, then PostgreSQL (the postmaster and
    /// its backends) and Redis together.
    pub(crate) fn cpu(&self) -> Vec<f64> {
        let mut out: Vec<f64> = self
            .nodes
            .iter()
            .map(|n| n.as_ref().and_then(|n| n.cpu_seconds().ok()).unwrap_or(0.0))
            .collect();
        let mut engines = self
            .redis
            .pid()
            .and_then(|p| procs::cpu_seconds(p).ok())
            .unwrap_or(0.0);
        if let Ok(postmaster) = self.pg.pid() {
            engines += procs::cpu_seconds(postmaster).unwrap_or(0.0);
            engines += procs::children(postmaster)
                .into_iter()
                .filter_map(|p| procs::cpu_seconds(p).ok())
                .sum::<f64>();
        }
        out.push(engines);
        out
    }

    /// SIGKILL, by the node's own pid (the guard then exits too).
    pub(crate) fn kill_node(&mut self, i: usize) -> Result<()> {
        let node = self.nodes[i].take().context("node already gone")?;
        let status = Command::new("kill")
            .args(["-KILL", &node.pid.to_string()])
            .status()
            .context("kill")?;
        if !status.success() {
            bail!("kill -KILL {} failed", node.pid);
        }
        drop(node);
        Ok(())
    }
}

/// A free port on all three node addresses (each address its own socket).
fn free_port_on_nodes() -> Result<u16> {
    for _ in 0..20 {
        let port = procs::free_port()?;
        let free = (0..3).all(|i| std::net::TcpListener::bind(Cluster::addr(i, port)).is_ok());
        if free {
            return Ok(port);
        }
    }
    bail!("no port free on 127.0.0.2–4")
}

/// Runs the whole scenario; engines and nodes are stopped whatever happens.
pub async fn run(
    setup: &Setup,
    sizes: ClusterSizes,
    quick: bool,
    command: String,
) -> ClusterResults {
    let started = Instant::now();
    let mut results = ClusterResults {
        date: crate::sysinfo::machine().date,
        command,
        quick,
        sizes,
        hot: Vec::new(),
        steady: Vec::new(),
        gap: None,
        failover: None,
        total: Delivery::default(),
        errors: Vec::new(),
        elapsed_s: 0.0,
        load_before: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok())),
    };
    if let Err(e) = run_phases(setup, &mut results).await {
        eprintln!("[bench] cluster: {e:#}");
        results.errors.push(format!("{e:#}"));
    }
    let mut total = Delivery::default();
    for d in results
        .hot
        .iter()
        .map(|r| &r.delivery)
        .chain(results.steady.iter().map(|r| &r.delivery))
        .chain(results.gap.iter().map(|r| &r.delivery))
        .chain(results.failover.iter().map(|r| &r.delivery))
    {
        total.add(d);
    }
    results.total = total;
    results.elapsed_s = started.elapsed().as_secs_f64();
    results
}

async fn run_phases(setup: &Setup, results: &mut ClusterResults) -> Result<()> {
    let sizes = results.sizes.clone();
    let dir = procs::fresh_dir(&setup.work.join("cluster"))?;
    let say = |what: &str| eprintln!("[bench] cluster: {what}");
    say("starting PostgreSQL (fsync on) and Redis…");
    let (pg_dir, redis_dir) = (dir.join("postgres"), dir.join("redis"));
    let _ = Postgres::stop_leftover(&pg_dir);
    let _ = Redis::stop_leftover(&redis_dir);
    let pg = tokio::task::spawn_blocking(move || {
        Postgres::start(
            &pg_dir,
            PostgresOptions {
                fsync: true,
                keep_dir: false,
            },
        )
    })
    .await?
    .context("PostgreSQL")?;
    let redis = Redis::start(&redis_dir, RedisOptions::default()).context("Redis")?;
    pg.create_database(DB).context("create the database")?;
    let static_dir = setup.root.join("dist");
    let static_dir = if static_dir.join("index.html").is_file() {
        static_dir
    } else {
        dir.clone()
    };
    let accounts_needed = sizes
        .failover_clients
        .max(3 * sizes.hot_senders_per_node)
        .max(sizes.steady_senders + 2 * sizes.steady_receivers_per_node)
        + 1;
    say(&format!(
        "migrating and preparing {accounts_needed} accounts through the store…"
    ));
    let accounts = prepare_accounts(&pg.url_for(DB), accounts_needed).await?;
    let mut cluster = Cluster {
        setup,
        prefix: format!("bench{}", std::process::id()),
        port: free_port_on_nodes()?,
        pg,
        redis,
        nodes: vec![None, None, None],
        accounts,
        static_dir,
    };
    say("starting three nodes on 127.0.0.2–4…");
    for i in 0..3 {
        cluster.start_node(i, &[])?;
    }
    for rep in 0..sizes.reps {
        say(&format!(
            "rep {}/{}: hot room, {} pipelined senders per node, window {}…",
            rep + 1,
            sizes.reps,
            sizes.hot_senders_per_node,
            sizes.hot_window
        ));
        let run = phases::hot(&cluster, &sizes).await?;
        say(&format!(
            "  {:.0} acked/s (ack p50 {:.1} ms, p99 {:.1} ms); lost {}, duplicated {}",
            run.acked_per_s,
            run.ack_p50_ms,
            run.ack_p99_ms,
            run.delivery.lost,
            run.delivery.duplicated
        ));
        results.hot.push(run);
        say(&format!(
            "rep {}/{}: steady {}/s from node 2 to nodes 1 and 3…",
            rep + 1,
            sizes.reps,
            sizes.steady_rate
        ));
        let run = phases::steady(&cluster, &sizes, 1, [0, 2], false).await?;
        say(&format!(
            "  send→delivery p50 {:.1} ms, p99 {:.1} ms; lost {}, duplicated {}",
            run.send_to_delivery.p50_ms,
            run.send_to_delivery.p99_ms,
            run.delivery.lost,
            run.delivery.duplicated
        ));
        results.steady.push(run);
    }
    say(&format!(
        "gap fill: node 1 restarted with --cluster-drop-hints {}…",
        sizes.drop_hints
    ));
    drop(cluster.nodes[0].take());
    let drop_share = sizes.drop_hints.to_string();
    cluster.start_node(0, &["--cluster-drop-hints", &drop_share])?;
    let run = phases::steady(&cluster, &sizes, 0, [1, 2], true).await?;
    say(&format!(
        "  {} hints dropped; their delivery p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; lost {}, duplicated {}",
        run.dropped_hints,
        run.gap_filled.p50_ms,
        run.gap_filled.p99_ms,
        run.gap_filled.max_ms,
        run.delivery.lost,
        run.delivery.duplicated
    ));
    results.gap = Some(run);
    say(&format!(
        "failover: {} clients on node 3, SIGKILL, resume on nodes 1 and 2…",
        sizes.failover_clients
    ));
    let run = phases::failover(&mut cluster, &sizes).await?;
    say(&format!(
        "  {} of {} resumed, the last {:.2} s after the kill (p50 {:.2} s); lost {}, duplicated {}",
        run.resumed, run.clients, run.last_s, run.p50_s, run.delivery.lost, run.delivery.duplicated
    ));
    results.failover = Some(run);
    say("stopping the nodes and the engines…");
    for node in &mut cluster.nodes {
        drop(node.take());
    }
    let Cluster { pg, redis, .. } = cluster;
    let _ = redis.stop();
    tokio::task::spawn_blocking(move || pg.stop())
        .await?
        .context("stop PostgreSQL")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Accounts `c0`, `c1`, … with sessions, written through the store (one
/// argon2 hash for all), which also migrates the database.
async fn prepare_accounts(url: &str, n: usize) -> Result<Vec<Account>> {
    use parley_backend::store::{Database, QueueLimits};
    let store = parley_backend::Store::connect(
        &Database::Postgres(url.to_owned()),
        Arc::new(parley_backend::Hub::new()),
        QueueLimits::default(),
        parley_backend::metrics::commit_seconds(),
    )
    .await
    .context("open the database")?;
    let password = parley_common::Password::parse("benchmark password")
        .map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let hash = parley_backend::auth::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (store, hash) = (store.clone(), hash.clone());
        set.spawn(async move { (i, new_account(store, format!("c{i}"), hash).await) });
    }
    let mut out: Vec<Option<Account>> = vec![None; n];
    while let Some(joined) = set.join_next().await {
        let (i, account) = joined.context("account task")?;
        out[i] = Some(account?);
    }
    store.close().await;
    Ok(out.into_iter().flatten().collect())
}
