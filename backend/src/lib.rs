//! Parley's server: an axum application serving the WebSocket endpoint and the SPA.
//!
//! Read top-down: [`Application::build`] opens the [`store`], binds the listener
//! and builds the [`http::router`]; `/api/*` ([`http::api`]) handles accounts and
//! sessions; `/ws` ([`http::ws`]) hands the socket to [`transport::ws`], which
//! drives a [`session::Session`] that talks to
//! the [`store::Store`] (durable, sequence numbers) and the shared [`hub::Hub`]
//! (who is online, fan-out); each connection receives through its bounded
//! [`outbox::Outbox`].

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod serve;
pub mod session;
pub mod store;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use http::AppState;
use http::Limits;
pub use hub::Hub;
use limits::{Rate, RateLimiter};
pub use store::Store;
use transport::Heartbeat;
use transport::longpoll::LongPolls;

/// How long connections may take to say goodbye after shutdown is requested.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The rate limits and caps `config` asks for.
fn limits(config: &Config) -> Limits {
    let login = config.login_rate_per_minute;
    let register = config.register_rate_per_minute;
    let burst = config.message_burst.max(1);
    Limits {
        login_by_name: RateLimiter::new(Rate::per_minute(login, login)),
        login_by_ip: RateLimiter::new(Rate::per_minute(
            login.saturating_mul(5),
            login.saturating_mul(5),
        )),
        register_by_ip: RateLimiter::new(Rate::per_minute(register, register)),
        login_per_minute: login,
        register_per_minute: register,
        messages: Arc::new(limits::MessageLimits {
            per_connection: Rate::per_second(config.message_rate, f64::from(burst)),
            per_user: RateLimiter::new(Rate::per_second(
                config.user_message_rate,
                config.user_message_rate * 3.0,
            )),
            // Refused for as many messages again as a full burst: not an
            // accident any more.
            abuse_after: burst.saturating_mul(2).max(20),
        }),
        connections: limits::Connections::new(
            config.max_connections,
            config.max_connections_per_user,
        ),
    }
}

/// How many connection requests may wait to be accepted. tokio's `bind` asks for
/// 128: a burst of reconnecting clients overflows that, and the kernel drops
/// their SYNs (each retried a second later).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with [`LISTEN_BACKLOG`] (and SO_REUSEADDR, so a restart can
/// bind while old connections linger in TIME_WAIT).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    header_timeout: Duration,
    send_buffer: Option<usize>,
}

