//! Preflight (design §6.1): before any DDL, the account must hold every privilege the plan
//! needs on every node (all missing grants are named at once, error 1008), and the live cluster
//! must still be the one the plan was reviewed against. Every difference is collected and
//! reported at once; any is refusal (CLI exit 3).

use super::drift::node_drift;
use crate::error::{Error, NodeGrants, Result};
use crate::mysql::flavor::server_info;
use crate::mysql::grants::{Grants, discovery_needs, executor_needs};
use crate::mysql::{ConnectSpec, Endpoint, query_rows};
use crate::plan::{Plan, PlanNode};
use crate::topology::eligibility::{filtered, loop_reaches_primary, protection, reach, truncated};
use crate::topology::{ClusterTopology, DiscoverOptions, NodeMemory, discover};
use futures::StreamExt;
use std::collections::BTreeSet;

/// What preflight learnt: the live topology (used for lag paths during execution).
#[derive(Debug, Clone)]
pub struct Preflight {
    pub topology: ClusterTopology,
}

/// Checks every node's grants, then re-discovers the cluster (recording the nodes found in
/// `memory`, under the root's address: a plan does not carry the cluster's name) and compares
/// it with the plan. `Err(Stale)` names every drift; `Err(Primary)` (1004) when an action would
/// run on the primary under `exclude_primary`.
pub async fn preflight(
    plan: &Plan,
    spec: &ConnectSpec,
    parallel: usize,
    memory: &dyn NodeMemory,
) -> Result<Preflight> {
    check_grants(plan, spec, parallel).await?;
    let seeds = std::iter::once(&plan.cluster.seed).chain(plan.nodes.iter().map(|n| &n.address));
    let mut topology = None;
    let mut last_err = None;
    for ep in seeds {
        let opts = DiscoverOptions {
            parallel,
            ..Default::default()
        };
        match discover(ep, spec, &opts).await {
            Ok(t) => {
                topology = Some(t);
                break;
            }
            // Credentials and unsupported clusters are not drift: report them as they are.
            Err(e @ (Error::Privilege { .. } | Error::Discovery(_))) => return Err(e),
            Err(e) if e.is_login_refused() => return Err(e),
            Err(e) => last_err = Some(e),
        }
    }
    let Some(mut topo) = topology else {
        return Err(Error::stale(vec![format!(
            "no node of the plan answers (last error: {})",
            last_err.map(|e| e.to_string()).unwrap_or_default()
        )]));
    };
    crate::topology::seen::remember(&mut topo, memory).await;
    let s = &plan.settings;
    let mut drift = Vec::new();
    if topo.cluster_id != plan.cluster.cluster_id {
        drift.push(format!(
            "the cluster's primary changed (cluster id {} is now {}, primary {})",
            plan.cluster.cluster_id,
            topo.cluster_id,
            topo.root().endpoint()
        ));
    }
    if let Some(e) = truncated(&topo).or_else(|| loop_reaches_primary(&topo, s)) {
        return Err(e);
    }
    let root = topo.root();
    for n in plan.nodes.iter().filter(|n| !n.actions.is_empty()) {
        let Some(live) = topo.find(&n.address) else {
            drift.push(format!(
                "{} is no longer in the replication topology",
                n.address
            ));
            continue;
        };
        if let Some(e) = &live.error {
            drift.push(format!("{} does not answer: {e}", n.address));
            continue;
        }
        let is_root = std::ptr::eq(live, root);
        if is_root && s.exclude_primary {
            return Err(Error::Primary(format!(
                "{} is the primary and the plan has actions on it while exclude_primary is on; \
                 rebuilding on the primary needs a plan made with --exclude-primary=false",
                n.address
            )));
        }
        // The one rule the checkpoints use too; before the apply every difference refuses.
        drift.extend(
            node_drift(n, live, is_root, s.exclude_primary)
                .iter()
                .map(|d| d.message().to_string()),
        );
        if s.mode == crate::settings::Mode::BinlogOn {
            let prot = |x: &crate::topology::DatabaseNode| {
                protection(x, std::ptr::eq(x, root), s.exclude_primary)
            };
            let (now, notes) = reach(live, &prot);
            // A note the reviewed plan did not carry (a reached node now protected, say a
            // replica made writable) is drift too: the rebuild would replicate to it.
            let reviewed: BTreeSet<&String> =
                n.actions.iter().flat_map(|a| a.warnings.iter()).collect();
            for note in notes.iter().filter(|x| !reviewed.contains(x)) {
                drift.push(format!("{}: {note} (not in the reviewed plan)", n.address));
            }
            // Per table, what the replicas' filters let through now, against the plan.
            for a in &n.actions {
                let missed = filtered(live, &a.schema, &a.table);
                for m in missed.iter().filter(|m| !a.warnings.contains(&m.note)) {
                    drift.push(format!(
                        "{} {}.{}: {} (not in the reviewed plan)",
                        n.address, a.schema, a.table, m.note
                    ));
                }
                let gets: BTreeSet<&Endpoint> = now
                    .iter()
                    .filter(|e| !missed.iter().any(|m| m.node.same_node(e)))
                    .collect();
                let planned: BTreeSet<&Endpoint> = a
                    .propagates_to
                    .as_ref()
                    .unwrap_or(&n.propagates_to)
                    .iter()
                    .collect();
                if gets != planned {
                    drift.push(format!(
                        "{} {}.{}: with the replicas' filters as they are now the rebuild \
                         reaches [{}], the plan says [{}]",
                        n.address,
                        a.schema,
                        a.table,
                        as_text(gets),
                        as_text(planned)
                    ));
                }
            }
            let now: BTreeSet<&Endpoint> = now.iter().collect();
            let planned: BTreeSet<&Endpoint> = n.propagates_to.iter().collect();
            if now != planned {
                drift.push(format!(
                    "{}: the rebuild would now reach [{}], the plan says [{}]",
                    n.address,
                    as_text(now),
                    as_text(planned)
                ));
            }
        }
    }
    if !drift.is_empty() {
        return Err(Error::stale(drift));
    }
    Ok(Preflight { topology: topo })
}

