//! The plan: a reviewable, serializable list of rebuilds per node (design §5).
//!
//! Field names are a contract that scripts and CI read; `plans/README.md` documents each one.
//! A plan never contains a password. Its `digest` is a sha256 over the canonical JSON of every
//! other field, so a reviewer can pin exactly what was reviewed (`apply --expect-digest`).

pub mod chart;
mod check;
mod diff;
pub mod duration;
mod file;
mod planner;
mod render;
mod thresholds;

pub use check::{Finding, Policy, Severity, check};
pub use diff::{PlanDiff, diff};
pub use file::{plan_from_value, read_plan, write_plan};
pub use planner::{PlanRequest, build_plan, make_plan, select_targets};
pub use render::{PlanFormat, human_bytes, new_table, render_plan, summary_table};
pub use thresholds::Thresholds;

use crate::inspect::estimate::EstimateMethod;
use crate::mysql::{Endpoint, quote_table};
use crate::settings::{Order, Settings};
use crate::topology::{Role, SeenNode};
use chrono::{DateTime, Utc};
use duration::DurationMethod;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only plan format this version reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format_version: u32,
    /// `plan-YYYYMMDD-NNN`.
    pub plan_id: String,
    /// `sha256:<hex>` over the canonical content without this field.
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub tool_version: String,
    pub cluster: PlanCluster,
    pub settings: Settings,
    pub nodes: Vec<PlanNode>,
    pub skipped: Vec<Skipped>,
    /// Nodes earlier discoveries of the cluster found and this plan's did not: the plan does
    /// not cover them (a warning for its reviewer). Omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<SeenNode>,
    pub summary: Summary,
}

/// Which cluster the plan was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCluster {
    pub cluster_id: String,
    /// The address discovery started from.
    #[serde(with = "crate::mysql::address::as_text")]
    #[schema(value_type = String)]
    pub seed: Endpoint,
    /// The TLS mode the plan was made with; apply connects with at least it (plans made before
    /// it was recorded have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<crate::mysql::tls::SslMode>,
}

/// Why [`Plan::check_digest`] refuses a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum DigestProblem {
    /// The content hashes to `actual`, not to the pinned `want`.
    Mismatch { actual: String, want: String },
    /// The content was edited after the plan was made (it hashes to `actual`) and no digest is
    /// pinned.
    Edited { actual: String },
}

/// A node of the plan: who executes, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanNode {
    /// `host:port`.
    #[serde(with = "crate::mysql::address::as_text")]
    #[schema(value_type = String)]
    pub address: Endpoint,
    pub server_id: u32,
    /// MySQL only.
    pub server_uuid: Option<String>,
    pub role: Role,
    pub read_only: bool,
    /// `host:port` of its replication source.
    #[serde(with = "crate::mysql::address::as_text::option")]
    #[schema(value_type = Option<String>)]
    pub source: Option<Endpoint>,
    /// binlog-on: the nodes the rebuilds reach through replication.
    #[serde(with = "crate::mysql::address::as_text::list")]
    #[schema(value_type = Vec<String>)]
    pub propagates_to: Vec<Endpoint>,
    pub actions: Vec<Action>,
}

/// One table rebuild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub schema: String,
    pub table: String,
    pub file_size_bytes: u64,
    pub data_free_bytes: u64,
    pub estimated_reclaim_bytes: u64,
    pub reclaim_percent: f64,
    pub estimate_method: EstimateMethod,
    /// Where the model could not be sure: the reclaim lies between these (omitted when sure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_range: Option<EstimateRange>,
    /// Live rows (the statistics' count), an input of the duration model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Indexes besides the clustered one, an input of the duration model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_indexes: Option<u32>,
    /// How long the rebuild is expected to run (absent in plans made before estimates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration_s: Option<f64>,
    /// `calibrated` (by the node's measured rebuilds) or `default` (the model's conservative
    /// rates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_method: Option<DurationMethod>,
    /// For review only: apply builds the statement itself and refuses a plan whose text differs.
    pub statement: String,
    /// false: the rebuild blocks writes (`LOCK=SHARED`).
    pub online: bool,
    /// binlog-on: the nodes of the node's `propagates_to` this table's rebuild certainly reaches,
    /// when replication filters make that fewer (the warnings say why); omitted when it reaches
    /// them all. The node's `propagates_to` still counts every node for protection and waits.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::mysql::address::as_text::option_list"
    )]
    #[schema(value_type = Option<Vec<String>>)]
    pub propagates_to: Option<Vec<Endpoint>>,
    pub warnings: Vec<String>,
}

/// The range of an estimate the model is not sure of, and why (`estimated_reclaim_bytes` is
/// its cautious end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRange {
    pub low_bytes: u64,
    pub high_bytes: u64,
    pub reason: String,
}

/// A node or table left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    // `host:?` for a replica announced without its port: text, not an `Endpoint`.
    pub address: String,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub reason: String,
}

/// Totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Nodes with at least one action.
    pub nodes: usize,
    pub actions: usize,
    pub estimated_reclaim_bytes: u64,
}

