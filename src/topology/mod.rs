//! The replication topology: the model (spec §5.1 `ClusterTopology` / `DatabaseNode`), discovery
//! from any node ([`discover`]) and rendering as JSON, YAML or a `pt-slave-find`-like tree.

mod discover;
pub mod eligibility;
pub mod filters;
mod render;
pub mod seen;

pub use discover::{DEFAULT_MAX_DEPTH, DEFAULT_PARALLEL, DiscoverOptions, discover};
pub use render::{OutputFormat, render};
pub use seen::{NodeMemory, SeenNode, discover_remembered};

use crate::mysql::Endpoint;
use crate::mysql::flavor::{Flavor, ServerInfo};
use crate::mysql::replication::{ReplicationFilters, ReplicationSource, ThreadState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Role of a node (spec §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The root of the tree: replicates from no one (or is the writable end of a co-master loop).
    Master,
    /// Replicates from a source.
    Slave,
}

impl Role {
    /// The role as JSON and the job store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Slave => "slave",
        }
    }

    /// The role `s` spells ([`Role::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Master, Self::Slave]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of a node's replication from its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplicationState {
    /// Channel / connection name; empty for the default one.
    pub channel: String,
    /// `Yes`, `No`, `Connecting` (or another word of the server's).
    #[schema(value_type = String)]
    pub io_running: ThreadState,
    /// `Yes` or `No`.
    #[schema(value_type = String)]
    pub sql_running: ThreadState,
    /// `Slave_Pos`/`Current_Pos`/`No` (MariaDB) or `auto_position=…` (MySQL).
    pub gtid: Option<String>,
    pub last_error: Option<String>,
    /// Seconds the replica deliberately stays behind (`MASTER_DELAY`); 0 for none.
    #[serde(default)]
    pub delay_seconds: u64,
    /// Its `Replicate_*` filters; omitted when none is set.
    #[serde(default, skip_serializing_if = "ReplicationFilters::is_empty")]
    pub filters: ReplicationFilters,
}

/// One node of the tree. The spec's fields first, then what the design adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatabaseNode {
    pub host: String,
    pub port: u16,
    /// 0 only for a node that could not be reached and did not announce its id.
    pub server_id: u32,
    pub role: Role,
    pub read_only: bool,
    /// Seconds behind its direct source; `null` for the root and when replication is stopped.
    pub lag_seconds: Option<i64>,
    pub version: String,
    /// MySQL only.
    pub server_uuid: Option<String>,
    /// MySQL only.
    pub super_read_only: Option<bool>,
    pub flavor: Option<Flavor>,
    pub log_bin: bool,
    pub log_slave_updates: bool,
    pub gtid_mode: Option<String>,
    /// `host:port` of the source this node replicates from, when it has one.
    #[serde(with = "crate::mysql::address::as_text::option")]
    #[schema(value_type = Option<String>)]
    pub source: Option<Endpoint>,
    /// Replication from `source`; `null` for a node with no source.
    pub replication: Option<ReplicationState>,
    /// Why the node could not be probed; the other fields are then what its parent knew.
    pub error: Option<String>,
    /// Its replicas; omitted for a leaf (spec §5.1 `omitempty`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub slaves: Vec<DatabaseNode>,
}

impl DatabaseNode {
    /// A node as its own server facts and replication sources describe it (no children).
    pub fn from_state(
        ep: &Endpoint,
        info: &ServerInfo,
        sources: &[ReplicationSource],
        role: Role,
    ) -> Self {
        let src = crate::mysql::replication::primary_source(sources);
        DatabaseNode {
            host: ep.host.clone(),
            port: ep.port,
            server_id: info.server_id,
            role,
            read_only: info.read_only,
            lag_seconds: src.and_then(|s| s.seconds_behind).map(|l| l as i64),
            version: info.version.clone(),
            server_uuid: info.server_uuid.clone(),
            super_read_only: info.super_read_only,
            flavor: Some(info.flavor),
            log_bin: info.log_bin,
            log_slave_updates: info.log_slave_updates,
            gtid_mode: info.gtid_mode.clone(),
            source: src.map(|s| s.source.clone()),
            replication: src.map(|s| ReplicationState {
                channel: s.channel.clone(),
                io_running: s.io_running.clone(),
                sql_running: s.sql_running.clone(),
                gtid: s.gtid.clone(),
                last_error: s.last_io_error.clone().or_else(|| s.last_sql_error.clone()),
                delay_seconds: s.sql_delay,
                filters: s.filters.clone(),
            }),
            error: None,
            slaves: Vec::new(),
        }
    }

