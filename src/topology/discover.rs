//! Discovery: walk up from the seed to the root, then down from the root.
//!
//! Up: follow each node's replication source until a node replicates from no one; a node seen
//! twice is a loop (co-masters), resolved only when exactly one node of the loop is writable.
//! Down: breadth first from the root; candidates come from `SHOW SLAVE HOSTS`/`SHOW REPLICAS` and
//! from binlog dump threads, and a candidate becomes a child only after it is probed and its own
//! replication status names the parent (by source server id, else by address). Nodes are
//! de-duplicated by server id (and uuid), probed concurrently up to `parallel` at a time, and a
//! node that cannot be reached stays in the tree with its error. Galera and Group Replication
//! members are refused.

use super::{ClusterTopology, DatabaseNode, Role, TopologyTree, Truncation};
use crate::error::{Error, Result};
use crate::mysql::flavor::{ServerInfo, server_info};
use crate::mysql::replication::{
    AnnouncedReplica, ReplicationSource, announced_replicas, dump_thread_hosts,
    group_replication_members, primary_source, replication_sources,
};
use crate::mysql::{ConnectSpec, Endpoint};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How far and how wide discovery goes.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Levels walked up from the seed and down from the root.
    pub max_depth: usize,
    /// Nodes probed at once.
    pub parallel: usize,
    /// Name to report; the root's address when `None`.
    pub cluster_name: Option<String>,
}

/// Levels discovery walks by default (`--max-depth`).
pub const DEFAULT_MAX_DEPTH: usize = 10;

/// Nodes worked on at once by default (`--parallel`: probes, scans, rebuilds, preflights).
pub const DEFAULT_PARALLEL: usize = 10;

impl Default for DiscoverOptions {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            parallel: DEFAULT_PARALLEL,
            cluster_name: None,
        }
    }
}

/// Everything learnt from one node in one visit.
#[derive(Debug, Clone)]
struct Probe {
    endpoint: Endpoint,
    info: ServerInfo,
    sources: Vec<ReplicationSource>,
    announced: Vec<AnnouncedReplica>,
    dump_hosts: Vec<String>,
}

impl Probe {
    /// The source this node hangs under in the tree: the default channel, else the first.
    fn primary_source(&self) -> Option<&ReplicationSource> {
        primary_source(&self.sources)
    }

    /// Whether this node replicates from `parent`.
    fn replicates_from(&self, parent: &Probe) -> bool {
        self.sources.iter().any(|s| match s.source_server_id {
            Some(id) => id == parent.info.server_id,
            None => s.source.same_node(&parent.endpoint),
        })
    }
}

/// A probe's statements must all be answered within this many connect timeouts: a node that
/// stops answering mid-session (a pooled session to a frozen server: no connect to time out) is
/// unreachable, not a discovery that never ends.
const PROBE_TIMEOUTS: u32 = 3;

#[tracing::instrument(skip(spec), fields(node = %ep))]
async fn probe(ep: &Endpoint, spec: &ConnectSpec) -> Result<Probe> {
    let limit = spec.connect_timeout * PROBE_TIMEOUTS;
    match tokio::time::timeout(limit, probe_once(ep, spec)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Connection {
            host: ep.host.clone(),
            port: ep.port,
            reason: format!(
                "the probe's statements were not answered within {}s",
                limit.as_secs_f64()
            ),
            kind: crate::error::ConnectFailure::Unreachable,
        }),
    }
}

