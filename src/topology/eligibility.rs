//! Which nodes may execute a rebuild, and what a binlogged rebuild on a node reaches: the rules
//! the planner selects targets by and apply re-checks at its preflight and every checkpoint.
//!
//! - A node is eligible only when reachable and (unless it is the root) replicating with both
//!   threads running; with `exclude_primary` it must also be read-only, and the root and any
//!   writable node are protected ([`protection`]).
//! - A binlogged rebuild replicates to a node's replicas, and on through each replica with a
//!   binary log and `log_slave_updates` ([`passes_on`], [`reach`]).
//! - binlog-on with the primary protected is refused in a co-master loop
//!   ([`loop_reaches_primary`]), and any plan on a tree `--max-depth` cut short ([`truncated`]).

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
