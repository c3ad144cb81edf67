//! `status` and `monitor` (spec §2.4, §2.5): jobs read from a server (`--server URL`,
//! `RECYCLER_SERVER_URL` or `client.server_url`) or, without one, from the local job store —
//! so an `apply` running in one terminal can be watched from another.

use super::Context;
use super::progress::results_table;
use crate::apply::RunState;
use crate::error::{Error, Result};
use crate::jobs::view::{JobSummary, JobView, hms};
use crate::jobs::{JobStatus, Store};
use crate::plan::{human_bytes, new_table};
use crate::secret::Secret;
use crate::settings::HumanDuration;
use chrono::Utc;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::io::{IsTerminal, Write};

/// Where jobs are read from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Read jobs from this server (e.g. http://127.0.0.1:8080) instead of the local job store
    /// [env: RECYCLER_SERVER_URL] [config: client.server_url]
    #[arg(long)]
    pub server: Option<String>,
    /// Read the local job store (persistence.job_state.file) even when a server URL is
    /// configured
    #[arg(long, conflicts_with = "server")]
    pub local: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One job (default: the latest jobs)
    #[arg(long)]
    pub job_id: Option<String>,
    /// Output format
    #[arg(long, visible_alias = "output-format", value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
    /// Jobs listed without --job-id
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MonitorFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Time between refreshes
    #[arg(long, default_value = "5s")]
    pub refresh_interval: HumanDuration,
    /// table: a screen redrawn each refresh; json: one JSON document per line per refresh
    #[arg(long, visible_alias = "format", value_enum, default_value_t = MonitorFormat::Table)]
    pub output_format: MonitorFormat,
    /// Also show finished jobs (the latest 20)
    #[arg(long)]
    pub show_completed: bool,
    /// Stop after this many refreshes (default: until Ctrl-C)
    #[arg(long)]
    pub count: Option<u64>,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// A job source: the local store or a server's API.
enum Source {
    Local(Store),
    Http {
        base: String,
        client: reqwest::Client,
        token: Option<Secret>,
    },
}

#[derive(Deserialize)]
struct ApiEnvelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: u16,
    message: String,
}

#[derive(Deserialize)]
struct ApiJobList {
    jobs: Vec<JobSummary>,
}

impl Source {
    async fn open(ctx: &Context, a: &SourceArgs) -> Result<Self> {
        let url = if a.local {
            None
        } else {
            a.server
                .clone()
                .or_else(|| ctx.config.client.server_url.clone())
        };
        match url {
            None => Ok(Self::Local(ctx.open_store().await?)),
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(Error::invalid(format!(
                        "--server: {u:?} is not an http:// or https:// URL"
                    )));
                }
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(30))
                    .build()
                    .map_err(|e| Error::invalid(format!("HTTP client: {e}")))?;
                Ok(Self::Http {
                    base: u.trim_end_matches('/').to_string(),
                    client,
                    token: ctx.config.server.auth_token.clone(),
                })
            }
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let Self::Http {
            base,
            client,
            token,
        } = self
        else {
            return Err(Error::invalid("not a server source"));
        };
        let mut req = client.get(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
        let res = req.send().await.map_err(|e| Error::Connection {
            host: base.clone(),
            port: 0,
            reason: e.without_url().to_string(),
            kind: crate::error::ConnectFailure::Unreachable,
        })?;
        let ok = res.status().is_success();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| Error::invalid(format!("{base}: {e}")))?;
        if !ok {
            let e: ApiErrorBody = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("{base}: unexpected answer: {e}")))?;
            return Err(match e.code {
                1006 => Error::JobNotFound(path.rsplit('/').next().unwrap_or("").into()),
                1007 => Error::JobState(e.message),
                1008 => Error::Unauthorized(format!(
                    "{}: {} (set RECYCLER_API_TOKEN or server.auth_token)",
                    base, e.message
                )),
                1010 => Error::Busy(e.message),
                _ => Error::invalid(format!("{base}: [{}] {}", e.code, e.message)),
            });
        }
        let env: ApiEnvelope<T> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{base}: unexpected answer: {e}")))?;
        env.data
            .ok_or_else(|| Error::invalid(format!("{base}: the answer has no data")))
    }

    async fn job(&self, id: &str) -> Result<JobView> {
        match self {
            Self::Local(store) => JobView::load(store, id).await,
            Self::Http { .. } => self.get(&format!("/api/v1/recycle/jobs/{id}")).await,
        }
    }

    /// The latest jobs, of `statuses` when given.
    async fn jobs(&self, statuses: Option<&[JobStatus]>, limit: u32) -> Result<Vec<JobSummary>> {
        match self {
            Self::Local(store) => {
                let records = match statuses {
                    Some(s) => store.jobs_with(s, limit).await?,
                    None => store.jobs(None, limit, 0).await?.0,
                };
                Ok(records.iter().map(JobSummary::from).collect())
            }
            Self::Http { .. } => {
                let mut out = Vec::new();
                match statuses {
                    None => {
                        let l: ApiJobList = self
                            .get(&format!("/api/v1/recycle/jobs?limit={limit}"))
                            .await?;
                        out = l.jobs;
                    }
                    Some(list) => {
                        for s in list {
                            let l: ApiJobList = self
                                .get(&format!(
                                    "/api/v1/recycle/jobs?status={}&limit={limit}",
                                    s.as_str()
                                ))
                                .await?;
                            out.extend(l.jobs);
                        }
                        out.sort_by(|a, b| {
                            (b.created_at, &b.job_id).cmp(&(a.created_at, &a.job_id))
                        });
                        out.truncate(limit as usize);
                    }
                }
                Ok(out)
            }
        }
    }
}

