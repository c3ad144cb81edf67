//! The executor: one worker per node, a checkpoint before every table, server-side kills,
//! measured sizes.
//!
//! A node's worker is a small state machine: **checkpoint** (stop? drift of the node and of every
//! node its rebuild reaches? gates: replay and lag, load, pause — each holding until it opens or
//! the deadline passes) → **rebuild** (measure, still qualifies?, wait for metadata-lock holders,
//! run the ALTER under the deadline, `worker_timeout`, panic and `critical_load`, retry 1205 with
//! backoff and a fresh checkpoint) → **record** (ledger, event) → in binlog-on, note the
//! position every reached replica must execute before the next checkpoint opens.

use super::checkpoint::{Bounds, Eyes, Held, Look, Stop, checkpoint};
use super::disk::{FreeSource, needed};
use super::drift::{Drift, eligibility, filter_drift, node_drift};
use super::gate::{Lag, Readings};
use super::lag::{Heartbeat, LagWatch, own_lag};
use super::preflight::Preflight;
use super::progress::RebuildNow;
use super::session::{Control, DdlSession, TableNow};
use super::statement::{ControlLoad, Followed, Limit, Ran, critical_watch, kill, until_stopped};
use super::{ActionOutcome, ActionStatus, ApplyOptions, ApplyReport, Event, Ledger};
use crate::error::ErrorCode;
use crate::mysql::{self, ConnectSpec};
use crate::plan::duration::{MIN_CALIBRATING_S, human_duration};
use crate::plan::{Action, Plan, PlanNode, human_bytes, rebuild_statement, sort_actions};
use crate::settings::{LoadLimits, Mode, Order, Settings};
use chrono::Utc;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the holders of a table's metadata lock are listed while the apply waits for them
/// (most hold it for a statement: they are gone at the next look).
const HOLDER_POLL: Duration = Duration::from_millis(100);

struct Ctx<'a> {
    plan: &'a Plan,
    pre: &'a Preflight,
    spec: &'a ConnectSpec,
    opts: &'a ApplyOptions,
    ledger: &'a dyn Ledger,
    bounds: Bounds<'a>,
    digest: String,
    done_before: HashSet<(String, String, String)>,
    critical: LoadLimits,
    heartbeat: Option<Heartbeat>,
    order: Order,
}

#[derive(Default)]
struct NodeResult {
    outcomes: Vec<ActionOutcome>,
    error: Option<String>,
    stop: Option<Stop>,
}

impl Ctx<'_> {
    fn emit(&self, e: Event) {
        self.bounds.emit(e);
    }

    async fn finish(&self, res: &mut NodeResult, o: ActionOutcome) {
        if let Err(e) = self
            .ledger
            .record(&self.opts.job_id, &self.digest, &o)
            .await
        {
            tracing::error!(node = %o.node, table = %format!("{}.{}", o.schema, o.table),
                "could not write the ledger: {e}; --resume may redo this table");
        }
        // The worker's span names the node. Target `progress`: on a terminal the progress bars
        // show these, so only the log file gets them.
        match o.status {
            ActionStatus::Done => tracing::info!(target: "progress",
                table = %format!("{}.{}", o.schema, o.table),
                "rebuilt: {} freed", human_bytes(o.bytes_freed)),
            _ => tracing::warn!(target: "progress", table = %format!("{}.{}", o.schema, o.table),
                "{}: {}", o.status.as_str(), o.error.as_deref().unwrap_or("")),
        }
        self.emit(Event::TableFinished(o.clone()));
        res.outcomes.push(o);
    }
}

fn outcome(node: &str, a: &Action, status: ActionStatus) -> ActionOutcome {
    ActionOutcome {
        estimated_duration_s: a.estimated_duration_s,
        rows: a.rows,
        secondary_indexes: a.secondary_indexes,
        ..ActionOutcome::new(node, &a.schema, &a.table, status)
    }
}

