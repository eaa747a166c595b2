//! A slow link shows something at once: index.html paints a static shell (the
//! log-in card's frame, "Loading Parley…") before the wasm arrives, and the app
//! replaces it when it mounts.
//!
//! The figures are the browser's own clock (`performance.now()`, ms since the
//! navigation started), printed on one line per run: on a throttled link ("Fast
//! 3G": 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, no HTTP cache), then
//! on loopback. Timing is never asserted (machines are noisy); what is asserted
//! are the orderings that prove the point: the first contentful paint comes
//! before the wasm has finished downloading and before the app mounts, it shows
//! the shell, and the log-in form becomes usable after all that.
//!
//! `PARLEY_DIST=$PWD/dist CHROMEDRIVER=$(command -v chromedriver) cargo test -p
//! parley-e2e --test first_paint -- --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Browser, Harness, Link, Report, TestResult};

/// Runs in every document before its own scripts: records, with a
/// MutationObserver (so no polling interval skews them), the shell's text as
/// parsed, when the app replaced it, and when `#auth-name` was first present and
/// enabled. `ready` settles at the last of these.
const RECORDER: &str = r"
(() => {
  const seen = { shell: null, mounted: null, usable: null };
  let settle;
  seen.ready = new Promise((resolve) => { settle = resolve; });
  const check = () => {
    const boot = document.getElementById('boot');
    if (boot && seen.shell === null) seen.shell = boot.textContent.replace(/\s+/g, ' ').trim();
    if (!boot && seen.shell !== null && seen.mounted === null) seen.mounted = performance.now();
    const name = document.getElementById('auth-name');
    if (name && !name.disabled && seen.usable === null) {
      seen.usable = performance.now();
      observer.disconnect();
      settle();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, attributes: true });
  window.__firstPaint = seen;
})();
";

/// Waits (in the page, at most 30 s) for the recorder to settle and the first
/// contentful paint to be reported (on loopback the form can be ready before
/// it), then gathers the recorder's times and the browser's paint and resource
/// timings.
const COLLECT: &str = r"
const done = arguments[0];
const seen = window.__firstPaint;
if (!seen) { done({ error: 'the recorder did not run in this page' }); return; }
const painted = new Promise((resolve) => {
  const fcp = () => performance.getEntriesByType('paint')
    .some((e) => e.name === 'first-contentful-paint');
  if (fcp()) { resolve(); return; }
  new PerformanceObserver((_, observer) => {
    if (fcp()) { observer.disconnect(); resolve(); }
  }).observe({ type: 'paint', buffered: true });
});
const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 30000));
const both = Promise.all([seen.ready, painted]).then(() => 'ok');
Promise.race([both, timeout]).then((outcome) => {
  const paint = Object.fromEntries(
    performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
  const resource = (suffix) => {
    const e = performance.getEntriesByType('resource').find((r) => r.name.endsWith(suffix));
    return e ? e.responseEnd : null;
  };
  const nav = performance.getEntriesByType('navigation')[0];
  done({
    outcome,
    shell: seen.shell,
    mounted: seen.mounted,
    usable: seen.usable,
    first_paint: paint['first-paint'] ?? null,
    first_contentful_paint: paint['first-contentful-paint'] ?? null,
    html: nav ? nav.responseEnd : null,
    css: resource('.css'),
    wasm: resource('_bg.wasm'),
    body: document.body ? document.body.outerHTML.slice(0, 2000) : null,
  });
});
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_is_painted_before_the_wasm_arrives() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("slow").await?);
        let browser = &browsers[0];
        browser
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": RECORDER }),
            )
            .await?;

        browser.set_network(&Link::FAST_3G).await?;
        let slow = measure(&harness, browser).await?;
        eprintln!(
            "first paint, Fast 3G (150 ms RTT, 1.6 Mbit/s): {}",
            slow.line()
        );
        slow.check_order()?;

        browser.set_network(&Link::UNTHROTTLED).await?;
        let fast = measure(&harness, browser).await?;
        eprintln!("first paint, loopback (no throttling): {}", fast.line());
        Ok(())
    }
    .await;
    harness.finish(browsers, outcome).await
}

