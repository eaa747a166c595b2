//! The HTTP API for accounts and sessions: register, log in, log out, who am I.
//! Everything else travels over the WebSocket.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_common::{Credentials, ErrorCode, Me, Password, PasswordProblem, Username};

use crate::auth::{self, SESSION_TTL};
use crate::clock::now_ms;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, JsonBody, SameOrigin, SessionCookie, SignedIn};
use crate::http::state::AppState;
use crate::outbox::CloseReason;
use crate::store::AuthUser;

/// Largest accepted API request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
}

impl JsonBody for Credentials {
    const EXPECTED: &'static str = "a JSON object {\"name\": ..., \"password\": ...}";
    const MAX_BYTES: usize = MAX_BODY_BYTES;
    /// The account API has always read its body whatever its Content-Type, and
    /// clients (curl -d) rely on that.
    const TYPE_REQUIRED: bool = false;

    fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }
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

/// The body's error is answered after the rate limit is charged: a bad body
/// costs an attempt too.
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    _: SameOrigin,
    creds: Result<AppJson<Credentials>, AppError>,
) -> Result<Response, AppError> {
    let ip = peer.ip().to_string();
    let shared = match &state.cluster {
        Some(cluster) => cluster
            .limits()
            .allow("register-ip", &ip, state.limits.register_per_minute)
            .await
            .unwrap_or(true),
        None => true,
    };
    if !state.limits.register_by_ip.allow(&ip) || !shared {
        return Err(AppError::rate_limited(60));
    }
    let AppJson(creds) = creds?;
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
    _: SameOrigin,
    AppJson(creds): AppJson<Credentials>,
) -> Result<Response, AppError> {
    // Both buckets are charged: hammering one account from many addresses, or
    // many accounts from one address, are both slowed down.
    let name_key = creds.name.trim().to_ascii_lowercase();
    let ip = peer.ip().to_string();
    let by_ip = state.limits.login_by_ip.allow(&ip);
    let by_name = state.limits.login_by_name.allow(&name_key);
    // In a cluster the account's budget is shared by every node as well.
    let shared = match &state.cluster {
        Some(cluster) => {
            let per_minute = state.limits.login_per_minute;
            let limits = cluster.limits();
            let name_ok = limits.allow("login-name", &name_key, per_minute).await;
            let ip_ok = limits
                .allow("login-ip", &ip, per_minute.saturating_mul(5))
                .await;
            name_ok.unwrap_or(true) && ip_ok.unwrap_or(true)
        }
        None => true,
    };
    if !(by_ip && by_name && shared) {
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

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: SameOrigin,
    cookie: Option<SessionCookie>,
) -> Result<Response, AppError> {
    if let Some(SessionCookie(hash)) = cookie {
        state.store.delete_session(hash).await?;
        state.hub.close_session(hash, CloseReason::LOGGED_OUT);
        if let Some(cluster) = &state.cluster {
            cluster.revoke(&hash);
        }
    }
    let cookie = HeaderValue::from_str(&auth::clear_cookie(&headers))
        .map_err(|e| AppError::internal("cookie", &e))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn me(SignedIn { user, .. }: SignedIn) -> Json<Me> {
    Json(Me { name: user.name })
}
