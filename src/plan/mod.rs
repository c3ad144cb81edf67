//! The plan: a reviewable, serializable list of rebuilds per node (design §5).
//!
//! Field names are a contract that scripts and CI read; `plans/README.md` documents each one.
//! A plan never contains a password. Its `digest` is a sha256 over the canonical JSON of every
//! other field, so a reviewer can pin exactly what was reviewed (`apply --expect-digest`).

mod check;
mod diff;
mod file;
pub(crate) mod planner;
mod render;
mod settings;
mod thresholds;

pub use check::{Finding, Policy, Severity, check};
pub use diff::{PlanDiff, diff};
pub use file::{plan_from_value, read_plan, write_plan};
pub use planner::{PlanRequest, build_plan, make_plan};
pub use render::{PlanFormat, human_bytes, new_table, render_plan, summary_table};
pub use settings::{BadSetting, SettingsOverrides};
pub use thresholds::Thresholds;

use crate::config::{HumanDuration, LoadLimits, Mode};
use crate::inspect::estimate::EstimateMethod;
use crate::mysql::quote_table;
use crate::topology::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest `threshold_mb`: 64 TiB, InnoDB's largest tablespace.
pub const MAX_THRESHOLD_MB: u64 = 64 * 1024 * 1024;
/// The largest `batch_size`.
pub const MAX_BATCH_SIZE: usize = 100_000;
/// The most nodes worked on at once (the `--parallel` flag's bound too).
pub const MAX_PARALLEL: usize = 256;

/// The only plan format this version reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Which nodes a plan targets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only the node given with `--host`.
    #[default]
    Node,
    /// Every eligible node of its topology.
    Cluster,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Node => "node",
            Self::Cluster => "cluster",
        })
    }
}

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
    pub summary: Summary,
}

/// Which cluster the plan was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCluster {
    pub cluster_id: String,
    /// The address discovery started from.
    pub seed: String,
}

/// The settings the plan was made with; apply runs under them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mode: Mode,
    pub scope: Scope,
    pub threshold_mb: u64,
    pub threshold_percent: f64,
    pub exclude_primary: bool,
    pub batch_size: usize,
    /// Deadline of the whole apply.
    #[schema(value_type = String, example = "1h")]
    pub timeout: HumanDuration,
    /// Nodes worked on at once.
    pub parallel: usize,
    /// Session `lock_wait_timeout` of every rebuild.
    #[schema(value_type = String, example = "5s")]
    pub lock_wait_timeout: HumanDuration,
    /// The most lag before the next rebuild: binlog-on, of every replica the rebuild reaches
    /// (along its path, after it executed the previous rebuild); binlog-off, of the target.
    #[schema(value_type = String, example = "10s")]
    pub max_lag: HumanDuration,
    /// Whether blocking rebuilds (`LOCK=SHARED`, FULLTEXT/SPATIAL) may be planned.
    pub allow_blocking: bool,
    // The gates' settings (round 2). Plans made before them lack these keys and keep their
    // digest: an absent key takes the built-in default (`worker_timeout`, `heartbeat_table`:
    // off). Plans made now always carry the first three.
    /// How often a holding gate is checked again (and the critical load read during a rebuild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "1s")]
    pub check_interval: Option<HumanDuration>,
    /// No rebuild starts while a status variable is above its limit (`Threads_running=25`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Threads_running=25")]
    pub max_load: Option<LoadLimits>,
    /// Above it during a rebuild, the statement is killed and the node stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "Threads_running=50")]
    pub critical_load: Option<LoadLimits>,
    /// Longest one rebuild may run before `KILL QUERY`; absent: no limit but `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2h")]
    pub worker_timeout: Option<HumanDuration>,
    /// `db.table` of pt-heartbeat (`--utc`): lag read from it instead of `Seconds_Behind_Master`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_table: Option<String>,
}

