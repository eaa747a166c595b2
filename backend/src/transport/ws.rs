//! The WebSocket transport: once `GET /ws` is upgraded ([`crate::http::ws`]), a
//! reader (the connection's task) feeds frames to the session and a writer task
//! drains the outbox onto the socket.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::limits::ConnectionSlot;
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Kick, OutboxReceiver, WriterEvent};
use crate::session::Session;
use crate::transport::{Env, Heartbeat, SocketReset};

/// Frames written per flush: many small broadcasts become one syscall.
const WRITE_BATCH: usize = 64;
/// How long to wait for the peer's close frame after we sent ours.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Echoes every text and binary message, for the Autobahn conformance suite
/// (`GET /autobahn`). No session: it touches nothing but the socket.
pub async fn echo(mut socket: WebSocket) {
    while let Some(received) = socket.recv().await {
        let reply = match received {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
            // Pings are answered and a close is echoed by tungstenite itself.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => continue,
            // As on /ws: over the size limit, say 1009 and finish the close
            // handshake; any other error ends the connection.
            Err(err) if is_too_big(&err) => {
                let CloseReason { code, reason } = CloseReason::TOO_BIG;
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                if socket.send(Message::Close(Some(frame))).await.is_ok() {
                    let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
                }
                break;
            }
            Err(_) => break,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

/// Sets a connection up: the writer task; returns the reader, which runs the
/// connection. `rx` is the receiving end of the session's outbox. Log lines
/// name the connection's span ([`Session::span`]) as their parent.
pub fn run(
    socket: WebSocket,
    session: Session,
    rx: OutboxReceiver,
    env: Env,
    slot: ConnectionSlot,
    reset: SocketReset,
) -> impl Future<Output = ()> + Send + use<> {
    tracing::info!(parent: &session.span("ws"), conn = %session.id(), "websocket connected");
    let (sink, stream) = socket.split();
    let kick = rx.kick.clone();
    // Cancelled by the writer once it has sent a close frame or lost the socket.
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        Ending {
            done: writer_done.clone(),
            reset: reset.clone(),
        },
        (env.heartbeat.ping_interval, env.heartbeat.write_timeout),
        Arc::clone(&env.metrics),
    ));
    let reader = Reader {
        stream,
        kick,
        writer_done,
        writer,
        heartbeat: env.heartbeat,
        slot,
        reset,
        metrics: env.metrics,
    };
    read_loop(session, reader, env.shutdown)
}

/// The reader's end of a connection.
struct Reader {
    stream: SplitStream<WebSocket>,
    kick: Kick,
    writer_done: CancellationToken,
    writer: JoinHandle<()>,
    heartbeat: Heartbeat,
    slot: ConnectionSlot,
    /// Set by the writer when it gave up on the socket: drop it, reset.
    reset: SocketReset,
    metrics: Arc<Metrics>,
}

/// Runs the connection: reads and handles the client's frames, keeps its
/// deadlines, and on server shutdown kicks the writer (which delivers what is
/// queued, then closes with 1001). The shutdown is watched here, not by the
/// writer, because the reader wakes only for the client's frames while the
/// writer wakes for every delivery.
async fn read_loop(mut session: Session, mut reader: Reader, shutdown: CancellationToken) {
    let conn = session.id();
    let Heartbeat {
        idle_timeout,
        hello_timeout,
        ..
    } = reader.heartbeat;
    // One timer for two deadlines: the idle one, which any frame from the client
    // (pongs to our pings included) pushes back, and until `hello` the hello one.
    let hello_by = tokio::time::Instant::now() + hello_timeout;
    let next_deadline = |greeted: bool| {
        let idle = tokio::time::Instant::now() + idle_timeout;
        if greeted { idle } else { idle.min(hello_by) }
    };
    let timer = tokio::time::sleep_until(next_deadline(false));
    tokio::pin!(timer);
    let closing = reader.writer_done.clone();
    let closing = closing.cancelled();
    let shutting_down = shutdown.cancelled();
    tokio::pin!(closing, shutting_down);
    let mut told_to_go = false;
    loop {
        tokio::select! {
            frame = reader.stream.next(), if session.wants_input() => {
                match frame {
                    // Boxed: handling a message is a large future (store requests,
                    // history) that an idle connection should not carry inline.
                    Some(Ok(Message::Text(text))) => {
                        let span = session.span("ws");
                        Box::pin(session.handle_text(&text).instrument(span)).await
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let span = session.span("ws");
                        Box::pin(session.reject_binary().instrument(span)).await
                    }
                    // tungstenite answers pings itself; a close frame is answered
                    // too, and the stream then ends.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => {}
                    Some(Err(err)) => {
                        if is_too_big(&err) {
                            // Say why before going: 1009, then the close handshake.
                            reader.kick.kick(CloseReason::TOO_BIG);
                        } else {
                            tracing::debug!(parent: &session.span("ws"), %conn, "websocket read failed");
                            break;
                        }
                    }
                    None => break,
                }
                timer.as_mut().reset(next_deadline(session.is_greeted()));
            }
            () = session.answer_next(), if session.has_in_flight() => {}
            () = &mut timer => {
                if !session.is_greeted() && tokio::time::Instant::now() >= hello_by {
                    tracing::info!(parent: &session.span("ws"), %conn, "no hello in time: closing");
                    reader.kick.kick(CloseReason::HELLO_TIMEOUT);
                } else {
                    tracing::info!(parent: &session.span("ws"), %conn, "no traffic from the client: closing");
                    reader.kick.kick(CloseReason::IDLE);
                }
                // Fire once; the writer's close ends this loop.
                timer.as_mut().reset(tokio::time::Instant::now() + CLOSE_TIMEOUT + idle_timeout);
            }
            () = &mut shutting_down, if !told_to_go => {
                told_to_go = true;
                reader.kick.kick(CloseReason::GOING_AWAY);
            }
            () = &mut closing => {
                // We are closing: keep reading (and ignoring) until the client's close
                // frame ends the stream, so our close frame is not cut off — unless
                // the writer gave up on the socket. A client that does not answer
                // in time is not reading either: reset.
                if !reader.reset.is_requested() {
                    let drain = async { while let Some(Ok(_)) = reader.stream.next().await {} };
                    if Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, drain)).await.is_err() {
                        reader.reset.request();
                    }
                }
                break;
            }
        }
    }
    // Leave every room before the writer goes, so nothing new is queued.
    drop(session);
    let Reader {
        stream,
        kick,
        writer,
        slot,
        metrics,
        ..
    } = reader;
    kick.reader_done();
    if let Err(err) = writer.await {
        tracing::error!(%conn, %err, "websocket writer task failed");
    }
    // Both halves of the socket are gone now: the connection is closed (reset,
    // if the writer or the close handshake gave up), and only then counted.
    drop(stream);
    drop(slot);
    metrics.closed(kick.reason());
    tracing::info!(%conn, "websocket disconnected");
}

