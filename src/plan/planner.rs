//! Topology + scans + settings → [`Plan`] (design §5).
//!
//! Target selection is pure and separate from scanning: [`select_targets`] decides from the
//! topology alone which nodes execute and which are protected, the scan then reads only those
//! nodes, and [`build_plan`] turns the scans into actions. Rules:
//! - which node is eligible, and what a binlogged rebuild reaches, is
//!   [`crate::topology::eligibility`] (apply re-checks with the same functions);
//! - binlog-off: every target rebuilds its own tables with `sql_log_bin=0`;
//! - binlog-on: the executing nodes are the fewest that reach every eligible node exactly once
//!   through replication; the chain breaks at a node without a binary log or (intermediate)
//!   without `log_slave_updates`, and the nodes below a break execute separately.

use super::duration::{Calibration, RebuildHistory, Work, calibrate, estimate};
use super::render::human_bytes;
use super::thresholds::{Verdict, verdict};
use super::{Action, EstimateRange, Plan, PlanCluster, PlanNode, Skipped, Summary, Thresholds};
use super::{FORMAT_VERSION, rebuild_statement, sort_actions};
use crate::error::{Error, Result};
use crate::inspect::estimate::EstimateMethod;
use crate::inspect::{NodeScan, Phase2, ScanOptions, TableFilter, TableStats, scan_nodes};
use crate::mysql::{ConnectSpec, Endpoint};
use crate::settings::{Mode, Order, Scope, Settings};
use crate::topology::eligibility::{
    Missed, filtered, loop_reaches_primary, passes_on, protection, reach, truncated,
};
use crate::topology::{
    ClusterTopology, DatabaseNode, DiscoverOptions, NodeMemory, discover_remembered,
};
use chrono::{DateTime, SubsecRound, Utc};

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub seed: Endpoint,
    pub settings: Settings,
    pub filter: TableFilter,
    pub analyze: bool,
    pub max_depth: usize,
    pub cluster_name: Option<String>,
    pub plan_id: String,
    /// Rows sampled per candidate table with variable-length columns.
    pub sample_rows: u64,
    /// Phase 2 of the scan reads every table ([`Phase2::All`]), not only the candidates.
    pub full_scan: bool,
}

/// A node that will execute rebuilds.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecNode {
    pub endpoint: Endpoint,
    /// binlog-on: nodes reached through replication.
    pub propagates_to: Vec<Endpoint>,
    /// Warnings attached to each of its actions.
    pub notes: Vec<String>,
    /// How its past rebuilds compared with the duration model (none: no history).
    pub calibration: Option<Calibration>,
}

/// Executing nodes and protected nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub executing: Vec<ExecNode>,
    /// (address, reason) of nodes left out for safety.
    pub protected: Vec<(String, String)>,
}

