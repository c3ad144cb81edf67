//! The server's job manager: a bounded queue in front of a fixed number of workers, node locks
//! so two jobs never work on the same node at once, cancellation, shutdown, and a broadcast of
//! every change of a job's row (the WebSocket listens to it).
//!
//! A job is admitted while fewer than `max_workers + queue_size` are pending or running (then
//! error 1010); it waits `pending` for a worker, runs `running` through `planning` (when it
//! plans first), `waiting` (for nodes another job holds) and `applying` (the shared
//! [`super::runner`]), and ends `completed`, `failed` or `cancelled`. Every state is written to
//! the store before it is broadcast.

use super::alerts::{AlertSink, AlertState};
use super::runner::{self, Applied, ApplyJob, Observer, Stop};
use super::{JobKind, JobPhase, JobRecord, JobStatus, Store};
use crate::apply::{ApplyHandle, ApplyOptions, Event};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::mysql::ConnectSpec;
use crate::plan::{Plan, PlanRequest, make_plan};
use crate::settings::RecyclingDefaults;
use chrono::Utc;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tokio_util::task::TaskTracker;

/// What a job does.
#[derive(Debug, Clone)]
pub enum Work {
    /// Plan first (phase `planning`; the plan is saved), then apply it unless `dry_run`.
    Recycle {
        request: Box<PlanRequest>,
        dry_run: bool,
    },
    /// Apply a plan (saved or given). Tables the ledger has as done for this plan are skipped.
    Apply { plan: Box<Plan> },
}

/// A job to run.
#[derive(Debug, Clone)]
pub struct Submission {
    pub work: Work,
    /// Credentials for every node; never stored.
    pub spec: ConnectSpec,
    /// The request as given, without credentials: stored as the job's `config`.
    pub config: serde_json::Value,
}

/// The limits and run options of the manager (from `recycling.*` and `monitoring.alerts`).
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    pub max_workers: usize,
    pub queue_size: usize,
    /// What applies run with (lock-wait retries and their backoff).
    pub defaults: RecyclingDefaults,
    pub alerts: Option<AlertSink>,
    /// Base URL put into alerts as `generatorURL` (the job's API address).
    pub public_url: Option<String>,
}

impl ManagerConfig {
    /// From the config file's `recycling` and `monitoring.alerts` sections.
    pub fn from_config(c: &Config) -> Self {
        let a = &c.monitoring.alerts;
        Self {
            max_workers: c.recycling.concurrency.max_workers.max(1),
            queue_size: c.recycling.concurrency.queue_size,
            defaults: c.recycling.defaults.clone(),
            alerts: a
                .webhook_url
                .as_ref()
                .filter(|_| a.enabled)
                .map(AlertSink::new),
            public_url: None,
        }
    }
}

struct Active {
    stop: Stop,
    /// Pause, resume, panic and live settings; set once the job applies.
    control: Arc<Mutex<Option<ApplyHandle>>>,
    /// Set to the final status when the job ends.
    done: watch::Receiver<Option<JobStatus>>,
}

struct Inner {
    store: Store,
    cfg: ManagerConfig,
    slots: Semaphore,
    active: tokio::sync::Mutex<HashMap<String, Active>>,
    updates: broadcast::Sender<Arc<JobRecord>>,
    nodes: NodeLocks,
    tasks: TaskTracker,
}

/// The job manager. Cheap to clone.
#[derive(Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

/// How long `cancel` waits for a running job to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(15);