/// Runs the actions of `plan` after a successful [`super::preflight`].
pub async fn execute(
    plan: &Plan,
    pre: &Preflight,
    spec: &ConnectSpec,
    opts: &ApplyOptions,
    ledger: &dyn Ledger,
    events: &UnboundedSender<Event>,
    cancel: &CancellationToken,
) -> ApplyReport {
    let digest = plan.computed_digest();
    let done_before = if opts.resume {
        match ledger.done(&digest).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("cannot read the ledger for --resume: {e}");
                HashSet::new()
            }
        }
    } else {
        HashSet::new()
    };
    let s = &plan.settings;
    let ctx = Ctx {
        plan,
        pre,
        spec,
        opts,
        ledger,
        bounds: Bounds {
            deadline: opts
                .deadline
                .unwrap_or_else(|| Instant::now() + opts.timeout(plan).0),
            cancel,
            handle: &opts.handle,
            check: s.check_interval(),
            events,
        },
        digest: digest.clone(),
        done_before,
        critical: s.critical_load(),
        heartbeat: s.heartbeat().map(|(schema, table)| Heartbeat {
            schema: schema.to_string(),
            table: table.to_string(),
            server_id: pre.topology.root().server_id,
        }),
        order: plan.order(opts.order),
    };
    let work: Vec<&PlanNode> = plan
        .nodes
        .iter()
        .filter(|n| !n.actions.is_empty())
        .collect();
    let mut report = ApplyReport {
        job_id: opts.job_id.clone(),
        plan_id: plan.plan_id.clone(),
        digest,
        order: Some(ctx.order),
        ..Default::default()
    };
    tracing::info!(target: "progress", "order {}: {}{}", ctx.order, ctx.order.describe(),
    match (opts.order, plan.settings.order) {
        (Some(_), _) => " (--order)",
        (None, Some(_)) => " (the plan's)",
        (None, None) => " (the plan predates --order: as listed)",
    });
    let mut todo = Vec::new();
    for n in &work {
        let remaining = n
            .actions
            .iter()
            .filter(|a| {
                let key = (n.address.to_string(), a.schema.clone(), a.table.clone());
                let earlier = ctx.done_before.contains(&key);
                if earlier {
                    report.already_done.push(key);
                }
                !earlier
            })
            .count();
        todo.push((n.address.to_string(), remaining));
    }
    ctx.emit(Event::Started {
        total_actions: todo.iter().map(|(_, c)| c).sum(),
        nodes: todo,
        order: ctx.order,
    });
    // The futures are made first so the stream's type holds no closure: a closure over
    // `&PlanNode` trips the higher-ranked Send check when the apply runs in a spawned task.
    let nodes: Vec<_> = work.into_iter().map(|n| run_node(&ctx, n)).collect();
    let results: Vec<NodeResult> = futures::stream::iter(nodes)
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    for r in results {
        match r.stop {
            Some(Stop::Deadline(_)) => report.timed_out = true,
            Some(Stop::Cancelled) => report.cancelled = true,
            Some(Stop::Panic(why)) => report.panicked = Some(why),
            _ => {}
        }
        if let Some(e) = r.error {
            report.node_errors.push(e);
        }
        report.outcomes.extend(r.outcomes);
    }
    ctx.emit(Event::Finished);
    report
}

/// One node's worker: its connections, what it watches, and the gate it is held at.
struct Worker<'a> {
    ctx: &'a Ctx<'a>,
    n: &'a PlanNode,
    /// `n`'s address as the ledger and the events name it.
    node: String,
    ctl: Control,
    ddl: DdlSession,
    /// binlog-on: the replicas the rebuilds reach.
    downstream: Option<LagWatch>,
    /// The gate in force, if one holds.
    held: Held,
    /// Measured ÷ estimated seconds of this node's rebuilds so far in this apply.
    pace: Vec<f64>,
}

