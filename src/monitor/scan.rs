//! One monitoring scan of a cluster: discovery (recording the nodes found, so a node gone is
//! reported), then the planner's catalog scan of every node reached — primary included, since a
//! scan only reads — at most `parallel` nodes at once, each under `node_timeout`. A node that
//! cannot be reached, fails or runs out of time is recorded as such; the others are scanned all
//! the same. Never DDL; `ANALYZE NO_WRITE_TO_BINLOG` only with `monitoring.metrics.analyze`.

use crate::error::{Error, ErrorCode};
use crate::inspect::{
    NodeScan, Phase2, ScanOptions, TableFilter, TableStats, WorthSampling, scan_node,
};
use crate::mysql::{ConnectSpec, Endpoint};
use crate::plan::Thresholds;
use crate::topology::eligibility::protection;
use crate::topology::{ClusterTopology, DatabaseNode, DiscoverOptions, NodeMemory};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// How a scan of a cluster went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScanOutcome {
    /// Every node found was scanned.
    Ok,
    /// Some nodes were scanned, some not (each says why).
    Partial,
    /// Discovery failed, or no node could be scanned.
    Failed,
}

impl ScanOutcome {
    pub const ALL: [Self; 3] = [Self::Ok, Self::Partial, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How the scan of one node went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Scanned,
    /// Not reached: discovery could not probe it, a connection failed, or it was found before
    /// and not now.
    Unreachable,
    /// Reached, but its scan failed or ran past `node_timeout`.
    Failed,
}

impl NodeStatus {
    pub const ALL: [Self; 3] = [Self::Scanned, Self::Unreachable, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scanned => "scanned",
            Self::Unreachable => "unreachable",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One table recorded on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFigures {
    pub schema: String,
    pub table: String,
    pub file_bytes: u64,
    /// The planner's estimate; 0 for a table that cannot be rebuilt.
    pub reclaim_bytes: u64,
}

/// One node of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFigures {
    pub address: String,
    pub status: NodeStatus,
    pub error: Option<String>,
    pub duration: Duration,
    /// Tables in its InnoDB dictionary.
    pub tables: u64,
    /// Their files, in bytes.
    pub file_bytes: u64,
    /// The estimated reclaim of the tables recorded.
    pub reclaimable_bytes: u64,
    /// The tables of at least `min_table_mb`, largest estimated reclaim first.
    pub table_figures: Vec<TableFigures>,
}

impl NodeFigures {
    fn not_scanned(address: String, status: NodeStatus, error: String, took: Duration) -> Self {
        Self {
            address,
            status,
            error: Some(error),
            duration: took,
            tables: 0,
            file_bytes: 0,
            reclaimable_bytes: 0,
            table_figures: Vec::new(),
        }
    }

    /// The figures of a node's catalog scan: tables with files of at least `min_file_bytes`
    /// one by one.
    pub fn of_scan(address: String, scan: &NodeScan, min_file_bytes: u64) -> Self {
        let reclaim = |t: &TableStats| t.estimate.map_or(0, |e| e.reclaim_bytes);
        let mut table_figures: Vec<TableFigures> = scan
            .tables
            .iter()
            .filter(|t| t.file_size_bytes > 0 && t.file_size_bytes >= min_file_bytes)
            .map(|t| TableFigures {
                schema: t.schema.clone(),
                table: t.table.clone(),
                file_bytes: t.file_size_bytes,
                reclaim_bytes: reclaim(t),
            })
            .collect();
        table_figures.sort_by(|a, b| {
            (b.reclaim_bytes, &a.schema, &a.table).cmp(&(a.reclaim_bytes, &b.schema, &b.table))
        });
        Self {
            address,
            status: NodeStatus::Scanned,
            error: None,
            duration: scan.elapsed,
            tables: scan.dictionary_tables as u64,
            file_bytes: scan.dictionary_file_bytes,
            reclaimable_bytes: table_figures.iter().map(|t| t.reclaim_bytes).sum(),
            table_figures,
        }
    }
}

/// One scan of a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterScan {
    pub cluster: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: ScanOutcome,
    /// Why discovery failed.
    pub error: Option<String>,
    /// The tree discovery found (none when it failed).
    pub topology: Option<ClusterTopology>,
    /// Every node found, depth first from the root, then the nodes seen before and missing.
    pub nodes: Vec<NodeFigures>,
}

impl ClusterScan {
    /// The estimated reclaim of every node scanned.
    pub fn reclaimable_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.reclaimable_bytes).sum()
    }
}

