//! The time a running apply has left, from work, not from tables: each node's actions not
//! finished yet at their estimated durations (scaled by how this job's finished rebuilds
//! compared with their estimates), plus what is left of the rebuild under way by its own
//! progress. Nodes run side by side, at most `parallel` at once.

use crate::apply::Event;
use crate::plan::Plan;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// (schema, table).
type Key = (String, String);

/// The work an apply has left.
#[derive(Debug, Clone)]
pub struct WorkLeft {
    /// Per node, the estimated seconds of each action without an outcome yet.
    pending: BTreeMap<String, BTreeMap<Key, f64>>,
    parallel: usize,
    /// Every action has an estimate (a plan made before estimates has none: unknown).
    known: bool,
    measured: f64,
    estimated: f64,
}

impl WorkLeft {
    /// The work of `plan` but what `done_before` (node, schema, table) has, `parallel` nodes at
    /// once.
    pub fn new(
        plan: &Plan,
        parallel: usize,
        done_before: &HashSet<(String, String, String)>,
    ) -> Self {
        let mut pending: BTreeMap<String, BTreeMap<Key, f64>> = BTreeMap::new();
        let mut known = true;
        for (n, a) in plan.actions() {
            let node = n.address.to_string();
            if done_before.contains(&(node.clone(), a.schema.clone(), a.table.clone())) {
                continue;
            }
            known &= a.estimated_duration_s.is_some();
            pending.entry(node).or_default().insert(
                (a.schema.clone(), a.table.clone()),
                a.estimated_duration_s.unwrap_or(0.0),
            );
        }
        Self {
            pending,
            parallel: parallel.max(1),
            known,
            measured: 0.0,
            estimated: 0.0,
        }
    }

    /// Folds an event in: an outcome removes its action's work.
    pub fn track(&mut self, e: &Event) {
        if let Event::TableFinished(o) = e {
            let est = self
                .pending
                .get_mut(&o.node)
                .and_then(|p| p.remove(&(o.schema.clone(), o.table.clone())));
            if let (Some(est), Some(took), crate::apply::ActionStatus::Done) =
                (est, o.duration(), o.status)
            {
                self.measured += took;
                self.estimated += est;
            }
        }
    }

    /// Seconds left as of `now`, with `running` the rebuilds under way; `None` when unknown.
    pub fn seconds(
        &self,
        running: &[crate::apply::progress::RebuildNow],
        now: DateTime<Utc>,
    ) -> Option<u64> {
        if !self.known {
            return None;
        }
        let pace = if self.estimated > 0.0 {
            self.measured / self.estimated
        } else {
            1.0
        };
        let mut per_node = Vec::new();
        for (node, actions) in &self.pending {
            let current = running.iter().find(|r| &r.node == node);
            let mut left = 0.0;
            for ((schema, table), est) in actions {
                match current.filter(|r| &r.schema == schema && &r.table == table) {
                    Some(r) => {
                        left += r
                            .eta_s
                            .unwrap_or_else(|| (est * pace - r.elapsed(now)).max(0.0))
                    }
                    None => left += est * pace,
                }
            }
            per_node.push(left);
        }
        let longest = per_node.iter().copied().fold(0.0, f64::max);
        let spread = per_node.iter().sum::<f64>() / self.parallel as f64;
        Some(longest.max(spread).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ActionOutcome, ActionStatus};
    use crate::plan::example_plan;

    #[test]
    fn time_left_is_work_left_not_tables_left() {
        // Node 23307: docs ~21 s and orders ~10.5 s; node 23308: orders ~10.5 s.
        let p = example_plan();
        let mut w = WorkLeft::new(&p, 10, &HashSet::new());
        let t0 = Utc::now();
        assert_eq!(w.seconds(&[], t0), Some(31));
        // orders done on 23307 in twice its estimate: what is left is taken twice as long.
        let o = ActionOutcome {
            started_at: Some(t0 - chrono::Duration::seconds(21)),
            finished_at: t0,
            ..ActionOutcome::new("127.0.0.1:23307", "shop", "orders", ActionStatus::Done)
        };
        w.track(&Event::TableFinished(o));
        assert_eq!(w.seconds(&[], t0), Some(42));
        // With one node at a time, the nodes' work adds up.
        let one = WorkLeft::new(&p, 1, &HashSet::new());
        assert_eq!(one.seconds(&[], t0), Some(42));
        let mut old = p.clone();
        old.nodes[0].actions[0].estimated_duration_s = None;
        assert_eq!(
            WorkLeft::new(&old, 1, &HashSet::new()).seconds(&[], t0),
            None
        );
    }
}