/// Why the writer stopped.
enum Stop {
    /// The reader ended (client went away): finish the close handshake quietly.
    ReaderDone,
    /// We close the connection with this code and reason.
    Close(CloseReason),
    /// The socket failed; nothing more can be written.
    Broken,
    /// A write could not finish (the write deadline, or a kick while it was
    /// blocked): drop the socket at once, reset.
    Abort,
}

/// Whether a read failed because the client sent a message over the size limit.
fn is_too_big(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// What the writer leaves behind: `done` is cancelled once it has stopped, and
/// `reset` requested first when it gave up on the socket.
struct Ending {
    done: CancellationToken,
    reset: SocketReset,
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: OutboxReceiver,
    ending: Ending,
    (ping_interval, write_timeout): (Duration, Duration),
    metrics: Arc<Metrics>,
) {
    // Allocated while frames are being written, released after each flush: an
    // idle connection holds no batch (64 frames' worth would be 2 KB each).
    let mut batch = Vec::new();
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = loop {
        tokio::select! {
            biased;
            // One wait for everything the rest of the server tells this writer
            // (a broadcast to thousands wakes thousands of these loops); a kick
            // comes first, so a connection closed for a reason always says it.
            event = rx.next_event(&mut batch, WRITE_BATCH) => match event {
                WriterEvent::Kicked(reason) => {
                    // Say what is queued first (e.g. which messages were refused,
                    // or everything before a shutdown), unless the queue being
                    // full is the reason.
                    if reason != CloseReason::SLOW_CONSUMER {
                        while let Ok(frame) = rx.frames.try_recv() {
                            batch.push(frame);
                        }
                        batch.extend(rx.states.take());
                        let flushed = tokio::time::timeout(
                            CLOSE_TIMEOUT.min(write_timeout),
                            write_batch(&mut sink, &mut batch, &metrics),
                        );
                        if !matches!(flushed.await, Ok(Ok(()))) {
                            break Stop::Abort;
                        }
                    }
                    break Stop::Close(reason);
                }
                WriterEvent::ReaderDone | WriterEvent::Frames(0) => break Stop::ReaderDone,
                WriterEvent::Frames(_) | WriterEvent::States => {
                    // Latest tallies ride along, after the messages queued before them.
                    batch.extend(rx.states.take());
                    let write = write_batch(&mut sink, &mut batch, &metrics);
                    if let Err(stop) = bounded(write, &rx.kick, write_timeout).await {
                        break stop;
                    }
                }
            },
            _ = ping.tick() => {
                let write = sink.send(Message::Ping(axum::body::Bytes::new()));
                if let Err(stop) = bounded(write, &rx.kick, write_timeout).await {
                    break stop;
                }
            }
        }
    };
    match stop {
        Stop::Close(CloseReason { code, reason }) => {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let sent = tokio::time::timeout(
                CLOSE_TIMEOUT.min(write_timeout),
                sink.send(Message::Close(Some(frame))),
            );
            if !matches!(sent.await, Ok(Ok(()))) {
                ending.reset.request();
            }
        }
        Stop::ReaderDone => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
        }
        Stop::Broken => {}
        Stop::Abort => ending.reset.request(),
    }
    ending.done.cancel();
}