/// What a scan reads and how hard it may push.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub parallel: usize,
    pub node_timeout: Duration,
    pub max_depth: usize,
    /// Tables recorded one by one have files of at least this many bytes (phase 2 of the
    /// catalog scan reads only those).
    pub min_file_bytes: u64,
    /// Which tables are sampled (as the planner: those its thresholds could admit).
    pub thresholds: Thresholds,
    pub analyze: bool,
    pub sample_rows: u64,
}

/// Scans cluster `name` from `seed`, recording the nodes found in `memory`.
pub async fn scan_cluster(
    name: &str,
    seed: &Endpoint,
    spec: &ConnectSpec,
    s: &ScanSettings,
    memory: &dyn NodeMemory,
) -> ClusterScan {
    let started_at = Utc::now();
    let _step = crate::activity::step(|| format!("monitoring scan of cluster {name}"));
    let discovered = crate::topology::discover_remembered(
        seed,
        spec,
        &DiscoverOptions {
            max_depth: s.max_depth,
            parallel: s.parallel,
            cluster_name: Some(name.to_string()),
        },
        memory,
    )
    .await;
    let topo = match discovered {
        Ok(t) => t,
        Err(e) => {
            return ClusterScan {
                cluster: name.to_string(),
                started_at,
                finished_at: Utc::now(),
                outcome: ScanOutcome::Failed,
                error: Some(e.to_string()),
                topology: None,
                nodes: Vec::new(),
            };
        }
    };
    let order = tree_order(&topo);
    let opts = ScanOptions {
        filter: TableFilter::default(),
        analyze: s.analyze,
        sample_rows: s.sample_rows,
        phase2: Phase2::FilesOfAtLeast(s.min_file_bytes),
    };
    let thresholds = s.thresholds;
    let worth_sampling = move |t: &TableStats| thresholds.admits(t);
    let work: Vec<(Endpoint, Option<String>)> = order
        .iter()
        .map(|(n, _)| (n.endpoint(), n.error.clone()))
        .collect();
    let scans: Vec<NodeFigures> = futures::stream::iter(work)
        .map(|(ep, unreachable)| scan_one(ep, unreachable, spec, &opts, &worth_sampling, s))
        .buffered(s.parallel.max(1))
        .collect()
        .await;
    let mut nodes = scans;
    for m in &topo.missing {
        let source = m
            .source
            .as_ref()
            .map(|s| format!(" of {s}"))
            .unwrap_or_default();
        nodes.push(NodeFigures::not_scanned(
            m.address.to_string(),
            NodeStatus::Unreachable,
            format!(
                "last seen {} as {}{source}, not found now",
                m.last_seen
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                m.role.as_str()
            ),
            Duration::ZERO,
        ));
    }
    let scanned = nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Scanned)
        .count();
    let outcome = if scanned == 0 {
        ScanOutcome::Failed
    } else if scanned < nodes.len() {
        ScanOutcome::Partial
    } else {
        ScanOutcome::Ok
    };
    ClusterScan {
        cluster: name.to_string(),
        started_at,
        finished_at: Utc::now(),
        outcome,
        error: None,
        topology: Some(topo),
        nodes,
    }
}

