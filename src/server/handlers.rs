//! The REST handlers (spec §3.2, design §8). Each validates its input, calls the planner, the
//! job manager or the store, and answers in the `{code, message, data}` envelope; every error
//! goes through [`super::error::ApiError`].

use super::AppState;
use super::api::{
    ApiJson, ApiPath, DiscoverRequest, Envelope, Health, JobCancelled, JobControl, JobCreated,
    JobList, JobPatch, JobRequest, ListParams, page_limit,
};
use super::error::{ApiError, ErrorBody};
use crate::activity::Tracker;
use crate::apply::{ApplyHandle, TunablesPatch, preflight};
use crate::error::Error;
use crate::jobs::view::{JobSummary, JobView, RecycleConfig};
use crate::jobs::{JobStatus, Submission, Work};
use crate::plan::{DigestProblem, Plan, plan_from_value};
use crate::settings::MAX_BATCH_SIZE;
use crate::topology::{
    ClusterTopology, DEFAULT_MAX_DEPTH, DEFAULT_PARALLEL, DiscoverOptions, discover_remembered,
};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

pub(super) type ApiResult<T> = Result<(StatusCode, Json<Envelope<T>>), ApiError>;

/// Runs a synchronous request's work under `server.request_timeout`: past it the work is
/// dropped (its connections closed, so its statements end) and the answer is 408/1009 naming
/// the steps that were still under way.
pub(super) async fn within<T>(
    st: &AppState,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let limit = st.config().server.request_timeout.0;
    let tracker = Tracker::default();
    let work = tracker.run(work);
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => r,
        () = tokio::time::sleep(limit) => {
            // Read while the work is still alive: its steps end when it is dropped.
            let running = tracker.now();
            Err(Error::RequestDeadline { limit, running }.into())
        }
    }
}

pub(super) fn ok<T>(message: &str, data: T) -> ApiResult<T> {
    Ok((StatusCode::OK, Json(Envelope::ok(message, data))))
}

pub(super) fn created<T>(message: &str, data: T) -> ApiResult<T> {
    Ok((StatusCode::CREATED, Json(Envelope::ok(message, data))))
}

/// Discover the replication topology from any node.
#[utoipa::path(post, path = "/api/v1/topology/discover", tag = "topology",
    request_body = DiscoverRequest,
    responses(
        (status = 200, description = "The topology (design §4)", body = Envelope<ClusterTopology>),
        (status = 400, description = "Bad body (1001), naming the field", body = ErrorBody),
        (status = 403, description = "The login lacks a privilege discovery needs (1008)", body = ErrorBody),
        (status = 408, description = "Past server.request_timeout (1009); details.running names what was still running", body = ErrorBody),
        (status = 500, description = "Connection (1002) or discovery (1003, 1004) failed", body = ErrorBody),
    ))]
pub async fn discover_topology(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<DiscoverRequest>,
) -> ApiResult<ClusterTopology> {
    let (seed, spec) = req.target(st.config())?;
    let spec = st.pooled(spec);
    let opts = DiscoverOptions {
        max_depth: req.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
        parallel: DEFAULT_PARALLEL,
        cluster_name: req.cluster.clone(),
    };
    let store = st.jobs().store();
    let topo = within(&st, async {
        Ok(discover_remembered(&seed, &spec, &opts, store).await?)
    })
    .await?;
    ok("success", topo)
}

/// Create a job: plan a target and apply (or only plan with `dry_run`), or apply a plan.
#[utoipa::path(post, path = "/api/v1/recycle/jobs", tag = "jobs",
    request_body = JobRequest,
    responses(
        (status = 201, description = "Job created, pending", body = Envelope<JobCreated>),
        (status = 400, description = "Bad body (1001), naming the field", body = ErrorBody),
        (status = 403, description = "Preflight of a plan: the login lacks a privilege (1008)", body = ErrorBody),
        (status = 408, description = "Past server.request_timeout (1009); details.running names what was still running", body = ErrorBody),
        (status = 409, description = "The plan is stale: the live cluster changed (1001, details.changes)", body = ErrorBody),
        (status = 500, description = "Preflight of a plan could not reach a node (1002) or its primary (1003, 1004)", body = ErrorBody),
        (status = 503, description = "Too many jobs running and queued (1010)", body = ErrorBody),
    ))]
pub async fn create_job(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<JobRequest>,
) -> ApiResult<JobCreated> {
    let jobs = st.jobs();
    jobs.has_room().await?;
    // The checks and a plan's preflight run under the deadline; the job is created after.
    let sub = within(&st, submission(&st, req)).await?;
    let job = jobs.submit(sub).await?;
    created(
        "job created successfully",
        JobCreated {
            job_id: job.job_id,
            status: job.status,
            created_at: job.created_at,
            plan_id: job.plan_id,
        },
    )
}

