//! Nodes seen before: every discovery that completes records the nodes it found in a
//! [`NodeMemory`] (the job store), per cluster, and a node an earlier discovery of the same
//! cluster found and this one did not is reported in the topology's `missing` list — as
//! orchestrator shows the instances it knew and no longer finds. Such a node has usually left
//! the tree because its replication stopped and its source forgot it (`SHOW SLAVE HOSTS` and the
//! binlog dump threads list only connected replicas), or it is down and no one announces it: a
//! plan made now does not cover it, and its reviewer should know.
//!
//! A cluster is remembered under its name when one was given (`--cluster`, the request's
//! `cluster`), else under its root's address. A remembered node is found again when a node of
//! the tree has its address, or its server id (and uuid, where both are known): the same server
//! reached under another name. A node not seen for [`FORGET_AFTER_DAYS`] days is forgotten, and
//! `topology --forget HOST:PORT` forgets one at once (a replica taken out for good). Recording is
//! best effort: a store that fails is logged as a warning and the discovery stands, without its
//! `missing` list.

use super::{ClusterTopology, DiscoverOptions, Role, discover};
use crate::error::Result;
use crate::mysql::{ConnectSpec, Endpoint};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Days after which a node not seen again is forgotten (no longer reported missing).
pub const FORGET_AFTER_DAYS: i64 = 30;

/// A node as a discovery found it, as it is remembered: how it was known then, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeenNode {
    /// `host:port`.
    #[serde(with = "crate::mysql::address::as_text")]
    #[schema(value_type = String)]
    pub address: Endpoint,
    /// `null` when no discovery could read it (the node never answered).
    pub server_id: Option<u32>,
    /// MySQL only.
    pub server_uuid: Option<String>,
    /// Its role when it was last seen.
    pub role: Role,
    /// `host:port` it replicated from when it was last seen.
    #[serde(with = "crate::mysql::address::as_text::option")]
    #[schema(value_type = Option<String>)]
    pub source: Option<Endpoint>,
    /// The first discovery that found it.
    pub first_seen: DateTime<Utc>,
    /// The last discovery that found it.
    pub last_seen: DateTime<Utc>,
}

impl SeenNode {
    /// `127.0.0.1:23308  last seen 2026-12-02 06:10:11 UTC as replica of 127.0.0.1:23307, not
    /// found now`.
    pub fn describe(&self) -> String {
        format!("{}  {}, not found now", self.address, self.last_seen_as())
    }

