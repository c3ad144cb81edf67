//! Request and response bodies of the REST API (spec §3, §5; design §8), and the JSON body
//! extractor that names the offending field of a bad body (400/1001).
//!
//! Passwords arrive as [`Secret`]s and go no further than the connection spec; what is stored
//! as a job's `config` is [`crate::jobs::view::RecycleConfig`], which has none.

use super::error::ApiError;
use crate::config::Config;
use crate::input;
use crate::inspect::{DEFAULT_SAMPLE_ROWS, TableFilter};
use crate::jobs::JobStatus;
use crate::mysql::address::{host_problem, port_problem, user_problem};
use crate::mysql::{ConnectSpec, Credentials, Endpoint};
use crate::plan::PlanRequest;
use crate::secret::Secret;
use crate::settings::{HumanDuration, LoadLimits, Mode, Order, Scope, SettingsOverrides};
use crate::topology::{DEFAULT_MAX_DEPTH, DEFAULT_PARALLEL};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The success envelope `{code: 0, message, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always 0.
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self {
            code: 0,
            message: message.into(),
            data: Some(data),
        }
    }
}

/// A JSON body, parsed strictly: unknown fields and wrong types are 400/1001 naming the field
/// path (`config.threshold_mb`), without echoing the value sent.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::field("body", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::field("body", "empty; a JSON object is expected"));
        }
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::field("body", format!("is not JSON: {e}")))?;
        let v: T = input::from_value(doc).map_err(|e| match e.field().as_str() {
            "" => ApiError::field("body", e.problem.to_string()),
            field => ApiError::field(field, e.problem.to_string()),
        })?;
        Ok(Self(v))
    }
}

/// The one parameter of a path (`{job_id}`, `{plan_id}`): one that cannot be read (not UTF-8
/// once percent-decoded) is 400/1001 naming it, in the error body like every other error.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::DeserializeError { key, .. } => key.clone(),
                    _ => "path".into(),
                };
                Err(ApiError::field(field, "is not valid UTF-8 text"))
            }
            Err(_) => Err(ApiError::field("path", "cannot be read")),
        }
    }
}

/// `POST /api/v1/topology/discover` (spec §3.2.1), or `{cluster}` from the config.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// A host name or an IP address (see [`crate::mysql::address::host_problem`]).
    #[schema(pattern = r"^[0-9A-Za-z._:\[\]-]{1,255}$")]
    pub host: Option<String>,
    /// Default 3306.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub username: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
    /// Levels walked up and down (default 10).
    pub max_depth: Option<usize>,
    /// A cluster of `database.clusters` in the server's config, instead of host and login.
    pub cluster: Option<String>,
}

/// A node and its login (spec §3.2.2 `target`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// A host name (letters, digits, `-`, `_` in dot-separated labels) or an IP address.
    #[schema(pattern = r"^[0-9A-Za-z._:\[\]-]{1,255}$")]
    pub host: String,
    /// Default 3306.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub username: String,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
}

/// A login for applying a plan (its nodes come from the plan).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub username: String,
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<Secret>,
}

/// Plan settings and filters (spec §5.1 `RecycleConfig` and the plan settings of design §5).
/// Unset fields take `recycling.defaults` of the server's config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub mode: Option<Mode>,
    /// `node` (default): only the target; `cluster`: every eligible node of its topology.
    pub scope: Option<Scope>,
    pub threshold_mb: Option<u64>,
    pub threshold_percent: Option<f64>,
    pub exclude_primary: Option<bool>,
    /// Only these databases (globs).
    #[serde(default)]
    pub databases: Vec<String>,
    /// Only these tables (globs).
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub exclude_databases: Vec<String>,
    #[serde(default)]
    pub exclude_tables: Vec<String>,
    pub batch_size: Option<usize>,
    /// Deadline of the apply, e.g. `1h` (a number with a unit, at least 1s).
    #[schema(value_type = Option<String>, example = "1h")]
    pub timeout: Option<HumanDuration>,
    #[schema(value_type = Option<String>, example = "5s")]
    pub lock_wait_timeout: Option<HumanDuration>,
    #[schema(value_type = Option<String>, example = "10s")]
    pub max_lag: Option<HumanDuration>,
    pub allow_blocking: Option<bool>,
    /// No rebuild starts while a status variable is above its limit (`Threads_running=25`).
    #[schema(value_type = Option<String>, example = "Threads_running=25")]
    pub max_load: Option<LoadLimits>,
    /// Above it during a rebuild, the statement is killed and the node stops.
    #[schema(value_type = Option<String>, example = "Threads_running=50")]
    pub critical_load: Option<LoadLimits>,
    /// How often a holding gate is checked again.
    #[schema(value_type = Option<String>, example = "1s")]
    pub check_interval: Option<HumanDuration>,
    /// Longest one rebuild may run before `KILL QUERY` (default: the server's
    /// `recycling.concurrency.worker_timeout`, unset: no limit but `timeout`).
    #[schema(value_type = Option<String>, example = "2h")]
    pub worker_timeout: Option<HumanDuration>,
    /// pt-heartbeat's table (`db.table`, `--utc`) for true lag.
    pub heartbeat_table: Option<String>,
    /// The order each node's tables run in (default `reclaim`: most estimated bytes per
    /// estimated second first).
    pub order: Option<Order>,
    /// Nodes worked on at once (default 10).
    pub parallel: Option<usize>,
    /// Refresh statistics first (`ANALYZE NO_WRITE_TO_BINLOG TABLE`).
    pub analyze: Option<bool>,
    /// Levels of topology discovery (default 10).
    pub max_depth: Option<usize>,
}

/// `POST /api/v1/recycle/jobs` and `POST /api/v1/plans`: either a target to plan (`target` or
/// `cluster`, with `config`) or a plan to apply (`plan_id` or `plan`, with `credentials` or
/// `cluster`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub target: Option<TargetBody>,
    /// A cluster of `database.clusters` in the server's config: its primary and login.
    pub cluster: Option<String>,
    pub config: Option<JobConfig>,
    /// Plan only: the job ends `completed` with its `plan_id`, nothing is executed.
    #[serde(default)]
    pub dry_run: bool,
    /// Apply this saved plan.
    pub plan_id: Option<String>,
    /// Apply this plan document (saved under its `plan_id`).
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
    /// The login for a plan's nodes.
    pub credentials: Option<CredentialsBody>,
    /// Refuse (409) unless the plan's content hashes to this digest.
    #[schema(pattern = "^sha256:[0-9a-f]{64}$")]
    pub expect_digest: Option<String>,
}

/// `data` of a created job (spec §3.2.2).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobCreated {
    pub job_id: String,
    pub status: crate::jobs::JobStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub plan_id: Option<String>,
}

/// `data` of a cancelled job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobCancelled {
    pub job_id: String,
    /// `cancelled` once the job stopped; `running` if it is still stopping.
    pub status: crate::jobs::JobStatus,
}

/// `PATCH /api/v1/recycle/jobs/{job_id}`: settings changed while the job runs (unset: kept).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobPatch {
    /// The most lag a replica may have before the next rebuild, e.g. `30s`.
    #[schema(value_type = Option<String>, example = "30s")]
    pub max_lag: Option<HumanDuration>,
    /// Status-variable limits before each rebuild, e.g. `Threads_running=40`.
    #[schema(value_type = Option<String>, example = "Threads_running=40")]
    pub max_load: Option<LoadLimits>,
    /// Tables per batch.
    pub batch_size: Option<usize>,
}

/// Whether a job applying in this server is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ControlState {
    Running,
    Paused,
}

/// `data` of pause, resume and patch: the job's control as it is now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobControl {
    pub job_id: String,
    /// `paused`, or `running` (a gate may still hold it: the job's `run_state` says).
    pub state: ControlState,
    #[schema(value_type = String, example = "10s")]
    pub max_lag: HumanDuration,
    #[schema(value_type = String, example = "Threads_running=25")]
    pub max_load: LoadLimits,
    pub batch_size: usize,
}

impl JobControl {
    /// The control of `job_id` as `h` has it.
    pub fn of(job_id: &str, h: &crate::apply::ApplyHandle) -> Self {
        let t = h.tunables();
        Self {
            job_id: job_id.to_string(),
            state: if h.paused().is_some() {
                ControlState::Paused
            } else {
                ControlState::Running
            },
            max_lag: HumanDuration(t.max_lag),
            max_load: t.max_load,
            batch_size: t.batch_size,
        }
    }
}

/// `data` of the job list (spec §3.2.5).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// Jobs matching the filter, over all pages.
    pub total: u64,
    pub jobs: Vec<crate::jobs::view::JobSummary>,
}

/// `data` of the health check (spec §3.2.6).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub version: String,
    /// Like `2h30m15s`.
    pub uptime: String,
    /// Jobs pending or running in this server.
    pub active_jobs: usize,
    /// The 1-minute load average.
    pub system_load: f64,
}

/// `GET /api/v1/recycle/jobs` query.
#[derive(Debug, Clone, Default, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// pending, running, completed, failed or cancelled.
    pub status: Option<JobStatus>,
    /// 1–1000 ([`MAX_LIMIT`]), default 20.
    pub limit: Option<u32>,
    /// Default 0.
    pub offset: Option<u32>,
}

impl ListParams {
    /// Reads a query string (`status=running&limit=5`): an unknown, repeated or unreadable
    /// parameter is 400/1001 naming it.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut p = Self::default();
        for (key, value) in query_pairs(query, &["status", "limit", "offset"])? {
            let number = || {
                value
                    .parse::<u32>()
                    .map_err(|_| ApiError::field(key.as_str(), "is not a whole number"))
            };
            match key.as_str() {
                "status" => {
                    p.status = Some(JobStatus::parse(&value).ok_or_else(|| {
                        ApiError::field(
                            "status",
                            "is not one of pending, running, completed, failed, cancelled",
                        )
                    })?)
                }
                "limit" => p.limit = Some(number()?),
                _ => p.offset = Some(number()?),
            }
        }
        Ok(p)
    }
}

/// The key/value pairs of a query string, each at most once and each one of `known`; anything
/// else is 400/1001 naming the parameter.
pub fn query_pairs(query: &str, known: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if out.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::field(key, "is given twice"));
        }
        if !known.contains(&key.as_ref()) {
            let mut list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let last = list.pop().unwrap_or_default();
            let expected = if list.is_empty() {
                last
            } else {
                format!("{} or {last}", list.join(", "))
            };
            return Err(ApiError::field(
                key.as_ref(),
                format!("unknown parameter, expected {expected}"),
            ));
        }
        out.push((key.into_owned(), value.into_owned()));
    }
    Ok(out)
}

/// The largest page of `GET /api/v1/recycle/jobs` and `GET /api/v1/plans`.
pub const MAX_LIMIT: u32 = 1000;

/// The page size of a list: `limit` (default 20) if it is 1–[`MAX_LIMIT`], else 400/1001.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("{limit} is not between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// Whether `d` is a digest as plans carry them: `sha256:` and 64 lowercase hex digits.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A 400/1001 naming `field` when `problem` says the value is wrong.
fn check(field: &str, problem: Option<&'static str>) -> Result<(), ApiError> {
    problem.map_or(Ok(()), |r| Err(ApiError::field(field, r)))
}

/// The address and login of a target, checked before anything connects.
fn check_login(prefix: &str, host: &str, port: Option<u16>, user: &str) -> Result<(), ApiError> {
    check(&format!("{prefix}host"), host_problem(host))?;
    check(&format!("{prefix}port"), port.and_then(port_problem))?;
    check(&format!("{prefix}username"), user_problem(user))
}

/// The login with `database.default`'s connect timeout (the handler gives it the server's
/// read pools).
fn spec(cfg: &Config, user: String, password: Option<Secret>) -> ConnectSpec {
    cfg.database.default.spec(Credentials {
        user,
        password: password.unwrap_or_default(),
    })
}

/// A named cluster of the config: its primary, its logins (the primary's, the replicas',
/// single nodes') and its TLS.
fn cluster(cfg: &Config, name: &str) -> Result<(Endpoint, ConnectSpec), ApiError> {
    // RECYCLER_DB_PASSWORD is already in the primary's password (Config::apply_env).
    cfg.cluster(name)
        .map_err(|e| ApiError::field("cluster", e.to_string()))?
        .target(&cfg.database.default)
        .map_err(|why| ApiError::field("cluster", why))
}

impl DiscoverRequest {
    /// The seed and login.
    pub fn target(&self, cfg: &Config) -> Result<(Endpoint, ConnectSpec), ApiError> {
        if let Some(name) = &self.cluster {
            if self.host.is_some() || self.username.is_some() {
                return Err(ApiError::field(
                    "cluster",
                    "give either cluster or host and username, not both",
                ));
            }
            return cluster(cfg, name);
        }
        let host = self
            .host
            .clone()
            .ok_or_else(|| ApiError::field("host", "is required (or cluster)"))?;
        let user = self
            .username
            .clone()
            .ok_or_else(|| ApiError::field("username", "is required (or cluster)"))?;
        check_login("", &host, self.port, &user)?;
        Ok((
            Endpoint::new(host, self.port.unwrap_or(3306)),
            spec(cfg, user, self.password.clone()),
        ))
    }
}

impl JobRequest {
    /// Whether the body names a plan to apply (else a target to plan).
    pub fn is_plan_job(&self) -> bool {
        self.plan_id.is_some() || self.plan.is_some()
    }

    /// For a plan job: the login for its nodes.
    pub fn plan_login(&self, cfg: &Config) -> Result<ConnectSpec, ApiError> {
        if self.target.is_some() || self.config.is_some() || self.dry_run {
            return Err(ApiError::field(
                if self.target.is_some() {
                    "target"
                } else if self.config.is_some() {
                    "config"
                } else {
                    "dry_run"
                },
                "not allowed with plan_id or plan: the plan fixes the nodes and settings",
            ));
        }
        if self.plan_id.is_some() && self.plan.is_some() {
            return Err(ApiError::field(
                "plan",
                "give either plan_id or plan, not both",
            ));
        }
        if let Some(d) = &self.expect_digest
            && !is_digest(d)
        {
            return Err(ApiError::field(
                "expect_digest",
                "is not a plan digest: sha256: and 64 lowercase hex digits",
            ));
        }
        match (&self.credentials, &self.cluster) {
            (Some(c), None) => {
                check("credentials.username", user_problem(&c.username))?;
                Ok(spec(cfg, c.username.clone(), c.password.clone()))
            }
            (None, Some(name)) => cluster(cfg, name).map(|(_, s)| s),
            (Some(_), Some(_)) => Err(ApiError::field(
                "credentials",
                "give either credentials or cluster, not both",
            )),
            (None, None) => Err(ApiError::field(
                "credentials",
                "is required to apply a plan (or cluster)",
            )),
        }
    }

    /// For a planning job: the plan request and login. `plan_id` is left empty (the store
    /// gives one).
    pub fn plan_request(&self, cfg: &Config) -> Result<(PlanRequest, ConnectSpec), ApiError> {
        if self.credentials.is_some() || self.expect_digest.is_some() {
            return Err(ApiError::field(
                if self.credentials.is_some() {
                    "credentials"
                } else {
                    "expect_digest"
                },
                "only with plan_id or plan",
            ));
        }
        let (seed, spec) = match (&self.target, &self.cluster) {
            (Some(t), None) => {
                check_login("target.", &t.host, t.port, &t.username)?;
                (
                    Endpoint::new(t.host.clone(), t.port.unwrap_or(3306)),
                    spec(cfg, t.username.clone(), t.password.clone()),
                )
            }
            (None, Some(name)) => cluster(cfg, name)?,
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "target",
                    "give either target or cluster, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::field(
                    "target",
                    "is required (or cluster, or plan_id/plan with credentials)",
                ));
            }
        };
        let c = self.config.clone().unwrap_or_default();
        let settings = SettingsOverrides {
            mode: c.mode,
            scope: c.scope,
            threshold_mb: c.threshold_mb,
            threshold_percent: c.threshold_percent,
            exclude_primary: c.exclude_primary,
            batch_size: c.batch_size,
            timeout: c.timeout,
            lock_wait_timeout: c.lock_wait_timeout,
            max_lag: c.max_lag,
            allow_blocking: c.allow_blocking,
            check_interval: c.check_interval,
            max_load: c.max_load.clone(),
            critical_load: c.critical_load.clone(),
            worker_timeout: c.worker_timeout,
            heartbeat_table: c.heartbeat_table.clone(),
            order: c.order,
        }
        .resolve(
            &cfg.recycling.defaults,
            c.parallel.unwrap_or(DEFAULT_PARALLEL),
            cfg.recycling.concurrency.worker_timeout,
        )
        .map_err(|b| ApiError::field(format!("config.{}", b.name), b.reason))?;
        Ok((
            PlanRequest {
                seed,
                settings,
                filter: TableFilter {
                    databases: c.databases,
                    tables: c.tables,
                    exclude_databases: c.exclude_databases,
                    exclude_tables: c.exclude_tables,
                },
                analyze: c.analyze.unwrap_or(false),
                max_depth: c.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
                cluster_name: self.cluster.clone(),
                plan_id: String::new(),
                sample_rows: DEFAULT_SAMPLE_ROWS,
                full_scan: false,
            },
            spec,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_list_query_is_read_typed_naming_a_bad_parameter() {
        let p = ListParams::parse("status=running&limit=5&offset=10").unwrap();
        assert_eq!(
            (p.status, p.limit, p.offset),
            (Some(JobStatus::Running), Some(5), Some(10))
        );
        assert_eq!(ListParams::parse("").unwrap(), ListParams::default());
        let field = |q: &str| match ListParams::parse(q) {
            Err(ApiError(crate::error::Error::InvalidArgument { field, .. })) => field,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(field("status=sleeping").as_deref(), Some("status"));
        assert_eq!(field("limit=-1").as_deref(), Some("limit"));
        assert_eq!(field("offset=x").as_deref(), Some("offset"));
        assert_eq!(field("limit=1&limit=2").as_deref(), Some("limit"));
        assert_eq!(field("pasword=Pw-s3cr3t").as_deref(), Some("pasword"));
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert!(is_digest(&d));
        assert!(!is_digest(&d.to_uppercase()) && !is_digest("sha256:00") && !is_digest("md5:x"));
    }
}
