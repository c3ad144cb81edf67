//! `plan`: discover, scan and write a reviewable plan; `show`, `diff`, `check` review it.

use super::login::TargetArgs;
use super::opts::PlanInputs;
use super::{Context, emit};
use crate::error::Result;
use crate::plan::{
    PlanFormat, PlanRequest, Policy, Severity, check, diff, make_plan, read_plan, render_plan,
    write_plan,
};
use clap::Args;
use std::path::PathBuf;

/// A new `plan-YYYYMMDD-NNN` from the job store's counter (the one CLI and server share, so
/// ids never collide in a store).
pub async fn new_plan_id(ctx: &Context) -> Result<String> {
    let store = ctx.open_store().await?;
    store.next_id("plan", chrono::Utc::now().date_naive()).await
}

/// Plans with a new id, estimating durations with the local store's history.
pub async fn plan_with_id(
    ctx: &Context,
    req: PlanRequest,
    spec: &crate::mysql::ConnectSpec,
) -> Result<(crate::plan::Plan, Vec<crate::inspect::NodeScan>)> {
    // The store gives the plan id and each node's past rebuilds (duration estimates).
    let store = ctx.open_store().await?;
    let (id, planned) = tokio::join!(
        store.next_id("plan", chrono::Utc::now().date_naive()),
        make_plan(&req, spec, &store, &store)
    );
    let (mut plan, scans) = planned?;
    plan.plan_id = id?;
    plan.seal();
    Ok((plan, scans))
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub inputs: PlanInputs,
    /// Write the plan file here (.yaml, .yml or .json)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has actions, 0 when it is empty (like terraform plan)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// What to print on stdout: the summary table or the plan document
    #[arg(long, visible_alias = "format", value_enum, default_value_t = PlanFormat::Table)]
    pub output_format: PlanFormat,
}

pub async fn run(ctx: &Context, a: PlanArgs) -> Result<i32> {
    let target = a.target.resolve(&ctx.config).await?;
    let mut req = a.inputs.request(ctx, &target)?;
    if ctx.dry_run && req.analyze {
        eprintln!("dry run: not refreshing statistics (--analyze skipped)");
        req.analyze = false;
    }
    let (plan, scans) = plan_with_id(ctx, req, &target.spec).await?;
    for s in &scans {
        tracing::info!(
            node = %s.node,
            tables = s.dictionary_tables,
            read_in_phase_2 = s.tables.len(),
            sampled = s.sampled,
            analyzed = s.analyzed,
            "scanned in {:.2}s",
            s.elapsed.as_secs_f64()
        );
    }
    if let Some(out) = &a.out {
        write_plan(out, &plan)?;
        eprintln!("wrote plan {} to {}", plan.plan_id, out.display());
    }
    print!("{}", render_plan(&plan, a.output_format)?);
    Ok(if a.detailed_exitcode && plan.summary.actions > 0 {
        2
    } else {
        0
    })
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file
    pub plan: PathBuf,
    /// Output format
    #[arg(long, visible_alias = "format", value_enum, default_value_t = PlanFormat::Table)]
    pub output_format: PlanFormat,
    /// Also write the plan's fragmentation as an SVG bar chart to this file (for a review)
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
}

pub fn show(a: ShowArgs) -> Result<i32> {
    let p = read_plan(&a.plan)?;
    if p.digest != p.computed_digest() {
        eprintln!(
            "note: {} was edited after it was made (its content hashes to {})",
            a.plan.display(),
            p.computed_digest()
        );
    }
    emit(&render_plan(&p, a.output_format)?, None)?;
    if let Some(path) = &a.chart {
        emit(&crate::plan::chart::svg(&p), Some(path))?;
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older plan
    pub old: PathBuf,
    /// The newer plan
    pub new: PathBuf,
}

pub fn diff_cmd(a: DiffArgs) -> Result<i32> {
    let (old, new) = (read_plan(&a.old)?, read_plan(&a.new)?);
    let d = diff(
        &old,
        &new,
        (&a.old.display().to_string(), &a.new.display().to_string()),
    );
    print!("{}", d.render());
    Ok(if d.has_changes() { 2 } else { 0 })
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plan file
    pub plan: PathBuf,
    /// Policy file (YAML): limits and severity overrides
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Output format
    #[arg(long, visible_alias = "format", value_enum, default_value_t = CheckFormat::Table)]
    pub output_format: CheckFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

pub fn check_cmd(a: CheckArgs) -> Result<i32> {
    let p = read_plan(&a.plan)?;
    let policy = match &a.policy {
        Some(f) => Policy::load(f)?,
        None => Policy::default(),
    };
    let findings = check(&p, &policy);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    match a.output_format {
        CheckFormat::Json => println!("{}", crate::output::json_pretty(&findings)?),
        CheckFormat::Table => {
            let mut t =
                crate::plan::new_table(&["severity", "finding", "node", "table", "message"]);
            for f in &findings {
                t.add_row(vec![
                    format!("{:?}", f.severity).to_lowercase(),
                    f.name.to_string(),
                    f.node.clone().unwrap_or_default(),
                    f.table.clone().unwrap_or_default(),
                    f.message.clone(),
                ]);
            }
            if !findings.is_empty() {
                println!("{t}");
            }
            println!(
                "{}: {} finding(s), {errors} error(s)",
                p.plan_id,
                findings.len()
            );
        }
    }
    Ok(if errors > 0 { 4 } else { 0 })
}