#[tracing::instrument(skip_all, fields(node = %n.address))]
async fn run_node(ctx: &Ctx<'_>, n: &PlanNode) -> NodeResult {
    let mut res = NodeResult::default();
    // How the ledger and the events name the node.
    let node = n.address.to_string();
    let mut actions: Vec<&Action> = n
        .actions
        .iter()
        .filter(|a| {
            !ctx.done_before
                .contains(&(node.clone(), a.schema.clone(), a.table.clone()))
        })
        .collect();
    sort_actions(&mut actions, ctx.order);
    if actions.is_empty() {
        return res;
    }
    let s = &ctx.plan.settings;
    let timeout = ctx.opts.timeout(ctx.plan).to_string();
    let stop_rest = |res: &mut NodeResult, from: usize, stop: Stop| {
        let (reason, code) = stop.reason(&timeout);
        let rest: Vec<ActionOutcome> = actions[from..]
            .iter()
            .map(|a| ActionOutcome {
                error: Some(reason.clone()),
                code,
                ..outcome(&node, a, ActionStatus::Skipped)
            })
            .collect();
        if let Stop::Node(r, _) = &stop {
            res.error = Some(format!("{node}: {r}"));
            ctx.emit(Event::NodeStopped {
                node: node.clone(),
                reason: r.clone(),
            });
        }
        res.stop = Some(stop);
        rest
    };
    let opened = async {
        let ctl = Control::open(&n.address, ctx.spec).await?;
        let ddl = DdlSession::open(
            &n.address,
            ctx.spec,
            s.mode,
            s.lock_wait_timeout.0.as_secs(),
        )
        .await?;
        Ok::<_, crate::error::Error>((ctl, ddl))
    }
    .await;
    let (mut ctl, ddl) = match opened {
        Ok(c) => c,
        Err(e) => {
            let stop = Stop::Node(e.to_string(), Some(e.code()));
            for o in stop_rest(&mut res, 0, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
    };
    ctl.enable_stage_progress().await;
    let downstream = (s.mode == Mode::BinlogOn && !n.propagates_to.is_empty())
        .then(|| {
            LagWatch::new(
                &ctx.pre.topology,
                &n.address,
                &n.propagates_to,
                ctx.spec,
                ctx.heartbeat.clone(),
            )
        })
        .filter(|l| !l.is_empty());
    let mut w = Worker {
        ctx,
        n,
        node: node.clone(),
        ctl,
        ddl,
        downstream,
        held: Held::default(),
        pace: Vec::new(),
    };
    // Tables with an outcome in the batch under way, and batches done.
    let (mut in_batch, mut batches) = (0, 0);
    for (i, a) in actions.iter().enumerate() {
        if let Some(stop) = w.checkpoint().await {
            for o in stop_rest(&mut res, i, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
        if in_batch == 0 && batches > 0 {
            tracing::info!(target: "progress", node = %node,
                "checkpoint after batch {batches} passed: not cancelled or paused, the node and \
                 the replicas it reaches as planned, gates open; {i} of {} table(s) done",
                actions.len());
        }
        let (o, stop) = w.rebuild(a).await;
        let done = o.status == ActionStatus::Done;
        // As in a calibration, short rebuilds say more about the fixed cost than the rates.
        if let (true, Some(took), Some(est)) = (done, o.duration(), a.estimated_duration_s)
            && est > 0.0
            && took >= MIN_CALIBRATING_S
        {
            w.pace.push(took / est);
        }
        ctx.finish(&mut res, o).await;
        // The batch size may change while the job runs (PATCH): it is read at every table.
        in_batch += 1;
        if in_batch >= w.ctx.bounds.handle.tunables().batch_size.max(1) || i + 1 == actions.len() {
            batches += 1;
            ctx.emit(Event::BatchDone {
                node: node.clone(),
                batch: batches,
                tables: in_batch,
                done: i + 1,
                total: actions.len(),
            });
            in_batch = 0;
        }
        let stop = match stop {
            Some(s) => Some(s),
            None if done => w.rebuilt(a).await,
            None => None,
        };
        if let Some(stop) = stop {
            for o in stop_rest(&mut res, i + 1, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
    }
    w.held.open(&node, &ctx.bounds);
    res
}

impl Worker<'_> {
    /// Before every table (and every retry): stop, drift, then the gates until they open.
    async fn checkpoint(&mut self) -> Option<Stop> {
        let mut eyes = NodeEyes {
            n: self.n,
            node: &self.node,
            settings: &self.ctx.plan.settings,
            heartbeat: self.ctx.heartbeat.as_ref(),
            ctl: &mut self.ctl,
            downstream: self.downstream.as_mut(),
            checked: &self.ctx.pre.topology,
        };
        checkpoint(&self.node, &self.ctx.bounds, &mut eyes, &mut self.held).await
    }

    /// The seconds `a` is expected to take: the plan's estimate, corrected by how this node's
    /// rebuilds compared with their estimates so far in this apply (the median ratio).
    fn expected_seconds(&self, a: &Action) -> Option<f64> {
        let est = a.estimated_duration_s?;
        if self.pace.is_empty() {
            return Some(est);
        }
        let mut p = self.pace.clone();
        p.sort_by(f64::total_cmp);
        Some(est * p[p.len() / 2])
    }

    /// Why `a` is not started: its expected duration does not fit the time left before the
    /// deadline, or is longer than `worker_timeout` (it would be killed and its work lost).
    fn would_not_finish(&self, a: &Action) -> Option<String> {
        let need = self.expected_seconds(a)?;
        let left = self
            .ctx
            .bounds
            .deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        if need > left {
            return Some(format!(
                "would not finish before the deadline (needs {}, {} left)",
                human_duration(need),
                human_duration(left)
            ));
        }
        let wt = self.ctx.plan.settings.worker_timeout?;
        (need > wt.0.as_secs_f64()).then(|| {
            format!(
                "would not finish within worker_timeout (needs {}, worker_timeout {wt})",
                human_duration(need)
            )
        })
    }

    /// Why `a` cannot start for want of disk: the free space of the node's datadir
    /// (`--free-disk`, else the `DISKS` plugin) below what the rebuild needs.
    async fn disk_short(
        &mut self,
        a: &Action,
        before: u64,
    ) -> crate::error::Result<Option<String>> {
        let (seen, log_max) = self.ctl.free_disk().await?;
        let given = self
            .ctx
            .opts
            .free_disk
            .get(&self.n.address.normalized().to_string());
        let (free, from) = match (given, seen) {
            (Some(f), _) => (*f, FreeSource::Given),
            (None, Some(f)) => (f, FreeSource::Disks),
            (None, None) => return Ok(None),
        };
        // The plan's estimate of the rebuilt size, scaled to the file as it is now.
        let rebuilt = a.file_size_bytes.saturating_sub(a.estimated_reclaim_bytes);
        let rebuilt = if a.file_size_bytes > 0 {
            (rebuilt as f64 * before as f64 / a.file_size_bytes as f64) as u64
        } else {
            rebuilt
        };
        let need = needed(rebuilt, log_max);
        Ok((free < need).then(|| {
            format!(
                "not enough free disk for the rebuild: needs ~{} in the datadir (the rebuilt \
                 table ~{} and the online-alter log up to {}), {} free ({from})",
                human_bytes(need),
                human_bytes(rebuilt),
                human_bytes(log_max),
                human_bytes(free)
            )
        }))
    }

    /// After a rebuild (binlog-on): the replicas must execute it before the next one starts.
    async fn rebuilt(&mut self, a: &Action) -> Option<Stop> {
        let watch = self.downstream.as_mut()?;
        let what = format!("the rebuild of {}.{}", a.schema, a.table);
        match watch.rebuilt(&mut self.ctl, &what).await {
            Ok(()) => None,
            Err(e) => Some(Stop::Node(
                format!(
                    "cannot read the binary log position after {what}, so its replay cannot be \
                     waited for: {e}"
                ),
                Some(ErrorCode::Connection),
            )),
        }
    }

    /// Waits (up to `lock_wait_timeout`) until no other session holds the table's metadata
    /// lock; `Err` names the holders still there.
    async fn wait_for_holders(&mut self, a: &Action) -> Result<(), String> {
        let started = Instant::now();
        let limit = started + self.ctx.plan.settings.lock_wait_timeout.0;
        let mut said = false;
        loop {
            let holders = match self
                .ctl
                .lock_holders(&a.schema, &a.table, self.ddl.id)
                .await
            {
                Ok(h) => h,
                Err(e) => {
                    // lock_wait_timeout still bounds what the ALTER can make others wait.
                    tracing::warn!("cannot list the metadata lock holders: {e}");
                    return Ok(());
                }
            };
            if holders.is_empty() {
                return Ok(());
            }
            let who: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
            let who = who.join(", ");
            if Instant::now() >= limit || self.ctx.bounds.stop_now().is_some() {
                return Err(who);
            }
            // Statement-long holders come and go: only a wait that lasts is worth a line.
            if !said && started.elapsed() >= Duration::from_secs(1) {
                self.ctx.emit(Event::Waiting {
                    node: self.node.clone(),
                    reason: format!(
                        "{}.{}: not issuing the ALTER while the table is held by {who}",
                        a.schema, a.table
                    ),
                });
                said = true;
            }
            let step = HOLDER_POLL.min(limit.saturating_duration_since(Instant::now()));
            if self.ctx.bounds.pause(step).await.is_some() {
                return Err(who);
            }
        }
    }

    /// One table: measure, re-qualify, wait for holders, run with retries, measure again.
    async fn rebuild(&mut self, a: &Action) -> (ActionOutcome, Option<Stop>) {
        let node = self.node.clone();
        let s = &self.ctx.plan.settings;
        let skipped = |why: String, code: Option<ErrorCode>| ActionOutcome {
            error: Some(why),
            code,
            ..outcome(&node, a, ActionStatus::Skipped)
        };
        // Nothing left to do is no failure: the apply is not partial for it.
        let unneeded = |why: String| ActionOutcome {
            unneeded: true,
            ..skipped(why, None)
        };
        let before = match self.ctl.table_now(&a.schema, &a.table).await {
            Ok(TableNow::File(size)) => size,
            Ok(TableNow::Missing) => {
                let why = "the table no longer exists (or is no longer InnoDB)";
                return (unneeded(why.into()), None);
            }
            Ok(TableNow::NotFilePerTable) => {
                let why = "the table is no longer in its own tablespace";
                return (unneeded(why.into()), None);
            }
            Err(e) => {
                let stop = Stop::Node(
                    format!("control connection failed: {e}"),
                    Some(ErrorCode::Connection),
                );
                return (skipped(e.to_string(), Some(e.code())), Some(stop));
            }
        };
        if let Some(why) = no_longer_qualifies(a, before, s) {
            return (unneeded(why), None);
        }
        if let Some(why) = self.would_not_finish(a) {
            return (skipped(why, Some(ErrorCode::Timeout)), None);
        }
        match self.disk_short(a, before).await {
            Ok(Some(why)) => return (skipped(why, None), None),
            Ok(None) => {}
            Err(e) => {
                let stop = Stop::Node(
                    format!("cannot read the free disk space: {e}"),
                    Some(e.code()),
                );
                return (skipped(e.to_string(), Some(e.code())), Some(stop));
            }
        }
        // Built here from schema, table and the online flag; the plan's text is never executed.
        let sql = rebuild_statement(&a.schema, &a.table, a.online);
        let started = Utc::now();
        let tries = self.ctx.opts.lock_retries.max(1);
        let label = format!("{}.{}", a.schema, a.table);
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            // Never issue the ALTER behind a long transaction: every later query would queue
            // behind the waiting ALTER.
            let blocked = match self.wait_for_holders(a).await {
                // Paused since this table's checkpoint (while its size was read and its
                // holders looked at): no new rebuild starts, so hold at the checkpoint and then
                // look at the holders again, as the same try.
                Ok(()) if self.ctx.bounds.handle.paused().is_some() => {
                    if let Some(stop) = self.checkpoint().await {
                        let (why, code) =
                            stop.reason(&self.ctx.opts.timeout(self.ctx.plan).to_string());
                        return (skipped(why, code), Some(stop));
                    }
                    attempt -= 1;
                    continue;
                }
                Ok(()) => {
                    self.ctx.emit(Event::TableStarted {
                        node: node.clone(),
                        schema: a.schema.clone(),
                        table: a.table.clone(),
                        size_before: before,
                        attempt,
                    });
                    let mut now = RebuildNow {
                        node: node.clone(),
                        schema: a.schema.clone(),
                        table: a.table.clone(),
                        started_at: Utc::now(),
                        size_before: before,
                        estimated_bytes: a
                            .file_size_bytes
                            .saturating_sub(a.estimated_reclaim_bytes),
                        bytes_written: None,
                        percent: None,
                        stage: None,
                        estimated_duration_s: self.expected_seconds(a),
                        eta_s: None,
                    };
                    now.read(Default::default(), now.started_at);
                    self.ctx.emit(Event::Progress(now.clone()));
                    let deadline = self.ctx.bounds.deadline;
                    let limit = match s.worker_timeout {
                        Some(wt) => deadline.min(Instant::now() + wt.0),
                        None => deadline,
                    };
                    match self.run_limited(&a.schema, &sql, limit, now).await {
                        Ran::Finished(Err(e)) if mysql::error_number(&e) == Some(1205) => format!(
                            "could not get the metadata lock within lock_wait_timeout ({})",
                            s.lock_wait_timeout
                        ),
                        other => break other,
                    }
                }
                Err(who) => format!("the table is held by {who}"),
            };
            if attempt >= tries {
                let o = ActionOutcome {
                    started_at: Some(started),
                    size_before: Some(before),
                    ..skipped(
                        format!(
                            "{blocked} in {tries} tries: a transaction keeps the table open (or, \
                             right after a mass delete, InnoDB's purge of it); the ALTER was not \
                             left waiting (killing blockers is never automatic)"
                        ),
                        None,
                    )
                };
                return (o, None);
            }
            // Doubling, but never past a minute (and never overflowing with many tries).
            let wait = self
                .ctx
                .opts
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(Duration::from_secs(60).max(self.ctx.opts.retry_backoff));
            self.ctx.emit(Event::Waiting {
                node: node.clone(),
                reason: format!(
                    "{label}: {blocked} (try {attempt} of {tries}); retrying in {}s",
                    wait.as_secs_f64()
                ),
            });
            // The backoff may have been long: the node is checked again before the next try,
            // as before every table.
            let stopped = match self.ctx.bounds.pause(wait).await {
                Some(stop) => Some(stop),
                None => self.checkpoint().await,
            };
            if let Some(stop) = stopped {
                let (why, code) = stop.reason(&self.ctx.opts.timeout(self.ctx.plan).to_string());
                return (skipped(why, code), Some(stop));
            }
        };
        let base = ActionOutcome {
            started_at: Some(started),
            size_before: Some(before),
            ..outcome(&node, a, ActionStatus::Done)
        };
        self.outcome(result, base, &label).await
    }

    /// The outcome of a statement that ran.
    async fn outcome(
        &mut self,
        result: Ran,
        base: ActionOutcome,
        label: &str,
    ) -> (ActionOutcome, Option<Stop>) {
        let s = &self.ctx.plan.settings;
        match result {
            Ran::Finished(Ok(())) => {
                let after = match self.ctl.table_now(&base.schema, &base.table).await {
                    Ok(TableNow::File(x)) => Some(x),
                    _ => None,
                };
                let before = base.size_before.unwrap_or(0);
                (
                    ActionOutcome {
                        finished_at: Utc::now(),
                        size_after: after,
                        bytes_freed: after.map_or(0, |x| before.saturating_sub(x)),
                        ..base
                    },
                    None,
                )
            }
            Ran::Finished(Err(e)) => {
                let lost = !matches!(e, sqlx::Error::Database(_));
                let err = mysql::query_error(&self.ctl.node, e);
                // A statement the server refused is no connection failure: only errors with a
                // meaning of their own (privilege, timeout) carry a spec code.
                let code = match &err {
                    crate::error::Error::Query { .. } => None,
                    other => Some(other.code()),
                };
                let o = ActionOutcome {
                    status: ActionStatus::Failed,
                    finished_at: Utc::now(),
                    error: Some(err.to_string()),
                    code,
                    ..base
                };
                let stop = lost.then(|| {
                    Stop::Node(
                        format!("the DDL session failed: {err}"),
                        Some(ErrorCode::Connection),
                    )
                });
                (o, stop)
            }
            Ran::Unstopped(limit) => {
                let msg = "the statement could not be stopped with KILL QUERY (see the log): it \
                           may still be running on the server; this node stops here";
                tracing::error!(table = %label, "{msg}");
                let o = ActionOutcome {
                    status: ActionStatus::Failed,
                    finished_at: Utc::now(),
                    error: Some(msg.into()),
                    code: Some(ErrorCode::Timeout),
                    ..base
                };
                // Deadline, cancel and panic keep their meaning for the report; anything else
                // becomes a node stop, since the session may still be busy.
                let next = match limit {
                    Limit::Deadline => Stop::Deadline(None),
                    Limit::Cancelled => Stop::Cancelled,
                    Limit::Panic(why) => Stop::Panic(why),
                    Limit::TableTimeout | Limit::CriticalLoad(_) => {
                        Stop::Node(msg.into(), Some(ErrorCode::Timeout))
                    }
                };
                (o, Some(next))
            }
            Ran::Killed(limit) => {
                let (why, code, next) = match limit {
                    Limit::Deadline => (
                        format!(
                            "killed on the server (KILL QUERY) at the apply's deadline ({})",
                            self.ctx.opts.timeout(self.ctx.plan)
                        ),
                        Some(ErrorCode::Timeout),
                        Some(Stop::Deadline(None)),
                    ),
                    Limit::Cancelled => (
                        "killed on the server (KILL QUERY): cancelled".into(),
                        None,
                        Some(Stop::Cancelled),
                    ),
                    Limit::Panic(p) => (
                        format!("killed on the server (KILL QUERY): panic ({p})"),
                        None,
                        Some(Stop::Panic(p)),
                    ),
                    Limit::CriticalLoad(c) => (
                        format!("killed on the server (KILL QUERY): {c}"),
                        None,
                        Some(Stop::Node(
                            format!("{c} while rebuilding {label}; the node stops here"),
                            None,
                        )),
                    ),
                    // A per-table timeout does not stop the node.
                    Limit::TableTimeout => (
                        format!(
                            "killed on the server (KILL QUERY) after worker_timeout ({})",
                            s.worker_timeout.map(|w| w.to_string()).unwrap_or_default()
                        ),
                        Some(ErrorCode::Timeout),
                        None,
                    ),
                };
                let o = ActionOutcome {
                    status: ActionStatus::Skipped,
                    finished_at: Utc::now(),
                    error: Some(why),
                    code,
                    ..base
                };
                (o, next)
            }
        }
    }

    /// Runs `sql` on the DDL session; past `limit`, on cancel or panic, or when the node's load
    /// passes `critical_load`, kills it on the server.
    async fn run_limited(
        &mut self,
        schema: &str,
        sql: &str,
        limit: Instant,
        now: RebuildNow,
    ) -> Ran {
        let ctx = self.ctx;
        let id = self.ddl.id;
        let ctl = &mut self.ctl;
        let fut = self.ddl.run(schema, sql);
        tokio::pin!(fut);
        let why = {
            let mut load = ControlLoad {
                ctl: &mut *ctl,
                names: ctx.critical.0.iter().map(|(n, _)| n.as_str()).collect(),
                progress: Some(Followed {
                    id,
                    now,
                    bounds: &ctx.bounds,
                }),
            };
            let watch = critical_watch(&mut load, &ctx.critical, ctx.bounds.check);
            match until_stopped(&ctx.bounds, fut.as_mut(), limit, watch).await {
                Ok(r) => return Ran::Finished(r),
                Err(why) => why,
            }
        };
        let killed = kill(ctl, ctx.spec, id).await;
        match tokio::time::timeout(Duration::from_secs(30), &mut fut).await {
            // It finished just before the kill landed.
            Ok(Ok(())) => Ran::Finished(Ok(())),
            Ok(Err(_)) if killed => Ran::Killed(why),
            _ => Ran::Unstopped(why),
        }
    }
}

/// What a node's checkpoint sees: the node itself through its control connection and, in
/// binlog-on, the replicas its rebuild reaches.
struct NodeEyes<'w> {
    n: &'w PlanNode,
    /// As the lag readings name it.
    node: &'w str,
    settings: &'w Settings,
    heartbeat: Option<&'w Heartbeat>,
    ctl: &'w mut Control,
    downstream: Option<&'w mut LagWatch>,
    /// The topology the preflight checked the plan against: what reached replicas' filters
    /// are compared with.
    checked: &'w crate::topology::ClusterTopology,
}

#[async_trait::async_trait]
impl Eyes for NodeEyes<'_> {
    async fn look(&mut self, b: &Bounds<'_>) -> Result<Look, Stop> {
        let s = self.settings;
        let me = self.node;
        // The one drift rule, on the node as it is now.
        let live = self.ctl.live_node().await.map_err(|e| {
            Stop::Node(
                format!("role re-check failed: {e}"),
                Some(ErrorCode::Connection),
            )
        })?;
        let mut stopped = None;
        let mut changed = Vec::new();
        for d in node_drift(self.n, &live, live.source.is_none(), s.exclude_primary) {
            match d {
                Drift::Changed(m) => changed.push(m),
                Drift::ReplicationStopped(m) => stopped = Some(m),
            }
        }
        let mut lag = Vec::new();
        if let Some(watch) = self.downstream.as_deref_mut() {
            for seen in watch.read().await {
                if let Ok(l) = &seen.live
                    && let Some(Drift::Changed(m)) = eligibility(l, false, s.exclude_primary)
                {
                    changed.push(format!("a replica the rebuild reaches changed: {m}"));
                }
                if let Ok(l) = &seen.live
                    && let Some(before) = self.checked.find(&seen.node)
                    && let Some(Drift::Changed(m)) = filter_drift(before, l)
                {
                    changed.push(format!("a replica the rebuild reaches changed: {m}"));
                }
                lag.push((seen.node.to_string(), seen.lag));
            }
        } else if s.mode == Mode::BinlogOff {
            // A replica already behind is not made worse.
            let delay = live.replication.as_ref().map_or(0, |r| r.delay_seconds);
            let own = match self.heartbeat.filter(|_| live.replication.is_some()) {
                None => own_lag(&live, None, delay),
                Some(h) => match self.ctl.heartbeat(&h.schema, &h.table, h.server_id).await {
                    Ok(Some(age)) => own_lag(&live, Some(age), delay),
                    Ok(None) => Lag::Unknown(format!(
                        "no row of server_id {} in the heartbeat table",
                        h.server_id
                    )),
                    Err(e) => Lag::Unknown(format!("heartbeat table unreadable: {e}")),
                },
            };
            lag.push((me.to_string(), own));
        }
        // The node's own replication stopped: its lag is unknown, which waits.
        if let Some(m) = stopped
            && !lag.iter().any(|(n, _)| n == me)
        {
            lag.push((me.to_string(), Lag::Unknown(m)));
        }
        let t = b.handle.tunables();
        let names: Vec<&str> = t.max_load.0.iter().map(|(n, _)| n.as_str()).collect();
        Ok(Look {
            changed,
            readings: Readings {
                paused: b.handle.paused().map(|(_, why)| why),
                lag,
                load: self.ctl.load(&names).await.map_err(|e| e.to_string()),
            },
        })
    }

    async fn wait_between(&mut self, d: Duration) -> bool {
        match self.downstream.as_deref_mut().filter(|w| w.has_pending()) {
            Some(w) => {
                w.wait_pending(d).await;
                true
            }
            None => false,
        }
    }
}

/// Whether `a` is still worth it with the file at `before` bytes now: the plan's estimate of
/// the rebuilt size against the file as it is.
fn no_longer_qualifies(a: &Action, before: u64, s: &crate::settings::Settings) -> Option<String> {
    let rebuilt = a.file_size_bytes.saturating_sub(a.estimated_reclaim_bytes);
    let reclaim_now = before.saturating_sub(rebuilt);
    (!s.thresholds().qualifies(reclaim_now, before)).then(|| {
        format!(
            "no longer qualifies: the file is {} now (planned {}), estimated reclaim {}",
            human_bytes(before),
            human_bytes(a.file_size_bytes),
            human_bytes(reclaim_now)
        )
    })
}
