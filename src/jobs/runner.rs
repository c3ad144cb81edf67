//! The life of one apply job, shared by the CLI (`apply`, `recycle`) and the server, so both
//! record the same states, counters and ledger: running → preflight (refusal is `failed` with
//! the drift named) → execute, with every executor [`Event`] folded into the job row as it
//! happens (so `status`/`monitor` in another process see it) and handed to an [`Observer`]
//! (progress bars, the WebSocket) → `completed` | `failed` | `cancelled`.

use super::eta::WorkLeft;
use super::{JobRecord, JobStatus, Store};
use crate::apply::{
    ActionStatus, ApplyHandle, ApplyOptions, ApplyReport, Event, RunState, execute, preflight,
};
use crate::error::{Error, ErrorCode, Result};
use crate::mysql::ConnectSpec;
use crate::plan::Plan;
use crate::topology::DEFAULT_PARALLEL;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Someone who wants to know each time a job's row changes.
pub trait Observer: Send {
    /// `job` as just written to the store; `event` is the executor event that changed it.
    fn update(&mut self, job: &JobRecord, event: Option<&Event>);
}

/// No one watching.
impl Observer for () {
    fn update(&mut self, _: &JobRecord, _: Option<&Event>) {}
}

/// How a job is stopped early: by its user (it ends `cancelled`) or because its process shuts
/// down (it ends `failed`, "interrupted", and can be resumed). Either way the running statements
/// are killed on the server (`KILL QUERY`) and the rest is skipped.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    shutdown: Arc<AtomicBool>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// The user cancels the job.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// The process running the job is stopping.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Fires on either.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether the stop came from a shutdown.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// The final state of a job stopped this way, before its apply began.
    pub fn stopped(&self, job: &mut JobRecord, what: &str) {
        if self.is_shutdown() {
            job.status = JobStatus::Failed;
            job.error = Some(format!("interrupted: the server shut down {what}"));
        } else {
            job.status = JobStatus::Cancelled;
            job.error = None;
        }
        job.completed_at = Some(Utc::now());
        job.current_table = None;
    }
}

/// Folds an executor event into the job's counters. True when the row changed.
pub fn track(job: &mut JobRecord, e: &Event) -> bool {
    match e {
        Event::Started { total_actions, .. } => {
            job.total_tables = *total_actions as u64;
            true
        }
        Event::TableStarted { schema, table, .. } => {
            job.current_table = Some(format!("{schema}.{table}"));
            true
        }
        Event::TableFinished(o) => {
            job.rebuilds.retain(|r| r.node != o.node);
            job.processed_tables += 1;
            if o.status == ActionStatus::Failed {
                job.failed_tables += 1;
            }
            job.bytes_freed += o.bytes_freed;
            true
        }
        Event::BatchDone { .. } => {
            job.batches_done += 1;
            true
        }
        Event::Progress(now) => {
            job.rebuilds.retain(|r| r.node != now.node);
            job.rebuilds.push(now.clone());
            job.rebuilds.sort_by(|a, b| a.node.cmp(&b.node));
            true
        }
        Event::Finished => {
            job.current_table = None;
            job.rebuilds.clear();
            true
        }
        Event::Waiting { .. } | Event::NodeStopped { .. } | Event::Gate { .. } => false,
    }
}

/// The job's run state from its nodes' gates and the apply's pause: paused when paused (a
/// running rebuild goes on, no new one starts), else throttled when any node's gate holds (the
/// first node's reason), else running.
#[derive(Debug, Default)]
pub struct Gates(BTreeMap<String, RunState>);

impl Gates {
    /// Folds an executor event in.
    pub fn track(&mut self, e: &Event) {
        match e {
            Event::Gate { node, state } => {
                self.0.insert(node.clone(), state.clone());
            }
            Event::NodeStopped { node, .. } => {
                self.0.remove(node);
            }
            _ => {}
        }
    }

    /// The state now.
    pub fn state(&self, handle: &ApplyHandle) -> RunState {
        if let Some((since, reason)) = handle.paused() {
            return RunState::Paused { reason, since };
        }
        self.0
            .values()
            .find(|s| !matches!(s, RunState::Running))
            .cloned()
            .unwrap_or(RunState::Running)
    }
}

