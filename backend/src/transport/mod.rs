//! Transports: thin adapters that carry a [`Session`](crate::session::Session)'s
//! frames — a WebSocket ([`ws`]) or long-polling HTTP requests ([`longpoll`]).
//! Both drive the same session, so no feature exists on one transport only.

pub mod longpoll;
pub mod ws;

use std::sync::Arc;

use crate::AppState;
use crate::session::Services;

/// The part of the app's state a transport hands to each new session.
fn session_services(state: &AppState) -> Services {
    Services {
        hub: state.hub.clone(),
        store: state.store.clone(),
        messages: Arc::clone(&state.limits.messages),
        metrics: Arc::clone(&state.metrics),
        shutdown: state.shutdown.clone(),
    }
}
