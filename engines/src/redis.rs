//! A throwaway Redis: `redis-server` as a child process on a free port of
//! 127.0.0.1, nothing persisted, its output in `DIR/redis.log`. Ready when it
//! answers `PING` (RESP spoken by hand over a `TcpStream`).

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{self, POLL, with_log};

/// How long a start or restart may take to answer PING (it takes ~0.4 s).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop may take after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect, read and write timeout of one command.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const PORT_ATTEMPTS: usize = 5;
/// Written by the server, so that a later run can stop one an earlier run left behind.
const PID_FILE: &str = "redis.pid";

/// How to start a [`Redis`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisOptions {
    /// Leave the directory (its log) behind when the server is stopped or dropped.
    pub keep_dir: bool,
}

/// A running throwaway Redis. Dropping it stops it and removes its directory
/// unless [`RedisOptions::keep_dir`].
#[derive(Debug)]
pub struct Redis {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    opts: RedisOptions,
    child: Option<Child>,
}

/// `redis-server` on PATH, else Debian's `/usr/bin/redis-server`.
pub fn redis_server_bin() -> Option<PathBuf> {
    process::find_on_path("redis-server").or_else(|| {
        let debian = PathBuf::from("/usr/bin/redis-server");
        process::is_executable(&debian).then_some(debian)
    })
}

impl Redis {
    /// Creates `dir` and starts `redis-server` in it on a free port; returns once
    /// it answers PING.
    pub fn start(dir: &Path, opts: RedisOptions) -> io::Result<Redis> {
        let bin = redis_server_bin().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "redis-server not found (PATH, /usr/bin); `cargo xtask install` installs \
                 Debian's redis-server",
            )
        })?;
        std::fs::create_dir_all(dir)?;
        let mut redis = Redis {
            dir: dir.canonicalize()?,
            bin,
            port: 0,
            opts,
            child: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            redis.port = process::free_port()?;
            match redis.spawn_and_wait() {
                Ok(()) => return Ok(redis),
                Err(err) => {
                    // Another process took the port between our check and Redis's bind.
                    let clash = std::fs::read_to_string(redis.log_path())
                        .is_ok_and(|log| log.contains("Address already in use"));
                    last_error = Some(err);
                    if !clash {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server was never started")))
    }

    /// Stops a server that an earlier run left in `dir` (its process was killed
    /// before it could stop it) and returns its PID, if there was one.
    pub fn stop_leftover(dir: &Path) -> io::Result<Option<u32>> {
        process::stop_leftover(&dir.join(PID_FILE), "TERM", STOP_TIMEOUT)
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// The server's PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server (SIGTERM) and starts it again on the same port, empty (it
    /// persists nothing); returns once it answers PING.
    pub fn restart(&mut self) -> io::Result<()> {
        self.shut_down()?;
        self.spawn_and_wait()
    }

    /// `CLIENT KILL TYPE pubsub`: cuts every subscriber's connection, the failure
    /// that silently loses pub/sub messages. Returns how many were cut.
    pub fn kill_pubsub_clients(&self) -> io::Result<u64> {
        let reply = self.command(&["CLIENT", "KILL", "TYPE", "pubsub"])?;
        reply
            .parse()
            .map_err(|_| io::Error::other(format!("CLIENT KILL answered {reply:?}")))
    }

    /// Sends one command on a fresh connection and returns a simple, integer or
    /// bulk reply as text (an error reply is an error; nil is "").
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        command(self.addr(), args)
    }

    /// SIGKILL, like a crash; [`Redis::restart`] starts it again.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait for the exit; then the directory goes unless kept.
    pub fn stop(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn_and_wait(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--pidfile"])
            .arg(self.dir.join(PID_FILE))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(with_log(
                        format!("redis-server on port {} exited ({status})", self.port),
                        &self.log_path(),
                    ));
                }
            }
            match command(self.addr(), &["PING"]) {
                Ok(reply) if reply == "PONG" => return Ok(()),
                _ if Instant::now() >= deadline => {
                    let _ = self.kill();
                    return Err(with_log(
                        format!(
                            "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}",
                            self.port
                        ),
                        &self.log_path(),
                    ));
                }
                _ => std::thread::sleep(POLL),
            }
        }
    }

    fn shut_down(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        process::signal(child.id(), "TERM")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                child.kill()?;
                child.wait()?;
                return Err(with_log(
                    format!("redis-server still ran {STOP_TIMEOUT:?} after SIGTERM; killed it"),
                    &self.log_path(),
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.shut_down();
        if !self.opts.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One RESP exchange on a fresh connection.
fn command(addr: SocketAddr, args: &[&str]) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&encode(args))?;
    read_reply(&mut BufReader::new(stream))
}

/// A RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection without a reply",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_string()),
        "-" => Err(io::Error::other(format!("Redis answered an error: {rest}"))),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| io::Error::other(format!("bad bulk length {rest:?}")))?;
            let Ok(len) = usize::try_from(len) else {
                return Ok(String::new()); // $-1: nil
            };
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Err(io::Error::other(format!(
            "unsupported Redis reply {line:?} (only simple, integer and bulk replies)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(encode(&["PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn replies_are_read_as_text() {
        let read = |bytes: &[u8]| read_reply(&mut BufReader::new(bytes));
        assert_eq!(read(b"+PONG\r\n").unwrap(), "PONG");
        assert_eq!(read(b":3\r\n").unwrap(), "3");
        assert_eq!(read(b"$5\r\nhello\r\n").unwrap(), "hello");
        assert_eq!(read(b"$-1\r\n").unwrap(), "");
        assert!(read(b"-ERR nope\r\n").is_err());
        assert!(read(b"").is_err());
    }
}
