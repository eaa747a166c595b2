//! The polling transports over `/api/lp`: long-polling (a `GET` that waits up
//! to 25 s for events) and short polling (a `GET` that answers at once, every
//! 2 s). Both send with `POST`s, one at a time, in order, and both deliver the
//! same events a WebSocket would, in the same order.
//!
//! The server keeps the connection's events and numbers them; each `GET` asks
//! for those after the last batch it got (`since`), so a lost answer is asked
//! for again, never skipped. A request that fails or gets no answer in time
//! means the connection is dead: the task ends it, and the app reconnects and
//! resumes.

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::future::{Either, select};
use parley_common::{ApiError, ClientMsg, CloseInfo, LongPollOpened, ServerMsg};
use serde::Deserialize;
use serde_json::value::RawValue;
use web_sys::AbortController;
use yew::platform::time::sleep;

use super::{Ended, Event, ws};
use crate::api::{self, Answer};
use crate::time::now_ms;
use crate::transport::{
    HTTP_SLACK, LONG_POLL_WAIT_S, POLL_AFTER_POST, POLL_EVERY, POST_MAX_BYTES, PROBE_FIRST,
    PROBE_MAX, Transport,
};

/// Runs a connection over `transport` (long-polling or short polling) until it
/// ends; with `probe`, also checks now and then whether a WebSocket would open
/// (and ends with [`Ended::Upgrade`] when one does).
pub(super) async fn run(
    hello: &ClientMsg,
    inbox: &mut UnboundedReceiver<ClientMsg>,
    events: &dyn Fn(Event<'_>),
    transport: Transport,
    probe: bool,
) -> Ended {
    let Ok(hello) = super::encode(hello, events) else {
        return Ended::NeverOpened("could not encode hello".into());
    };
    let body = format!("[{hello}]");
    let answer = match timed("POST", "/api/lp", Some(body), HTTP_SLACK, events).await {
        Ok(answer) if answer.ok() => answer,
        Ok(answer) => return Ended::NeverOpened(problem(&answer)),
        Err(why) => return Ended::NeverOpened(why),
    };
    let Ok(LongPollOpened { sid }) = serde_json::from_str(&answer.body) else {
        return Ended::NeverOpened(problem(&answer));
    };
    events(Event::Opened(transport));

    let path = format!("/api/lp/{sid}");
    let ended = {
        let (poke, poked) = futures::channel::mpsc::unbounded();
        let receiving = pin!(receive(&path, transport, poked, events));
        let sending = pin!(send_all(&path, inbox, poke, events));
        let probing = pin!(probe_ws(probe));
        match select(select(receiving, sending), probing).await {
            Either::Left((Either::Left((ended, _)), _))
            | Either::Left((Either::Right((ended, _)), _))
            | Either::Right((ended, _)) => ended,
        }
    };
    // The requests still running were aborted with their futures. Unless the
    // server ended it, tell it the connection is over rather than leaving it to
    // expire.
    let server_ended = matches!(ended, Ended::Closed { code: Some(_), .. } | Ended::Gone);
    if matches!(ended, Ended::ByApp) {
        events(Event::Closing);
    }
    if !server_ended {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = timed("DELETE", &path, None, HTTP_SLACK, &|_| {}).await;
        });
    }
    ended
}

/// Asks for events until the connection ends, handing each to the reducer.
async fn receive(
    path: &str,
    transport: Transport,
    mut poked: UnboundedReceiver<()>,
    events: &dyn Fn(Event<'_>),
) -> Ended {
    let wait = match transport {
        Transport::LongPoll => LONG_POLL_WAIT_S,
        Transport::WebSocket | Transport::Poll => 0,
    };
    let limit = Duration::from_secs(wait) + HTTP_SLACK;
    let mut since = 0;
    if transport == Transport::Poll {
        // The answer to `hello` (`welcome`) is on its way; a moment later it is
        // there, instead of 2 s later.
        sleep(POLL_AFTER_POST).await;
    }
    loop {
        let url = format!("{path}?since={since}&wait={wait}");
        let answer = match timed("GET", &url, None, limit, events).await {
            Ok(answer) => answer,
            Err(why) => return lost(&why),
        };
        match answer.status {
            200 => {}
            404 => return Ended::Gone,
            _ => {
                return Ended::Closed {
                    code: None,
                    reason: problem(&answer),
                };
            }
        }
        let batch = match serde_json::from_str::<Batch<'_>>(&answer.body) {
            Ok(batch) => batch,
            Err(err) => {
                events(Event::BadFrame(err.to_string()));
                return Ended::Closed {
                    code: None,
                    reason: "unreadable answer from the server".into(),
                };
            }
        };
        let now = now_ms();
        for event in batch.events {
            match serde_json::from_str::<ServerMsg>(event.get()) {
                Ok(ServerMsg::Pong) => {}
                Ok(msg) => events(Event::Received { msg, at_ms: now }),
                Err(err) => events(Event::BadFrame(err.to_string())),
            }
        }
        since = batch.next;
        // The same codes as a WebSocket's close frame (1001 restarting, 4001
        // logged out, …).
        if let Some(CloseInfo { code, reason }) = batch.close {
            return Ended::Closed {
                code: Some(code),
                reason,
            };
        }
        if transport == Transport::Poll {
            // Every 2 s; soon after a POST, whose answer is probably waiting.
            let tick = pin!(sleep(POLL_EVERY));
            if let Either::Right((Some(()), _)) = select(tick, poked.next()).await {
                sleep(POLL_AFTER_POST).await;
                while poked.try_recv().is_ok() {}
            }
        }
    }
}

