//! How a job is shown: the `data` of `GET /api/v1/recycle/jobs/{job_id}` (spec §3.2.3 and
//! §5.1 `RecycleJob`, plus `phase`, `plan_id` and per-table results), the items of the job list
//! (§3.2.5) and the WebSocket `job_update` message (§3.3). Built from the store, so the server
//! and the CLI's `status`/`monitor` (local store or HTTP) show the same thing.

use super::{JobKind, JobPhase, JobRecord, JobStatus};
use crate::apply::progress::RebuildNow;
use crate::apply::{ActionOutcome, ActionStatus, RunState};
use crate::error::ErrorCode;
use crate::plan::{Plan, PlanRequest};
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Spec §5.1 `JobProgress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobProgress {
    pub total_tables: u64,
    /// Tables with an outcome (done, failed or skipped).
    pub processed_tables: u64,
    pub failed_tables: u64,
    /// Batches of `batch_size` tables finished (over all nodes); the checkpoint after each is
    /// logged.
    pub batches_done: u64,
    /// processed ÷ total × 100 (100 for a finished job with nothing to do).
    pub percentage: f64,
    /// `schema.table` being rebuilt now; omitted between tables (spec `omitempty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_table: Option<String>,
    /// The rebuilds under way, one per node, with their progress inside the table (percent
    /// done and bytes written where the server tells, time left); omitted between tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebuilds: Vec<RebuildNow>,
}

/// One table's outcome (spec §5.1 `TableResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TableResult {
    /// `host:port` of the node that ran the rebuild.
    pub node: String,
    pub schema: String,
    pub table: String,
    pub status: ActionStatus,
    /// File size before and after, measured on the node.
    pub size_before_bytes: Option<u64>,
    pub size_after_bytes: Option<u64>,
    pub bytes_freed: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: Option<f64>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// Spec error code, when one applies.
    #[schema(value_type = Option<u16>)]
    pub code: Option<ErrorCode>,
}

impl From<&ActionOutcome> for TableResult {
    fn from(o: &ActionOutcome) -> Self {
        Self {
            node: o.node.clone(),
            schema: o.schema.clone(),
            table: o.table.clone(),
            status: o.status,
            size_before_bytes: o.size_before,
            size_after_bytes: o.size_after,
            bytes_freed: o.bytes_freed,
            started_at: o.started_at,
            finished_at: o.finished_at,
            duration_seconds: o.duration(),
            error: o.error.clone(),
            code: o.code,
        }
    }
}

/// Spec §5.1 `JobStatistics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobStatistics {
    /// Measured, in MiB (rounded down).
    pub space_freed_mb: u64,
    /// Measured, in bytes.
    pub space_freed_bytes: u64,
    /// `HH:MM:SS` since the job started (to its end when it ended).
    pub time_elapsed: String,
    /// `HH:MM:SS` of work left: the plan's duration estimates of the tables not done yet
    /// (scaled by how the finished ones compared with theirs) and the running rebuilds' own
    /// progress; for a plan without estimates, at the pace so far (`null` until a table is
    /// done); `null` when the job ended.
    pub estimated_remaining: Option<String>,
    /// Per-table results, in the order they happened.
    pub tables_processed: Vec<TableResult>,
}

/// The login a job connects with (spec §5.1 `DatabaseTarget`), without its password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub host: String,
    pub port: u16,
    pub username: String,
    /// The login of the other nodes, when they have their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_username: Option<String>,
    /// The TLS mode of the job's connections.
    #[serde(default)]
    pub ssl_mode: crate::mysql::tls::SslMode,
}

impl TargetView {
    /// `seed` reached with `spec`'s logins and TLS.
    fn new(seed: &crate::mysql::Endpoint, spec: &crate::mysql::ConnectSpec) -> Self {
        Self {
            host: seed.host.clone(),
            port: seed.port,
            username: spec.credentials.user.clone(),
            replica_username: spec.replica.as_ref().map(|r| r.user.clone()),
            ssl_mode: spec.tls.ssl_mode,
        }
    }
}

