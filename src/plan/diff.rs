//! `diff OLD NEW`: what changed between two plans, per node and table, plus a unified diff of
//! their YAML renderings.
//!
//! A plan *changes* (exit 2) when its work changes: an action added, removed, or with another
//! statement/online flag; a node executing or not, or with another role, source, read-only state
//! or propagation; or a setting. Estimates move between any two scans, so estimate-only changes
//! are listed but do not count, just as Terraform ignores attributes that do not force an update.

use super::Plan;
use crate::mysql::Endpoint;
use crate::mysql::address::joined;
use std::collections::BTreeMap;

/// The differences between two plans.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PlanDiff {
    /// `+ node schema.table`
    pub added: Vec<String>,
    /// `- node schema.table`
    pub removed: Vec<String>,
    /// `~ node schema.table: what`
    pub changed: Vec<String>,
    /// Estimate-only changes (informational).
    pub estimates: Vec<String>,
    /// Node-level and settings changes.
    pub other: Vec<String>,
    /// Unified diff of the YAML renderings.
    pub unified: String,
}

impl PlanDiff {
    /// Whether the work differs (exit 2).
    pub fn has_changes(&self) -> bool {
        !(self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.other.is_empty())
    }

    /// Human report: the change lists, then the unified diff.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in self
            .other
            .iter()
            .chain(&self.added)
            .chain(&self.removed)
            .chain(&self.changed)
            .chain(&self.estimates)
        {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&format!(
            "{} added, {} removed, {} changed{}\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            if self.estimates.is_empty() {
                String::new()
            } else {
                format!(", {} estimate(s) moved", self.estimates.len())
            }
        ));
        if !self.unified.is_empty() {
            out.push('\n');
            out.push_str(&self.unified);
        }
        out
    }
}

/// Compares two plans; `names` label the unified diff.
pub fn diff(old: &Plan, new: &Plan, names: (&str, &str)) -> PlanDiff {
    let mut d = PlanDiff::default();
    let settings = |p: &Plan| serde_json::to_value(&p.settings).unwrap_or_default();
    let (so, sn) = (settings(old), settings(new));
    if let (Some(o), Some(n)) = (so.as_object(), sn.as_object()) {
        for (k, v) in o {
            if n.get(k) != Some(v) {
                d.other.push(format!(
                    "~ settings.{k}: {v} → {}",
                    n.get(k).cloned().unwrap_or_default()
                ));
            }
        }
    }
    /// Keyed by the address's text: the diff lists nodes in that order.
    fn nodes(p: &Plan) -> BTreeMap<String, &super::PlanNode> {
        p.nodes.iter().map(|n| (n.address.to_string(), n)).collect()
    }
    let (no, nn) = (nodes(old), nodes(new));
    for (addr, o) in &no {
        match nn.get(addr) {
            None => d.other.push(format!("- node {addr}")),
            Some(n) => {
                let mut what = Vec::new();
                if o.server_id != n.server_id || o.server_uuid != n.server_uuid {
                    what.push(format!("server_id {} → {}", o.server_id, n.server_id));
                }
                if o.role != n.role {
                    what.push(format!("role {} → {}", o.role, n.role));
                }
                if o.read_only != n.read_only {
                    what.push(format!("read_only {} → {}", o.read_only, n.read_only));
                }
                if o.source != n.source {
                    let text = |s: &Option<Endpoint>| s.as_ref().map(Endpoint::to_string);
                    what.push(format!(
                        "source {:?} → {:?}",
                        text(&o.source),
                        text(&n.source)
                    ));
                }
                if o.propagates_to != n.propagates_to {
                    what.push(format!(
                        "propagates_to [{}] → [{}]",
                        joined(&o.propagates_to),
                        joined(&n.propagates_to)
                    ));
                }
                if !what.is_empty() {
                    d.other.push(format!("~ node {addr}: {}", what.join(", ")));
                }
            }
        }
    }
    for addr in nn.keys().filter(|a| !no.contains_key(*a)) {
        d.other.push(format!("+ node {addr}"));
    }
    let actions = |p: &Plan| {
        p.actions()
            .map(|(n, a)| {
                (
                    (n.address.clone(), a.schema.clone(), a.table.clone()),
                    a.clone(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let (ao, an) = (actions(old), actions(new));
    for (k, o) in &ao {
        let label = format!("{} {}.{}", k.0, k.1, k.2);
        match an.get(k) {
            None => d.removed.push(format!("- {label}")),
            Some(n) => {
                if o.statement != n.statement || o.online != n.online {
                    d.changed
                        .push(format!("~ {label}: {} → {}", o.statement, n.statement));
                } else if o.estimated_reclaim_bytes != n.estimated_reclaim_bytes
                    || o.file_size_bytes != n.file_size_bytes
                {
                    d.estimates.push(format!(
                        "  {label}: estimated reclaim {} → {} bytes (file {} → {})",
                        o.estimated_reclaim_bytes,
                        n.estimated_reclaim_bytes,
                        o.file_size_bytes,
                        n.file_size_bytes
                    ));
                }
            }
        }
    }
    for (k, _) in an.iter().filter(|(k, _)| !ao.contains_key(*k)) {
        d.added.push(format!("+ {} {}.{}", k.0, k.1, k.2));
    }
    let yaml = |p: &Plan| serde_yaml::to_string(p).unwrap_or_default();
    let (yo, yn) = (yaml(old), yaml(new));
    if yo != yn {
        d.unified = similar::TextDiff::from_lines(&yo, &yn)
            .unified_diff()
            .context_radius(3)
            .header(names.0, names.1)
            .to_string();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::example_plan;

    #[test]
    fn same_work_is_no_change_even_with_new_ids_and_estimates() {
        let old = example_plan();
        let mut new = old.clone();
        new.plan_id = "plan-20261127-001".into();
        new.nodes[1].actions[0].estimated_reclaim_bytes += 1 << 20;
        new.seal();
        let d = diff(&old, &new, ("old", "new"));
        assert!(!d.has_changes(), "{}", d.render());
        assert_eq!(d.estimates.len(), 1);
        assert!(!d.unified.is_empty());
    }

    #[test]
    fn added_removed_and_changed_actions_and_settings() {
        let old = example_plan();
        let mut new = old.clone();
        let removed = new.nodes[0].actions.remove(1);
        new.nodes[1].actions.push(crate::plan::Action {
            table: "events".into(),
            statement: crate::plan::rebuild_statement("shop", "events", true),
            ..removed
        });
        new.nodes[1].actions[0].online = false;
        new.nodes[1].actions[0].statement = crate::plan::rebuild_statement("shop", "orders", false);
        new.settings.batch_size = 2;
        new.seal();
        let d = diff(&old, &new, ("old", "new"));
        assert!(d.has_changes());
        assert_eq!(d.added, vec!["+ 127.0.0.1:23308 shop.events"]);
        assert_eq!(d.removed, vec!["- 127.0.0.1:23307 shop.orders"]);
        assert_eq!(d.changed.len(), 1);
        assert!(
            d.other
                .iter()
                .any(|l| l.contains("settings.batch_size: 5 → 2"))
        );
    }
}
