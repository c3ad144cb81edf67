//! Fragmentation scan of one node → [`TableStats`] with a reclaim estimate per table.
//!
//! - `filter`: which tables a scan looks at ([`TableFilter`], globs);
//! - [`catalog`]: the set-based catalog statements and the parsers of their rows;
//! - `scan`: a node's scan ([`scan_node`], [`scan_nodes`]): the statements, their rows joined
//!   per table, the estimate of each;
//! - `sample`: a bounded sample, in primary-key order, of a candidate table's variable-length
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
pub use scan::{Phase2, ScanOptions, WorthSampling, scan_node, scan_nodes};

use crate::mysql::Endpoint;
use crate::mysql::flavor::ServerInfo;
use estimate::Estimate;
use std::time::Duration;

/// Why a table is left out whatever its fragmentation: its data is in a shared tablespace,
/// which no rebuild shrinks, or its tablespace is not found.
#[derive(Debug, Clone, PartialEq)]
pub enum Obstacle {
    /// In the system tablespace (created with `innodb_file_per_table=OFF`): a rebuild never
    /// returns space to the OS.
    SystemTablespace,
    /// In the general tablespace of this name: neither does a rebuild there.
    GeneralTablespace(String),
    /// No tablespace row (discarded, or being rebuilt right now).
    NoTablespace,
}

/// An index that keeps a rebuild from running online: the rebuild needs `LOCK=SHARED`.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocking {
    /// A FULLTEXT index, by name.
    FullText(String),
    /// A SPATIAL index, by name.
    Spatial(String),
}

impl std::fmt::Display for Blocking {
    /// `FULLTEXT index ft` / `SPATIAL index g`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FullText(index) => write!(f, "FULLTEXT index {index}"),
            Self::Spatial(index) => write!(f, "SPATIAL index {index}"),
        }
    }
}

/// Everything the planner needs about one table on one node.
#[derive(Debug, Clone)]
pub struct TableStats {
    pub schema: String,
    pub table: String,
    pub row_format: String,
    pub rows: u64,
    /// Indexes besides the clustered one (`PRIMARY`, or the first unique index InnoDB
    /// clusters on when there is none: counted here, a slight overcount).
    pub secondary_indexes: u32,
    pub data_free_bytes: u64,
    /// Sum over partitions; 0 when not file-per-table.
    pub file_size_bytes: u64,
    pub partitions: usize,
    /// The first FULLTEXT or SPATIAL index: the rebuild needs `LOCK=SHARED`.
    pub blocking: Option<Blocking>,
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
    /// The tables phase 2 read (those that could qualify or that an obstacle skips; all of
    /// them when most could).
    pub tables: Vec<TableStats>,
    /// The tables of the filter phase 1 found in the InnoDB dictionary.
    pub dictionary_tables: usize,
    /// Their file-per-table files (partitions summed), in bytes.
    pub dictionary_file_bytes: u64,
    pub analyzed: usize,
    pub sampled: usize,
    pub elapsed: Duration,
}
