//! `plan`: discover, scan and write a reviewable plan; `show`, `diff`, `check` review it.

use super::{Context, TargetArgs, emit};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::inspect::TableFilter;
use crate::plan::{
    PlanFormat, PlanRequest, Policy, Severity, check, diff, make_plan, read_plan, render_plan,
    write_plan,
};
use crate::settings::{HumanDuration, LoadLimits, Mode, Scope, Settings, SettingsOverrides};
use clap::Args;
use std::path::PathBuf;

/// Plan settings flags, shared by `plan` and `recycle`; unset flags take `recycling.defaults`.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Minimum estimated reclaim per table, MiB [config: recycling.defaults.threshold_mb]
    #[arg(long)]
    pub threshold_mb: Option<u64>,
    /// Minimum estimated reclaim per table, percent of its file (both thresholds must hold)
    #[arg(long)]
    pub threshold_percent: Option<f64>,
    /// binlog-off: each node rebuilds locally; binlog-on: the rebuild replicates downstream
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Never touch the primary or writable nodes (`--exclude-primary=false` to allow)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub exclude_primary: Option<bool>,
    /// Tables per batch on a node (groups the log; every gate runs before every table)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Deadline of the whole apply (e.g. 30m, 1h)
    #[arg(long)]
    pub timeout: Option<HumanDuration>,
    /// Session lock_wait_timeout of each rebuild (e.g. 5s)
    #[arg(long)]
    pub lock_wait_timeout: Option<HumanDuration>,
    /// Most lag before the next rebuild (e.g. 10s): binlog-on, of every replica the rebuild
    /// reaches, after it replayed the previous one; binlog-off, of the target itself
    #[arg(long)]
    pub max_lag: Option<HumanDuration>,
    /// Also plan rebuilds that block writes (FULLTEXT/SPATIAL tables, LOCK=SHARED)
    #[arg(long)]
    pub allow_blocking: bool,
    /// node: only --host; cluster: every eligible node of its topology
    #[arg(long, value_enum, default_value_t = Scope::Node)]
    pub scope: Scope,
    /// No rebuild starts while a status variable is above its limit, e.g.
    /// Threads_running=25,Threads_connected=400 [default: Threads_running=25]
    #[arg(long)]
    pub max_load: Option<LoadLimits>,
    /// Watched during a rebuild too: above it the statement is killed (KILL QUERY) and that
    /// node stops [default: Threads_running=50]
    #[arg(long)]
    pub critical_load: Option<LoadLimits>,
    /// How often a holding gate (lag, load, pause, lock holders) is checked again [default: 1s]
    #[arg(long)]
    pub check_interval: Option<HumanDuration>,
    /// Longest one rebuild may run before KILL QUERY [default: no limit but --timeout;
    /// config: recycling.concurrency.worker_timeout]
    #[arg(long)]
    pub worker_timeout: Option<HumanDuration>,
    /// pt-heartbeat's table (db.table, written with --utc): lag is read from it instead of
    /// Seconds_Behind_Master
    #[arg(long)]
    pub heartbeat_table: Option<String>,
}

impl SettingsArgs {
    /// Flags over `recycling.defaults`.
    pub fn resolve(&self, cfg: &Config, parallel: usize) -> Result<Settings> {
        SettingsOverrides {
            mode: self.mode,
            scope: Some(self.scope),
            threshold_mb: self.threshold_mb,
            threshold_percent: self.threshold_percent,
            exclude_primary: self.exclude_primary,
            batch_size: self.batch_size.map(|b| b as usize),
            timeout: self.timeout,
            lock_wait_timeout: self.lock_wait_timeout,
            max_lag: self.max_lag,
            allow_blocking: Some(self.allow_blocking),
            check_interval: self.check_interval,
            max_load: self.max_load.clone(),
            critical_load: self.critical_load.clone(),
            worker_timeout: self.worker_timeout,
            heartbeat_table: self.heartbeat_table.clone(),
        }
        .resolve(
            &cfg.recycling.defaults,
            parallel,
            cfg.recycling.concurrency.worker_timeout,
        )
        .map_err(|b| Error::invalid(format!("--{}: {}", b.name.replace('_', "-"), b.reason)))
    }
}

