//! One job's row: what a job is, as the store keeps it and the views show it; and a saved
//! plan in brief, as the plan list shows it.

use crate::apply::RunState;
use crate::apply::progress::RebuildNow;
use crate::jobs::alerts::AlertState;
use crate::jobs::{JobKind, JobPhase, JobStatus};
use crate::plan::{Plan, Summary};
use crate::settings::Mode;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One job row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub job_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub phase: Option<JobPhase>,
    pub plan_id: Option<String>,
    pub plan_digest: Option<String>,
    /// The job's settings as given, without credentials.
    pub config: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub total_tables: u64,
    pub processed_tables: u64,
    pub failed_tables: u64,
    /// Batches of `batch_size` tables finished, over all nodes.
    pub batches_done: u64,
    pub bytes_freed: u64,
    pub current_table: Option<String>,
    /// The process running the job (a CLI apply or a server): a job left `running` by a
    /// process that no longer exists was interrupted.
    pub owner_pid: Option<u32>,
    /// While it applies: running, throttled (why, since when) or paused.
    pub run_state: Option<RunState>,
    /// Whether its failure is posted to the alert webhook, and whether that happened.
    pub alert: Option<AlertState>,
    /// The rebuilds under way, with their progress inside the table.
    pub rebuilds: Vec<RebuildNow>,
    /// Seconds of work left by the plan's estimates and the progress so far; `None` when
    /// unknown (no estimates) or finished.
    pub remaining_s: Option<u64>,
}

impl JobRecord {
    /// A new job of `kind` owned by this process, created now.
    pub fn new(
        job_id: String,
        kind: JobKind,
        status: JobStatus,
        config: serde_json::Value,
    ) -> Self {
        Self {
            job_id,
            kind,
            status,
            phase: None,
            plan_id: None,
            plan_digest: None,
            config,
            created_at: Utc::now(),
            started_at: None,
            completed_at: None,
            error: None,
            total_tables: 0,
            processed_tables: 0,
            failed_tables: 0,
            batches_done: 0,
            bytes_freed: 0,
            current_table: None,
            owner_pid: Some(std::process::id()),
            run_state: None,
            alert: None,
            rebuilds: Vec::new(),
            remaining_s: None,
        }
    }

    /// Makes `plan` the job's: its id, digest and number of tables. Returns the digest.
    pub fn set_plan(&mut self, plan: &Plan) -> &str {
        self.plan_id = Some(plan.plan_id.clone());
        self.total_tables = plan.actions().count() as u64;
        self.plan_digest.insert(plan.computed_digest())
    }

    /// The job applies `plan` from now on: running, phase applying, started (now, unless it
    /// started earlier: planning, waiting for its nodes), with the plan's id, digest and number
    /// of tables. Returns the digest.
    pub fn start_applying(&mut self, plan: &Plan) -> &str {
        self.status = JobStatus::Running;
        self.phase = Some(JobPhase::Applying);
        self.started_at.get_or_insert_with(Utc::now);
        self.set_plan(plan)
    }
}

/// A saved plan in brief (`GET /api/v1/plans`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlanBrief {
    pub plan_id: String,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub cluster_id: String,
    /// The address discovery started from (`host:port`).
    pub seed: String,
    pub mode: Mode,
    pub summary: Summary,
}
