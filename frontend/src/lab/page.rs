//! The transport lab page: starts the stream and the three measured
//! connections, counts what they report, and shows the numbers once a second.
//!
//! Four connections of the logged-in user, each its own connection task
//! ([`connection::open`]) reporting to this page, never to the chat's reducer:
//!
//! - the *sender*, a WebSocket that joins (or creates) [`ROOM`] and sends a
//!   message into it at the chosen rate; it is not measured, so the three
//!   below only carry what the server pushes to them;
//! - three *receivers* — WebSocket, long-polling (`wait=25`), short polling
//!   (`wait=0` every 2 s) — each saying `hello` and receiving the room's
//!   messages (the server delivers a room to all of a user's connections).
//!
//! Sending starts once the sender is in the room and every receiver has its
//! `welcome` (or after [`READY_WAIT_MS`], whatever failed), so all three see
//! the same stream.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use parley_common::{
    Channel, ClientMsg, ErrorCode, MessageBody, PROTOCOL_VERSION, ServerMsg, close,
};
use wasm_bindgen_futures::spawn_local;
use yew::platform::time::sleep;
use yew::prelude::*;

use super::{
    LinkState, RATES, ROOM, Row, TRANSPORTS, TransportStats, WS_HANDSHAKE_BYTES, bar_permille,
    bytes_text, due_ms, latency_text, request_head_bytes, tenths_text, ws_frame_bytes,
};
use crate::connection::{self, Event, Events};
use crate::ids::ClientIdGen;
use crate::time::now_ms;
use crate::transport::{Transport, TransportMode};

/// Sending starts this long after Start at the latest, even if a receiver
/// never got its `welcome` (it failed: its column says why).
pub const READY_WAIT_MS: u64 = 10_000;
/// A run stops by itself after this long (every message is stored: a
/// forgotten tab should not fill the database).
pub const MAX_RUN_MS: u64 = 10 * 60 * 1_000;
/// The page's fixed text, as HTML (nothing from outside goes in): cheaper in
/// wasm than the same elements built by `html!`.
const LEAD_HTML: &str = "<p class=\"lab-lead\">One live stream — messages into \
    <strong>#transport-lab</strong> — received over a WebSocket, long-polling and short \
    polling side by side, by three connections of yours at once.</p>";
const NOTES_HTML: &str = "<section class=\"lab-notes\"><h2>How it is measured</h2><ul>\
    <li><strong>Latency</strong>: receive time − the send time in the message, same browser \
    clock, over the last 200 deliveries. The bar is log-scaled (1 ms to 10 s): p50 solid, \
    p99 light.</li>\
    <li><strong>HTTP requests/s</strong>: over the last 10 s. A WebSocket makes one (its \
    upgrade), then none; polling counts each GET and POST.</li>\
    <li><strong>Bytes per update ≈</strong>: everything on the wire since Start divided by \
    the updates delivered. Bodies, frames and response headers are counted exactly; the \
    request headers the browser adds (user agent, cookie…) and the WebSocket handshake are \
    fixed estimates measured from Chromium, hence ≈. TCP/IP and TLS are not counted.</li>\
    </ul></section>";
/// The rate a run starts with, messages per second.
const DEFAULT_RATE: u32 = 10;

/// Everything one run measures; the connections' event handlers write it, the
/// page reads it.
#[derive(Debug, Default)]
struct Run {
    /// Random; in every body, so only this run's messages count.
    id: u32,
    started_ms: u64,
    /// The sending loop is on (false once stopped).
    running: bool,
    /// Why it stopped by itself, if it did.
    ended: Option<String>,
    sent: u64,
    /// Sent messages the server stored (acknowledged).
    stored: u64,
    /// The sender is in the room.
    joined: bool,
    /// What went wrong with the sender, if anything.
    problem: Option<String>,
    transports: [TransportStats; 3],
}

/// The running connections; dropping this closes them all and stops sending.
struct Links {
    sender: Rc<RefCell<Option<UnboundedSender<ClientMsg>>>>,
    // Held only to be dropped: that closes the receivers.
    _receivers: Vec<UnboundedSender<ClientMsg>>,
    stopped: Rc<Cell<bool>>,
}

