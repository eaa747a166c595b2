//! `AppState`: what every handler can reach, and the rate limits and caps it
//! carries.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::hub::Hub;
use crate::limits::{self, RateLimiter};
use crate::metrics::Metrics;
use crate::session::Services;
use crate::store::Store;
use crate::transport::longpoll::LongPolls;
use crate::transport::{Env, Heartbeat};

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
    pub metrics: Arc<Metrics>,
    /// Open long-poll connections.
    pub longpolls: Arc<LongPolls>,
    /// Test flag: answer WebSocket upgrades with 503, as a network that blocks
    /// them would, so clients fall back to long-polling.
    pub refuse_websocket: bool,
    /// Cancelled once when the server starts shutting down; every long-running task
    /// watches it.
    pub shutdown: CancellationToken,
    /// Tracks upgraded connections, which outlive the HTTP request that started
    /// them, so shutdown can wait for their close handshakes.
    pub tracker: TaskTracker,
    /// The other nodes, when this one is part of a cluster (`--redis`).
    pub cluster: Option<Cluster>,
}

impl AppState {
    /// What a transport's connection tasks need.
    pub fn transport_env(&self) -> Env {
        Env {
            heartbeat: self.heartbeat,
            metrics: Arc::clone(&self.metrics),
            shutdown: self.shutdown.clone(),
        }
    }

    /// What each new session is given.
    pub fn session_services(&self) -> Services {
        Services {
            hub: self.hub.clone(),
            store: self.store.clone(),
            messages: Arc::clone(&self.limits.messages),
            metrics: Arc::clone(&self.metrics),
            shutdown: self.shutdown.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

/// Rate limiters and caps: the account endpoints, messages, connections.
#[derive(Debug)]
pub struct Limits {
    pub login_by_name: RateLimiter,
    pub login_by_ip: RateLimiter,
    pub register_by_ip: RateLimiter,
    /// Per minute, for the limits shared by a cluster's nodes.
    pub login_per_minute: u32,
    pub register_per_minute: u32,
    pub messages: Arc<limits::MessageLimits>,
    pub connections: Arc<limits::Connections>,
}
