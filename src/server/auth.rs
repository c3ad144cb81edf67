//! Bearer-token authentication (design §8): with `server.auth_token` or `RECYCLER_API_TOKEN`
//! set, every endpoint but health needs `Authorization: Bearer <token>`; anything else is
//! 401 with code 1008. The comparison takes the same time however much of the token matches.

use super::AppState;
use super::error::ApiError;
use crate::error::Error;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Equal in constant time (for equal lengths).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware.
pub async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = st.token() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same(g.as_bytes(), token.expose().as_bytes()) => next.run(req).await,
        Some(_) => ApiError::from(Error::Unauthorized("invalid API token".into())).into_response(),
        None => ApiError::from(Error::Unauthorized(
            "this server requires an API token: send Authorization: Bearer <token>".into(),
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_tokens() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"ab"));
    }
}