/// Sends what the UI queues, one `POST` at a time, in order; whatever queued
/// up meanwhile goes in the next one (within [`POST_MAX_BYTES`]).
async fn send_all(
    path: &str,
    inbox: &mut UnboundedReceiver<ClientMsg>,
    poke: UnboundedSender<()>,
    events: &dyn Fn(Event<'_>),
) -> Ended {
    let mut held = None::<String>;
    loop {
        let first = match held.take() {
            Some(json) => json,
            None => match inbox.next().await {
                Some(msg) => match super::encode(&msg, events) {
                    Ok(json) => json,
                    Err(()) => continue,
                },
                None => return Ended::ByApp,
            },
        };
        let mut body = format!("[{first}");
        while let Ok(msg) = inbox.try_recv() {
            let Ok(json) = super::encode(&msg, events) else {
                continue;
            };
            if body.len() + json.len() + 2 > POST_MAX_BYTES {
                held = Some(json);
                break;
            }
            body.push(',');
            body.push_str(&json);
        }
        body.push(']');
        let answer = match timed("POST", path, Some(body), HTTP_SLACK, events).await {
            Ok(answer) => answer,
            // Whether it arrived is unknown: a new connection re-sends what is
            // still pending (same client ids, stored once).
            Err(why) => return lost(&why),
        };
        match answer.status {
            404 => return Ended::Gone,
            _ if answer.ok() => {
                let _ = poke.unbounded_send(());
            }
            // 400, 413, 415: this app sent something the server cannot take.
            // What it carried stays pending until the next connection.
            _ => events(Event::Refused(problem(&answer))),
        }
    }
}

/// In automatic mode: waits, then checks whether a WebSocket opens, waiting
/// twice as long after each failure. Never ends otherwise.
async fn probe_ws(enabled: bool) -> Ended {
    if !enabled {
        return futures::future::pending().await;
    }
    let mut wait = PROBE_FIRST;
    loop {
        sleep(wait).await;
        if ws::probe().await {
            return Ended::Upgrade;
        }
        wait = (wait * 2).min(PROBE_MAX);
    }
}

/// Aborts its request when dropped: when the connection ends, its waiting
/// `GET` must not keep one of the browser's few connections to the server.
struct AbortOnDrop(AbortController);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A request that gives up (and is aborted) after `limit`. `Err` says why
/// there is no answer, briefly (the browser's own words, "Failed to fetch" and
/// the like, tell a user nothing more). Reported to `events` when it is over.
async fn timed(
    method: &str,
    path: &str,
    body: Option<String>,
    limit: Duration,
    events: &dyn Fn(Event<'_>),
) -> Result<Answer, String> {
    let abort = AbortController::new().ok().map(AbortOnDrop);
    let signal = abort.as_ref().map(|a| a.0.signal());
    let sent = body.as_ref().map_or(0, String::len);
    let request = pin!(api::request(method, path, body, signal.as_ref()));
    let answer = match select(request, pin!(sleep(limit))).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(_), _)) => Err("server unreachable".into()),
        Either::Right(_) => Err("no answer from the server".into()),
    };
    events(Event::Http {
        method,
        url: path,
        body: sent,
        answer: answer.as_ref().ok(),
    });
    answer
}

/// A long-polling `GET`'s answer ([`parley_common::LongPollBatch`]), with each
/// event left undecoded until it is read on its own: one unreadable event is
/// then reported alone, as a WebSocket frame would be.
#[derive(Deserialize)]
struct Batch<'a> {
    next: u64,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default)]
    close: Option<CloseInfo>,
}

/// A non-2xx answer, for a human: the server's message if it sent one.
fn problem(answer: &Answer) -> String {
    match serde_json::from_str::<ApiError>(&answer.body) {
        Ok(error) => format!("{} ({})", error.message, answer.status),
        Err(_) => format!("the server answered {}", answer.status),
    }
}

/// A request failed on the network: the connection is presumed lost.
fn lost(why: &dyn std::fmt::Display) -> Ended {
    Ended::Closed {
        code: None,
        reason: format!("connection lost: {why}"),
    }
}
