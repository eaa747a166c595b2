//! What the tests do to the SPA and read from it, shared by every test binary:
//! clicking and clearing, the log-in form, the composer, and the message list
//! (`#messages li.message`) as the user sees it.
//!
//! The selectors are the frontend's DOM contract (frontend/README.md).

use fantoccini::key::Key;
use serde_json::Value;

use super::{Browser, TestResult};

/// Waits for `css`, then clicks it.
pub async fn click(browser: &Browser, css: &str) -> TestResult {
    browser
        .wait_for(css)
        .await?
        .click()
        .await
        .map_err(|e| format!("{}: clicking `{css}`: {e}", browser.label).into())
}

/// Waits for the input `css`, then empties it.
pub async fn clear(browser: &Browser, css: &str) -> TestResult {
    browser
        .wait_for(css)
        .await?
        .clear()
        .await
        .map_err(|e| format!("{}: clearing `{css}`: {e}", browser.label).into())
}

/// The text of the first element matching `css`, or `None` when there is none.
pub async fn text_of(browser: &Browser, css: &str) -> TestResult<Option<String>> {
    let found = browser
        .eval(&format!(
            "const e = document.querySelector({}); return e ? e.textContent.trim() : null;",
            Value::String(css.to_owned())
        ))
        .await?;
    Ok(found.as_str().map(str::to_owned))
}

/// Fills the log-in form (already in `mode`) and submits it.
pub async fn submit_auth(browser: &Browser, mode: &str, name: &str, password: &str) -> TestResult {
    let form = format!("#auth-form[data-mode='{mode}']");
    browser
        .wait_for(&format!("{form} #auth-name"))
        .await?
        .send_keys(name)
        .await?;
    browser
        .wait_for(&format!("{form} #auth-password[type='password']"))
        .await?
        .send_keys(password)
        .await?;
    click(browser, &format!("{form} #auth-submit")).await
}

/// Creates an account from the log-in page, and waits for nothing after: what
/// follows depends on the page (the chat at `/`, the lab at `/lab`).
pub async fn submit_registration(browser: &Browser, name: &str, password: &str) -> TestResult {
    browser.wait_for("#auth-form[data-mode='login']").await?;
    click(browser, "#auth-toggle").await?;
    submit_auth(browser, "register", name, password).await
}

/// Creates an account from the log-in page; the app then connects and shows the chat.
pub async fn register(browser: &Browser, name: &str, password: &str) -> TestResult {
    submit_registration(browser, name, password).await?;
    browser.wait_for("#conn-state[data-state='open']").await?;
    browser.wait_for("#sidebar #my-rooms").await?;
    Ok(())
}

/// Fills the log-in form (in log-in mode) and submits it.
pub async fn log_in(browser: &Browser, name: &str, password: &str) -> TestResult {
    submit_auth(browser, "login", name, password).await
}

/// Types `text` into the composer and presses Enter.
pub async fn send(browser: &Browser, text: &str) -> TestResult {
    let composer = browser.wait_for("#composer").await?;
    composer.send_keys(text).await?;
    composer.send_keys(&Key::Enter).await?;
    Ok(())
}

/// One rendered `li.message`, as the user sees it.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Its position in `#messages`, from 0.
    pub index: usize,
    pub seq: Option<u64>,
    pub client_id: Option<String>,
    /// `pending`, `sent`, `failed`, or empty for a stored message (several, joined
    /// with `+`, would be a bug).
    pub state: String,
    pub sender: String,
    pub body: String,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "#{seq}")?,
            None => write!(f, "-")?,
        }
        if !self.state.is_empty() {
            write!(f, " [{}]", self.state)?;
        }
        write!(f, " {}: {:?}", self.sender, self.body)
    }
}

/// The messages as one line, in the order shown, for failure messages.
pub fn show_all(shown: &[Shown]) -> String {
    let rows: Vec<String> = shown.iter().map(ToString::to_string).collect();
    format!("[{}]", rows.join(", "))
}

/// Everything `#messages` shows right now, read in one go (so a re-render between
/// two WebDriver calls cannot tear the picture).
pub async fn messages(browser: &Browser) -> TestResult<Vec<Shown>> {
    let rows = browser
        .eval(
            "const text = (li, s) => { const e = li.querySelector(s); \
             return e ? e.innerText.trim() : null; }; \
             return Array.from(document.querySelectorAll('#messages li.message')) \
             .map(li => [li.dataset.seq ?? null, li.dataset.clientId ?? null, \
               ['pending', 'sent', 'failed'].filter(c => li.classList.contains(c)).join('+'), \
               text(li, '.sender'), text(li, '.body')]);",
        )
        .await?;
    let Value::Array(rows) = rows else {
        return Err(format!("{}: unexpected message list {rows}", browser.label).into());
    };
    Ok(rows
        .iter()
        .enumerate()
        .map(|(index, row)| Shown {
            index,
            seq: row[0].as_str().and_then(|s| s.parse().ok()),
            client_id: row[1].as_str().map(str::to_owned),
            state: row[2].as_str().unwrap_or_default().to_owned(),
            sender: row[3].as_str().unwrap_or("<no .sender>").to_owned(),
            body: row[4].as_str().unwrap_or("<no .body>").to_owned(),
        })
        .collect())
}

/// Waits until a message with exactly this sender and body is shown (the last such
/// one, should the room have older history).
pub async fn wait_for_message(browser: &Browser, sender: &str, body: &str) -> TestResult<Shown> {
    wait_for_last(
        browser,
        &format!("{sender}'s message {body:?} is shown"),
        |m| m.sender == sender && m.body == body,
    )
    .await
}

/// Waits until the message is shown as stored (with its seq), not as pending (the
/// last such one, should the room have older history).
pub async fn wait_for_stored(browser: &Browser, sender: &str, body: &str) -> TestResult<Shown> {
    wait_for_last(
        browser,
        &format!("{sender}'s message {body:?} is stored"),
        |m| m.sender == sender && m.body == body && m.seq.is_some(),
    )
    .await
}

/// Waits until a shown message is as `wanted` says; returns the last such one.
async fn wait_for_last(
    browser: &Browser,
    what: &str,
    wanted: impl Fn(&Shown) -> bool,
) -> TestResult<Shown> {
    browser
        .wait_until(what, || async {
            let shown = messages(browser).await?;
            let found = shown.iter().rev().find(|m| wanted(m)).cloned();
            Ok(found.ok_or_else(|| show_all(&shown)))
        })
        .await
}
