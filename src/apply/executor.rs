//! The executor: one worker per node, batches, checkpoints, server-side kills, measured sizes.

use super::lag::LagWatch;
use super::preflight::Preflight;
use super::session::{Control, DdlSession, TableNow};
use super::{ActionOutcome, ActionStatus, ApplyOptions, ApplyReport, Event, Ledger};
use crate::config::Mode;
use crate::error::ErrorCode;
use crate::mysql::{self, ConnectSpec, Endpoint};
use crate::plan::{Action, Plan, PlanNode, rebuild_statement};
use chrono::Utc;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a worker stops before its last action.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    Deadline,
    Cancelled,
    /// The node cannot go on (drift, privilege, lost connection).
    Node(String, Option<u16>),
}

impl Stop {
    fn reason(&self, timeout: &str) -> (String, Option<u16>) {
        match self {
            Self::Deadline => (
                format!("not run: the apply's deadline ({timeout}) passed"),
                Some(ErrorCode::Timeout.as_u16()),
            ),
            Self::Cancelled => ("not run: cancelled".into(), None),
            Self::Node(r, c) => (format!("not run: {r}"), *c),
        }
    }
}

/// Why a running statement was stopped.
enum Limit {
    /// The apply's deadline.
    Deadline,
    Cancelled,
    /// `worker_timeout`: this table only.
    TableTimeout,
}

/// How a statement ended.
enum Ran {
    Finished(Result<(), sqlx::Error>),
    /// Stopped on the server by `KILL QUERY`.
    Killed(Limit),
    /// `KILL QUERY` could not be sent, or the statement did not end after it: it may still be
    /// running on the server.
    Unstopped(Limit),
}

struct Ctx<'a> {
    plan: &'a Plan,
    pre: &'a Preflight,
    spec: &'a ConnectSpec,
    opts: &'a ApplyOptions,
    ledger: &'a dyn Ledger,
    events: &'a UnboundedSender<Event>,
    cancel: &'a CancellationToken,
    digest: String,
    deadline: Instant,
    done_before: HashSet<(String, String, String)>,
}

#[derive(Default)]
struct NodeResult {
    outcomes: Vec<ActionOutcome>,
    error: Option<String>,
    stop: Option<Stop>,
}

impl Ctx<'_> {
    fn stop_now(&self) -> Option<Stop> {
        if self.cancel.is_cancelled() {
            Some(Stop::Cancelled)
        } else if Instant::now() >= self.deadline {
            Some(Stop::Deadline)
        } else {
            None
        }
    }

    fn emit(&self, e: Event) {
        match &e {
            Event::TableStarted {
                node,
                schema,
                table,
                size_before,
                attempt,
            } => tracing::info!(target: "progress", node = %node,
                "rebuilding {schema}.{table} ({}), try {attempt}",
                crate::plan::human_bytes(*size_before)),
            Event::Waiting { node, reason } => {
                tracing::info!(target: "progress", node = %node, "{reason}")
            }
            _ => {}
        }
        // Nobody listening is fine.
        let _ = self.events.send(e);
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
                "rebuilt: {} freed", crate::plan::human_bytes(o.bytes_freed)),
            _ => tracing::warn!(target: "progress", table = %format!("{}.{}", o.schema, o.table),
                "{}: {}", o.status.as_str(), o.error.as_deref().unwrap_or("")),
        }
        self.emit(Event::TableFinished(o.clone()));
        res.outcomes.push(o);
    }

    /// Sleeps until `d` passes, unless cancelled or past the deadline first.
    async fn pause(&self, d: Duration) -> Option<Stop> {
        tokio::select! {
            _ = tokio::time::sleep(d) => None,
            _ = self.cancel.cancelled() => Some(Stop::Cancelled),
            _ = tokio::time::sleep_until(self.deadline) => Some(Stop::Deadline),
        }
    }
}

