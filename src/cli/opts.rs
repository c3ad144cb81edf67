//! The option groups several commands share: the plan inputs (settings and table filters) of
//! `plan` and `recycle`, the run flags of every command that executes a plan, and the sandbox
//! password of `sandbox up` and `demo`. How a command logs in is in `login`.

use super::Context;
use super::login::Target;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::inspect::TableFilter;
use crate::plan::PlanRequest;
use crate::secret::Secret;
use crate::settings::{HumanDuration, LoadLimits, Mode, Order, Scope, Settings, SettingsOverrides};
use clap::{Args, ValueEnum};
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
    /// Never touch the primary or writable nodes (`--exclude-primary false` or
    /// `--exclude-primary=false` to allow)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
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
    /// The order each node's tables run in: reclaim (most estimated bytes per estimated
    /// second first, so a deadline is spent on the biggest wins), size, name, or plan (as
    /// listed) [default: reclaim]
    #[arg(long, value_enum)]
    pub order: Option<Order>,
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
            order: self.order,
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
    /// Read every table's columns, indexes and statistics, not only those whose files could
    /// free the threshold (slower; the same plan)
    #[arg(long)]
    pub full_scan: bool,
}

impl PlanInputs {
    /// The plan request for `target`; its `plan_id` is left to [`new_plan_id`].
    pub fn request(&self, ctx: &Context, target: &Target) -> Result<PlanRequest> {
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
            full_scan: self.full_scan,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum ApplyFormat {
    #[default]
    Table,
    Json,
}

/// Flags of every command that executes a plan.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    pub yes: bool,
    /// While this file exists no new rebuild starts (a running one goes on); remove it to go on
    #[arg(long)]
    pub pause_file: Option<PathBuf>,
    /// When this file appears, running statements are killed (KILL QUERY), everything stops,
    /// exit 5
    #[arg(long)]
    pub panic_file: Option<PathBuf>,
    /// Format of the final report on stdout
    #[arg(long, visible_alias = "format", value_enum, default_value_t = ApplyFormat::Table)]
    pub output_format: ApplyFormat,
    /// Free space in a node's datadir, NODE=BYTES (host:port=500G; K, M, G, T are powers of
    /// 1024), repeatable: a rebuild that needs more is skipped before it starts. Without it
    /// the node's information_schema.DISKS plugin is read where it is loaded
    #[arg(long, value_name = "NODE=BYTES", value_parser = free_disk)]
    pub free_disk: Vec<(String, u64)>,
}

/// `host:port=BYTES` of `--free-disk`.
fn free_disk(s: &str) -> std::result::Result<(String, u64), String> {
    let (node, size) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("{s}: expected NODE=BYTES, e.g. 127.0.0.1:3307=500G"))?;
    let node = crate::mysql::Endpoint::parse(node).map_err(|e| format!("{node}: {e}"))?;
    // As the executor compares nodes: loopback spellings and case folded.
    Ok((node.normalized().to_string(), bytes(size)?))
}

/// `500G`, `10M`, `4096`: bytes, with K, M, G, T (optionally followed by `iB` or `B`) as powers
/// of 1024.
fn bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s}: expected a size such as 500G or 1048576"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        u => return Err(format!("{s}: unknown unit {u} (K, M, G or T)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s}: too large"))
}

/// The password of the sandbox's account, for `sandbox up` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct SandboxPassword {
    /// Password of the sandbox account [env: RECYCLER_DB_PASSWORD]
    #[arg(
        long,
        env = "RECYCLER_DB_PASSWORD",
        hide_env = true,
        hide_env_values = true,
        default_value = "recycler"
    )]
    pub password: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_disk_reads_node_and_size() {
        assert_eq!(
            free_disk("127.0.0.1:3307=500G"),
            Ok(("127.0.0.1:3307".into(), 500 << 30))
        );
        assert_eq!(free_disk("db1:3306=4096"), Ok(("db1:3306".into(), 4096)));
        assert_eq!(free_disk("db1:3306=1MiB"), Ok(("db1:3306".into(), 1 << 20)));
        assert!(free_disk("db1:3306").is_err());
        assert!(
            free_disk("db1:3306=5X")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

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
        // As the spec's bool flags read: the value after a space.
        let t = T::try_parse_from(["t", "--exclude-primary", "false"]).unwrap();
        assert_eq!(t.s.exclude_primary, Some(false));
        let t = T::try_parse_from(["t", "--exclude-primary", "--batch-size", "2"]).unwrap();
        assert_eq!(t.s.exclude_primary, Some(true));
        let t = T::try_parse_from(["t", "--exclude-primary"]).unwrap();
        assert_eq!(t.s.exclude_primary, Some(true));
        let t = T::try_parse_from(["t"]).unwrap();
        assert_eq!(t.s.exclude_primary, None);
        let s = t.s.resolve(&Config::default(), 10).unwrap();
        assert!(s.exclude_primary);
        assert_eq!(s.lock_wait_timeout, HumanDuration::secs(5));
    }
}