impl Application {
    /// Binds the listening socket (port 0 picks a free port) and builds the router.
    pub async fn build(config: Config) -> std::io::Result<Self> {
        if !config.static_dir.join("index.html").is_file() {
            tracing::warn!(
                static_dir = %config.static_dir.display(),
                "no index.html in the static directory: build the SPA with `cargo xtask run` (or `trunk build --release`)"
            );
        } else if !config.static_dir.join("lab/index.html").is_file() {
            tracing::warn!(
                static_dir = %config.static_dir.display(),
                "no lab/index.html in the static directory: /lab/ shows the chat (`cargo xtask dist` builds both pages)"
            );
        }
        let hub = Hub::new();
        let queues = store::QueueLimits {
            writes: config.store_write_queue,
            reads: config.store_read_queue,
        };
        let metrics = Arc::new(metrics::Metrics::new());
        let shutdown = CancellationToken::new();
        // With Redis, committed messages go through the relay (the other nodes
        // hear of them, and each channel is delivered here in order); alone,
        // straight to the hub.
        let cluster = match &config.redis {
            Some(url) => Some(
                cluster::Cluster::new(
                    &cluster::ClusterConfig {
                        redis: url.clone(),
                        prefix: config.redis_prefix.clone(),
                        drop_share: config.cluster_drop_hints,
                    },
                    &hub,
                    &shutdown,
                )
                .map_err(|e| std::io::Error::other(format!("redis: {e}")))?,
            ),
            None => None,
        };
        let fanout: Arc<dyn store::Fanout> = match &cluster {
            Some(c) => c.fanout(),
            None => Arc::new(hub.clone()),
        };
        // `Database`'s Display hides a URL's password.
        let store = Store::connect(
            &config.database,
            fanout,
            queues,
            metrics.commit_seconds.clone(),
        )
        .await
        .map_err(|e| std::io::Error::other(format!("database {}: {e}", config.database)))?;
        tracing::info!(database = %config.database, "store open");
        if let Some(c) = &cluster {
            if !store.is_postgres() {
                return Err(std::io::Error::other(
                    "--redis joins nodes that share one database: give --database postgres://…",
                ));
            }
            c.start(store.clone(), &shutdown)
                .await
                .map_err(|e| std::io::Error::other(format!("cluster secret: {e}")))?;
            tracing::info!(node = c.node(), "joined the cluster");
        }
        let heartbeat = Heartbeat {
            ping_interval: Duration::from_secs(config.ping_interval_secs.max(1)),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
            hello_timeout: Duration::from_secs(config.hello_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(config.write_timeout_secs.max(1)),
            poll_wait: Duration::from_secs(
                config
                    .long_poll_wait_secs
                    .min(parley_common::LONG_POLL_WAIT_SECS),
            ),
        };
        let longpolls = Arc::new(LongPolls::new(
            transport::Env {
                heartbeat,
                metrics: Arc::clone(&metrics),
                shutdown: shutdown.clone(),
            },
            cluster.clone(),
        ));
        let state = AppState {
            hub,
            store,
            allowed_origins: config.allowed_origins.clone().into(),
            limits: Arc::new(limits(&config)),
            heartbeat,
            longpolls,
            metrics,
            refuse_websocket: config.refuse_websocket,
            shutdown,
            tracker: TaskTracker::new(),
            cluster,
        };
        state.hub.start(state.shutdown.clone());
        if let Some(c) = &state.cluster {
            c.serve_long_polls(Arc::new(http::longpoll::Forwarded(state.clone())));
        }
        hub::deadlines::schedule_deadlines(&state.store, &state.shutdown).await;
        let listener = listen(config.listen)?;
        let autobahn = config.autobahn_echo.then(|| {
            config
                .autobahn_max_message_bytes
                .unwrap_or(http::ws::MAX_MESSAGE_BYTES)
        });
        let router = http::router(state.clone(), &config.static_dir, autobahn);
        Ok(Self {
            listener,
            router,
            state,
            header_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
            send_buffer: config.send_buffer_bytes,
        })
    }

    /// The store, e.g. for its counters in benchmarks.
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then stops accepting, closes every
    /// WebSocket with 1001 "going away" (after delivering what is queued), waits up
    /// to [`DRAIN_TIMEOUT`] for connections to finish, and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            state,
            header_timeout,
            send_buffer,
        } = self;
        let token = state.shutdown.clone();
        tokio::spawn({
            let token = token.clone();
            async move {
                tokio::select! {
                    () = shutdown => token.cancel(),
                    () = token.cancelled() => {}
                }
            }
        });
        tracing::info!(addr = %listener.local_addr()?, "parley listening");
        // The accept loop runs as a task, not on the thread that called us: under
        // `#[tokio::main]` that is the main thread, outside the worker pool, and
        // every accepted connection would be handed across threads (a futex wake
        // and a context switch per handshake when the server has one core).
        let accept = tokio::spawn(serve::serve(
            listener,
            router,
            token.clone(),
            header_timeout,
            send_buffer,
        ));
        if let Err(err) = accept.await {
            tracing::error!(%err, "the accept loop failed");
            token.cancel();
        }
        state.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = state.tracker.len(),
                "connections still open after the drain timeout"
            );
        }
        // Every connection is gone: commit what the writer still holds and close.
        state.store.close().await;
        tracing::info!("parley stopped");
        Ok(())
    }
}
