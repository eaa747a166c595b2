//! The three protocols the generator speaks, and the test payload they carry.
//!
//! - `parley`: Parley's own. The upgrade carries the session cookie; the client
//!   sends `hello` and is ready at `welcome`; it sends `send` and receives
//!   `message` (every message is stored durably before it is broadcast).
//! - `plain`: `ws://HOST/ws/<room>`; the server says `ready`, and every text frame
//!   in is broadcast to the room (sender included).
//! - `socketio`: Engine.IO v4 / Socket.IO v5 over a WebSocket
//!   (`/socket.io/?EIO=4&transport=websocket&room=<room>`): the `0{…}` open packet,
//!   `40` connect, ping `2` / pong `3`, events `42["msg",…]`; the peers emit
//!   `ready` once the socket is in its room.
//!
//! Every test message carries `#<step>:<sender>:<seq>:<scheduled µs>:` followed
//! by padding, so a receiver computes latency from the *scheduled* send time and
//! detects loss, duplicates and reordering per sender. No field of any of the
//! three protocols' frames can contain `#` before the body (user and room names
//! cannot), so the first `#` starts the payload.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Parley,
    Plain,
    SocketIo,
}

/// One received test message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub step: u32,
    pub sender: u32,
    pub seq: u32,
    /// Scheduled send time, µs since the Unix epoch.
    pub ts: u64,
}

/// What an incoming text frame means to the generator.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Delivery(Delivery),
    /// Engine.IO ping: answer `3`.
    Ping,
    /// The server refused something (Parley's `error` event).
    Error,
    /// The server ended the session (Socket.IO disconnect packet).
    Disconnect,
    Other,
}

impl Proto {
    pub fn url(self, addr: SocketAddr, room: &str) -> String {
        match self {
            Self::Parley => format!("ws://{addr}/ws"),
            Self::Plain => format!("ws://{addr}/ws/{room}"),
            Self::SocketIo => {
                format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&room={room}")
            }
        }
    }

    /// The frame that sends `payload` to `room`.
    pub fn send_frame(self, room: &str, step: u32, seq: u32, payload: &str) -> String {
        match self {
            Self::Parley => format!(
                r#"{{"type":"send","room":"{room}","client_id":"s{step}-{seq}","body":"{payload}"}}"#
            ),
            Self::Plain => payload.to_owned(),
            Self::SocketIo => format!(r#"42["msg","{payload}"]"#),
        }
    }

    pub fn classify(self, text: &str) -> Incoming {
        match self {
            Self::SocketIo => {
                if text == "2" {
                    Incoming::Ping
                } else if text.starts_with("42") {
                    parse_payload(text).map_or(Incoming::Other, Incoming::Delivery)
                } else if text.starts_with("41") || text.starts_with('1') {
                    Incoming::Disconnect
                } else {
                    Incoming::Other
                }
            }
            Self::Plain => parse_payload(text).map_or(Incoming::Other, Incoming::Delivery),
            Self::Parley => match parse_payload(text) {
                Some(d) => Incoming::Delivery(d),
                None if text.starts_with(r#"{"type":"error""#) => Incoming::Error,
                None => Incoming::Other,
            },
        }
    }
}

/// `#step:sender:seq:ts:` padded with `x` to `len` bytes (longer if the header
/// needs it).
pub fn payload(step: u32, sender: u32, seq: u32, ts: u64, len: usize) -> String {
    let mut s = String::with_capacity(len.max(48));
    let _ = write!(s, "#{step}:{sender}:{seq}:{ts}:");
    while s.len() < len {
        s.push('x');
    }
    s
}

pub fn parse_payload(text: &str) -> Option<Delivery> {
    let start = text.find('#')?;
    let mut fields = text[start + 1..].splitn(5, ':');
    let step = fields.next()?.parse().ok()?;
    let sender = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let ts = fields.next()?.parse().ok()?;
    // The fifth piece (padding and the rest of the frame) must exist: the header
    // ends with ':'.
    fields.next()?;
    Some(Delivery {
        step,
        sender,
        seq,
        ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_through_every_protocol() {
        let p = payload(3, 17, 42, 1_700_000_000_123_456, 100);
        assert_eq!(p.len(), 100);
        let want = Delivery {
            step: 3,
            sender: 17,
            seq: 42,
            ts: 1_700_000_000_123_456,
        };
        // What each server sends back.
        let parley = format!(
            r#"{{"type":"message","room":"lobby","seq":9,"sender":"b12","body":"{p}","ts":1,"client_id":"s3-42"}}"#
        );
        assert_eq!(Proto::Parley.classify(&parley), Incoming::Delivery(want));
        assert_eq!(Proto::Plain.classify(&p), Incoming::Delivery(want));
        let sio = format!(r#"42["msg","{p}"]"#);
        assert_eq!(Proto::SocketIo.classify(&sio), Incoming::Delivery(want));
    }

    #[test]
    fn control_frames_are_recognised() {
        assert_eq!(Proto::SocketIo.classify("2"), Incoming::Ping);
        assert_eq!(Proto::SocketIo.classify("41"), Incoming::Disconnect);
        assert_eq!(Proto::SocketIo.classify(r#"42["ready"]"#), Incoming::Other);
        assert_eq!(
            Proto::Parley.classify(r#"{"type":"error","code":"not_in_room","message":"x"}"#),
            Incoming::Error
        );
        assert_eq!(
            Proto::Parley.classify(r#"{"type":"ack","client_id":"s1-1","room":"lobby","seq":1}"#),
            Incoming::Other
        );
        assert_eq!(Proto::Plain.classify("ready"), Incoming::Other);
    }

    #[test]
    fn send_frames_are_what_the_servers_expect() {
        let frame = Proto::Parley.send_frame("lobby", 2, 5, "#2:0:5:9:xx");
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["room"], "lobby");
        assert_eq!(v["body"], "#2:0:5:9:xx");
        assert!(parley_common::ClientMsgId::parse(v["client_id"].as_str().unwrap()).is_ok());
        assert_eq!(
            Proto::SocketIo.send_frame("r", 2, 5, "#p"),
            r##"42["msg","#p"]"##
        );
    }
}