/// Runs one write (a batch and its flush, or a ping) within the write deadline,
/// and gives up on it at once when the connection is kicked as a slow consumer
/// or for silence while it is still pending: the client is not reading, so
/// neither the rest of the write nor a close frame would get through. Other
/// kicks (shutdown, log-out…) let the write finish within [`CLOSE_TIMEOUT`]
/// (or the deadline, if sooner); the loop then handles them.
async fn bounded(
    write: impl Future<Output = Result<(), axum::Error>>,
    kick: &Kick,
    deadline: Duration,
) -> Result<(), Stop> {
    tokio::pin!(write);
    // Nearly every write finishes at once: no clock read, no timer for those.
    if let Poll::Ready(result) = futures_util::poll!(write.as_mut()) {
        return result.map_err(|_| Stop::Broken);
    }
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    let mut graced = false;
    loop {
        tokio::select! {
            biased;
            result = &mut write => return result.map_err(|_| Stop::Broken),
            reason = std::future::poll_fn(|cx| kick.poll_kicked(cx)), if !graced => {
                if reason == CloseReason::SLOW_CONSUMER || reason == CloseReason::IDLE {
                    tracing::info!(
                        code = reason.code,
                        "kicked while a write was blocked: resetting the socket"
                    );
                    return Err(Stop::Abort);
                }
                graced = true;
                let by = tokio::time::Instant::now() + CLOSE_TIMEOUT;
                if by < timer.deadline() {
                    timer.as_mut().reset(by);
                }
            }
            () = &mut timer => {
                tracing::info!(
                    "a write made no progress within its deadline: dropping the connection"
                );
                return Err(Stop::Abort);
            }
        }
    }
}

async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    batch: &mut Vec<Utf8Bytes>,
    metrics: &Metrics,
) -> Result<(), axum::Error> {
    metrics.messages_out.inc_by(batch.len() as u64);
    for frame in std::mem::take(batch) {
        sink.feed(Message::Text(frame)).await?;
    }
    sink.flush().await
}
