//! The HTTP API for accounts and sessions: register, log in, log out, who am I.
//! Everything else travels over the WebSocket.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_common::{Credentials, ErrorCode, Me, Password, PasswordProblem, Username};

use crate::AppState;
use crate::auth::{self, SESSION_TTL};
use crate::clock::now_ms;
use crate::error::AppError;
use crate::outbox::CloseReason;
use crate::store::{AuthUser, TokenHash};

/// Largest accepted API request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The user of the request's session cookie, or 401.
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(AuthUser, TokenHash), AppError> {
    let token = auth::session_token(headers).ok_or_else(AppError::unauthorized)?;
    let hash = auth::hash_token(token);
    let user = state
        .store
        .session_user(&hash, now_ms())
        .ok_or_else(AppError::unauthorized)?;
    Ok((user, hash))
}

/// 403 unless the request comes from our own pages (or an allowed origin).
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if auth::origin_allowed(headers, &state.allowed_origins) {
        Ok(())
    } else {
        tracing::warn!(origin = ?headers.get("origin"), "request from a foreign origin refused");
        Err(AppError::forbidden_origin())
    }
}

/// Parses the body ourselves so bad JSON gets the API's error shape.
fn credentials(body: &Bytes) -> Result<Credentials, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::bad_body(&e, "a JSON object {\"name\": ..., \"password\": ...}"))
}

fn password_error(problem: PasswordProblem) -> AppError {
    let code = match problem {
        PasswordProblem::TooLong { .. } => ErrorCode::PasswordTooLong,
        PasswordProblem::TooShort { .. } | PasswordProblem::Weak => ErrorCode::WeakPassword,
    };
    AppError::new(StatusCode::BAD_REQUEST, code, problem.to_string())
}

/// Starts a session for `user`: stores its token hash and sets the cookie.
async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &AuthUser,
    status: StatusCode,
) -> Result<Response, AppError> {
    let (token, hash) = auth::new_token().map_err(|e| AppError::internal("token", &e))?;
    let expires = now_ms().saturating_add(u64::try_from(SESSION_TTL.as_millis()).unwrap_or(0));
    state.store.create_session(hash, user, expires).await?;
    let cookie = HeaderValue::from_str(&auth::session_cookie(&token, headers))
        .map_err(|e| AppError::internal("cookie", &e))?;
    let mut response = (
        status,
        Json(Me {
            name: user.name.clone(),
        }),
    )
        .into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    check_origin(&state, &headers)?;
    if !state.limits.register_by_ip.allow(&peer.ip().to_string()) {
        return Err(AppError::rate_limited(60));
    }
    let creds = credentials(&body)?;
    let name = Username::parse(&creds.name).map_err(|e| {
        AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidName,
            format!("user name {e}"),
        )
    })?;
    let password = Password::parse_new(&creds.password, name.as_str()).map_err(password_error)?;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::internal("hashing task", &e))?
        .map_err(|e| AppError::internal("password hashing", &e))?;
    let id = state.store.create_user(name.clone(), hash).await?;
    tracing::info!(user = %name, "registered");
    start_session(
        &state,
        &headers,
        &AuthUser { id, name },
        StatusCode::CREATED,
    )
    .await
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    check_origin(&state, &headers)?;
    let creds = credentials(&body)?;
    // Both buckets are charged: hammering one account from many addresses, or
    // many accounts from one address, are both slowed down.
    let by_ip = state.limits.login_by_ip.allow(&peer.ip().to_string());
    let by_name = state
        .limits
        .login_by_name
        .allow(&creds.name.trim().to_ascii_lowercase());
    if !(by_ip && by_name) {
        tracing::warn!(peer = %peer.ip(), "login rate-limited");
        return Err(AppError::rate_limited(60));
    }
    let password = Password::parse(&creds.password).map_err(password_error)?;
    let stored = match Username::parse(&creds.name) {
        Ok(name) => state.store.user_by_name(&name).await?,
        Err(_) => None,
    };
    let (hash, user) = match stored {
        Some(u) => (
            u.password_hash,
            Some(AuthUser {
                id: u.id,
                name: u.name,
            }),
        ),
        None => (auth::dummy_hash().to_owned(), None),
    };
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| AppError::internal("hashing task", &e))?;
    match user {
        Some(user) if ok => {
            tracing::info!(user = %user.name, "logged in");
            start_session(&state, &headers, &user, StatusCode::OK).await
        }
        _ => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidCredentials,
            "wrong user name or password",
        )),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    check_origin(&state, &headers)?;
    if let Some(token) = auth::session_token(&headers) {
        let hash = auth::hash_token(token);
        state.store.delete_session(hash).await?;
        state.hub.close_session(hash, CloseReason::LOGGED_OUT);
    }
    let cookie = HeaderValue::from_str(&auth::clear_cookie(&headers))
        .map_err(|e| AppError::internal("cookie", &e))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Me>, AppError> {
    let (user, _) = authenticate(&state, &headers)?;
    Ok(Json(Me { name: user.name }))
}
