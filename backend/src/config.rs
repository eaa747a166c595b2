//! Typed configuration: command-line flags with matching environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::store::Database;

/// Parley chat server.
#[derive(Debug, Clone, Parser)]
#[command(name = "parley", version, about)]
pub struct Config {
    /// Address to listen on (use 0.0.0.0:8080 to accept other machines).
    #[arg(long, env = "PARLEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the built single-page app (trunk's `dist/`). Unknown paths
    /// are answered with its index.html so client-side routes work.
    #[arg(long, env = "PARLEY_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Where everything is stored: a PostgreSQL URL
    /// (postgres://user@host:port/db, for several nodes on one database) or a
    /// SQLite database file (created, with its directory, on first start).
    #[arg(long, env = "PARLEY_DATABASE", default_value = "data/parley.db")]
    pub database: Database,

    /// Extra origins (scheme://host:port) whose pages may use the API and open
    /// WebSockets, besides the server's own. Repeat the flag, or separate with
    /// commas in the variable; e.g. http://127.0.0.1:8081 for `trunk serve`.
    #[arg(
        long = "allowed-origin",
        env = "PARLEY_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Login attempts allowed per minute per user name (and 5x that per client
    /// address), after a burst of the same size.
    #[arg(long, env = "PARLEY_LOGIN_RATE", default_value_t = 10)]
    pub login_rate_per_minute: u32,

    /// Accounts that may be registered per minute per client address.
    #[arg(long, env = "PARLEY_REGISTER_RATE", default_value_t = 20)]
    pub register_rate_per_minute: u32,

    /// Seconds between the server's WebSocket pings.
    #[arg(long, env = "PARLEY_PING_INTERVAL", default_value_t = 25)]
    pub ping_interval_secs: u64,

    /// Seconds without any frame from a client (pongs count) before its
    /// connection is closed as dead.
    #[arg(long, env = "PARLEY_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Longest a long-poll request waits for an event, in seconds (at most 25).
    #[arg(long, env = "PARLEY_LONG_POLL_WAIT", default_value_t = 25)]
    pub long_poll_wait_secs: u64,

    /// Messages per second one connection may send, on average (each connection
    /// may send a burst of `--message-burst` at once). Over it, messages are
    /// refused with `rate_limited`; refused for long, the connection is closed
    /// with 1008.
    #[arg(long, env = "PARLEY_MESSAGE_RATE", default_value_t = 20.0)]
    pub message_rate: f64,

    /// Messages one connection may send at once before the rate applies.
    #[arg(long, env = "PARLEY_MESSAGE_BURST", default_value_t = 60)]
    pub message_burst: u32,

    /// Messages per second one user may send over all their connections.
    #[arg(long, env = "PARLEY_USER_MESSAGE_RATE", default_value_t = 50.0)]
    pub user_message_rate: f64,

    /// Open connections (WebSocket or long-poll) the server takes in total;
    /// more are refused with 503 `server_busy`.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections one user may have (tabs, devices); more get 429
    /// `too_many_connections`.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS_PER_USER", default_value_t = 20)]
    pub max_connections_per_user: usize,

    /// Seconds a new connection has to say `hello` before it is closed (1008).
    #[arg(long, env = "PARLEY_HELLO_TIMEOUT", default_value_t = 10)]
    pub hello_timeout_secs: u64,

    /// Seconds a client may take to send a request's headers (against slowloris).
    #[arg(long, env = "PARLEY_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Kernel send buffer of each client socket, in bytes (unset: the kernel
    /// sizes it, up to net.ipv4.tcp_wmem's maximum, 4 MiB by default). Bounds
    /// what a client that stops reading can hold besides its outbox.
    #[arg(long, env = "PARLEY_SEND_BUFFER")]
    pub send_buffer_bytes: Option<usize>,

    /// Seconds a write to a client (a batch of frames, a ping, the close frame)
    /// may take; one that cannot finish in time (the client stopped reading)
    /// ends the connection, its socket reset.
    #[arg(long, env = "PARLEY_WRITE_TIMEOUT", default_value_t = 20)]
    pub write_timeout_secs: u64,

    /// Write requests (messages, votes, joins…) that may wait for the store's
    /// writer; when full, sessions wait for room and stop reading their sockets
    /// (back-pressure: acks slow down, memory does not grow).
    #[arg(long, env = "PARLEY_STORE_WRITE_QUEUE", default_value_t = crate::store::QueueLimits::DEFAULT_WRITES)]
    pub store_write_queue: usize,

    /// Queries (history, room lists, welcomes…) that may wait for a read
    /// thread; more are refused at once with `server_busy`.
    #[arg(long, env = "PARLEY_STORE_READ_QUEUE", default_value_t = crate::store::QueueLimits::DEFAULT_READS)]
    pub store_read_queue: usize,

    /// For the Autobahn conformance suite (`cargo xtask autobahn`): serve an echo
    /// WebSocket at /autobahn, with the production settings and no session.
    #[arg(long, hide = true)]
    pub autobahn_echo: bool,

    /// For the Autobahn suite's second run: the echo route's message and frame
    /// limit in bytes instead of the production 64 KiB (/ws keeps 64 KiB).
    #[arg(long, hide = true)]
    pub autobahn_max_message_bytes: Option<usize>,

    /// For tests: refuse WebSocket upgrades (503), like a proxy that blocks them,
    /// so clients fall back to long-polling.
    #[arg(long, hide = true)]
    pub refuse_websocket: bool,

    /// Redis (redis://host:port) joining this node to the others that use it:
    /// messages, presence, typing, logouts and login limits cross between
    /// nodes through it. Needs a PostgreSQL `--database` shared by all nodes.
    #[arg(long, env = "PARLEY_REDIS")]
    pub redis: Option<String>,

    /// Prefix of the cluster's Redis keys and channel (several clusters on
    /// one Redis).
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley")]
    pub redis_prefix: String,

    /// For tests: the share (0 to 1) of message hints to other nodes dropped
    /// on purpose, as a lossy pub/sub would; no message may be lost for it.
    #[arg(long, hide = true, default_value_t = 0.0)]
    pub cluster_drop_hints: f64,
}

impl Config {
    /// A configuration for tests: an ephemeral port on loopback and a fresh
    /// database file under the system temp directory (set `database` to reuse one).
    pub fn for_tests(static_dir: impl Into<PathBuf>) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let database = std::env::temp_dir()
            .join(format!(
                "parley-test-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ))
            .join("parley.db")
            .into();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            static_dir: static_dir.into(),
            database,
            allowed_origins: Vec::new(),
            login_rate_per_minute: 10,
            register_rate_per_minute: 1000,
            ping_interval_secs: 25,
            idle_timeout_secs: 60,
            long_poll_wait_secs: 25,
            header_timeout_secs: 10,
            send_buffer_bytes: None,
            // Tests send fast on purpose; the ones about limits lower these.
            message_rate: 1e6,
            message_burst: 1_000_000,
            user_message_rate: 1e6,
            max_connections: 10_000,
            max_connections_per_user: 20,
            hello_timeout_secs: 10,
            write_timeout_secs: 20,
            store_write_queue: crate::store::QueueLimits::DEFAULT_WRITES,
            store_read_queue: crate::store::QueueLimits::DEFAULT_READS,
            refuse_websocket: false,
            autobahn_echo: false,
            autobahn_max_message_bytes: None,
            redis: None,
            redis_prefix: "parley".to_owned(),
            cluster_drop_hints: 0.0,
        }
    }
}
