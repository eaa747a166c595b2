//! `cargo xtask cluster [-- ARGS]`: three Parley nodes on 127.0.0.2–4:8080 sharing
//! a throwaway PostgreSQL and Redis under `data/cluster/`, until Ctrl-C.
//!
//! Ctrl-C must stop the nodes first and the engines after them, but a std-only
//! program cannot catch SIGINT (no libc, no `unsafe`). So the command, once
//! everything is built, replaces itself with a small `sh` that traps SIGINT and
//! only writes a stop file, and runs the supervisor (this binary again, hidden
//! command `__cluster`) in a session of its own (`setsid`), where the terminal's
//! signals do not reach it, the engines or the nodes. The supervisor polls for the
//! stop file, for nodes that exit and for the loss of its parent, and then stops
//! everything in order.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parley_engines::{Postgres, PostgresOptions, Redis, RedisOptions};

use crate::ctx::{self, Ctx, Error, say};
use crate::{tasks, tools};

/// The hidden command the wrapper runs: the supervisor.
pub const SUPERVISE: &str = "__cluster";
/// Where the nodes listen: loopback addresses that need no setup on Linux.
const NODES: [&str; 3] = ["127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"];
/// The database the nodes share (the engine's `postgres` one stays for admin).
const DATABASE: &str = "parley";
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(60);
const NODE_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// Traps Ctrl-C (and the terminal closing) into the stop file, runs the
/// supervisor in its own session and exits with its status. `wait` returns early
/// when a trapped signal arrives, hence the loop until the supervisor is gone.
const WRAPPER: &str = r#"stop=$1; shift
rm -f "$stop"
trap ': > "$stop"' INT TERM HUP
setsid "$@" &
pid=$!
while :; do
  wait "$pid"
  status=$?
  kill -0 "$pid" 2>/dev/null || exit "$status"
done"#;

/// Builds the SPA and the release server, then becomes the wrapper (never returns
/// on success).
pub fn cluster(ctx: &Ctx, node_args: Vec<String>) -> Result<(), Error> {
    tools::ensure_build_tools(ctx)?;
    tools::ensure_engines(ctx)?;
    tasks::build_spa(ctx)?;
    say!("building the server (release)…");
    ctx::run(ctx.cargo().args([
        "build",
        "--release",
        "-p",
        "parley-backend",
        "--bin",
        "parley",
    ]))?;
    let dir = cluster_dir(ctx);
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::new(format!("cannot find xtask's own binary: {e}")))?;
    let err = ctx
        .command("sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg("sh")
        .arg(dir.join("stop"))
        .arg(exe)
        .arg(SUPERVISE)
        .args(node_args)
        .exec();
    Err(Error::new(format!("cannot run sh: {err}")))
}

fn cluster_dir(ctx: &Ctx) -> PathBuf {
    ctx.root.join("data").join("cluster")
}

fn io_error(path: &Path, err: &std::io::Error) -> Error {
    Error::new(format!("{}: {err}", path.display()))
}

fn engine_error(engine: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |err| Error::new(format!("{engine}: {err}"))
}

/// The supervisor: engines, then nodes; on the stop file, a node's exit or the
/// wrapper's death, nodes first, then Redis, then PostgreSQL.
pub fn supervise(ctx: &Ctx, node_args: &[String]) -> Result<(), Error> {
    let parent = std::os::unix::process::parent_id();
    let dir = cluster_dir(ctx);
    let stop_file = dir.join("stop");
    let (pg_dir, redis_dir) = (dir.join("postgres"), dir.join("redis"));
    clear_leftovers(&pg_dir, &redis_dir)?;

    let started = Instant::now();
    let pg =
        Postgres::start(&pg_dir, PostgresOptions::default()).map_err(engine_error("PostgreSQL"))?;
    pg.create_database(DATABASE)
        .map_err(engine_error("PostgreSQL"))?;
    say!(
        "PostgreSQL (fsync on) at {} in {}",
        pg.url_for(DATABASE),
        ctx::human(started.elapsed())
    );
    let started = Instant::now();
    let redis = Redis::start(&redis_dir, RedisOptions::default()).map_err(engine_error("Redis"))?;
    say!(
        "Redis at {} in {}",
        redis.url(),
        ctx::human(started.elapsed())
    );

    let mut nodes = Vec::new();
    let watch = Watch {
        stop_file: &stop_file,
        parent,
    };
    let outcome = run_nodes(ctx, &pg, &redis, node_args, &watch, &mut nodes);
    say!("stopping the nodes…");
    stop_nodes(&mut nodes);
    say!("stopping Redis and PostgreSQL…");
    let redis_stopped = redis.stop().map_err(engine_error("Redis"));
    let pg_stopped = pg.stop().map_err(engine_error("PostgreSQL"));
    let _ = std::fs::remove_file(&stop_file);
    say!("cluster stopped");
    outcome.and(redis_stopped).and(pg_stopped)
}

/// Engines an earlier run could not stop (its supervisor was killed) are stopped,
/// and their directories go: every run starts empty.
fn clear_leftovers(pg_dir: &Path, redis_dir: &Path) -> Result<(), Error> {
    if let Some(pid) = Postgres::stop_leftover(pg_dir).map_err(engine_error("PostgreSQL"))? {
        say!("stopped the PostgreSQL an earlier run left behind (PID {pid})");
    }
    if let Some(pid) = Redis::stop_leftover(redis_dir).map_err(engine_error("Redis"))? {
        say!("stopped the Redis an earlier run left behind (PID {pid})");
    }
    for dir in [pg_dir, redis_dir] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(dir, &e)),
            _ => {}
        }
    }
    Ok(())
}