/// Table filters (repeatable, `*` and `?` globs).
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only these databases (repeatable, globs)
    #[arg(long = "database")]
    pub databases: Vec<String>,
    /// Only these tables (repeatable, globs)
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Never these databases (repeatable, globs)
    #[arg(long = "exclude-database")]
    pub exclude_databases: Vec<String>,
    /// Never these tables (repeatable, globs)
    #[arg(long = "exclude-table")]
    pub exclude_tables: Vec<String>,
}

impl FilterArgs {
    pub fn filter(&self) -> TableFilter {
        TableFilter {
            databases: self.databases.clone(),
            tables: self.tables.clone(),
            exclude_databases: self.exclude_databases.clone(),
            exclude_tables: self.exclude_tables.clone(),
        }
    }
}

/// Everything that decides a plan's content; shared by `plan` and `recycle`.
#[derive(Debug, Clone, Args)]
pub struct PlanInputs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Refresh statistics first (ANALYZE NO_WRITE_TO_BINLOG TABLE; never replicated)
    #[arg(long)]
    pub analyze: bool,
    /// Levels of topology discovery
    #[arg(long, default_value_t = crate::topology::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Rows sampled per candidate table with variable-length columns
    #[arg(long, default_value_t = crate::inspect::DEFAULT_SAMPLE_ROWS, hide = true)]
    pub sample_rows: u64,
}

impl PlanInputs {
    /// The plan request for `target`; its `plan_id` is left to [`new_plan_id`].
    pub fn request(&self, ctx: &Context, target: &super::Target) -> Result<PlanRequest> {
        Ok(PlanRequest {
            seed: target.endpoint.clone(),
            settings: self
                .settings
                .resolve(&ctx.config, ctx.parallel.unwrap_or(super::DEFAULT_PARALLEL))?,
            filter: self.filters.filter(),
            analyze: self.analyze,
            max_depth: self.max_depth,
            cluster_name: target.cluster_name.clone(),
            plan_id: String::new(),
            sample_rows: self.sample_rows,
        })
    }
}

/// A new `plan-YYYYMMDD-NNN` from the job store's counter (the one CLI and server share, so
/// ids never collide in a store).
pub async fn new_plan_id(ctx: &Context) -> Result<String> {
    let store = super::apply::open_store(ctx).await?;
    store.next_id("plan", chrono::Utc::now().date_naive()).await
}

/// Plans with a new id; the store is opened while the cluster is being scanned.
pub async fn plan_with_id(
    ctx: &Context,
    req: PlanRequest,
    spec: &crate::mysql::ConnectSpec,
) -> Result<(crate::plan::Plan, Vec<crate::inspect::NodeScan>)> {
    let (id, planned) = tokio::join!(new_plan_id(ctx), make_plan(&req, spec));
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
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub output_format: PlanFormat,
}

pub async fn run(ctx: &Context, a: PlanArgs) -> Result<i32> {
    let target = a.target.resolve(&ctx.config)?;
    let mut req = a.inputs.request(ctx, &target)?;
    if ctx.dry_run && req.analyze {
        eprintln!("dry run: not refreshing statistics (--analyze skipped)");
        req.analyze = false;
    }
    let (plan, scans) = plan_with_id(ctx, req, &target.spec).await?;
    for s in &scans {
        tracing::info!(
            node = %s.node,
            tables = s.tables.len(),
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
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub output_format: PlanFormat,
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
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_primary_takes_an_explicit_false() {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            s: SettingsArgs,
        }
        use clap::Parser;
        let t = T::try_parse_from(["t", "--exclude-primary=false"]).unwrap();
        assert_eq!(t.s.exclude_primary, Some(false));
        let t = T::try_parse_from(["t", "--exclude-primary"]).unwrap();
        assert_eq!(t.s.exclude_primary, Some(true));
        let t = T::try_parse_from(["t"]).unwrap();
        assert_eq!(t.s.exclude_primary, None);
        let s = t.s.resolve(&Config::default(), 10).unwrap();
        assert!(s.exclude_primary);
        assert_eq!(s.lock_wait_timeout, HumanDuration::secs(5));
    }
}
