//! Security headers for the SPA's pages: a Content-Security-Policy that allows
//! only our own scripts (the inline loaders trunk writes into index.html and
//! the lab's lab/index.html, by their hashes), WebAssembly, our styles and same-origin connections — so even if some
//! text were rendered as HTML by mistake, no injected script would run.
//!
//! The policy follows the pages on disk: `cargo xtask dist` while the server
//! runs writes new loaders (new asset names, so new hashes), and a policy built
//! once at startup would then block them and leave the page blank.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The pages whose inline loaders are allowed: the chat's and the lab's.
const PAGES: [&str; 2] = ["index.html", "lab/index.html"];
/// Until a policy is built (and if one could not be): our origin only.
const FALLBACK: HeaderValue = HeaderValue::from_static("default-src 'self'");

/// The policy for the pages in a static directory, built again when one of
/// them changes (two `stat`s per response to tell).
#[derive(Debug)]
pub struct Csp {
    pages: Vec<PathBuf>,
    /// The pages' modification times when the policy was built, and the policy.
    cached: Mutex<(Vec<Option<SystemTime>>, HeaderValue)>,
}

impl Csp {
    pub fn new(static_dir: &Path) -> Self {
        let pages: Vec<PathBuf> = PAGES.iter().map(|p| static_dir.join(p)).collect();
        let cached = Mutex::new((Vec::new(), FALLBACK));
        Self { pages, cached }
    }

    /// The policy for the pages as they are now.
    pub fn current(&self) -> HeaderValue {
        let stamps: Vec<Option<SystemTime>> = self
            .pages
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect();
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.0 != stamps {
            let pages: String = self
                .pages
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect();
            let value = HeaderValue::from_str(&content_security_policy(&pages)).unwrap_or(FALLBACK);
            *cached = (stamps, value);
        }
        cached.1.clone()
    }
}

/// The policy for an SPA whose pages (index.html, and the lab's, one after the
/// other) are `pages`.
pub fn content_security_policy(pages: &str) -> String {
    let hashes: String = inline_scripts(pages)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// The contents of every `<script>` without a `src` (what a hash must cover).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attrs, body) = rest.split_once('>')?;
        if attrs.contains("src=") {
            return None;
        }
        body.split_once("</script>").map(|(script, _)| script)
    })
}

/// Adds the policy and the usual companions to every response of the SPA.
pub async fn security_headers(
    State(csp): State<Arc<Csp>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.current());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_skipped() {
        let html = "<head><script type=\"module\">boot()</script>\
                    <script src=\"/x.js\"></script></head>";
        let csp = content_security_policy(html);
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"boot()"));
        assert!(csp.contains(&format!("'sha256-{expected}'")), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 1);
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("'wasm-unsafe-eval'"));
    }
}