impl JobManager {
    /// A manager over `store`. Call [`Store::recover_interrupted`] before, at start.
    pub fn new(store: Store, cfg: ManagerConfig) -> Self {
        let (updates, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                store,
                slots: Semaphore::new(cfg.max_workers.max(1)),
                cfg,
                active: tokio::sync::Mutex::new(HashMap::new()),
                updates,
                nodes: NodeLocks::default(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    /// The store the jobs are written to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Every change of any job's row, as written.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<JobRecord>> {
        self.inner.updates.subscribe()
    }

    /// Jobs pending or running in this process.
    pub async fn active_jobs(&self) -> usize {
        self.inner.active.lock().await.len()
    }

    /// Whether there is room for one more job (a cheap check before slow validation).
    pub async fn has_room(&self) -> Result<()> {
        let active = self.inner.active.lock().await;
        self.room(active.len())
    }

    fn room(&self, active: usize) -> Result<()> {
        let c = &self.inner.cfg;
        if self.inner.tasks.is_closed() {
            return Err(Error::Busy("the server is shutting down".into()));
        }
        if active >= c.max_workers + c.queue_size {
            return Err(Error::Busy(format!(
                "{active} jobs are running or queued (recycling.concurrency: max_workers {}, \
                 queue_size {}); try again later",
                c.max_workers, c.queue_size
            )));
        }
        Ok(())
    }

    /// Admits a job: stored as `pending` and started in the background.
    pub async fn submit(&self, sub: Submission) -> Result<JobRecord> {
        let mut active = self.inner.active.lock().await;
        self.room(active.len())?;
        let store = &self.inner.store;
        let id = store.next_id("job", Utc::now().date_naive()).await?;
        let kind = match &sub.work {
            Work::Recycle { dry_run: true, .. } => JobKind::Plan,
            Work::Recycle { .. } => JobKind::Recycle,
            Work::Apply { .. } => JobKind::Apply,
        };
        let mut job = JobRecord::new(id.clone(), kind, JobStatus::Pending, sub.config.clone());
        if self.inner.cfg.alerts.is_some() {
            job.alert = Some(AlertState::Wanted);
        }
        if let Work::Apply { plan } = &sub.work {
            job.set_plan(plan);
        }
        store.insert_job(&job).await?;
        let stop = Stop::new();
        let (done_tx, done) = watch::channel(None);
        let control = Arc::new(Mutex::new(None));
        active.insert(
            id.clone(),
            Active {
                stop: stop.clone(),
                control: control.clone(),
                done,
            },
        );
        drop(active);
        let _ = self.inner.updates.send(Arc::new(job.clone()));
        tracing::info!(job = %id, kind = kind.as_str(), "job queued");
        let me = self.clone();
        let first = job.clone();
        self.inner.tasks.spawn(async move {
            let end = me.run(first, sub, &stop, &control).await;
            me.inner.active.lock().await.remove(&id);
            let _ = done_tx.send(Some(end));
        });
        Ok(job)
    }

    /// Cancels a pending or running job of this server and waits (a while) for it to stop;
    /// returns its status then.
    pub async fn cancel(&self, job_id: &str) -> Result<JobStatus> {
        let found = {
            let active = self.inner.active.lock().await;
            active.get(job_id).map(|a| (a.stop.clone(), a.done.clone()))
        };
        let Some((stop, mut done)) = found else {
            let j = self.inner.store.existing_job(job_id).await?;
            return Err(Error::JobState(if j.status.is_final() {
                format!(
                    "job {job_id} is already {}; only pending or running jobs can be cancelled",
                    j.status.as_str()
                )
            } else {
                format!(
                    "job {job_id} is {} in another process{}, not in this server; stop it there",
                    j.status.as_str(),
                    j.owner_pid
                        .map(|p| format!(" (pid {p})"))
                        .unwrap_or_default()
                )
            }));
        };
        tracing::info!(job = %job_id, "cancel requested");
        stop.cancel();
        let ended = tokio::time::timeout(CANCEL_WAIT, done.wait_for(|s| s.is_some())).await;
        match ended {
            Ok(Ok(s)) => Ok(s.unwrap_or(JobStatus::Cancelled)),
            // Still stopping (a statement that ignores KILL for now): it ends cancelled.
            _ => Ok(JobStatus::Running),
        }
    }

    /// Stops taking jobs, interrupts every pending and running one (running statements are
    /// killed; the jobs end `failed`, "interrupted") and waits until all are recorded.
    pub async fn shutdown(&self) {
        self.inner.tasks.close();
        let stops: Vec<Stop> = {
            let active = self.inner.active.lock().await;
            active.values().map(|a| a.stop.clone()).collect()
        };
        if !stops.is_empty() {
            tracing::warn!(
                "shutting down: interrupting {} job(s); running statements are killed",
                stops.len()
            );
        }
        for s in &stops {
            s.shutdown();
        }
        self.inner.tasks.wait().await;
    }

    async fn save(&self, job: &JobRecord) {
        let mut obs = Broadcast(&self.inner.updates);
        runner::save(&self.inner.store, job, &mut obs, None).await;
    }

    /// The control of a job that is applying in this server (pause, resume, live settings).
    pub async fn control(&self, job_id: &str) -> Result<ApplyHandle> {
        let found = {
            let active = self.inner.active.lock().await;
            active
                .get(job_id)
                .map(|a| a.control.lock().unwrap_or_else(|p| p.into_inner()).clone())
        };
        // The row turns final a moment before the job leaves `active`: the store has the last
        // word, so a finished job is never paused.
        let j = self.inner.store.existing_job(job_id).await?;
        match found {
            Some(Some(h)) if !j.status.is_final() => Ok(h),
            Some(_) if !j.status.is_final() => Err(Error::JobState(format!(
                "job {job_id} is not applying yet (pending, planning or waiting for its nodes); \
                 it can be paused or changed once it applies"
            ))),
            _ => Err(Error::JobState(format!(
                "job {job_id} is {}{}; only a job applying in this server can be paused, \
                 resumed or changed",
                j.status.as_str(),
                if j.status.is_final() {
                    ""
                } else {
                    " in another process"
                }
            ))),
        }
    }

    /// Runs one job to its end; returns the final status.
    async fn run(
        &self,
        mut job: JobRecord,
        sub: Submission,
        stop: &Stop,
        control: &Mutex<Option<ApplyHandle>>,
    ) -> JobStatus {
        let end = self.run_inner(&mut job, sub, stop, control).await;
        if let Err(e) = end {
            // Only a store failure gets here: record what can be recorded.
            tracing::error!(job = %job.job_id, "job ended with an error: {e}");
            job.status = JobStatus::Failed;
            job.error = Some(format!("[{}] {}", e.code(), e));
            job.completed_at = Some(Utc::now());
            self.save(&job).await;
        }
        tracing::info!(job = %job.job_id, status = job.status.as_str(), "job ended");
        if job.status == JobStatus::Failed && job.alert == Some(AlertState::Wanted) {
            // Recorded before it is sent: a shutdown or crash before delivery leaves it for
            // the next start.
            job.alert = AlertState::failed(job.alert);
            self.save(&job).await;
            self.alert(&job);
        }
        job.status
    }

    /// Posts the failure alert of `job` in the background (when alerts are configured).
    fn alert(&self, job: &JobRecord) {
        let Some(sink) = &self.inner.cfg.alerts else {
            return;
        };
        let url = self
            .inner
            .cfg
            .public_url
            .as_ref()
            .map(|u| format!("{u}/api/v1/recycle/jobs/{}", job.job_id));
        sink.send(job, url, &self.inner.store);
    }

    /// At start: posts the alerts of failed jobs not delivered before — jobs a shutdown or a
    /// crash interrupted, and alerts a stopping server could not deliver. Returns their ids.
    pub async fn send_pending_alerts(&self) -> Result<Vec<String>> {
        if self.inner.cfg.alerts.is_none() {
            return Ok(Vec::new());
        }
        let jobs = self.inner.store.alerts_pending().await?;
        for j in &jobs {
            self.alert(j);
        }
        Ok(jobs.into_iter().map(|j| j.job_id).collect())
    }

    async fn run_inner(
        &self,
        job: &mut JobRecord,
        sub: Submission,
        stop: &Stop,
        control: &Mutex<Option<ApplyHandle>>,
    ) -> Result<()> {
        let inner = &self.inner;
        // Pending until a worker is free.
        let _permit = tokio::select! {
            // The semaphore is never closed.
            p = inner.slots.acquire() => p.map_err(|e| Error::Internal(format!("worker slots: {e}")))?,
            _ = stop.token().cancelled() => {
                stop.stopped(job, "before the job started; nothing was executed");
                self.save(job).await;
                return Ok(());
            }
        };
        job.status = JobStatus::Running;
        job.started_at = Some(Utc::now());
        let plan = match sub.work {
            Work::Apply { plan } => *plan,
            Work::Recycle { request, dry_run } => {
                job.phase = Some(JobPhase::Planning);
                self.save(job).await;
                let made = tokio::select! {
                    r = self.plan(&request, &sub.spec) => r,
                    _ = stop.token().cancelled() => {
                        stop.stopped(job, "while planning; nothing was executed");
                        self.save(job).await;
                        return Ok(());
                    }
                };
                let plan = match made {
                    Ok(p) => p,
                    Err(e) => {
                        job.status = JobStatus::Failed;
                        job.error = Some(format!("[{}] planning failed: {e}", e.code()));
                        job.completed_at = Some(Utc::now());
                        self.save(job).await;
                        return Ok(());
                    }
                };
                job.set_plan(&plan);
                if dry_run || plan.actions().next().is_none() {
                    job.status = JobStatus::Completed;
                    job.completed_at = Some(Utc::now());
                    self.save(job).await;
                    return Ok(());
                }
                plan
            }
        };
        let nodes = touched_nodes(&plan);
        let _nodes = match inner.nodes.try_acquire(&job.job_id, &nodes) {
            Ok(g) => g,
            Err(holders) => {
                job.phase = Some(JobPhase::Waiting);
                job.current_table = None;
                tracing::info!(job = %job.job_id, "waiting for nodes held by {holders}");
                self.save(job).await;
                tokio::select! {
                    g = inner.nodes.acquire(&job.job_id, &nodes) => g,
                    _ = stop.token().cancelled() => {
                        stop.stopped(job, "while it waited for its nodes; nothing was executed");
                        self.save(job).await;
                        return Ok(());
                    }
                }
            }
        };
        let opts = ApplyOptions::new(&job.job_id, &plan, &inner.cfg.defaults, None, true);
        *control.lock().unwrap_or_else(|p| p.into_inner()) = Some(opts.handle.clone());
        let run = ApplyJob {
            store: &inner.store,
            plan: &plan,
            spec: &sub.spec,
            opts,
            stop,
        };
        let mut obs = Broadcast(&inner.updates);
        match runner::run_apply(job, run, &mut obs).await? {
            Applied::Refused(e) => {
                tracing::warn!(job = %job.job_id, "preflight refused the plan: {e}")
            }
            Applied::Ran(r) => tracing::info!(
                job = %job.job_id,
                "applied: {} done, {} already done earlier, {} freed",
                r.count(crate::apply::ActionStatus::Done),
                r.already_done.len(),
                crate::plan::human_bytes(r.bytes_freed())
            ),
        }
        Ok(())
    }

    /// Plans with an id from the store and saves the plan.
    async fn plan(&self, request: &PlanRequest, spec: &ConnectSpec) -> Result<Plan> {
        let mut req = request.clone();
        req.plan_id = self
            .inner
            .store
            .next_id("plan", Utc::now().date_naive())
            .await?;
        let (plan, _) = make_plan(&req, spec, &self.inner.store, &self.inner.store).await?;
        self.inner.store.save_plan(&plan).await?;
        Ok(plan)
    }
}

/// Sends each change to the broadcast (no receiver is fine).
struct Broadcast<'a>(&'a broadcast::Sender<Arc<JobRecord>>);

impl Observer for Broadcast<'_> {
    fn update(&mut self, job: &JobRecord, event: Option<&Event>) {
        // Waiting and node-stop events change nothing a client sees in the row; a gate's
        // event comes with the row whose `run_state` it changed.
        if matches!(
            event,
            Some(Event::Waiting { .. } | Event::NodeStopped { .. })
        ) {
            return;
        }
        let _ = self.0.send(Arc::new(job.clone()));
    }
}

