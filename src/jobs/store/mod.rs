//! The SQLite job store (`persistence.job_state.file`, WAL): jobs, plans and the per-table
//! ledger. Written as events happen; never holds a password (job configs are stored as given
//! minus credentials, which callers strip). The queries are here; `record` is a job's row,
//! `rows` binds and strictly decodes rows (a value that does not decode is an error naming the
//! row and column), `schema` applies the migrations in `migrations/` when a store is opened
//! (adopting a store made before them), `seen` the nodes each discovery found (the topology's
//! memory of nodes seen before).

mod record;
mod rows;
mod schema;
mod seen;

pub use record::{JobRecord, PlanBrief};
use rows::{
    Cols, JOB_STATE, action_status, alert_state, bind_state, job_status, json, named, time,
};

use super::alerts::AlertState;
use super::{JobKind, JobPhase, JobStatus};
use crate::apply::{ActionOutcome, ActionStatus, Ledger};
use crate::error::{Error, ErrorCode, Result};
use crate::plan::Plan;
use crate::plan::duration::{PastRebuild, RebuildHistory, Work};
use crate::settings::Mode;
use chrono::{NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

/// What the store knows in aggregate (for `/metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreTotals {
    /// Jobs per status.
    pub jobs: Vec<(JobStatus, u64)>,
    /// Bytes freed by every job (measured).
    pub bytes_freed: u64,
    /// Ledger outcomes per action status.
    pub tables: Vec<(ActionStatus, u64)>,
    /// Finished jobs that started, with at most each of the asked bucket bounds in seconds
    /// from start to end (cumulative, as Prometheus histograms count).
    pub duration_buckets: Vec<u64>,
    /// How many finished jobs started, and their seconds from start to end in all.
    pub duration_count: u64,
    pub duration_sum: f64,
}

/// Whether process `pid` exists (and is not this one).
fn other_process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A statement of the store failed (1000).
fn db_err(e: sqlx::Error) -> Error {
    Error::Store {
        message: e.to_string(),
        creating: false,
    }
}

/// A statement of the store failed while it recorded a new job or plan (1005).
fn create_err(e: sqlx::Error) -> Error {
    Error::Store {
        message: e.to_string(),
        creating: true,
    }
}

