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
pub use scan::{ScanOptions, WorthSampling, scan_node, scan_nodes};

use crate::mysql::Endpoint;
use crate::mysql::flavor::ServerInfo;
use estimate::Estimate;
use std::time::Duration;

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
