//! Plan settings from partial overrides: what the `plan`/`recycle` flags and a REST job body
//! give, over `recycling.defaults` ([`RecyclingDefaults`], the config section). One validation for
//! both, naming the setting that is wrong.

use super::{HumanDuration, LoadLimits, Mode, Scope, Settings};
use serde::{Deserialize, Serialize};

/// `recycling.defaults:` — defaults of the plan settings; flags override them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecyclingDefaults {
    /// Minimum estimated reclaim per table, MiB.
    pub threshold_mb: u64,
    /// Minimum estimated reclaim per table, percent of its file.
    pub threshold_percent: f64,
    /// Tables per batch on one node (groups the log; checkpoints run before every table).
    pub batch_size: usize,
    /// Deadline of a whole apply.
    pub timeout: HumanDuration,
    pub mode: Mode,
    /// Never touch the primary or any writable node.
    pub exclude_primary: bool,
    /// Session `lock_wait_timeout` of every rebuild: how long it may wait for its metadata lock.
    pub lock_wait_timeout: HumanDuration,
    /// The most lag before the next rebuild (binlog-on: of the replicas it reaches; binlog-off:
    /// of the target).
    pub max_lag: HumanDuration,
    /// Tries of a rebuild that hits `lock_wait_timeout` before the table is skipped.
    pub lock_retries: u32,
    /// Wait before the second try (doubled for each further try).
    pub retry_backoff: HumanDuration,
    /// How often every gate (lag, load, pause, metadata-lock holders) is checked while it
    /// holds, and how often the critical load is read during a rebuild.
    pub check_interval: HumanDuration,
    /// No new rebuild starts while any of these status variables is above its limit.
    pub max_load: LoadLimits,
    /// Watched during a rebuild too: above it, the statement is killed and the node stops.
    pub critical_load: LoadLimits,
    /// `db.table` written by pt-heartbeat (`--utc`): lag is read from it instead of
    /// `Seconds_Behind_Master`.
    pub heartbeat_table: Option<String>,
}

impl Default for RecyclingDefaults {
    fn default() -> Self {
        Self {
            threshold_mb: 100,
            threshold_percent: 10.0,
            batch_size: 5,
            timeout: HumanDuration::secs(3600),
            mode: Mode::BinlogOff,
            exclude_primary: true,
            lock_wait_timeout: HumanDuration::secs(5),
            max_lag: HumanDuration::secs(10),
            lock_retries: 3,
            retry_backoff: HumanDuration::secs(1),
            check_interval: HumanDuration::secs(1),
            max_load: LoadLimits::one("Threads_running", 25),
            critical_load: LoadLimits::one("Threads_running", 50),
            heartbeat_table: None,
        }
    }
}

/// Settings a caller chose; `None` takes the configured default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsOverrides {
    pub mode: Option<Mode>,
    pub scope: Option<Scope>,
    pub threshold_mb: Option<u64>,
    pub threshold_percent: Option<f64>,
    pub exclude_primary: Option<bool>,
    pub batch_size: Option<usize>,
    pub timeout: Option<HumanDuration>,
    pub lock_wait_timeout: Option<HumanDuration>,
    pub max_lag: Option<HumanDuration>,
    pub allow_blocking: Option<bool>,
    pub check_interval: Option<HumanDuration>,
    pub max_load: Option<LoadLimits>,
    pub critical_load: Option<LoadLimits>,
    /// `None` takes `recycling.concurrency.worker_timeout` (given to `resolve`).
    pub worker_timeout: Option<HumanDuration>,
    pub heartbeat_table: Option<String>,
    /// `None`: `reclaim`.
    pub order: Option<super::Order>,
}

/// A setting out of range: its snake_case name and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadSetting {
    pub name: &'static str,
    pub reason: String,
}

impl SettingsOverrides {
    /// The overrides over `d`, with `parallel` nodes at once and the configured
    /// `worker_timeout`; validated.
    pub fn resolve(
        &self,
        d: &RecyclingDefaults,
        parallel: usize,
        worker_timeout: Option<HumanDuration>,
    ) -> Result<Settings, BadSetting> {
        let s = Settings {
            mode: self.mode.unwrap_or(d.mode),
            scope: self.scope.unwrap_or_default(),
            threshold_mb: self.threshold_mb.unwrap_or(d.threshold_mb),
            threshold_percent: self.threshold_percent.unwrap_or(d.threshold_percent),
            exclude_primary: self.exclude_primary.unwrap_or(d.exclude_primary),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            timeout: self.timeout.unwrap_or(d.timeout),
            parallel,
            lock_wait_timeout: self.lock_wait_timeout.unwrap_or(d.lock_wait_timeout),
            max_lag: self.max_lag.unwrap_or(d.max_lag),
            allow_blocking: self.allow_blocking.unwrap_or(false),
            check_interval: Some(self.check_interval.unwrap_or(d.check_interval)),
            max_load: Some(self.max_load.clone().unwrap_or_else(|| d.max_load.clone())),
            critical_load: Some(
                self.critical_load
                    .clone()
                    .unwrap_or_else(|| d.critical_load.clone()),
            ),
            worker_timeout: self.worker_timeout.or(worker_timeout),
            heartbeat_table: self
                .heartbeat_table
                .clone()
                .or_else(|| d.heartbeat_table.clone()),
            order: Some(self.order.unwrap_or_default()),
        };
        s.validate()?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_bad_values_are_named() {
        let d = RecyclingDefaults::default();
        let s = SettingsOverrides {
            threshold_mb: Some(5),
            ..Default::default()
        }
        .resolve(&d, 3, None)
        .unwrap();
        assert_eq!((s.threshold_mb, s.batch_size, s.parallel), (5, 5, 3));
        assert_eq!(s.scope, Scope::Node);
        let e = SettingsOverrides {
            threshold_percent: Some(150.0),
            ..Default::default()
        }
        .resolve(&d, 3, None)
        .unwrap_err();
        assert_eq!(e.name, "threshold_percent");
        let e = SettingsOverrides {
            timeout: Some(HumanDuration::secs(0)),
            ..Default::default()
        }
        .resolve(&d, 3, None)
        .unwrap_err();
        assert_eq!(e.name, "timeout");
    }
}