/// The settings a job runs with (spec §5.1 `RecycleConfig`): the spec's keys with the values
/// in force (a key the request left out shows the default it took), then the design's plan
/// settings and filters. A job applying a plan shows the plan's settings and seed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecycleConfig {
    /// The node planned from (a plan job: the plan's seed) and the user logged in as.
    pub target: TargetView,
    /// The cluster of `database.clusters` the target came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Only these databases (globs); omitted for all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
    /// Only these tables (globs); omitted for all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_databases: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_tables: Vec<String>,
    /// `mode`, `threshold_mb`, `threshold_percent`, `exclude_primary`, `batch_size`, `timeout`
    /// (spec) and the design's `scope`, `parallel`, `lock_wait_timeout`, `max_lag`, … .
    #[serde(flatten)]
    pub settings: Settings,
    /// Statistics refreshed before the scan.
    pub analyze: bool,
    /// Levels of discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// Plan only.
    pub dry_run: bool,
    /// The plan applied (a plan job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// The digest the plan was pinned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_digest: Option<String>,
}

impl RecycleConfig {
    /// A job that plans `req` (and applies the plan unless `dry_run`), connected with `spec`.
    pub fn planning(req: &PlanRequest, spec: &crate::mysql::ConnectSpec, dry_run: bool) -> Self {
        Self {
            target: TargetView::new(&req.seed, spec),
            cluster: req.cluster_name.clone(),
            databases: req.filter.databases.clone(),
            tables: req.filter.tables.clone(),
            exclude_databases: req.filter.exclude_databases.clone(),
            exclude_tables: req.filter.exclude_tables.clone(),
            settings: req.settings.clone(),
            analyze: req.analyze,
            max_depth: Some(req.max_depth),
            dry_run,
            plan_id: None,
            expect_digest: None,
        }
    }

    /// A job that applies `plan`, connected with `spec`.
    pub fn applying(
        plan: &Plan,
        spec: &crate::mysql::ConnectSpec,
        expect_digest: Option<&str>,
    ) -> Self {
        Self {
            target: TargetView::new(&plan.cluster.seed, spec),
            cluster: None,
            databases: Vec::new(),
            tables: Vec::new(),
            exclude_databases: Vec::new(),
            exclude_tables: Vec::new(),
            settings: plan.settings.clone(),
            analyze: false,
            max_depth: None,
            dry_run: false,
            plan_id: Some(plan.plan_id.clone()),
            expect_digest: expect_digest.map(str::to_string),
        }
    }

    /// As stored with the job.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A job (spec §5.1 `RecycleJob` plus the design's `phase`, `plan_id`, `plan_digest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub job_id: String,
    /// `recycle` (plan, then apply), `apply` (a saved plan) or `plan` (dry run).
    pub kind: JobKind,
    pub status: JobStatus,
    /// `planning`, `waiting` (for another job to release a node) or `applying`.
    pub phase: Option<JobPhase>,
    pub plan_id: Option<String>,
    pub plan_digest: Option<String>,
    /// The settings the job runs with ([`RecycleConfig`]), never a password.
    #[schema(value_type = RecycleConfig)]
    pub config: serde_json::Value,
    pub progress: JobProgress,
    pub statistics: JobStatistics,
    pub created_at: DateTime<Utc>,
    /// Omitted until the job starts (spec §5.1 `omitempty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Omitted until the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Omitted unless the job failed or stopped short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While applying: `{"state": "running"}`, `{"state": "throttled", "reason", "since"}` (a
    /// gate holds: replica lag, load) or `{"state": "paused", "reason", "since"}`.
    pub run_state: Option<RunState>,
}

