//! Jobs: an apply (from the CLI or the server) is a job with an id, a status and a ledger of
//! per-table outcomes, kept in the SQLite job store ([`store`]). [`runner`] is the one job
//! lifecycle both use around the applier's executor; [`manager`] is the server's queue,
//! workers, node locks and cancellation; [`view`] is how a job is shown (REST, WebSocket,
//! `status`, `monitor`); [`alerts`] posts failed jobs to Alertmanager.

pub mod alerts;
pub mod eta;
pub mod manager;
pub mod runner;
pub mod store;
pub mod view;

pub use manager::{JobManager, ManagerConfig, Submission, Work};
pub use store::{JobRecord, PlanBrief, Store, StoreTotals};

use serde::{Deserialize, Serialize};
use std::fmt;

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
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the job can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Plan, then apply the plan.
    Recycle,
    /// Apply a saved or given plan (the CLI's `apply`, a server job with a plan).
    Apply,
    /// Plan only (a dry run).
    Plan,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [Self::Recycle, Self::Apply, Self::Plan];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recycle => "recycle",
            Self::Apply => "apply",
            Self::Plan => "plan",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Where a running job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobPhase {
    Planning,
    /// For another job to release a node.
    Waiting,
    Applying,
}

impl JobPhase {
    pub const ALL: [JobPhase; 3] = [Self::Planning, Self::Waiting, Self::Applying];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Waiting => "waiting",
            Self::Applying => "applying",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for JobPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_named_as_on_the_wire() {
        for k in JobKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        for p in JobPhase::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(JobPhase::parse(p.as_str()), Some(p));
        }
        for s in JobStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobKind::parse("Apply"), None);
    }
}
