//! Applying a reviewed plan safely (design §6).
//!
//! The plan is an intention, not trusted input: [`preflight`] re-discovers the cluster and
//! refuses (exit 3) when any node drifted; [`execute`] then runs one worker per node (at most
//! `parallel` at once), tables one at a time, with a checkpoint before each. Every rebuild runs
//! on a dedicated session with a short `lock_wait_timeout` (held tables and 1205 are retried with
//! backoff, then the table is skipped), `sql_log_bin=0` set and verified in binlog-off, and its
//! `CONNECTION_ID()` known, so the deadline, the per-table `worker_timeout`, cancellation, a
//! panic and `critical_load` stop it on the server with `KILL QUERY` from a second connection. File sizes before and after are read from the
//! tablespace view: bytes freed are measured.
//!
//! Checkpoints run before every table: the one drift rule ([`drift`]) on the executing node and
//! every node its rebuild reaches, then the gates ([`gate`]: replay of the last rebuild and lag
//! ([`lag`]), load, pause), each failing closed; [`control`] is how a running apply is paused,
//! resumed, panicked or re-tuned.
//!
//! Progress goes out as [`Event`]s on a channel (CLI progress bars; the job runner, whose job
//! records feed the server's WebSocket);
//! outcomes are written through a [`Ledger`] as they happen (the job store), which is also what
//! `--resume` reads.

mod checkpoint;
mod control;
mod disk;
mod drift;
mod executor;
mod gate;
mod lag;
mod preflight;
pub mod progress;
mod session;
mod statement;

pub use control::{ApplyHandle, Tunables, TunablesPatch, watch_files};
pub use executor::execute;
pub use preflight::{Preflight, preflight};
pub use session::{SessionSetup, use_schema};

use crate::error::ErrorCode;
use crate::plan::Plan;
use crate::settings::{Order, RecyclingDefaults};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// Outcome of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    /// Rebuilt; sizes measured.
    Done,
    /// The statement failed.
    Failed,
    /// Not run (or stopped): lock contention, deadline, cancel, drift, no longer qualifies, or
    /// done by an earlier run (`--resume`).
    Skipped,
}

impl ActionStatus {
    /// Every outcome.
    pub const ALL: [ActionStatus; 3] = [Self::Done, Self::Failed, Self::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What happened to one table on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub node: String,
    pub schema: String,
    pub table: String,
    pub status: ActionStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
    pub bytes_freed: u64,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// Spec error code, when one applies (1009 timeout, 1008 privilege, …).
    pub code: Option<ErrorCode>,
    /// A skip because the table needs no rebuild any more (gone, no longer in its own
    /// tablespace, or no longer qualifying — e.g. rebuilt by a run that died before recording
    /// it): nothing is left undone, so it does not make the apply partial.
    #[serde(default)]
    pub unneeded: bool,
    /// The plan's estimate of the rebuild's duration, and the model's inputs it was made from
    /// (rows, secondary indexes): kept with the measured duration, they calibrate the node's
    /// next estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_indexes: Option<u32>,
}

impl ActionOutcome {
    /// `status` for `schema.table` on `node`, finished now, nothing measured yet.
    pub fn new(node: &str, schema: &str, table: &str, status: ActionStatus) -> Self {
        Self {
            node: node.to_string(),
            schema: schema.to_string(),
            table: table.to_string(),
            status,
            started_at: None,
            finished_at: Utc::now(),
            size_before: None,
            size_after: None,
            bytes_freed: 0,
            error: None,
            code: None,
            unneeded: false,
            estimated_duration_s: None,
            rows: None,
            secondary_indexes: None,
        }
    }

    /// Seconds the statement ran.
    pub fn duration(&self) -> Option<f64> {
        self.started_at
            .map(|s| (self.finished_at - s).num_milliseconds() as f64 / 1000.0)
    }
}

/// Where outcomes are recorded as they happen (the job store implements it).
#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// Records one outcome of `job_id` for the plan with `digest`.
    async fn record(
        &self,
        job_id: &str,
        digest: &str,
        o: &ActionOutcome,
    ) -> crate::error::Result<()>;
    /// (node, schema, table) already done for the plan with `digest`, by any job.
    async fn done(&self, digest: &str) -> crate::error::Result<HashSet<(String, String, String)>>;
}

/// Progress of an apply, for the CLI and the server alike.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Preflight passed; execution starts.
    Started {
        total_actions: usize,
        nodes: Vec<(String, usize)>,
        /// The order each node's tables run in.
        order: Order,
    },
    /// A rebuild statement starts on a node.
    TableStarted {
        node: String,
        schema: String,
        table: String,
        size_before: u64,
        attempt: u32,
    },
    /// How far a running rebuild is (at its start, then every `check_interval`).
    Progress(progress::RebuildNow),
    /// The apply waits (metadata lock holders, a lock-wait retry's backoff).
    Waiting { node: String, reason: String },
    /// A node's gates opened or closed (replica lag, load, pause).
    Gate { node: String, state: RunState },
    /// An action has an outcome.
    TableFinished(ActionOutcome),
    /// A batch of `batch_size` tables on a node has its outcomes (the last batch may be
    /// shorter); the checkpoint before the next table follows. `batch` counts from 1.
    BatchDone {
        node: String,
        batch: usize,
        tables: usize,
        done: usize,
        total: usize,
    },
    /// A node's worker stopped early.
    NodeStopped { node: String, reason: String },
    /// Everything is over (the outcomes are in the report and were sent one by one).
    Finished,
}

