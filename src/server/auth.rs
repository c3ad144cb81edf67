//! Bearer-token authentication (design §8): with `server.auth_token` or `RECYCLER_API_TOKEN`
//! set, every endpoint but health needs `Authorization: Bearer <token>`; anything else is
//! 401 with code 1008. The comparison takes the same time however much of the token matches.
//!
//! A browser cannot set headers on a WebSocket, so the monitor's upgrade request may carry the
//! token as a subprotocol instead, the way Kubernetes does: `Sec-WebSocket-Protocol:
//! recycler.v1, recycler.bearer.<hex of the token>`. The server answers with `recycler.v1`
//! only, so the token is never echoed. No other route reads the subprotocol.

use super::AppState;
use super::error::ApiError;
use crate::error::Error;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The subprotocol the monitor speaks, which the server selects.
pub const WS_PROTOCOL: &str = "recycler.v1";

/// The one route that takes the token as a subprotocol.
const WS_PATH: &str = "/api/v1/ws/monitor";

/// The subprotocol that carries a browser's token, hex-encoded after it.
pub const WS_TOKEN_PREFIX: &str = "recycler.bearer.";

/// The token of a WebSocket upgrade request's subprotocols, if it carries one.
fn ws_token(headers: &HeaderMap) -> Option<String> {
    let upgrade = headers.get(UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_TOKEN_PREFIX))
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
}

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
        .map(|v| v.trim().to_string())
        .or_else(|| {
            if req.uri().path() == WS_PATH {
                ws_token(req.headers())
            } else {
                None
            }
        });
    match given.as_deref() {
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

    #[test]
    fn a_websocket_upgrade_carries_its_token_as_a_subprotocol() {
        use axum::http::{HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        let offer = format!("recycler.v1, recycler.bearer.{}", hex::encode("s3cr:t"));
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&offer).unwrap(),
        );
        // Not an upgrade: the subprotocol header means nothing.
        assert_eq!(super::ws_token(&h), None);
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        assert_eq!(super::ws_token(&h).as_deref(), Some("s3cr:t"));
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("recycler.bearer.zz"),
        );
        assert_eq!(super::ws_token(&h), None);
    }
}
