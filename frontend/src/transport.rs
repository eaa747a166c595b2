//! Which transport carries a connection, how it is chosen, and the connection's
//! timing rules (reconnect backoff, dead-server detection, polling cadence). Pure
//! and tested natively; the connection task ([`crate::connection`]) and the root
//! component follow these rules.

use std::time::Duration;

/// How the messages of one connection travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One WebSocket (`/ws`): the normal case.
    WebSocket,
    /// HTTP long-polling (`/api/lp`): a `GET` that waits up to 25 s for events, a
    /// `POST` per batch of outgoing messages. For networks that break WebSockets.
    LongPoll,
    /// Short polling: the same HTTP API, asking every 2 s without waiting. The
    /// last resort (proxies that cut long requests); only when forced.
    Poll,
}

impl Transport {
    /// The name in the URL (`?transport=`) and in `#transport[data-transport]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::LongPoll => "long-poll",
            Self::Poll => "poll",
        }
    }

    /// How the status bar names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::LongPoll => "long-poll",
            Self::Poll => "polling",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ws" | "websocket" => Some(Self::WebSocket),
            "long-poll" | "longpoll" | "lp" => Some(Self::LongPoll),
            "poll" | "polling" => Some(Self::Poll),
            _ => None,
        }
    }
}

/// Which transports a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// WebSocket first; long-polling when the WebSocket does not open.
    #[default]
    Auto,
    /// Only this one (`?transport=ws|long-poll|poll` in the page's URL).
    Only(Transport),
}

impl TransportMode {
    /// The mode a page URL's query string asks for (`location.search`, with or
    /// without its `?`): `transport=ws|long-poll|poll`, anything else is automatic.
    pub fn from_query(search: &str) -> Self {
        search
            .trim_start_matches('?')
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| *key == "transport")
            .find_map(|(_, value)| Transport::parse(&value.to_ascii_lowercase()))
            .map_or(Self::Auto, Self::Only)
    }

    /// The transport a connection attempt starts with.
    pub fn first(self) -> Transport {
        match self {
            Self::Auto => Transport::WebSocket,
            Self::Only(transport) => transport,
        }
    }
}

/// Whether a connection attempt whose WebSocket did not open goes on over
/// long-polling: only in automatic mode, and only if the browser has a network
/// (`online`, read when the WebSocket failed). Offline, every request fails
/// alike, which says nothing about a proxy that blocks WebSockets: the attempt
/// just ends, and the next one (when the `online` event fires) starts with a
/// WebSocket again instead of spending a minute on long-polling.
pub fn falls_back(mode: TransportMode, online: bool) -> bool {
    mode == TransportMode::Auto && online
}

/// The shortest wait before reconnecting.
pub const RECONNECT_MIN_MS: u64 = 500;
/// The longest wait before reconnecting.
pub const RECONNECT_MAX_MS: u64 = 10_000;

/// How long to wait before reconnection attempt `retries + 1` (`retries` failed
/// attempts since the last `welcome`), given `random` in `[0, 1)`.
///
/// The ceiling doubles from 1 s to 10 s, and the wait is somewhere between half
/// of it and all of it, so 0.5–1 s, 1–2 s, 2–4 s, 4–8 s, then 5–10 s: clients
/// dropped together do not all come back at the same instant. A server that went
/// away on purpose (`going_away`: 1001, shutting down or restarting) dropped
/// *everyone* at once, so the first wait is spread wider (0.5–4 s), which keeps
/// a restart from becoming a reconnect storm.
pub fn reconnect_delay_ms(retries: u32, going_away: bool, random: f64) -> u64 {
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let exponent = retries
        .saturating_add(if going_away { 2 } else { 0 })
        .min(4);
    let ceiling = (1_000u64 << exponent).min(RECONNECT_MAX_MS);
    let floor = if going_away {
        RECONNECT_MIN_MS
    } else {
        ceiling / 2
    };
    let delay = floor as f64 + (ceiling - floor) as f64 * random;
    (delay as u64).clamp(RECONNECT_MIN_MS, RECONNECT_MAX_MS)
}

/// A WebSocket that has not opened by then counts as failed (auto mode falls
/// back to long-polling). Refused upgrades fail much sooner; this is for
/// proxies that swallow them.
pub const WS_OPEN_TIMEOUT: Duration = Duration::from_secs(8);
/// Nothing received on a WebSocket for this long: send a `ping`.
pub const PING_AFTER: Duration = Duration::from_secs(20);
/// No answer to the `ping` (nor anything else) within this: the server or the
/// network is gone; close and reconnect.
pub const PONG_WITHIN: Duration = Duration::from_secs(10);