/// An item of the job list (spec §3.2.5, plus what `monitor` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSummary {
    pub job_id: String,
    /// `recycle` (plan, then apply), `apply` (a saved plan) or `plan` (dry run).
    pub kind: JobKind,
    pub status: JobStatus,
    /// `planning`, `waiting` (for another job to release a node) or `applying`.
    pub phase: Option<JobPhase>,
    pub plan_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Omitted until the job starts (as in the job view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Omitted until the job ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Percentage done.
    pub progress: f64,
    pub total_tables: u64,
    pub processed_tables: u64,
    pub failed_tables: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_table: Option<String>,
    pub space_freed_mb: u64,
    /// Omitted unless the job failed or stopped short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While applying: `{"state": "running"}`, `{"state": "throttled", "reason", "since"}` (a
    /// gate holds: replica lag, load) or `{"state": "paused", "reason", "since"}`.
    pub run_state: Option<RunState>,
    /// The rebuilds under way with their progress inside the table; omitted between tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebuilds: Vec<RebuildNow>,
}

/// The WebSocket message (spec §3.3), sent on every change of a job's status or progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobUpdate {
    /// Always `job_update`.
    #[serde(rename = "type")]
    pub kind: String,
    pub job_id: String,
    pub status: JobStatus,
    /// Percentage done.
    pub progress: f64,
    pub timestamp: DateTime<Utc>,
    pub phase: Option<JobPhase>,
    pub processed_tables: u64,
    pub total_tables: u64,
    pub current_table: Option<String>,
    pub space_freed_mb: u64,
    /// While applying.
    pub run_state: Option<RunState>,
    /// The rebuilds under way with their progress inside the table (as in the job view).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebuilds: Vec<RebuildNow>,
    /// `HH:MM:SS` of work left (as in the job view), while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_remaining: Option<String>,
}

const MIB: u64 = 1024 * 1024;

/// processed ÷ total in percent; a finished job with nothing to do is at 100.
pub fn percentage(j: &JobRecord) -> f64 {
    if j.total_tables == 0 {
        return if j.status == JobStatus::Completed {
            100.0
        } else {
            0.0
        };
    }
    let p = j.processed_tables as f64 / j.total_tables as f64 * 100.0;
    (p.min(100.0) * 10.0).round() / 10.0
}