/// `Err(Grants)` naming, per node, every privilege the plan needs and the account lacks: on
/// every node what discovery reads, on the nodes with actions what their rebuilds need in the
/// plan's mode ([`crate::mysql::grants`]). A node that does not answer is left to discovery,
/// which reports it; a refused login is reported as it is.
async fn check_grants(plan: &Plan, spec: &ConnectSpec, parallel: usize) -> Result<()> {
    let binlog_off = plan.settings.mode == crate::settings::Mode::BinlogOff;
    let mut nodes: Vec<GrantCheck> = plan
        .nodes
        .iter()
        .map(|n| GrantCheck::of(n, binlog_off))
        .collect();
    // The other nodes the plan knows (the seed, skipped nodes, the nodes binlog-on rebuilds
    // reach): discovery probes them too.
    let mut seen: BTreeSet<Endpoint> = nodes.iter().map(|n| n.node.clone()).collect();
    let others = std::iter::once(plan.cluster.seed.clone())
        .chain(
            plan.skipped
                .iter()
                .filter_map(|s| Endpoint::parse(&s.address).ok()),
        )
        .chain(
            plan.nodes
                .iter()
                .flat_map(|n| n.propagates_to.iter().cloned()),
        );
    for ep in others {
        if seen.insert(ep.clone()) {
            nodes.push(GrantCheck::discovery(ep));
        }
    }
    let found: Vec<Result<Option<NodeGrants>>> = futures::stream::iter(nodes)
        .map(|n| async move { n.run(spec).await })
        .buffered(parallel.max(1))
        .collect()
        .await;
    let mut missing = Vec::new();
    for f in found {
        missing.extend(f?);
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Grants { missing })
    }
}

/// One node's privilege check: what the plan has it do.
struct GrantCheck {
    node: Endpoint,
    binlog_off: bool,
    read_only: bool,
    /// The tables it rebuilds (none: discovery only).
    tables: Vec<(String, String)>,
}

impl GrantCheck {
    /// A node discovery probes and nothing rebuilds on.
    fn discovery(node: Endpoint) -> Self {
        Self {
            node,
            binlog_off: false,
            read_only: false,
            tables: Vec::new(),
        }
    }

    fn of(n: &PlanNode, binlog_off: bool) -> Self {
        Self {
            node: n.address.clone(),
            binlog_off,
            read_only: n.read_only,
            tables: n
                .actions
                .iter()
                .map(|a| (a.schema.clone(), a.table.clone()))
                .collect(),
        }
    }

    /// What the node lacks, from its `SHOW GRANTS`; `None` when nothing is missing, when
    /// nothing can be told (a warning says why), or when the node does not answer (discovery
    /// reports it).
    async fn run(self, spec: &ConnectSpec) -> Result<Option<NodeGrants>> {
        match self.read(spec).await {
            Err(e) if !e.is_login_refused() => {
                tracing::debug!(node = %self.node, "privileges not checked: {e}");
                Ok(None)
            }
            other => other,
        }
    }

    async fn read(&self, spec: &ConnectSpec) -> Result<Option<NodeGrants>> {
        let mut c = spec.read(&self.node).await?;
        let info = server_info(&mut c, &self.node).await?;
        let rows = query_rows(&mut c, &self.node, "SHOW GRANTS").await?;
        c.release();
        let grants = Grants::from_rows(&rows, info.flavor);
        if let Some(why) = &grants.inconclusive {
            tracing::warn!(
                node = %self.node,
                "cannot tell missing privileges from SHOW GRANTS with {why}; they are checked \
                 as each statement runs"
            );
        }
        let mut needs = discovery_needs(&info);
        if !self.tables.is_empty() {
            needs.extend(executor_needs(
                &info,
                self.binlog_off,
                self.read_only,
                self.tables.clone(),
            ));
        }
        let privileges = grants.missing(&needs);
        Ok((!privileges.is_empty()).then(|| NodeGrants {
            node: self.node.to_string(),
            privileges,
        }))
    }
}

/// `a:3306, b:3306`: the addresses in the order of their text.
fn as_text<'a>(eps: impl IntoIterator<Item = &'a Endpoint>) -> String {
    let texts: BTreeSet<String> = eps.into_iter().map(Endpoint::to_string).collect();
    texts.into_iter().collect::<Vec<_>>().join(", ")
}
