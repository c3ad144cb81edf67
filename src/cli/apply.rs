//! `apply PLAN`: run exactly a reviewed plan; `recycle`: plan in memory, then apply.

use super::Context;
use super::login::{CredentialArgs, TargetArgs};
use super::opts::{ApplyFormat, PlanInputs, RunArgs};
use super::progress::{Bars, result_table};
use crate::apply::{ApplyOptions, ApplyReport, SessionSetup, use_schema, watch_files};
use crate::error::{Error, Result};
use crate::jobs::runner::{Applied, ApplyJob, Stop, run_apply};
use crate::jobs::view::RecycleConfig;
use crate::jobs::{JobKind, JobRecord, JobStatus};
use crate::mysql::ConnectSpec;
use crate::plan::{DigestProblem, Plan, PlanFormat, read_plan, render_plan};
use chrono::Utc;
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The reviewed plan file
    pub plan: PathBuf,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Skip the actions an earlier apply of this same plan (same digest) already did
    #[arg(long)]
    pub resume: bool,
    /// Refuse unless the plan's content hashes to this digest (sha256:…)
    #[arg(long)]
    pub expect_digest: Option<String>,
    /// The order each node's tables run in, over the plan's: reclaim (most estimated bytes per
    /// estimated second first), size, name, or plan (as the file lists them)
    #[arg(long, value_enum)]
    pub order: Option<crate::settings::Order>,
    /// The apply's deadline from its start, over the plan's timeout (a maintenance window:
    /// --timeout 4h); a rebuild whose estimate does not fit the time left is not started
    #[arg(long)]
    pub timeout: Option<crate::settings::HumanDuration>,
}

#[derive(Debug, Args)]
pub struct RecycleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub inputs: PlanInputs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub async fn apply(ctx: &Context, a: ApplyArgs) -> Result<i32> {
    let plan = read_plan(&a.plan)?;
    match plan.check_digest(a.expect_digest.as_deref()) {
        Ok(_) => {}
        Err(DigestProblem::Mismatch { actual, want }) => {
            return Err(Error::stale(vec![format!(
                "{} hashes to {actual}, not the expected {want}",
                a.plan.display()
            )]));
        }
        // An edited plan is another plan: it runs only when its new digest is pinned.
        Err(DigestProblem::Edited { actual }) => {
            return Err(Error::invalid(format!(
                "{} was edited after it was made (its content hashes to {actual}, the file says \
                 {}): review it (show, check) and apply it with --expect-digest {actual}; \
                 nothing was executed",
                a.plan.display(),
                plan.digest
            )));
        }
    }
    let spec =
        a.credentials
            .resolve_for_plan(&ctx.config, &plan.cluster.seed, plan.cluster.ssl_mode)?;
    run_plan(
        ctx,
        plan,
        spec,
        &a.run,
        Run {
            resume: a.resume,
            kind: JobKind::Apply,
            pinned: a.expect_digest.as_deref(),
            order: a.order,
            timeout: a.timeout,
        },
    )
    .await
}

pub async fn recycle(ctx: &Context, a: RecycleArgs) -> Result<i32> {
    let target = a.target.resolve(&ctx.config).await?;
    let req = a.inputs.request(ctx, &target)?;
    let (plan, _) = super::plan::plan_with_id(ctx, req, &target.spec).await?;
    if ctx.dry_run {
        print!("{}", render_plan(&plan, PlanFormat::Table)?);
        eprintln!("dry run: nothing was executed");
        return Ok(0);
    }
    run_plan(
        ctx,
        plan,
        target.spec,
        &a.run,
        Run {
            resume: false,
            kind: JobKind::Recycle,
            pinned: None,
            order: None,
            timeout: None,
        },
    )
    .await
}

/// Every statement per node, with its session setup; nothing connects.
fn dry_run(plan: &Plan) -> String {
    let mut out = String::new();
    let s = &plan.settings;
    for n in plan.nodes.iter().filter(|n| !n.actions.is_empty()) {
        out.push_str(&format!("-- {} ({} mode)\n", n.address, s.mode));
        for step in SessionSetup::of(s.mode, s.lock_wait_timeout.0.as_secs()) {
            out.push_str(&format!("{};\n", step.sql()));
        }
        for a in &n.actions {
            out.push_str(&format!("{};\n", use_schema(&a.schema)));
            out.push_str(&crate::plan::rebuild_statement(
                &a.schema, &a.table, a.online,
            ));
            out.push_str(";\n");
        }
    }
    out
}

