//! Parley's server: an axum application serving the WebSocket endpoint and the SPA.
//!
//! Read top-down: [`Application::build`] opens the [`store`], binds the listener
//! and builds the [`router`]; `/api/*` ([`api`]) handles accounts and sessions;
//! `/ws` goes to [`transport::ws`], which drives a [`session::Session`] that talks to
//! the [`store::Store`] (durable, sequence numbers) and the shared [`hub::Hub`]
//! (who is online, fan-out); each connection receives through its bounded
//! [`outbox::Outbox`].

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod security;
pub mod serve;
pub mod session;
pub mod store;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use hub::Hub;
use limits::{Rate, RateLimiter};
pub use store::Store;

/// How long connections may take to say goodbye after shutdown is requested.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub hub: Hub,
    pub store: Store,
    /// Origins allowed besides the server's own.
    pub allowed_origins: Arc<[String]>,
    pub limits: Arc<Limits>,
    pub heartbeat: Heartbeat,
    /// Counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Open long-poll connections.
    pub longpolls: Arc<transport::longpoll::LongPolls>,
    /// Test flag: answer WebSocket upgrades with 503, as a network that blocks
    /// them would, so clients fall back to long-polling.
    pub refuse_websocket: bool,
    /// Cancelled once when the server starts shutting down; every long-running task
    /// watches it.
    pub shutdown: CancellationToken,
    /// Tracks upgraded connections, which outlive the HTTP request that started
    /// them, so shutdown can wait for their close handshakes.
    pub tracker: TaskTracker,
}

/// WebSocket liveness: how often we ping, how long a silent client may live.
#[derive(Clone, Copy, Debug)]
pub struct Heartbeat {
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// Longest a long-poll GET waits for an event.
    pub poll_wait: Duration,
    /// How soon after connecting a client must say `hello`.
    pub hello_timeout: Duration,
    /// Longest a write to a WebSocket may take before the connection is dropped.
    pub write_timeout: Duration,
}

/// Rate limiters and caps: the account endpoints, messages, connections.
#[derive(Debug)]
pub struct Limits {
    pub login_by_name: RateLimiter,
    pub login_by_ip: RateLimiter,
    pub register_by_ip: RateLimiter,
    pub messages: Arc<limits::MessageLimits>,
    pub connections: Arc<limits::Connections>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let login = config.login_rate_per_minute;
        let register = config.register_rate_per_minute;
        let burst = config.message_burst.max(1);
        Self {
            login_by_name: RateLimiter::new(Rate::per_minute(login, login)),
            login_by_ip: RateLimiter::new(Rate::per_minute(
                login.saturating_mul(5),
                login.saturating_mul(5),
            )),
            register_by_ip: RateLimiter::new(Rate::per_minute(register, register)),
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
}

/// Builds the HTTP routes: the WebSocket endpoint, a health check, and the SPA
/// (unknown paths fall back to its index.html so client-side routes load; the
/// transport lab's page is `lab/index.html`, so `/lab/`).
/// `autobahn_echo`: serve the Autobahn echo route at `/autobahn` with this
/// message size limit.
pub fn router(state: AppState, static_dir: &Path, autobahn_echo: Option<usize>) -> Router {
    // Precompressed `.br` / `.gz` files (written by `cargo xtask dist`) are sent to
    // browsers that accept them.
    let index = ServeFile::new(static_dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let spa = ServeDir::new(static_dir)
        .append_index_html_on_directories(true)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    let csp = Arc::new(security::Csp::new(static_dir));
    let spa = Router::new()
        .fallback_service(spa)
        .layer(axum::middleware::from_fn(cache_headers))
        .layer(axum::middleware::from_fn_with_state(
            csp,
            security::security_headers,
        ));
    let mut routes = Router::new();
    if let Some(limit) = autobahn_echo {
        tracing::warn!(
            limit,
            "serving the Autobahn echo WebSocket at /autobahn (a test flag)"
        );
        routes = routes.route("/autobahn", get(move |ws| transport::ws::echo(ws, limit)));
    }
    routes
        .route("/ws", get(transport::ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::metrics))
        .merge(api::router())
        .merge(transport::longpoll::router())
        .fallback_service(spa)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Hashed assets (`name-<16 hex>.js`, `…_bg.wasm`, `.css`) never change under the
/// same name: cache them for a year. Everything else, index.html above all, must be
/// revalidated so a new release is picked up at once.
async fn cache_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let immutable = is_hashed_asset(request.uri().path());
    let mut response = next.run(request).await;
    let value = if immutable && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(value),
    );
    response
}

/// Whether the file name carries trunk's content hash: `-` + 16 hex digits,
/// then `.` or `_`.
fn is_hashed_asset(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    name.match_indices('-').any(|(i, _)| {
        let rest = &name[i + 1..];
        rest.len() > 17
            && rest.as_bytes()[..16].iter().all(u8::is_ascii_hexdigit)
            && matches!(rest.as_bytes()[16], b'.' | b'_')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashed_asset_names_are_recognised() {
        assert!(super::is_hashed_asset(
            "/parley-frontend-c2cfe029ad7f0d2d.js"
        ));
        assert!(super::is_hashed_asset(
            "/parley-frontend-c2cfe029ad7f0d2d_bg.wasm"
        ));
        assert!(super::is_hashed_asset("/style-ec72ecc12543f56b.css"));
        assert!(!super::is_hashed_asset("/index.html"));
        assert!(!super::is_hashed_asset("/rooms/some-room"));
        assert!(!super::is_hashed_asset("/x-c2cfe029ad7f0d2.js"));
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
        let store =
            Store::open_with(&config.database, Arc::new(hub.clone()), queues).map_err(|e| {
                std::io::Error::other(format!("database {}: {e}", config.database.display()))
            })?;
        tracing::info!(database = %config.database.display(), "store open");
        let state = AppState {
            hub,
            store,
            allowed_origins: config.allowed_origins.clone().into(),
            limits: Arc::new(Limits::new(&config)),
            heartbeat: Heartbeat {
                ping_interval: Duration::from_secs(config.ping_interval_secs.max(1)),
                idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
                hello_timeout: Duration::from_secs(config.hello_timeout_secs.max(1)),
                write_timeout: Duration::from_secs(config.write_timeout_secs.max(1)),
                poll_wait: Duration::from_secs(
                    config
                        .long_poll_wait_secs
                        .min(parley_common::LONG_POLL_WAIT_SECS),
                ),
            },
            longpolls: Arc::default(),
            metrics: Arc::default(),
            refuse_websocket: config.refuse_websocket,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        };
        state.hub.start(state.shutdown.clone());
        hub::deadlines::schedule_deadlines(&state.store, &state.shutdown).await;
        let listener = listen(config.listen)?;
        let autobahn = config.autobahn_echo.then(|| {
            config
                .autobahn_max_message_bytes
                .unwrap_or(transport::ws::MAX_MESSAGE_BYTES)
        });
        let router = router(state.clone(), &config.static_dir, autobahn);
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