/// The rebuild statement of a table: online (`LOCK=NONE`, fails with 1846 instead of locking)
/// or blocking (`LOCK=SHARED`). The one place it is built; apply executes only this.
pub fn rebuild_statement(schema: &str, table: &str, online: bool) -> String {
    format!(
        "ALTER TABLE {} ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK={}",
        quote_table(schema, table),
        if online { "NONE" } else { "SHARED" }
    )
}

impl Plan {
    /// Totals recomputed from the nodes.
    pub fn computed_summary(&self) -> Summary {
        Summary {
            nodes: self.nodes.iter().filter(|n| !n.actions.is_empty()).count(),
            actions: self.nodes.iter().map(|n| n.actions.len()).sum(),
            estimated_reclaim_bytes: self
                .nodes
                .iter()
                .flat_map(|n| &n.actions)
                .map(|a| a.estimated_reclaim_bytes)
                .sum(),
        }
    }

    /// The rule for running a plan as reviewed: its content must hash to `expect` when a digest
    /// is pinned, and an edited plan (content no longer matching its `digest` field) runs only
    /// with its new digest pinned. Returns the content's digest.
    pub fn check_digest(&self, expect: Option<&str>) -> std::result::Result<String, DigestProblem> {
        let actual = self.computed_digest();
        match expect {
            Some(want) if want != actual => Err(DigestProblem::Mismatch {
                actual,
                want: want.to_string(),
            }),
            None if self.digest != actual => Err(DigestProblem::Edited { actual }),
            _ => Ok(actual),
        }
    }

    /// The digest of the content as it is now (`sha256:<hex>`), whatever `digest` says.
    pub fn computed_digest(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a plan always serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("digest");
        }
        // serde_json's maps are sorted by key: this rendering is canonical.
        let canonical = serde_json::to_string(&v).expect("a value always serializes");
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        )
    }

    /// Fills `summary` and `digest` from the content.
    pub fn seal(&mut self) {
        self.summary = self.computed_summary();
        self.digest = self.computed_digest();
    }

    /// The order a node's actions run in: the plan's `order` (plans made before it: as listed),
    /// or `over` when given.
    pub fn order(&self, over: Option<Order>) -> Order {
        over.or(self.settings.order).unwrap_or(Order::Plan)
    }

    /// Every action with its node.
    pub fn actions(&self) -> impl Iterator<Item = (&PlanNode, &Action)> {
        self.nodes
            .iter()
            .flat_map(|n| n.actions.iter().map(move |a| (n, a)))
    }
}

/// Sorts a node's actions into `order` (`plan`: as they are). Reclaim: estimated bytes per
/// estimated second, highest first (by bytes when a duration is missing); ties by name.
pub fn sort_actions<A: std::borrow::Borrow<Action>>(actions: &mut [A], order: Order) {
    let name = |a: &Action| (a.schema.clone(), a.table.clone());
    let rate = |a: &Action| match a.estimated_duration_s {
        Some(d) if d > 0.0 => a.estimated_reclaim_bytes as f64 / d,
        _ => a.estimated_reclaim_bytes as f64,
    };
    match order {
        Order::Plan => {}
        Order::Name => actions.sort_by_key(|a| name(a.borrow())),
        Order::Size => actions.sort_by(|a, b| {
            let (a, b) = (a.borrow(), b.borrow());
            b.file_size_bytes
                .cmp(&a.file_size_bytes)
                .then_with(|| name(a).cmp(&name(b)))
        }),
        Order::Reclaim => actions.sort_by(|a, b| {
            let (a, b) = (a.borrow(), b.borrow());
            rate(b)
                .total_cmp(&rate(a))
                .then_with(|| name(a).cmp(&name(b)))
        }),
    }
}

/// The total estimated seconds of `actions` (those without an estimate count nothing).
pub fn estimated_seconds<'a>(actions: impl IntoIterator<Item = &'a Action>) -> f64 {
    actions
        .into_iter()
        .filter_map(|a| a.estimated_duration_s)
        .sum()
}