impl Drop for Links {
    fn drop(&mut self) {
        self.stopped.set(true);
        // The lab's room is the lab's business: leaving it when the run ends
        // (Stop, the 10-minute limit, leaving the page) keeps it out of the
        // user's sidebar, where it stayed for good after one visit. The
        // connection sends what was queued before it closes; a user who was
        // not in the room yet gets a harmless `not_in_room`.
        if let (Some(tx), Ok(room)) = (
            self.sender.borrow_mut().take(),
            crate::lower::room_name(ROOM),
        ) {
            let _ = tx.unbounded_send(ClientMsg::Leave { room });
        }
    }
}

#[derive(Properties, PartialEq)]
pub struct TransportLabProps {
    /// A connection was closed because the session was logged out.
    pub on_logged_out: Callback<()>,
}

#[component]
pub fn TransportLab(props: &TransportLabProps) -> Html {
    let run = use_mut_ref(Run::default);
    let links = use_mut_ref(|| None::<Links>);
    let rate = use_mut_ref(|| DEFAULT_RATE);
    let refresh = use_force_update();
    let running = links.borrow().is_some();

    // Leaving the page closes the connections.
    {
        let links = links.clone();
        use_effect_with((), move |()| move || drop(links.borrow_mut().take()))
    }

    // While running, the numbers are redrawn every second; a run that ended by
    // itself is stopped here.
    {
        let refresh = refresh.clone();
        let run = run.clone();
        let links = links.clone();
        use_effect_with(running, move |&running| {
            let cancelled = Rc::new(Cell::new(false));
            if running {
                let cancelled = cancelled.clone();
                spawn_local(async move {
                    loop {
                        sleep(Duration::from_secs(1)).await;
                        if cancelled.get() {
                            break;
                        }
                        if run.borrow().ended.is_some() {
                            stop(&run, &links);
                        }
                        refresh.force_update();
                    }
                });
            }
            move || cancelled.set(true)
        });
    }

    let on_toggle = {
        let (run, rate, refresh) = (run.clone(), rate.clone(), refresh.clone());
        let on_logged_out = props.on_logged_out.clone();
        Callback::from(move |_: MouseEvent| {
            if links.borrow().is_some() {
                stop(&run, &links);
            } else {
                let started = start(&run, &rate, &on_logged_out);
                *links.borrow_mut() = Some(started);
            }
            refresh.force_update();
        })
    };
    let rate_now = *rate.borrow();
    let rate_buttons = RATES.iter().map(|&r| {
        let onclick = {
            let (rate, refresh) = (rate.clone(), refresh.clone());
            Callback::from(move |_: MouseEvent| {
                *rate.borrow_mut() = r;
                refresh.force_update();
            })
        };
        let on = r == rate_now;
        html! {
            <button type="button" class={classes!("lab-rate", on.then_some("on"))} data-rate={r.to_string()}
                aria-pressed={on.to_string()} {onclick}>
                { r }
            </button>
        }
    });

    let now = now_ms();
    let mut r = run.borrow_mut();
    let rows: Vec<(LinkState, Row)> = r
        .transports
        .iter_mut()
        .map(|t| (t.state.clone(), t.row(now)))
        .collect();
    let elapsed_s = if r.started_ms > 0 {
        now.saturating_sub(r.started_ms) / 1_000
    } else {
        0
    };
    let waiting = r.running && r.sent == 0;
    let summary = if r.started_ms == 0 {
        "Not started yet.".to_owned()
    } else if waiting {
        "Connecting…".to_owned()
    } else {
        format!(
            "{} sent · {} stored · {} s{}",
            r.sent,
            r.stored,
            elapsed_s,
            if r.running { "" } else { " · stopped" }
        )
    };
    let problem = r.problem.clone().or_else(|| r.ended.clone());
    let sent = r.sent;
    drop(r);

    let columns = TRANSPORTS
        .iter()
        .zip(rows)
        .map(|(&transport, (state, row))| column(transport, &state, &row));

    html! {
        <div class="app lab-page">
            <header class="topbar lab-topbar">
                <a href="/" id="lab-back" class="lab-back">{ "← Chat" }</a>
                <h1 class="title">{ "Transport lab" }</h1>
            </header>
            <main class="lab-main">
                <section class="lab-intro" aria-label="Controls">
                    { Html::from_html_unchecked(LEAD_HTML.into()) }
                    <div class="lab-controls">
                        <div class="lab-rates" role="group" aria-label="Messages per second">
                            <span class="lab-rates-label" aria-hidden="true">{ "Msg/s" }</span>
                            { for rate_buttons }
                        </div>
                        <button type="button" id="lab-start" class={classes!("primary", running.then_some("running"))}
                            data-running={running.to_string()} onclick={on_toggle}>
                            { if running { "Stop" } else { "Start" } }
                        </button>
                        <span id="lab-sent" class="lab-summary" data-sent={sent.to_string()}>
                            { summary }
                        </span>
                    </div>
                    if let Some(problem) = problem {
                        <p id="lab-error" class="field-error">{ problem }</p>
                    }
                </section>
                <div class="lab-grid">
                    { for columns }
                </div>
                { Html::from_html_unchecked(NOTES_HTML.into()) }
            </main>
        </div>
    }
}