/// What ends the cluster besides a node's exit.
struct Watch<'a> {
    stop_file: &'a Path,
    parent: u32,
}

impl Watch<'_> {
    /// Why to stop now, if so.
    fn reason(&self) -> Option<&'static str> {
        if self.stop_file.exists() {
            Some("stop requested (Ctrl-C, SIGTERM or the terminal closing)")
        } else if std::os::unix::process::parent_id() != self.parent {
            Some("the wrapper shell is gone")
        } else {
            None
        }
    }
}

struct Node {
    addr: &'static str,
    child: Child,
    /// The threads copying its output, prefixed with its address.
    output: Vec<JoinHandle<()>>,
}

fn run_nodes(
    ctx: &Ctx,
    pg: &Postgres,
    redis: &Redis,
    node_args: &[String],
    watch: &Watch<'_>,
    nodes: &mut Vec<Node>,
) -> Result<(), Error> {
    let exe = ctx.target_dir().join("release").join("parley");
    for addr in NODES {
        let mut cmd = ctx.command(&exe);
        cmd.args(["--listen", addr, "--database"])
            .arg(pg.url_for(DATABASE))
            .arg("--redis")
            .arg(redis.url())
            .arg("--static-dir")
            .arg(ctx.dist_dir())
            .args(node_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        say!("$ {}", ctx::display(&cmd));
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {}: {e}", exe.display())))?;
        let output = [
            child.stdout.take().map(|o| copy_lines(addr, o)),
            child.stderr.take().map(|o| copy_lines(addr, o)),
        ]
        .into_iter()
        .flatten()
        .collect();
        nodes.push(Node {
            addr,
            child,
            output,
        });
    }
    for node in nodes.iter_mut() {
        if let Some(reason) = wait_ready(node, watch)? {
            say!("{reason}: stopping before every node is up");
            return Ok(());
        }
    }
    let urls: Vec<String> = NODES.iter().map(|a| format!("http://{a}")).collect();
    say!(
        "three nodes up; open {} (one browser profile or private window per \
         node for one user each); Ctrl-C stops them all",
        urls.join(", ")
    );
    loop {
        if let Some(reason) = watch.reason() {
            say!("{reason}: stopping the cluster");
            return Ok(());
        }
        for node in nodes.iter_mut() {
            if let Some(status) = node
                .child
                .try_wait()
                .map_err(|e| node_error(node.addr, &e))?
            {
                return Err(Error::new(format!(
                    "node {} exited ({status}); stopped the cluster",
                    node.addr
                )));
            }
        }
        std::thread::sleep(POLL);
    }
}

fn node_error(addr: &str, err: &std::io::Error) -> Error {
    Error::new(format!("node {addr}: {err}"))
}

/// Waits until the node accepts TCP connections; `Some(reason)` when told to stop first.
fn wait_ready(node: &mut Node, watch: &Watch<'_>) -> Result<Option<&'static str>, Error> {
    let addr: SocketAddr = node
        .addr
        .parse()
        .map_err(|e| Error::new(format!("{}: {e}", node.addr)))?;
    let deadline = Instant::now() + NODE_READY_TIMEOUT;
    loop {
        if let Some(reason) = watch.reason() {
            return Ok(Some(reason));
        }
        if let Some(status) = node
            .child
            .try_wait()
            .map_err(|e| node_error(node.addr, &e))?
        {
            return Err(Error::new(format!(
                "node {} exited while starting ({status})",
                node.addr
            )));
        }
        if TcpStream::connect_timeout(&addr, POLL).is_ok() {
            say!("node {} is up (PID {})", node.addr, node.child.id());
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(Error::new(format!(
                "node {} did not accept connections within {NODE_READY_TIMEOUT:?}",
                node.addr
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Copies a node's output to our stderr, each line prefixed with its address.
fn copy_lines(addr: &'static str, from: impl Read + Send + 'static) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            match line {
                Ok(line) => eprintln!("[{addr}] {line}"),
                Err(_) => break,
            }
        }
    })
}

/// SIGTERM to every node (they shut down gracefully), then waits; SIGKILL for a
/// node that has not exited within [`NODE_STOP_TIMEOUT`].
fn stop_nodes(nodes: &mut Vec<Node>) {
    for node in nodes.iter_mut() {
        if matches!(node.child.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-s", "TERM", &node.child.id().to_string()])
                .status();
        }
    }
    let deadline = Instant::now() + NODE_STOP_TIMEOUT;
    for mut node in nodes.drain(..) {
        loop {
            match node.child.try_wait() {
                Ok(Some(status)) => {
                    say!("node {} stopped ({status})", node.addr);
                    break;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                _ => {
                    say!(
                        "node {} still runs {NODE_STOP_TIMEOUT:?} after SIGTERM: SIGKILL",
                        node.addr
                    );
                    let _ = node.child.kill();
                    let _ = node.child.wait();
                    break;
                }
            }
        }
        for thread in node.output {
            let _ = thread.join();
        }
    }
}