/// A small plan with every kind of entry, for the unit tests of rendering, diff and check.
#[cfg(test)]
pub(crate) fn example_plan() -> Plan {
    use crate::settings::{HumanDuration, LoadLimits, Mode, Scope};
    let action = |table: &str, file: u64, reclaim: u64, online: bool| Action {
        schema: "shop".into(),
        table: table.into(),
        file_size_bytes: file,
        data_free_bytes: 6_291_456,
        estimated_reclaim_bytes: reclaim,
        reclaim_percent: Thresholds::percent(reclaim, file),
        estimate_method: EstimateMethod::RecordSize,
        estimate_range: None,
        rows: Some(file / 400),
        secondary_indexes: Some(u32::from(!online)),
        estimated_duration_s: Some((file / 1_000_000) as f64 / 10.0),
        duration_method: Some(DurationMethod::Default),
        statement: rebuild_statement("shop", table, online),
        online,
        propagates_to: None,
        warnings: if online {
            vec![]
        } else {
            vec!["FULLTEXT index fb: LOCK=SHARED, writes to the table are blocked".into()]
        },
    };
    let node = |port: u16, actions: Vec<Action>| PlanNode {
        address: Endpoint::new("127.0.0.1", port),
        server_id: u32::from(port - 23305),
        server_uuid: None,
        role: Role::Slave,
        read_only: true,
        source: Some(Endpoint::new("127.0.0.1", 23306)),
        propagates_to: vec![],
        actions,
    };
    let mut p = Plan {
        format_version: FORMAT_VERSION,
        plan_id: "plan-20261126-001".into(),
        digest: String::new(),
        created_at: "2026-11-26T20:31:00Z".parse().expect("a valid time"),
        tool_version: "0.1.0".into(),
        cluster: PlanCluster {
            cluster_id: "cluster-8618e7901b7f".into(),
            seed: Endpoint::new("127.0.0.1", 23306),
            ssl_mode: None,
        },
        settings: Settings {
            mode: Mode::BinlogOff,
            scope: Scope::Cluster,
            threshold_mb: 100,
            threshold_percent: 10.0,
            exclude_primary: true,
            batch_size: 5,
            timeout: HumanDuration::secs(3600),
            parallel: 10,
            lock_wait_timeout: HumanDuration::secs(5),
            max_lag: HumanDuration::secs(10),
            allow_blocking: true,
            check_interval: Some(HumanDuration::secs(1)),
            max_load: Some(LoadLimits::one("Threads_running", 25)),
            critical_load: Some(LoadLimits::one("Threads_running", 50)),
            worker_timeout: None,
            heartbeat_table: None,
            order: Some(Order::Reclaim),
        },
        nodes: vec![
            node(
                23307,
                vec![
                    action("docs", 209_715_200, 150_994_944, false),
                    action("orders", 104_857_600, 93_323_264, true),
                ],
            ),
            node(23308, vec![action("orders", 104_857_600, 92_274_688, true)]),
        ],
        skipped: vec![Skipped {
            address: "127.0.0.1:23306".into(),
            schema: None,
            table: None,
            reason: "primary (read_only=OFF, no source)".into(),
        }],
        missing: vec![],
        summary: Summary {
            nodes: 0,
            actions: 0,
            estimated_reclaim_bytes: 0,
        },
    };
    p.seal();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_everything_but_itself() {
        let p = example_plan();
        assert_eq!(p.digest, p.computed_digest());
        assert_eq!(p.summary.actions, 3);
        let mut edited = p.clone();
        edited.nodes[1].actions.clear();
        assert_ne!(edited.computed_digest(), p.digest);
        let mut redigested = p.clone();
        redigested.digest = "sha256:00".into();
        assert_eq!(redigested.computed_digest(), p.digest);
    }

    #[test]
    fn an_edited_plan_runs_only_with_its_new_digest_pinned() {
        let p = example_plan();
        assert_eq!(p.check_digest(None), Ok(p.digest.clone()));
        assert_eq!(p.check_digest(Some(&p.digest)), Ok(p.digest.clone()));
        assert!(matches!(
            p.check_digest(Some("sha256:00")),
            Err(DigestProblem::Mismatch { .. })
        ));
        let mut edited = p.clone();
        edited.nodes[1].actions.clear();
        let actual = edited.computed_digest();
        assert_eq!(
            edited.check_digest(None),
            Err(DigestProblem::Edited {
                actual: actual.clone()
            })
        );
        assert!(matches!(
            edited.check_digest(Some(&p.digest)),
            Err(DigestProblem::Mismatch { .. })
        ));
        assert_eq!(edited.check_digest(Some(&actual)), Ok(actual));
    }

    #[test]
    fn actions_sort_into_every_order() {
        let p = example_plan();
        let mut a: Vec<&Action> = p.nodes[0].actions.iter().collect();
        let names = |a: &[&Action]| a.iter().map(|x| x.table.clone()).collect::<Vec<_>>();
        sort_actions(&mut a, Order::Size);
        assert_eq!(names(&a), ["docs", "orders"]);
        // orders frees 89 MiB in ~10 s, docs 144 MiB in ~21 s.
        sort_actions(&mut a, Order::Reclaim);
        assert_eq!(names(&a), ["orders", "docs"]);
        sort_actions(&mut a, Order::Name);
        assert_eq!(names(&a), ["docs", "orders"]);
        a.reverse();
        sort_actions(&mut a, Order::Plan);
        assert_eq!(names(&a), ["orders", "docs"]);
        assert_eq!(p.order(None), Order::Reclaim);
        assert_eq!(p.order(Some(Order::Name)), Order::Name);
        let mut old = p.clone();
        old.settings.order = None;
        assert_eq!(old.order(None), Order::Plan);
    }

    #[test]
    fn statements_quote_every_identifier() {
        assert_eq!(
            rebuild_statement("shop", "orders", true),
            "ALTER TABLE `shop`.`orders` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE"
        );
        assert_eq!(
            rebuild_statement("a`b", "c. d", false),
            "ALTER TABLE `a``b`.`c. d` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=SHARED"
        );
    }
}
