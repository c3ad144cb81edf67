//! The settings a plan is made and applied with, and the types they are written in: [`Mode`],
//! [`Scope`], [`HumanDuration`], [`LoadLimits`], the bounds, [`Settings`] with its one range
//! check, and [`SettingsOverrides`] over the config's [`RecyclingDefaults`].
//!
//! A leaf: it imports nothing of this crate, so the config, the plan, the CLI and the REST API
//! all build on it without importing each other.

mod duration;
mod load;
mod overrides;

pub use duration::{HumanDuration, MAX_DURATION};
pub use load::LoadLimits;
pub use overrides::{BadSetting, RecyclingDefaults, SettingsOverrides};

use serde::{Deserialize, Serialize};

/// The largest `threshold_mb`: 64 TiB, InnoDB's largest tablespace.
pub const MAX_THRESHOLD_MB: u64 = 64 * 1024 * 1024;
/// The largest `batch_size`.
pub const MAX_BATCH_SIZE: usize = 100_000;
/// The most nodes worked on at once (the `--parallel` flag's bound too).
pub const MAX_PARALLEL: usize = 256;

/// The work mode of spec §5.2: whether a rebuild is written to the binary log.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Each node rebuilds its own tables with `sql_log_bin=0`; nothing replicates.
    #[default]
    BinlogOff,
    /// The executing node rebuilds with the binary log on; the rebuild replicates downstream.
    BinlogOn,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BinlogOff => "binlog-off",
            Self::BinlogOn => "binlog-on",
        })
    }
}

/// Which nodes a plan targets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only the node given with `--host`.
    #[default]
    Node,
    /// Every eligible node of its topology.
    Cluster,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Node => "node",
            Self::Cluster => "cluster",
        })
    }
}

/// The order a node's actions run in (`--order`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// As the plan file lists them.
    Plan,
    /// The most estimated reclaim per estimated second first: a deadline is spent on the
    /// biggest wins.
    #[default]
    Reclaim,
    /// The largest file first.
    Size,
    /// By schema and table name.
    Name,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Reclaim => "reclaim",
            Self::Size => "size",
            Self::Name => "name",
        }
    }

    /// What the order means, for the apply report.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Plan => "as the plan file lists the actions",
            Self::Reclaim => {
                "the most estimated reclaim per estimated second first, so the deadline is spent \
                 on the biggest wins"
            }
            Self::Size => "the largest file first",
            Self::Name => "by schema and table name",
        }
    }
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings the plan was made with; apply runs under them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mode: Mode,
    pub scope: Scope,
    pub threshold_mb: u64,
    pub threshold_percent: f64,
    pub exclude_primary: bool,
    pub batch_size: usize,
    /// Deadline of the whole apply.
    #[schema(value_type = String, example = "1h")]
    pub timeout: HumanDuration,
    /// Nodes worked on at once.
    pub parallel: usize,
    /// Session `lock_wait_timeout` of every rebuild.
    #[schema(value_type = String, example = "5s")]
    pub lock_wait_timeout: HumanDuration,
    /// The most lag before the next rebuild: binlog-on, of every replica the rebuild reaches
    /// (along its path, after it executed the previous rebuild); binlog-off, of the target.
    #[schema(value_type = String, example = "10s")]
    pub max_lag: HumanDuration,
    /// Whether blocking rebuilds (`LOCK=SHARED`, FULLTEXT/SPATIAL) may be planned.
    pub allow_blocking: bool,
    // The gates' settings (round 2). Plans made before them lack these keys and keep their
    // digest: an absent key takes the built-in default (`worker_timeout`, `heartbeat_table`:
    // off). Plans made now always carry the first three.
    /// How often a holding gate is checked again (and the critical load read during a rebuild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1s")]
    pub check_interval: Option<HumanDuration>,
    /// No rebuild starts while a status variable is above its limit (`Threads_running=25`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Threads_running=25")]
    pub max_load: Option<LoadLimits>,
    /// Above it during a rebuild, the statement is killed and the node stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Threads_running=50")]
    pub critical_load: Option<LoadLimits>,
    /// Longest one rebuild may run before `KILL QUERY`; absent: no limit but `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2h")]
    pub worker_timeout: Option<HumanDuration>,
    /// `db.table` of pt-heartbeat (`--utc`): lag read from it instead of `Seconds_Behind_Master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_table: Option<String>,
    /// The order a node's actions run in (absent in plans made before it: `plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

impl Settings {
    /// Checks the ranges (the one check for flags, REST bodies and plan files); names the
    /// setting that is out of range.
    pub fn validate(&self) -> Result<(), BadSetting> {
        let bad = |name, reason: &str| {
            Err(BadSetting {
                name,
                reason: reason.to_string(),
            })
        };
        if !(0.0..=100.0).contains(&self.threshold_percent) {
            return bad(
                "threshold_percent",
                &format!("{} is not between 0 and 100", self.threshold_percent),
            );
        }
        // Bounds at parse time: a size or count past them means nothing and could overflow
        // where it is multiplied (MiB to bytes).
        if self.threshold_mb > MAX_THRESHOLD_MB {
            return bad(
                "threshold_mb",
                &format!(
                    "{} is more than {MAX_THRESHOLD_MB} (64 TiB, InnoDB's largest tablespace)",
                    self.threshold_mb
                ),
            );
        }
        for (name, v, max) in [
            ("batch_size", self.batch_size, MAX_BATCH_SIZE),
            ("parallel", self.parallel, MAX_PARALLEL),
        ] {
            if v == 0 {
                return bad(name, "must be at least 1");
            }
            if v > max {
                return bad(name, &format!("{v} is more than {max}"));
            }
        }
        for (name, d) in [
            ("timeout", Some(self.timeout)),
            ("lock_wait_timeout", Some(self.lock_wait_timeout)),
            ("worker_timeout", self.worker_timeout),
        ] {
            if d.is_some_and(|d| d.0.as_secs() == 0) {
                return bad(name, "must be at least 1s");
            }
        }
        if self
            .check_interval
            .is_some_and(|d| d.0 < std::time::Duration::from_millis(100))
        {
            return bad("check_interval", "must be at least 100ms");
        }
        if let Some(t) = &self.heartbeat_table
            && heartbeat_parts(t).is_none()
        {
            return bad(
                "heartbeat_table",
                &format!("{t:?} is not db.table (pt-heartbeat's table)"),
            );
        }
        Ok(())
    }

    /// `check_interval`, or its default (1s) for plans made without it.
    pub fn check_interval(&self) -> std::time::Duration {
        self.check_interval
            .map_or(std::time::Duration::from_secs(1), |d| d.0)
    }

    /// `max_load`, or its default for plans made without it.
    pub fn max_load(&self) -> LoadLimits {
        self.max_load
            .clone()
            .unwrap_or_else(|| RecyclingDefaults::default().max_load)
    }

    /// `critical_load`, or its default for plans made without it.
    pub fn critical_load(&self) -> LoadLimits {
        self.critical_load
            .clone()
            .unwrap_or_else(|| RecyclingDefaults::default().critical_load)
    }

    /// The heartbeat table as (schema, table).
    pub fn heartbeat(&self) -> Option<(&str, &str)> {
        self.heartbeat_table.as_deref().and_then(heartbeat_parts)
    }
}

/// `db.table` split in two, both parts non-empty.
fn heartbeat_parts(t: &str) -> Option<(&str, &str)> {
    t.split_once('.')
        .filter(|(d, t)| !d.is_empty() && !t.is_empty() && !t.contains('.'))
}
