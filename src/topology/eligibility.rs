//! Which nodes may execute a rebuild, and what a binlogged rebuild on a node reaches: the rules
//! the planner selects targets by and apply re-checks at its preflight and every checkpoint.
//!
//! - A node is eligible only when reachable and (unless it is the root) replicating with both
//!   threads running; with `exclude_primary` it must also be read-only, and the root and any
//!   writable node are protected ([`protection`]).
//! - A binlogged rebuild replicates to a node's replicas, and on through each replica with a
//!   binary log and `log_slave_updates` ([`passes_on`], [`reach`]).
//! - A replica whose replication filters drop a table's rebuild does not receive it, nor do the
//!   nodes below it ([`filtered`], by the rules of [`super::filters`]).
//! - binlog-on with the primary protected is refused in a co-master loop
//!   ([`loop_reaches_primary`]), and any plan on a tree `--max-depth` cut short ([`truncated`]).

use super::filters::{Delivery, ddl_delivery};
use super::{ClusterTopology, DatabaseNode};
use crate::error::Error;
use crate::mysql::Endpoint;
use crate::settings::{Mode, Settings};

/// Why `n` may not execute a rebuild, if it may not.
pub fn protection(n: &DatabaseNode, is_root: bool, exclude_primary: bool) -> Option<String> {
    if let Some(e) = &n.error {
        return Some(format!("unreachable: {e}"));
    }
    if exclude_primary && is_root {
        return Some(format!(
            "primary (read_only={}, {})",
            if n.read_only { "ON" } else { "OFF" },
            if n.source.is_some() {
                "the writable end of a replication loop"
            } else {
                "no source"
            }
        ));
    }
    if exclude_primary && !n.read_only {
        return Some(
            "writable replica (read_only=OFF): a rebuild here could race with writes \
                     and a writable node may be a failover target"
                .into(),
        );
    }
    if !is_root && !n.replicating() {
        let (io, sql) = n
            .replication
            .as_ref()
            .map(|r| (r.io_running.as_str(), r.sql_running.as_str()))
            .unwrap_or(("?", "?"));
        return Some(format!(
            "replication not running (io={io}, sql={sql}): lag is unknown"
        ));
    }
    None
}

/// A tree `--max-depth` cut short is refused: above the cut the primary is not known (1004),
/// below it sit replicas no one checked that a rebuild could reach (1003).
pub fn truncated(topo: &ClusterTopology) -> Option<Error> {
    let cut = topo.truncated.as_ref()?;
    let why = cut.describe(topo.root()).join("; ");
    let advice = "raise --max-depth (or max_depth) to walk the whole tree";
    Some(if cut.source_not_reached.is_some() {
        Error::Primary(format!("{why}: {advice}"))
    } else {
        Error::Discovery(format!("{why}: {advice}"))
    })
}

/// binlog-on with the primary protected is refused in a co-master loop: the primary replicates
/// from a node of its own tree, so a binlogged rebuild anywhere in the loop would run on it.
pub fn loop_reaches_primary(topo: &ClusterTopology, s: &Settings) -> Option<Error> {
    let root = topo.root();
    (s.mode == Mode::BinlogOn && s.exclude_primary)
        .then_some(root.source.as_ref())
        .flatten()
        .map(|src| {
            Error::Primary(format!(
                "the primary {} replicates from {src} (a co-master loop): a binlog-on rebuild \
                 anywhere in the loop would reach the primary; use --mode binlog-off",
                root.endpoint()
            ))
        })
}

/// Whether events applied on `n` are written to its binlog for its replicas.
pub fn passes_on(n: &DatabaseNode, executing: bool) -> bool {
    n.reachable() && n.log_bin && (executing || n.log_slave_updates)
}

/// The nodes a binlogged rebuild on `n` reaches, and notes on where the chain breaks.
pub fn reach(
    n: &DatabaseNode,
    prot: &dyn Fn(&DatabaseNode) -> Option<String>,
) -> (Vec<Endpoint>, Vec<String>) {
    let mut reached = Vec::new();
    let mut notes = Vec::new();
    if !n.log_bin && !n.slaves.is_empty() {
        notes.push(format!(
            "{} has no binary log (log_bin=OFF): the rebuild does not replicate; its replicas \
             are planned separately",
            n.endpoint()
        ));
        return (reached, notes);
    }
    fn walk(
        n: &DatabaseNode,
        reached: &mut Vec<Endpoint>,
        notes: &mut Vec<String>,
        prot: &dyn Fn(&DatabaseNode) -> Option<String>,
    ) {
        for c in &n.slaves {
            if !c.reachable() {
                notes.push(format!(
                    "{} is below and unreachable: it receives the rebuild when it reconnects",
                    c.display_address()
                ));
                continue;
            }
            reached.push(c.endpoint());
            if let Some(r) = prot(c) {
                notes.push(format!(
                    "{} receives the rebuild but is protected: {r}",
                    c.endpoint()
                ));
            }
            if c.slaves.is_empty() {
                continue;
            }
            if c.log_bin && c.log_slave_updates {
                walk(c, reached, notes, prot);
            } else {
                notes.push(format!(
                    "replication chain breaks at {} (log_bin={}, log_slave_updates={}): nodes \
                     below it are planned separately",
                    c.endpoint(),
                    if c.log_bin { "ON" } else { "OFF" },
                    if c.log_slave_updates { "ON" } else { "OFF" }
                ));
            }
        }
    }
    walk(n, &mut reached, &mut notes, prot);
    (reached, notes)
}

