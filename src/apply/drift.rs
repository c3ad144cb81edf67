//! The one "node still matches the plan" rule (design §6): identity (server_id, uuid), role,
//! source, read-only state and eligibility. Preflight applies it to the re-discovered topology
//! before any DDL; every checkpoint of the executor applies it to the executing node and to every
//! node its rebuild reaches, as they are at that moment.
//!
//! Stopped replication is told apart: before the apply it is drift like any other (the plan was
//! reviewed against running replicas), during it the lag is unknown, so the gate waits for it to
//! run again (fail closed) instead of ending the node at once.

use crate::mysql::Endpoint;
use crate::plan::PlanNode;
use crate::topology::eligibility::protection;
use crate::topology::{DatabaseNode, Role};

/// How a live node differs from what the plan says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The node is not what was reviewed (or may no longer be touched): never go on.
    Changed(String),
    /// Its replication threads are not running: its lag is unknown.
    ReplicationStopped(String),
}

impl Drift {
    pub fn message(&self) -> &str {
        match self {
            Self::Changed(m) | Self::ReplicationStopped(m) => m,
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

/// Whether `live` may still be touched (executing, or reached by a binlog-on rebuild) under
/// `exclude_primary`: `None` when it may.
pub fn eligibility(live: &DatabaseNode, is_root: bool, exclude_primary: bool) -> Option<Drift> {
    let reason = protection(live, is_root, exclude_primary)?;
    Some(if live.reachable() && !is_root && !live.replicating() {
        Drift::ReplicationStopped(format!("{}: {reason}", live.endpoint()))
    } else {
        Drift::Changed(format!(
            "{} is no longer eligible: {reason}",
            live.endpoint()
        ))
    })
}

/// A replica a binlog-on rebuild reaches whose replication filters are not those it had when
/// the plan was checked (`before`, the preflight's topology): what the plan says each table
/// reaches no longer holds.
pub fn filter_drift(before: &DatabaseNode, live: &DatabaseNode) -> Option<Drift> {
    let of = |n: &DatabaseNode| {
        n.replication
            .as_ref()
            .map(|r| r.filters.clone())
            .unwrap_or_default()
    };
    let (was, now) = (of(before), of(live));
    (was != now).then(|| {
        Drift::Changed(format!(
            "{}: replication filters changed ({} → {})",
            live.endpoint(),
            was.describe(),
            now.describe()
        ))
    })
}

/// Every way the executing node `live` differs from `planned`. `is_root`: `live` is the root of
/// the topology (replicates from no one, or the writable end of a loop).
pub fn node_drift(
    planned: &PlanNode,
    live: &DatabaseNode,
    is_root: bool,
    exclude_primary: bool,
) -> Vec<Drift> {
    let a = &planned.address;
    let mut out = Vec::new();
    if live.server_id != planned.server_id || live.server_uuid != planned.server_uuid {
        out.push(Drift::Changed(format!(
            "{a} is another server now (server_id {} → {})",
            planned.server_id, live.server_id
        )));
    }
    if live.role != planned.role {
        out.push(Drift::Changed(format!(
            "{a}: role {} → {}",
            planned.role, live.role
        )));
    }
    if live.read_only != planned.read_only {
        out.push(Drift::Changed(format!(
            "{a}: read_only {} → {}",
            on_off(planned.read_only),
            on_off(live.read_only)
        )));
    }
    if live.source != planned.source {
        let from = |s: &Option<Endpoint>| s.as_ref().map_or("nothing".into(), Endpoint::to_string);
        out.push(Drift::Changed(format!(
            "{a}: replicates from {} → {}",
            from(&planned.source),
            from(&live.source)
        )));
    }
    out.extend(eligibility(live, is_root, exclude_primary));
    out
}

/// The role a node has as seen on its own (no tree): a node with a source is a replica.
pub fn role_of(live: &DatabaseNode) -> Role {
    if live.source.is_some() {
        Role::Slave
    } else {
        Role::Master
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Role;

    fn live(read_only: bool, io: &str) -> DatabaseNode {
        let p = crate::plan::example_plan();
        let n = &p.nodes[0];
        let mut live = DatabaseNode {
            server_id: n.server_id,
            read_only,
            source: n.source.clone(),
            ..DatabaseNode::fixture(23307, Role::Slave)
        };
        if let Some(r) = live.replication.as_mut() {
            r.io_running = io.into();
        }
        live
    }

    #[test]
    fn a_matching_node_has_no_drift() {
        let p = crate::plan::example_plan();
        assert_eq!(node_drift(&p.nodes[0], &live(true, "Yes"), false, true), []);
    }

    #[test]
    fn a_writable_node_is_changed_and_stopped_replication_is_told_apart() {
        let p = crate::plan::example_plan();
        let d = node_drift(&p.nodes[0], &live(false, "Yes"), false, true);
        assert!(
            d.iter().all(|x| matches!(x, Drift::Changed(_))) && d.len() == 2,
            "{d:?}"
        );
        assert!(d[0].message().contains("read_only ON → OFF"), "{d:?}");
        let d = node_drift(&p.nodes[0], &live(true, "No"), false, true);
        assert!(
            matches!(&d[..], [Drift::ReplicationStopped(m)] if m.contains("io=No")),
            "{d:?}"
        );
        let mut other = live(true, "Yes");
        other.server_id = 99;
        other.source = None;
        other.role = role_of(&other);
        let d = node_drift(&p.nodes[0], &other, true, true);
        let text: Vec<&str> = d.iter().map(Drift::message).collect();
        assert!(
            text.iter().any(|m| m.contains("another server")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|m| m.contains("role slave → master")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("primary")), "{text:?}");
    }

    #[test]
    fn changed_filters_of_a_reached_replica_are_drift() {
        let before = live(true, "Yes");
        assert_eq!(filter_drift(&before, &before), None);
        let mut now = before.clone();
        if let Some(r) = now.replication.as_mut() {
            r.filters.wild_ignore_table = vec!["big%.%".into()];
        }
        let d = filter_drift(&before, &now);
        assert!(
            matches!(&d, Some(Drift::Changed(m))
                if m == "127.0.0.1:23307: replication filters changed (none → \
                         replicate_wild_ignore_table=big%.%)"),
            "{d:?}"
        );
    }
}
