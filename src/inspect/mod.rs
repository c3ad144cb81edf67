//! Fragmentation scan of one node → [`TableStats`] with a reclaim estimate per table.
//!
//! - `filter`: which tables a scan looks at ([`TableFilter`], globs);
//! - [`catalog`]: the set-based catalog statements and the parsers of their rows;
//! - `scan`: a node's scan ([`scan_node`], [`scan_nodes`]): the statements, their rows joined
//!   per table, the estimate of each;
//! - `sample`: the bounded primary-key-range sample of a candidate table's variable-length
//!   columns;
//! - [`estimate`]: the model of a rebuilt file's size.
//!
//! This module holds what a scan hands on: [`NodeScan`] and its [`TableStats`].

pub mod catalog;
pub mod estimate;
mod filter;
mod sample;
mod scan;

pub use filter::{TableFilter, glob_match};
pub use sample::DEFAULT_SAMPLE_ROWS;
pub use scan::{ScanOptions, scan_node, scan_nodes};

use crate::mysql::Endpoint;
use crate::mysql::flavor::ServerInfo;
use estimate::Estimate;
use std::time::Duration;

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
}

/// Why a table cannot be rebuilt to any gain, or only with writes blocked.
#[derive(Debug, Clone, PartialEq)]
pub enum Obstacle {
    /// In the system or a general tablespace: a rebuild never returns space to the OS.
    SharedTablespace(String),
    /// No tablespace row (discarded, or being rebuilt right now).
    NoTablespace,
}

/// Everything the planner needs about one table on one node.
#[derive(Debug, Clone)]
pub struct TableStats {
    pub schema: String,
    pub table: String,
    pub row_format: String,
    pub rows: u64,
    pub data_free_bytes: u64,
    /// Sum over partitions; 0 when not file-per-table.
    pub file_size_bytes: u64,
    pub partitions: usize,
    /// `FULLTEXT index …` / `SPATIAL index …`: the rebuild needs `LOCK=SHARED`.
    pub blocking: Option<String>,
    pub obstacle: Option<Obstacle>,
    /// `None` when there is an obstacle.
    pub estimate: Option<Estimate>,
    /// Whether the estimate used a row sample.
    pub sampled: bool,
}

impl TableStats {
    /// Reclaim as a percent of the file.
    pub fn reclaim_percent(&self) -> f64 {
        self.estimate
            .map(|e| Thresholds::percent(e.reclaim_bytes, self.file_size_bytes))
            .unwrap_or(0.0)
    }
}

/// The scan of one node.
#[derive(Debug, Clone)]
pub struct NodeScan {
    pub node: Endpoint,
    pub info: ServerInfo,
    pub tables: Vec<TableStats>,
    pub analyzed: usize,
    pub sampled: usize,
    pub elapsed: Duration,
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
