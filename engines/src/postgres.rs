//! A throwaway PostgreSQL: `initdb` into `DIR/data`, `pg_ctl start` on a free port
//! of 127.0.0.1 with its socket in `DIR`, user `parley`, trust authentication.
//!
//! `initdb` refuses to run as root, so as root every server-side binary runs as
//! the `postgres` user (`runuser`), in a directory it owns.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, with_log};

/// What the database is called in URLs unless a test creates its own.
const DEFAULT_DB: &str = "postgres";
/// The superuser initdb creates (trust authentication: no password).
const USER: &str = "parley";
/// Seconds `pg_ctl -w` may wait for a start or restart.
const PG_CTL_WAIT_SECS: u32 = 30;
/// How long a fast shutdown may take before it is an error.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the immediate shutdown of `kill` and of drop may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Starts tried on a new port when another process took the free one first.
const PORT_ATTEMPTS: usize = 5;

/// How to start a [`Postgres`].
#[derive(Clone, Copy, Debug)]
pub struct PostgresOptions {
    /// `fsync` as PostgreSQL means it. Off is much faster and fine for tests that
    /// do not crash the machine or PostgreSQL itself; on for anything that should
    /// behave like a real deployment (`cargo xtask cluster`).
    pub fsync: bool,
    /// Leave the directory (data and log) behind when the server is stopped or dropped.
    pub keep_dir: bool,
}

impl Default for PostgresOptions {
    /// fsync on, directory removed afterwards.
    fn default() -> Self {
        Self {
            fsync: true,
            keep_dir: false,
        }
    }
}

impl PostgresOptions {
    /// fsync off, directory removed afterwards: what test suites want.
    pub fn for_tests() -> Self {
        Self {
            fsync: false,
            keep_dir: false,
        }
    }
}

/// A running throwaway PostgreSQL. Dropping it shuts it down at once (immediate
/// mode) and removes its directory unless [`PostgresOptions::keep_dir`].
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    opts: PostgresOptions,
    /// Root runs the server binaries as the `postgres` user.
    as_postgres: bool,
    /// False once stopped, so drop does not signal a PID that may be reused.
    running: bool,
}

/// The directory of PostgreSQL's server binaries: the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian keeps them off PATH), else the one
/// on PATH that holds `pg_ctl`.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let pg_ctl = process::find_on_path("pg_ctl")?;
    let bin = pg_ctl.parent()?.to_path_buf();
    has_server(&bin).then_some(bin)
}

fn has_server(bin: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|name| process::is_executable(&bin.join(name)))
}

