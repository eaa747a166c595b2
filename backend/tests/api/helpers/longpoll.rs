//! A long-polling client for `/api/lp`.

use parley_common::{LongPollBatch, PROTOCOL_VERSION};
use serde_json::{Value, json};

use super::{HttpResponse, TestApp, http_to};

/// A long-polling client: the HTTP requests of `/api/lp`, one TCP connection each.
pub struct Lp {
    pub addr: std::net::SocketAddr,
    pub token: String,
    pub sid: String,
    /// The cursor: `next` of the last batch received.
    pub since: u64,
}

impl TestApp {
    /// Opens a long-poll connection with `messages` (a JSON array) as the first
    /// body; the status and body on refusal.
    pub async fn try_lp(&self, token: &str, messages: Value) -> Result<Lp, HttpResponse> {
        let cookie = format!("parley_session={token}");
        let r = self
            .http(
                "POST",
                "/api/lp",
                Some(&messages.to_string()),
                &[("Cookie", &cookie)],
            )
            .await;
        if r.status != 201 {
            return Err(r);
        }
        let sid = r.json()["sid"].as_str().expect("a sid").to_owned();
        Ok(Lp {
            addr: self.addr,
            token: token.to_owned(),
            sid,
            since: 0,
        })
    }

    /// Opens a long-poll connection that says hello (resuming from `resume`).
    pub async fn lp(&self, token: &str, resume: Value) -> Lp {
        let hello = json!([{"type": "hello", "protocol": PROTOCOL_VERSION, "resume": resume}]);
        self.try_lp(token, hello).await.expect("long-poll refused")
    }
}

impl Lp {
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> HttpResponse {
        let cookie = format!("parley_session={}", self.token);
        let mut headers = vec![("Cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        http_to(self.addr, method, path, body, &headers).await
    }

    /// Submits client messages (a JSON array); the HTTP status.
    pub async fn post(&self, messages: Value) -> u16 {
        let path = format!("/api/lp/{}", self.sid);
        let r = self
            .request("POST", &path, Some(&messages.to_string()), &[])
            .await;
        assert!(
            r.status == 204 || r.status >= 400,
            "unexpected {}",
            r.status
        );
        r.status
    }

    /// One GET (waiting up to `wait` seconds) at the current cursor; moves the
    /// cursor on. Panics on an error status.
    pub async fn get(&mut self, wait: u64) -> LongPollBatch {
        let r = self.get_raw(self.since, wait).await;
        assert_eq!(r.status, 200, "long-poll GET: {}", r.body);
        let batch: LongPollBatch = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("bad long-poll batch {}: {e}", r.body));
        self.since = batch.next;
        batch
    }

    pub async fn get_raw(&self, since: u64, wait: u64) -> HttpResponse {
        let path = format!("/api/lp/{}?since={since}&wait={wait}", self.sid);
        self.request("GET", &path, None, &[]).await
    }
}
