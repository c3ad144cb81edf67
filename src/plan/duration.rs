//! How long a rebuild takes: a cost model from what the scan knows, calibrated by the node's own
//! history.
//!
//! An in-place rebuild (`ALTER TABLE … ENGINE=InnoDB`) reads the clustered index, writes the new
//! one in key order, and sorts and bulk-loads every secondary index; so its cost is a fixed part,
//! a part per byte read and written, and a part per row and index ([`Work::model_seconds`]). The
//! model's rates are conservative defaults, about half the speed measured on the sandbox of a
//! 2-core machine with a 64 MiB buffer pool (B7: about 1 s per 330 MiB read and written, 1 µs
//! per row and index, 0.05 s fixed; the defaults are 1 s per 160 MiB, 2 µs and 0.1 s): a node
//! without history gets estimates that are long rather than short, so a window is not
//! overfilled.
//!
//! Every rebuild's measured duration, sizes, rows and secondary indexes are in the ledger; a
//! node's [`Calibration`] is the median ratio of measured to modelled seconds over its recent
//! rebuilds, and the node's estimates are the model times that ratio (method `calibrated`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds per byte read or written (1 s per 160 MiB).
const PER_BYTE: f64 = 1.0 / (160.0 * 1024.0 * 1024.0);
/// Seconds per row and index built (the clustered one and each secondary one).
const PER_ROW_INDEX: f64 = 2e-6;
/// Opening, preparing and committing the ALTER, whatever its size.
const FIXED: f64 = 0.1;
/// Rebuilds shorter than this say more about the fixed part than about the rates: they do not
/// calibrate.
pub const MIN_CALIBRATING_S: f64 = 0.25;
/// The most recent rebuilds of a node a calibration uses.
pub const CALIBRATION_WINDOW: usize = 20;
/// A calibration factor outside this range is taken as a measurement gone wrong.
const FACTOR_RANGE: (f64, f64) = (0.02, 50.0);

/// How an action's duration was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DurationMethod {
    /// The model scaled by the node's measured rebuilds.
    Calibrated,
    /// The model's conservative default rates (no history on the node).
    Default,
}

impl std::fmt::Display for DurationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Calibrated => "calibrated",
            Self::Default => "default",
        })
    }
}

/// What one rebuild has to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// The file as it is (read).
    pub read_bytes: u64,
    /// The rebuilt file (written).
    pub write_bytes: u64,
    pub rows: u64,
    pub secondary_indexes: u32,
}

impl Work {
    /// Seconds at the default rates.
    pub fn model_seconds(&self) -> f64 {
        FIXED
            + (self.read_bytes + self.write_bytes) as f64 * PER_BYTE
            + self.rows as f64 * f64::from(1 + self.secondary_indexes) * PER_ROW_INDEX
    }
}

/// A rebuild done on a node, as the ledger has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastRebuild {
    pub work: Work,
    /// Measured.
    pub seconds: f64,
}

/// How a node's rebuilds compare with the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Measured ÷ modelled seconds (median).
    pub factor: f64,
    /// Rebuilds it was measured on.
    pub rebuilds: usize,
}

