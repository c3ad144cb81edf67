//! Showing an apply's events: progress bars on a terminal (one per node and one overall, with
//! bytes freed so far); elsewhere the executor's `progress` log lines are the display. And the
//! final result table.

use crate::apply::{ActionStatus, ApplyReport, Event};
use crate::jobs::JobRecord;
use crate::jobs::runner::Observer;
use crate::jobs::view::TableResult;
use crate::plan::{human_bytes, new_table};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;

/// Progress bars on a terminal (one per node, one overall with bytes freed so far); elsewhere
/// it draws nothing and the executor's `progress` log lines show the progress. The CLI's
/// [`Observer`] of an apply job.
pub struct Bars {
    tty: bool,
    multi: MultiProgress,
    node_style: ProgressStyle,
    total_style: ProgressStyle,
    bars: HashMap<String, ProgressBar>,
    total: Option<ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            tty,
            multi: MultiProgress::with_draw_target(if tty {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            }),
            node_style: ProgressStyle::with_template(
                "{prefix:>21} [{bar:30}] {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
            total_style: ProgressStyle::with_template(
                "{prefix:>21} [{bar:30}] {pos}/{len} tables, {msg} freed, {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
            bars: HashMap::new(),
            total: None,
        }
    }
}

impl Observer for Bars {
    fn update(&mut self, job: &JobRecord, event: Option<&Event>) {
        let Some(e) = event else { return };
        match e {
            Event::Started {
                total_actions,
                nodes,
                ..
            } => {
                if self.tty {
                    for (node, n) in nodes {
                        let b = self.multi.add(ProgressBar::new(*n as u64));
                        b.set_style(self.node_style.clone());
                        b.set_prefix(node.clone());
                        self.bars.insert(node.clone(), b);
                    }
                    let t = self.multi.add(ProgressBar::new(*total_actions as u64));
                    t.set_style(self.total_style.clone());
                    t.set_prefix("total");
                    t.set_message(human_bytes(0));
                    self.total = Some(t);
                }
            }
            Event::TableStarted { node, .. } | Event::Waiting { node, .. } => {
                if let (Some(b), Some(what)) = (self.bars.get(node), e.activity()) {
                    b.set_message(what);
                }
            }
            Event::Progress(now) => {
                if let Some(b) = self.bars.get(&now.node) {
                    let what = now.describe();
                    b.set_message(format!(
                        "rebuilding {}.{} ({}){}",
                        now.schema,
                        now.table,
                        human_bytes(now.size_before),
                        if what.is_empty() {
                            String::new()
                        } else {
                            format!(": {what}")
                        }
                    ));
                }
            }
            Event::Gate { node, state } => {
                if let Some(b) = self.bars.get(node) {
                    b.set_message(state.describe());
                }
            }
            Event::TableFinished(o) => {
                if let Some(b) = self.bars.get(&o.node) {
                    b.inc(1);
                    b.set_message(format!("{}.{} {}", o.schema, o.table, o.status.as_str()));
                }
                if let Some(t) = &self.total {
                    t.inc(1);
                    t.set_message(human_bytes(job.bytes_freed));
                }
            }
            // The log has the line; the bars count tables.
            Event::BatchDone { .. } => {}
            Event::NodeStopped { node, reason } => {
                if let Some(b) = self.bars.get(node) {
                    b.abandon_with_message(format!("stopped: {reason}"));
                }
            }
            Event::Finished => {
                for b in self.bars.values() {
                    b.finish();
                }
                if let Some(t) = &self.total {
                    t.finish();
                }
            }
        }
    }
}

/// The per-table results: node, table, before, after, freed, duration, status, note. The one
/// rendering of them, for the end of `apply`/`recycle` and for `status JOB`.
pub fn results_table(rows: &[TableResult]) -> String {
    let mut t = new_table(&[
        "node", "table", "before", "after", "freed", "duration", "status", "note",
    ]);
    let size = |v: Option<u64>| v.map(human_bytes).unwrap_or_else(|| "-".into());
    for r in rows {
        t.add_row(vec![
            r.node.clone(),
            format!("{}.{}", r.schema, r.table),
            size(r.size_before_bytes),
            size(r.size_after_bytes),
            human_bytes(r.bytes_freed),
            r.duration_seconds
                .map(|d| format!("{d:.1}s"))
                .unwrap_or_else(|| "-".into()),
            r.status.as_str().to_string(),
            match (&r.code, &r.error) {
                (Some(c), Some(e)) => format!("[{c}] {e}"),
                (None, Some(e)) => e.clone(),
                _ => String::new(),
            },
        ]);
    }
    t.to_string()
}

/// The end of an apply: the results table, what an earlier run already did, bytes freed per
/// node, and totals.
pub fn result_table(r: &ApplyReport) -> String {
    let rows: Vec<TableResult> = r.outcomes.iter().map(TableResult::from).collect();
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&results_table(&rows));
        out.push('\n');
    }
    if !r.already_done.is_empty() {
        out.push_str(&format!(
            "{} table(s) already done by an earlier run of this plan were not rebuilt again\n",
            r.already_done.len()
        ));
    }
    let mut per_node: Vec<(String, u64)> = Vec::new();
    for o in &r.outcomes {
        match per_node.iter_mut().find(|(n, _)| *n == o.node) {
            Some((_, b)) => *b += o.bytes_freed,
            None => per_node.push((o.node.clone(), o.bytes_freed)),
        }
    }
    for (n, b) in &per_node {
        out.push_str(&format!("{n}: {} freed\n", human_bytes(*b)));
    }
    if let Some(o) = r.order {
        out.push_str(&format!("order {o}: {}\n", o.describe()));
    }
    out.push_str(&format!(
        "total: {} done, {} failed, {} skipped; {} freed (measured)\n",
        r.count(ActionStatus::Done),
        r.count(ActionStatus::Failed),
        r.count(ActionStatus::Skipped),
        human_bytes(r.bytes_freed())
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ActionOutcome;
    use crate::error::ErrorCode;

    /// Apply's final table: a rebuild done, one skipped on a deadline, one failed on another
    /// node, and a table done by an earlier run (`--resume`).
    #[test]
    fn result_table_snapshot() {
        let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().expect("a time");
        let o = |node: &str, table: &str, status, secs: i64| ActionOutcome {
            started_at: Some(at("2026-11-26T21:30:00Z")),
            finished_at: at("2026-11-26T21:30:00Z") + chrono::Duration::seconds(secs),
            ..ActionOutcome::new(node, "shop", table, status)
        };
        let r = ApplyReport {
            outcomes: vec![
                ActionOutcome {
                    size_before: Some(54_525_952),
                    size_after: Some(4_194_304),
                    bytes_freed: 50_331_648,
                    ..o("127.0.0.1:23307", "orders", ActionStatus::Done, 312)
                },
                ActionOutcome {
                    error: Some("the deadline passed: KILL QUERY 41 on 127.0.0.1:23307".into()),
                    code: Some(ErrorCode::Timeout),
                    ..o("127.0.0.1:23307", "logs", ActionStatus::Skipped, 3)
                },
                ActionOutcome {
                    size_before: Some(83_886_080),
                    size_after: Some(83_886_080),
                    error: Some("The table 'events' is full".into()),
                    code: Some(ErrorCode::Internal),
                    ..o("127.0.0.1:23308", "events", ActionStatus::Failed, 2)
                },
            ],
            already_done: vec![("127.0.0.1:23308".into(), "shop".into(), "docs".into())],
            ..Default::default()
        };
        insta::assert_snapshot!(result_table(&r));
    }
}
