//! The one place errors become HTTP responses: the spec §6 code, the HTTP status and the error
//! body `{code, message, details, timestamp}`.
//!
//! Client errors (4xx) carry the error's own message, which names the field, node or job.
//! Server errors (5xx) carry only the spec's meaning of the code and structured details that
//! cannot hold SQL text or credentials (a node address, the connection error) — never the
//! underlying message, which may quote a statement.

use crate::error::{Error, ErrorCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The error body (spec §6).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Spec §6 error code.
    pub code: u16,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
    pub timestamp: DateTime<Utc>,
}

/// An error on its way to the client; its details come from the error's data.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl ApiError {
    /// A 400/1001 naming the `field` that is wrong (`details: {field, error}`).
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self(Error::field(field, reason))
    }
}

/// The HTTP status of an error: spec §6 by code, except a stale plan (409, design §8) and a
/// missing or wrong API token (401, design §8).
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Stale { .. } => StatusCode::CONFLICT,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        other => match other.code() {
            ErrorCode::InvalidArgument | ErrorCode::JobState => StatusCode::BAD_REQUEST,
            ErrorCode::Internal
            | ErrorCode::Connection
            | ErrorCode::Discovery
            | ErrorCode::Primary
            | ErrorCode::JobCreate => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::JobNotFound => StatusCode::NOT_FOUND,
            ErrorCode::Permission => StatusCode::FORBIDDEN,
            ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
        },
    }
}

/// Details that are safe in any response.
fn safe_details(e: &Error) -> Value {
    match e {
        Error::Connection {
            host, port, reason, ..
        } => {
            json!({ "host": host, "port": port, "error": reason })
        }
        Error::Query { node, .. } => json!({ "node": node }),
        Error::Privilege {
            node, privilege, ..
        } => json!({ "node": node, "privilege": privilege }),
        Error::Grants { missing } => json!({ "missing": missing }),
        // Built by this tool from addresses and states, never from SQL text.
        Error::Primary(m) | Error::Discovery(m) => json!({ "error": m }),
        Error::Stale { changes } => json!({ "error": "plan_stale", "changes": changes }),
        // Steps this tool names (probing, scanning, sampling a node's table), no SQL.
        Error::RequestDeadline { limit, running } => json!({
            "limit": humantime::format_duration(*limit).to_string(),
            "running": running,
        }),
        Error::InvalidArgument {
            field: Some(field),
            message,
        } => json!({ "field": field, "error": message }),
        _ => json!({}),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status = status_of(&error);
        let code = error.code();
        let message = if status.is_server_error() {
            code.meaning().to_string()
        } else {
            error.to_string()
        };
        if status.is_server_error() {
            // The full text goes to the log (statement logging is off, so it holds no
            // credentials); the client gets the code's meaning and safe details.
            tracing::error!("request failed [{code}]: {error}");
        }
        let body = ErrorBody {
            code: code.as_u16(),
            message,
            details: safe_details(&error),
            timestamp: Utc::now(),
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_spec() {
        let s = |e: Error| status_of(&e).as_u16();
        assert_eq!(s(Error::invalid("x")), 400);
        assert_eq!(s(Error::JobNotFound("j".into())), 404);
        assert_eq!(s(Error::JobState("j".into())), 400);
        assert_eq!(s(Error::Busy("b".into())), 503);
        assert_eq!(s(Error::Timeout("t".into())), 408);
        let late = Error::RequestDeadline {
            limit: std::time::Duration::from_secs(60),
            running: vec!["probing 127.0.0.1:3307".into()],
        };
        assert_eq!(safe_details(&late)["limit"], "1m");
        assert_eq!(s(late), 408);
        assert_eq!(s(Error::stale(vec!["s".into()])), 409);
        assert_eq!(s(Error::Unauthorized("u".into())), 401);
        assert_eq!(s(Error::Discovery("d".into())), 500);
    }
}
