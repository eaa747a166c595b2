//! Parley's server: an axum application serving the WebSocket endpoint and the SPA.
//!
//! Read top-down: [`Application::build`] binds the listener and builds the
//! [`router`]; `/ws` goes to [`transport::ws`], which drives a [`session::Session`]
//! that talks to the shared [`hub::Hub`]; each connection receives through its
//! bounded [`outbox::Outbox`].

pub mod config;
pub mod hub;
pub mod outbox;
pub mod session;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
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

/// How long connections may take to say goodbye after shutdown is requested.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub hub: Hub,
    /// Cancelled once when the server starts shutting down; every long-running task
    /// watches it.
    pub shutdown: CancellationToken,
    /// Tracks upgraded connections, which outlive the HTTP request that started
    /// them, so shutdown can wait for their close handshakes.
    pub tracker: TaskTracker,
}

/// Builds the HTTP routes: the WebSocket endpoint, a health check, and the SPA
/// (unknown paths fall back to its index.html so client-side routes load).
pub fn router(state: AppState, static_dir: &Path) -> Router {
    let spa = ServeDir::new(static_dir)
        .append_index_html_on_directories(true)
        .fallback(ServeFile::new(static_dir.join("index.html")));
    Router::new()
        .route("/ws", get(transport::ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .fallback_service(spa)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Binds the listening socket (port 0 picks a free port) and builds the router.
    pub async fn build(config: Config) -> std::io::Result<Self> {
        if !config.static_dir.join("index.html").is_file() {
            tracing::warn!(
                static_dir = %config.static_dir.display(),
                "no index.html in the static directory: build the SPA with `cargo xtask run` (or `trunk build --release`)"
            );
        }
        let state = AppState {
            hub: Hub::new(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        };
        let listener = TcpListener::bind(config.listen).await?;
        let router = router(state.clone(), &config.static_dir);
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then stops accepting, closes every
    /// WebSocket with 1001 "going away" (after delivering what is queued) and waits
    /// up to [`DRAIN_TIMEOUT`] for connections to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            state,
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
        axum::serve(listener, router)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .await?;
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
        tracing::info!("parley stopped");
        Ok(())
    }
}
