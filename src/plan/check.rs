//! `check PLAN [--policy FILE]`: named findings with severities, for people and CI.
//!
//! Errors (exit 4): an action on a writable node or the primary, and whatever a policy makes an
//! error. (A blocking rebuild in a plan not made with `allow_blocking` is refused when the plan
//! is read, like SQL text that is not the tool's.) Warnings: blocking rebuilds,
//! errant-GTID risk (binlog-on on a replica), large tables (a rebuild needs about the table's size
//! in free disk), `exclude_primary` off, a plan edited after it was made (digest or summary no
//! longer match), a node seen by earlier discoveries and not found by the plan's (`missing_node`).
//! A policy file can set limits and change any finding's severity.

use super::duration::human_duration;
use super::{Plan, render::human_bytes};
use crate::error::{Error, Result};
use crate::inspect::estimate::EstimateMethod;
use crate::settings::Mode;
use crate::topology::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How serious a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    /// Set in a policy to drop a finding.
    Off,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// Stable name (`writable_node`, `large_table`, …) that policies refer to.
    pub name: FindingName,
    pub severity: Severity,
    pub node: Option<String>,
    pub table: Option<String>,
    pub message: String,
}

/// A policy file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Files larger than this get a `large_table` finding.
    pub large_table_bytes: u64,
    /// More actions than this is a `too_many_actions` error.
    pub max_actions: Option<usize>,
    /// Any other mode is a `mode_not_allowed` error.
    pub require_mode: Option<Mode>,
    /// Severity overrides by finding name (`error`, `warning`, `info`, `off`).
    #[serde(deserialize_with = "severity_overrides")]
    pub severity: BTreeMap<FindingName, Severity>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            large_table_bytes: 10 << 30,
            max_actions: None,
            require_mode: None,
            severity: BTreeMap::new(),
        }
    }
}

/// A finding's stable name, which policies refer to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingName {
    WritableNode,
    BlockingRebuild,
    ErrantGtidRisk,
    LargeTable,
    TooManyActions,
    ModeNotAllowed,
    ExcludePrimaryOff,
    DigestMismatch,
    SummaryMismatch,
    EstimateFromDataFree,
    EmptyPlan,
    DurationOverWorkerTimeout,
    DurationOverTimeout,
    MissingNode,
}

impl FindingName {
    /// Every finding.
    pub const ALL: [Self; 14] = [
        Self::WritableNode,
        Self::BlockingRebuild,
        Self::ErrantGtidRisk,
        Self::LargeTable,
        Self::TooManyActions,
        Self::ModeNotAllowed,
        Self::ExcludePrimaryOff,
        Self::DigestMismatch,
        Self::SummaryMismatch,
        Self::EstimateFromDataFree,
        Self::EmptyPlan,
        Self::DurationOverWorkerTimeout,
        Self::DurationOverTimeout,
        Self::MissingNode,
    ];

    /// The name as policies and `--output-format json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WritableNode => "writable_node",
            Self::BlockingRebuild => "blocking_rebuild",
            Self::ErrantGtidRisk => "errant_gtid_risk",
            Self::LargeTable => "large_table",
            Self::TooManyActions => "too_many_actions",
            Self::ModeNotAllowed => "mode_not_allowed",
            Self::ExcludePrimaryOff => "exclude_primary_off",
            Self::DigestMismatch => "digest_mismatch",
            Self::SummaryMismatch => "summary_mismatch",
            Self::EstimateFromDataFree => "estimate_from_data_free",
            Self::EmptyPlan => "empty_plan",
            Self::DurationOverWorkerTimeout => "duration_over_worker_timeout",
            Self::DurationOverTimeout => "duration_over_timeout",
            Self::MissingNode => "missing_node",
        }
    }

    /// The finding called `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for FindingName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Policy {
    /// Reads a policy file (YAML); unknown keys and unknown finding names are errors.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
        let bad = |e: &dyn std::fmt::Display| Error::invalid(format!("{}: {e}", path.display()));
        let doc: serde_json::Value = serde_yaml::from_str(&text).map_err(|e| bad(&e))?;
        let p: Policy = crate::input::from_value(doc).map_err(|e| bad(&e))?;
        Ok(p)
    }
}