fn outcome(node: &str, a: &Action, status: ActionStatus) -> ActionOutcome {
    ActionOutcome {
        node: node.to_string(),
        schema: a.schema.clone(),
        table: a.table.clone(),
        status,
        started_at: None,
        finished_at: Utc::now(),
        size_before: None,
        size_after: None,
        bytes_freed: 0,
        error: None,
        code: None,
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
    let ctx = Ctx {
        plan,
        pre,
        spec,
        opts,
        ledger,
        events,
        cancel,
        digest: digest.clone(),
        deadline: opts
            .deadline
            .unwrap_or_else(|| Instant::now() + plan.settings.timeout.0),
        done_before,
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
        ..Default::default()
    };
    let mut todo = Vec::new();
    for n in &work {
        let remaining = n
            .actions
            .iter()
            .filter(|a| {
                let key = (n.address.clone(), a.schema.clone(), a.table.clone());
                let earlier = ctx.done_before.contains(&key);
                if earlier {
                    report.already_done.push(key);
                }
                !earlier
            })
            .count();
        todo.push((n.address.clone(), remaining));
    }
    ctx.emit(Event::Started {
        total_actions: todo.iter().map(|(_, c)| c).sum(),
        nodes: todo,
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
            Some(Stop::Deadline) => report.timed_out = true,
            Some(Stop::Cancelled) => report.cancelled = true,
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

#[tracing::instrument(skip_all, fields(node = %n.address))]
async fn run_node(ctx: &Ctx<'_>, n: &PlanNode) -> NodeResult {
    let mut res = NodeResult::default();
    let actions: Vec<&Action> = n
        .actions
        .iter()
        .filter(|a| {
            !ctx.done_before
                .contains(&(n.address.clone(), a.schema.clone(), a.table.clone()))
        })
        .collect();
    if actions.is_empty() {
        return res;
    }
    let s = &ctx.plan.settings;
    let timeout = s.timeout.to_string();
    let stop_rest = |res: &mut NodeResult, from: usize, stop: Stop| {
        let (reason, code) = stop.reason(&timeout);
        let rest: Vec<ActionOutcome> = actions[from..]
            .iter()
            .map(|a| ActionOutcome {
                error: Some(reason.clone()),
                code,
                ..outcome(&n.address, a, ActionStatus::Skipped)
            })
            .collect();
        if let Stop::Node(r, _) = &stop {
            res.error = Some(format!("{}: {r}", n.address));
            ctx.emit(Event::NodeStopped {
                node: n.address.clone(),
                reason: r.clone(),
            });
        }
        res.stop = Some(stop);
        rest
    };
    let ep = match Endpoint::parse(&n.address) {
        Ok(e) => e,
        Err(e) => {
            for o in stop_rest(&mut res, 0, Stop::Node(e.to_string(), Some(1001))) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
    };
    let opened = async {
        let ctl = Control::open(&ep, ctx.spec).await?;
        let ddl = DdlSession::open(&ep, ctx.spec, s.mode, s.lock_wait_timeout.0.as_secs()).await?;
        Ok::<_, crate::error::Error>((ctl, ddl))
    }
    .await;
    let (mut ctl, mut ddl) = match opened {
        Ok(c) => c,
        Err(e) => {
            let stop = Stop::Node(e.to_string(), Some(e.code().as_u16()));
            for o in stop_rest(&mut res, 0, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
    };
    let mut lag = (s.mode == Mode::BinlogOn && !n.propagates_to.is_empty())
        .then(|| LagWatch::new(&ctx.pre.topology, &ep, &n.propagates_to, ctx.spec))
        .filter(|l| !l.is_empty());
    let batch = s.batch_size.max(1);
    let mut i = 0;
    while i < actions.len() {
        let lag_now = if i % batch == 0 { lag.as_mut() } else { None };
        if let Some(stop) = checkpoint(ctx, n, &mut ctl, lag_now).await {
            for o in stop_rest(&mut res, i, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
        let (o, stop) = run_action(ctx, n, actions[i], &mut ctl, &mut ddl).await;
        ctx.finish(&mut res, o).await;
        i += 1;
        if let Some(stop) = stop {
            for o in stop_rest(&mut res, i, stop) {
                ctx.finish(&mut res, o).await;
            }
            return res;
        }
    }
    res
}

/// Before every table: deadline/cancel and the node's role (a promotion in the middle of a
/// batch must not get another rebuild). Between batches also (binlog-on) downstream lag.
async fn checkpoint(
    ctx: &Ctx<'_>,
    n: &PlanNode,
    ctl: &mut Control,
    lag: Option<&mut LagWatch>,
) -> Option<Stop> {
    if let Some(stop) = ctx.stop_now() {
        return Some(stop);
    }
    let s = &ctx.plan.settings;
    let (info, sources) = match ctl.state().await {
        Ok(x) => x,
        Err(e) => return Some(Stop::Node(format!("role re-check failed: {e}"), Some(1002))),
    };
    let source = crate::mysql::replication::primary_source(&sources);
    let mut changed = Vec::new();
    if info.server_id != n.server_id {
        changed.push(format!("server_id is now {}", info.server_id));
    }
    if info.read_only != n.read_only {
        changed.push(format!(
            "read_only is now {}",
            if info.read_only { "ON" } else { "OFF" }
        ));
    }
    if source.map(|x| x.source.to_string()) != n.source {
        changed.push(format!(
            "replicates from {}",
            source
                .map(|x| x.source.to_string())
                .unwrap_or_else(|| "nothing".into())
        ));
    }
    if s.exclude_primary && !source.is_some_and(|x| x.running()) {
        changed.push("replication is not running".into());
    }
    if !changed.is_empty() {
        return Some(Stop::Node(
            format!("the node changed during the apply: {}", changed.join(", ")),
            Some(ErrorCode::Primary.as_u16()),
        ));
    }
    if let Some(lag) = lag {
        let max = s.max_lag.0.as_secs();
        loop {
            let lags = lag.lags().await;
            let behind: Vec<String> = lags
                .iter()
                .filter(|(_, l)| l.is_none_or(|l| l > max))
                .map(|(ep, l)| match l {
                    Some(l) => format!("{ep} is {l}s behind"),
                    None => format!("{ep} lag unknown (replication stopped or unreachable)"),
                })
                .collect();
            if behind.is_empty() {
                break;
            }
            ctx.emit(Event::Waiting {
                node: n.address.clone(),
                reason: format!(
                    "waiting for replicas (max_lag {}s): {}",
                    max,
                    behind.join(", ")
                ),
            });
            if let Some(stop) = ctx.pause(ctx.opts.lag_poll).await {
                return Some(stop);
            }
        }
    }
    None
}

/// Runs `sql` on the DDL session; past `limit` or on cancel, kills it on the server.
async fn run_limited(
    ctx: &Ctx<'_>,
    ddl: &mut DdlSession,
    ctl: &mut Control,
    sql: &str,
    limit: Instant,
) -> Ran {
    let id = ddl.id;
    let fut = ddl.run(sql);
    tokio::pin!(fut);
    let why = tokio::select! {
        r = &mut fut => return Ran::Finished(r),
        _ = tokio::time::sleep_until(limit) => {
            if limit >= ctx.deadline { Limit::Deadline } else { Limit::TableTimeout }
        }
        _ = ctx.cancel.cancelled() => Limit::Cancelled,
    };
    let killed = match ctl.kill_query(id).await {
        Ok(()) => true,
        Err(e) => {
            // The control connection may be gone: try a fresh one.
            tracing::warn!(node = %ctl.node, "KILL QUERY on the control connection failed: {e}");
            match Control::open(&ctl.node, ctx.spec).await {
                Ok(mut fresh) => match fresh.kill_query(id).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(node = %ctl.node, "KILL QUERY {id} failed: {e}");
                        false
                    }
                },
                Err(e) => {
                    tracing::error!(node = %ctl.node, "cannot connect to send KILL QUERY {id}: {e}");
                    false
                }
            }
        }
    };
    if killed {
        tracing::warn!(node = %ctl.node, "sent KILL QUERY {id}");
    }
    match tokio::time::timeout(Duration::from_secs(30), &mut fut).await {
        // It finished just before the kill landed.
        Ok(Ok(())) => Ran::Finished(Ok(())),
        Ok(Err(_)) if killed => Ran::Killed(why),
        _ => Ran::Unstopped(why),
    }
}

async fn run_action(
    ctx: &Ctx<'_>,
    n: &PlanNode,
    a: &Action,
    ctl: &mut Control,
    ddl: &mut DdlSession,
) -> (ActionOutcome, Option<Stop>) {
    let node = n.address.as_str();
    let s = &ctx.plan.settings;
    let label = format!("{}.{}", a.schema, a.table);
    let skipped = |why: String, code: Option<u16>| ActionOutcome {
        error: Some(why),
        code,
        ..outcome(node, a, ActionStatus::Skipped)
    };
    let before = match ctl.table_now(&a.schema, &a.table).await {
        Ok(TableNow::File(size)) => size,
        Ok(TableNow::Missing) => {
            return (
                skipped(
                    "the table no longer exists (or is no longer InnoDB)".into(),
                    None,
                ),
                None,
            );
        }
        Ok(TableNow::NotFilePerTable) => {
            return (
                skipped("the table is no longer in its own tablespace".into(), None),
                None,
            );
        }
        Err(e) => {
            let stop = Stop::Node(format!("control connection failed: {e}"), Some(1002));
            return (skipped(e.to_string(), Some(e.code().as_u16())), Some(stop));
        }
    };
    // Still worth it? The plan's estimate of the rebuilt size against the file as it is now.
    let rebuilt = a.file_size_bytes.saturating_sub(a.estimated_reclaim_bytes);
    let reclaim_now = before.saturating_sub(rebuilt);
    if !s.thresholds().qualifies(reclaim_now, before) {
        return (
            skipped(
                format!(
                    "no longer qualifies: the file is {} now (planned {}), estimated reclaim {}",
                    crate::plan::human_bytes(before),
                    crate::plan::human_bytes(a.file_size_bytes),
                    crate::plan::human_bytes(reclaim_now)
                ),
                None,
            ),
            None,
        );
    }
    // Built here from schema, table and the online flag; the plan's text is never executed.
    let sql = rebuild_statement(&a.schema, &a.table, a.online);
    let started = Utc::now();
    let tries = ctx.opts.lock_retries.max(1);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        ctx.emit(Event::TableStarted {
            node: node.to_string(),
            schema: a.schema.clone(),
            table: a.table.clone(),
            size_before: before,
            attempt,
        });
        let limit = ctx.deadline.min(Instant::now() + ctx.opts.worker_timeout);
        match run_limited(ctx, ddl, ctl, &sql, limit).await {
            Ran::Finished(Err(e)) if mysql::error_number(&e) == Some(1205) => {
                if attempt >= tries {
                    let o = ActionOutcome {
                        started_at: Some(started),
                        size_before: Some(before),
                        ..skipped(
                            format!(
                                "could not get the metadata lock within lock_wait_timeout ({}) \
                                 in {tries} tries: a transaction keeps the table open",
                                s.lock_wait_timeout
                            ),
                            None,
                        )
                    };
                    return (o, None);
                }
                let wait = ctx.opts.retry_backoff * 2u32.pow(attempt - 1);
                ctx.emit(Event::Waiting {
                    node: node.to_string(),
                    reason: format!(
                        "{label}: metadata lock wait timed out (try {attempt} of {tries}); \
                         retrying in {}s",
                        wait.as_secs_f64()
                    ),
                });
                // The backoff may have been long: the node's role is checked again before the
                // next try, as before every table.
                let stopped = match ctx.pause(wait).await {
                    Some(stop) => Some(stop),
                    None => checkpoint(ctx, n, ctl, None).await,
                };
                if let Some(stop) = stopped {
                    let (why, code) = stop.reason(&s.timeout.to_string());
                    return (skipped(why, code), Some(stop));
                }
            }
            other => break other,
        }
    };
    let base = ActionOutcome {
        started_at: Some(started),
        size_before: Some(before),
        ..outcome(node, a, ActionStatus::Done)
    };
    match result {
        Ran::Finished(Ok(())) => {
            let after = match ctl.table_now(&a.schema, &a.table).await {
                Ok(TableNow::File(x)) => Some(x),
                _ => None,
            };
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
            let err = mysql::query_error(&ctl.node, e);
            // A statement the server refused is no connection failure: only errors with a
            // meaning of their own (privilege, timeout) carry a spec code.
            let code = match &err {
                crate::error::Error::Query { .. } => None,
                other => Some(other.code().as_u16()),
            };
            let o = ActionOutcome {
                status: ActionStatus::Failed,
                finished_at: Utc::now(),
                error: Some(err.to_string()),
                code,
                ..base
            };
            let stop =
                lost.then(|| Stop::Node(format!("the DDL session failed: {err}"), Some(1002)));
            (o, stop)
        }
        Ran::Unstopped(limit) => {
            let msg = "the statement could not be stopped with KILL QUERY (see the log): it \
                       may still be running on the server; this node stops here";
            tracing::error!(node = %ctl.node, table = %label, "{msg}");
            let o = ActionOutcome {
                status: ActionStatus::Failed,
                finished_at: Utc::now(),
                error: Some(msg.into()),
                code: Some(ErrorCode::Timeout.as_u16()),
                ..base
            };
            // Deadline and cancel keep their meaning for the report; a per-table timeout
            // becomes a node stop, since the session may still be busy.
            let next = match limit {
                Limit::Deadline => Stop::Deadline,
                Limit::Cancelled => Stop::Cancelled,
                Limit::TableTimeout => Stop::Node(msg.into(), Some(ErrorCode::Timeout.as_u16())),
            };
            (o, Some(next))
        }
        Ran::Killed(limit) => {
            let (why, code) = match limit {
                Limit::Deadline => (
                    format!(
                        "killed on the server (KILL QUERY) at the apply's deadline ({})",
                        s.timeout
                    ),
                    Some(ErrorCode::Timeout.as_u16()),
                ),
                Limit::Cancelled => ("killed on the server (KILL QUERY): cancelled".into(), None),
                Limit::TableTimeout => (
                    format!(
                        "killed on the server (KILL QUERY) after worker_timeout ({}s)",
                        ctx.opts.worker_timeout.as_secs()
                    ),
                    Some(ErrorCode::Timeout.as_u16()),
                ),
            };
            let o = ActionOutcome {
                status: ActionStatus::Skipped,
                finished_at: Utc::now(),
                error: Some(why),
                code,
                ..base
            };
            // A per-table timeout does not stop the node; the deadline and cancel do.
            let next = match limit {
                Limit::Deadline => Some(Stop::Deadline),
                Limit::Cancelled => Some(Stop::Cancelled),
                Limit::TableTimeout => None,
            };
            (o, next)
        }
    }
}
