//! Jobs: an apply (from the CLI or the server) is a job with an id, a status and a ledger of
//! per-table outcomes, kept in the SQLite job store ([`store`]). [`runner`] is the one job
//! lifecycle both use around the applier's executor; [`manager`] is the server's queue,
//! workers, node locks and cancellation; [`view`] is how a job is shown (REST, WebSocket,
//! `status`, `monitor`); [`alerts`] posts failed jobs to Alertmanager.

pub mod alerts;
pub mod manager;
pub mod runner;
pub mod store;
pub mod view;

pub use manager::{JobManager, ManagerConfig, Submission, Work};
pub use store::{JobRecord, Store, StoreTotals};

use serde::{Deserialize, Serialize};

/// Job status (spec §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The spec's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}