/// Decides executing and protected nodes (no database access).
pub fn select_targets(topo: &ClusterTopology, seed: &Endpoint, s: &Settings) -> Result<Selection> {
    let all = topo.nodes();
    let root = topo.root();
    let is_root = |n: &DatabaseNode| std::ptr::eq(n, root);
    let prot = |n: &DatabaseNode| protection(n, is_root(n), s.exclude_primary);
    if let Some(e) = truncated(topo).or_else(|| loop_reaches_primary(topo, s)) {
        return Err(e);
    }
    let mut sel = Selection::default();
    match s.scope {
        Scope::Node => {
            let (n, _) = all
                .iter()
                .find(|(n, _)| n.endpoint().same_node(seed))
                .ok_or_else(|| {
                    Error::Discovery(format!(
                        "{seed} is not in the topology discovered from it (was --max-depth too small?)"
                    ))
                })?;
            if let Some(reason) = prot(n) {
                let eligible: Vec<String> = all
                    .iter()
                    .filter(|(m, _)| prot(m).is_none())
                    .map(|(m, _)| m.endpoint().to_string())
                    .collect();
                let hint = if s.mode == Mode::BinlogOn && is_root(n) {
                    " (binlog-on on the primary needs --exclude-primary=false)".to_string()
                } else {
                    String::new()
                };
                return Err(Error::Primary(format!(
                    "{seed} is protected: {reason}{hint}; eligible nodes: {}",
                    if eligible.is_empty() {
                        "none".into()
                    } else {
                        eligible.join(", ")
                    }
                )));
            }
            let (propagates_to, notes) = if s.mode == Mode::BinlogOn {
                reach(n, &prot)
            } else {
                (Vec::new(), Vec::new())
            };
            sel.executing.push(ExecNode {
                endpoint: n.endpoint(),
                propagates_to,
                notes,
                calibration: None,
            });
        }
        Scope::Cluster => {
            for (n, _) in &all {
                if let Some(r) = prot(n) {
                    sel.protected.push((n.display_address(), r));
                }
            }
            match s.mode {
                Mode::BinlogOff => {
                    for (n, _) in &all {
                        if prot(n).is_none() {
                            sel.executing.push(ExecNode {
                                endpoint: n.endpoint(),
                                propagates_to: Vec::new(),
                                notes: Vec::new(),
                                calibration: None,
                            });
                        }
                    }
                }
                Mode::BinlogOn => cover(root, false, &prot, &mut sel),
            }
        }
    }
    if sel.executing.is_empty() {
        return Err(Error::Primary(format!(
            "no eligible node to execute on in {} (protected: {})",
            topo.cluster_name,
            sel.protected
                .iter()
                .map(|(a, r)| format!("{a}: {r}"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(sel)
}

/// binlog-on, cluster scope: walk from the root; a node not reached by an executing ancestor
/// executes itself when eligible.
fn cover(
    n: &DatabaseNode,
    covered: bool,
    prot: &dyn Fn(&DatabaseNode) -> Option<String>,
    sel: &mut Selection,
) {
    let executing = !covered && prot(n).is_none();
    if executing {
        let (propagates_to, notes) = reach(n, prot);
        sel.executing.push(ExecNode {
            endpoint: n.endpoint(),
            propagates_to,
            notes,
            calibration: None,
        });
    }
    let passes = (executing || covered) && passes_on(n, executing);
    for c in &n.slaves {
        cover(c, passes && c.reachable(), prot, sel);
    }
}

/// Why a replica is left without a table that the binlog-on rebuild on `on` does not (or may
/// not) bring it. The plan does not mix modes, so it is not planned there separately.
fn filtered_reason(on: &Endpoint, m: &Missed) -> String {
    let (what, why) = match m {
        Missed::Ignored(rule) => ("does not reach it", format!("filtered by {rule}")),
        Missed::Uncertain(why) => ("may not reach it", why.clone()),
    };
    format!(
        "the binlog-on rebuild on {on} {what} ({why}): rebuild it there with a binlog-off plan \
         (--mode binlog-off --scope node)"
    )
}

/// Builds the plan from a selection and the scans of its executing nodes.
pub fn build_plan(
    topo: &ClusterTopology,
    seed: &Endpoint,
    sel: &Selection,
    scans: &[NodeScan],
    settings: &Settings,
    plan_id: &str,
    now: DateTime<Utc>,
) -> Plan {
    let mut nodes = Vec::new();
    let mut skipped: Vec<Skipped> = sel
        .protected
        .iter()
        .map(|(address, reason)| Skipped {
            address: address.clone(),
            schema: None,
            table: None,
            reason: reason.clone(),
        })
        .collect();
    for ex in &sel.executing {
        let Some(node) = topo.find(&ex.endpoint) else {
            continue;
        };
        let Some(scan) = scans.iter().find(|s| s.node == ex.endpoint) else {
            continue;
        };
        let address = &ex.endpoint;
        let errant =
            settings.mode == Mode::BinlogOn && node.source.is_some() && scan.info.assigns_gtids();
        let mut actions = Vec::new();
        for t in &scan.tables {
            let est = match verdict(t, settings) {
                Verdict::Rebuild(est) => est,
                Verdict::NotWorthIt => continue,
                Verdict::Skip(why) => {
                    skipped.push(Skipped {
                        address: address.to_string(),
                        schema: Some(t.schema.clone()),
                        table: Some(t.table.clone()),
                        reason: why.to_string(),
                    });
                    continue;
                }
            };
            let online = t.blocking.is_none();
            let mut warnings = Vec::new();
            if let Some(b) = &t.blocking {
                warnings.push(format!(
                    "{b}: LOCK=SHARED, writes to the table are blocked for the whole rebuild"
                ));
            }
            match est.method {
                EstimateMethod::DataFree => warnings.push(
                    "no persistent statistics: estimated from DATA_FREE, which undercounts".into(),
                ),
                EstimateMethod::LeafPages => warnings
                    .push("a column type is not modelled: estimated from leaf pages in use".into()),
                EstimateMethod::RecordSize => {}
            }
            let estimate_range = est.uncertain.map(|u| {
                let reason = format!(
                    "row count uncertain: the statistics count {} rows, the sampled key range's \
                     density {}; estimated with {} (with the statistics' count the reclaim \
                     would be {})",
                    u.statistics_rows,
                    u.sampled_rows,
                    u.sampled_rows,
                    human_bytes(u.reclaim_with_statistics)
                );
                warnings.push(reason.clone());
                EstimateRange {
                    low_bytes: est.reclaim_bytes,
                    high_bytes: u.reclaim_with_statistics,
                    reason,
                }
            });
            if t.partitions > 0 {
                warnings.push(format!(
                    "partitioned ({} partitions): one statement rebuilds all of them",
                    t.partitions
                ));
            }
            if errant {
                warnings.push(format!(
                    "binlog-on on a replica: the rebuild is written to {address}'s binary log \
                     with its own GTID (server_id {}), an errant transaction that can break a \
                     later failover",
                    node.server_id
                ));
            }
            warnings.extend(ex.notes.iter().cloned());
            let propagates_to = (settings.mode == Mode::BinlogOn)
                .then(|| {
                    let missed = filtered(node, &t.schema, &t.table);
                    for m in &missed {
                        warnings.push(m.note.clone());
                        skipped.push(Skipped {
                            address: m.node.to_string(),
                            schema: Some(t.schema.clone()),
                            table: Some(t.table.clone()),
                            reason: filtered_reason(address, &m.missed),
                        });
                    }
                    (!missed.is_empty()).then(|| {
                        ex.propagates_to
                            .iter()
                            .filter(|e| !missed.iter().any(|m| m.node.same_node(e)))
                            .cloned()
                            .collect()
                    })
                })
                .flatten();
            let work = Work {
                read_bytes: t.file_size_bytes,
                write_bytes: est.rebuilt_bytes,
                rows: t.rows,
                secondary_indexes: t.secondary_indexes,
            };
            let (seconds, method) = estimate(&work, ex.calibration.as_ref());
            actions.push(Action {
                schema: t.schema.clone(),
                table: t.table.clone(),
                file_size_bytes: t.file_size_bytes,
                data_free_bytes: t.data_free_bytes,
                estimated_reclaim_bytes: est.reclaim_bytes,
                reclaim_percent: Thresholds::percent(est.reclaim_bytes, t.file_size_bytes),
                estimate_method: est.method,
                estimate_range,
                rows: Some(t.rows),
                secondary_indexes: Some(t.secondary_indexes),
                estimated_duration_s: Some(seconds),
                duration_method: Some(method),
                statement: rebuild_statement(&t.schema, &t.table, online),
                online,
                propagates_to,
                warnings,
            });
        }
        // By name, then in the order apply will run them (`plan`: by name).
        actions.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)));
        sort_actions(&mut actions, settings.order.unwrap_or(Order::Plan));
        nodes.push(PlanNode {
            address: address.clone(),
            server_id: node.server_id,
            server_uuid: node.server_uuid.clone(),
            role: node.role,
            read_only: node.read_only,
            source: node.source.clone(),
            propagates_to: ex.propagates_to.clone(),
            actions,
        });
    }
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        plan_id: plan_id.to_string(),
        digest: String::new(),
        created_at: now.trunc_subsecs(0),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        cluster: PlanCluster {
            cluster_id: topo.cluster_id.clone(),
            seed: seed.clone(),
            ssl_mode: None,
        },
        settings: settings.clone(),
        nodes,
        skipped,
        missing: topo.missing.clone(),
        summary: Summary {
            nodes: 0,
            actions: 0,
            estimated_reclaim_bytes: 0,
        },
    };
    plan.seal();
    plan
}

/// Discovers (recording the nodes found in `memory`: the plan lists the nodes seen before and
/// not found now), selects, scans and plans, estimating durations with each node's past
/// rebuilds in `history`. Returns the plan and the scans (for reporting).
pub async fn make_plan(
    req: &PlanRequest,
    spec: &ConnectSpec,
    history: &dyn RebuildHistory,
    memory: &dyn NodeMemory,
) -> Result<(Plan, Vec<NodeScan>)> {
    let s = &req.settings;
    let topo = discover_remembered(
        &req.seed,
        spec,
        &DiscoverOptions {
            max_depth: req.max_depth,
            parallel: s.parallel,
            cluster_name: req.cluster_name.clone(),
        },
        memory,
    )
    .await?;
    let mut sel = select_targets(&topo, &req.seed, s)?;
    let targets: Vec<Endpoint> = sel.executing.iter().map(|e| e.endpoint.clone()).collect();
    // A rebuild frees at most the table's file: a table whose files are smaller than the
    // threshold cannot qualify, and phase 2 of the scan does not read it.
    let thresholds = s.thresholds();
    let opts = ScanOptions {
        filter: req.filter.clone(),
        analyze: req.analyze,
        sample_rows: req.sample_rows,
        phase2: if req.full_scan {
            Phase2::All
        } else {
            Phase2::FilesOfAtLeast(thresholds.min_reclaim_bytes)
        },
    };
    // Without a sample the reclaim is an upper bound: a table that fails the thresholds on it
    // is not worth one.
    let worth_sampling = |t: &TableStats| thresholds.admits(t);
    let mut scans = Vec::new();
    for (_, r) in scan_nodes(&targets, spec, &opts, &worth_sampling, s.parallel).await {
        scans.push(r?);
    }
    let addresses: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    let calibrations = calibrate(history, &addresses).await;
    for ex in &mut sel.executing {
        ex.calibration = calibrations.get(&ex.endpoint.to_string()).copied();
    }
    let mut plan = build_plan(&topo, &req.seed, &sel, &scans, s, &req.plan_id, Utc::now());
    plan.cluster.ssl_mode = Some(spec.tls.ssl_mode);
    plan.seal();
    Ok((plan, scans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::HumanDuration;
    use crate::topology::{Role, TopologyTree};

    fn node(port: u16, role: Role, ro: bool, slaves: Vec<DatabaseNode>) -> DatabaseNode {
        DatabaseNode {
            read_only: ro,
            slaves,
            ..DatabaseNode::fixture(port, role)
        }
    }

    /// primary 1 → (r2 → chained 4), r3
    fn topo(tweak: impl Fn(&mut DatabaseNode)) -> ClusterTopology {
        let mut chained = node(4, Role::Slave, true, vec![]);
        let mut r3 = node(3, Role::Slave, true, vec![]);
        tweak(&mut chained);
        tweak(&mut r3);
        let mut r2 = node(2, Role::Slave, true, vec![chained]);
        tweak(&mut r2);
        let mut root = node(1, Role::Master, false, vec![r2, r3]);
        tweak(&mut root);
        ClusterTopology {
            cluster_id: "c".into(),
            cluster_name: "c".into(),
            discover_time: Utc::now(),
            topology: TopologyTree { master: root },
            truncated: None,
            missing: Vec::new(),
        }
    }

    fn settings(mode: Mode, scope: Scope, exclude_primary: bool) -> Settings {
        Settings {
            mode,
            scope,
            threshold_mb: 100,
            threshold_percent: 10.0,
            exclude_primary,
            batch_size: 5,
            timeout: HumanDuration::secs(3600),
            parallel: 10,
            lock_wait_timeout: HumanDuration::secs(5),
            max_lag: HumanDuration::secs(10),
            allow_blocking: false,
            check_interval: None,
            max_load: None,
            critical_load: None,
            worker_timeout: None,
            heartbeat_table: None,
            order: None,
        }
    }

    fn ports(sel: &Selection) -> Vec<u16> {
        sel.executing.iter().map(|e| e.endpoint.port).collect()
    }

    fn ep(port: u16) -> Endpoint {
        Endpoint::new("127.0.0.1", port)
    }

    #[test]
    fn binlog_off_cluster_targets_every_replica_and_protects_the_primary() {
        let t = topo(|_| {});
        let sel =
            select_targets(&t, &ep(2), &settings(Mode::BinlogOff, Scope::Cluster, true)).unwrap();
        assert_eq!(ports(&sel), vec![2, 3, 4]);
        assert_eq!(sel.protected.len(), 1);
        assert!(sel.protected[0].1.starts_with("primary"));
    }

    #[test]
    fn scope_node_on_the_primary_is_1004_naming_alternatives() {
        let t = topo(|_| {});
        let err =
            select_targets(&t, &ep(1), &settings(Mode::BinlogOff, Scope::Node, true)).unwrap_err();
        assert_eq!(err.code().as_u16(), 1004);
        assert!(err.to_string().contains("127.0.0.1:2"), "{err}");
        let err =
            select_targets(&t, &ep(1), &settings(Mode::BinlogOn, Scope::Node, true)).unwrap_err();
        assert!(err.to_string().contains("--exclude-primary=false"), "{err}");
    }

    #[test]
    fn binlog_on_cluster_executes_on_first_level_replicas_only() {
        let t = topo(|_| {});
        let sel =
            select_targets(&t, &ep(1), &settings(Mode::BinlogOn, Scope::Cluster, true)).unwrap();
        assert_eq!(ports(&sel), vec![2, 3]);
        assert_eq!(
            sel.executing[0].propagates_to,
            vec![Endpoint::new("127.0.0.1", 4)]
        );
        assert!(sel.executing[1].propagates_to.is_empty());
    }

    #[test]
    fn binlog_on_on_the_root_reaches_everyone_when_allowed() {
        let t = topo(|_| {});
        let sel =
            select_targets(&t, &ep(1), &settings(Mode::BinlogOn, Scope::Cluster, false)).unwrap();
        assert_eq!(ports(&sel), vec![1]);
        assert_eq!(sel.executing[0].propagates_to.len(), 3);
    }

    #[test]
    fn the_chain_breaks_at_log_slave_updates_off() {
        let t = topo(|n| {
            if n.port == 2 {
                n.log_slave_updates = false;
            }
        });
        let sel =
            select_targets(&t, &ep(1), &settings(Mode::BinlogOn, Scope::Cluster, false)).unwrap();
        // The root reaches 2 and 3; 4 is below the break and executes itself.
        assert_eq!(ports(&sel), vec![1, 4]);
        assert!(
            sel.executing[0]
                .notes
                .iter()
                .any(|n| n.contains("chain breaks at 127.0.0.1:2"))
        );
    }

    #[test]
    fn binlog_on_is_refused_in_a_co_master_loop() {
        let t = topo(|n| {
            if n.port == 1 {
                n.source = Some(Endpoint::new("127.0.0.1", 2));
            }
        });
        let err = select_targets(&t, &ep(2), &settings(Mode::BinlogOn, Scope::Cluster, true))
            .unwrap_err();
        assert_eq!(err.code().as_u16(), 1004);
        assert!(err.to_string().contains("co-master loop"), "{err}");
        // binlog-off stays possible: nothing replicates.
        assert!(
            select_targets(&t, &ep(2), &settings(Mode::BinlogOff, Scope::Cluster, true)).is_ok()
        );
    }

    #[test]
    fn writable_and_stopped_replicas_are_protected() {
        let t = topo(|n| {
            if n.port == 3 {
                n.read_only = false;
            }
            if n.port == 4 {
                n.replication.as_mut().unwrap().sql_running = "No".into();
            }
        });
        let sel =
            select_targets(&t, &ep(2), &settings(Mode::BinlogOff, Scope::Cluster, true)).unwrap();
        assert_eq!(ports(&sel), vec![2]);
        let reasons: Vec<&str> = sel.protected.iter().map(|(_, r)| r.as_str()).collect();
        assert!(reasons.iter().any(|r| r.starts_with("writable")));
        assert!(reasons.iter().any(|r| r.contains("sql=No")));
    }
}