/// Writes the row, then tells the observer. A store failure during progress is logged, not
/// fatal: the ledger and the final write matter more than a counter.
pub async fn save(store: &Store, job: &JobRecord, obs: &mut dyn Observer, e: Option<&Event>) {
    if let Err(err) = store.update_job(job).await {
        tracing::warn!("cannot update job {}: {err}", job.job_id);
    }
    obs.update(job, e);
}

/// Everything an apply job needs besides its row.
pub struct ApplyJob<'a> {
    pub store: &'a Store,
    pub plan: &'a Plan,
    pub spec: &'a ConnectSpec,
    pub opts: ApplyOptions,
    pub stop: &'a Stop,
}

/// How an apply job ended.
#[derive(Debug)]
pub enum Applied {
    /// Preflight refused the plan (drift, the primary in the way, unreachable): nothing ran.
    Refused(Error),
    /// The executor ran; the report says what happened.
    Ran(ApplyReport),
}

/// Runs preflight and the executor for `job` (already in the store) and records its final
/// state. `Err` only when the final state cannot be written.
pub async fn run_apply(
    job: &mut JobRecord,
    mut a: ApplyJob<'_>,
    obs: &mut dyn Observer,
) -> Result<Applied> {
    // The plan's timeout is the deadline of the whole apply, preflight included (design §6.4).
    let deadline = *a
        .opts
        .deadline
        .get_or_insert(tokio::time::Instant::now() + a.opts.timeout(a.plan).0);
    let digest = job.start_applying(a.plan).to_string();
    save(a.store, job, obs, None).await;
    // Discovery probes as many nodes at once as the apply works on, and at least the default.
    let probes = a.opts.parallel.max(DEFAULT_PARALLEL);
    let pre = tokio::select! {
        r = tokio::time::timeout_at(deadline, preflight(a.plan, a.spec, probes, a.store)) => {
            r.unwrap_or_else(|_| Err(Error::Timeout(format!(
                "the preflight did not finish within the plan's timeout ({}); nothing was executed",
                a.opts.timeout(a.plan)
            ))))
        }
        _ = a.stop.token().cancelled() => {
            a.stop.stopped(job, "during the preflight; nothing was executed");
            a.store.update_job(job).await?;
            obs.update(job, None);
            return Ok(Applied::Ran(ApplyReport {
                job_id: job.job_id.clone(),
                plan_id: a.plan.plan_id.clone(),
                digest,
                cancelled: true,
                ..Default::default()
            }));
        }
    };
    let pre = match pre {
        // Kept with its jobs only once it passed: a refused plan (edited, stale) never lands in
        // the store, where it could be served under a genuine plan's id. An id that already
        // names other content keeps that content; the ledger keys on the digest anyway.
        Ok(p) => {
            if let Err(e) = a.store.save_new_plan(a.plan).await {
                tracing::warn!("the plan is not kept in the job store: {e}");
            }
            p
        }
        Err(e) => {
            job.status = JobStatus::Failed;
            job.error = Some(format!("[{}] {e}", e.code()));
            job.completed_at = Some(Utc::now());
            a.store.update_job(job).await?;
            obs.update(job, None);
            return Ok(Applied::Refused(e));
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let done_before = if a.opts.resume {
        use crate::apply::Ledger;
        a.store.done(&digest).await.unwrap_or_default()
    } else {
        Default::default()
    };
    let mut left = WorkLeft::new(a.plan, a.opts.parallel, &done_before);
    let (plan, spec, opts, store, stop) = (a.plan, a.spec, &a.opts, a.store, a.stop);
    let run = async move {
        let r = execute(plan, &pre, spec, opts, store, &tx, stop.token()).await;
        // Closing the channel ends the consumer below.
        drop(tx);
        r
    };
    let handle = opts.handle.clone();
    let mut changes = handle.changes();
    job.run_state = Some(RunState::Running);
    let consume = async {
        let mut gates = Gates::default();
        loop {
            let e = tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => Some(e),
                    None => break,
                },
                // A pause or resume shows at once, not at the next checkpoint.
                Ok(()) = changes.changed() => None,
            };
            let mut changed = e.as_ref().is_some_and(|e| track(job, e));
            if let Some(e) = &e {
                gates.track(e);
                left.track(e);
                job.remaining_s = left.seconds(&job.rebuilds, Utc::now());
            }
            let state = Some(gates.state(&handle));
            if job.run_state != state {
                job.run_state = state;
                changed = true;
            }
            if changed {
                save(store, job, obs, e.as_ref()).await;
            } else {
                obs.update(job, e.as_ref());
            }
        }
    };
    let (report, ()) = tokio::join!(run, consume);
    job.run_state = None;
    job.remaining_s = None;
    job.rebuilds.clear();
    finish(job, &report, stop);
    store.update_job(job).await?;
    obs.update(job, None);
    Ok(Applied::Ran(report))
}