    /// The node's address.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.host.clone(), self.port)
    }

    /// The node's address, `host:?` when its port is not known (a replica announced without
    /// one).
    pub fn display_address(&self) -> String {
        if self.port == 0 {
            format!("{}:?", self.host)
        } else {
            self.endpoint().to_string()
        }
    }

    /// Whether the node was reached.
    pub fn reachable(&self) -> bool {
        self.error.is_none()
    }

    /// Its replication filters (none for a node without a source).
    pub fn filters(&self) -> Option<&ReplicationFilters> {
        self.replication
            .as_ref()
            .map(|r| &r.filters)
            .filter(|f| !f.is_empty())
    }

    /// Both replication threads run.
    pub fn replicating(&self) -> bool {
        self.replication
            .as_ref()
            .is_some_and(|r| r.io_running.is_running() && r.sql_running.is_running())
    }

    /// This node and every node below it, depth first, each with its parent.
    pub fn walk(&self) -> Vec<(&DatabaseNode, Option<&DatabaseNode>)> {
        let mut out = vec![(self, None)];
        let mut i = 0;
        while i < out.len() {
            let (n, _) = out[i];
            for c in &n.slaves {
                out.push((c, Some(n)));
            }
            i += 1;
        }
        out
    }
}

/// The `topology` field of the JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopologyTree {
    pub master: DatabaseNode,
}

/// A discovered cluster (design §4 JSON shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterTopology {
    /// Stable id derived from the root's identity.
    pub cluster_id: String,
    /// The configured cluster name, or the root's address.
    pub cluster_name: String,
    pub discover_time: DateTime<Utc>,
    pub topology: TopologyTree,
    /// Where `--max-depth` cut the walk short; omitted when the whole tree was walked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
    /// Nodes earlier discoveries of this cluster found and this one did not (seen before, not
    /// found now: [`seen`]); omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<SeenNode>,
}

/// Where `--max-depth` stopped discovery before the tree's ends: the root may then not be the
/// primary, or replicas below the last level were not probed. Plans refuse such a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Truncation {
    pub max_depth: usize,
    /// The source of the highest node reached, not probed: the root is a replica and the
    /// primary is not known.
    #[serde(with = "crate::mysql::address::as_text::option")]
    #[schema(value_type = Option<String>)]
    pub source_not_reached: Option<Endpoint>,
    /// Replicas announced below the last level walked, not probed.
    pub replicas_below: usize,
    /// The nodes of the last level those replicas hang under.
    #[serde(with = "crate::mysql::address::as_text::list")]
    #[schema(value_type = Vec<String>)]
    pub not_probed_below: Vec<Endpoint>,
}

impl Truncation {
    /// One sentence per direction the walk was cut in, each starting `truncated at
    /// --max-depth N:`; `root` is the highest node reached.
    pub fn describe(&self, root: &DatabaseNode) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(src) = &self.source_not_reached {
            out.push(format!(
                "truncated at --max-depth {}: {} replicates from {src}, which was not probed; \
                 the primary is not known",
                self.max_depth,
                root.display_address()
            ));
        }
        if self.replicas_below > 0 {
            let under: Vec<String> = self
                .not_probed_below
                .iter()
                .map(|e| e.to_string())
                .collect();
            out.push(format!(
                "truncated at --max-depth {}: {} replica(s) below {} were not probed",
                self.max_depth,
                self.replicas_below,
                under.join(", ")
            ));
        }
        out
    }
}

impl ClusterTopology {
    /// The root (primary).
    pub fn root(&self) -> &DatabaseNode {
        &self.topology.master
    }

    /// Every node with its parent, root first.
    pub fn nodes(&self) -> Vec<(&DatabaseNode, Option<&DatabaseNode>)> {
        self.topology.master.walk()
    }

    /// The node at `ep` (by address), if present.
    pub fn find(&self, ep: &Endpoint) -> Option<&DatabaseNode> {
        self.nodes()
            .into_iter()
            .map(|(n, _)| n)
            .find(|n| n.endpoint().same_node(ep))
    }
}
#[cfg(test)]
impl DatabaseNode {
    /// A healthy MariaDB node for unit tests: reachable, binlog and `log_slave_updates` on,
    /// GTIDs on; a slave is read-only and replicating with no lag; no source or replicas set.
    pub(crate) fn fixture(port: u16, role: Role) -> Self {
        let slave = role == Role::Slave;
        Self {
            host: "127.0.0.1".into(),
            port,
            server_id: u32::from(port),
            role,
            read_only: slave,
            lag_seconds: slave.then_some(0),
            version: "10.11.19-MariaDB".into(),
            server_uuid: None,
            super_read_only: None,
            flavor: Some(Flavor::MariaDb),
            log_bin: true,
            log_slave_updates: true,
            gtid_mode: Some("ON".into()),
            source: None,
            replication: slave.then(|| ReplicationState {
                channel: String::new(),
                io_running: ThreadState::Yes,
                sql_running: ThreadState::Yes,
                gtid: Some("Slave_Pos".into()),
                last_error: None,
                delay_seconds: 0,
                filters: ReplicationFilters::default(),
            }),
            error: None,
            slaves: Vec::new(),
        }
    }
}