/// The job a request asks for, checked (a plan's digest and preflight included).
async fn submission(st: &AppState, req: JobRequest) -> Result<Submission, ApiError> {
    let jobs = st.jobs();
    let cfg = st.config();
    Ok(if req.is_plan_job() {
        let spec = st.pooled(req.plan_login(cfg)?);
        let plan = plan_of(st, &req).await?;
        match plan.check_digest(req.expect_digest.as_deref()) {
            Ok(_) => {}
            Err(DigestProblem::Mismatch { actual, want }) => {
                return Err(Error::stale(vec![format!(
                    "plan {} hashes to {actual}, not the expected {want}",
                    plan.plan_id
                )])
                .into());
            }
            // An edited plan is another plan: it runs only when its new digest is asked for.
            Err(DigestProblem::Edited { actual }) => {
                return Err(ApiError::field(
                    "plan.digest",
                    format!(
                        "the plan was edited after it was made: its content hashes to {actual}; \
                         review it and send expect_digest with that value to apply it"
                    ),
                ));
            }
        }
        if plan.actions().next().is_none() {
            return Err(ApiError::field(
                "plan",
                format!("plan {} has no actions: nothing to do", plan.plan_id),
            ));
        }
        // The same preflight as `apply`, before anything is queued: a stale plan is 409.
        let parallel = plan.settings.parallel.max(DEFAULT_PARALLEL);
        preflight(&plan, &spec, parallel, jobs.store()).await?;
        if req.plan.is_some() {
            jobs.store().save_new_plan(&plan).await?;
        }
        let config = RecycleConfig::applying(&plan, &spec, req.expect_digest.as_deref());
        Submission {
            work: Work::Apply {
                plan: Box::new(plan),
            },
            spec,
            config: config.to_value(),
        }
    } else {
        let (request, spec) = req.plan_request(cfg)?;
        let spec = st.pooled(spec);
        let config = RecycleConfig::planning(&request, &spec, req.dry_run);
        Submission {
            work: Work::Recycle {
                request: Box::new(request),
                dry_run: req.dry_run,
            },
            spec,
            config: config.to_value(),
        }
    })
}

/// The plan a plan job names: saved (by id) or given (validated like a plan file; saved by the
/// caller once it passed the digest rule and the preflight).
async fn plan_of(st: &AppState, req: &JobRequest) -> Result<Plan, ApiError> {
    let store = st.jobs().store();
    if let Some(id) = &req.plan_id {
        return store
            .plan(id)
            .await?
            .ok_or_else(|| ApiError::field("plan_id", format!("no plan {id} in the store")));
    }
    let v = req
        .plan
        .as_ref()
        .ok_or_else(|| ApiError::field("plan", "is required"))?;
    let plan = plan_from_value(v, "plan")?;
    // Its id must be free or name this very plan; it is stored only once every check passed.
    store.check_new_plan(&plan).await?;
    Ok(plan)
}

/// A job: status, phase, progress, statistics and per-table results.
#[utoipa::path(get, path = "/api/v1/recycle/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "job-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "The job", body = Envelope<JobView>),
        (status = 400, description = "The job id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such job (1006)", body = ErrorBody),
    ))]
pub async fn get_job(State(st): State<AppState>, ApiPath(job_id): ApiPath) -> ApiResult<JobView> {
    ok("success", JobView::load(st.jobs().store(), &job_id).await?)
}

/// Cancel a pending or running job: its running statements are killed (`KILL QUERY`).
#[utoipa::path(delete, path = "/api/v1/recycle/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "job-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "Cancelled", body = Envelope<JobCancelled>),
        (status = 400, description = "The job already ended (1007), or its id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such job (1006)", body = ErrorBody),
    ))]
pub async fn cancel_job(
    State(st): State<AppState>,
    ApiPath(job_id): ApiPath,
) -> ApiResult<JobCancelled> {
    let status = st.jobs().cancel(&job_id).await?;
    let message = if status == JobStatus::Running {
        "cancellation requested; the job is still stopping"
    } else {
        "job cancelled successfully"
    };
    ok(message, JobCancelled { job_id, status })
}

/// Pause a running job: no new rebuild starts (a running one goes on) until it is resumed.
#[utoipa::path(post, path = "/api/v1/recycle/jobs/{job_id}/pause", tag = "jobs",
    params(("job_id" = String, Path, description = "job-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "Paused", body = Envelope<JobControl>),
        (status = 400, description = "The job is not applying in this server (1007), or its id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such job (1006)", body = ErrorBody),
    ))]
