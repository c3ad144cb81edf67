//! Replica lag as throttling needs it (design §3): `Seconds_Behind_Master` only measures lag
//! behind the *direct* source — a chained replica reports 0 while its source is minutes behind —
//! so the lag of a downstream replica is the worst along the path from the executing node to it,
//! and `NULL` (replication stopped, node unreachable) is unknown: never 0.

use super::session::Control;
use crate::mysql::{ConnectSpec, Endpoint};
use crate::topology::{ClusterTopology, DatabaseNode};
use std::collections::HashMap;

/// Watches the replicas a binlog-on rebuild reaches.
pub struct LagWatch {
    spec: ConnectSpec,
    /// (replica, nodes from the executing node's child down to the replica).
    paths: Vec<(Endpoint, Vec<Endpoint>)>,
    conns: HashMap<Endpoint, Control>,
}

fn path_to<'a>(n: &'a DatabaseNode, target: &Endpoint, acc: &mut Vec<&'a DatabaseNode>) -> bool {
    for c in &n.slaves {
        acc.push(c);
        if c.endpoint() == *target || path_to(c, target, acc) {
            return true;
        }
        acc.pop();
    }
    false
}

impl LagWatch {
    /// Paths from `exec` to each of `targets` in `topo`.
    pub fn new(
        topo: &ClusterTopology,
        exec: &Endpoint,
        targets: &[String],
        spec: &ConnectSpec,
    ) -> Self {
        let mut paths = Vec::new();
        if let Some(start) = topo.find(exec) {
            for t in targets {
                let Ok(ep) = Endpoint::parse(t) else { continue };
                let mut acc = Vec::new();
                if path_to(start, &ep, &mut acc) {
                    paths.push((ep, acc.iter().map(|n| n.endpoint()).collect()));
                }
            }
        }
        Self {
            spec: spec.clone(),
            paths,
            conns: HashMap::new(),
        }
    }

    /// Whether there is anything to watch.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Own lag of one node; `None` when unknown.
    async fn own_lag(&mut self, ep: &Endpoint) -> Option<u64> {
        if !self.conns.contains_key(ep) {
            let c = Control::open(ep, &self.spec).await.ok()?;
            self.conns.insert(ep.clone(), c);
        }
        let c = self.conns.get_mut(ep)?;
        match c.state().await {
            Ok((_, sources)) => {
                let s = crate::mysql::replication::primary_source(&sources)?;
                if s.running() { s.seconds_behind } else { None }
            }
            Err(_) => {
                // Reconnect next time.
                self.conns.remove(ep);
                None
            }
        }
    }

    /// Per downstream replica: the worst lag along its path (`None`: unknown).
    pub async fn lags(&mut self) -> Vec<(Endpoint, Option<u64>)> {
        let mut own: HashMap<Endpoint, Option<u64>> = HashMap::new();
        let nodes: Vec<Endpoint> = self
            .paths
            .iter()
            .flat_map(|(_, p)| p.iter().cloned())
            .collect();
        for n in nodes {
            if let std::collections::hash_map::Entry::Vacant(slot) = own.entry(n.clone()) {
                slot.insert(self.own_lag(&n).await);
            }
        }
        self.paths
            .iter()
            .map(|(target, path)| {
                let worst = path.iter().try_fold(0u64, |acc, n| {
                    own.get(n).copied().flatten().map(|l| acc.max(l))
                });
                (target.clone(), worst)
            })
            .collect()
    }
}
