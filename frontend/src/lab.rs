//! The transport lab (`/lab/`, a page of its own): the same live stream over a
//! WebSocket, long-polling and short polling side by side, with each one's
//! delivery latency, HTTP requests per second and bytes on the wire per
//! delivered update.
//!
//! This file is the pure part, tested natively: the message bodies the lab
//! sends and recognizes, percentiles over the latest deliveries, the request
//! rate window, and how bytes on the wire are counted (or estimated). The page
//! that opens the connections and shows the numbers is [`page`]; [`app`] is the
//! root of that page (the session check, the log-in form, then the lab).
//!
//! **What counts as bytes on the wire** (application level: no TCP/IP):
//!
//! - *WebSocket*: the opening handshake once ([`WS_HANDSHAKE_BYTES`], measured),
//!   then every text frame's payload plus its header: 2 bytes, +2 or +8 for a
//!   longer payload, +4 for the mask of the browser's frames ([`ws_frame_bytes`]).
//! - *HTTP*: every request and its answer: the request line (exact) and the
//!   headers the browser adds ([`FETCH_HEADER_BYTES`], measured, ≈), the body's
//!   headers ([`BODY_HEADER_BYTES`]) and the body (exact); the answer's status
//!   line and every header the page can see (exact) and its body (exact).

pub mod app;
pub mod page;

use std::collections::VecDeque;

use parley_common::{Channel, ServerMsg};

/// The room whose messages make the stream (created by the lab if missing).
pub const ROOM: &str = "transport-lab";

/// The sending rates on offer, messages per second.
pub const RATES: [u32; 4] = [1, 5, 10, 20];

/// Latency percentiles are over this many of the latest deliveries.
pub const LATENCY_WINDOW: usize = 200;

/// Requests per second are averaged over this long.
pub const RATE_WINDOW_MS: u64 = 10_000;

/// What Chromium adds to every `fetch` of the app (same origin) besides the
/// request line, including the blank line that ends the head: `Host`,
/// `Connection`, `User-Agent`, `sec-ch-ua` (three), `Accept`, `Sec-Fetch-*`
/// (three), `Referer`, `Accept-Encoding`, `Accept-Language` and the session
/// `Cookie`. Measured with a logging proxy (Chromium 156, Linux, page on
/// `127.0.0.1:8198`): a long-poll `GET` was 649 bytes, 71 of them the request
/// line. Other browsers and hosts differ by some tens of bytes: an estimate.
pub const FETCH_HEADER_BYTES: usize = 578;

/// What a request with a body adds: `content-type: application/json`,
/// `Origin` and `Content-Length: ` (whose digits are counted apart). Measured
/// like [`FETCH_HEADER_BYTES`].
pub const BODY_HEADER_BYTES: usize = 81;

/// The WebSocket opening handshake: Chromium's `GET /ws` with its `Upgrade`
/// headers, cookie and key (586 bytes) and the server's `101 Switching
/// Protocols` (166 bytes), measured like [`FETCH_HEADER_BYTES`].
pub const WS_HANDSHAKE_BYTES: usize = 586 + 166;

/// Where the lab is: a page of its own (`lab.html`, built into `dist/lab/`).
pub const PATH: &str = "/lab/";

/// The three transports the lab compares, in the order shown.
pub const TRANSPORTS: [crate::transport::Transport; 3] = [
    crate::transport::Transport::WebSocket,
    crate::transport::Transport::LongPoll,
    crate::transport::Transport::Poll,
];

/// The body of lab message number `n` of run `run`, sent at `sent_ms` (ms since
/// the Unix epoch, by the browser's clock): `lab 3f9c02 17 1732251234567`.
pub fn body(run: u32, n: u64, sent_ms: u64) -> String {
    format!("lab {run:06x} {n} {sent_ms}")
}

/// What a lab message body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub n: u64,
    pub sent_ms: u64,
}

/// Reads a body written by [`body`]; anything else is `None`.
pub fn parse(body: &str) -> Option<Stamp> {
    let mut words = body.split(' ');
    if words.next()? != "lab" {
        return None;
    }
    let run = u32::try_from(number(words.next()?, 16)?).ok()?;
    let n = number(words.next()?, 10)?;
    let sent_ms = number(words.next()?, 10)?;
    words.next().is_none().then_some(Stamp { run, n, sent_ms })
}