impl Settings {
    /// Checks the ranges (the one check for flags, REST bodies and plan files); names the
    /// setting that is out of range.
    pub fn validate(&self) -> Result<(), settings::BadSetting> {
        let bad = |name, reason: &str| {
            Err(settings::BadSetting {
                name,
                reason: reason.to_string(),
            })
        };
        if !(0.0..=100.0).contains(&self.threshold_percent) {
            return bad(
                "threshold_percent",
                &format!("{} is not between 0 and 100", self.threshold_percent),
            );
        }
        // Bounds at parse time: a size or count past them means nothing and could overflow
        // where it is multiplied (MiB to bytes).
        if self.threshold_mb > MAX_THRESHOLD_MB {
            return bad(
                "threshold_mb",
                &format!(
                    "{} is more than {MAX_THRESHOLD_MB} (64 TiB, InnoDB's largest tablespace)",
                    self.threshold_mb
                ),
            );
        }
        for (name, v, max) in [
            ("batch_size", self.batch_size, MAX_BATCH_SIZE),
            ("parallel", self.parallel, MAX_PARALLEL),
        ] {
            if v == 0 {
                return bad(name, "must be at least 1");
            }
            if v > max {
                return bad(name, &format!("{v} is more than {max}"));
            }
        }
        for (name, d) in [
            ("timeout", Some(self.timeout)),
            ("lock_wait_timeout", Some(self.lock_wait_timeout)),
            ("worker_timeout", self.worker_timeout),
        ] {
            if d.is_some_and(|d| d.0.as_secs() == 0) {
                return bad(name, "must be at least 1s");
            }
        }
        if self
            .check_interval
            .is_some_and(|d| d.0 < std::time::Duration::from_millis(100))
        {
            return bad("check_interval", "must be at least 100ms");
        }
        if let Some(t) = &self.heartbeat_table
            && heartbeat_parts(t).is_none()
        {
            return bad(
                "heartbeat_table",
                &format!("{t:?} is not db.table (pt-heartbeat's table)"),
            );
        }
        Ok(())
    }

    /// `check_interval`, or its default (1s) for plans made without it.
    pub fn check_interval(&self) -> std::time::Duration {
        self.check_interval
            .map_or(std::time::Duration::from_secs(1), |d| d.0)
    }

    /// `max_load`, or its default for plans made without it.
    pub fn max_load(&self) -> LoadLimits {
        self.max_load
            .clone()
            .unwrap_or_else(|| crate::config::RecyclingDefaults::default().max_load)
    }

    /// `critical_load`, or its default for plans made without it.
    pub fn critical_load(&self) -> LoadLimits {
        self.critical_load
            .clone()
            .unwrap_or_else(|| crate::config::RecyclingDefaults::default().critical_load)
    }

    /// The heartbeat table as (schema, table).
    pub fn heartbeat(&self) -> Option<(&str, &str)> {
        self.heartbeat_table.as_deref().and_then(heartbeat_parts)
    }
}

/// `db.table` split in two, both parts non-empty.
fn heartbeat_parts(t: &str) -> Option<(&str, &str)> {
    t.split_once('.')
        .filter(|(d, t)| !d.is_empty() && !t.is_empty() && !t.contains('.'))
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
    pub address: String,
    pub server_id: u32,
    /// MySQL only.
    pub server_uuid: Option<String>,
    pub role: Role,
    pub read_only: bool,
    /// `host:port` of its replication source.
    pub source: Option<String>,
    /// binlog-on: the nodes the rebuilds reach through replication.
    pub propagates_to: Vec<String>,
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
    /// For review only: apply builds the statement itself and refuses a plan whose text differs.
    pub statement: String,
    /// false: the rebuild blocks writes (`LOCK=SHARED`).
    pub online: bool,
    pub warnings: Vec<String>,
}

/// A node or table left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
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

    /// Every action with its node.
    pub fn actions(&self) -> impl Iterator<Item = (&PlanNode, &Action)> {
        self.nodes
            .iter()
            .flat_map(|n| n.actions.iter().map(move |a| (n, a)))
    }
}

/// A small plan with every kind of entry, for the unit tests of rendering, diff and check.
#[cfg(test)]
pub(crate) fn example_plan() -> Plan {
    let action = |table: &str, file: u64, reclaim: u64, online: bool| Action {
        schema: "shop".into(),
        table: table.into(),
        file_size_bytes: file,
        data_free_bytes: 6_291_456,
        estimated_reclaim_bytes: reclaim,
        reclaim_percent: Thresholds::percent(reclaim, file),
        estimate_method: EstimateMethod::RecordSize,
        statement: rebuild_statement("shop", table, online),
        online,
        warnings: if online {
            vec![]
        } else {
            vec!["FULLTEXT index fb: LOCK=SHARED, writes to the table are blocked".into()]
        },
    };
    let node = |port: u16, actions: Vec<Action>| PlanNode {
        address: format!("127.0.0.1:{port}"),
        server_id: u32::from(port - 23305),
        server_uuid: None,
        role: Role::Slave,
        read_only: true,
        source: Some("127.0.0.1:23306".into()),
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
            seed: "127.0.0.1:23306".into(),
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