/// The figures of the node at `ep`, or why there are none (`unreachable`: discovery could not
/// probe it).
async fn scan_one(
    ep: Endpoint,
    unreachable: Option<String>,
    spec: &ConnectSpec,
    opts: &ScanOptions,
    worth_sampling: WorthSampling<'_>,
    s: &ScanSettings,
) -> NodeFigures {
    let address = ep.to_string();
    if let Some(e) = unreachable {
        return NodeFigures::not_scanned(address, NodeStatus::Unreachable, e, Duration::ZERO);
    }
    let t = Instant::now();
    match tokio::time::timeout(s.node_timeout, scan_node(&ep, spec, opts, worth_sampling)).await {
        Ok(Ok(scan)) => NodeFigures::of_scan(address, &scan, s.min_file_bytes),
        Ok(Err(e)) => NodeFigures::not_scanned(address, status_of(&e), e.to_string(), t.elapsed()),
        Err(_) => NodeFigures::not_scanned(
            address,
            NodeStatus::Failed,
            format!(
                "the scan ran past monitoring.metrics.node_timeout ({} s)",
                s.node_timeout.as_secs()
            ),
            t.elapsed(),
        ),
    }
}

/// A connection that failed is a node not reached; anything else, a failed scan.
fn status_of(e: &Error) -> NodeStatus {
    match e.code() {
        ErrorCode::Connection => NodeStatus::Unreachable,
        _ => NodeStatus::Failed,
    }
}

/// A node of the tree as the clusters API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeNode<'a> {
    pub node: &'a DatabaseNode,
    pub master: Option<&'a DatabaseNode>,
    pub depth: usize,
    /// Why it may not execute a rebuild, with `exclude_primary` as configured.
    pub protected: Option<String>,
}

/// Every node of `topo` depth first from the root (each after its parent, its replicas in the
/// order discovery lists them), with its parent and depth.
pub fn tree_order(topo: &ClusterTopology) -> Vec<(&DatabaseNode, Option<&DatabaseNode>)> {
    tree(topo, false)
        .into_iter()
        .map(|t| (t.node, t.master))
        .collect()
}

/// [`tree_order`] with each node's depth and protection.
pub fn tree(topo: &ClusterTopology, exclude_primary: bool) -> Vec<TreeNode<'_>> {
    fn go<'a>(
        n: &'a DatabaseNode,
        parent: Option<&'a DatabaseNode>,
        depth: usize,
        exclude_primary: bool,
        out: &mut Vec<TreeNode<'a>>,
    ) {
        out.push(TreeNode {
            node: n,
            master: parent,
            depth,
            protected: protection(n, depth == 0, exclude_primary),
        });
        for c in &n.slaves {
            go(c, Some(n), depth + 1, exclude_primary, out);
        }
    }
    let mut out = Vec::new();
    go(topo.root(), None, 0, exclude_primary, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Role, TopologyTree};

    #[test]
    fn the_tree_is_depth_first_with_depths_and_protection() {
        let mut r1 = DatabaseNode::fixture(2, Role::Slave);
        r1.slaves = vec![DatabaseNode::fixture(4, Role::Slave)];
        let mut root = DatabaseNode::fixture(1, Role::Master);
        root.slaves = vec![r1, DatabaseNode::fixture(3, Role::Slave)];
        let topo = ClusterTopology {
            cluster_id: "c".into(),
            cluster_name: "c".into(),
            discover_time: Utc::now(),
            topology: TopologyTree { master: root },
            truncated: None,
            missing: Vec::new(),
        };
        let t = tree(&topo, true);
        let got: Vec<(u16, usize, Option<u16>)> = t
            .iter()
            .map(|n| (n.node.port, n.depth, n.master.map(|m| m.port)))
            .collect();
        assert_eq!(
            got,
            [
                (1, 0, None),
                (2, 1, Some(1)),
                (4, 2, Some(2)),
                (3, 1, Some(1))
            ]
        );
        assert!(t[0].protected.as_deref().unwrap().starts_with("primary"));
        assert!(t[1..].iter().all(|n| n.protected.is_none()));
        assert!(tree(&topo, false)[0].protected.is_none());
    }

    #[test]
    fn outcomes_and_statuses_round_trip() {
        for o in ScanOutcome::ALL {
            assert_eq!(ScanOutcome::parse(o.as_str()), Some(o));
        }
        for s in NodeStatus::ALL {
            assert_eq!(NodeStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(NodeStatus::parse("down"), None);
    }
}
