//! `parley-bench`: Parley's benchmarks against peers (issue #7).
//!
//! - `parley-bench suite [--quick]`: runs the scenarios against Parley and the
//!   peers in `bench/peers/` and writes `docs/benchmarks.md` with its plots. This
//!   is what `cargo xtask bench` runs after installing the peers and building
//!   everything; run it through xtask.
//!   Scenario `cluster` (issue #22) starts its own PostgreSQL, Redis and three
//!   nodes; `--only cluster` runs it alone and rewrites only its section.
//! - `parley-bench worker`: one load-generator process (started by `suite`).
//!
//! See `bench/README.md` for the layout and how to read the numbers.

mod bare;
mod cluster;
mod cluster_client;
mod cluster_phases;
mod cluster_report;
mod floor;
mod generator;
mod parley_db;
mod plot;
mod procs;
mod proto;
mod report;
mod scenarios;
#[cfg(test)]
mod smoke_test;
mod sysinfo;
mod wire;
mod worker;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::{Args, Parser};

use crate::scenarios::{Ctx, Results, Server, Setup, Sizes};
use anyhow::{Context, Result, bail};

#[derive(Debug, Parser)]
#[command(name = "parley-bench", about = "Parley's benchmarks against peers")]
enum Cli {
    /// Run the benchmark suite and write the report (use `cargo xtask bench`).
    Suite(SuiteArgs),
    /// One load-generator process, driven by `suite` over stdin/stdout.
    Worker {
        /// Exit after this many seconds whatever happens.
        #[arg(long, default_value_t = 3600)]
        max_secs: u64,
    },
    /// Write the report again from the last run's raw results (`bench/results.json`
    /// beside the report: `docs/bench/results.json`), without measuring anything.
    Report {
        /// The repository root (default: the current directory).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Where to write the report (default: docs/benchmarks.md).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// S3's floor: the writing side, started by `suite`.
    #[command(hide = true)]
    FloorSource {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        bursts: u64,
        #[arg(long)]
        interval_us: u64,
    },
    /// S2's floor: a bare tokio-tungstenite server, started by `suite`.
    #[command(hide = true)]
    BareServer { port: u16 },
    /// Run a command (a server under test) until stdin closes or time is up,
    /// then kill it: no server outlives the runner.
    Guard {
        #[arg(long)]
        max_secs: u64,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct SuiteArgs {
    /// Small sizes, one repetition, short steps: checks the tooling in minutes.
    #[arg(long)]
    quick: bool,
    /// The repository root (default: the current directory).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Repetitions of every run (default: 2, quick: 1).
    #[arg(long)]
    reps: Option<usize>,
    /// Only these scenarios (comma-separated): s1, s2, s3, s4, s5, spa, cluster.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these servers (comma-separated): parley, socketioxide, socketio, flask.
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Room sizes for S3 (comma-separated), instead of the mode's.
    #[arg(long, value_delimiter = ',')]
    rooms: Vec<usize>,
    /// The cluster scenario's hot room as SENDERS_PER_NODE,WINDOW instead of
    /// 6,10 (e.g. `4,48`: more in flight, more throughput, and bursts that
    /// overflow a connection's outbox).
    #[arg(long, value_delimiter = ',')]
    cluster_hot: Vec<usize>,
    /// Where to write the report (default: docs/benchmarks.md; plots go to a
    /// `bench/` directory beside it).
    #[arg(long)]
    out: Option<PathBuf>,
}

const SCENARIOS: [&str; 7] = ["s1", "s2", "s3", "s4", "s5", "spa", "cluster"];

fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Worker { max_secs } => worker::serve(max_secs),
        Cli::Guard { max_secs, command } => procs::guard(max_secs, &command),
        Cli::FloorSource {
            addr,
            connections,
            bursts,
            interval_us,
        } => floor::source(addr, connections, bursts, interval_us),
        Cli::BareServer { port } => bare::serve(port),
        Cli::Report { root, out } => report_again(root, out),
        Cli::Suite(args) => suite(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("[bench] error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn suite(args: SuiteArgs) -> Result<()> {
    let started = Instant::now();
    let root = match args.root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(reps) = args.reps {
        sizes.reps = reps.max(1);
    }
    if !args.rooms.is_empty() {
        sizes.s3_rooms.clone_from(&args.rooms);
    }
    let scenarios: Vec<String> = if args.only.is_empty() {
        SCENARIOS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        for s in &args.only {
            if !SCENARIOS.contains(&s.as_str()) {
                bail!(
                    "unknown scenario `{s}`; scenarios are {}",
                    SCENARIOS.join(", ")
                );
            }
        }
        args.only.clone()
    };
    let mut servers: Vec<Server> = if scenarios.iter().all(|s| s == "cluster") {
        // The cluster scenario runs Parley only, and starts it itself.
        Vec::new()
    } else if args.servers.is_empty() {
        Server::ALL.to_vec()
    } else {
        let mut v = Vec::new();
        for key in &args.servers {
            v.push(Server::from_key(key).with_context(|| {
                format!("unknown server `{key}`; servers are parley, socketioxide, socketio, flask")
            })?);
        }
        v
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 {
        bail!("the benchmarks need two CPUs (server on one, generator on the other)");
    }
    let setup = Setup::discover(&root)?;
    let mut notes = Vec::new();
    servers.retain(|&s| match setup.missing(s) {
        Some(why) => {
            eprintln!("[bench] skipping {}: {why:#}", s.name());
            notes.push(format!("{} was not run: {why:#}", s.name()));
            false
        }
        None => true,
    });
    // The runner and every generator process share CPU 1; servers get CPU 0.
    procs::pin_self(procs::GENERATOR_CPU)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let versions = versions(&setup);
    let mut results = Results {
        quick: args.quick,
        sizes: sizes.clone(),
        machine: sysinfo::machine(),
        versions,
        servers: servers.clone(),
        scenarios: scenarios.clone(),
        notes,
        s1: Vec::new(),
        s2: Vec::new(),
        s3: Vec::new(),
        s4: Vec::new(),
        s5: Vec::new(),
        floor: Vec::new(),
        spa: None,
        spa_error: None,
        elapsed_s: 0.0,
    };
    let wants = |s: &str| scenarios.iter().any(|x| x == s);

    runtime.block_on(async {
        let accounts = if servers.contains(&Server::Parley)
            && ["s1", "s2", "s3", "s4", "s5"].iter().any(|s| wants(s))
        {
            let mut lobby = 0;
            if wants("s1") {
                lobby = lobby.max(sizes.s1_connections.iter().copied().max().unwrap_or(0));
            }
            if wants("s2") {
                lobby = lobby.max(sizes.s2_connections);
            }
            if wants("s3") {
                lobby = lobby.max(sizes.s3_rooms.iter().copied().max().unwrap_or(0));
            }
            if wants("s4") {
                lobby = lobby.max(sizes.s4_voters);
            }
            let rooms = if wants("s5") { sizes.s5_rooms } else { 0 };
            eprintln!(
                "[bench] preparing Parley accounts: {lobby} in the lobby, {rooms} rooms of {}…",
                sizes.s5_per_room
            );
            let t = Instant::now();
            let accounts = parley_db::prepare(
                &setup.work.join("template"),
                lobby,
                rooms,
                sizes.s5_per_room,
            )
            .await?;
            eprintln!(
                "[bench] accounts ready in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            Some(accounts)
        } else {
            None
        };
        let mut ctx = Ctx {
            setup: &setup,
            sizes: &sizes,
            accounts: accounts.as_ref(),
            addrs: generator::SourceAddrs::default(),
        };
        scenarios::run_all(&mut ctx, &mut results).await
    })?;

    if wants("spa") {
        match scenarios::spa(&root.join("dist")) {
            Ok(spa) => results.spa = Some(spa),
            Err(e) => results.spa_error = Some(format!("{e:#}")),
        }
    }
    // The databases of the runs are scratch (the template is rebuilt every run).
    let _ = std::fs::remove_dir_all(setup.work.join("run"));
    let _ = std::fs::remove_dir_all(setup.work.join("template"));
    let out = args.out.unwrap_or_else(|| root.join("docs/benchmarks.md"));
    let plots = out.parent().unwrap_or(Path::new(".")).join("bench");
    // Beside the report, so a run of one scenario written elsewhere (`--out`)
    // never replaces the raw results the main report is regenerated from.
    std::fs::create_dir_all(&plots)?;
    let raw = plots.join("results.json");
    let cluster_raw = plots.join(CLUSTER_RAW);
    if wants("cluster") {
        // Three nodes and two engines share both cores: no pinning here.
        procs::unpin_self()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
        let mut cluster_sizes = cluster::ClusterSizes::new(args.quick, sizes.reps);
        match args.cluster_hot[..] {
            [] => {}
            [senders, window] => {
                cluster_sizes.hot_senders_per_node = senders.max(1);
                cluster_sizes.hot_window = window.max(1);
            }
            _ => bail!("--cluster-hot takes SENDERS_PER_NODE,WINDOW (e.g. 4,48)"),
        }
        let run = runtime.block_on(cluster::run(&setup, cluster_sizes, args.quick, command));
        std::fs::write(&cluster_raw, serde_json::to_string_pretty(&run)?)?;
    }
    results.elapsed_s = started.elapsed().as_secs_f64();
    // A cluster-only run keeps the last full run's figures and rewrites the
    // page with its own section.
    let cluster_only = scenarios.iter().all(|s| s == "cluster");
    if cluster_only && raw.is_file() {
        let text = std::fs::read_to_string(&raw).with_context(|| format!("{}", raw.display()))?;
        results = serde_json::from_str(&text).context("results.json")?;
    } else {
        std::fs::write(&raw, serde_json::to_string_pretty(&results)?)?;
    }
    let cluster_results = read_cluster(&cluster_raw)?;
    let tuning = report::tuning_log(&root);
    let problems = report::write(
        &results,
        cluster_results.as_ref(),
        &out,
        &plots,
        "bench",
        tuning.as_deref(),
    )?;
    for p in problems {
        eprintln!("[bench] warning: {p}");
    }
    eprintln!(
        "[bench] wrote {} (plots in {}, raw results in {}) after {:.1} min",
        out.display(),
        plots.display(),
        raw.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn report_again(root: Option<PathBuf>, out: Option<PathBuf>) -> Result<()> {
    let root = match root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let out = out.unwrap_or_else(|| root.join("docs/benchmarks.md"));
    let plots = out.parent().unwrap_or(Path::new(".")).join("bench");
    let raw = plots.join("results.json");
    let text = std::fs::read_to_string(&raw).with_context(|| format!("{}", raw.display()))?;
    let results: Results = serde_json::from_str(&text).context("results.json")?;
    let cluster_results = read_cluster(&plots.join(CLUSTER_RAW))?;
    let tuning = report::tuning_log(&root);
    for p in report::write(
        &results,
        cluster_results.as_ref(),
        &out,
        &plots,
        "bench",
        tuning.as_deref(),
    )? {
        eprintln!("[bench] warning: {p}");
    }
    eprintln!("[bench] wrote {}", out.display());
    Ok(())
}

/// The cluster scenario's raw results, beside `results.json` (its own file: a
/// cluster-only run must not replace the other scenarios' figures).
const CLUSTER_RAW: &str = "cluster.json";

fn read_cluster(path: &Path) -> Result<Option<cluster::ClusterResults>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?,
    ))
}

fn versions(setup: &Setup) -> Vec<(String, String)> {
    let out = |cmd: &mut Command| sysinfo::output(cmd).unwrap_or_else(|| "unknown".to_owned());
    let lock = setup.root.join("Cargo.lock");
    let peer_lock = setup.root.join("bench/peers/socketioxide/Cargo.lock");
    let locked =
        |lock: &Path, p: &str| sysinfo::locked(lock, p).unwrap_or_else(|| "unknown".to_owned());
    let modules = setup.root.join("bench/peers/socketio/node_modules");
    let npm = |p: &str| {
        sysinfo::npm_version(&modules.join(p).join("package.json"))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let python_packages = sysinfo::output(Command::new(&setup.python).args([
        "-c",
        "import importlib.metadata as m; print(' '.join(m.version(p) for p in ['Flask', 'gevent', 'gevent-websocket', 'greenlet', 'Werkzeug']))",
    ]))
    .unwrap_or_default();
    let mut py = python_packages.split_whitespace();
    let mut next_py = || py.next().unwrap_or("unknown").to_owned();
    vec![
        (
            "Parley".to_owned(),
            out(Command::new(&setup.parley).arg("--version")),
        ),
        (
            "Parley flags".to_owned(),
            if setup.parley_flags.is_empty() {
                "(none)".to_owned()
            } else {
                setup.parley_flags.join(" ")
            },
        ),
        ("rustc".to_owned(), out(Command::new("rustc").arg("-V"))),
        (
            "Parley: tokio / axum / SQLite (libsqlite3-sys)".to_owned(),
            format!(
                "{} / {} / {}",
                locked(&lock, "tokio"),
                locked(&lock, "axum"),
                locked(&lock, "libsqlite3-sys")
            ),
        ),
        (
            "generator: tokio-tungstenite / hdrhistogram".to_owned(),
            format!(
                "{} / {}",
                locked(&lock, "tokio-tungstenite"),
                locked(&lock, "hdrhistogram")
            ),
        ),
        (
            "socketioxide peer: socketioxide / axum / tokio".to_owned(),
            format!(
                "{} / {} / {}",
                locked(&peer_lock, "socketioxide"),
                locked(&peer_lock, "axum"),
                locked(&peer_lock, "tokio")
            ),
        ),
        (
            "Node.js".to_owned(),
            out(Command::new(&setup.node).arg("--version")),
        ),
        (
            "socket.io peer: socket.io / engine.io / ws".to_owned(),
            format!(
                "{} / {} / {}",
                npm("socket.io"),
                npm("engine.io"),
                npm("ws")
            ),
        ),
        (
            "Python".to_owned(),
            out(Command::new(&setup.python).arg("--version")),
        ),
        (
            "Flask peer: Flask / gevent / gevent-websocket / greenlet / Werkzeug".to_owned(),
            format!(
                "{} / {} / {} / {} / {}",
                next_py(),
                next_py(),
                next_py(),
                next_py(),
                next_py()
            ),
        ),
    ]
}
