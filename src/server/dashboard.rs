//! The web dashboard (issue 17): one page of plain HTML, CSS and JavaScript, embedded in the
//! binary, so nothing is built or fetched at run time. `GET /` is the page and
//! `GET /assets/{file}` its script and style sheet; they hold no data and need no token. The
//! page calls the REST API like any client: with a token configured it asks for it on the first
//! 401, keeps it in the tab's `sessionStorage` and sends it as `Authorization: Bearer`, and on
//! the monitor's WebSocket as a subprotocol (see [`super::auth`]).
//!
//! The files are in `src/server/dashboard/`: `index.html`, `app.js` (a hash router over the
//! pages clusters, fragmentation, plans, jobs and new plan) and `app.css`.

use super::api::ApiPath;
use super::error::{ApiError, ErrorBody};
use crate::error::Error;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("dashboard/index.html");

/// Every asset: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
];

/// Scripts and styles only from the server itself; no inline script, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Always revalidated: a new binary serves new files at the same names.
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The dashboard page.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "The dashboard's page (HTML)", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// A script or style sheet of the dashboard.
#[utoipa::path(get, path = "/assets/{file}", tag = "dashboard",
    params(("file" = String, Path, description = "app.js or app.css")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 400, description = "The name is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such file (1001)", body = ErrorBody),
    ))]
pub async fn asset(ApiPath(name): ApiPath) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| file(ct, body))
        .ok_or_else(|| Error::NotFound(format!("the dashboard has no file {name}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        for (name, _, _) in ASSETS {
            assert!(INDEX.contains(&format!("/assets/{name}")), "{name}");
        }
        // The CSP refuses inline scripts: the page has none.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("onclick"));
    }
}
