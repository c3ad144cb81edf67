//! Plan settings from partial overrides: what the `plan`/`recycle` flags and a REST job body
//! give, over `recycling.defaults`. One validation for both, naming the setting that is wrong.

use super::{Scope, Settings};
use crate::config::{HumanDuration, LoadLimits, Mode, RecyclingDefaults};

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