/// `HH:MM:SS` (hours may pass 99).
pub fn hms(secs: i64) -> String {
    let s = secs.max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn elapsed(j: &JobRecord, now: DateTime<Utc>) -> i64 {
    match j.started_at {
        Some(s) => (j.completed_at.unwrap_or(now) - s).num_seconds(),
        None => 0,
    }
}

impl JobView {
    /// Job `job_id` as the store has it now, with its ledger; 1006 when there is none.
    pub async fn load(store: &super::Store, job_id: &str) -> crate::error::Result<Self> {
        let job = store.existing_job(job_id).await?;
        let outcomes = store.outcomes(job_id).await?;
        Ok(Self::new(&job, &outcomes, Utc::now()))
    }
}

impl JobView {
    /// The view of `j` with its ledger `outcomes`, as of `now`.
    pub fn new(j: &JobRecord, outcomes: &[ActionOutcome], now: DateTime<Utc>) -> Self {
        let el = elapsed(j, now);
        let remaining = match j.remaining_s {
            _ if j.status.is_final() => None,
            Some(s) => Some(hms(s as i64)),
            None => (j.processed_tables > 0).then(|| {
                let left = j.total_tables.saturating_sub(j.processed_tables) as f64;
                hms((el as f64 / j.processed_tables as f64 * left).round() as i64)
            }),
        };
        Self {
            job_id: j.job_id.clone(),
            kind: j.kind,
            status: j.status,
            phase: j.phase,
            plan_id: j.plan_id.clone(),
            plan_digest: j.plan_digest.clone(),
            config: j.config.clone(),
            progress: JobProgress {
                total_tables: j.total_tables,
                processed_tables: j.processed_tables,
                failed_tables: j.failed_tables,
                batches_done: j.batches_done,
                percentage: percentage(j),
                current_table: j.current_table.clone(),
                rebuilds: j.rebuilds.clone(),
            },
            statistics: JobStatistics {
                space_freed_mb: j.bytes_freed / MIB,
                space_freed_bytes: j.bytes_freed,
                time_elapsed: hms(el),
                estimated_remaining: remaining,
                tables_processed: outcomes.iter().map(TableResult::from).collect(),
            },
            created_at: j.created_at,
            started_at: j.started_at,
            completed_at: j.completed_at,
            error: j.error.clone(),
            run_state: j.run_state.clone(),
        }
    }
}

impl From<&JobRecord> for JobSummary {
    fn from(j: &JobRecord) -> Self {
        Self {
            job_id: j.job_id.clone(),
            kind: j.kind,
            status: j.status,
            phase: j.phase,
            plan_id: j.plan_id.clone(),
            created_at: j.created_at,
            started_at: j.started_at,
            completed_at: j.completed_at,
            progress: percentage(j),
            total_tables: j.total_tables,
            processed_tables: j.processed_tables,
            failed_tables: j.failed_tables,
            current_table: j.current_table.clone(),
            space_freed_mb: j.bytes_freed / MIB,
            error: j.error.clone(),
            run_state: j.run_state.clone(),
            rebuilds: j.rebuilds.clone(),
        }
    }
}

impl From<&JobRecord> for JobUpdate {
    fn from(j: &JobRecord) -> Self {
        Self {
            kind: "job_update".into(),
            job_id: j.job_id.clone(),
            status: j.status,
            progress: percentage(j),
            timestamp: Utc::now(),
            phase: j.phase,
            processed_tables: j.processed_tables,
            total_tables: j.total_tables,
            current_table: j.current_table.clone(),
            space_freed_mb: j.bytes_freed / MIB,
            run_state: j.run_state.clone(),
            rebuilds: j.rebuilds.clone(),
            estimated_remaining: j
                .remaining_s
                .filter(|_| !j.status.is_final())
                .map(|s| hms(s as i64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_percentages() {
        assert_eq!(hms(930), "00:15:30");
        assert_eq!(hms(-5), "00:00:00");
        let mut j = JobRecord::new(
            "job-1".into(),
            JobKind::Apply,
            JobStatus::Running,
            Default::default(),
        );
        j.total_tables = 3;
        j.processed_tables = 1;
        assert_eq!(percentage(&j), 33.3);
        j.started_at = Some(Utc::now() - chrono::Duration::seconds(60));
        let v = JobView::new(&j, &[], Utc::now());
        assert_eq!(
            v.statistics.estimated_remaining.as_deref(),
            Some("00:02:00")
        );
        // The fields in the order they always had (`status --format json` prints them so).
        let keys_in_order = |text: String, keys: &[&str]| {
            let at: Vec<usize> = keys
                .iter()
                .map(|k| text.find(&format!("\"{k}\":")).expect(k))
                .collect();
            assert!(at.is_sorted(), "{keys:?} in {text}");
        };
        keys_in_order(
            serde_json::to_string(&v).unwrap(),
            &[
                "job_id",
                "kind",
                "status",
                "phase",
                "plan_id",
                "plan_digest",
                "config",
                "progress",
                "statistics",
                "created_at",
                "started_at",
                "run_state",
            ],
        );
        // Unset, they are omitted (spec §5.1 `omitempty`).
        let shown = serde_json::to_value(&v).unwrap();
        for key in ["completed_at", "error"] {
            assert!(shown.get(key).is_none(), "{key}: {shown}");
        }
        keys_in_order(
            serde_json::to_string(&JobSummary::from(&j)).unwrap(),
            &[
                "job_id",
                "kind",
                "status",
                "phase",
                "plan_id",
                "created_at",
                "started_at",
                "progress",
                "total_tables",
                "processed_tables",
                "failed_tables",
                "space_freed_mb",
                "run_state",
            ],
        );
        let back: JobView = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
        assert_eq!(back, v);
        let js = serde_json::to_value(JobUpdate::from(&j)).unwrap();
        assert_eq!(js["type"], "job_update");
        assert_eq!(js["status"], "running");
    }
}