/// The nodes a plan touches: those that execute, and in binlog-on those its rebuilds reach.
pub fn touched_nodes(plan: &Plan) -> BTreeSet<String> {
    plan.nodes
        .iter()
        .filter(|n| !n.actions.is_empty())
        .flat_map(|n| std::iter::once(&n.address).chain(&n.propagates_to))
        .map(|e| e.normalized().to_string())
        .collect()
}

/// Nodes held by running jobs. A job takes all its nodes at once or none, so two jobs can
/// never wait for each other.
#[derive(Default)]
struct NodeLocks {
    held: Arc<Mutex<HashMap<String, String>>>,
    freed: Arc<Notify>,
}

/// Holds a job's nodes until dropped.
struct NodeGuard {
    nodes: Vec<String>,
    held: Arc<Mutex<HashMap<String, String>>>,
    freed: Arc<Notify>,
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for n in &self.nodes {
            h.remove(n);
        }
        drop(h);
        self.freed.notify_waiters();
    }
}

impl NodeLocks {
    /// Takes every node in `nodes` for `job`, or returns who holds which.
    fn try_acquire(&self, job: &str, nodes: &BTreeSet<String>) -> Result<NodeGuard, String> {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let busy: Vec<String> = nodes
            .iter()
            .filter_map(|n| h.get(n).map(|j| format!("{n} ({j})")))
            .collect();
        if !busy.is_empty() {
            return Err(busy.join(", "));
        }
        for n in nodes {
            h.insert(n.clone(), job.to_string());
        }
        Ok(NodeGuard {
            nodes: nodes.iter().cloned().collect(),
            held: self.held.clone(),
            freed: self.freed.clone(),
        })
    }

    /// Waits until every node in `nodes` is free, then takes them.
    async fn acquire(&self, job: &str, nodes: &BTreeSet<String>) -> NodeGuard {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Ok(g) = self.try_acquire(job, nodes) {
                return g;
            }
            freed.await;
        }
    }
}