impl Event {
    /// What a node is doing, for its progress bar and its `progress` log line: the rebuild
    /// starting (`rebuilding shop.orders (1.2 GiB), try 2`) or why it waits.
    pub fn activity(&self) -> Option<String> {
        match self {
            Self::TableStarted {
                schema,
                table,
                size_before,
                attempt,
                ..
            } => Some(format!(
                "rebuilding {schema}.{table} ({}){}",
                crate::plan::human_bytes(*size_before),
                if *attempt > 1 {
                    format!(", try {attempt}")
                } else {
                    String::new()
                }
            )),
            Self::Waiting { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }
}

/// Whether an apply (or one node of it) is going, held by a gate, or paused (the spec's job
/// status stays `running` through all three): `{"state": "running"}`, `{"state": "throttled",
/// "reason", "since"}` (a gate holds: replica lag, load) or `{"state": "paused", "reason",
/// "since"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RunState {
    Running,
    /// A gate holds: `reason` says which and what it waits for.
    Throttled {
        reason: String,
        since: DateTime<Utc>,
    },
    /// No new rebuild starts (a running one goes on).
    Paused {
        reason: String,
        since: DateTime<Utc>,
    },
}

impl RunState {
    /// `running`, `throttled` or `paused`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Throttled { .. } => "throttled",
            Self::Paused { .. } => "paused",
        }
    }

    /// One line: `throttled since 09:12:03 (waiting for replicas: …)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Running => "running".into(),
            Self::Throttled { reason, since } | Self::Paused { reason, since } => format!(
                "{} since {} ({reason})",
                self.as_str(),
                since.format("%H:%M:%S")
            ),
        }
    }
}

/// How to run (what is not in the plan).
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The job the outcomes belong to.
    pub job_id: String,
    /// Skip actions the ledger has as done for this plan.
    pub resume: bool,
    /// Nodes worked on at once (callers pass the plan's `parallel` or an override).
    pub parallel: usize,
    /// Tries of a rebuild that hits lock_wait_timeout (1205) before the table is skipped.
    pub lock_retries: u32,
    /// Wait before the second try; doubled for each further try.
    pub retry_backoff: Duration,
    /// Pause, resume, panic and the settings that change while it runs.
    pub handle: ApplyHandle,
    /// The apply's deadline when its clock started before [`execute`] (the job runner starts
    /// it before preflight); `None`: now + the plan's `timeout`.
    pub deadline: Option<tokio::time::Instant>,
    /// The order each node's tables run in, over the plan's (`--order`).
    pub order: Option<Order>,
    /// The apply's deadline from its start, over the plan's `timeout` (`apply --timeout`: a
    /// maintenance window).
    pub timeout: Option<crate::settings::HumanDuration>,
    /// Free bytes in each node's datadir (`--free-disk NODE=BYTES`), over what the server's
    /// `DISKS` plugin says.
    pub free_disk: std::collections::BTreeMap<String, u64>,
}

impl ApplyOptions {
    /// The options of job `job_id` applying `plan`: `parallel` nodes at once (the plan's
    /// `parallel` when `None`), the lock-wait retries and backoff of `recycling.defaults`, a new
    /// control handle on the plan's settings, and the deadline set when the apply starts.
    pub fn new(
        job_id: impl Into<String>,
        plan: &Plan,
        defaults: &RecyclingDefaults,
        parallel: Option<usize>,
        resume: bool,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            resume,
            parallel: parallel.unwrap_or(plan.settings.parallel).max(1),
            lock_retries: defaults.lock_retries,
            retry_backoff: defaults.retry_backoff.0,
            handle: ApplyHandle::new(&plan.settings),
            deadline: None,
            order: None,
            timeout: None,
            free_disk: Default::default(),
        }
    }

    /// The apply's time limit: `timeout` when given, else the plan's.
    pub fn timeout(&self, plan: &Plan) -> crate::settings::HumanDuration {
        self.timeout.unwrap_or(plan.settings.timeout)
    }
}

/// The result of an apply.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub job_id: String,
    pub plan_id: String,
    pub digest: String,
    pub outcomes: Vec<ActionOutcome>,
    /// (node, schema, table) done by an earlier run of the same plan (`--resume`), not run again.
    pub already_done: Vec<(String, String, String)>,
    /// The deadline passed: running statements were killed, the rest skipped.
    pub timed_out: bool,
    pub cancelled: bool,
    /// Why it panicked (`--panic-file`): running statements were killed, the rest skipped.
    pub panicked: Option<String>,
    /// Node-level stops (privilege, drift, connection lost).
    pub node_errors: Vec<String>,
    /// The order each node's tables ran in (none when nothing ran).
    pub order: Option<Order>,
}

impl ApplyReport {
    pub fn count(&self, s: ActionStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == s).count()
    }

    pub fn bytes_freed(&self) -> u64 {
        self.outcomes.iter().map(|o| o.bytes_freed).sum()
    }

    /// Every action done (or done by an earlier run, or no longer needed), nothing stopped.
    pub fn complete(&self) -> bool {
        !self.timed_out
            && !self.cancelled
            && self.panicked.is_none()
            && self.node_errors.is_empty()
            && self
                .outcomes
                .iter()
                .all(|o| o.status == ActionStatus::Done || o.unneeded)
    }
}
