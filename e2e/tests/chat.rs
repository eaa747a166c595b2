//! Two people chat through the real SPA in headless Chromium, against the real server.
//!
//! Needs the release SPA in `PARLEY_DIST` and chromedriver (`CHROMEDRIVER`):
//! `cargo xtask test` provides both. The DOM contract the selectors rely on is the
//! frontend's (frontend/README.md): `#auth-form`, `#sidebar`, `#directory`,
//! `#create-room-form`, `#composer`, `#messages li.message`, `#status`, and for
//! private messages, presence and typing `#my-dms li.dm`, `#new-dm-form`,
//! `.unread-badge`, `#typing-indicator`, and for live polls `#polls
//! article.poll`, `#new-poll-form`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::page::{
    Shown, clear, click, log_in, register, send, text_of, wait_for_message, wait_for_stored,
};
use support::{Browser, Harness, Report, TestResult};

const ALICE: (&str, &str) = ("Alice", "correct horse battery staple");
const BOB: (&str, &str) = ("Bob", "tr0ub4dor and three cats");
const ROOM: &str = "e2e-room";
const ALICE_SAYS: &str = "hello from Alice";
const BOB_SAYS: &str = "hi Alice, Bob here";
const ALICE_WHISPERS: &str = "Bob, are you there? (just between us)";
/// A typing indicator runs out ~4 s after the last signal; this is the most a test
/// waits for it to go.
const TYPING_GONE_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_in_a_room_and_history_survives_a_reload() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        chat(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_load_the_spa() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("visitor").await?);
        let visitor = &browsers[0];
        visitor.goto(&harness.url("/some/unknown/path")).await?;
        // The app itself rendered (not a 404 page, not a bare index.html): without a
        // session, that is the log-in form.
        visitor
            .wait_for("#auth-form[data-mode='login'] #auth-name")
            .await?;
        // No connection footer before anyone has logged in.
        let footer = visitor
            .eval("return document.querySelector('#status') !== null;")
            .await?;
        if footer.as_bool() != Some(false) {
            return Err(format!("the log-in page shows the connection footer: {footer}").into());
        }
        visitor.screenshots("log-in", Duration::ZERO).await?;
        Ok(())
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_waits_unread_and_typing_shows_in_the_room() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        private_chat(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_vote_in_a_live_poll_until_it_is_closed() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        live_poll(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_shown_as_text_and_never_runs() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("alice").await?);
        browsers.push(harness.browser("bob").await?);
        hostile_text(&harness, &browsers[0], &browsers[1]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

/// Payloads that would run script or add markup if rendered as HTML.
const HOSTILE: [&str; 3] = [
    "<img src=x onerror=\"window.__xss = 1\">",
    "<script>window.__xss = 2</script>",
    "<b>bold</b> & <a href=\"javascript:window.__xss=3\">link</a>",
];

async fn hostile_text(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
        browser.wait_for("#messages[data-room='lobby']").await?;
    }
    // In a message…
    for payload in HOSTILE {
        send(alice, payload).await?;
    }
    // …and in a poll's question and options.
    click(alice, "#polls #new-poll").await?;
    alice
        .wait_for("#new-poll-form #poll-question")
        .await?
        .send_keys(HOSTILE[0])
        .await?;
    let option = |n: usize| format!("#new-poll-form li:nth-child({n}) input.poll-option-input");
    alice
        .wait_for(&option(1))
        .await?
        .send_keys(HOSTILE[1])
        .await?;
    alice
        .wait_for(&option(2))
        .await?
        .send_keys(HOSTILE[2])
        .await?;
    click(alice, "#new-poll-form #poll-submit").await?;

    for browser in [alice, bob] {
        for payload in HOSTILE {
            wait_for_stored(browser, "Alice", payload).await?;
        }
        let poll = wait_for_poll(browser, HOSTILE[0], "the hostile poll shows", |p| {
            p.options.len() == 2
        })
        .await?;
        let labels: Vec<&str> = poll.options.iter().map(|o| o.0.as_str()).collect();
        if labels != [HOSTILE[1], HOSTILE[2]] {
            return Err(format!("{}: poll options shown as {labels:?}", browser.label).into());
        }
        // Nothing ran, and no element came out of the text.
        let found = browser
            .eval(
                "return [window.__xss ?? null,                  document.querySelectorAll('#messages img, #messages script, #messages b,                  #messages a[href^=\"javascript\"], #polls img, #polls script, #polls b').length];",
            )
            .await?;
        if found != serde_json::json!([null, 0]) {
            return Err(format!(
                "{}: hostile text was rendered as HTML: {found}",
                browser.label
            )
            .into());
        }
    }
    Ok(())
}

/// One poll as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShownPoll {
    closed: bool,
    voters: String,
    /// Per option: label, count, percent text, the bar's width, is it mine.
    options: Vec<(String, String, String, String, bool)>,
    can_close: bool,
}