impl Calibration {
    /// From a node's past rebuilds, newest first: the median ratio over the most recent
    /// [`CALIBRATION_WINDOW`] that ran at least [`MIN_CALIBRATING_S`]; `None` without any.
    pub fn from_history(past: &[PastRebuild]) -> Option<Self> {
        let mut ratios: Vec<f64> = past
            .iter()
            .filter(|p| p.seconds >= MIN_CALIBRATING_S)
            .take(CALIBRATION_WINDOW)
            .map(|p| p.seconds / p.work.model_seconds())
            .filter(|r| r.is_finite() && (FACTOR_RANGE.0..=FACTOR_RANGE.1).contains(r))
            .collect();
        if ratios.is_empty() {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let factor = if n % 2 == 1 {
            ratios[n / 2]
        } else {
            (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
        };
        Some(Self {
            factor,
            rebuilds: n,
        })
    }
}

/// The calibration of each node with history, by address.
pub type Calibrations = BTreeMap<String, Calibration>;

/// Where a node's past rebuilds are kept (the job store's ledger).
#[async_trait::async_trait]
pub trait RebuildHistory: Send + Sync {
    /// The rebuilds done on `node` (`host:port`) with every model input recorded, newest
    /// first, at most `limit`.
    async fn past_rebuilds(
        &self,
        node: &str,
        limit: usize,
    ) -> crate::error::Result<Vec<PastRebuild>>;
}

/// No history: every estimate is `default`.
#[async_trait::async_trait]
impl RebuildHistory for () {
    async fn past_rebuilds(&self, _: &str, _: usize) -> crate::error::Result<Vec<PastRebuild>> {
        Ok(Vec::new())
    }
}

/// The calibrations of `nodes` from `history`; a node whose history cannot be read is
/// estimated with the defaults (and the reason logged).
pub async fn calibrate(history: &dyn RebuildHistory, nodes: &[String]) -> Calibrations {
    let mut out = Calibrations::new();
    for n in nodes {
        match history.past_rebuilds(n, 4 * CALIBRATION_WINDOW).await {
            Ok(past) => {
                if let Some(c) = Calibration::from_history(&past) {
                    out.insert(n.clone(), c);
                }
            }
            Err(e) => tracing::warn!(node = %n,
                "cannot read the node's past rebuilds, estimating with the default rates: {e}"),
        }
    }
    out
}

/// The estimated seconds of `work` on a node calibrated by `cal` (if it has history), rounded
/// to a tenth of a second, and how.
pub fn estimate(work: &Work, cal: Option<&Calibration>) -> (f64, DurationMethod) {
    let (s, m) = match cal {
        Some(c) => (work.model_seconds() * c.factor, DurationMethod::Calibrated),
        None => (work.model_seconds(), DurationMethod::Default),
    };
    ((s * 10.0).round() / 10.0, m)
}

/// `~3h 20m`, `~12m`, `~40s`: an estimate as people say it.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        let m = (s % 3600) / 60;
        if m == 0 {
            format!("~{}h", s / 3600)
        } else {
            format!("~{}h {m}m", s / 3600)
        }
    } else if s >= 60 {
        format!("~{}m", s.div_ceil(60))
    } else {
        format!("~{}s", s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn work(mib: u64, rows: u64, idx: u32) -> Work {
        Work {
            read_bytes: mib * MIB,
            write_bytes: mib * MIB / 2,
            rows,
            secondary_indexes: idx,
        }
    }

    #[test]
    fn the_model_grows_with_bytes_rows_and_indexes() {
        let base = work(160, 100_000, 0).model_seconds();
        assert!((base - (0.1 + 1.5 + 0.2)).abs() < 1e-9, "{base}");
        assert!(work(200, 100_000, 0).model_seconds() > base);
        assert!(work(100, 1_000_000, 0).model_seconds() > base);
        assert!(work(100, 100_000, 4).model_seconds() > base);
    }

    #[test]
    fn a_node_is_calibrated_by_the_median_of_its_rebuilds() {
        let w = work(100, 100_000, 0);
        let m = w.model_seconds();
        let past = |ratio: f64| PastRebuild {
            work: w,
            seconds: m * ratio,
        };
        assert_eq!(Calibration::from_history(&[]), None);
        // Too short to say anything, and an absurd one: ignored.
        let short = PastRebuild {
            work: work(1, 10, 0),
            seconds: 0.1,
        };
        let c = Calibration::from_history(&[past(0.5), short, past(0.6), past(1000.0), past(2.0)])
            .unwrap();
        assert_eq!(c.rebuilds, 3);
        assert!((c.factor - 0.6).abs() < 1e-9, "{c:?}");
        let (s, method) = estimate(&w, Some(&c));
        assert_eq!(method, DurationMethod::Calibrated);
        assert!((s - (m * 0.6 * 10.0).round() / 10.0).abs() < 1e-9);
        assert_eq!(estimate(&w, None).1, DurationMethod::Default);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(0.2), "~1s");
        assert_eq!(human_duration(42.0), "~42s");
        assert_eq!(human_duration(61.0), "~2m");
        assert_eq!(human_duration(3600.0), "~1h");
        assert_eq!(human_duration(12_000.0), "~3h 20m");
    }
}