pub async fn pause_job(
    State(st): State<AppState>,
    ApiPath(job_id): ApiPath,
) -> ApiResult<JobControl> {
    toggle(
        &st,
        &job_id,
        ApplyHandle::pause,
        "job paused: no new rebuild starts until it is resumed",
        "job was already paused",
    )
    .await
}

/// Pauses or resumes `job_id` with `act`, which says whether it changed anything.
async fn toggle(
    st: &AppState,
    job_id: &str,
    act: fn(&ApplyHandle) -> bool,
    changed: &str,
    unchanged: &str,
) -> ApiResult<JobControl> {
    let h = st.jobs().control(job_id).await?;
    let message = if act(&h) { changed } else { unchanged };
    ok(message, JobControl::of(job_id, &h))
}

/// Resume a job paused with `pause`.
#[utoipa::path(post, path = "/api/v1/recycle/jobs/{job_id}/resume", tag = "jobs",
    params(("job_id" = String, Path, description = "job-YYYYMMDD-NNN")),
    responses(
        (status = 200, description = "Resumed", body = Envelope<JobControl>),
        (status = 400, description = "The job is not applying in this server (1007), or its id is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such job (1006)", body = ErrorBody),
    ))]
pub async fn resume_job(
    State(st): State<AppState>,
    ApiPath(job_id): ApiPath,
) -> ApiResult<JobControl> {
    toggle(
        &st,
        &job_id,
        ApplyHandle::resume,
        "job resumed",
        "job was not paused",
    )
    .await
}

/// Change `max_lag`, `max_load` or `batch_size` of a running job (from its next checkpoint).
#[utoipa::path(patch, path = "/api/v1/recycle/jobs/{job_id}", tag = "jobs",
    params(("job_id" = String, Path, description = "job-YYYYMMDD-NNN")),
    request_body = JobPatch,
    responses(
        (status = 200, description = "Changed", body = Envelope<JobControl>),
        (status = 400, description = "Bad value (1001) or the job is not applying in this server (1007)", body = ErrorBody),
        (status = 404, description = "No such job (1006)", body = ErrorBody),
    ))]
pub async fn patch_job(
    State(st): State<AppState>,
    ApiPath(job_id): ApiPath,
    ApiJson(p): ApiJson<JobPatch>,
) -> ApiResult<JobControl> {
    // The bounds of a plan's batch_size (a running job takes no more than a new plan), checked
    // before the job is looked up: a bad body is 1001 whatever the job's state.
    match p.batch_size {
        Some(0) => return Err(ApiError::field("batch_size", "must be at least 1")),
        Some(n) if n > MAX_BATCH_SIZE => {
            return Err(ApiError::field(
                "batch_size",
                format!("{n} is more than {MAX_BATCH_SIZE}"),
            ));
        }
        _ => {}
    }
    let h = st.jobs().control(&job_id).await?;
    h.set(&TunablesPatch {
        max_lag: p.max_lag,
        max_load: p.max_load,
        batch_size: p.batch_size,
    })
    .map_err(|b| ApiError::field(b.name, b.reason))?;
    ok("job settings changed", JobControl::of(&job_id, &h))
}

/// Jobs, newest first, with a status filter and pagination.
#[utoipa::path(get, path = "/api/v1/recycle/jobs", tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, description = "A page of jobs", body = Envelope<JobList>),
        (status = 400, description = "Bad parameter (1001)", body = ErrorBody),
    ))]
pub async fn list_jobs(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<JobList> {
    let q = ListParams::parse(query.as_deref().unwrap_or(""))?;
    let limit = page_limit(q.limit)?;
    let (jobs, total) = st
        .jobs()
        .store()
        .jobs(q.status, limit, q.offset.unwrap_or(0))
        .await?;
    ok(
        "success",
        JobList {
            total,
            jobs: jobs.iter().map(JobSummary::from).collect(),
        },
    )
}

/// Health: version, uptime, active jobs, load average. Needs no token.
#[utoipa::path(get, path = "/api/v1/health", tag = "server",
    responses((status = 200, description = "Healthy", body = Envelope<Health>)))]
pub async fn health(State(st): State<AppState>) -> ApiResult<Health> {
    ok(
        "healthy",
        Health {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime: super::uptime(st.started().elapsed()),
            active_jobs: st.jobs().active_jobs().await,
            system_load: super::load_average(),
        },
    )
}

/// Any other path.
pub async fn not_found() -> ApiError {
    Error::NotFound("no such endpoint; see /api/v1/openapi.json".into()).into()
}
