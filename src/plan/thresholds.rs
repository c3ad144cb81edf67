//! The plan's rule for a table (design §5): the two thresholds its estimated reclaim must pass,
//! in bytes and as a percent of its file. The planner applies them to the scan's tables (and
//! tells the scan which tables are worth a sample); apply checks them again against the file as
//! it is before each rebuild.

use super::Settings;
use crate::inspect::TableStats;

/// The two thresholds of design §5: both must hold for a table to qualify.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub min_reclaim_bytes: u64,
    pub min_percent: f64,
}

impl Thresholds {
    /// Reclaim as a percent of the file, rounded to one decimal.
    pub fn percent(reclaim: u64, file_size: u64) -> f64 {
        if file_size == 0 {
            return 0.0;
        }
        (reclaim as f64 / file_size as f64 * 1000.0).round() / 10.0
    }

    /// Whether `reclaim` of a `file_size` file passes both thresholds.
    pub fn qualifies(&self, reclaim: u64, file_size: u64) -> bool {
        reclaim > 0
            && reclaim >= self.min_reclaim_bytes
            && Self::percent(reclaim, file_size) >= self.min_percent
    }

    /// Whether a scanned table has an estimate that passes both thresholds.
    pub fn admits(&self, t: &TableStats) -> bool {
        t.estimate
            .is_some_and(|e| self.qualifies(e.reclaim_bytes, t.file_size_bytes))
    }
}

impl Settings {
    /// The thresholds as the scan, the planner and apply use them.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_reclaim_bytes: self.threshold_mb.saturating_mul(1024 * 1024),
            min_percent: self.threshold_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_thresholds_must_hold() {
        let t = Thresholds {
            min_reclaim_bytes: 100 << 20,
            min_percent: 10.0,
        };
        assert!(t.qualifies(200 << 20, 1000 << 20));
        assert!(!t.qualifies(99 << 20, 100 << 20), "MB fails");
        assert!(!t.qualifies(200 << 20, 10_000 << 20), "percent fails");
        assert_eq!(Thresholds::percent(1, 3), 33.3);
    }
}