/// The `severity` map of a policy: a key that names no finding is an error naming the key and
/// the known ones.
fn severity_overrides<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<FindingName, Severity>, D::Error> {
    let raw = BTreeMap::<String, Severity>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match FindingName::parse(&k) {
            Some(f) => Ok((f, v)),
            None => Err(serde::de::Error::custom(format!(
                "{k}: no such finding (known: {})",
                FindingName::ALL.map(FindingName::as_str).join(", ")
            ))),
        })
        .collect()
}

/// Checks `p` against `policy`. Findings set to `off` are dropped.
pub fn check(p: &Plan, policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |name: FindingName,
                   sev: Severity,
                   node: Option<&str>,
                   table: Option<String>,
                   msg: String| {
        let severity = policy.severity.get(&name).copied().unwrap_or(sev);
        if severity != Severity::Off {
            out.push(Finding {
                name,
                severity,
                node: node.map(str::to_string),
                table,
                message: msg,
            });
        }
    };
    if p.digest != p.computed_digest() {
        add(
            FindingName::DigestMismatch,
            Severity::Warning,
            None,
            None,
            format!(
                "the plan was edited after it was made: its content hashes to {}",
                p.computed_digest()
            ),
        );
    }
    if p.summary != p.computed_summary() {
        add(
            FindingName::SummaryMismatch,
            Severity::Warning,
            None,
            None,
            "summary does not match the actions".into(),
        );
    }
    if !p.settings.exclude_primary {
        add(
            FindingName::ExcludePrimaryOff,
            Severity::Warning,
            None,
            None,
            "exclude_primary is off: the primary and writable nodes may be touched".into(),
        );
    }
    if let Some(m) = policy.require_mode
        && p.settings.mode != m
    {
        add(
            FindingName::ModeNotAllowed,
            Severity::Error,
            None,
            None,
            format!(
                "mode {} is not allowed by the policy (requires {m})",
                p.settings.mode
            ),
        );
    }
    for m in &p.missing {
        add(
            FindingName::MissingNode,
            Severity::Warning,
            Some(&m.address.to_string()),
            None,
            format!(
                "{}, not found by the plan's discovery: the plan does not cover it (its \
                 replication stopped, or it is down); topology --forget forgets a node that \
                 left for good",
                m.last_seen_as()
            ),
        );
    }
    let total = p.actions().count();
    if total == 0 {
        add(
            FindingName::EmptyPlan,
            Severity::Info,
            None,
            None,
            "no actions".into(),
        );
    }
    if let Some(max) = policy.max_actions
        && total > max
    {
        add(
            FindingName::TooManyActions,
            Severity::Error,
            None,
            None,
            format!("{total} actions, the policy allows {max}"),
        );
    }
    for n in &p.nodes {
        let address = n.address.to_string();
        let addr = Some(address.as_str());
        if !n.actions.is_empty() && (!n.read_only || n.role == Role::Master) {
            add(
                FindingName::WritableNode,
                Severity::Error,
                addr,
                None,
                format!(
                    "{} action(s) on a {} node (read_only={}): rebuilds belong on read-only replicas",
                    n.actions.len(),
                    n.role,
                    n.read_only
                ),
            );
        }
        if p.settings.mode == Mode::BinlogOn && n.source.is_some() && !n.actions.is_empty() {
            add(
                FindingName::ErrantGtidRisk,
                Severity::Warning,
                addr,
                None,
                "binlog-on on a replica writes events with this node's own GTID (errant \
                 transactions can break a later failover)"
                    .into(),
            );
        }
        let timeout = p.settings.timeout.0.as_secs_f64();
        let node_total = super::estimated_seconds(&n.actions);
        if n.actions.len() > 1 && node_total > timeout {
            add(
                FindingName::DurationOverTimeout,
                Severity::Warning,
                addr,
                None,
                format!(
                    "the node's rebuilds need {} in all, more than the apply's timeout ({}): \
                     the ones that no longer fit are skipped (order {})",
                    human_duration(node_total),
                    p.settings.timeout,
                    p.order(None)
                ),
            );
        }
        for a in &n.actions {
            let table = Some(format!("{}.{}", a.schema, a.table));
            if let Some(d) = a.estimated_duration_s {
                let over = |limit: &crate::settings::HumanDuration| d > limit.0.as_secs_f64();
                if let Some(w) = p.settings.worker_timeout.filter(over) {
                    add(
                        FindingName::DurationOverWorkerTimeout,
                        Severity::Warning,
                        addr,
                        table.clone(),
                        format!(
                            "estimated {}, more than worker_timeout ({w}): apply will not \
                             start it",
                            human_duration(d)
                        ),
                    );
                }
                if over(&p.settings.timeout) {
                    add(
                        FindingName::DurationOverTimeout,
                        Severity::Warning,
                        addr,
                        table.clone(),
                        format!(
                            "estimated {}, more than the apply's timeout ({}): apply will not \
                             start it",
                            human_duration(d),
                            p.settings.timeout
                        ),
                    );
                }
            }
            if !a.online {
                add(
                    FindingName::BlockingRebuild,
                    Severity::Warning,
                    addr,
                    table.clone(),
                    "LOCK=SHARED: writes to the table are blocked for the whole rebuild".into(),
                );
            }
            if a.file_size_bytes > policy.large_table_bytes {
                add(
                    FindingName::LargeTable,
                    Severity::Warning,
                    addr,
                    table.clone(),
                    format!(
                        "{} file: the rebuild needs about that much free disk in the datadir \
                         while it runs",
                        human_bytes(a.file_size_bytes)
                    ),
                );
            }
            if a.estimate_method == EstimateMethod::DataFree {
                add(
                    FindingName::EstimateFromDataFree,
                    Severity::Info,
                    addr,
                    table,
                    "no persistent statistics: the estimate is DATA_FREE, which undercounts".into(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::example_plan;

    fn names(f: &[Finding]) -> Vec<(&str, Severity)> {
        f.iter().map(|f| (f.name.as_str(), f.severity)).collect()
    }

    #[test]
    fn estimates_longer_than_the_limits_are_warned_about() {
        let mut p = example_plan();
        // docs is estimated at ~21 s, orders at ~10 s: 31 s on node 23307.
        p.settings.worker_timeout = Some(crate::settings::HumanDuration::secs(15));
        p.settings.timeout = crate::settings::HumanDuration::secs(20);
        let f = check(&p, &Policy::default());
        let found: Vec<(&str, Option<&str>)> = f
            .iter()
            .filter(|f| f.name.as_str().starts_with("duration_"))
            .map(|f| (f.name.as_str(), f.table.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("duration_over_timeout", None),
                ("duration_over_worker_timeout", Some("shop.docs")),
                ("duration_over_timeout", Some("shop.docs")),
            ]
        );
        assert!(
            f[1..]
                .iter()
                .any(|f| f.message.contains("need ~31s in all")),
            "{f:?}"
        );
    }

    #[test]
    fn a_clean_plan_only_warns_about_its_blocking_rebuild() {
        let f = check(&example_plan(), &Policy::default());
        assert_eq!(names(&f), vec![("blocking_rebuild", Severity::Warning)]);
    }

    #[test]
    fn writable_nodes_are_errors() {
        let mut p = example_plan();
        p.nodes[1].read_only = false;
        p.seal();
        let f = check(&p, &Policy::default());
        assert!(names(&f).contains(&("writable_node", Severity::Error)));
    }

    #[test]
    fn policies_set_limits_and_severities() {
        let policy = Policy {
            large_table_bytes: 150 << 20,
            max_actions: Some(2),
            require_mode: Some(Mode::BinlogOn),
            severity: [(FindingName::BlockingRebuild, Severity::Off)].into(),
        };
        let f = check(&example_plan(), &policy);
        let n = names(&f);
        assert!(n.contains(&("too_many_actions", Severity::Error)));
        assert!(n.contains(&("mode_not_allowed", Severity::Error)));
        assert!(n.contains(&("large_table", Severity::Warning)));
        assert!(!n.iter().any(|(name, _)| *name == "blocking_rebuild"));
    }

    #[test]
    fn hand_edits_are_noticed() {
        let mut p = example_plan();
        p.nodes[0].actions.pop();
        let n: Vec<FindingName> = check(&p, &Policy::default())
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert!(n.contains(&FindingName::DigestMismatch));
        assert!(n.contains(&FindingName::SummaryMismatch));
    }

    #[test]
    fn unknown_policy_keys_and_findings_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, "max_action: 3\n").unwrap();
        assert!(
            Policy::load(&p)
                .unwrap_err()
                .to_string()
                .contains("max_action")
        );
        std::fs::write(&p, "severity: {no_such: error}\n").unwrap();
        assert!(
            Policy::load(&p)
                .unwrap_err()
                .to_string()
                .contains("no_such")
        );
    }
}