fn column(transport: Transport, state: &LinkState, row: &Row) -> Html {
    let (id, title, how) = match transport {
        Transport::WebSocket => (
            "lab-ws",
            "WebSocket",
            "One connection stays open; the server pushes each update as a frame.",
        ),
        Transport::LongPoll => (
            "lab-long-poll",
            "Long polling",
            "A GET waits up to 25 s and answers as soon as there is news; then the next GET.",
        ),
        Transport::Poll => (
            "lab-poll",
            "Short polling",
            "A GET every 2 s answers at once with whatever is waiting.",
        ),
    };
    let (state_key, state_text) = match state {
        LinkState::Idle => ("idle", "Idle".to_owned()),
        LinkState::Connecting => ("connecting", "Connecting…".to_owned()),
        LinkState::Ready => ("open", "Receiving".to_owned()),
        LinkState::Stopped => ("stopped", "Stopped".to_owned()),
        LinkState::Closed(why) => ("closed", format!("Closed: {why}")),
    };
    let opt = |v: Option<u64>| v.map(|v| v.to_string());
    let shown = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), latency_text);
    let width = |v: Option<u64>| format!("width: {}%", tenths_text(v.map_or(0, bar_permille)));
    let bar_label = match (row.p50, row.p99) {
        (Some(p50), Some(p99)) => format!(
            "Latency p50 {}, p99 {}",
            latency_text(p50),
            latency_text(p99)
        ),
        _ => "No deliveries yet".to_owned(),
    };
    let scale = ["1 ms", "10 ms", "100 ms", "1 s", "10 s"]
        .iter()
        .enumerate()
        .map(|(i, label)| html! { <span style={format!("left: {}%", i * 25)}>{ label }</span> });
    let bytes_per_update = row
        .bytes_per_update
        .map_or_else(|| "—".to_owned(), |b| format!("≈ {b} B"));
    let stats = [
        (
            "Delivered",
            "lab-delivered",
            row.delivered.to_string(),
            String::new(),
        ),
        (
            "HTTP requests/s",
            "lab-rps",
            tenths_text(row.rps_tenths),
            format!(" ({} in all)", row.requests),
        ),
        ("Latency p50", "lab-p50", shown(row.p50), String::new()),
        ("Latency p99", "lab-p99", shown(row.p99), String::new()),
        (
            "Bytes per update",
            "lab-bytes",
            bytes_per_update,
            String::new(),
        ),
        (
            "On the wire",
            "lab-total",
            format!("≈ {}", bytes_text(row.bytes)),
            String::new(),
        ),
    ]
    .into_iter()
    .map(|(label, class, value, sub)| {
        html! {
            <div class="lab-stat">
                <dt>{ label }</dt>
                <dd {class}>{ value }<span class="lab-sub">{ sub }</span></dd>
            </div>
        }
    });
    html! {
        <section {id} class="lab-card"
            data-state={state_key}
            data-delivered={row.delivered.to_string()}
            data-p50={opt(row.p50)}
            data-p99={opt(row.p99)}
            data-rps={tenths_text(row.rps_tenths)}
            data-bytes={opt(row.bytes_per_update)}>
            <header class="lab-card-head">
                <h2>{ title }</h2>
                <span class="lab-state" title={state_text.clone()}>
                    <span class="dot" aria-hidden="true"></span>
                    <span class="lab-state-text">{ state_text }</span>
                </span>
            </header>
            <p class="lab-how">{ how }</p>
            <div class="lab-latency">
                <div class="lab-bar" role="img" aria-label={bar_label}>
                    <span class="lab-bar-p99" style={width(row.p99)}></span>
                    <span class="lab-bar-p50" style={width(row.p50)}></span>
                </div>
                <div class="lab-scale" aria-hidden="true">
                    { for scale }
                </div>
            </div>
            <dl class="lab-stats">
                { for stats }
            </dl>
        </section>
    }
}

