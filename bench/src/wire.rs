//! What the scenario runner and its generator processes say to each other: one
//! JSON object per line, commands on the worker's stdin, reports on its stdout.

use std::net::{Ipv4Addr, SocketAddr};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::proto::Proto;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Open these connections and get each one ready to chat.
    Connect(ConnectSpec),
    /// Run one load step; answered when it (and its drain time) is over.
    Run(StepPlan),
    /// Parley only: every client votes once; answered when every client has
    /// seen the exact final tally, or at the deadline.
    Vote(VotePlan),
    /// Exit now (the kernel closes the sockets).
    Quit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectSpec {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// Every socket of this worker is bound to this loopback address before it
    /// connects (about 28k ports per source address).
    pub source_ip: Ipv4Addr,
    pub clients: Vec<ClientSpec>,
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    /// Give up on one connection after this long.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    pub room: String,
    /// Parley's session token (sent as the session cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// One step of load: who sends, how fast, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepPlan {
    /// Non-zero; carried in every message so late arrivals from an earlier step
    /// are not counted in this one.
    pub step: u32,
    /// Wall-clock start (µs since the Unix epoch), the same for every worker.
    pub start_us: u64,
    pub duration_ms: u64,
    /// How long receivers keep counting after the last scheduled send.
    pub drain_ms: u64,
    /// Message body length in bytes.
    pub body_len: usize,
    pub senders: Vec<SenderSpec>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SenderSpec {
    /// The client's index in this worker's `Connect` list.
    pub client: u32,
    /// The sender's number within its room (receivers track sequence numbers per
    /// sender and room).
    pub id: u32,
    /// Messages per second.
    pub rate: f64,
    /// Offset of the first send, as a fraction of the interval 1/rate.
    pub phase: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Report {
    Connected(ConnectReport),
    Step(StepReport),
    Vote(VoteReport),
    Failed(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectReport {
    pub ok: u32,
    pub failed: u32,
    /// The first few distinct failures.
    pub errors: Vec<String>,
    /// Wall clock (µs since the epoch) of the first attempt, the last completed
    /// WebSocket upgrade and the last client ready to chat.
    pub first_start_us: u64,
    pub last_upgraded_us: u64,
    pub last_ready_us: u64,
    /// Wall clock of each completed upgrade, and of each client becoming ready.
    pub upgraded_at_us: Vec<u64>,
    pub ready_at_us: Vec<u64>,
    /// Per connection: from the start of the attempt to the upgrade, and to ready
    /// (µs).
    pub upgrade: Hist,
    pub ready: Hist,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepReport {
    pub step: u32,
    /// Messages sent, per room.
    pub sent: Vec<(String, u64)>,
    /// Deliveries of this step's messages, each (receiver, message) counted once.
    pub received: u64,
    pub duplicates: u64,
    /// Deliveries that arrived after a later message of the same sender.
    pub reordered: u64,
    /// Deliveries of an earlier step's messages.
    pub stale: u64,
    /// Connections that ended during the step.
    pub closed: u32,
    /// Error frames the server sent (Parley's `error` events).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Scheduled send → receipt (µs), every delivery.
    pub latency: Hist,
    /// Scheduled send → actual send (µs): how far behind schedule the generator was.
    pub send_lag: Hist,
}

/// The vote burst: client `first_index + i` (of `voters` in all) votes for option
/// `(first_index + i) % options` at `start + (first_index + i) / voters × window`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VotePlan {
    pub poll: u64,
    pub options: u32,
    pub voters: u64,
    pub first_index: u32,
    pub start_us: u64,
    pub window_ms: u64,
    /// How long after the window to wait for the final tallies.
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VoteReport {
    pub clients: u32,
    /// Per client (0: never): when it voted and when it saw the exact final tally
    /// (µs since the epoch), and how many tally frames it received.
    pub voted_us: Vec<u64>,
    pub final_us: Vec<u64>,
    pub tally_frames: Vec<u32>,
    pub closed: u32,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// An HDR histogram in transit: (value, count) pairs of its non-empty buckets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hist(pub Vec<(u64, u64)>);

/// Microseconds, up to ten minutes, three significant digits.
pub fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
}

impl Hist {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        Self(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(value, count) in &self.0 {
            h.saturating_record_n(value, count);
        }
    }
}
