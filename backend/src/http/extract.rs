//! The checks routes share, as axum extractors: a same-origin request, the
//! session cookie, the signed-in user, and a JSON body — each refusing in the
//! app's error shape ([`AppError`]).

use std::convert::Infallible;

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use parley_common::ErrorCode;

use crate::auth;
use crate::clock::now_ms;
use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::store::{AuthUser, TokenHash};

/// A request from our own pages (or an allowed origin), else 403
/// `forbidden_origin`: a page on another site must not act with the user's
/// cookie (cross-site request forgery, cross-site WebSocket hijacking).
#[derive(Debug, Clone, Copy)]
pub struct SameOrigin;

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let headers = &parts.headers;
        if auth::origin_allowed(headers, &state.allowed_origins) {
            return Ok(Self);
        }
        let origin = headers.get(header::ORIGIN);
        if is_websocket_upgrade(headers) {
            tracing::warn!(?origin, "websocket from a foreign origin refused");
        } else {
            tracing::warn!(?origin, "request from a foreign origin refused");
        }
        Err(AppError::forbidden_origin())
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The hash of the request's session token, else 401 `unauthorized`. Says only
/// that a well-formed cookie came, not that its session is alive: that is
/// [`SignedIn`].
#[derive(Debug, Clone, Copy)]
pub struct SessionCookie(pub TokenHash);

impl<S: Send + Sync> FromRequestParts<S> for SessionCookie {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        cookie(&parts.headers).ok_or_else(AppError::unauthorized)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SessionCookie {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(cookie(&parts.headers))
    }
}

fn cookie(headers: &HeaderMap) -> Option<SessionCookie> {
    auth::session_token(headers).map(|token| SessionCookie(auth::hash_token(token)))
}

/// The user of the request's live session, else 401 `unauthorized`. Names the
/// user in the request's span, so its log lines say whose they are.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: AuthUser,
    pub token: TokenHash,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let SessionCookie(token) = cookie(&parts.headers).ok_or_else(AppError::unauthorized)?;
        // On PostgreSQL a session made on another node is read from the
        // database: a store failure is the server's (`internal`, `server_busy`),
        // not a reason to call the user signed out.
        let user = state
            .store
            .session_user(&token, now_ms())
            .await?
            .ok_or_else(AppError::unauthorized)?;
        tracing::Span::current().record("user", tracing::field::display(&user.name));
        Ok(Self { user, token })
    }
}

/// A request body read as JSON: what it must look like and how big it may be.
pub trait JsonBody: Sized {
    /// What the client should have sent, for the `400` message.
    const EXPECTED: &'static str;
    /// Longer bodies are refused with `413 too_large`.
    const MAX_BYTES: usize;
    /// Whether a body without `Content-Type: application/json` is refused (`415
    /// unsupported_media_type`) before it is read.
    const TYPE_REQUIRED: bool;

    fn parse(bytes: &[u8]) -> serde_json::Result<Self>;
}

/// A JSON request body of type `T`. A bad one is answered in the app's error
/// shape: 415 `unsupported_media_type`, 413 `too_large`, 400 `bad_json` (not
/// JSON) or 400 `bad_message` (JSON of the wrong shape).
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: JsonBody> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, _: &S) -> Result<Self, AppError> {
        if T::TYPE_REQUIRED && !is_json(request.headers()) {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the messages as JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::to_bytes(request.into_body(), T::MAX_BYTES)
            .await
            .map_err(|_| {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::TooLarge,
                    format!("the body is over {} bytes", T::MAX_BYTES),
                )
            })?;
        T::parse(&bytes)
            .map(Self)
            .map_err(|e| AppError::bad_body(&e, T::EXPECTED))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}