/// The poll asking `question` in `#polls`, read in one go.
async fn shown_poll(browser: &Browser, question: &str) -> TestResult<Option<ShownPoll>> {
    let found = browser
        .eval(&format!(
            "const q = {}; \
             const poll = Array.from(document.querySelectorAll('#polls article.poll')) \
               .find(a => a.querySelector('h3.poll-question')?.textContent.trim() === q); \
             if (!poll) return null; \
             const t = (e, s) => e.querySelector(s)?.textContent.trim() ?? null; \
             return [poll.classList.contains('closed'), t(poll, '.poll-voters'), \
               !!poll.querySelector('button.poll-close'), \
               Array.from(poll.querySelectorAll('button.poll-option')).map(b => \
                 [t(b, '.poll-option-label'), t(b, '.poll-count'), t(b, '.poll-percent'), \
                  b.querySelector('.poll-bar')?.style.width ?? null, b.classList.contains('mine')])];",
            Value::String(question.to_owned())
        ))
        .await?;
    if found.is_null() {
        return Ok(None);
    }
    let text = |v: &Value| v.as_str().unwrap_or("<none>").to_owned();
    let options = found[3]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        text(&r[0]),
                        text(&r[1]),
                        text(&r[2]),
                        text(&r[3]),
                        r[4].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(ShownPoll {
        closed: found[0].as_bool().unwrap_or(false),
        voters: text(&found[1]),
        options,
        can_close: found[2].as_bool().unwrap_or(false),
    }))
}

/// Waits until the poll asking `question` shows as `check` wants.
async fn wait_for_poll(
    browser: &Browser,
    question: &str,
    what: &str,
    check: impl Fn(&ShownPoll) -> bool,
) -> TestResult<ShownPoll> {
    browser
        .wait_until(&format!("{what} ({question:?})"), || async {
            Ok(match shown_poll(browser, question).await? {
                Some(poll) if check(&poll) => Ok(poll),
                other => Err(format!("{other:?}")),
            })
        })
        .await
}

/// (count, percent, bar width) of each option, and which one is mine.
fn numbers(poll: &ShownPoll) -> Vec<(&str, &str, &str, bool)> {
    poll.options
        .iter()
        .map(|(_, count, pct, width, mine)| (count.as_str(), pct.as_str(), width.as_str(), *mine))
        .collect()
}

async fn live_poll(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    const QUESTION: &str = "Lunch?";
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
        browser.wait_for("#messages[data-room='lobby']").await?;
        browser.wait_for("section#polls").await?;
    }

    // Alice asks; the form checks the options before anything is sent.
    click(alice, "#polls #new-poll").await?;
    alice
        .wait_for("#new-poll-form #poll-question")
        .await?
        .send_keys(QUESTION)
        .await?;
    let first = "#new-poll-form li:nth-child(1) input.poll-option-input";
    let second = "#new-poll-form li:nth-child(2) input.poll-option-input";
    alice.wait_for(first).await?.send_keys("Pizza").await?;
    alice.wait_for(second).await?.send_keys("pizza").await?;
    click(alice, "#new-poll-form #poll-submit").await?;
    let error = alice.wait_for("#new-poll-form #poll-error").await?;
    let error = error.text().await?;
    if !error.contains("same") {
        return Err(format!("alice: duplicate options should be refused, got {error:?}").into());
    }
    clear(alice, second).await?;
    alice.wait_for(second).await?.send_keys("Sushi").await?;
    click(alice, "#new-poll-form #poll-submit").await?;

    // Both see it, open, with nobody voting yet; only Alice may close it.
    let empty = |p: &ShownPoll| {
        !p.closed
            && p.voters == "0"
            && p.options.iter().map(|o| o.0.as_str()).collect::<Vec<_>>() == ["Pizza", "Sushi"]
    };
    wait_for_poll(alice, QUESTION, "Alice sees her new poll", |p| {
        empty(p) && p.can_close
    })
    .await?;
    let seen = wait_for_poll(bob, QUESTION, "Bob sees Alice's poll", empty).await?;
    if seen.can_close {
        return Err("bob: only the creator may close a poll".into());
    }
    alice
        .wait_until("the new-poll form closes", || async {
            Ok(match text_of(alice, "#new-poll-form").await? {
                None => Ok(()),
                Some(_) => Err("still open".to_owned()),
            })
        })
        .await?;

    // Alice votes Pizza: Bob sees one vote, a full bar.
    click(
        alice,
        "#polls article.poll button.poll-option[data-option='0']",
    )
    .await?;
    wait_for_poll(bob, QUESTION, "Bob sees Alice's vote", |p| {
        p.voters == "1" && numbers(p) == [("1", "100%", "100%", false), ("0", "0%", "0%", false)]
    })
    .await?;
    wait_for_poll(alice, QUESTION, "Alice sees her vote as hers", |p| {
        numbers(p) == [("1", "100%", "100%", true), ("0", "0%", "0%", false)]
    })
    .await?;

    // Bob votes Sushi: one each, half and half, everywhere.
    click(
        bob,
        "#polls article.poll button.poll-option[data-option='1']",
    )
    .await?;
    for (browser, mine) in [(alice, 0), (bob, 1)] {
        wait_for_poll(browser, QUESTION, "1/1 and 50% each", |p| {
            p.voters == "2"
                && numbers(p)
                    == [
                        ("1", "50%", "50%", mine == 0),
                        ("1", "50%", "50%", mine == 1),
                    ]
        })
        .await?;
    }
    bob.screenshots("poll", Duration::ZERO).await?;

    // Alice closes it: both see it closed with the final counts.
    click(alice, "#polls article.poll button.poll-close").await?;
    for browser in [alice, bob] {
        wait_for_poll(browser, QUESTION, "the poll shows closed", |p| {
            p.closed
                && !p.can_close
                && p.voters == "2"
                && numbers(p).iter().map(|n| (n.0, n.1)).collect::<Vec<_>>()
                    == [("1", "50%"), ("1", "50%")]
        })
        .await?;
    }
    Ok(())
}