fn confirm(plan: &Plan, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::invalid(
            "stdin is not a terminal, so there is no one to confirm: pass --yes to apply without \
             a prompt; nothing was executed",
        ));
    }
    eprint!("{}", crate::plan::summary_table(plan));
    eprint!(
        "Apply {} rebuild(s) on {} node(s) in {} mode? Only 'yes' is accepted: ",
        plan.summary.actions, plan.summary.nodes, plan.settings.mode
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::invalid(format!("reading the confirmation: {e}")))?;
    if line.trim() != "yes" {
        return Err(Error::invalid("not confirmed; nothing was executed"));
    }
    Ok(())
}

/// Ctrl-C (or SIGTERM): the first cancels (running statements are killed on the server, the rest skipped),
/// the second exits at once.
fn watch_interrupts(stop: Stop) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).ok();
        let mut next = async || {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => true,
            }
        };
        if next().await {
            eprintln!(
                "\ninterrupted: killing running statements (KILL QUERY) and skipping the rest; \
                 press Ctrl-C again to exit at once"
            );
            stop.cancel();
        }
        if next().await {
            eprintln!("exiting now");
            crate::logging::flush();
            std::process::exit(130);
        }
    });
}

/// How a plan is run, besides the flags every run takes.
pub(super) struct Run<'a> {
    pub resume: bool,
    pub kind: JobKind,
    /// The digest the plan was pinned to.
    pub pinned: Option<&'a str>,
    /// `--order`, over the plan's.
    pub order: Option<crate::settings::Order>,
    /// `--timeout`, over the plan's.
    pub timeout: Option<crate::settings::HumanDuration>,
}

pub(super) async fn run_plan(
    ctx: &Context,
    plan: Plan,
    spec: ConnectSpec,
    run: &RunArgs,
    how: Run<'_>,
) -> Result<i32> {
    let Run {
        resume,
        kind,
        pinned,
        order,
        timeout,
    } = how;
    if ctx.dry_run {
        print!("{}", dry_run(&plan));
        eprintln!("dry run: nothing was executed");
        return Ok(0);
    }
    if plan.actions().next().is_none() {
        println!("the plan has no actions: nothing to do");
        return Ok(0);
    }
    confirm(&plan, run.yes)?;
    let store = ctx.open_store().await?;
    let recovered = store.recover_interrupted().await?;
    if !recovered.is_empty() {
        eprintln!(
            "note: job(s) {} were left running by a process that is gone: recorded as failed \
             (interrupted)",
            recovered.join(", ")
        );
    }
    let id = store.next_id("job", Utc::now().date_naive()).await?;
    let config = RecycleConfig::applying(&plan, &spec, pinned);
    let mut job = JobRecord::new(id, kind, JobStatus::Running, config.to_value());
    let digest = job.start_applying(&plan).to_string();
    store.insert_job(&job).await?;
    eprintln!("job {} applies {} ({digest})", job.job_id, plan.plan_id);
    let mut opts = ApplyOptions::new(
        &job.job_id,
        &plan,
        &ctx.config.recycling.defaults,
        ctx.parallel,
        resume,
    );
    opts.order = order;
    opts.timeout = timeout;
    opts.free_disk = run.free_disk.iter().cloned().collect();
    let stop = Stop::new();
    watch_interrupts(stop.clone());
    let files_done = CancellationToken::new();
    watch_files(
        opts.handle.clone(),
        run.pause_file.clone(),
        run.panic_file.clone(),
        plan.settings.check_interval(),
        files_done.clone(),
    );
    let _files = files_done.drop_guard();
    let a = ApplyJob {
        store: &store,
        plan: &plan,
        spec: &spec,
        opts,
        stop: &stop,
    };
    let report = match run_apply(&mut job, a, &mut Bars::new()).await? {
        Applied::Ran(r) => r,
        // Drift, or the primary in the way: the live state refuses the plan (exit 3).
        Applied::Refused(e @ (Error::Stale { .. } | Error::Primary(_))) => {
            eprintln!("error[{}]: {e}", e.code());
            return Ok(3);
        }
        Applied::Refused(e) => return Err(e),
    };
    match run.output_format {
        ApplyFormat::Table => print!("{}", result_table(&report)),
        ApplyFormat::Json => println!("{}", crate::output::json_pretty(&report)?),
    }
    Ok(exit_code(&report))
}

/// Design §7: 0 all done, 5 partial (some failed or skipped); a timeout also prints 1009.
fn exit_code(r: &ApplyReport) -> i32 {
    if r.timed_out {
        eprintln!(
            "error[{}]: the apply's deadline passed: running statements were killed on the \
             server, the remaining tables skipped",
            crate::error::ErrorCode::Timeout
        );
    }
    if r.cancelled {
        eprintln!("cancelled: running statements were killed on the server");
    }
    if let Some(why) = &r.panicked {
        eprintln!("panic ({why}): running statements were killed on the server, the rest skipped");
    }
    if r.complete() { 0 } else { 5 }
}
