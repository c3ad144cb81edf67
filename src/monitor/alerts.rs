//! The monitoring alerts (Alertmanager v2, `monitoring.alerts.webhook_url`): a cluster whose
//! estimated reclaimable bytes are at or above `monitoring.alerts.reclaimable_bytes`, and a
//! cluster whose last `monitoring.alerts.scan_failures` scans in a row failed or missed a node.
//! As Prometheus does, a firing alert is posted again after every scan while its condition
//! holds (Alertmanager keeps it until its `endsAt`), and once more with `endsAt` now when it
//! clears.

use super::scan::{ClusterScan, NodeStatus, ScanOutcome};
use crate::plan::human_bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::Duration;

/// When to alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRules {
    pub reclaimable_bytes: Option<u64>,
    pub scan_failures: u32,
    /// The scan interval: a firing alert ends three intervals after its last post unless
    /// posted again.
    pub interval: Duration,
}

/// Which alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    Reclaimable,
    ScansFailing,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reclaimable => "TablespaceRecyclingReclaimableBytes",
            Self::ScansFailing => "TablespaceRecyclingScansFailing",
        }
    }
}

/// One alert to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    pub cluster: String,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    /// Resolved: `endsAt` is now.
    pub resolved: bool,
}

/// What a cluster's alerts stand at, between scans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterAlerts {
    /// Scans in a row that failed or missed a node.
    pub failures_in_row: u32,
    reclaimable_since: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
}

impl ClusterAlerts {
    /// The alerts to post after `scan`.
    pub fn observe(&mut self, scan: &ClusterScan, rules: &AlertRules) -> Vec<Alert> {
        let mut out = Vec::new();
        let now = scan.finished_at;
        let cluster = &scan.cluster;
        if scan.outcome == ScanOutcome::Ok {
            self.failures_in_row = 0;
        } else {
            self.failures_in_row += 1;
        }
        let failing = self.failures_in_row >= rules.scan_failures;
        let why = failure_of(scan);
        match (failing, self.failing_since) {
            (true, _) => {
                let starts_at = *self.failing_since.get_or_insert(now);
                out.push(Alert {
                    kind: AlertKind::ScansFailing,
                    cluster: cluster.clone(),
                    description: format!(
                        "the last {} scans of cluster {cluster} failed or missed a node \
                         (alert at {}); the last: {why}",
                        self.failures_in_row, rules.scan_failures
                    ),
                    starts_at,
                    resolved: false,
                });
            }
            (false, Some(starts_at)) => {
                self.failing_since = None;
                out.push(Alert {
                    kind: AlertKind::ScansFailing,
                    cluster: cluster.clone(),
                    description: format!("scans of cluster {cluster} reach every node again"),
                    starts_at,
                    resolved: true,
                });
            }
            (false, None) => {}
        }
        // Reclaimable bytes are known only from a scan that read at least one node.
        if let Some(limit) = rules.reclaimable_bytes
            && scan.outcome != ScanOutcome::Failed
        {
            let total = scan.reclaimable_bytes();
            if total >= limit {
                let starts_at = *self.reclaimable_since.get_or_insert(now);
                out.push(Alert {
                    kind: AlertKind::Reclaimable,
                    cluster: cluster.clone(),
                    description: format!(
                        "cluster {cluster} could free an estimated {} ({total} bytes) by \
                         rebuilding tables, at or above monitoring.alerts.reclaimable_bytes {} \
                         ({limit} bytes)",
                        human_bytes(total),
                        human_bytes(limit)
                    ),
                    starts_at,
                    resolved: false,
                });
            } else if let Some(starts_at) = self.reclaimable_since.take() {
                out.push(Alert {
                    kind: AlertKind::Reclaimable,
                    cluster: cluster.clone(),
                    description: format!(
                        "cluster {cluster}'s estimated reclaimable bytes are {total}, below {limit}"
                    ),
                    starts_at,
                    resolved: true,
                });
            }
        }
        out
    }
}

/// What went wrong in `scan`, in one line.
fn failure_of(scan: &ClusterScan) -> String {
    if let Some(e) = &scan.error {
        return e.clone();
    }
    let missed: Vec<String> = scan
        .nodes
        .iter()
        .filter(|n| n.status != NodeStatus::Scanned)
        .map(|n| {
            format!(
                "{} {}: {}",
                n.address,
                n.status.as_str(),
                n.error.as_deref().unwrap_or("")
            )
        })
        .collect();
    if missed.is_empty() {
        "every node was scanned".into()
    } else {
        missed.join("; ")
    }
}