async fn private_chat(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
    }
    click(bob, "#sidebar #logout").await?;
    bob.wait_for("#auth-form[data-mode='login']").await?;

    // Alice starts a conversation with Bob, who is away, and writes to him.
    alice
        .wait_for("#new-dm-form #new-dm-name")
        .await?
        .send_keys(BOB.0)
        .await?;
    click(alice, "#new-dm-form #new-dm-submit").await?;
    alice.wait_for("ol#messages[data-dm='Bob']").await?;
    alice
        .wait_for("#my-dms li.dm.active[data-user='Bob']")
        .await?;
    send(alice, ALICE_WHISPERS).await?;
    wait_for_stored(alice, "Alice", ALICE_WHISPERS).await?;

    // Bob comes back: one unread message from Alice, shown until he reads it.
    log_in(bob, BOB.0, BOB.1).await?;
    bob.wait_for("#conn-state[data-state='open']").await?;
    let alice_dm = "#my-dms li.dm[data-user='Alice']";
    let badge = format!("{alice_dm} .unread-badge");
    bob.wait_until("Alice's conversation shows 1 unread", || async {
        let text = text_of(bob, &badge).await?;
        Ok(if text.as_deref() == Some("1") {
            Ok(())
        } else {
            Err(format!("{badge}: {text:?}"))
        })
    })
    .await?;
    click(bob, &format!("{alice_dm} button")).await?;
    bob.wait_for("ol#messages[data-dm='Alice']").await?;
    wait_for_message(bob, "Alice", ALICE_WHISPERS).await?;
    bob.screenshots("dm", Duration::ZERO).await?;
    bob.wait_until("the unread badge is gone once read", || async {
        let text = text_of(bob, &badge).await?;
        Ok(match text {
            None => Ok(()),
            Some(text) => Err(format!("{badge}: {text:?}")),
        })
    })
    .await?;

    // In the lobby, Alice types without sending: Bob sees it, then it goes.
    for browser in [alice, bob] {
        click(browser, "#my-rooms li.room[data-room='lobby'] button").await?;
        browser.wait_for("ol#messages[data-room='lobby']").await?;
    }
    alice
        .wait_for("#composer")
        .await?
        .send_keys("I am writing something")
        .await?;
    bob.wait_until("the typing indicator mentions Alice", || async {
        let text = text_of(bob, "#typing-indicator").await?.unwrap_or_default();
        Ok(if text.contains("Alice") {
            Ok(())
        } else {
            Err(format!("#typing-indicator: {text:?}"))
        })
    })
    .await?;
    bob.wait_until_within(
        TYPING_GONE_WITHIN,
        "the typing indicator no longer mentions Alice",
        || async {
            let text = text_of(bob, "#typing-indicator").await?.unwrap_or_default();
            Ok(if text.contains("Alice") {
                Err(format!("#typing-indicator: {text:?}"))
            } else {
                Ok(())
            })
        },
    )
    .await?;
    bob.screenshots("room-after-dm", Duration::ZERO).await?;
    Ok(())
}