/// How a node misses a binlogged rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missed {
    /// It certainly does not execute it; the rule that drops it (its own or its source's).
    Ignored(String),
    /// It may not execute it, and why.
    Uncertain(String),
}

/// A node [`reach`] lists that a binlogged rebuild of one table does not certainly reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    pub node: Endpoint,
    pub missed: Missed,
    /// What the plan says of it, naming the node and the rule.
    pub note: String,
}

/// The nodes [`reach`] lists for `n` whose replication filters, or those of a replica between,
/// drop (or may drop) the binlogged rebuild of `schema`.`table`, run with `USE` of `schema`. A
/// replica that does not execute the statement does not write it to its binary log either, so
/// the nodes below it do not receive it.
pub fn filtered(n: &DatabaseNode, schema: &str, table: &str) -> Vec<Filtered> {
    fn walk(
        n: &DatabaseNode,
        above: Option<&Missed>,
        schema: &str,
        table: &str,
        out: &mut Vec<Filtered>,
    ) {
        for c in n.slaves.iter().filter(|c| c.reachable()) {
            let own = c.filters().map_or(Delivery::Applied, |f| {
                ddl_delivery(f, schema, schema, table)
            });
            let at = c.endpoint();
            let src = n.endpoint();
            let (missed, note) = match (above, own) {
                (_, Delivery::Ignored(rule)) => (
                    Missed::Ignored(format!("{rule} on {at}")),
                    format!(
                        "not replicated to {at}: filtered by {rule} on {at}; {schema}.{table} is \
                         not rebuilt there"
                    ),
                ),
                (Some(Missed::Ignored(rule)), _) => (
                    Missed::Ignored(rule.clone()),
                    format!(
                        "not replicated to {at}: its source {src} does not execute it; \
                         {schema}.{table} is not rebuilt there"
                    ),
                ),
                (Some(Missed::Uncertain(why)), Delivery::Applied) => (
                    Missed::Uncertain(why.clone()),
                    format!(
                        "may not replicate to {at}: its source {src} may not execute it; counted \
                         as reached, not as rebuilt there"
                    ),
                ),
                (_, Delivery::Uncertain(why)) => (
                    Missed::Uncertain(format!("{why} on {at}")),
                    format!(
                        "may not replicate to {at}: {why} on {at}; counted as reached, not as \
                         rebuilt there"
                    ),
                ),
                (None, Delivery::Applied) => {
                    if c.log_bin && c.log_slave_updates {
                        walk(c, None, schema, table, out);
                    }
                    continue;
                }
            };
            out.push(Filtered {
                node: at,
                missed: missed.clone(),
                note,
            });
            if c.log_bin && c.log_slave_updates {
                walk(c, Some(&missed), schema, table, out);
            }
        }
    }
    let mut out = Vec::new();
    if n.log_bin {
        walk(n, None, schema, table, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Role;

    /// 23307 (wild-ignore `big%.%`) with 23309 below it, and 23308 unfiltered, under 23306.
    fn tree(rewrite_on_23308: bool) -> DatabaseNode {
        let mut r1 = DatabaseNode::fixture(23307, Role::Slave);
        if let Some(r) = r1.replication.as_mut() {
            r.filters.wild_ignore_table = vec!["big%.%".into()];
        }
        r1.slaves = vec![DatabaseNode::fixture(23309, Role::Slave)];
        let mut r2 = DatabaseNode::fixture(23308, Role::Slave);
        if rewrite_on_23308 && let Some(r) = r2.replication.as_mut() {
            r.filters.rewrite_db = vec!["(big,small)".into()];
        }
        let mut root = DatabaseNode::fixture(23306, Role::Master);
        root.slaves = vec![r1, r2];
        root
    }

    #[test]
    fn a_filtered_replica_and_the_nodes_below_it_do_not_receive_the_table() {
        let root = tree(false);
        assert_eq!(filtered(&root, "shop", "orders"), []);
        let f = filtered(&root, "bigdata", "t");
        let at: Vec<String> = f.iter().map(|x| x.node.to_string()).collect();
        assert_eq!(at, ["127.0.0.1:23307", "127.0.0.1:23309"]);
        assert_eq!(
            f[0].note,
            "not replicated to 127.0.0.1:23307: filtered by replicate_wild_ignore_table=big%.% \
             on 127.0.0.1:23307; bigdata.t is not rebuilt there"
        );
        assert!(
            f[1].note
                .contains("its source 127.0.0.1:23307 does not execute it")
        );
        assert!(f.iter().all(|x| matches!(x.missed, Missed::Ignored(_))));
        // The chain: a node reached through a filter-free replica is not filtered.
        let (reached, _) = reach(&root, &|_| None);
        assert_eq!(reached.len(), 3, "reach itself still lists every node");
    }

    #[test]
    fn an_uncertain_replica_is_listed_as_uncertain() {
        let root = tree(true);
        let f = filtered(&root, "shop", "orders");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].node.port, 23308);
        assert!(matches!(&f[0].missed, Missed::Uncertain(w) if w.contains("rewrite")));
        assert!(f[0].note.contains("counted as reached, not as rebuilt"));
    }

    #[test]
    fn a_chain_break_ends_the_walk_as_reach_does() {
        let mut root = tree(false);
        root.slaves[0].log_slave_updates = false;
        let f = filtered(&root, "big", "t");
        assert_eq!(f.len(), 1, "23309 is not reached at all: {f:?}");
    }
}