impl Store {
    /// Opens (creating) the store at `path` in WAL mode.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| Error::file(path, e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a crash of this process (what --resume needs)
            // without an fsync per ledger row.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = Self::connect(opts)
            .await
            .map_err(|e| Error::file(path, e))?;
        Self::set_up(pool).await.map_err(|e| Error::Store {
            message: format!("{}: {e}", path.display()),
            creating: false,
        })
    }

    /// A store that lives in memory (when `persistence.job_state.enabled` is false).
    pub async fn in_memory() -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db_err)?;
        let pool = Self::connect(opts).await.map_err(db_err)?;
        Self::set_up(pool).await.map_err(|message| Error::Store {
            message,
            creating: false,
        })
    }

    async fn connect(opts: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
        SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
    }

    /// Brings the store's tables up to date ([`schema::migrate`]).
    async fn set_up(pool: SqlitePool) -> Result<Self, String> {
        schema::migrate(&pool).await?;
        Ok(Self { pool })
    }

    /// The next `<kind>-YYYYMMDD-NNN` id for `day`.
    pub async fn next_id(&self, kind: &str, day: NaiveDate) -> Result<String> {
        let d = day.format("%Y%m%d").to_string();
        let mut tx: Transaction<'_, Sqlite> = self.pool.begin().await.map_err(create_err)?;
        sqlx::query(
            "INSERT INTO counters (kind, day, n) VALUES (?, ?, 1) \
             ON CONFLICT (kind, day) DO UPDATE SET n = n + 1",
        )
        .bind(kind)
        .bind(&d)
        .execute(&mut *tx)
        .await
        .map_err(create_err)?;
        let n: i64 = sqlx::query_scalar("SELECT n FROM counters WHERE kind = ? AND day = ?")
            .bind(kind)
            .bind(&d)
            .fetch_one(&mut *tx)
            .await
            .map_err(create_err)?;
        tx.commit().await.map_err(create_err)?;
        Ok(format!("{kind}-{d}-{n:03}"))
    }

    /// Inserts a job.
    pub async fn insert_job(&self, j: &JobRecord) -> Result<()> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO jobs (job_id, kind, config, created_at, {}) VALUES (?, ?, ?, ?, {})",
                JOB_STATE.join(", "),
                ["?"; JOB_STATE.len()].join(", ")
            )
        });
        let q = sqlx::query(&SQL)
            .bind(&j.job_id)
            .bind(j.kind.as_str())
            .bind(j.config.to_string())
            .bind(j.created_at.to_rfc3339());
        bind_state(q, j)
            .execute(&self.pool)
            .await
            .map_err(create_err)?;
        Ok(())
    }

    /// Writes every mutable field of a job.
    pub async fn update_job(&self, j: &JobRecord) -> Result<()> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let set: Vec<String> = JOB_STATE.iter().map(|c| format!("{c} = ?")).collect();
            format!("UPDATE jobs SET {} WHERE job_id = ?", set.join(", "))
        });
        bind_state(sqlx::query(&SQL), j)
            .bind(&j.job_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    fn job_from_row(r: &SqliteRow) -> Result<JobRecord> {
        let c = Cols::named(r, "job", "job_id")?;
        Ok(JobRecord {
            job_id: c.get("job_id")?,
            kind: c.parse("kind", |s| named(s, JobKind::parse, "a job kind"))?,
            status: c.parse("status", job_status)?,
            phase: c.parse_opt("phase", |s| named(s, JobPhase::parse, "a job phase"))?,
            plan_id: c.get("plan_id")?,
            plan_digest: c.get("plan_digest")?,
            config: c.parse("config", json)?,
            created_at: c.parse("created_at", time)?,
            started_at: c.parse_opt("started_at", time)?,
            completed_at: c.parse_opt("completed_at", time)?,
            error: c.get("error")?,
            total_tables: c.count("total_tables")?,
            processed_tables: c.count("processed_tables")?,
            failed_tables: c.count("failed_tables")?,
            batches_done: c.count("batches_done")?,
            bytes_freed: c.count("bytes_freed")?,
            current_table: c.get("current_table")?,
            owner_pid: c.count_opt("owner_pid")?,
            run_state: c.parse_opt("run_state", json)?,
            alert: c.parse_opt("alert", alert_state)?,
            rebuilds: c.parse_opt("rebuilds", json)?.unwrap_or_default(),
            remaining_s: c.count_opt("remaining_s")?,
        })
    }

    /// Records where the failure alert of `job_id` stands.
    pub async fn set_alert(&self, job_id: &str, state: AlertState) -> Result<()> {
        sqlx::query("UPDATE jobs SET alert = ? WHERE job_id = ?")
            .bind(state.as_str())
            .bind(job_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Failed jobs whose alert was not delivered, oldest first.
    pub async fn alerts_pending(&self) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE alert = ? ORDER BY created_at, job_id")
            .bind(AlertState::Pending.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(Self::job_from_row).collect()
    }

    /// One job, or [`Error::JobNotFound`].
    pub async fn existing_job(&self, job_id: &str) -> Result<JobRecord> {
        self.job(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound(job_id.into()))
    }

    /// One job.
    pub async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.recover_dead_owners().await?;
        let r = sqlx::query("SELECT * FROM jobs WHERE job_id = ?")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.as_ref().map(Self::job_from_row).transpose()
    }

    /// Jobs, newest first, optionally of one status; and the total count matching. Each branch
    /// is one index range scan (`jobs_created`, `jobs_status_created`).
    pub async fn jobs(
        &self,
        status: Option<JobStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<JobRecord>, u64)> {
        self.recover_dead_owners().await?;
        let (rows, total) = match status {
            Some(st) => {
                let rows = sqlx::query(
                    "SELECT * FROM jobs WHERE status = ? \
                     ORDER BY created_at DESC, job_id DESC LIMIT ? OFFSET ?",
                )
                .bind(st.as_str())
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = ?")
                    .bind(st.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                (rows, total)
            }
            None => {
                let rows = sqlx::query(
                    "SELECT * FROM jobs ORDER BY created_at DESC, job_id DESC LIMIT ? OFFSET ?",
                )
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                (rows, total)
            }
        };
        let jobs = rows.iter().map(Self::job_from_row).collect::<Result<_>>()?;
        Ok((jobs, total as u64))
    }

    /// Jobs of any of `statuses`, newest first (for `monitor`).
    pub async fn jobs_with(&self, statuses: &[JobStatus], limit: u32) -> Result<Vec<JobRecord>> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        self.recover_dead_owners().await?;
        let sql = format!(
            "SELECT * FROM jobs WHERE status IN ({}) ORDER BY created_at DESC, job_id DESC LIMIT ?",
            vec!["?"; statuses.len()].join(", ")
        );
        let mut q = sqlx::query(&sql);
        for st in statuses {
            q = q.bind(st.as_str());
        }
        let rows = q
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(Self::job_from_row).collect()
    }

    /// Marks the jobs left `pending` or `running` by a process that is gone (a crash, a kill,
    /// a previous run of this server) as `failed` with "interrupted"; returns their ids. Jobs of
    /// a live process (a CLI apply in another terminal) are left alone. Their ledger stays: a
    /// new job from the same plan skips the tables they finished.
    /// At a process's start, when no job can be its own yet (a pid seen again is another
    /// process's, reused).
    pub async fn recover_interrupted(&self) -> Result<Vec<String>> {
        self.mark_interrupted(|pid| pid.is_some_and(other_process_alive))
            .await
    }

    /// Before every read of jobs: a job whose owning process is gone (a CLI apply killed with
    /// SIGKILL, or exited at a second Ctrl-C) shows as interrupted at once, not `running` until
    /// another apply happens to recover it. This process's own jobs are alive, and so is a job
    /// with no owner recorded (it cannot be told).
    async fn recover_dead_owners(&self) -> Result<()> {
        let me = std::process::id();
        self.mark_interrupted(|pid| pid.is_none_or(|p| p == me || other_process_alive(p)))
            .await
            .map(|_| ())
    }

    async fn mark_interrupted(&self, alive: impl Fn(Option<u32>) -> bool) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT * FROM jobs WHERE status IN (?, ?)")
            .bind(JobStatus::Pending.as_str())
            .bind(JobStatus::Running.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut ids = Vec::new();
        for r in &rows {
            let mut j = Self::job_from_row(r)?;
            if alive(j.owner_pid) {
                continue;
            }
            let was = j.status;
            j.status = JobStatus::Failed;
            j.error = Some(match (was, &j.current_table) {
                (JobStatus::Pending, _) => {
                    "interrupted: the process that queued it stopped before it started".into()
                }
                (_, Some(t)) => format!(
                    "interrupted: the process running it stopped while {t} was being rebuilt \
                     (that statement may still be running on the node); a new job from the \
                     same plan skips the tables already done"
                ),
                _ => "interrupted: the process running it stopped; a new job from the same \
                      plan skips the tables already done"
                    .into(),
            });
            j.completed_at = Some(Utc::now());
            j.alert = AlertState::failed(j.alert);
            j.current_table = None;
            j.run_state = None;
            j.rebuilds.clear();
            j.remaining_s = None;
            self.update_job(&j).await?;
            ids.push(j.job_id);
        }
        Ok(ids)
    }

    /// Aggregates for `/metrics`, with the job-duration histogram over `bounds` (seconds).
    pub async fn totals(&self, bounds: &[f64]) -> Result<StoreTotals> {
        let jobs: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        let bytes: Option<i64> = sqlx::query_scalar("SELECT SUM(bytes_freed) FROM jobs")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let tables: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM ledger GROUP BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        // The histogram is counted by SQLite: one row whatever the number of jobs.
        let d = "MAX((julianday(completed_at) - julianday(started_at)) * 86400.0, 0.0)";
        let mut cols = vec![
            "CAST(COUNT(*) AS REAL)".to_string(),
            format!("COALESCE(SUM({d}), 0.0)"),
        ];
        cols.extend(
            bounds
                .iter()
                .map(|_| format!("CAST(COALESCE(SUM({d} <= ?), 0) AS REAL)")),
        );
        let sql = format!(
            "SELECT {} FROM jobs WHERE completed_at IS NOT NULL AND started_at IS NOT NULL",
            cols.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for b in bounds {
            q = q.bind(*b);
        }
        let row = q.fetch_one(&self.pool).await.map_err(db_err)?;
        let num = |i: usize| row.try_get::<f64, _>(i).map_err(db_err);
        let bad = |col: &str, why: String| Error::Store {
            message: format!("totals: {col}: {why}"),
            creating: false,
        };
        Ok(StoreTotals {
            jobs: jobs
                .into_iter()
                .map(|(s, n)| Ok((job_status(&s).map_err(|e| bad("jobs.status", e))?, n as u64)))
                .collect::<Result<_>>()?,
            bytes_freed: u64::try_from(bytes.unwrap_or(0))
                .map_err(|_| bad("jobs.bytes_freed", "a negative sum".into()))?,
            tables: tables
                .into_iter()
                .map(|(s, n)| {
                    Ok((
                        action_status(&s).map_err(|e| bad("ledger.status", e))?,
                        n as u64,
                    ))
                })
                .collect::<Result<_>>()?,
            duration_count: num(0)? as u64,
            duration_sum: num(1)?,
            duration_buckets: (0..bounds.len())
                .map(|i| Ok(num(2 + i)? as u64))
                .collect::<Result<_>>()?,
        })
    }

    /// Saves (or replaces) a plan document.
    pub async fn save_plan(&self, p: &Plan) -> Result<()> {
        let body = serde_json::to_string(p)
            .map_err(|e| Error::Internal(format!("plan {} cannot be encoded: {e}", p.plan_id)))?;
        sqlx::query(
            "INSERT INTO plans (plan_id, digest, created_at, body) VALUES (?, ?, ?, ?) \
             ON CONFLICT (plan_id) DO UPDATE SET digest = excluded.digest, body = excluded.body",
        )
        .bind(&p.plan_id)
        .bind(p.computed_digest())
        .bind(p.created_at.to_rfc3339())
        .bind(body)
        .execute(&self.pool)
        .await
        .map_err(create_err)?;
        Ok(())
    }

    /// Whether `p` may be kept under its id: `Ok(true)` when the store has it already (same
    /// content), `Ok(false)` when the id is free, an error when the id names a plan with other
    /// content (a reviewed plan is never replaced behind its id's back). Reads only: a plan is
    /// stored once it passed its checks ([`Self::save_new_plan`]).
    pub async fn check_new_plan(&self, p: &Plan) -> Result<bool> {
        let digest = p.computed_digest();
        let have: Option<String> = sqlx::query_scalar("SELECT digest FROM plans WHERE plan_id = ?")
            .bind(&p.plan_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(create_err)?;
        match have {
            Some(d) if d == digest => Ok(true),
            Some(d) => Err(Error::field(
                "plan.plan_id",
                format!(
                    "{} already names another plan in the store (digest {d}, this one \
                     {digest}); give an edited plan a new plan_id",
                    p.plan_id
                ),
            )),
            None => Ok(false),
        }
    }

    /// Saves a plan unless its id already names a plan with other content.
    pub async fn save_new_plan(&self, p: &Plan) -> Result<()> {
        if self.check_new_plan(p).await? {
            return Ok(());
        }
        self.save_plan(p).await
    }

    /// A saved plan.
    pub async fn plan(&self, plan_id: &str) -> Result<Option<Plan>> {
        let r = sqlx::query("SELECT plan_id, body FROM plans WHERE plan_id = ?")
            .bind(plan_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.map(|r| Cols::named(&r, "plan", "plan_id")?.parse("body", json))
            .transpose()
    }

    /// A page of the saved plans in brief, newest first, and how many there are in all. SQLite
    /// reads the few fields from each stored document; no plan is decoded whole.
    pub async fn plans(&self, limit: u32, offset: u32) -> Result<(Vec<PlanBrief>, u64)> {
        let rows = sqlx::query(
            "SELECT plan_id, digest, created_at, \
                    json_extract(body, '$.cluster.cluster_id') AS cluster_id, \
                    json_extract(body, '$.cluster.seed') AS seed, \
                    json_extract(body, '$.settings.mode') AS mode, \
                    json_extract(body, '$.summary') AS summary \
             FROM plans ORDER BY created_at DESC, plan_id DESC LIMIT ? OFFSET ?",
        )
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plans")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let plans = rows
            .iter()
            .map(|r| {
                let c = Cols::named(r, "plan", "plan_id")?;
                Ok(PlanBrief {
                    plan_id: c.get("plan_id")?,
                    digest: c.get("digest")?,
                    created_at: c.parse("created_at", time)?,
                    cluster_id: c.get("cluster_id")?,
                    seed: c.get("seed")?,
                    mode: c.parse("mode", |m: &str| {
                        <Mode as clap::ValueEnum>::from_str(m, false)
                    })?,
                    summary: c.parse("summary", json)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((plans, total as u64))
    }

    /// The ledger of one job, in the order it was written.
    pub async fn outcomes(&self, job_id: &str) -> Result<Vec<ActionOutcome>> {
        let rows = sqlx::query("SELECT * FROM ledger WHERE job_id = ? ORDER BY finished_at, rowid")
            .bind(job_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let c = Cols::named(r, "ledger of job", "job_id")?;
                Ok(ActionOutcome {
                    node: c.get("node")?,
                    schema: c.get("schema_name")?,
                    table: c.get("table_name")?,
                    status: c.parse("status", action_status)?,
                    started_at: c.parse_opt("started_at", time)?,
                    finished_at: c.parse("finished_at", time)?,
                    size_before: c.count_opt("size_before")?,
                    size_after: c.count_opt("size_after")?,
                    bytes_freed: c.count("bytes_freed")?,
                    error: c.get("error")?,
                    code: c
                        .count_opt("code")?
                        .map(|n| {
                            ErrorCode::from_u16(n)
                                .ok_or_else(|| c.bad("code", format!("{n} is not an error code")))
                        })
                        .transpose()?,
                    unneeded: c.get("unneeded")?,
                    estimated_duration_s: c.get("estimated_duration_s")?,
                    rows: c.count_opt("rows_estimate")?,
                    secondary_indexes: c.count_opt("secondary_indexes")?,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Ledger for Store {
    async fn record(&self, job_id: &str, digest: &str, o: &ActionOutcome) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO ledger (job_id, plan_digest, node, schema_name, table_name, \
             status, started_at, finished_at, size_before, size_after, bytes_freed, error, code, \
             unneeded, estimated_duration_s, rows_estimate, secondary_indexes) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(job_id)
        .bind(digest)
        .bind(&o.node)
        .bind(&o.schema)
        .bind(&o.table)
        .bind(o.status.as_str())
        .bind(o.started_at.map(|t| t.to_rfc3339()))
        .bind(o.finished_at.to_rfc3339())
        .bind(o.size_before.map(|v| v as i64))
        .bind(o.size_after.map(|v| v as i64))
        .bind(o.bytes_freed as i64)
        .bind(&o.error)
        .bind(o.code.map(|c| i64::from(c.as_u16())))
        .bind(i64::from(o.unneeded))
        .bind(o.estimated_duration_s)
        .bind(o.rows.map(|v| v as i64))
        .bind(o.secondary_indexes.map(i64::from))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn done(&self, digest: &str) -> Result<HashSet<(String, String, String)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT DISTINCT node, schema_name, table_name FROM ledger \
             WHERE plan_digest = ? AND status = ?",
        )
        .bind(digest)
        .bind(ActionStatus::Done.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().collect())
    }
}

#[async_trait::async_trait]
impl RebuildHistory for Store {
    async fn past_rebuilds(&self, node: &str, limit: usize) -> Result<Vec<PastRebuild>> {
        let rows = sqlx::query(
            "SELECT * FROM ledger WHERE node = ? AND status = ? AND started_at IS NOT NULL \
             AND size_before IS NOT NULL AND size_after IS NOT NULL \
             AND rows_estimate IS NOT NULL AND secondary_indexes IS NOT NULL \
             ORDER BY finished_at DESC LIMIT ?",
        )
        .bind(node)
        .bind(ActionStatus::Done.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let c = Cols::named(r, "ledger of node", "node")?;
                let started = c.parse("started_at", time)?;
                let finished = c.parse("finished_at", time)?;
                Ok(PastRebuild {
                    work: Work {
                        read_bytes: c.count("size_before")?,
                        write_bytes: c.count("size_after")?,
                        rows: c.count("rows_estimate")?,
                        secondary_indexes: c.count("secondary_indexes")?,
                    },
                    seconds: (finished - started).num_milliseconds() as f64 / 1000.0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::RunState;

    fn job(id: &str, status: JobStatus) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            kind: JobKind::Apply,
            status,
            phase: None,
            plan_id: Some("plan-20261126-001".into()),
            plan_digest: Some("sha256:ab".into()),
            config: serde_json::json!({"mode": "binlog-off"}),
            created_at: Utc::now(),
            started_at: None,
            completed_at: None,
            error: None,
            total_tables: 2,
            processed_tables: 0,
            failed_tables: 0,
            batches_done: 3,
            bytes_freed: 0,
            current_table: None,
            owner_pid: None,
            alert: Some(AlertState::Pending),
            rebuilds: vec![crate::apply::progress::RebuildNow {
                node: "127.0.0.1:23307".into(),
                schema: "shop".into(),
                table: "orders".into(),
                started_at: "2026-11-26T21:30:00Z".parse().unwrap(),
                size_before: 400 << 20,
                estimated_bytes: 280 << 20,
                bytes_written: Some(70 << 20),
                percent: Some(25.0),
                stage: None,
                estimated_duration_s: Some(100.0),
                eta_s: Some(120.0),
            }],
            remaining_s: Some(600),
            // Kept as JSON: it must come back as it went in.
            run_state: Some(RunState::Throttled {
                reason: "waiting for replicas: r3 is 3s behind".into(),
                since: Utc::now(),
            }),
        }
    }

    #[tokio::test]
    async fn jobs_of_several_statuses_newest_first() {
        let s = Store::in_memory().await.unwrap();
        let t0 = Utc::now();
        for (i, st) in [
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Pending,
            JobStatus::Running,
        ]
        .into_iter()
        .enumerate()
        {
            let mut j = job(&format!("job-{i}"), st);
            j.created_at = t0 + chrono::Duration::seconds(i as i64);
            s.insert_job(&j).await.unwrap();
        }
        let ids = |v: Vec<JobRecord>| v.into_iter().map(|j| j.job_id).collect::<Vec<_>>();
        let active = [JobStatus::Pending, JobStatus::Running];
        assert_eq!(
            ids(s.jobs_with(&active, 10).await.unwrap()),
            ["job-3", "job-2", "job-0"]
        );
        assert_eq!(
            ids(s.jobs_with(&active, 2).await.unwrap()),
            ["job-3", "job-2"]
        );
        assert!(s.jobs_with(&[], 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_duration_histogram_is_counted_in_sql() {
        let s = Store::in_memory().await.unwrap();
        let t0 = Utc::now();
        for (i, secs) in [(1, Some(0.5)), (2, Some(10.0)), (3, Some(100.0)), (4, None)] {
            let mut j = job(&format!("job-{i}"), JobStatus::Completed);
            j.started_at = Some(t0);
            j.completed_at =
                secs.map(|x: f64| t0 + chrono::Duration::milliseconds((x * 1000.0) as i64));
            s.insert_job(&j).await.unwrap();
        }
        let t = s.totals(&[1.0, 15.0, 60.0]).await.unwrap();
        assert_eq!(t.duration_count, 3, "the unfinished job is not counted");
        assert_eq!(t.duration_buckets, vec![1, 2, 2]);
        assert!((t.duration_sum - 110.5).abs() < 0.01, "{}", t.duration_sum);
    }

    /// A pid that no process has now (a child that exited).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[tokio::test]
    async fn a_job_whose_process_is_gone_reads_as_interrupted() {
        let s = Store::in_memory().await.unwrap();
        let mut dead = job("job-20261201-001", JobStatus::Running);
        dead.owner_pid = Some(dead_pid());
        dead.current_table = Some("shop.orders".into());
        s.insert_job(&dead).await.unwrap();
        let mut ours = job("job-20261201-002", JobStatus::Running);
        ours.owner_pid = Some(std::process::id());
        s.insert_job(&ours).await.unwrap();
        let j = s.job(&dead.job_id).await.unwrap().unwrap();
        assert_eq!(j.status, JobStatus::Failed);
        assert!(
            j.error.as_deref().unwrap_or("").starts_with("interrupted"),
            "{:?}",
            j.error
        );
        let (listed, _) = s.jobs(None, 10, 0).await.unwrap();
        let mine = listed.iter().find(|x| x.job_id == ours.job_id).unwrap();
        assert_eq!(
            mine.status,
            JobStatus::Running,
            "this process's job is alive"
        );
    }

    fn outcome() -> ActionOutcome {
        ActionOutcome {
            started_at: Some(Utc::now()),
            size_before: Some(100),
            size_after: Some(10),
            bytes_freed: 90,
            ..ActionOutcome::new("127.0.0.1:23307", "shop", "orders", ActionStatus::Done)
        }
    }

    #[tokio::test]
    async fn a_failing_store_is_an_internal_error_or_a_failed_creation_never_a_bad_argument() {
        let s = Store::in_memory().await.unwrap();
        let j = job("job-20261126-001", JobStatus::Running);
        s.insert_job(&j).await.unwrap();
        // The store fails under the tool, as a full disk or a damaged file would make it.
        for t in ["jobs", "counters", "plans", "ledger", "nodes_seen"] {
            sqlx::query(&format!("DROP TABLE {t}"))
                .execute(&s.pool)
                .await
                .unwrap();
        }
        fn code<T: std::fmt::Debug>(r: Result<T>) -> crate::error::ErrorCode {
            r.unwrap_err().code()
        }
        use crate::error::ErrorCode::{Internal, JobCreate};
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let p = crate::plan::example_plan();
        // Creating a job or a plan: 1005.
        assert_eq!(code(s.next_id("job", d).await), JobCreate);
        assert_eq!(code(s.insert_job(&j).await), JobCreate);
        assert_eq!(code(s.save_plan(&p).await), JobCreate);
        assert_eq!(code(s.check_new_plan(&p).await), JobCreate);
        // Anything else: 1000.
        assert_eq!(code(s.update_job(&j).await), Internal);
        assert_eq!(code(s.job(&j.job_id).await), Internal);
        assert_eq!(code(s.jobs(None, 10, 0).await), Internal);
        assert_eq!(code(s.recover_interrupted().await), Internal);
        assert_eq!(code(s.totals(&[1.0]).await), Internal);
        assert_eq!(code(s.plan(&p.plan_id).await), Internal);
        assert_eq!(code(s.outcomes(&j.job_id).await), Internal);
        assert_eq!(
            code(s.record(&j.job_id, "sha256:ab", &outcome()).await),
            Internal
        );
        assert_eq!(code(s.done("sha256:ab").await), Internal);
        use crate::topology::NodeMemory;
        assert_eq!(code(s.record_seen("c", &[], Utc::now()).await), Internal);
        let ep = crate::mysql::Endpoint::new("127.0.0.1", 23308);
        assert_eq!(code(s.forget("c", &ep).await), Internal);
    }

    /// Writes `value` (SQL) into `column` of every row of `table`.
    async fn damage(s: &Store, table: &str, column: &str, value: &str) {
        sqlx::query(&format!("UPDATE {table} SET {column} = {value}"))
            .execute(&s.pool)
            .await
            .unwrap();
    }

    /// `e` is the store's error (1000) about the row `row` names, at `column`.
    fn unreadable(e: Error, row: &str, column: &str) {
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                Error::Store {
                    creating: false,
                    ..
                }
            ),
            "{column}: {e:?}"
        );
        assert!(msg.contains(row) && msg.contains(column), "{column}: {msg}");
    }

    #[tokio::test]
    async fn a_row_that_cannot_be_read_is_an_error_naming_the_job_and_the_column() {
        for (column, value) in [
            ("total_tables", "'many'"),
            ("bytes_freed", "-1"),
            ("status", "'exploded'"),
            ("kind", "'sideways'"),
            ("phase", "'dancing'"),
            ("created_at", "'yesterday'"),
            ("started_at", "'noon'"),
            ("config", "'{'"),
            ("run_state", "'[1'"),
            ("owner_pid", "-1"),
            ("plan_id", "x'00ff'"),
        ] {
            let s = Store::in_memory().await.unwrap();
            s.insert_job(&job("job-20261126-001", JobStatus::Completed))
                .await
                .unwrap();
            damage(&s, "jobs", column, value).await;
            for e in [
                s.job("job-20261126-001").await.unwrap_err(),
                s.jobs(None, 10, 0).await.unwrap_err(),
            ] {
                unreadable(e, "job-20261126-001", column);
            }
        }
        for (column, value) in [
            ("status", "'meh'"),
            ("code", "'x'"),
            ("code", "999"),
            ("size_after", "-3"),
            ("finished_at", "42"),
            ("unneeded", "'perhaps'"),
        ] {
            let s = Store::in_memory().await.unwrap();
            s.record("job-20261126-001", "sha256:ab", &outcome())
                .await
                .unwrap();
            damage(&s, "ledger", column, value).await;
            let e = s.outcomes("job-20261126-001").await.unwrap_err();
            unreadable(e, "job-20261126-001", column);
        }
        let s = Store::in_memory().await.unwrap();
        let p = crate::plan::example_plan();
        s.save_plan(&p).await.unwrap();
        damage(&s, "plans", "body", "'{\"plan_id\": 7}'").await;
        unreadable(s.plan(&p.plan_id).await.unwrap_err(), &p.plan_id, "body");
    }

    // The statements of the versions before migrations, as they were.
    const COUNTERS: &str = "CREATE TABLE IF NOT EXISTS counters (kind TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL, \
         PRIMARY KEY (kind, day))";
    const PLANS: &str = "CREATE TABLE IF NOT EXISTS plans (plan_id TEXT PRIMARY KEY, digest TEXT NOT NULL, \
         created_at TEXT NOT NULL, body TEXT NOT NULL)";
    const LEDGER: &str = "CREATE TABLE IF NOT EXISTS ledger (job_id TEXT NOT NULL, plan_digest TEXT NOT NULL, \
         node TEXT NOT NULL, schema_name TEXT NOT NULL, table_name TEXT NOT NULL, status TEXT NOT NULL, \
         started_at TEXT, finished_at TEXT NOT NULL, size_before INTEGER, size_after INTEGER, \
         bytes_freed INTEGER NOT NULL, error TEXT, code INTEGER, \
         PRIMARY KEY (job_id, node, schema_name, table_name))";
    const LEDGER_DIGEST: &str =
        "CREATE INDEX IF NOT EXISTS ledger_digest ON ledger (plan_digest, status)";

    /// The store's statements in its first release (f674d73), before `owner_pid`, `run_state`
    /// and `ledger.unneeded`, with the index the job list no longer uses.
    const FIRST_RELEASE: &[&str] = &[
        COUNTERS,
        "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, \
         phase TEXT, plan_id TEXT, plan_digest TEXT, config TEXT NOT NULL, created_at TEXT NOT NULL, \
         started_at TEXT, completed_at TEXT, error TEXT, total_tables INTEGER NOT NULL DEFAULT 0, \
         processed_tables INTEGER NOT NULL DEFAULT 0, failed_tables INTEGER NOT NULL DEFAULT 0, \
         bytes_freed INTEGER NOT NULL DEFAULT 0, current_table TEXT)",
        "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at)",
        PLANS,
        LEDGER,
        LEDGER_DIGEST,
    ];

    /// What the last version before migrations (1b4e3db) ran on a new store: its `SCHEMA`, then
    /// the `ADDED_COLUMNS` that `CREATE TABLE` did not have.
    const LAST_HAND_ROLLED: &[&str] = &[
        COUNTERS,
        "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, \
         phase TEXT, plan_id TEXT, plan_digest TEXT, config TEXT NOT NULL, created_at TEXT NOT NULL, \
         started_at TEXT, completed_at TEXT, error TEXT, total_tables INTEGER NOT NULL DEFAULT 0, \
         processed_tables INTEGER NOT NULL DEFAULT 0, failed_tables INTEGER NOT NULL DEFAULT 0, \
         bytes_freed INTEGER NOT NULL DEFAULT 0, current_table TEXT, owner_pid INTEGER)",
        "DROP INDEX IF EXISTS jobs_status",
        "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at, job_id)",
        "CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, job_id)",
        PLANS,
        LEDGER,
        LEDGER_DIGEST,
        "ALTER TABLE jobs ADD COLUMN run_state TEXT",
        "ALTER TABLE ledger ADD COLUMN unneeded INTEGER NOT NULL DEFAULT 0",
    ];

    /// A store file made by `statements`, holding one finished job with a ledger row, a plan and
    /// the day's job counter at 1, written with the columns every version had.
    async fn old_store(path: &Path, statements: &[&str]) {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
        let p = crate::plan::example_plan();
        let rows = [
            "INSERT INTO counters (kind, day, n) VALUES ('job', '20261126', 1)".to_string(),
            "INSERT INTO jobs (job_id, kind, status, phase, plan_id, plan_digest, config, \
             created_at, started_at, completed_at, error, total_tables, processed_tables, \
             failed_tables, bytes_freed, current_table) VALUES ('job-20261126-001', 'apply', \
             'completed', 'applying', 'plan-20261126-001', 'sha256:ab', '{\"mode\":\"binlog-off\"}', \
             '2026-11-26T10:00:00+00:00', '2026-11-26T10:00:01+00:00', \
             '2026-11-26T10:00:09+00:00', NULL, 1, 1, 0, 90, NULL)"
                .to_string(),
            "INSERT INTO ledger (job_id, plan_digest, node, schema_name, table_name, status, \
             started_at, finished_at, size_before, size_after, bytes_freed, error, code) VALUES \
             ('job-20261126-001', 'sha256:ab', '127.0.0.1:23307', 'shop', 'orders', 'done', \
             '2026-11-26T10:00:02+00:00', '2026-11-26T10:00:08+00:00', 100, 10, 90, NULL, NULL)"
                .to_string(),
            format!(
                "INSERT INTO plans (plan_id, digest, created_at, body) VALUES ('{}', '{}', '{}', '{}')",
                p.plan_id,
                p.computed_digest(),
                p.created_at.to_rfc3339(),
                serde_json::to_string(&p).unwrap().replace('\'', "''")
            ),
        ];
        for stmt in statements
            .iter()
            .copied()
            .chain(rows.iter().map(String::as_str))
        {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    #[tokio::test]
    async fn a_store_from_before_migrations_opens_and_keeps_its_jobs() {
        for (name, statements) in [
            ("first release", FIRST_RELEASE),
            ("last hand-rolled", LAST_HAND_ROLLED),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("jobs.db");
            old_store(&path, statements).await;
            // Twice: the second open finds the migrations applied.
            for _ in 0..2 {
                let s = Store::open(&path).await.unwrap();
                let j = s.job("job-20261126-001").await.unwrap().expect(name);
                assert_eq!(
                    (j.status, j.bytes_freed, j.owner_pid, &j.run_state),
                    (JobStatus::Completed, 90, None, &None),
                    "{name}"
                );
                assert_eq!(
                    j.config,
                    serde_json::json!({"mode": "binlog-off"}),
                    "{name}"
                );
                let o = s.outcomes("job-20261126-001").await.unwrap();
                assert_eq!((o.len(), o[0].bytes_freed, o[0].unneeded), (1, 90, false));
                let p = crate::plan::example_plan();
                assert_eq!(s.plan(&p.plan_id).await.unwrap(), Some(p), "{name}");
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(&s.pool)
                        .await
                        .unwrap();
                // The baseline, then every migration since (0002: jobs.batches_done; 0003: the
                // ledger's duration inputs, jobs.rebuilds; 0004: nodes_seen).
                assert_eq!(applied, [schema::BASELINE, 2, 3, 4], "{name}");
                assert_eq!(j.batches_done, 0, "{name}");
                let indexes: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                     ORDER BY name",
                )
                .fetch_all(&s.pool)
                .await
                .unwrap();
                assert_eq!(
                    indexes,
                    [
                        "jobs_created",
                        "jobs_status_created",
                        "ledger_digest",
                        "ledger_node"
                    ],
                    "{name}"
                );
                s.pool.close().await;
            }
            // And it takes new jobs with what was added since.
            let s = Store::open(&path).await.unwrap();
            let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
            let id = s.next_id("job", d).await.unwrap();
            assert_eq!(id, "job-20261126-002", "{name}");
            let mut j = job(&id, JobStatus::Running);
            j.owner_pid = Some(std::process::id());
            s.insert_job(&j).await.unwrap();
            assert_eq!(s.job(&id).await.unwrap(), Some(j), "{name}");
            let unneeded = ActionOutcome {
                status: ActionStatus::Skipped,
                unneeded: true,
                ..outcome()
            };
            s.record(&id, "sha256:ab", &unneeded).await.unwrap();
            assert_eq!(s.outcomes(&id).await.unwrap(), vec![unneeded], "{name}");
        }
    }

    #[tokio::test]
    async fn processes_opening_a_new_store_at_once_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let opens = (0..8).map(|_| Store::open(&path));
        for s in futures::future::join_all(opens).await {
            s.unwrap();
        }
    }

    #[tokio::test]
    async fn a_store_of_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let s = Store::open(&path).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (999, 'from the future', TRUE, x'00', 0)",
        )
        .execute(&s.pool)
        .await
        .unwrap();
        s.pool.close().await;
        let e = Store::open(&path).await.unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::Internal, "{e}");
        assert!(e.to_string().contains("newer version"), "{e}");
    }

    #[tokio::test]
    async fn ids_jobs_plans_and_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.db")).await.unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(s.next_id("job", d).await.unwrap(), "job-20261126-001");
        assert_eq!(s.next_id("job", d).await.unwrap(), "job-20261126-002");
        s.insert_job(&job("job-20261126-001", JobStatus::Running))
            .await
            .unwrap();
        s.insert_job(&job("job-20261126-002", JobStatus::Completed))
            .await
            .unwrap();
        let (running, total) = s.jobs(Some(JobStatus::Running), 10, 0).await.unwrap();
        assert_eq!((running.len(), total), (1, 1));
        let (all, total) = s.jobs(None, 1, 0).await.unwrap();
        assert_eq!((all.len(), total), (1, 2));

        let o = outcome();
        s.record("job-20261126-001", "sha256:ab", &o).await.unwrap();
        let done = s.done("sha256:ab").await.unwrap();
        assert!(done.contains(&("127.0.0.1:23307".into(), "shop".into(), "orders".into())));
        assert!(s.done("sha256:other").await.unwrap().is_empty());
        assert_eq!(s.outcomes("job-20261126-001").await.unwrap(), vec![o]);

        let p = crate::plan::example_plan();
        s.save_plan(&p).await.unwrap();
        assert_eq!(s.plan(&p.plan_id).await.unwrap(), Some(p));
    }
}