async fn probe_once(ep: &Endpoint, spec: &ConnectSpec) -> Result<Probe> {
    let _step = crate::activity::step(|| format!("probing {ep}"));
    let mut c = spec.read(ep).await?;
    let info = server_info(&mut c, ep).await?;
    if info.wsrep_on {
        return Err(Error::Discovery(format!(
            "{ep} is a Galera/PXC node (wsrep_on=ON): DDL there runs cluster-wide (TOI) and \
             blocks every node; Galera clusters are not supported"
        )));
    }
    let group = group_replication_members(&mut c, ep, &info).await?;
    if !group.is_empty() {
        return Err(Error::Discovery(format!(
            "{ep} is a Group Replication member (group: {}); Group Replication is not supported",
            group.join(", ")
        )));
    }
    let sources = replication_sources(&mut c, ep, &info).await?;
    let announced = announced_replicas(&mut c, ep, &info).await?;
    let dump_hosts = dump_thread_hosts(&mut c, ep).await?;
    c.release();
    Ok(Probe {
        endpoint: ep.clone(),
        info,
        sources,
        announced,
        dump_hosts,
    })
}

/// Probes `eps` concurrently, at most `parallel` at once, keeping the input order.
async fn probe_all(
    eps: Vec<Endpoint>,
    spec: &ConnectSpec,
    parallel: usize,
) -> Vec<(Endpoint, Result<Probe>)> {
    futures::stream::iter(eps)
        .map(|ep| async move {
            let r = probe(&ep, spec).await;
            (ep, r)
        })
        .buffered(parallel.max(1))
        .collect()
        .await
}

fn node_from_probe(p: &Probe, role: Role) -> DatabaseNode {
    DatabaseNode::from_state(&p.endpoint, &p.info, &p.sources, role)
}

fn unreachable_node(
    ep: &Endpoint,
    server_id: u32,
    source: Option<&Endpoint>,
    err: String,
) -> DatabaseNode {
    DatabaseNode {
        host: ep.host.clone(),
        port: ep.port,
        server_id,
        role: if source.is_some() {
            Role::Slave
        } else {
            Role::Master
        },
        read_only: false,
        lag_seconds: None,
        version: String::new(),
        server_uuid: None,
        super_read_only: None,
        flavor: None,
        log_bin: false,
        log_slave_updates: false,
        gtid_mode: None,
        source: source.cloned(),
        replication: None,
        error: Some(err),
        slaves: Vec::new(),
    }
}

/// Identity used for de-duplication: server id plus uuid where the flavor has one.
fn identity(info: &ServerInfo) -> (u32, Option<String>) {
    (info.server_id, info.server_uuid.clone())
}

/// Discovers the cluster `seed` belongs to. Fails with 1002 when the seed itself cannot be
/// reached, 1003 for unsupported clustering, 1004 when the primary is ambiguous.
pub async fn discover(
    seed: &Endpoint,
    spec: &ConnectSpec,
    opts: &DiscoverOptions,
) -> Result<ClusterTopology> {
    let seed_probe = probe(seed, spec).await?;
    let (root, upward) = walk_up(seed_probe, spec, opts).await?;
    let mut source_not_reached = None;
    let (tree, below) = match root {
        Top::Reached(root) => walk_down(root, Role::Master, upward, spec, opts).await,
        Top::Truncated { root, source } => {
            // The highest node reached replicates from a node not probed: it is no master.
            source_not_reached = Some(source);
            walk_down(root, Role::Slave, upward, spec, opts).await
        }
        Top::Unreachable {
            endpoint,
            error,
            below,
        } => {
            // The source of the topmost reachable node is down: keep it as the root with its
            // error and hang the reachable part below it.
            let mut top = unreachable_node(&endpoint, 0, None, error);
            let (below_tree, cut) = walk_down(below, Role::Slave, upward, spec, opts).await;
            top.slaves.push(below_tree);
            (top, cut)
        }
    };
    let truncated = (source_not_reached.is_some() || below.0 > 0).then_some(Truncation {
        max_depth: opts.max_depth,
        source_not_reached,
        replicas_below: below.0,
        not_probed_below: below.1,
    });
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}:{}:{}",
        tree.server_uuid.clone().unwrap_or_default(),
        tree.server_id,
        tree.port
    ));
    let cluster_id = format!("cluster-{}", &hex::encode(hasher.finalize())[..12]);
    Ok(ClusterTopology {
        cluster_id,
        cluster_name: opts
            .cluster_name
            .clone()
            .unwrap_or_else(|| tree.endpoint().to_string()),
        discover_time: chrono::Utc::now(),
        topology: TopologyTree { master: tree },
        truncated,
        missing: Vec::new(),
    })
}

