//! The transport lab's arithmetic: bodies, percentiles, rates, bytes.

use parley_common::{ChatMessage, ClientMsgId, MessageBody, RoomName, Username};

use super::*;

fn message(room: &str, body: &str) -> ServerMsg {
    ServerMsg::Message(ChatMessage {
        channel: Channel::Room(RoomName::parse(room).unwrap()),
        seq: 1,
        sender: Username::parse("alice").unwrap(),
        body: MessageBody::parse(body).unwrap(),
        ts: 0,
        client_id: ClientMsgId::parse("abc-1").unwrap(),
    })
}

#[test]
fn bodies_carry_the_run_the_counter_and_the_send_time() {
    let text = body(0x3f_9c02, 17, 1_732_251_234_567);
    assert_eq!(text, "lab 3f9c02 17 1732251234567");
    assert_eq!(
        parse(&text),
        Some(Stamp {
            run: 0x3f_9c02,
            n: 17,
            sent_ms: 1_732_251_234_567
        })
    );
    // Small run ids keep their width; any hex reads back.
    assert_eq!(body(1, 0, 5), "lab 000001 0 5");
    assert_eq!(parse("lab 1 0 5").map(|s| s.run), Some(1));
    for other in [
        "",
        "lab",
        "lab 3f 1",
        "lab 3f 1 2 3",
        "lab xyz 1 2",
        "lab 3f -1 2",
        "lab 3f 1 soon",
        "lab 3f 1 +2",
        "lab  1 2",
        "lab 100000000 1 2",
        "lab 3f 1 99999999999999999999",
        "Lab 3f 1 2",
        "hello lab 3f 1 2",
    ] {
        assert_eq!(parse(other), None, "{other:?}");
    }
}

#[test]
fn percentiles_are_by_nearest_rank() {
    assert_eq!(percentile(&[], 0.5), None);
    assert_eq!(percentile(&[7], 0.5), Some(7));
    assert_eq!(percentile(&[7], 0.99), Some(7));
    let hundred: Vec<u64> = (1..=100).rev().collect();
    assert_eq!(percentile(&hundred, 0.5), Some(50));
    assert_eq!(percentile(&hundred, 0.99), Some(99));
    assert_eq!(percentile(&hundred, 1.0), Some(100));
    assert_eq!(percentile(&hundred, 0.0), Some(1));
    // One slow delivery in a hundred is the p99, not the median.
    let mut mostly_fast = vec![3; 99];
    mostly_fast.push(2_000);
    assert_eq!(percentile(&mostly_fast, 0.5), Some(3));
    assert_eq!(percentile(&mostly_fast, 0.99), Some(3));
    mostly_fast.push(2_000);
    assert_eq!(percentile(&mostly_fast, 0.99), Some(2_000));
}

#[test]
fn latencies_keep_the_latest_window() {
    let mut latencies = Latencies::default();
    assert!(latencies.is_empty());
    assert_eq!(latencies.p50_p99(), (None, None));
    for ms in 1..=300 {
        latencies.push(ms);
    }
    assert_eq!(latencies.len(), LATENCY_WINDOW);
    // 101..=300 are kept.
    assert_eq!(latencies.p50_p99(), (Some(200), Some(298)));
}

#[test]
fn request_rates_are_over_the_last_ten_seconds() {
    // Short polling: a GET every 2 s.
    let mut polls = RateWindow::new(0);
    for t in (0..=30_000).step_by(2_000) {
        polls.record(t);
    }
    // 20 000..=30 000: six requests in ten seconds.
    assert_eq!(polls.tenths_per_second(30_000), 6);
    assert_eq!(polls.tenths_per_second(31_000), 5);
    // A WebSocket: the handshake, then nothing.
    let mut ws = RateWindow::new(0);
    ws.record(100);
    assert_eq!(ws.tenths_per_second(500), 10, "at least a second counts");
    assert_eq!(ws.tenths_per_second(4_000), 2, "0.25, rounded down");
    assert_eq!(ws.tenths_per_second(10_100), 1);
    assert_eq!(ws.tenths_per_second(10_101), 0);
}

#[test]
fn websocket_frames_count_their_headers() {
    assert_eq!(ws_frame_bytes(0, false), 2);
    assert_eq!(ws_frame_bytes(125, false), 127);
    assert_eq!(ws_frame_bytes(125, true), 131, "the browser masks");
    assert_eq!(ws_frame_bytes(126, false), 130);
    assert_eq!(ws_frame_bytes(65_535, true), 65_543);
    assert_eq!(ws_frame_bytes(65_536, false), 65_546);
}