impl Postgres {
    /// Creates `dir` (it must not hold a `data/` yet), runs `initdb` and starts the
    /// server on a free port; returns once it accepts connections.
    pub fn start(dir: &Path, opts: PostgresOptions) -> io::Result<Postgres> {
        let bin = postgres_bin_dir().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL's server binaries not found (looked in /usr/lib/postgresql/*/bin \
                 and on PATH); `cargo xtask install` installs Debian's postgresql",
            )
        })?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        if dir.join("data").exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already holds a data directory", dir.display()),
            ));
        }
        let as_postgres = process::is_root();
        let mut pg = Postgres {
            dir,
            bin,
            port: 0,
            opts,
            as_postgres,
            // Nothing to stop yet; drop still removes the directory.
            running: false,
        };
        if as_postgres {
            pg.hand_dir_to_postgres()?;
        }
        pg.initdb()?;
        pg.first_start()?;
        Ok(pg)
    }

    /// Stops a server that an earlier run left in `dir` (its process was killed
    /// before it could stop it; immediate shutdown) and returns its PID, if there
    /// was one.
    pub fn stop_leftover(dir: &Path) -> io::Result<Option<u32>> {
        process::stop_leftover(&dir.join("data/postmaster.pid"), "QUIT", KILL_TIMEOUT)
    }

    /// `postgres://parley@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        self.url_for(DEFAULT_DB)
    }

    /// The URL of database `db` on this server.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding `data/`, the server's `log` and its socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The directory of the PostgreSQL binaries in use (psql, createdb, pg_dump…).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The postmaster's PID: the first line of `data/postmaster.pid`.
    pub fn pid(&self) -> io::Result<u32> {
        let path = self.data_dir().join("postmaster.pid");
        let text = std::fs::read_to_string(&path)?;
        text.lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!("{}: no PID on its first line", path.display()))
            })
    }

    /// `CREATE DATABASE name` (owned by `parley`), through `createdb`.
    pub fn create_database(&self, name: &str) -> io::Result<()> {
        let mut cmd = self.client("createdb");
        cmd.arg(name);
        process::run(&mut cmd, &format!("createdb {name}")).map(drop)
    }

    /// Runs `sql` in database `db` with `psql` (stop at the first error) and
    /// returns what it printed, unaligned and without headers.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        let mut cmd = self.client("psql");
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ]);
        let out = process::run(&mut cmd, "psql")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the server comes back on
    /// the same port. Also starts it again after [`Postgres::kill`].
    pub fn restart_fast(&mut self) -> io::Result<()> {
        let mut cmd = self.server("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args([
                "-w",
                "-t",
                &PG_CTL_WAIT_SECS.to_string(),
                "-m",
                "fast",
                "-o",
            ])
            .arg(self.server_options())
            .arg("restart");
        process::run(&mut cmd, "pg_ctl restart").map_err(|e| with_log(e, &self.log_path()))?;
        self.running = true;
        Ok(())
    }

    /// A crash: immediate shutdown (SIGQUIT), every backend aborts without a
    /// checkpoint, and the next start ([`Postgres::restart_fast`]) runs recovery.
    /// Returns once the postmaster has exited.
    pub fn kill(&mut self) -> io::Result<()> {
        let pid = self.pid()?;
        process::signal(pid, "QUIT")?;
        if !process::wait_gone(pid, KILL_TIMEOUT) {
            return Err(with_log(
                format!("PostgreSQL (PID {pid}) still runs {KILL_TIMEOUT:?} after SIGQUIT"),
                &self.log_path(),
            ));
        }
        self.running = false;
        Ok(())
    }

    /// Fast shutdown (SIGINT: connections are cut, a checkpoint is written), waiting
    /// for the postmaster to exit; then the directory goes unless kept.
    pub fn stop(mut self) -> io::Result<()> {
        if !self.running {
            return Ok(());
        }
        let pid = self.pid()?;
        process::signal(pid, "INT")?;
        if !process::wait_gone(pid, STOP_TIMEOUT) {
            return Err(with_log(
                format!("PostgreSQL (PID {pid}) still runs {STOP_TIMEOUT:?} after SIGINT"),
                &self.log_path(),
            ));
        }
        self.running = false;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// As root: `chown postgres: DIR; chmod 700 DIR`, and check that `postgres` can
    /// reach it (every parent must be searchable by other users).
    fn hand_dir_to_postgres(&self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        process::run(
            Command::new("chown").arg("postgres:").arg(&self.dir),
            "chown postgres:",
        )?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let reachable = Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-w"])
            .arg(&self.dir)
            .status()?;
        if !reachable.success() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the postgres user cannot write to {}: one of its parents is not \
                     searchable by other users (chmod o+x it, or use a directory under /tmp)",
                    self.dir.display()
                ),
            ));
        }
        Ok(())
    }

    fn initdb(&self) -> io::Result<()> {
        let mut cmd = self.server("initdb");
        cmd.arg("-D").arg(self.data_dir()).args([
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        process::run(&mut cmd, "initdb").map(drop)
    }

    /// `pg_ctl start` on a free port; when another process took that port between
    /// our check and PostgreSQL's bind, again on a new one.
    fn first_start(&mut self) -> io::Result<()> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            self.port = process::free_port()?;
            let mut cmd = self.server("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_path())
                .args(["-w", "-t", &PG_CTL_WAIT_SECS.to_string(), "-o"])
                .arg(self.server_options())
                .arg("start");
            match process::run(&mut cmd, "pg_ctl start") {
                Ok(_) => {
                    self.running = true;
                    return Ok(());
                }
                Err(err) => {
                    let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                    let clash = log.contains("Address already in use")
                        || log.contains("could not create lock file");
                    last_error = Some(with_log(err, &self.log_path()));
                    if !clash {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("pg_ctl start was never tried")))
    }

    /// The postmaster's command-line options, as one `pg_ctl -o` string.
    fn server_options(&self) -> String {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            shell_quote(&self.dir.to_string_lossy())
        );
        if !self.opts.fsync {
            opts.push_str(" -c fsync=off");
        }
        opts
    }

    /// A server-side binary (initdb, pg_ctl): as `postgres` when we are root, in
    /// the engine's directory (initdb fails in a working directory it cannot read),
    /// with messages in English (the port-clash check reads them).
    fn server(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir).env("LC_ALL", "C");
        cmd
    }

    /// A client binary (psql, createdb) over TCP as `parley`, with a bounded connect.
    fn client(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .env("PGCONNECT_TIMEOUT", "10")
            .env("LC_ALL", "C");
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            if let Ok(pid) = self.pid() {
                if process::signal(pid, "QUIT").is_ok() {
                    process::wait_gone(pid, KILL_TIMEOUT);
                }
            }
        }
        if !self.opts.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `'…'` for the shell-like parsing of `pg_ctl -o`, when needed.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
