//! Rows of the store: the columns of a job that change while it runs and how they are bound,
//! and reading a stored row strictly — a value of another type or that does not parse is an
//! error naming the row and the column, never a panic or a default.

use super::JobRecord;
use crate::apply::ActionStatus;
use crate::error::{Error, Result};
use crate::jobs::alerts::AlertState;
use crate::jobs::{JobPhase, JobStatus};
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite};

/// The columns of a job's row that change while it runs, in the order [`bind_state`] binds
/// them.
pub(super) const JOB_STATE: [&str; 18] = [
    "status",
    "phase",
    "plan_id",
    "plan_digest",
    "started_at",
    "completed_at",
    "error",
    "total_tables",
    "processed_tables",
    "failed_tables",
    "batches_done",
    "bytes_freed",
    "current_table",
    "owner_pid",
    "run_state",
    "alert",
    "rebuilds",
    "remaining_s",
];

/// Binds the [`JOB_STATE`] columns of `j` to `q`.
pub(super) fn bind_state<'q>(
    q: Query<'q, Sqlite, SqliteArguments<'q>>,
    j: &'q JobRecord,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    q.bind(j.status.as_str())
        .bind(j.phase.map(JobPhase::as_str))
        .bind(&j.plan_id)
        .bind(&j.plan_digest)
        .bind(j.started_at.map(|t| t.to_rfc3339()))
        .bind(j.completed_at.map(|t| t.to_rfc3339()))
        .bind(&j.error)
        .bind(j.total_tables as i64)
        .bind(j.processed_tables as i64)
        .bind(j.failed_tables as i64)
        .bind(j.batches_done as i64)
        .bind(j.bytes_freed as i64)
        .bind(&j.current_table)
        .bind(j.owner_pid.map(i64::from))
        // JSON, `NULL` when there is none.
        .bind(
            j.run_state
                .as_ref()
                .and_then(|s| serde_json::to_string(s).ok()),
        )
        .bind(j.alert.map(AlertState::as_str))
        .bind(
            (!j.rebuilds.is_empty())
                .then(|| serde_json::to_string(&j.rebuilds).ok())
                .flatten(),
        )
        .bind(j.remaining_s.map(|s| s as i64))
}

/// The state `s` names, read by `parse`; else an error saying it is not `what`.
pub(super) fn named<T>(
    s: &str,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<T, String> {
    parse(s).ok_or_else(|| format!("{s:?} is not {what}"))
}

pub(super) fn job_status(s: &str) -> Result<JobStatus, String> {
    named(s, JobStatus::parse, "a job status")
}

pub(super) fn alert_state(s: &str) -> Result<AlertState, String> {
    named(s, AlertState::parse, "an alert state")
}

pub(super) fn action_status(s: &str) -> Result<ActionStatus, String> {
    named(s, ActionStatus::parse, "an action status")
}

/// A value stored as JSON.
pub(super) fn json<T: serde::de::DeserializeOwned>(s: &str) -> serde_json::Result<T> {
    serde_json::from_str(s)
}

/// A stored timestamp (RFC 3339).
pub(super) fn time(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc))
}

/// The columns of one stored row, each read as the type it must have: a value of another type
/// or that does not parse is an error of the store naming the row and the column, never a
/// panic or a default.
pub(super) struct Cols<'r> {
    row: &'r SqliteRow,
    /// The row, for messages: `job job-…`.
    what: String,
}

impl<'r> Cols<'r> {
    /// The row `what` names after its column `id`, itself read as text.
    pub(super) fn named(row: &'r SqliteRow, what: &str, id: &str) -> Result<Self> {
        let anon = Cols {
            row,
            what: format!("a {what} row"),
        };
        let name: String = anon.get(id)?;
        Ok(Cols {
            row,
            what: format!("{what} {name}"),
        })
    }

    pub(super) fn bad(&self, col: &str, why: impl std::fmt::Display) -> Error {
        Error::Store {
            message: format!("{}: column {col}: {why}", self.what),
            creating: false,
        }
    }

    pub(super) fn get<T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(
        &self,
        col: &str,
    ) -> Result<T> {
        self.row.try_get(col).map_err(|e| match e {
            sqlx::Error::ColumnDecode { source, .. } => self.bad(col, source),
            e => self.bad(col, e),
        })
    }

    /// A text column read by `parse`.
    pub(super) fn parse<T, E: std::fmt::Display>(
        &self,
        col: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T> {
        let text: String = self.get(col)?;
        parse(&text).map_err(|e| self.bad(col, e))
    }

    /// A text column that may be `NULL`, read by `parse`.
    pub(super) fn parse_opt<T, E: std::fmt::Display>(
        &self,
        col: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>> {
        let text: Option<String> = self.get(col)?;
        text.map(|t| parse(&t).map_err(|e| self.bad(col, e)))
            .transpose()
    }

    /// An integer column that may be `NULL`, as the unsigned type it counts in.
    pub(super) fn count_opt<T: TryFrom<i64>>(&self, col: &str) -> Result<Option<T>> {
        let n: Option<i64> = self.get(col)?;
        n.map(|n| T::try_from(n).map_err(|_| self.bad(col, format!("{n} is out of range"))))
            .transpose()
    }

    /// An integer column, as the unsigned type it counts in.
    pub(super) fn count<T: TryFrom<i64>>(&self, col: &str) -> Result<T> {
        self.count_opt(col)?
            .ok_or_else(|| self.bad(col, "NULL where a number is stored"))
    }
}