enum Top {
    Reached(Probe),
    /// `--max-depth` stopped the walk at this replica; its `source` was not probed.
    Truncated {
        root: Probe,
        source: Endpoint,
    },
    Unreachable {
        endpoint: Endpoint,
        error: String,
        below: Probe,
    },
}

/// Follows sources upward. Returns the root and every node probed on the way (by server id).
async fn walk_up(
    seed: Probe,
    spec: &ConnectSpec,
    opts: &DiscoverOptions,
) -> Result<(Top, Vec<Probe>)> {
    let mut chain: Vec<Probe> = vec![seed];
    loop {
        let cur = chain.last().expect("chain starts non-empty");
        let Some(src) = cur.primary_source().cloned() else {
            let root = chain.pop().expect("non-empty");
            return Ok((Top::Reached(root), chain));
        };
        let seen = chain.iter().position(|p| match src.source_server_id {
            Some(id) => p.info.server_id == id,
            None => p.endpoint.same_node(&src.source),
        });
        if let Some(start) = seen {
            let root = resolve_loop(&mut chain, start)?;
            return Ok((Top::Reached(root), chain));
        }
        if chain.len() > opts.max_depth {
            tracing::warn!(
                node = %cur.endpoint,
                "stopped walking up at --max-depth {}: the primary was not reached",
                opts.max_depth
            );
            let root = chain.pop().expect("non-empty");
            return Ok((
                Top::Truncated {
                    root,
                    source: src.source.clone(),
                },
                chain,
            ));
        }
        match probe(&src.source, spec).await {
            Ok(p) => {
                // The same server under another address (hostname vs IP): a loop as well.
                if let Some(start) = chain
                    .iter()
                    .position(|q| identity(&q.info) == identity(&p.info))
                {
                    let root = resolve_loop(&mut chain, start)?;
                    return Ok((Top::Reached(root), chain));
                }
                chain.push(p)
            }
            Err(e @ Error::Discovery(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(node = %src.source, error = %e, "source unreachable");
                let below = chain.pop().expect("non-empty");
                return Ok((
                    Top::Unreachable {
                        endpoint: src.source.clone(),
                        error: e.to_string(),
                        below,
                    },
                    chain,
                ));
            }
        }
    }
}

/// `chain[start..]` replicate in a circle. The root is the only writable node of the circle.
fn resolve_loop(chain: &mut Vec<Probe>, start: usize) -> Result<Probe> {
    let ring: Vec<String> = chain[start..]
        .iter()
        .map(|p| p.endpoint.to_string())
        .collect();
    let writable: Vec<usize> = (start..chain.len())
        .filter(|&i| !chain[i].info.read_only)
        .collect();
    match writable.as_slice() {
        [one] => Ok(chain.remove(*one)),
        _ => Err(Error::Primary(format!(
            "replication loop {} → {}: {} writable node(s) in the loop, so the primary is \
             ambiguous; make exactly one node of the loop writable before planning",
            ring.join(" → "),
            ring[0],
            writable.len()
        ))),
    }
}

/// Replicas below the last level walked, not probed, and the nodes they hang under.
type Unprobed = (usize, Vec<Endpoint>);

/// Builds the tree below `root`, breadth first, and says what `--max-depth` left unprobed.
async fn walk_down(
    root: Probe,
    root_role: Role,
    upward: Vec<Probe>,
    spec: &ConnectSpec,
    opts: &DiscoverOptions,
) -> (DatabaseNode, Unprobed) {
    // Probes already made on the way up are reused, and nodes found on the way up (e.g. a
    // stopped replica that no longer shows in its source's SHOW SLAVE HOSTS) are kept.
    let mut known: HashMap<Endpoint, Probe> = upward
        .into_iter()
        .map(|p| (p.endpoint.clone(), p))
        .collect();
    let mut seen: HashSet<(u32, Option<String>)> = HashSet::from([identity(&root.info)]);
    let mut root_node = node_from_probe(&root, root_role);
    // The tree is built as (path of child indexes) → probe, then assembled.
    let mut level: Vec<(Vec<usize>, Probe)> = vec![(Vec::new(), root)];
    let mut depth = 0;
    while !level.is_empty() && depth < opts.max_depth {
        depth += 1;
        // Candidates of every parent of this level, probed together.
        let mut wanted: Vec<(usize, Endpoint, Option<AnnouncedReplica>)> = Vec::new();
        for (pi, (_, parent)) in level.iter().enumerate() {
            for a in &parent.announced {
                wanted.push((pi, a.endpoint.clone(), Some(a.clone())));
            }
            for host in unannounced_hosts(parent) {
                for port in [parent.endpoint.port, 3306] {
                    let ep = Endpoint::new(host.clone(), port);
                    if !ep.same_node(&parent.endpoint)
                        && !wanted.iter().any(|(_, e, _)| e.same_node(&ep))
                    {
                        wanted.push((pi, ep, None));
                    }
                }
            }
            for p in known.values() {
                if p.replicates_from(parent) && !wanted.iter().any(|(_, e, _)| *e == p.endpoint) {
                    wanted.push((pi, p.endpoint.clone(), None));
                }
            }
        }
        let to_probe: Vec<Endpoint> = wanted
            .iter()
            .map(|(_, e, _)| e.clone())
            .filter(|e| !known.contains_key(e))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut failures: HashMap<Endpoint, String> = HashMap::new();
        for (ep, r) in probe_all(to_probe, spec, opts.parallel).await {
            match r {
                Ok(p) => {
                    known.insert(ep, p);
                }
                Err(e) => {
                    failures.insert(ep, e.to_string());
                }
            }
        }
        let mut next: Vec<(Vec<usize>, Probe)> = Vec::new();
        // Children are attached in address order so every seed gives the same tree.
        let mut by_parent: BTreeMap<usize, Vec<(Endpoint, Option<AnnouncedReplica>)>> =
            BTreeMap::new();
        for (pi, ep, ann) in wanted {
            by_parent.entry(pi).or_default().push((ep, ann));
        }
        for (pi, mut cands) in by_parent {
            cands.sort_by(|a, b| a.0.cmp(&b.0));
            let (path, parent) = &level[pi];
            let mut unconfirmed_hosts: Vec<String> = Vec::new();
            for (ep, ann) in cands {
                let parent_node = node_at(&mut root_node, path);
                match (known.get(&ep), failures.get(&ep)) {
                    (Some(p), _) if p.replicates_from(parent) => {
                        if !seen.insert(identity(&p.info)) {
                            continue;
                        }
                        parent_node.slaves.push(node_from_probe(p, Role::Slave));
                        let mut child_path = path.clone();
                        child_path.push(parent_node.slaves.len() - 1);
                        next.push((child_path, p.clone()));
                    }
                    (Some(_), _) => {
                        if ann.is_none() {
                            unconfirmed_hosts.push(ep.host.clone());
                        }
                    }
                    (None, Some(err)) => match ann {
                        Some(a) => {
                            if !seen.insert((a.server_id, a.uuid.clone())) {
                                continue;
                            }
                            parent_node.slaves.push(unreachable_node(
                                &ep,
                                a.server_id,
                                Some(&parent.endpoint),
                                err.clone(),
                            ));
                        }
                        None => unconfirmed_hosts.push(ep.host.clone()),
                    },
                    (None, None) => {}
                }
            }
            // A dump thread whose replica could be found under no port we tried.
            for host in unannounced_hosts(parent) {
                let found = node_at(&mut root_node, path)
                    .slaves
                    .iter()
                    .any(|c| Endpoint::new(c.host.as_str(), 0).normalized().host == host);
                if !found && unconfirmed_hosts.contains(&host) {
                    let parent_node = node_at(&mut root_node, path);
                    parent_node.slaves.push(unreachable_node(
                        &Endpoint::new(host.clone(), 0),
                        0,
                        Some(&parent.endpoint),
                        format!(
                            "a replica connected from {host} did not announce itself (set \
                             report_host and report_port on it); its port is unknown"
                        ),
                    ));
                }
            }
        }
        level = next;
    }
    // Each node of the last level has as many replicas as it announces or has dump threads.
    let mut unprobed: Unprobed = (0, Vec::new());
    for (_, p) in &level {
        let n = p.announced.len().max(p.dump_hosts.len());
        if n > 0 {
            unprobed.0 += n;
            unprobed.1.push(p.endpoint.clone());
        }
    }
    if unprobed.0 > 0 {
        tracing::warn!(
            "stopped at --max-depth {}: {} more replica(s) below, not probed",
            opts.max_depth,
            unprobed.0
        );
    }
    (root_node, unprobed)
}

/// Hosts with more dump threads on `parent` than replicas announced from that host.
fn unannounced_hosts(parent: &Probe) -> Vec<String> {
    // Hosts compared as addresses are (loopback spellings and case folded).
    let host_of = |h: &str| Endpoint::new(h, 0).normalized().host;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for h in &parent.dump_hosts {
        *counts.entry(host_of(h)).or_default() += 1;
    }
    for a in &parent.announced {
        if let Some(c) = counts.get_mut(&host_of(&a.endpoint.host)) {
            *c -= 1;
        }
    }
    counts
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .map(|(h, _)| h)
        .collect()
}

fn node_at<'a>(root: &'a mut DatabaseNode, path: &[usize]) -> &'a mut DatabaseNode {
    path.iter().fold(root, |n, &i| &mut n.slaves[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::Row;

    fn probe_with(
        server_id: u32,
        port: u16,
        read_only: bool,
        dump: &[&str],
        ann: &[(u32, u16)],
    ) -> Probe {
        let sid = server_id.to_string();
        let ro = if read_only { "ON" } else { "OFF" };
        let rows = vec![
            Row::from_pairs([
                ("Variable_name", Some("server_id")),
                ("Value", Some(sid.as_str())),
            ]),
            Row::from_pairs([("Variable_name", Some("read_only")), ("Value", Some(ro))]),
            Row::from_pairs([
                ("Variable_name", Some("version")),
                ("Value", Some("10.11.19-MariaDB")),
            ]),
        ];
        Probe {
            endpoint: Endpoint::new("127.0.0.1", port),
            info: ServerInfo::from_variables(&rows),
            sources: Vec::new(),
            announced: ann
                .iter()
                .map(|(id, p)| AnnouncedReplica {
                    server_id: *id,
                    endpoint: Endpoint::new("127.0.0.1", *p),
                    uuid: None,
                })
                .collect(),
            dump_hosts: dump.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn unannounced_replicas_are_counted_per_host() {
        let p = probe_with(
            1,
            3306,
            false,
            &["127.0.0.1", "127.0.0.1", "10.0.0.7"],
            &[(2, 3307), (3, 3308)],
        );
        assert_eq!(unannounced_hosts(&p), vec!["10.0.0.7".to_string()]);
        let all_announced = probe_with(1, 3306, false, &["127.0.0.1"], &[(2, 3307)]);
        assert!(unannounced_hosts(&all_announced).is_empty());
    }

    #[test]
    fn co_master_loop_resolves_to_the_only_writable_node() {
        let mut chain = vec![
            probe_with(2, 3307, true, &[], &[]),
            probe_with(1, 3306, false, &[], &[]),
        ];
        let root = resolve_loop(&mut chain, 0).unwrap();
        assert_eq!(root.info.server_id, 1);
        let mut both_writable = vec![
            probe_with(2, 3307, false, &[], &[]),
            probe_with(1, 3306, false, &[], &[]),
        ];
        let err = resolve_loop(&mut both_writable, 0).unwrap_err();
        assert_eq!(err.code().as_u16(), 1004);
    }
}
