//! Delivery guarantees and transports, through the real SPA in headless Chromium:
//! the server goes away and comes back under open pages (which reconnect by
//! themselves, resume, and send what was written meanwhile, each message stored
//! and shown exactly once), WebSockets refused (automatic fallback to
//! long-polling), and short polling forced with `?transport=poll`.
//!
//! The DOM contract is the frontend's (frontend/README.md): `#conn-state`,
//! `#transport[data-transport]`, `#reconnect-in`, `#retry-now`, `#status.reconnecting`,
//! `#pending-count`, and own messages on their way as `li.message.own` with
//! `data-client-id` and one of `.pending` / `.sent` / `.failed`; stored ones
//! have `data-seq`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::page::{Shown, messages, register, send, show_all, wait_for_stored};
use support::{Browser, Harness, Report, ServerOptions, TestResult};

const ALICE: (&str, &str) = ("Alice", "correct horse battery staple");
const BOB: (&str, &str) = ("Bob", "tr0ub4dor and three cats");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_reconnect_by_themselves_when_the_server_restarts() -> Result<(), Report> {
    let mut harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        server_restarts(&mut harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_websockets_fall_back_to_long_polling() -> Result<(), Report> {
    let mut harness = Harness::start_with(ServerOptions {
        refuse_websocket: true,
    })
    .await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        long_polling(&mut harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_polling_can_be_forced_from_the_url() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        short_polling(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

async fn server_restarts(harness: &mut Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
        browser.wait_for("ol#messages[data-room='lobby']").await?;
        wait_for_transport(browser, "ws").await?;
        // Gone if the page were ever reloaded: everything below happens in this one.
        browser
            .eval("window.__parleyE2ePage = 'the first load'; return null;")
            .await?;
    }
    let mut said: Vec<(&str, &str)> = Vec::new();

    // A conversation before anything goes wrong.
    send(alice, "A0: hi Bob").await?;
    said.push(("Alice", "A0: hi Bob"));
    wait_for_stored(bob, "Alice", "A0: hi Bob").await?;
    send(bob, "B0: hi Alice").await?;
    said.push(("Bob", "B0: hi Alice"));
    for browser in [alice, bob] {
        wait_until_all_stored_once(browser, &said).await?;
    }

    // 1. A graceful stop (1001 for everyone). Alice writes three messages while
    // the server is away, and her page tries (and fails) to reconnect at least
    // once; right after the server is back, Bob writes one too.
    harness.stop_server().await?;
    for browser in [alice, bob] {
        wait_for_reconnecting(browser).await?;
    }
    let queued = [
        "A1: are you still there?",
        "A2: the server seems to be down",
        "A3: third message, written offline",
    ];
    for body in queued {
        send(alice, body).await?;
    }
    wait_for_pending(alice, &queued).await?;
    for browser in [alice, bob] {
        wait_for_failed_retry(browser).await?;
    }
    harness.start_server().await?;
    send(bob, "B1: back again").await?;
    said.extend(queued.iter().map(|body| ("Alice", *body)));
    said.push(("Bob", "B1: back again"));
    settle(alice, bob, &said).await?;

    // 2. An abrupt stop (the server's runtime dropped: sockets just close, no
    // close frame). Both write while it is away. Alice's network then goes down
    // too, so Bob's page is back first, and what he writes is stored while
    // Alice is away: her page must resume (get it as missed) before it sends
    // hers.
    harness.kill_server().await?;
    for browser in [alice, bob] {
        let why = wait_for_reconnecting(browser).await?;
        if why.contains("1001") {
            return Err(format!(
                "{}: the killed server said goodbye ({why:?}): it was not abrupt",
                browser.label
            )
            .into());
        }
    }
    send(alice, "A4: did it crash?").await?;
    send(bob, "B2: it looks like it").await?;
    wait_for_pending(alice, &["A4: did it crash?"]).await?;
    wait_for_pending(bob, &["B2: it looks like it"]).await?;
    alice.set_offline(true).await?;
    // Offline, Alice's page waits for the network instead of retrying.
    alice.wait_for("#offline-banner").await?;
    wait_for_failed_retry(bob).await?;
    harness.start_server().await?;
    wait_for_open(bob).await?;
    wait_for_stored(bob, "Bob", "B2: it looks like it").await?;
    send(bob, "B3: Alice is not back yet").await?;
    wait_for_stored(bob, "Bob", "B3: Alice is not back yet").await?;
    // Alice is still away, her message still waiting.
    wait_for_pending(alice, &["A4: did it crash?"]).await?;
    alice.set_offline(false).await?;
    said.push(("Bob", "B2: it looks like it"));
    said.push(("Bob", "B3: Alice is not back yet"));
    said.push(("Alice", "A4: did it crash?"));
    let seqs = settle(alice, bob, &said).await?;
    // (The premise: Bob's messages were stored while Alice was away.)
    if seqs.get("B3: Alice is not back yet") > seqs.get("A4: did it crash?") {
        return Err(format!(
            "alice: her message was stored before Bob's, so she was not away: {seqs:?}"
        )
        .into());
    }

    for browser in [alice, bob] {
        let marker = browser
            .eval("return window.__parleyE2ePage ?? null;")
            .await?;
        if marker.as_str() != Some("the first load") {
            return Err(format!(
                "{}: the page was reloaded (its marker is {marker}): it should have \
                 reconnected by itself",
                browser.label
            )
            .into());
        }
    }
    Ok(())
}

/// After a restart: both pages reconnect by themselves (nobody clicks Retry now),
/// show everything `said` exactly once, stored, in seq order, nothing left on its
/// way, and agree on every message's seq.
async fn settle(
    alice: &Browser,
    bob: &Browser,
    said: &[(&str, &str)],
) -> TestResult<BTreeMap<String, u64>> {
    let mut seqs = Vec::new();
    for browser in [alice, bob] {
        wait_for_open(browser).await?;
        seqs.push(wait_until_all_stored_once(browser, said).await?);
        wait_for_pending_count(browser, 0).await?;
    }
    if seqs[0] != seqs[1] {
        return Err(format!(
            "alice and bob disagree on the messages' seqs:\n  alice: {:?}\n  bob:   {:?}",
            seqs[0], seqs[1]
        )
        .into());
    }
    Ok(seqs.swap_remove(0))
}

async fn long_polling(harness: &mut Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
        browser.wait_for("ol#messages[data-room='lobby']").await?;
        wait_for_transport(browser, "long-poll").await?;
    }
    let mut said = Vec::new();
    send(alice, "over long-polling, from Alice").await?;
    said.push(("Alice", "over long-polling, from Alice"));
    wait_for_stored(bob, "Alice", "over long-polling, from Alice").await?;
    send(bob, "and back, from Bob").await?;
    said.push(("Bob", "and back, from Bob"));
    send(alice, "and once more, from Alice").await?;
    said.push(("Alice", "and once more, from Alice"));
    for browser in [alice, bob] {
        wait_until_all_stored_once(browser, &said).await?;
        wait_for_pending_count(browser, 0).await?;
        // Still long-polling: nothing upgraded to a WebSocket the server refuses.
        wait_for_transport(browser, "long-poll").await?;
    }

    // The server restarts under long-polling pages (their waiting GETs get a
    // final batch saying 1001): they reconnect by themselves, over long-polling
    // again, and what Alice wrote meanwhile is stored once.
    harness.stop_server().await?;
    for browser in [alice, bob] {
        wait_for_reconnecting(browser).await?;
    }
    send(alice, "written while the server was away").await?;
    wait_for_pending(alice, &["written while the server was away"]).await?;
    harness.start_server().await?;
    said.push(("Alice", "written while the server was away"));
    for browser in [alice, bob] {
        wait_for_transport(browser, "long-poll").await?;
        wait_until_all_stored_once(browser, &said).await?;
        wait_for_pending_count(browser, 0).await?;
    }
    Ok(())
}

async fn short_polling(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password), path, transport) in [
        (alice, ALICE, "/?transport=poll", "poll"),
        (bob, BOB, "/", "ws"),
    ] {
        browser.goto(&harness.url(path)).await?;
        register(browser, name, password).await?;
        browser.wait_for("ol#messages[data-room='lobby']").await?;
        wait_for_transport(browser, transport).await?;
    }
    let mut said = Vec::new();
    send(bob, "to a polling page, from Bob").await?;
    said.push(("Bob", "to a polling page, from Bob"));
    wait_for_stored(alice, "Bob", "to a polling page, from Bob").await?;
    send(alice, "polled reply, from Alice").await?;
    said.push(("Alice", "polled reply, from Alice"));
    for browser in [alice, bob] {
        wait_until_all_stored_once(browser, &said).await?;
        wait_for_pending_count(browser, 0).await?;
    }
    wait_for_transport(alice, "poll").await?;
    Ok(())
}

/// Waits until the page shows each of `said` (sender, body) exactly once, stored,
/// in the order of their seqs, with nothing else on its way; fails at once if a
/// body is ever shown twice meanwhile (a pending copy next to its stored one
/// included). Returns body → seq.
async fn wait_until_all_stored_once(
    browser: &Browser,
    said: &[(&str, &str)],
) -> TestResult<BTreeMap<String, u64>> {
    browser
        .wait_until(
            &format!(
                "each of {} messages is shown once, stored, in seq order",
                said.len()
            ),
            || async {
                let shown = messages(browser).await?;
                for (_, body) in said {
                    if shown.iter().filter(|m| m.body == *body).count() > 1 {
                        return Err(format!(
                            "{}: {body:?} is shown twice: {}",
                            browser.label,
                            show_all(&shown)
                        )
                        .into());
                    }
                }
                Ok(all_stored_once(&shown, said)
                    .map_err(|why| format!("{why}; the page shows {}", show_all(&shown))))
            },
        )
        .await
}

fn all_stored_once(
    shown: &[Shown],
    said: &[(&str, &str)],
) -> Result<BTreeMap<String, u64>, String> {
    if let Some(on_way) = shown
        .iter()
        .find(|m| m.seq.is_none() || !m.state.is_empty())
    {
        return Err(format!("not (yet) stored: {on_way}"));
    }
    if let Some(pair) = shown.windows(2).find(|w| w[0].seq >= w[1].seq) {
        return Err(format!("out of seq order: {} before {}", pair[0], pair[1]));
    }
    let mut seqs = BTreeMap::new();
    for (sender, body) in said {
        let copies: Vec<&Shown> = shown.iter().filter(|m| m.body == *body).collect();
        match copies.as_slice() {
            [one] if one.sender == *sender => {
                if let Some(seq) = one.seq {
                    seqs.insert((*body).to_owned(), seq);
                }
            }
            [one] => {
                return Err(format!(
                    "{body:?} is shown from {}, not {sender}",
                    one.sender
                ));
            }
            [] => return Err(format!("{sender}'s {body:?} is not shown")),
            _ => return Err(format!("{body:?} is shown {} times", copies.len())),
        }
    }
    if shown.len() != said.len() {
        return Err(format!(
            "{} messages shown, {} said",
            shown.len(),
            said.len()
        ));
    }
    // Each one's messages in the order written (their seqs, as the list is in
    // seq order).
    for sender in [ALICE.0, BOB.0] {
        let written: Vec<&str> = said
            .iter()
            .filter(|(s, _)| *s == sender)
            .map(|(_, body)| *body)
            .collect();
        let stored: Vec<&str> = shown
            .iter()
            .filter(|m| m.sender == sender)
            .map(|m| m.body.as_str())
            .collect();
        if written != stored {
            return Err(format!(
                "{sender}'s messages stored as {stored:?}, written as {written:?}"
            ));
        }
    }
    Ok(seqs)
}

/// Waits until the page shows `bodies` as own messages waiting for the server
/// (`.pending`, a client id, no seq), in the order written, after every stored
/// message.
async fn wait_for_pending(browser: &Browser, bodies: &[&str]) -> TestResult {
    browser
        .wait_until(
            &format!("{bodies:?} are shown as pending, in order"),
            || async {
                let shown = messages(browser).await?;
                let first = shown.len().saturating_sub(bodies.len());
                let tail = &shown[first..];
                let good = tail.len() == bodies.len()
                    && tail.iter().zip(bodies).all(|(m, body)| {
                        m.body == *body
                            && m.state == "pending"
                            && m.seq.is_none()
                            && m.client_id.as_deref().is_some_and(|id| !id.is_empty())
                    });
                Ok(if good { Ok(()) } else { Err(show_all(&shown)) })
            },
        )
        .await?;
    let state = conn_state(browser).await?;
    if state == "open" {
        return Err(format!(
            "{}: the connection is open while the server is down",
            browser.label
        )
        .into());
    }
    Ok(())
}

/// `#conn-state`'s `data-state`.
async fn conn_state(browser: &Browser) -> TestResult<String> {
    let state = browser
        .eval("return document.querySelector('#conn-state')?.dataset.state ?? null;")
        .await?;
    Ok(state.as_str().unwrap_or("<no #conn-state>").to_owned())
}

/// The status bar as a line of text, for failure messages.
async fn status_line(browser: &Browser) -> TestResult<String> {
    let status = browser
        .eval(
            "const s = document.querySelector('#status'); \
             return s ? s.className + ' | ' + s.innerText.replace(/\\s+/g, ' ').trim() : null;",
        )
        .await?;
    Ok(status.as_str().unwrap_or("<no #status>").to_owned())
}

/// Waits until the status bar shows the automatic reconnect: not open, why
/// (`#conn-detail`), the countdown (`#reconnect-in[data-seconds]`, footer class
/// `reconnecting`) and "Retry now" (which nobody clicks). Returns why.
async fn wait_for_reconnecting(browser: &Browser) -> TestResult<String> {
    wait_for_reconnecting_because(browser, "the status bar counts down to a reconnect", None).await
}

/// Waits until the page has tried to reconnect and failed: it counts down again,
/// and `#conn-detail` says "could not connect…" (a connection attempt that never
/// opened; a connection that dropped says how it closed instead).
async fn wait_for_failed_retry(browser: &Browser) -> TestResult {
    wait_for_reconnecting_because(
        browser,
        "a reconnect attempt fails (\"could not connect…\")",
        Some(FAILED_ATTEMPT),
    )
    .await?;
    Ok(())
}

/// How `#conn-detail` begins after a connection attempt that never opened.
const FAILED_ATTEMPT: &str = "could not connect";

async fn wait_for_reconnecting_because(
    browser: &Browser,
    what: &str,
    because: Option<&str>,
) -> TestResult<String> {
    browser
        .wait_until(what, || async {
            let found = browser
                .eval(
                    "const q = (s) => document.querySelector(s); \
                     return [q('#conn-state')?.dataset.state ?? null, \
                       !!q('#status.reconnecting'), \
                       q('#status #reconnect-in')?.dataset.seconds ?? null, \
                       !!q('#status button#retry-now'), \
                       q('#status #conn-detail')?.innerText.trim() ?? null];",
                )
                .await?;
            let detail = found[4].as_str().unwrap_or_default();
            let good = found[0].as_str().is_some_and(|s| s != "open")
                && found[1] == Value::Bool(true)
                && found[2].as_str().is_some_and(|n| n.parse::<u64>().is_ok())
                && found[3] == Value::Bool(true)
                && !detail.is_empty()
                && because.is_none_or(|start| detail.starts_with(start));
            Ok(if good {
                Ok(detail.to_owned())
            } else {
                Err(format!(
                    "[conn-state, .reconnecting, data-seconds, #retry-now, #conn-detail] = \
                     {found}; {}",
                    status_line(browser).await?
                ))
            })
        })
        .await
}

/// Waits until the connection is open again.
async fn wait_for_open(browser: &Browser) -> TestResult {
    browser
        .wait_until("the connection is open (again)", || async {
            Ok(if conn_state(browser).await? == "open" {
                Ok(())
            } else {
                Err(status_line(browser).await?)
            })
        })
        .await
}

/// Waits until the connection is open over `transport`.
async fn wait_for_transport(browser: &Browser, transport: &str) -> TestResult {
    browser
        .wait_until(
            &format!("the connection is open over {transport}"),
            || async {
                let found = browser
                    .eval(
                        "const q = (s) => document.querySelector(s); \
                         return [q('#conn-state')?.dataset.state ?? null, \
                           q('#status #transport')?.dataset.transport ?? null];",
                    )
                    .await?;
                Ok(
                    if found[0].as_str() == Some("open") && found[1].as_str() == Some(transport) {
                        Ok(())
                    } else {
                        Err(status_line(browser).await?)
                    },
                )
            },
        )
        .await
}

async fn wait_for_pending_count(browser: &Browser, want: u64) -> TestResult {
    browser
        .wait_until(&format!("#pending-count says {want}"), || async {
            let count = browser
                .eval(
                    "return document.querySelector('#status #pending-count')?.innerText.trim() ?? null;",
                )
                .await?;
            Ok(
                if count.as_str().and_then(|n| n.parse::<u64>().ok()) == Some(want) {
                    Ok(())
                } else {
                    Err(format!("#pending-count: {count}"))
                },
            )
        })
        .await
}