/// A non-negative number in `radix` (what `str::parse` does, in less wasm).
fn number(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |n, c| {
        n.checked_mul(u64::from(radix))?
            .checked_add(u64::from(c.to_digit(radix)?))
    })
}

/// The `q` quantile (0–1) of `values` by nearest rank: the smallest value with
/// at least `q` of them at or below it. `None` when there are none.
pub fn percentile(values: &[u64], q: f64) -> Option<u64> {
    nearest_rank(&sorted(values.iter().copied()), q)
}

/// `values` in order. An insertion sort: a few hundred values, and much less
/// wasm than the standard library's sort.
fn sorted(values: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for v in values {
        let at = out.partition_point(|&x| x <= v);
        out.insert(at, v);
    }
    out
}

fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// Bytes of one WebSocket frame carrying `payload` bytes. A browser masks what
/// it sends (4 more bytes); the server does not.
pub fn ws_frame_bytes(payload: usize, masked: bool) -> usize {
    let length = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    2 + length + if masked { 4 } else { 0 } + payload
}

/// Bytes of an HTTP/1.1 request's head (≈): the request line, the headers the
/// browser adds and, with a body, the body's own headers.
pub fn request_head_bytes(method: &str, url: &str, body: usize) -> usize {
    // "GET /api/lp/… HTTP/1.1\r\n"
    let line = method.len() + 1 + url.len() + " HTTP/1.1\r\n".len();
    let body_headers = if body > 0 {
        BODY_HEADER_BYTES + digits(body)
    } else {
        0
    };
    line + FETCH_HEADER_BYTES + body_headers
}

/// Bytes of a response's status line, `HTTP/1.1 200 OK\r\n`, whose reason phrase
/// has `reason` bytes.
pub fn status_line_bytes(status: u16, reason: usize) -> usize {
    "HTTP/1.1 ".len() + digits(usize::from(status)) + 1 + reason + 2
}

/// Bytes of one header line, `name: value\r\n`.
pub fn header_line_bytes(name: usize, value: usize) -> usize {
    name + 2 + value + 2
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The latest [`LATENCY_WINDOW`] latencies.
#[derive(Debug, Clone, Default)]
pub struct Latencies(VecDeque<u64>);

impl Latencies {
    pub fn push(&mut self, ms: u64) {
        if self.0.len() == LATENCY_WINDOW {
            self.0.pop_front();
        }
        self.0.push_back(ms);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The median and the 99th percentile of the latencies kept.
    pub fn p50_p99(&self) -> (Option<u64>, Option<u64>) {
        let sorted = sorted(self.0.iter().copied());
        (nearest_rank(&sorted, 0.50), nearest_rank(&sorted, 0.99))
    }
}

/// Events per second over the last [`RATE_WINDOW_MS`] (or since `start`, when
/// that is shorter, counting at least one second), in tenths.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    start: u64,
    times: VecDeque<u64>,
}

impl RateWindow {
    pub fn new(start_ms: u64) -> Self {
        Self {
            start: start_ms,
            times: VecDeque::new(),
        }
    }

    pub fn record(&mut self, at_ms: u64) {
        self.times.push_back(at_ms);
    }

    /// Per second, in tenths (rounded down): 5 is 0.5/s.
    pub fn tenths_per_second(&mut self, now_ms: u64) -> u64 {
        let from = now_ms.saturating_sub(RATE_WINDOW_MS);
        while self.times.front().is_some_and(|&t| t < from) {
            self.times.pop_front();
        }
        let span = now_ms
            .saturating_sub(self.start)
            .clamp(1_000, RATE_WINDOW_MS);
        self.times.len() as u64 * 10_000 / span
    }
}

/// Where one of the lab's connections is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LinkState {
    /// Not started.
    #[default]
    Idle,
    Connecting,
    /// Open, and `welcome` arrived: it receives the room's messages.
    Ready,
    /// Closed because the lab stopped.
    Stopped,
    /// Ended (by the lab, when it stopped, or by something else: why).
    Closed(String),
}