    /// `last seen 2026-12-02 06:10:11 UTC as replica of 127.0.0.1:23307`.
    pub fn last_seen_as(&self) -> String {
        let was = match (self.role, &self.source) {
            (Role::Master, _) => "as master".to_string(),
            (Role::Slave, Some(s)) => format!("as replica of {s}"),
            (Role::Slave, None) => "as replica".to_string(),
        };
        format!(
            "last seen {} {was}",
            self.last_seen.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }

    /// Whether `other` is the same server: the same address, or the same server id (and uuid,
    /// where both are known) under another name.
    fn same_server(&self, other: &SeenNode) -> bool {
        if self.address.same_node(&other.address) {
            return true;
        }
        let uuid_agrees = match (&self.server_uuid, &other.server_uuid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.server_id.is_some() && self.server_id == other.server_id && uuid_agrees
    }
}

/// Where the nodes each discovery found are remembered (the job store).
#[async_trait::async_trait]
pub trait NodeMemory: Send + Sync {
    /// In one transaction: forgets the nodes of `cluster` last seen before `forget_before`,
    /// reads what is remembered of the others, and records `found` as seen (keeping the
    /// `first_seen` of a node remembered already, and its server id and uuid when `found` does
    /// not know them). Returns what was remembered before this discovery.
    async fn record_seen(
        &self,
        cluster: &str,
        found: &[SeenNode],
        forget_before: DateTime<Utc>,
    ) -> Result<Vec<SeenNode>>;

    /// Forgets `address` in `cluster`; whether it was remembered.
    async fn forget(&self, cluster: &str, address: &Endpoint) -> Result<bool>;
}

/// The nodes of `t`, as found at its discovery time. A replica announced without a port is left
/// out: its address is not known.
fn found(t: &ClusterTopology) -> Vec<SeenNode> {
    t.nodes()
        .into_iter()
        .filter(|(n, _)| n.port != 0)
        .map(|(n, _)| SeenNode {
            address: n.endpoint().normalized(),
            server_id: (n.server_id != 0).then_some(n.server_id),
            server_uuid: n.server_uuid.clone(),
            role: n.role,
            source: n.source.as_ref().map(Endpoint::normalized),
            first_seen: t.discover_time,
            last_seen: t.discover_time,
        })
        .collect()
}

/// Of the nodes remembered `before`, those that are none of the nodes found `now`, by address.
fn not_found(before: Vec<SeenNode>, now: &[SeenNode]) -> Vec<SeenNode> {
    let mut gone: Vec<SeenNode> = before
        .into_iter()
        .filter(|b| !now.iter().any(|n| n.same_server(b)))
        .collect();
    gone.sort_by(|a, b| a.address.cmp(&b.address));
    gone
}

/// Records the nodes of `t` in `memory` and fills `t.missing` with the nodes remembered of its
/// cluster that it lacks — unless `--max-depth` cut the walk short, when a node not reached may
/// simply lie beyond the cut. A store failure is logged as a warning and leaves `missing` empty:
/// the discovery itself succeeded, and no command should fail for what is only a report.
pub async fn remember(t: &mut ClusterTopology, memory: &dyn NodeMemory) {
    let now = found(t);
    let forget_before = t.discover_time - chrono::Duration::days(FORGET_AFTER_DAYS);
    match memory
        .record_seen(&t.cluster_name, &now, forget_before)
        .await
    {
        Ok(before) if t.truncated.is_none() => {
            t.missing = not_found(before, &now);
            for m in &t.missing {
                tracing::warn!(cluster = %t.cluster_name, "seen before: {}", m.describe());
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            cluster = %t.cluster_name,
            "the nodes found could not be recorded in the job store (nodes seen before are \
             not reported): {e}"
        ),
    }
}

/// [`discover`], then [`remember`] in `memory`: what every command and endpoint that discovers
/// a cluster calls.
pub async fn discover_remembered(
    seed: &Endpoint,
    spec: &ConnectSpec,
    opts: &DiscoverOptions,
    memory: &dyn NodeMemory,
) -> Result<ClusterTopology> {
    let mut t = discover(seed, spec, opts).await?;
    remember(&mut t, memory).await;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::topology::{DatabaseNode, TopologyTree};
    use std::sync::Mutex;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// primary 23306 → 23307 (→ 23309), 23308; `drop` ports left out.
    fn topo(time: &str, drop: &[u16]) -> ClusterTopology {
        let mut root = DatabaseNode::fixture(23306, Role::Master);
        let replica = |port: u16, source: u16| DatabaseNode {
            source: Some(Endpoint::new("127.0.0.1", source)),
            ..DatabaseNode::fixture(port, Role::Slave)
        };
        let mut r1 = replica(23307, 23306);
        if !drop.contains(&23309) {
            r1.slaves.push(replica(23309, 23307));
        }
        root.slaves.push(r1);
        if !drop.contains(&23308) {
            root.slaves.push(replica(23308, 23306));
        }
        ClusterTopology {
            cluster_id: "cluster-abc".into(),
            cluster_name: "127.0.0.1:23306".into(),
            discover_time: at(time),
            topology: TopologyTree { master: root },
            truncated: None,
            missing: Vec::new(),
        }
    }

    /// A memory that keeps rows in a vector, as the store does in a table.
    #[derive(Default)]
    struct Rows(Mutex<Vec<(String, SeenNode)>>, bool);

    #[async_trait::async_trait]
    impl NodeMemory for Rows {
        async fn record_seen(
            &self,
            cluster: &str,
            found: &[SeenNode],
            forget_before: DateTime<Utc>,
        ) -> Result<Vec<SeenNode>> {
            if self.1 {
                return Err(Error::Store {
                    message: "disk full".into(),
                    creating: false,
                });
            }
            let mut rows = self.0.lock().unwrap();
            rows.retain(|(c, n)| c != cluster || n.last_seen >= forget_before);
            let before: Vec<SeenNode> = rows
                .iter()
                .filter(|(c, _)| c == cluster)
                .map(|(_, n)| n.clone())
                .collect();
            for f in found {
                match rows
                    .iter_mut()
                    .find(|(c, n)| c == cluster && n.address == f.address)
                {
                    Some((_, n)) => {
                        n.last_seen = f.last_seen;
                        n.role = f.role;
                        n.source = f.source.clone();
                    }
                    None => rows.push((cluster.to_string(), f.clone())),
                }
            }
            Ok(before)
        }

        async fn forget(&self, cluster: &str, address: &Endpoint) -> Result<bool> {
            let mut rows = self.0.lock().unwrap();
            let had = rows.len();
            rows.retain(|(c, n)| c != cluster || n.address != *address);
            Ok(rows.len() < had)
        }
    }

    #[tokio::test]
    async fn a_node_seen_before_and_not_found_now_is_missing_until_it_is_back() {
        let m = Rows::default();
        let mut t = topo("2026-12-02T06:10:11Z", &[]);
        remember(&mut t, &m).await;
        assert!(t.missing.is_empty(), "a first discovery misses nothing");
        let mut t = topo("2026-12-02T07:00:00Z", &[23308]);
        remember(&mut t, &m).await;
        let addrs: Vec<String> = t.missing.iter().map(|n| n.address.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:23308"]);
        assert_eq!(
            t.missing[0].describe(),
            "127.0.0.1:23308  last seen 2026-12-02 06:10:11 UTC as replica of \
             127.0.0.1:23306, not found now"
        );
        // Still missing, still last seen at the first discovery.
        let mut t = topo("2026-12-02T08:00:00Z", &[23308]);
        remember(&mut t, &m).await;
        assert_eq!(t.missing[0].last_seen, at("2026-12-02T06:10:11Z"));
        let mut t = topo("2026-12-02T09:00:00Z", &[]);
        remember(&mut t, &m).await;
        assert!(t.missing.is_empty(), "back: {:?}", t.missing);
    }

    #[tokio::test]
    async fn another_cluster_a_truncated_walk_and_forgetting() {
        let m = Rows::default();
        remember(&mut topo("2026-12-02T06:00:00Z", &[]), &m).await;
        // Another cluster's memory is its own.
        let mut other = topo("2026-12-02T06:30:00Z", &[23308, 23309]);
        other.cluster_name = "prod".into();
        remember(&mut other, &m).await;
        assert!(other.missing.is_empty());
        // A walk cut short by --max-depth reports nothing missing: a node may lie beyond it.
        let mut cut = topo("2026-12-02T07:00:00Z", &[23309]);
        cut.truncated = Some(crate::topology::Truncation {
            max_depth: 1,
            source_not_reached: None,
            replicas_below: 1,
            not_probed_below: vec![Endpoint::new("127.0.0.1", 23307)],
        });
        remember(&mut cut, &m).await;
        assert!(cut.missing.is_empty());
        // Forgotten at once, or after FORGET_AFTER_DAYS without being seen.
        let c = "127.0.0.1:23306";
        assert!(
            m.forget(c, &Endpoint::new("127.0.0.1", 23309))
                .await
                .unwrap()
        );
        assert!(
            !m.forget(c, &Endpoint::new("127.0.0.1", 23309))
                .await
                .unwrap()
        );
        let mut t = topo("2026-12-02T08:00:00Z", &[23308, 23309]);
        remember(&mut t, &m).await;
        let addrs: Vec<u16> = t.missing.iter().map(|n| n.address.port).collect();
        assert_eq!(addrs, [23308]);
        let mut t = topo("2027-01-01T07:00:01Z", &[23308]);
        remember(&mut t, &m).await;
        assert!(t.missing.is_empty(), "{:?}", t.missing);
    }

    #[tokio::test]
    async fn the_same_server_under_another_name_is_not_missing() {
        let m = Rows::default();
        remember(&mut topo("2026-12-02T06:00:00Z", &[]), &m).await;
        let mut t = topo("2026-12-02T07:00:00Z", &[]);
        t.topology.master.slaves[1].host = "localhost".into();
        remember(&mut t, &m).await;
        assert!(t.missing.is_empty(), "same address: {:?}", t.missing);
        let mut t = topo("2026-12-02T08:00:00Z", &[]);
        t.topology.master.slaves[1].host = "db-3.example".into();
        remember(&mut t, &m).await;
        assert!(t.missing.is_empty(), "same server id: {:?}", t.missing);
        let mut t = topo("2026-12-02T09:00:00Z", &[]);
        t.topology.master.slaves[1].server_id = 33;
        t.topology.master.slaves[1].host = "db-4.example".into();
        remember(&mut t, &m).await;
        // Another server id at neither address: both names of server 23308 are missing.
        let addrs: Vec<String> = t.missing.iter().map(|n| n.address.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:23308", "db-3.example:23308"]);
    }

    #[tokio::test]
    async fn a_store_that_fails_leaves_the_discovery_as_it_is() {
        let m = Rows(Mutex::default(), true);
        let mut t = topo("2026-12-02T06:00:00Z", &[]);
        let want = t.clone();
        remember(&mut t, &m).await;
        assert_eq!(t, want);
    }
}