/// How long a long-poll `GET` asks the server to wait (the protocol's maximum).
pub const LONG_POLL_WAIT_S: u64 = parley_common::LONG_POLL_WAIT_SECS;
/// How often short polling asks.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// After a `POST`, short polling asks sooner than [`POLL_EVERY`], so the answer
/// (an ack, a history page) comes quickly; the pause lets the server handle it.
pub const POLL_AFTER_POST: Duration = Duration::from_millis(250);
/// Any HTTP request of a polling connection without an answer by its wait plus
/// this counts as dead: the connection is dropped and a new one resumes.
pub const HTTP_SLACK: Duration = Duration::from_secs(10);

/// Auto mode on long-polling probes whether a WebSocket opens now, this long
/// after the connection opened, then twice as long each time, up to
/// [`PROBE_MAX`]. When one opens, the app reconnects over a WebSocket.
pub const PROBE_FIRST: Duration = Duration::from_secs(60);
pub const PROBE_MAX: Duration = Duration::from_secs(600);

/// Outgoing messages in one long-poll `POST` stay under this many bytes of
/// JSON (the server takes up to 64 KiB).
pub const POST_MAX_BYTES: usize = 48 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_query_picks_the_transport() {
        use Transport::*;
        assert_eq!(TransportMode::from_query(""), TransportMode::Auto);
        assert_eq!(TransportMode::from_query("?"), TransportMode::Auto);
        assert_eq!(
            TransportMode::from_query("?transport=ws"),
            TransportMode::Only(WebSocket)
        );
        assert_eq!(
            TransportMode::from_query("?transport=long-poll"),
            TransportMode::Only(LongPoll)
        );
        assert_eq!(
            TransportMode::from_query("transport=poll"),
            TransportMode::Only(Poll)
        );
        assert_eq!(
            TransportMode::from_query("?lang=en&transport=Long-Poll&x"),
            TransportMode::Only(LongPoll)
        );
        assert_eq!(
            TransportMode::from_query("?transport=carrier-pigeon"),
            TransportMode::Auto
        );
        assert_eq!(
            TransportMode::from_query("?mytransport=poll"),
            TransportMode::Auto
        );
        assert_eq!(TransportMode::Auto.first(), WebSocket);
        assert_eq!(TransportMode::Only(Poll).first(), Poll);
        for t in [WebSocket, LongPoll, Poll] {
            assert_eq!(Transport::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn only_a_websocket_failing_online_falls_back_to_long_polling() {
        assert!(falls_back(TransportMode::Auto, true));
        assert!(!falls_back(TransportMode::Auto, false));
        for t in [Transport::WebSocket, Transport::LongPoll, Transport::Poll] {
            for online in [false, true] {
                assert!(!falls_back(TransportMode::Only(t), online));
            }
        }
    }

    #[test]
    fn backoff_grows_from_half_a_second_to_ten_with_jitter() {
        let lowest = |n| reconnect_delay_ms(n, false, 0.0);
        let highest = |n| reconnect_delay_ms(n, false, 0.999_999);
        assert_eq!((lowest(0), highest(0)), (500, 999));
        assert_eq!((lowest(1), highest(1)), (1_000, 1_999));
        assert_eq!((lowest(2), highest(2)), (2_000, 3_999));
        assert_eq!((lowest(3), highest(3)), (4_000, 7_999));
        assert_eq!((lowest(4), highest(4)), (5_000, 9_999));
        assert_eq!((lowest(u32::MAX), highest(u32::MAX)), (5_000, 9_999));
        // Jitter spreads the waits; every one stays within the bounds.
        for retries in 0..40 {
            for going_away in [false, true] {
                let mut last = 0;
                for step in 0..=100 {
                    let delay = reconnect_delay_ms(retries, going_away, f64::from(step) / 100.0);
                    assert!(
                        (RECONNECT_MIN_MS..=RECONNECT_MAX_MS).contains(&delay),
                        "{retries} {going_away} {step}: {delay}"
                    );
                    assert!(delay >= last, "more random, longer wait");
                    last = delay;
                }
            }
        }
        // A server restart spreads the first attempts over 0.5–4 s.
        assert_eq!(reconnect_delay_ms(0, true, 0.0), 500);
        assert_eq!(reconnect_delay_ms(0, true, 1.0), 4_000);
        assert_eq!(reconnect_delay_ms(0, true, 0.5), 2_250);
        // Nonsense randomness still gives a valid wait.
        assert_eq!(reconnect_delay_ms(0, false, f64::NAN), 750);
        assert_eq!(reconnect_delay_ms(0, false, 7.0), 1_000);
    }
}