/// What the lab measured for one transport.
#[derive(Debug, Clone, Default)]
pub struct TransportStats {
    pub state: LinkState,
    /// Lab messages of this run received.
    pub delivered: u64,
    latencies: Latencies,
    /// HTTP requests made (for a WebSocket: its handshake).
    pub requests: u64,
    request_times: RateWindow,
    /// Bytes on the wire both ways (≈, see the module's docs).
    pub bytes: u64,
}

/// One transport's numbers as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub delivered: u64,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    /// HTTP requests per second lately, in tenths.
    pub rps_tenths: u64,
    pub requests: u64,
    pub bytes: u64,
    /// Bytes on the wire per delivered update (`None` before the first).
    pub bytes_per_update: Option<u64>,
}

impl TransportStats {
    /// A connection starting at `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self {
            state: LinkState::Connecting,
            request_times: RateWindow::new(start_ms),
            ..Self::default()
        }
    }

    /// One HTTP request (and its answer) of `bytes` bytes, done at `at_ms`.
    pub fn request(&mut self, at_ms: u64, bytes: usize) {
        self.requests += 1;
        self.request_times.record(at_ms);
        self.wire(bytes);
    }

    /// `bytes` more on the wire.
    pub fn wire(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }

    /// A message from the server arrived at `at_ms`: counts it when it is a
    /// lab message of run `run` in the lab's room. Whether it counted.
    pub fn received(&mut self, run: u32, msg: &ServerMsg, at_ms: u64) -> bool {
        let ServerMsg::Message(msg) = msg else {
            return false;
        };
        let in_lab = matches!(&msg.channel, Channel::Room(room) if room.as_str() == ROOM);
        match parse(msg.body.as_str()) {
            Some(stamp) if in_lab && stamp.run == run => {
                self.delivered += 1;
                self.latencies.push(at_ms.saturating_sub(stamp.sent_ms));
                true
            }
            _ => false,
        }
    }

    pub fn row(&mut self, now_ms: u64) -> Row {
        let (p50, p99) = self.latencies.p50_p99();
        Row {
            delivered: self.delivered,
            p50,
            p99,
            rps_tenths: self.request_times.tenths_per_second(now_ms),
            requests: self.requests,
            bytes: self.bytes,
            bytes_per_update: (self.delivered > 0).then(|| self.bytes / self.delivered),
        }
    }
}

// The numbers below are formatted with integers only: formatting floats would
// add tens of kilobytes to the wasm.

/// How wide a latency bar is, in tenths of a percent: a log scale from 1 ms
/// (0) to 10 s (1000), so 5 ms and 2 s both show.
pub fn bar_permille(ms: u64) -> u64 {
    let decades = log10(ms.max(1) as f64);
    ((decades * 250.0) as u64).min(1_000)
}

#[cfg(target_arch = "wasm32")]
fn log10(x: f64) -> f64 {
    // The browser's: Rust's own would add its libm code to the wasm.
    js_sys::Math::log10(x)
}

#[cfg(not(target_arch = "wasm32"))]
fn log10(x: f64) -> f64 {
    x.log10()
}

/// `n` tenths as a decimal: `0.5`, `12.0`.
pub fn tenths_text(n: u64) -> String {
    format!("{}.{}", n / 10, n % 10)
}

/// A latency for people: `7 ms`, `840 ms`, `1.25 s` (rounded down).
pub fn latency_text(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        let hundredths = ms / 10;
        format!("{}.{:02} s", hundredths / 100, hundredths % 100)
    }
}

/// A byte count for people: `912 B`, `3.4 KB`, `12.8 MB` (powers of 1000,
/// rounded down).
pub fn bytes_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{} KB", tenths_text(bytes / 100)),
        _ => format!("{} MB", tenths_text(bytes / 100_000)),
    }
}

/// When message `n` (counting from 0) of a stream at `rate` per second that
/// started at `start_ms` is due.
pub fn due_ms(start_ms: u64, rate: u32, n: u64) -> u64 {
    start_ms + n * 1_000 / u64::from(rate.max(1))
}

#[cfg(test)]
mod tests;
