//! The process plumbing both engines share: free ports, signals by PID (through
//! `kill(1)`: the workspace forbids `unsafe`, so no libc), bounded waits, log tails.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a wait looks again.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// A fresh, empty directory under the system temp directory, named after `prefix`,
/// this process and a counter, for an engine's files.
pub fn scratch_dir(prefix: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A port nobody listens on right now. Another process may take it before the
/// engine binds it; the engines retry with a new one when that happens.
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether we run as root (`Uid:` in /proc/self/status; Linux only, like the engines).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `name` in one of PATH's directories.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Sends `signal` ("INT", "TERM", "QUIT", "KILL") to `pid`.
pub(crate) fn signal(pid: u32, signal: &str) -> io::Result<()> {
    let out = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -s {signal} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether `pid` is a live process. A zombie counts as gone: a daemonized
/// postmaster is nobody's child here, and a container's PID 1 may never reap it.
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S …": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until `pid` has exited; false when it still runs after `timeout`.
pub(crate) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            format!(
                "--- last lines of {} ---\n{}",
                path.display(),
                all[start..].join("\n")
            )
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Runs `cmd` to completion; a failure carries its stderr and stdout.
pub(crate) fn run(cmd: &mut Command, what: &str) -> io::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: cannot start: {e}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )))
    }
}

/// An error whose message ends with the log's tail.
pub(crate) fn with_log(message: impl std::fmt::Display, log: &Path) -> io::Error {
    io::Error::other(format!("{message}\n{}", log_tail(log, 20)))
}

/// Signals the live process named on the first line of `pid_file`, waits for it
/// to exit, and returns its PID; `None` when there is no such file or process.
pub(crate) fn stop_leftover(
    pid_file: &Path,
    sig: &str,
    timeout: Duration,
) -> io::Result<Option<u32>> {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Ok(None);
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
    else {
        return Ok(None);
    };
    if !alive(pid) {
        return Ok(None);
    }
    signal(pid, sig)?;
    if wait_gone(pid, timeout) {
        Ok(Some(pid))
    } else {
        Err(io::Error::other(format!(
            "the process in {} (PID {pid}) still runs {timeout:?} after SIG{sig}",
            pid_file.display()
        )))
    }
}