/// With neither the wasm nor style.css, the page is the shell alone: what the
/// first paint shows. `PARLEY_SCREENSHOTS` saves it as `shell-1280.png` and
/// `shell-375.png`, and in the dark colour scheme as `shell-dark-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_stands_on_index_html_alone() -> Result<(), Report> {
    let harness = Harness::start().await?;
    let mut browsers = Vec::new();
    let outcome = async {
        browsers.push(harness.browser("no-wasm").await?);
        let browser = &browsers[0];
        browser.set_network(&Link::UNTHROTTLED).await?;
        browser
            .cdp(
                "Network.setBlockedURLs",
                json!({ "urls": ["*.wasm", "*.css"] }),
            )
            .await?;
        browser.goto(&harness.url("/")).await?;
        let card = browser.wait_for("#boot .auth-card").await?;
        let text = card.text().await?;
        if !text.contains("Loading Parley…") {
            return Err(format!("the shell's card reads {text:?}").into());
        }
        let shown = browser
            .eval(
                "const r = document.querySelector('#boot .auth-card').getBoundingClientRect(); \
                 return [r.width, r.height, getComputedStyle(document.body).margin];",
            )
            .await?;
        let (width, height) = (shown[0].as_f64(), shown[1].as_f64());
        if !matches!((width, height), (Some(w), Some(h)) if w > 300.0 && h > 300.0)
            || shown[2] != "0px"
        {
            return Err(
                format!("without style.css the shell is not laid out as a card: {shown}").into(),
            );
        }
        browser.screenshots("shell", Duration::ZERO).await?;
        browser
            .cdp(
                "Emulation.setEmulatedMedia",
                json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
            )
            .await?;
        browser.screenshots("shell-dark", Duration::ZERO).await?;
        Ok(())
    }
    .await;
    harness.finish(browsers, outcome).await
}

/// One load's figures, ms since the navigation started.
#[derive(Debug)]
struct Figures {
    html: f64,
    first_paint: f64,
    first_contentful_paint: f64,
    css: f64,
    wasm: f64,
    mounted: f64,
    usable: f64,
    shell: String,
}

impl Figures {
    fn line(&self) -> String {
        format!(
            "index.html {:.0} ms, first paint {:.0} ms, first contentful paint {:.0} ms, \
             style.css {:.0} ms, wasm downloaded {:.0} ms, app mounted {:.0} ms, \
             log-in form usable {:.0} ms",
            self.html,
            self.first_paint,
            self.first_contentful_paint,
            self.css,
            self.wasm,
            self.mounted,
            self.usable
        )
    }

    /// What must hold on a slow link, whatever the machine's speed.
    fn check_order(&self) -> TestResult {
        let mut wrong = Vec::new();
        if !self.shell.contains("Loading Parley…") {
            wrong.push(format!(
                "the page as parsed has no shell saying \"Loading Parley…\": {:?}",
                self.shell
            ));
        }
        if self.first_contentful_paint >= self.wasm {
            wrong.push("the first contentful paint waited for the wasm".to_owned());
        }
        if self.first_contentful_paint >= self.mounted {
            wrong.push("the first contentful paint came after the app replaced the shell (so it did not show the shell)".to_owned());
        }
        if self.usable < self.wasm || self.usable < self.mounted {
            wrong.push(
                "the log-in form was usable before the wasm arrived or the app mounted".to_owned(),
            );
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("{}\n{}", wrong.join("\n"), self.line()).into())
        }
    }
}

/// Opens the app in `browser` and waits for its log-in form to be usable.
async fn measure(harness: &Harness, browser: &Browser) -> TestResult<Figures> {
    browser.goto(&harness.url("/")).await?;
    let got = browser
        .client
        .execute_async(COLLECT, vec![])
        .await
        .map_err(|e| format!("{}: collecting the timings: {e}", browser.label))?;
    if got["outcome"] != "ok" {
        return Err(format!(
            "{}: within 30 s, the log-in form did not become usable or nothing was painted: {got}",
            browser.label
        )
        .into());
    }
    let ms = |key: &str| -> TestResult<f64> {
        got[key]
            .as_f64()
            .ok_or_else(|| format!("{}: no `{key}` timing in {got}", browser.label).into())
    };
    Ok(Figures {
        html: ms("html")?,
        first_paint: ms("first_paint")?,
        first_contentful_paint: ms("first_contentful_paint")?,
        css: ms("css")?,
        wasm: ms("wasm")?,
        mounted: ms("mounted")?,
        usable: ms("usable")?,
        shell: got["shell"].as_str().map(str::to_owned).unwrap_or_default(),
    })
}
