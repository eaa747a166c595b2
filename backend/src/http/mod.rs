//! The HTTP layer: the routes ([`router`]), the extractors they share, the
//! app's error answer, security headers, and the requests that open the
//! transports' connections (`/ws`, `/api/lp`).

pub mod api;
pub mod error;
pub mod extract;
pub mod longpoll;
pub mod metrics;
pub mod security;
pub mod state;
pub mod ws;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

pub use error::AppError;
pub use state::{AppState, Limits};

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
        routes = routes.route("/autobahn", get(move |ws| ws::echo(ws, limit)));
    }
    routes
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::metrics))
        .merge(api::router())
        .merge(longpoll::router())
        .fallback_service(spa)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// Each request's span: its log lines say which request, and once
/// [`extract::SignedIn`] has found it, whose.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        user = tracing::field::Empty,
    )
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
