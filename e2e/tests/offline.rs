//! The browser loses its network under an open page (DevTools network
//! emulation through chromedriver: `navigator.onLine` goes false and the
//! window's `offline` event fires, as with the cable pulled): the page says so
//! at once with a banner over the chat and an offline footer, keeps who is
//! online as last known, and what is written meanwhile waits as "Sending…".
//! When the network is back it reconnects at once, over a WebSocket (a
//! WebSocket that failed offline is no reason to long-poll), and the message
//! reaches the other user.
//!
//! The DOM contract is the frontend's (frontend/README.md): `#offline-banner`,
//! `#conn-state[data-state]`, `#transport[data-transport]`, `#retry-now`,
//! `#online-users`, and own messages on their way as `li.message.own.pending`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::page::{messages, register, send, show_all, wait_for_stored};
use support::{Browser, Harness, Report, TestResult};

const ALICE: (&str, &str) = ("Alice", "correct horse battery staple");
const BOB: (&str, &str) = ("Bob", "tr0ub4dor and three cats");
const WRITTEN_OFFLINE: &str = "written on the train, in a tunnel";
const BANNER_TEXT: &str = "Offline — messages will be sent when you're back";
/// The promise: the banner is up within a second of going offline.
const BANNER_WITHIN: Duration = Duration::from_secs(1);
/// Back online, the page reconnects at once (no backoff wait); this leaves
/// room for a loaded two-core machine, well under the backoff's 5–10 s.
const RECONNECTED_WITHIN: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_shows_a_banner_at_once_and_sends_when_back() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        offline_and_back(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

async fn offline_and_back(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
        browser.wait_for("ol#messages[data-room='lobby']").await?;
        wait_for_conn(browser, "open", Some("ws")).await?;
    }
    wait_for_online_count(alice, "2 online").await?;

    // Offline: the banner within a second, the footer says so, nothing to
    // retry, and Bob is still shown online (last known).
    alice.set_offline(true).await?;
    let went = Instant::now();
    alice
        .wait_until_within(BANNER_WITHIN, "the offline banner shows", || async {
            let text = alice
                .eval("return document.querySelector('#offline-banner')?.innerText.trim() ?? null;")
                .await?;
            Ok(match text.as_str() {
                Some(BANNER_TEXT) => Ok(()),
                _ => Err(format!("#offline-banner: {text}")),
            })
        })
        .await?;
    let banner_after = went.elapsed();
    wait_for_conn(alice, "offline", None).await?;
    let retry = alice
        .eval("return document.querySelector('#retry-now') !== null;")
        .await?;
    if retry != Value::Bool(false) {
        return Err("alice: offline, the footer still offers \"Retry now\"".into());
    }
    wait_for_online_count(alice, "2 online").await?;

    // Written offline: it waits, shown as sending.
    send(alice, WRITTEN_OFFLINE).await?;
    alice
        .wait_until(
            "the message written offline is shown as sending",
            || async {
                let shown = messages(alice).await?;
                let good = shown.last().is_some_and(|m| {
                    m.body == WRITTEN_OFFLINE && m.state == "pending" && m.seq.is_none()
                });
                Ok(if good { Ok(()) } else { Err(show_all(&shown)) })
            },
        )
        .await?;
    let label = alice
        .eval("return document.querySelector('#messages li.message.own.pending .state')?.innerText.trim() ?? null;")
        .await?;
    if label.as_str() != Some("Sending…") {
        return Err(format!("alice: the pending message says {label}, not \"Sending…\"").into());
    }
    alice.screenshots("offline", Duration::ZERO).await?;
    // Still offline after the screenshots' resizing, and Bob still listed.
    wait_for_conn(alice, "offline", None).await?;
    wait_for_online_count(alice, "2 online").await?;

    // Back online: the banner goes, the page reconnects at once over a
    // WebSocket, and the message reaches Bob, once.
    alice.set_offline(false).await?;
    let back = Instant::now();
    alice
        .wait_until_within(
            RECONNECTED_WITHIN,
            "the page reconnects over a WebSocket",
            || async {
                let found = alice
                    .eval(
                        "const q = (s) => document.querySelector(s); \
                     return [q('#offline-banner') !== null, \
                       q('#conn-state')?.dataset.state ?? null, \
                       q('#status #transport')?.dataset.transport ?? null];",
                    )
                    .await?;
                let good = found[0] == Value::Bool(false)
                    && found[1].as_str() == Some("open")
                    && found[2].as_str() == Some("ws");
                Ok(if good { Ok(()) } else { Err(found.to_string()) })
            },
        )
        .await?;
    let reconnect_after = back.elapsed();
    let stored = wait_for_stored(bob, "Alice", WRITTEN_OFFLINE).await?;
    let mine = wait_for_stored(alice, "Alice", WRITTEN_OFFLINE).await?;
    if mine.seq != stored.seq {
        return Err(format!("alice shows {mine}, bob shows {stored}").into());
    }
    for browser in [alice, bob] {
        let shown = messages(browser).await?;
        let copies = shown.iter().filter(|m| m.body == WRITTEN_OFFLINE).count();
        if copies != 1 {
            return Err(format!(
                "{}: the message is shown {copies} times: {}",
                browser.label,
                show_all(&shown)
            )
            .into());
        }
    }
    eprintln!(
        "offline banner after {} ms; reconnected {} ms after the network came back",
        banner_after.as_millis(),
        reconnect_after.as_millis()
    );
    Ok(())
}

/// Waits until `#conn-state[data-state]` is `state` (and, given, the footer's
/// transport is `transport`).
async fn wait_for_conn(browser: &Browser, state: &str, transport: Option<&str>) -> TestResult {
    browser
        .wait_until(&format!("the footer says {state}"), || async {
            let found = browser
                .eval(
                    "const q = (s) => document.querySelector(s); \
                     return [q('#conn-state')?.dataset.state ?? null, \
                       q('#status #transport')?.dataset.transport ?? null];",
                )
                .await?;
            let good = found[0].as_str() == Some(state)
                && transport.is_none_or(|t| found[1].as_str() == Some(t));
            Ok(if good { Ok(()) } else { Err(found.to_string()) })
        })
        .await
}

/// Waits until the room's online count reads `count` ("2 online").
async fn wait_for_online_count(browser: &Browser, count: &str) -> TestResult {
    browser
        .wait_until(&format!("the room shows {count:?}"), || async {
            let found = browser
                .eval(
                    "return document.querySelector('#online-users .online-count')?.innerText.trim() ?? null;",
                )
                .await?;
            Ok(if found.as_str() == Some(count) {
                Ok(())
            } else {
                Err(found.to_string())
            })
        })
        .await
}
