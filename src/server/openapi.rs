//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types themselves, so it cannot
//! drift from what the server accepts and answers.

use super::api::{
    CredentialsBody, DiscoverRequest, Envelope, Health, JobCancelled, JobConfig, JobControl,
    JobCreated, JobList, JobPatch, JobRequest, TargetBody,
};
use super::error::ErrorBody;
use crate::jobs::view::{JobProgress, JobStatistics, JobSummary, JobUpdate, JobView, TableResult};
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mysql-tablespace-recycling",
        description = "Reclaims disk space from fragmented InnoDB tables across MySQL/MariaDB \
                       replication clusters: discover, plan, apply as jobs, watch."
    ),
    paths(
        super::handlers::discover_topology,
        super::handlers::create_job,
        super::handlers::get_job,
        super::handlers::cancel_job,
        super::handlers::pause_job,
        super::handlers::resume_job,
        super::handlers::patch_job,
        super::handlers::list_jobs,
        super::handlers::health,
        super::handlers::create_plan,
        super::handlers::get_plan,
        super::ws::monitor,
        super::metrics::metrics,
        openapi_json,
    ),
    components(schemas(
        ErrorBody, DiscoverRequest, TargetBody, CredentialsBody, JobConfig, JobRequest,
        JobCreated, JobCancelled, JobList, Health, JobView, JobSummary, JobProgress,
        JobStatistics, TableResult, JobUpdate, Envelope<JobView>, JobPatch, JobControl,
        crate::apply::RunState,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// Declares the bearer token scheme (required when the server has a token).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
