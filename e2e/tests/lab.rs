//! The transport lab (`/lab/`, a page of its own) in headless Chromium against the real server: the
//! same live stream over a WebSocket, long-polling and short polling, each
//! column showing deliveries, latency percentiles, requests per second and
//! bytes per update.
//!
//! Needs the release SPA in `PARLEY_DIST` and chromedriver (`CHROMEDRIVER`):
//! `cargo xtask test` provides both. The selectors are the lab's DOM contract
//! (frontend/README.md): `#lab-start[data-running]`, `#lab-sent[data-sent]`,
//! `#lab-ws`, `#lab-long-poll`, `#lab-poll` with `data-state`,
//! `data-delivered`, `data-p50`, `data-p99`, `data-rps`, `data-bytes`;
//! `#lab-back` and the sidebar's `#open-lab`.
//!
//! `PARLEY_SCREENSHOTS=/some/dir` also saves the running lab at 1280×800 and
//! 375×800 there (`lab-1280.png`, `lab-375.png`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::page::{click, submit_registration};
use support::{Browser, Harness, Report, TestResult};

const USER: (&str, &str) = ("Lab-Rat", "correct horse battery staple");
const COLUMNS: [&str; 3] = ["#lab-ws", "#lab-long-poll", "#lab-poll"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_measures_the_same_stream_over_three_transports() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("lab").await?);
        lab(&harness, &browsers[0]).await
    }
    .await;
    harness.finish(browsers, outcome).await
}

/// One column's numbers, as its data attributes say.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    state: String,
    delivered: u64,
    p50: Option<u64>,
    p99: Option<u64>,
    rps: Option<f64>,
    bytes: Option<u64>,
}

async fn lab(harness: &Harness, browser: &Browser) -> TestResult {
    // Logged out, /lab (sent on to /lab/, the lab's own page) is the log-in
    // page; once logged in, the lab (same URL).
    browser.goto(&harness.url("/lab")).await?;
    submit_registration(browser, USER.0, USER.1).await?;
    browser.wait_for("#lab-start[data-running='false']").await?;
    for css in COLUMNS {
        let column = column(browser, css).await?;
        if column.state != "idle" || column.delivered != 0 || column.p50.is_some() {
            return Err(format!("{css} before Start: {column:?}").into());
        }
    }

    // Start: the three fill in.
    click(browser, "#lab-start").await?;
    browser.wait_for("#lab-start[data-running='true']").await?;
    let mut seen = Vec::new();
    for css in COLUMNS {
        let shown = browser
            .wait_until(
                &format!("{css} shows deliveries, p50, p99, requests/s and bytes"),
                || async {
                    let c = column(browser, css).await?;
                    let complete = c.state == "open"
                        && c.delivered > 0
                        && c.p50.is_some()
                        && c.p99 >= c.p50
                        && c.rps.is_some()
                        && c.bytes.is_some_and(|b| b > 0);
                    Ok(if complete {
                        Ok(c)
                    } else {
                        Err(format!("{c:?}"))
                    })
                },
            )
            .await?;
        seen.push(shown);
    }
    let sent = data(browser, "#lab-sent", "sent").await?;
    if sent
        .as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        == 0
    {
        return Err(format!("#lab-sent should count what was sent: {sent:?}").into());
    }
    // Polling asks over HTTP all the time; long-polling at least as often as
    // short polling here (it asks again after every delivery).
    let [_, long_poll, poll] = &seen[..] else {
        return Err("three columns".into());
    };
    let rps = |c: &Column| c.rps.unwrap_or(0.0);
    if rps(poll) <= 0.0 || rps(long_poll) <= 0.0 {
        return Err(format!("the polling columns make requests: {seen:?}").into());
    }
    // Short polling is the slow one: a delivery waits up to 2 s for the next GET.
    if poll.p99 < seen[0].p50 {
        return Err(format!("short polling cannot beat the WebSocket: {seen:?}").into());
    }

    // Let a refresh or two of the figures happen first.
    browser
        .screenshots("lab", std::time::Duration::from_millis(2_500))
        .await?;

    // Stop: sending stops, the connections close, the numbers stay.
    click(browser, "#lab-start").await?;
    browser.wait_for("#lab-start[data-running='false']").await?;
    for css in COLUMNS {
        browser
            .wait_until(&format!("{css} says stopped"), || async {
                let c = column(browser, css).await?;
                Ok(if c.state == "stopped" && c.delivered > 0 {
                    Ok(())
                } else {
                    Err(format!("{c:?}"))
                })
            })
            .await?;
    }

    // Back to the chat (a page load), which connects again: the lab left its
    // room when the run stopped, so the sidebar does not list it (it used to
    // stay there for good). Its sidebar leads to the lab's page again.
    click(browser, "#lab-back").await?;
    browser.wait_for("#conn-state[data-state='open']").await?;
    browser.wait_for("#my-rooms li.room").await?;
    browser
        .wait_until("the lab's room is not in the sidebar", || async {
            let rooms = browser
                .eval(
                    "return [...document.querySelectorAll('#my-rooms li.room')] \
                     .map(li => li.dataset.room);",
                )
                .await?;
            let listed = rooms
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "transport-lab"));
            Ok(if listed {
                Err(rooms.to_string())
            } else {
                Ok(())
            })
        })
        .await?;
    click(browser, "#sidebar a#open-lab").await?;
    browser.wait_for("#lab-start[data-running='false']").await?;
    let path = browser.eval("return location.pathname;").await?;
    if path != Value::String("/lab/".into()) {
        return Err(format!("the lab's URL should be /lab/, is {path}").into());
    }
    // The browser's Back button returns to the chat.
    browser.client.back().await?;
    browser.wait_for("#conn-state[data-state='open']").await?;
    Ok(())
}

/// The column `css`, read in one go.
async fn column(browser: &Browser, css: &str) -> TestResult<Column> {
    let found = browser
        .eval(&format!(
            "const c = document.querySelector({}); \
             return c ? [c.dataset.state ?? null, c.dataset.delivered ?? null, \
               c.dataset.p50 ?? null, c.dataset.p99 ?? null, c.dataset.rps ?? null, \
               c.dataset.bytes ?? null] : null;",
            Value::String(css.to_owned())
        ))
        .await?;
    let Value::Array(v) = found else {
        return Err(format!("{}: no `{css}`", browser.label).into());
    };
    let text = |i: usize| v.get(i).and_then(Value::as_str).map(str::to_owned);
    let int = |i: usize| text(i).and_then(|s| s.parse::<u64>().ok());
    Ok(Column {
        state: text(0).unwrap_or_default(),
        delivered: int(1).unwrap_or(0),
        p50: int(2),
        p99: int(3),
        rps: text(4).and_then(|s| s.parse::<f64>().ok()),
        bytes: int(5),
    })
}

/// The `data-{name}` attribute of `css`.
async fn data(browser: &Browser, css: &str, name: &str) -> TestResult<Option<String>> {
    Ok(browser
        .wait_for(css)
        .await?
        .attr(&format!("data-{name}"))
        .await?)
}