/// Opens the four connections of a new run and starts the sending loop.
fn start(run: &Rc<RefCell<Run>>, rate: &Rc<RefCell<u32>>, on_logged_out: &Callback<()>) -> Links {
    let id = (js_sys::Math::random() * f64::from(0x100_0000)) as u32;
    let now = now_ms();
    *run.borrow_mut() = Run {
        id,
        started_ms: now,
        running: true,
        transports: TRANSPORTS.map(|_| TransportStats::new(now)),
        ..Run::default()
    };
    let hello = || ClientMsg::Hello {
        protocol: PROTOCOL_VERSION,
        resume: Vec::new(),
    };
    let sender = Rc::new(RefCell::new(None));
    let events = sender_events(run.clone(), id, sender.clone(), on_logged_out.clone());
    *sender.borrow_mut() = Some(connection::open(
        hello(),
        TransportMode::Only(Transport::WebSocket),
        events,
    ));
    let receivers = TRANSPORTS
        .iter()
        .enumerate()
        .map(|(i, &transport)| {
            let events = receiver_events(run.clone(), id, i, on_logged_out.clone());
            connection::open(hello(), TransportMode::Only(transport), events)
        })
        .collect();
    let stopped = Rc::new(Cell::new(false));
    spawn_local(send_loop(
        run.clone(),
        sender.clone(),
        stopped.clone(),
        rate.clone(),
    ));
    Links {
        sender,
        _receivers: receivers,
        stopped,
    }
}

/// Stops sending and closes the connections; the numbers stay.
fn stop(run: &Rc<RefCell<Run>>, links: &Rc<RefCell<Option<Links>>>) {
    {
        let mut r = run.borrow_mut();
        r.running = false;
        for t in &mut r.transports {
            if !matches!(t.state, LinkState::Closed(_)) {
                t.state = LinkState::Stopped;
            }
        }
    }
    drop(links.borrow_mut().take());
}

/// What the sender's connection reports: it gets into the room, and counts
/// what the server stored.
fn sender_events(
    run: Rc<RefCell<Run>>,
    id: u32,
    link: Rc<RefCell<Option<UnboundedSender<ClientMsg>>>>,
    on_logged_out: Callback<()>,
) -> Events {
    Box::new(move |event| {
        let Ok(room) = crate::lower::room_name(ROOM) else {
            return;
        };
        let send = |msg| {
            if let Some(tx) = link.borrow().as_ref() {
                let _ = tx.unbounded_send(msg);
            }
        };
        let Ok(mut r) = run.try_borrow_mut() else {
            return;
        };
        if r.id != id {
            return;
        }
        match event {
            Event::Received { msg, .. } => match msg {
                ServerMsg::Welcome { rooms, .. } => {
                    if rooms.iter().any(|m| m.room == room) {
                        r.joined = true;
                    } else {
                        send(ClientMsg::Join { room });
                    }
                }
                ServerMsg::Joined { room: joined, .. } if joined == room => r.joined = true,
                ServerMsg::Ack { .. } => r.stored += 1,
                ServerMsg::Error {
                    code: ErrorCode::NoSuchRoom,
                    ..
                } if !r.joined => send(ClientMsg::CreateRoom { room }),
                ServerMsg::Error {
                    code: ErrorCode::RoomExists,
                    ..
                } if !r.joined => send(ClientMsg::Join { room }),
                // The `leave` of a run stopped before it got into the room.
                ServerMsg::Error {
                    code: ErrorCode::NotInRoom,
                    ..
                } if !r.running => {}
                ServerMsg::Error { message, .. } => r.problem = Some(message),
                _ => {}
            },
            Event::Closed { code, reason } if r.running => {
                r.problem = Some(if reason.is_empty() {
                    "The sending connection could not connect.".to_owned()
                } else {
                    format!("The sending connection closed: {reason}")
                });
                drop(r);
                if code == Some(close::LOGGED_OUT) {
                    on_logged_out.emit(());
                }
            }
            _ => {}
        }
    })
}

