//! Rendering a plan: the summary table people review, or the document as JSON/YAML.

use super::Plan;
use super::duration::human_duration;
use crate::error::Result;
use crate::mysql::Endpoint;
use comfy_table::{ContentArrangement, Table};

/// Output formats of `plan` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlanFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Bytes as `12.3 MiB` (binary units).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A table with the project's look; `width` fixes the layout (for snapshots and pipes).
pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    // Unit-test snapshots must not take the width of the terminal `cargo test` runs in.
    #[cfg(test)]
    t.force_no_tty();
    // Pipes and pseudo-terminals that report no (or a tiny) width get a readable fixed one.
    if t.width().is_none_or(|w| w < 80) {
        t.set_width(120);
    }
    t
}

/// The review table: one row per action, totals, propagation and what was skipped.
pub fn summary_table(p: &Plan) -> String {
    let mut out = format!(
        "plan {} ({}) for cluster {} from {}\nmode {}, scope {}, thresholds {} MiB and {}%, \
         exclude_primary {}, allow_blocking {}\n",
        p.plan_id,
        p.digest,
        p.cluster.cluster_id,
        p.cluster.seed,
        p.settings.mode,
        p.settings.scope,
        p.settings.threshold_mb,
        p.settings.threshold_percent,
        p.settings.exclude_primary,
        p.settings.allow_blocking
    );
    let st = &p.settings;
    out.push_str(&format!(
        "gates: max_lag {}, max_load {}, critical_load {}, check_interval {}, worker_timeout {}{}\n\
         order {}: {}\n",
        st.max_lag,
        st.max_load(),
        st.critical_load(),
        crate::settings::HumanDuration(st.check_interval()),
        st.worker_timeout
            .map(|w| w.to_string())
            .unwrap_or_else(|| "off".into()),
        st.heartbeat_table
            .as_deref()
            .map(|h| format!(", heartbeat {h}"))
            .unwrap_or_default(),
        p.order(None),
        p.order(None).describe()
    ));
    let mut t = new_table(&[
        "node",
        "table",
        "file size",
        "est. reclaim",
        "%",
        "est. time",
        "online",
        "warnings",
    ]);
    // Warnings every action of a node carries (errant GTID, chain breaks) are printed once
    // below the table instead of on every row.
    let common: Vec<(&Endpoint, Vec<String>)> = p
        .nodes
        .iter()
        .filter(|n| n.actions.len() > 1)
        .map(|n| {
            let first = &n.actions[0].warnings;
            let shared = first
                .iter()
                .filter(|w| n.actions.iter().all(|a| a.warnings.contains(w)))
                .cloned()
                .collect();
            (&n.address, shared)
        })
        .collect();
    let shared_of = |addr: &Endpoint| {
        common
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, w)| w.as_slice())
            .unwrap_or_default()
    };
    for (n, a) in p.actions() {
        let own: Vec<&str> = a
            .warnings
            .iter()
            .filter(|w| !shared_of(&n.address).contains(w))
            .map(String::as_str)
            .collect();
        t.add_row(vec![
            n.address.to_string(),
            format!("{}.{}", a.schema, a.table),
            human_bytes(a.file_size_bytes),
            human_bytes(a.estimated_reclaim_bytes),
            format!("{:.1}", a.reclaim_percent),
            a.estimated_duration_s
                .map(|d| {
                    format!(
                        "{} ({})",
                        human_duration(d),
                        a.duration_method.map_or("?".into(), |m| m.to_string())
                    )
                })
                .unwrap_or_else(|| "-".into()),
            if a.online { "yes" } else { "NO" }.to_string(),
            own.join("\n"),
        ]);
    }
    if p.summary.actions == 0 {
        out.push_str("no table qualifies: nothing to do\n");
    } else {
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out.push_str(&format!(
        "total: {} action(s) on {} node(s), estimated reclaim {}\n",
        p.summary.actions,
        p.summary.nodes,
        human_bytes(p.summary.estimated_reclaim_bytes)
    ));
    for n in p.nodes.iter().filter(|n| !n.actions.is_empty()) {
        let secs = super::estimated_seconds(&n.actions);
        out.push_str(&format!(
            "{}: {} action(s), estimated reclaim {}, estimated time {}\n",
            n.address,
            n.actions.len(),
            human_bytes(n.actions.iter().map(|a| a.estimated_reclaim_bytes).sum()),
            if n.actions.iter().any(|a| a.estimated_duration_s.is_some()) {
                human_duration(secs)
            } else {
                "unknown (plan made before duration estimates)".into()
            }
        ));
    }
    for (addr, shared) in &common {
        for w in shared {
            out.push_str(&format!("{addr}, every table: {w}\n"));
        }
    }
    for n in p.nodes.iter().filter(|n| !n.propagates_to.is_empty()) {
        out.push_str(&format!(
            "{} replicates its rebuilds to {}\n",
            n.address,
            crate::mysql::address::joined(&n.propagates_to)
        ));
    }
    if !p.skipped.is_empty() {
        out.push_str("skipped:\n");
        for s in &p.skipped {
            let what = match (&s.schema, &s.table) {
                (Some(sc), Some(tb)) => format!("  {sc}.{tb}"),
                _ => String::new(),
            };
            out.push_str(&format!("  {}{what}: {}\n", s.address, s.reason));
        }
    }
    if !p.missing.is_empty() {
        out.push_str(
            "warning: nodes seen before and not found now; the plan does not cover them:\n",
        );
        for m in &p.missing {
            out.push_str(&format!("  {}\n", m.describe()));
        }
    }
    out
}

/// Renders `p` in `format`.
pub fn render_plan(p: &Plan, format: PlanFormat) -> Result<String> {
    match format {
        PlanFormat::Table => Ok(summary_table(p)),
        PlanFormat::Json => crate::output::json_pretty(p).map(|s| s + "\n"),
        PlanFormat::Yaml => crate::output::yaml(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::example_plan;

    fn redacted() -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
        s.add_filter(r"plan-\d{8}-\d{3}", "plan-[id]");
        s
    }

    #[test]
    fn summary_table_snapshot() {
        redacted().bind(|| insta::assert_snapshot!(summary_table(&example_plan())));
    }

    #[test]
    fn json_document_snapshot() {
        let p = example_plan();
        insta::assert_json_snapshot!(p, {
            ".digest" => "[digest]",
            ".created_at" => "[created_at]",
            ".plan_id" => "[plan_id]",
        });
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(92_798_976), "88.5 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