impl Alert {
    /// The Alertmanager v2 body (an array of one alert).
    pub fn body(
        &self,
        rules: &AlertRules,
        now: DateTime<Utc>,
        generator_url: Option<&str>,
    ) -> Value {
        let ends_at = if self.resolved {
            now
        } else {
            now + chrono::Duration::from_std(rules.interval * 3)
                .unwrap_or_else(|_| chrono::Duration::hours(1))
        };
        let summary = match (self.kind, self.resolved) {
            (AlertKind::Reclaimable, false) => {
                format!("cluster {} has reclaimable tablespace", self.cluster)
            }
            (AlertKind::ScansFailing, false) => {
                format!(
                    "fragmentation scans of cluster {} keep failing",
                    self.cluster
                )
            }
            (_, true) => format!("resolved: {}", self.kind.name()),
        };
        let mut alert = json!({
            "labels": {
                "alertname": self.kind.name(),
                "severity": match self.kind {
                    AlertKind::Reclaimable => "info",
                    AlertKind::ScansFailing => "warning",
                },
                "service": "mysql-tablespace-recycling",
                "cluster": self.cluster,
            },
            "annotations": {
                "summary": summary,
                "description": self.description,
            },
            "startsAt": self.starts_at.to_rfc3339(),
            "endsAt": ends_at.to_rfc3339(),
        });
        if let Some(u) = generator_url {
            alert["generatorURL"] = json!(u);
        }
        json!([alert])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::scan::NodeFigures;

    fn scan(outcome: ScanOutcome, reclaim: u64, at: i64) -> ClusterScan {
        let t = DateTime::from_timestamp(1_700_000_000 + at, 0).unwrap();
        ClusterScan {
            cluster: "prod".into(),
            started_at: t,
            finished_at: t,
            outcome,
            error: (outcome == ScanOutcome::Failed).then(|| "connection refused".into()),
            topology: None,
            nodes: vec![NodeFigures {
                address: "db1:3306".into(),
                status: NodeStatus::Scanned,
                error: None,
                duration: Duration::ZERO,
                tables: 1,
                file_bytes: reclaim,
                reclaimable_bytes: reclaim,
                table_figures: Vec::new(),
            }],
        }
    }

    const RULES: AlertRules = AlertRules {
        reclaimable_bytes: Some(1000),
        scan_failures: 2,
        interval: Duration::from_secs(30),
    };

    #[test]
    fn reclaimable_bytes_fire_at_the_limit_repeat_and_resolve_naming_both_numbers() {
        let mut a = ClusterAlerts::default();
        assert!(a.observe(&scan(ScanOutcome::Ok, 999, 0), &RULES).is_empty());
        let fired = a.observe(&scan(ScanOutcome::Ok, 1000, 30), &RULES);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].kind, AlertKind::Reclaimable);
        assert!(!fired[0].resolved);
        assert!(
            fired[0].description.contains("1000 bytes")
                && fired[0].description.contains("(1000 bytes)"),
            "{}",
            fired[0].description
        );
        let again = a.observe(&scan(ScanOutcome::Ok, 5000, 60), &RULES);
        assert_eq!(
            again[0].starts_at, fired[0].starts_at,
            "the same alert, posted again"
        );
        // A failed scan knows no bytes: the alert neither fires again nor resolves.
        let failed = a.observe(&scan(ScanOutcome::Failed, 0, 90), &RULES);
        assert!(failed.iter().all(|x| x.kind != AlertKind::Reclaimable));
        let cleared = a.observe(&scan(ScanOutcome::Ok, 10, 120), &RULES);
        assert_eq!(cleared.len(), 1);
        assert!(cleared[0].resolved && cleared[0].starts_at == fired[0].starts_at);

        let now = DateTime::from_timestamp(1_700_000_200, 0).unwrap();
        let body = fired[0].body(&RULES, now, Some("http://x/"));
        assert_eq!(
            body[0]["labels"]["alertname"],
            "TablespaceRecyclingReclaimableBytes"
        );
        assert_eq!(body[0]["labels"]["cluster"], "prod");
        assert_eq!(
            body[0]["endsAt"],
            (now + chrono::Duration::seconds(90)).to_rfc3339()
        );
        assert_eq!(
            cleared[0].body(&RULES, now, None)[0]["endsAt"],
            now.to_rfc3339()
        );
    }

    #[test]
    fn scans_failing_fire_after_enough_in_a_row_and_resolve_on_a_full_scan() {
        let rules = AlertRules {
            reclaimable_bytes: None,
            ..RULES
        };
        let mut a = ClusterAlerts::default();
        assert!(
            a.observe(&scan(ScanOutcome::Failed, 0, 0), &rules)
                .is_empty()
        );
        assert!(
            a.observe(&scan(ScanOutcome::Ok, 0, 30), &rules).is_empty(),
            "reset"
        );
        assert!(
            a.observe(&scan(ScanOutcome::Partial, 0, 60), &rules)
                .is_empty()
        );
        let fired = a.observe(&scan(ScanOutcome::Failed, 0, 90), &rules);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].kind, AlertKind::ScansFailing);
        assert!(
            fired[0].description.contains("connection refused"),
            "{}",
            fired[0].description
        );
        let resolved = a.observe(&scan(ScanOutcome::Ok, 0, 120), &rules);
        assert!(resolved[0].resolved && resolved[0].starts_at == fired[0].starts_at);
        assert!(a.observe(&scan(ScanOutcome::Ok, 0, 150), &rules).is_empty());
    }
}
