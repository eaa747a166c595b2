//! `GET /metrics`: [`crate::metrics`]'s page, with this moment's connection and queue readings.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::metrics::{CONTENT_TYPE, Readings};

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let (store_write_queue, store_read_queue) = state.store.queued();
    let now = Readings {
        connections: state.limits.connections.total(),
        long_polls: state.longpolls.len(),
        store_write_queue,
        store_read_queue,
        store_reads_refused: state.store.reads_refused(),
        store_ops: state.store.stats().ops.load(Ordering::Relaxed),
        tally_queue: state.hub.tallies_waiting(),
    };
    // Writing to a `String` cannot fail; only a broken metric could make this err.
    let page = state
        .metrics
        .encode(&now)
        .map_err(|e| AppError::internal("encoding /metrics", &e))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], page))
}