#[test]
fn http_heads_match_what_chromium_sent() {
    let sid = "feac58d2b29d554352a9487910f1bad6";
    // The sizes a logging proxy saw (see FETCH_HEADER_BYTES).
    assert_eq!(
        request_head_bytes("GET", &format!("/api/lp/{sid}?since=0&wait=25"), 0),
        649
    );
    assert_eq!(
        request_head_bytes("POST", &format!("/api/lp/{sid}"), 72),
        717
    );
    assert_eq!(request_head_bytes("POST", "/api/lp", 31), 684);
    // "HTTP/1.1 200 OK\r\n", "HTTP/1.1 201 Created\r\n"
    assert_eq!(status_line_bytes(200, 2), 17);
    assert_eq!(status_line_bytes(201, 7), 22);
    // The long-poll answer's head: 134 bytes for a 738-byte body.
    let head = status_line_bytes(200, 2)
        + header_line_bytes("content-type".len(), "application/json".len())
        + header_line_bytes("cache-control".len(), "no-store".len())
        + header_line_bytes("content-length".len(), "738".len())
        + header_line_bytes("date".len(), "Sun, 22 Nov 2026 04:56:08 GMT".len())
        + 2;
    assert_eq!(head, 134);
}

#[test]
fn a_transport_counts_its_run_in_the_lab_room_only() {
    let run = 0xab_cdef;
    assert_eq!(TransportStats::default().state, LinkState::Idle);
    let mut stats = TransportStats::new(1_000);
    assert_eq!(stats.state, LinkState::Connecting);
    assert!(stats.received(run, &message(ROOM, &body(run, 0, 1_000)), 1_012));
    assert!(stats.received(run, &message(ROOM, &body(run, 1, 1_050)), 1_060));
    // Another run (another tab), another room, a chat message, not a message.
    assert!(!stats.received(run, &message(ROOM, &body(run + 1, 2, 1_050)), 1_070));
    assert!(!stats.received(run, &message("lobby", &body(run, 2, 1_050)), 1_070));
    assert!(!stats.received(run, &message(ROOM, "hello"), 1_070));
    assert!(!stats.received(run, &ServerMsg::Pong, 1_070));
    stats.request(1_000, 700);
    stats.wire(300);
    let row = stats.row(2_000);
    assert_eq!(
        row,
        Row {
            delivered: 2,
            p50: Some(10),
            p99: Some(12),
            rps_tenths: 10,
            requests: 1,
            bytes: 1_000,
            bytes_per_update: Some(500),
        }
    );
    let fresh = TransportStats::new(0).row(0);
    assert_eq!((fresh.p50, fresh.bytes_per_update), (None, None));
}

#[test]
fn numbers_for_people() {
    assert_eq!(latency_text(7), "7 ms");
    assert_eq!(latency_text(999), "999 ms");
    assert_eq!(latency_text(1_250), "1.25 s");
    assert_eq!(bytes_text(912), "912 B");
    assert_eq!(bytes_text(3_449), "3.4 KB");
    assert_eq!(bytes_text(12_800_000), "12.8 MB");
    assert_eq!(bytes_text(1_000), "1.0 KB");
    assert_eq!(tenths_text(5), "0.5");
    assert_eq!(tenths_text(120), "12.0");
    assert_eq!(latency_text(10_000), "10.00 s");
    assert_eq!(latency_text(2_005), "2.00 s");
    assert_eq!(bar_permille(0), 0);
    assert_eq!(bar_permille(1), 0);
    assert_eq!(bar_permille(10), 250);
    assert_eq!(bar_permille(100), 500);
    assert_eq!(bar_permille(2_000), 825);
    assert_eq!(bar_permille(10_000), 1_000);
    assert_eq!(bar_permille(600_000), 1_000);
}

#[test]
fn messages_are_due_at_the_rate() {
    assert_eq!(due_ms(5_000, 10, 0), 5_000);
    assert_eq!(due_ms(5_000, 10, 1), 5_100);
    assert_eq!(due_ms(5_000, 20, 3), 5_150);
    assert_eq!(due_ms(5_000, 1, 2), 7_000);
    assert_eq!(due_ms(5_000, 0, 2), 7_000, "0 is taken as 1");
}
