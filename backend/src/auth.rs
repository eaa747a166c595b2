//! Passwords, session tokens, the session cookie, the Origin check and the login
//! rate limiter.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, header};
use parley_common::{Password, SESSION_COOKIE};
use sha2::{Digest, Sha256};

use crate::store::TokenHash;

/// How long a session lasts without logging in again.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Hashes a password with argon2id (OWASP parameters: 19 MiB, 2 passes). Slow on
/// purpose: call it from a blocking task.
pub fn hash_password(password: &Password) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a stored hash. Slow on purpose: blocking task.
pub fn verify_password(password: &Password, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a password nobody has, checked when the user name is unknown so that
/// "no such user" takes as long as "wrong password".
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        Password::parse("not-a-real-password")
            .ok()
            .and_then(|p| hash_password(&p).ok())
            .unwrap_or_default()
    })
}

/// A new random session token (what the cookie carries) and its hash (what the
/// database stores).
pub fn new_token() -> Result<(String, TokenHash), getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok((token.clone(), hash_token(&token)))
}

pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// The session token from the request's cookies, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the browser reached us over TLS (directly or through a proxy that says
/// so); the cookie is then marked `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    let header_is = |name: &str, prefix: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(prefix))
    };
    header_is("x-forwarded-proto", "https") || header_is("origin", "https://")
}

/// `Set-Cookie` value carrying a new session.
pub fn session_cookie(token: &str, headers: &HeaderMap) -> String {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(headers: &HeaderMap) -> String {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}")
}

/// Whether a request may act with the user's cookie: browsers always send `Origin`
/// on WebSocket upgrades and cross-site POSTs, so a missing one means a non-browser
/// client (which has to present the cookie itself). Otherwise the origin must be
/// the server's own (`http(s)://<Host>`) or on the configured allowlist.
pub fn origin_allowed(headers: &HeaderMap, allowlist: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowlist.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let pw = Password::parse("correct horse").unwrap();
        let hash = hash_password(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(
            &Password::parse("wrong horse").unwrap(),
            &hash
        ));
        assert!(!verify_password(&pw, "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_token(&a), ha);
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_checked() {
        let token = "ab".repeat(32);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; parley_session={token}; x=y")).unwrap(),
        );
        assert_eq!(session_token(&h), Some(token.as_str()));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("parley_session=../../etc"),
        );
        assert_eq!(session_token(&h), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_tls() {
        let mut h = HeaderMap::new();
        let c = session_cookie("t", &h);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(session_cookie("t", &h).ends_with("; Secure"));
    }

    #[test]
    fn origin_must_match_the_host_or_the_allowlist() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("chat.example:8080"));
        assert!(origin_allowed(&h, &[]), "no Origin: not a browser");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://chat.example:8080"),
        );
        assert!(origin_allowed(&h, &[]));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["https://evil.example".to_owned()]));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!origin_allowed(&h, &[]));
    }
}
