//! `AppError`: every HTTP failure as a status code plus the JSON body
//! `{"code": ..., "message": ...}` ([`ApiError`]). Internal details are logged,
//! never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_common::{ApiError, ErrorCode};

use crate::limits::Refused;
use crate::store::StoreError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "log in first: no valid session",
        )
    }

    pub fn forbidden_origin() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ForbiddenOrigin,
            "requests from this origin are not allowed",
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many attempts: wait a minute and try again",
            )
        }
    }

    /// A request body that is not the JSON expected: `bad_json` when it is not
    /// JSON at all, `bad_message` when it has the wrong shape.
    pub fn bad_body(err: &serde_json::Error, expected: &str) -> Self {
        let code = if err.is_syntax() || err.is_eof() {
            ErrorCode::BadJson
        } else {
            ErrorCode::BadMessage
        };
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("expected {expected}"),
        )
    }

    pub fn internal(what: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(%err, "{what} failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "something went wrong on the server; nothing was changed",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NameTaken => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::NameTaken,
                "that user name is taken",
            ),
            StoreError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServerBusy,
                "the server is busy: try again in a moment",
            ),
            other => Self::internal("store request", &other),
        }
    }
}

impl From<Refused> for AppError {
    fn from(refused: Refused) -> Self {
        match refused.code {
            ErrorCode::TooManyConnections => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyConnections,
                format!(
                    "you have {} connections open already: close a tab",
                    refused.max_per_user
                ),
            ),
            code => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "the server has as many connections as it takes; try again later",
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ApiError {
            code: self.code,
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
