//! The plan endpoints (design §8): make a plan, list the saved ones, read one, review it (the
//! rendering `show` prints and the findings `check` reports under the default policy) and diff
//! it against another saved plan (what `diff OLD NEW` reports).

use super::AppState;
use super::api::{ApiJson, ApiPath, Envelope, JobRequest, page_limit, query_pairs};
use super::error::{ApiError, ErrorBody};
use super::handlers::{ApiResult, created, ok, within};
use crate::error::Error;
use crate::jobs::PlanBrief;
use crate::plan::{
    Finding, Plan, PlanDiff, Policy, Severity, check, diff, make_plan, summary_table,
};
use axum::extract::{RawQuery, State};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

/// Make a plan (the same body as a job); it is saved and returned for review.
#[utoipa::path(post, path = "/api/v1/plans", tag = "plans",
    request_body = JobRequest,
    responses(
        (status = 201, description = "The plan document (design §5)", body = Envelope<Plan>),
        (status = 400, description = "Bad body (1001), naming the field", body = ErrorBody),
        (status = 403, description = "The login lacks a privilege planning needs (1008)", body = ErrorBody),
        (status = 408, description = "Past server.request_timeout (1009); details.running names what was still running", body = ErrorBody),
        (status = 500, description = "Connection (1002), discovery (1003) or primary (1004) failure", body = ErrorBody),
    ))]
pub async fn create_plan(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<JobRequest>,
) -> ApiResult<Plan> {
    if req.is_plan_job() || req.dry_run {
        return Err(ApiError::field(
            if req.dry_run { "dry_run" } else { "plan_id" },
            "a plan request takes target (or cluster) and config",
        ));
    }
    let (mut request, spec) = req.plan_request(st.config())?;
    let spec = st.pooled(spec);
    let store = st.jobs().store();
    request.plan_id = store.next_id("plan", Utc::now().date_naive()).await?;
    // The plan is saved only when it was made in time.
    let (plan, _) = within(&st, async {
        Ok(make_plan(&request, &spec, store, store).await?)
    })
    .await?;
    store.save_plan(&plan).await?;
    created("plan created successfully", plan)
}

/// `data` of the plan list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanList {
    /// Saved plans in all.
    pub total: u64,
    /// This page, newest first.
    pub plans: Vec<PlanBrief>,
}

/// `GET /api/v1/plans` query.
#[derive(Debug, Clone, Default, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanListParams {
    /// 1–1000, default 20.
    pub limit: Option<u32>,
    /// Default 0.
    pub offset: Option<u32>,
}

impl PlanListParams {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut p = Self::default();
        for (key, value) in query_pairs(query, &["limit", "offset"])? {
            let n = value
                .parse::<u32>()
                .map_err(|_| ApiError::field(key.as_str(), "is not a whole number"))?;
            if key == "limit" {
                p.limit = Some(n);
            } else {
                p.offset = Some(n);
            }
        }
        Ok(p)
    }
}

/// The saved plans, newest first, with pagination.
#[utoipa::path(get, path = "/api/v1/plans", tag = "plans",
    params(PlanListParams),
    responses(
        (status = 200, description = "A page of plans", body = Envelope<PlanList>),
        (status = 400, description = "Bad parameter (1001)", body = ErrorBody),
    ))]
pub async fn list_plans(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<PlanList> {
    let q = PlanListParams::parse(query.as_deref().unwrap_or(""))?;
    let limit = page_limit(q.limit)?;
    let (plans, total) = st
        .jobs()
        .store()
        .plans(limit, q.offset.unwrap_or(0))
        .await?;
    ok("success", PlanList { total, plans })
}

/// The saved plan `plan_id`, or 404/1001.
async fn saved(st: &AppState, plan_id: &str) -> Result<Plan, ApiError> {
    Ok(st
        .jobs()
        .store()
        .plan(plan_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("plan {plan_id} does not exist")))?)
}

/// A saved plan.
#[utoipa::path(get, path = "/api/v1/plans/{plan_id}", tag = "plans",
    params(("plan_id" = String, Path, description = "plan-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "The plan document", body = Envelope<Plan>),
        (status = 400, description = "The plan id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such plan (1001)", body = ErrorBody),
    ))]
pub async fn get_plan(State(st): State<AppState>, ApiPath(plan_id): ApiPath) -> ApiResult<Plan> {
    ok("success", saved(&st, &plan_id).await?)
}

/// `data` of a plan's review.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanReview {
    pub plan_id: String,
    /// The plan as `show PLAN` prints it.
    pub text: String,
    /// What `check PLAN` finds under the default policy.
    pub findings: Vec<Finding>,
    /// Findings of severity `error` (`check` exits 4 when there is one).
    pub errors: usize,
    pub warnings: usize,
}

/// A saved plan reviewed: its rendering and its `check` findings (default policy).
#[utoipa::path(get, path = "/api/v1/plans/{plan_id}/review", tag = "plans",
    params(("plan_id" = String, Path, description = "plan-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "The rendering and the findings", body = Envelope<PlanReview>),
        (status = 400, description = "The plan id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such plan (1001)", body = ErrorBody),
    ))]
pub async fn review_plan(
    State(st): State<AppState>,
    ApiPath(plan_id): ApiPath,
) -> ApiResult<PlanReview> {
    let plan = saved(&st, &plan_id).await?;
    let findings = check(&plan, &Policy::default());
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    ok(
        "success",
        PlanReview {
            text: summary_table(&plan),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            findings,
            plan_id,
        },
    )
}

/// `GET /api/v1/plans/{plan_id}/diff` query.
#[derive(Debug, Clone, Default, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older plan to compare with (required).
    pub from: String,
}

/// `data` of a diff between two plans (what `diff OLD NEW` prints).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanDiffView {
    /// The older plan.
    pub from: String,
    /// The newer plan.
    pub to: String,
    /// Whether the work differs (`diff` exits 2).
    pub changes: bool,
    #[serde(flatten)]
    pub diff: PlanDiff,
}

/// What changed from the saved plan `from` to the saved plan `plan_id`.
#[utoipa::path(get, path = "/api/v1/plans/{plan_id}/diff", tag = "plans",
    params(("plan_id" = String, Path, description = "The newer plan"), DiffParams),
    responses(
        (status = 200, description = "The differences", body = Envelope<PlanDiffView>),
        (status = 400, description = "`from` missing, or a bad parameter (1001)", body = ErrorBody),
        (status = 404, description = "No such plan (1001)", body = ErrorBody),
    ))]
pub async fn diff_plans(
    State(st): State<AppState>,
    ApiPath(plan_id): ApiPath,
    RawQuery(query): RawQuery,
) -> ApiResult<PlanDiffView> {
    let from = query_pairs(query.as_deref().unwrap_or(""), &["from"])?
        .pop()
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::field("from", "is required: the plan to compare with"))?;
    let (old, new) = (saved(&st, &from).await?, saved(&st, &plan_id).await?);
    let d = diff(&old, &new, (&from, &plan_id));
    ok(
        "success",
        PlanDiffView {
            changes: d.has_changes(),
            diff: d,
            from,
            to: plan_id,
        },
    )
}
