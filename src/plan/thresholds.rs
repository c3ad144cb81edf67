//! The plan's rule for a table (design §5): the two thresholds its estimated reclaim must pass,
//! in bytes and as a percent of its file, and the [`verdict`] on each scanned table — rebuilt,
//! left out as not worth it, or skipped with the reason the plan gives. The planner applies it
//! to the scan's tables (and tells the scan which tables are worth a sample); apply checks the
//! thresholds again against the file as it is before each rebuild.

use crate::inspect::estimate::Estimate;
use crate::inspect::{Blocking, Obstacle, TableStats};
use crate::settings::Settings;

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

/// What the plan does with a scanned table.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<'a> {
    /// Rebuilt, with this estimate.
    Rebuild(Estimate),
    /// Left out without a word: no estimate, or one below a threshold.
    NotWorthIt,
    /// Left out and listed in the plan's `skipped`.
    Skip(SkipReason<'a>),
}

/// Why a table is in the plan's `skipped`; displayed, the entry's `reason`.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason<'a> {
    /// No rebuild can give its space back.
    Obstacle(&'a Obstacle),
    /// It needs a blocking rebuild and the settings do not allow one.
    Blocking(&'a Blocking),
}

impl std::fmt::Display for SkipReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NO_SPACE_BACK: &str = "a rebuild never returns space to the OS";
        match self {
            Self::Obstacle(Obstacle::SystemTablespace) => write!(
                f,
                "in the system tablespace (created with innodb_file_per_table=OFF): \
                 {NO_SPACE_BACK}"
            ),
            Self::Obstacle(Obstacle::GeneralTablespace(name)) => {
                write!(f, "in the general tablespace {name}: {NO_SPACE_BACK}")
            }
            Self::Obstacle(Obstacle::NoTablespace) => {
                f.write_str("no tablespace file found (discarded, or being rebuilt right now)")
            }
            Self::Blocking(b) => write!(
                f,
                "{b}: the rebuild needs LOCK=SHARED and blocks writes (plan with \
                 --allow-blocking to include it)"
            ),
        }
    }
}

/// The verdict on `t` under `settings`: an obstacle skips it, then a table must pass both
/// thresholds, then a blocking one is skipped unless `allow_blocking`.
pub fn verdict<'a>(t: &'a TableStats, settings: &Settings) -> Verdict<'a> {
    if let Some(o) = &t.obstacle {
        return Verdict::Skip(SkipReason::Obstacle(o));
    }
    let thresholds = settings.thresholds();
    let Some(est) = t
        .estimate
        .filter(|e| thresholds.qualifies(e.reclaim_bytes, t.file_size_bytes))
    else {
        return Verdict::NotWorthIt;
    };
    match &t.blocking {
        Some(b) if !settings.allow_blocking => Verdict::Skip(SkipReason::Blocking(b)),
        _ => Verdict::Rebuild(est),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::estimate::EstimateMethod;

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

    fn table(file_mib: u64, reclaim_mib: u64) -> TableStats {
        TableStats {
            schema: "shop".into(),
            table: "t".into(),
            row_format: "Dynamic".into(),
            rows: 1000,
            data_free_bytes: 0,
            file_size_bytes: file_mib << 20,
            partitions: 0,
            blocking: None,
            obstacle: None,
            estimate: Some(Estimate::new(
                file_mib << 20,
                (file_mib - reclaim_mib) << 20,
                EstimateMethod::RecordSize,
            )),
            sampled: false,
            secondary_indexes: 0,
        }
    }

    /// Obstacles first, then the thresholds, then blocking; the reasons read as in plans made
    /// before the reasons were typed.
    #[test]
    fn the_verdict_and_its_reasons() {
        let mut s = crate::plan::example_plan().settings;
        s.threshold_mb = 100;
        s.threshold_percent = 10.0;
        s.allow_blocking = false;
        let reason = |t: &TableStats, s: &Settings| match verdict(t, s) {
            Verdict::Skip(why) => why.to_string(),
            v => panic!("not skipped: {v:?}"),
        };
        let worth_it = table(1000, 200);
        assert_eq!(
            verdict(&worth_it, &s),
            Verdict::Rebuild(worth_it.estimate.unwrap())
        );
        assert_eq!(verdict(&table(1000, 50), &s), Verdict::NotWorthIt);
        let mut no_estimate = table(1000, 200);
        no_estimate.estimate = None;
        assert_eq!(verdict(&no_estimate, &s), Verdict::NotWorthIt);

        let mut blocking = table(1000, 200);
        blocking.blocking = Some(Blocking::FullText("fb".into()));
        assert_eq!(
            reason(&blocking, &s),
            "FULLTEXT index fb: the rebuild needs LOCK=SHARED and blocks writes (plan with \
             --allow-blocking to include it)"
        );
        let mut small_blocking = table(1000, 50);
        small_blocking.blocking = Some(Blocking::Spatial("g".into()));
        assert_eq!(verdict(&small_blocking, &s), Verdict::NotWorthIt);
        assert_eq!(
            small_blocking.blocking.unwrap().to_string(),
            "SPATIAL index g"
        );
        s.allow_blocking = true;
        assert!(matches!(verdict(&blocking, &s), Verdict::Rebuild(_)));

        let mut t = table(1000, 200);
        t.obstacle = Some(Obstacle::SystemTablespace);
        assert_eq!(
            reason(&t, &s),
            "in the system tablespace (created with innodb_file_per_table=OFF): a rebuild never \
             returns space to the OS"
        );
        t.obstacle = Some(Obstacle::GeneralTablespace("ts_audit".into()));
        assert_eq!(
            reason(&t, &s),
            "in the general tablespace ts_audit: a rebuild never returns space to the OS"
        );
        t.obstacle = Some(Obstacle::NoTablespace);
        assert_eq!(
            reason(&t, &s),
            "no tablespace file found (discarded, or being rebuilt right now)"
        );
    }
}