/// The final state of a job from its report.
fn finish(job: &mut JobRecord, r: &ApplyReport, stop: &Stop) {
    job.status = if r.cancelled && stop.is_shutdown() {
        JobStatus::Failed
    } else if r.cancelled {
        JobStatus::Cancelled
    } else if r.panicked.is_some() {
        JobStatus::Failed
    } else if r.complete() {
        JobStatus::Completed
    } else {
        JobStatus::Failed
    };
    job.error = if r.cancelled && stop.is_shutdown() {
        Some(
            "interrupted: the server shut down; running statements were killed (KILL QUERY) \
             and the rest skipped; a new job from the same plan skips the tables already done"
                .into(),
        )
    } else if let Some(why) = &r.panicked {
        Some(format!(
            "panic ({why}): running statements were killed (KILL QUERY), the rest skipped"
        ))
    } else if r.timed_out {
        Some(format!(
            "[{}] the deadline passed: running statements were killed, the rest skipped",
            ErrorCode::Timeout
        ))
    } else if !r.node_errors.is_empty() {
        Some(r.node_errors.join("; "))
    } else if !r.complete() && !r.cancelled {
        Some("some tables failed or were skipped".into())
    } else {
        None
    };
    job.completed_at = Some(Utc::now());
    job.current_table = None;
    job.bytes_freed = r.bytes_freed();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ActionOutcome;
    use crate::jobs::JobKind;

    #[test]
    fn events_drive_the_counters() {
        let mut j = JobRecord::new(
            "job-1".into(),
            JobKind::Apply,
            JobStatus::Running,
            Default::default(),
        );
        assert!(track(
            &mut j,
            &Event::Started {
                total_actions: 2,
                nodes: vec![],
                order: Default::default(),
            }
        ));
        track(
            &mut j,
            &Event::TableStarted {
                node: "n:1".into(),
                schema: "s".into(),
                table: "t".into(),
                size_before: 10,
                attempt: 1,
            },
        );
        assert_eq!(j.current_table.as_deref(), Some("s.t"));
        let o = ActionOutcome {
            bytes_freed: 7,
            ..ActionOutcome::new("n:1", "s", "t", ActionStatus::Failed)
        };
        track(&mut j, &Event::TableFinished(o));
        assert_eq!(
            (
                j.total_tables,
                j.processed_tables,
                j.failed_tables,
                j.bytes_freed
            ),
            (2, 1, 1, 7)
        );
        let shutdown = Stop::new();
        shutdown.shutdown();
        let r = ApplyReport {
            cancelled: true,
            ..Default::default()
        };
        finish(&mut j, &r, &shutdown);
        assert_eq!(j.status, JobStatus::Failed);
        assert!(j.error.as_deref().unwrap_or("").starts_with("interrupted"));
        finish(&mut j, &r, &Stop::new());
        assert_eq!(j.status, JobStatus::Cancelled);
    }

    #[test]
    fn a_resume_whose_tables_need_nothing_more_completes() {
        let mut j = JobRecord::new(
            "job-2".into(),
            JobKind::Apply,
            JobStatus::Running,
            Default::default(),
        );
        let unneeded = ActionOutcome {
            error: Some("no longer qualifies: the file is 96.0 KiB now".into()),
            unneeded: true,
            ..ActionOutcome::new("n:1", "s", "t", ActionStatus::Skipped)
        };
        let r = ApplyReport {
            outcomes: vec![unneeded.clone()],
            already_done: vec![("n:1".into(), "s".into(), "u".into())],
            ..Default::default()
        };
        finish(&mut j, &r, &Stop::new());
        assert_eq!((j.status, j.error.as_deref()), (JobStatus::Completed, None));
        // A skip that leaves work undone is still partial.
        let r = ApplyReport {
            outcomes: vec![ActionOutcome {
                unneeded: false,
                ..unneeded
            }],
            ..Default::default()
        };
        finish(&mut j, &r, &Stop::new());
        assert_eq!(j.status, JobStatus::Failed);
    }
}