async fn chat(harness: &Harness, alice: &Browser, bob: &Browser) -> TestResult {
    for (browser, (name, password)) in [(alice, ALICE), (bob, BOB)] {
        browser.goto(&harness.url("/")).await?;
        register(browser, name, password).await?;
    }

    // Alice creates the room; it opens and shows in her sidebar as the active one.
    click(alice, "#sidebar #open-directory").await?;
    alice
        .wait_for("#create-room-form #create-room-name")
        .await?
        .send_keys(ROOM)
        .await?;
    click(alice, "#create-room-form #create-room-submit").await?;
    alice
        .wait_for(&format!("#my-rooms li.room.active[data-room='{ROOM}']"))
        .await?;
    alice
        .wait_for(&format!("ol#messages[data-room='{ROOM}']"))
        .await?;

    // Bob finds it in the directory and joins.
    click(bob, "#sidebar #open-directory").await?;
    click(
        bob,
        &format!("#directory li.directory-room[data-room='{ROOM}'] button.join"),
    )
    .await?;
    bob.wait_for(&format!("ol#messages[data-room='{ROOM}']"))
        .await?;

    send(alice, ALICE_SAYS).await?;
    // Bob answers once he has seen Alice, so both pages must agree on the order.
    let alice_msg = wait_for_message(bob, "Alice", ALICE_SAYS).await?;
    send(bob, BOB_SAYS).await?;
    for browser in [alice, bob] {
        let first = wait_for_message(browser, "Alice", ALICE_SAYS).await?;
        let second = wait_for_message(browser, "Bob", BOB_SAYS).await?;
        if first.seq != alice_msg.seq {
            return Err(format!(
                "{}: Alice's message has data-seq {:?}, Bob's page says {:?}",
                browser.label, first.seq, alice_msg.seq
            )
            .into());
        }
        in_order(browser, &first, &second)?;
        wait_for_status(browser).await?;
    }

    // Alice reloads: still logged in, the room still in her sidebar, and its
    // history comes back from the server once she opens it.
    alice
        .client
        .refresh()
        .await
        .map_err(|e| format!("alice: reloading the page: {e}"))?;
    click(
        alice,
        &format!("#my-rooms li.room[data-room='{ROOM}'] button"),
    )
    .await?;
    alice
        .wait_for(&format!("ol#messages[data-room='{ROOM}']"))
        .await?;
    let first = wait_for_message(alice, "Alice", ALICE_SAYS).await?;
    let second = wait_for_message(alice, "Bob", BOB_SAYS).await?;
    in_order(alice, &first, &second)?;
    if first.seq != alice_msg.seq {
        return Err(format!(
            "alice: after the reload her message has data-seq {:?}, before it had {:?}",
            first.seq, alice_msg.seq
        )
        .into());
    }
    alice.wait_for("#history-start").await?;
    if alice
        .client
        .find(fantoccini::Locator::Css("#auth-form"))
        .await
        .is_ok()
    {
        return Err("alice: the log-in form is shown after a reload".into());
    }
    alice.screenshots("room", Duration::ZERO).await?;

    // Bob logs out, gets his password wrong once, then logs back in to his rooms.
    click(bob, "#sidebar #logout").await?;
    bob.wait_for("#auth-form[data-mode='login']").await?;
    log_in(bob, BOB.0, "not my password").await?;
    bob.wait_for("#auth-form #auth-error").await?;
    clear(bob, "#auth-name").await?;
    clear(bob, "#auth-password").await?;
    log_in(bob, BOB.0, BOB.1).await?;
    bob.wait_for(&format!("#my-rooms li.room[data-room='{ROOM}']"))
        .await?;
    Ok(())
}

fn in_order(browser: &Browser, first: &Shown, second: &Shown) -> TestResult {
    if first.index < second.index && first.seq < second.seq {
        Ok(())
    } else {
        Err(format!(
            "{}: Alice's message (position {}, seq {:?}) should come before Bob's \
             reply (position {}, seq {:?})",
            browser.label, first.index, first.seq, second.index, second.seq
        )
        .into())
    }
}

/// Waits until the status bar says: connected, nothing pending, something received.
async fn wait_for_status(browser: &Browser) -> TestResult {
    browser
        .wait_until(
            "the status bar says open, 0 pending, >0 received",
            || async {
                let status = browser
                    .eval(
                        "const q = (s) => document.querySelector(s); \
                     return [q('#status #conn-state')?.dataset.state ?? null, \
                     q('#status #pending-count')?.innerText.trim() ?? null, \
                     q('#status #received-count')?.innerText.trim() ?? null];",
                    )
                    .await?;
                let state = status[0].as_str();
                let pending = status[1].as_str().and_then(|s| s.parse::<u64>().ok());
                let received = status[2].as_str().and_then(|s| s.parse::<u64>().ok());
                let good =
                    state == Some("open") && pending == Some(0) && received.is_some_and(|n| n > 0);
                Ok(if good {
                    Ok(())
                } else {
                    Err(format!(
                        "conn-state={:?} pending-count={:?} received-count={:?}",
                        status[0], status[1], status[2]
                    ))
                })
            },
        )
        .await
}