fn to_text<T: serde::Serialize>(v: &T, f: StatusFormat) -> Result<String> {
    let err = |e: String| Error::invalid(e);
    match f {
        StatusFormat::Json => serde_json::to_string_pretty(v)
            .map(|s| s + "\n")
            .map_err(|e| err(e.to_string())),
        _ => serde_yaml::to_string(v).map_err(|e| err(e.to_string())),
    }
}

/// The job list as a table.
pub fn jobs_table(jobs: &[JobSummary]) -> String {
    let mut t = new_table(&[
        "job", "kind", "status", "phase", "progress", "tables", "freed", "elapsed", "current",
        "error",
    ]);
    let now = Utc::now();
    for j in jobs {
        let elapsed = j
            .started_at
            .map(|s| hms((j.completed_at.unwrap_or(now) - s).num_seconds()))
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            j.job_id.clone(),
            j.kind.to_string(),
            match &j.run_state {
                // A gate holding or a pause shows beside the spec's status.
                Some(r) if !matches!(r, RunState::Running) => {
                    format!("{}, {}", j.status.as_str(), r.as_str())
                }
                _ => j.status.as_str().into(),
            },
            j.phase.map(|p| p.to_string()).unwrap_or_default(),
            format!("{:.1}%", j.progress),
            format!(
                "{}/{}{}",
                j.processed_tables,
                j.total_tables,
                if j.failed_tables > 0 {
                    format!(" ({} failed)", j.failed_tables)
                } else {
                    String::new()
                }
            ),
            format!("{} MiB", j.space_freed_mb),
            elapsed,
            if j.rebuilds.is_empty() {
                j.current_table.clone().unwrap_or_default()
            } else {
                j.rebuilds
                    .iter()
                    .map(|r| {
                        let what = r.describe();
                        if what.is_empty() {
                            format!("{}.{}", r.schema, r.table)
                        } else {
                            format!("{}.{} ({what})", r.schema, r.table)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            },
            j.error.clone().unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

/// One job as text: its fields, then its per-table results.
fn job_text(v: &JobView) -> String {
    let p = &v.progress;
    let s = &v.statistics;
    let mut out = format!(
        "job {} ({}) {}{}\nplan: {} {}\nprogress: {}/{} tables ({:.1}%), {} failed, {} batch(es) \
         done{}\nfreed: {} (measured); elapsed {}{}\n",
        v.job_id,
        v.kind,
        v.status.as_str(),
        v.phase
            .as_ref()
            .map(|p| format!(", phase {p}"))
            .unwrap_or_default(),
        v.plan_id.as_deref().unwrap_or("-"),
        v.plan_digest.as_deref().unwrap_or(""),
        p.processed_tables,
        p.total_tables,
        p.percentage,
        p.failed_tables,
        p.batches_done,
        p.current_table
            .as_ref()
            .map(|t| format!(", rebuilding {t}"))
            .unwrap_or_default(),
        human_bytes(s.space_freed_bytes),
        s.time_elapsed,
        s.estimated_remaining
            .as_ref()
            .map(|r| format!(", about {r} left"))
            .unwrap_or_default(),
    );
    if let Some(r) = &v.run_state {
        out.push_str(&format!("state: {}\n", r.describe()));
    }
    for r in &p.rebuilds {
        let what = r.describe();
        out.push_str(&format!(
            "{}: rebuilding {}.{} ({}){}\n",
            r.node,
            r.schema,
            r.table,
            human_bytes(r.size_before),
            if what.is_empty() {
                String::new()
            } else {
                format!(": {what}")
            }
        ));
    }
    if let Some(e) = &v.error {
        out.push_str(&format!("error: {e}\n"));
    }
    if !s.tables_processed.is_empty() {
        out.push_str(&format!("{}\n", results_table(&s.tables_processed)));
    }
    out
}

pub async fn status(ctx: &Context, a: StatusArgs) -> Result<i32> {
    let src = Source::open(ctx, &a.source).await?;
    let text = match &a.job_id {
        Some(id) => {
            let v = src.job(id).await?;
            match a.format {
                StatusFormat::Table => job_text(&v),
                f => to_text(&v, f)?,
            }
        }
        None => {
            let jobs = src.jobs(None, a.limit.max(1)).await?;
            match a.format {
                StatusFormat::Table if jobs.is_empty() => "no jobs\n".into(),
                StatusFormat::Table => jobs_table(&jobs),
                f => to_text(&jobs, f)?,
            }
        }
    };
    print!("{text}");
    Ok(0)
}

pub async fn monitor(ctx: &Context, a: MonitorArgs) -> Result<i32> {
    let src = Source::open(ctx, &a.source).await?;
    let tty = std::io::stdout().is_terminal();
    let mut n = 0u64;
    loop {
        let mut jobs = src
            .jobs(Some(&[JobStatus::Pending, JobStatus::Running]), 100)
            .await?;
        if a.show_completed {
            jobs.extend(
                src.jobs(
                    Some(&[
                        JobStatus::Completed,
                        JobStatus::Failed,
                        JobStatus::Cancelled,
                    ]),
                    20,
                )
                .await?,
            );
        }
        let mut out = std::io::stdout().lock();
        let now = Utc::now();
        let written = match a.output_format {
            MonitorFormat::Json => writeln!(
                out,
                "{}",
                serde_json::json!({"timestamp": now, "jobs": jobs})
            ),
            MonitorFormat::Table => {
                let clear = if tty { "\x1b[2J\x1b[H" } else { "" };
                let body = if jobs.is_empty() {
                    "no active jobs\n".to_string()
                } else {
                    jobs_table(&jobs)
                };
                write!(
                    out,
                    "{clear}{} — {} job(s){}\n{body}",
                    now.format("%Y-%m-%d %H:%M:%S UTC"),
                    jobs.len(),
                    if a.show_completed {
                        " (with finished)"
                    } else {
                        " active"
                    }
                )
            }
        };
        // A closed pipe (`monitor | head`) ends the monitor.
        if written.and_then(|_| out.flush()).is_err() {
            return Ok(0);
        }
        drop(out);
        n += 1;
        if a.count.is_some_and(|c| n >= c) {
            return Ok(0);
        }
        tokio::select! {
            _ = tokio::time::sleep(a.refresh_interval.0) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
    }
}