/// What receiver `i` reports: deliveries, and everything on its wire.
fn receiver_events(
    run: Rc<RefCell<Run>>,
    id: u32,
    i: usize,
    on_logged_out: Callback<()>,
) -> Events {
    Box::new(move |event| {
        let Ok(mut r) = run.try_borrow_mut() else {
            return;
        };
        if r.id != id {
            return;
        }
        let running = r.running;
        let Some(stats) = r.transports.get_mut(i) else {
            return;
        };
        let now = now_ms();
        match event {
            Event::Received { msg, at_ms } => {
                if matches!(msg, ServerMsg::Welcome { .. }) && running {
                    stats.state = LinkState::Ready;
                }
                stats.received(id, &msg, at_ms);
            }
            Event::Handshake { .. } => stats.request(now, WS_HANDSHAKE_BYTES),
            Event::Frame { sent, payload } => stats.wire(ws_frame_bytes(payload, sent)),
            Event::Http {
                method,
                url,
                body,
                answer,
            } => {
                let answered = answer.map_or(0, |a| a.head_bytes() + a.body.len());
                stats.request(now, request_head_bytes(method, url, body) + body + answered);
            }
            Event::Closed { code, reason } if running => {
                stats.state = LinkState::Closed(if reason.is_empty() {
                    "could not connect".to_owned()
                } else {
                    reason
                });
                drop(r);
                if code == Some(close::LOGGED_OUT) {
                    on_logged_out.emit(());
                }
            }
            _ => {}
        }
    })
}

/// Sends lab messages at the chosen rate (read before each one) until the run
/// stops, once the sender is in the room and the receivers are ready.
async fn send_loop(
    run: Rc<RefCell<Run>>,
    link: Rc<RefCell<Option<UnboundedSender<ClientMsg>>>>,
    stopped: Rc<Cell<bool>>,
    rate: Rc<RefCell<u32>>,
) {
    let Ok(room) = crate::lower::room_name(ROOM) else {
        return;
    };
    let mut ids = ClientIdGen::random();
    // Where the current pace started: time, message number, rate.
    let mut pace: Option<(u64, u64, u32)> = None;
    let mut n = 0u64;
    while !stopped.get() {
        let now = now_ms();
        let (id, ready, over) = {
            let r = run.borrow();
            let all_ready = r.transports.iter().all(|t| t.state == LinkState::Ready);
            let waited = now.saturating_sub(r.started_ms) >= READY_WAIT_MS;
            (
                r.id,
                r.joined && (all_ready || waited),
                now.saturating_sub(r.started_ms) >= MAX_RUN_MS,
            )
        };
        if over {
            run.borrow_mut().ended = Some(format!(
                "Stopped by itself after {} minutes.",
                MAX_RUN_MS / 60_000
            ));
            return;
        }
        if !ready {
            sleep(Duration::from_millis(100)).await;
            continue;
        }
        let per_second = *rate.borrow();
        let (from_ms, from_n, _) = match pace {
            Some(p) if p.2 == per_second => p,
            _ => *pace.insert((now, n, per_second)),
        };
        let due = due_ms(from_ms, per_second, n - from_n);
        if due > now {
            sleep(Duration::from_millis(due - now)).await;
            continue;
        }
        if now - due > 1_000 {
            // Far behind (a throttled background tab): no burst to catch up.
            pace = None;
            continue;
        }
        let text = super::body(id, n, now);
        let (Ok(body), Some(client_id)) = (MessageBody::parse(&text), ids.next_id()) else {
            return;
        };
        let msg = ClientMsg::Send {
            channel: Channel::Room(room.clone()),
            client_id,
            body,
        };
        let queued = link
            .borrow()
            .as_ref()
            .is_some_and(|tx| tx.unbounded_send(msg).is_ok());
        if !queued {
            return;
        }
        n += 1;
        run.borrow_mut().sent = n;
    }
}
