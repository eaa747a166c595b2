//! Processes and what Linux tells about them: CPU time and RSS from `/proc`,
//! kernel socket memory, CPU pinning, and the servers under test — each started
//! pinned to its core under a guard process (which kills it when this runner goes
//! away, or after a time limit), and killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The server under test runs on this CPU…
pub const SERVER_CPU: usize = 0;
/// …and the load generator (every worker, and the runner) on this one.
pub const GENERATOR_CPU: usize = 1;

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds used by `pid` (all its threads).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    Ok(ticks / clk_tck())
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS for process {pid}"))
}

/// Memory of all TCP sockets on the machine, in bytes (`/proc/net/sockstat`,
/// `TCP: … mem N` pages). On loopback both ends of every connection count.
pub fn tcp_socket_bytes() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").context("/proc/net/sockstat")?;
    let pages: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("TCP:"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .find(|w| w[0] == "mem")
                .and_then(|w| w[1].parse().ok())
        })
        .context("no TCP mem in /proc/net/sockstat")?;
    Ok(pages * 4096)
}

/// Pins this process (all its threads, and children started later) to `cpu`.
pub fn pin_self(cpu: usize) -> Result<()> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .context("taskset (util-linux) is needed to pin processes to CPUs")?;
    if !status.success() {
        bail!("taskset could not pin the benchmark to CPU {cpu}");
    }
    Ok(())
}

/// Lets this process (all its threads, and children started later) run on
/// every CPU again: the cluster scenario's nodes and engines share the machine.
pub fn unpin_self() -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &format!("0-{}", cores.saturating_sub(1)),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .context("taskset (util-linux) is needed to pin processes to CPUs")?;
    if !status.success() {
        bail!("taskset could not let the benchmark use every CPU");
    }
    Ok(())
}

/// The hard limit on open files, which children get as their soft limit too.
pub fn nofile_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `prlimit --nofile=N:N taskset -c <cpu> <program>`: the program runs pinned,
/// with every file descriptor the machine allows. Both wrappers exec, so the
/// child's pid is the program's.
pub fn pinned(program: &Path, cpu: usize) -> Command {
    let nofile = nofile_limit();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={nofile}:{nofile}"))
        .args(["taskset", "-c", &cpu.to_string()])
        .arg(program);
    cmd
}

/// `parley-bench guard` around a command: the guard starts it, and kills it
/// when the guard's stdin closes (this runner stopped or dropped the server,
/// however it ended) or after `max_secs`.
pub fn guarded(exe: &Path, max_secs: u64, inner: &Command) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["guard", "--max-secs", &max_secs.to_string(), "--"])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    cmd
}

/// `parley-bench guard --max-secs N -- COMMAND…`: runs COMMAND until it exits,
/// our stdin reaches end of file, or N seconds pass; then kills it.
pub fn guard(max_secs: u64, command: &[String]) -> Result<()> {
    let (program, args) = command.split_first().context("guard: no command")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("guard: cannot start {program}"))?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = tx.send(());
    });
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("{program} exited: {status}");
        }
        let stop = !matches!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty));
        if stop || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server under test, started under a guard. Dropping it kills it.
pub struct ServerProc {
    guard: Child,
    /// Closing it tells the guard to kill the server.
    guard_stdin: Option<ChildStdin>,
    /// The server itself (the guard's child).
    pub pid: u32,
    pub addr: SocketAddr,
}

impl ServerProc {
    /// Starts `cmd` (built with [`guarded`]) with its output in `log`, and waits
    /// until `addr` accepts connections.
    pub fn start(mut cmd: Command, addr: SocketAddr, log: &Path, label: &str) -> Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let out = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let err = out.try_clone()?;
        let mut guard = cmd
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {label} (prlimit and taskset are needed)"))?;
        let guard_pid = guard.id();
        let mut server = Self {
            guard_stdin: guard.stdin.take(),
            guard,
            pid: 0,
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if server.pid == 0 {
                server.pid = child_of(guard_pid).unwrap_or(0);
            }
            if server.pid != 0 && std::net::TcpStream::connect(addr).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.guard.try_wait() {
                bail!("{label} exited at start ({status}); see {}", log.display());
            }
            if Instant::now() > deadline {
                bail!(
                    "{label} did not listen on {addr} within 60 s; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.guard.try_wait(), Ok(None))
    }

    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.pid)
    }

    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        // End of file on the guard's stdin: it kills the server and exits.
        drop(self.guard_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.guard.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.guard.try_wait(), Ok(None)) {
            if self.pid != 0 && parent_of(self.pid) == Some(self.guard.id()) {
                // By id, and only while it is still the guard's child (so never
                // a recycled pid).
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = self.guard.kill();
        }
        let _ = self.guard.wait();
    }
}

/// Every child process of `parent` (PostgreSQL's backends of its postmaster).
pub fn children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|entry| {
                let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
                (parent_of(pid) == Some(parent)).then_some(pid)
            })
            .collect()
        })
        .unwrap_or_default()
}

/// The one child process of `parent`.
fn child_of(parent: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse().ok()));
    children.or_else(|| {
        std::fs::read_dir("/proc").ok()?.find_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            (parent_of(pid) == Some(parent)).then_some(pid)
        })
    })
}

/// A directory emptied (or created) for one run.
pub fn fresh_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(path.to_path_buf())
}
