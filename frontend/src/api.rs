//! The account API over HTTP (`/api/register`, `/api/login`, `/api/logout`,
//! `/api/me`), with the browser's `fetch`. The session cookie is HttpOnly: the
//! browser stores and sends it (`credentials: same-origin`); this code never sees it.
//! The long-polling transport ([`crate::connection`]) makes its requests with
//! the same [`request`].
//!
//! `fetch` is called through web-sys directly rather than through gloo-net's
//! `http` module: the calls need little, and the wasm stays smaller.

use parley_common::{ApiError, Credentials, Me};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestCredentials, RequestInit, Response};

pub use crate::auth::ApiFailure;
use crate::auth::AuthMode;

/// A response: its status and its body (and, for the transport lab's byte
/// counts, its status text and headers).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    status_text: String,
    headers: Headers,
}

impl Answer {
    /// The bytes of the response's head as the server sent it over HTTP/1.1:
    /// the status line, every header line the page can see (`fetch` shows all of
    /// a same-origin response's headers but `Set-Cookie`, which the polling
    /// answers do not carry) and the blank line after them.
    pub fn head_bytes(&self) -> usize {
        let headers = js_sys::try_iter(&self.headers)
            .ok()
            .flatten()
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| {
                        let pair = js_sys::Array::from(&entry);
                        let text = |i| pair.get(i).as_string().map_or(0, |s| s.len());
                        crate::lab::header_line_bytes(text(0), text(1))
                    })
                    .sum()
            })
            .unwrap_or(0);
        crate::lab::status_line_bytes(self.status, self.status_text.len()) + headers + 2
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The answer of register, login or `me`.
    pub fn me(&self) -> Result<Me, ApiFailure> {
        serde_json::from_str::<Me>(&self.body).map_err(|_| ApiFailure::Status(self.status))
    }

    /// The failure this (non-2xx) response describes.
    pub fn failure(&self) -> ApiFailure {
        match serde_json::from_str::<ApiError>(&self.body) {
            Ok(error) => ApiFailure::Api {
                status: self.status,
                error,
            },
            Err(_) => ApiFailure::Status(self.status),
        }
    }
}

fn network(err: JsValue) -> ApiFailure {
    ApiFailure::Network(match err.dyn_into::<js_sys::Error>() {
        Ok(err) => String::from(err.message()),
        Err(other) => other
            .as_string()
            .unwrap_or_else(|| "request failed".to_owned()),
    })
}

/// One same-origin request with an optional JSON body.
async fn fetch(method: &str, path: &str, json: Option<String>) -> Result<Answer, ApiFailure> {
    request(method, path, json, None).await
}

/// One same-origin request with an optional JSON body, cancelled when `signal`
/// aborts.
pub(crate) async fn request(
    method: &str,
    path: &str,
    json: Option<String>,
    signal: Option<&AbortSignal>,
) -> Result<Answer, ApiFailure> {
    let window = web_sys::window().ok_or_else(|| ApiFailure::Network("no window".into()))?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(signal) = signal {
        init.set_signal(Some(signal));
    }
    if let Some(json) = json {
        let headers = Headers::new().map_err(network)?;
        headers
            .set("Content-Type", "application/json")
            .map_err(network)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&json));
    }
    let request = Request::new_with_str_and_init(path, &init).map_err(network)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(network)?
        .dyn_into()
        .map_err(network)?;
    let body = JsFuture::from(response.text().map_err(network)?)
        .await
        .map_err(network)?
        .as_string()
        .unwrap_or_default();
    Ok(Answer {
        status: response.status(),
        body,
        status_text: response.status_text(),
        headers: response.headers(),
    })
}

async fn post_credentials(path: &str, credentials: &Credentials) -> Result<Me, ApiFailure> {
    // Two strings: serde_json cannot fail on them.
    let body = serde_json::to_string(credentials).ok();
    let answer = fetch("POST", path, body).await?;
    if answer.ok() {
        answer.me()
    } else {
        Err(answer.failure())
    }
}

/// `POST /api/register`: creates the account and logs it in.
pub async fn register(credentials: &Credentials) -> Result<Me, ApiFailure> {
    post_credentials("/api/register", credentials).await
}

/// `POST /api/login`.
pub async fn login(credentials: &Credentials) -> Result<Me, ApiFailure> {
    post_credentials("/api/login", credentials).await
}

/// Logs in or registers, as the form asked.
pub async fn sign_in(mode: AuthMode, credentials: &Credentials) -> Result<Me, ApiFailure> {
    match mode {
        AuthMode::Login => login(credentials).await,
        AuthMode::Register => register(credentials).await,
    }
}

/// `GET /api/me`: who this browser's session belongs to. `Ok(None)` means no valid
/// session (401): show the log-in page.
pub async fn me() -> Result<Option<Me>, ApiFailure> {
    let answer = fetch("GET", "/api/me", None).await?;
    match answer.status {
        401 => Ok(None),
        _ if answer.ok() => answer.me().map(Some),
        _ => Err(answer.failure()),
    }
}

/// `POST /api/logout`: ends the session (the server also closes its WebSockets).
pub async fn logout() -> Result<(), ApiFailure> {
    let answer = fetch("POST", "/api/logout", None).await?;
    // 401: the session was already gone, which is what was asked for.
    if answer.ok() || answer.status == 401 {
        Ok(())
    } else {
        Err(answer.failure())
    }
}
