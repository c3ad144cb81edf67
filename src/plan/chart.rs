//! A plan's fragmentation as an SVG bar chart (`show PLAN --chart out.svg`), to paste into a
//! review: one bar per action, grouped by executing node, the file's size in grey with the
//! estimated reclaim in green over it, the figures written beside it. Plain SVG 1.1 with no
//! script or external reference; names are XML-escaped.

use super::{Plan, human_bytes};
use std::fmt::Write;

const ROW: u32 = 22;
const LABEL_W: u32 = 300;
const BAR_W: u32 = 420;
const TEXT_W: u32 = 240;
const TOP: u32 = 56;

/// The chart of `plan` as an SVG document.
pub fn svg(plan: &Plan) -> String {
    let largest = plan
        .actions()
        .map(|(_, a)| a.file_size_bytes)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut body = String::new();
    let mut y = TOP;
    for n in plan.nodes.iter().filter(|n| !n.actions.is_empty()) {
        let reclaim: u64 = n.actions.iter().map(|a| a.estimated_reclaim_bytes).sum();
        let _ = writeln!(
            body,
            r#"<text x="8" y="{}" class="node">{} ({}, {} tables, ~{} reclaimable)</text>"#,
            y + 14,
            esc(&n.address.to_string()),
            n.role,
            n.actions.len(),
            human_bytes(reclaim)
        );
        y += ROW;
        for a in &n.actions {
            let w = |b: u64| (b as f64 / largest as f64 * f64::from(BAR_W)).round() as u32;
            let file_w = w(a.file_size_bytes).max(1);
            let free_w = w(a.estimated_reclaim_bytes.min(a.file_size_bytes));
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
                LABEL_W - 8,
                y + 14,
                esc(&format!("{}.{}", a.schema, a.table))
            );
            let _ = writeln!(
                body,
                r#"<rect x="{LABEL_W}" y="{}" width="{file_w}" height="{}" class="file"/>"#,
                y + 3,
                ROW - 6
            );
            let _ = writeln!(
                body,
                r#"<rect x="{LABEL_W}" y="{}" width="{free_w}" height="{}" class="free"/>"#,
                y + 3,
                ROW - 6
            );
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" class="figure">~{} of {} ({:.0}%)</text>"#,
                LABEL_W + BAR_W + 8,
                y + 14,
                human_bytes(a.estimated_reclaim_bytes),
                human_bytes(a.file_size_bytes),
                a.reclaim_percent
            );
            y += ROW;
        }
        y += ROW / 2;
    }
    if plan.summary.actions == 0 {
        let _ = writeln!(
            body,
            r#"<text x="8" y="{}" class="label">no table qualifies: nothing to rebuild</text>"#,
            y + 14
        );
        y += ROW;
    }
    let width = LABEL_W + BAR_W + TEXT_W;
    let height = y + 28;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    out.push_str(
        "<style>text{font-family:sans-serif;font-size:12px;fill:#222}\
         .title{font-size:15px;font-weight:bold}.node{font-weight:bold}\
         .file{fill:#c8c8c8}.free{fill:#2e9d5b}.legend{fill:#555}</style>\n",
    );
    let _ = writeln!(
        out,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="8" y="22" class="title">{}: ~{} reclaimable in {} tables on {} nodes ({})</text>"#,
        esc(&plan.plan_id),
        human_bytes(plan.summary.estimated_reclaim_bytes),
        plan.summary.actions,
        plan.summary.nodes,
        plan.settings.mode
    );
    let _ = writeln!(
        out,
        "<text x=\"8\" y=\"40\" class=\"legend\">grey: the table's file now; green: what a \
         rebuild is estimated to free</text>"
    );
    out.push_str(&body);
    let _ = writeln!(
        out,
        r#"<text x="8" y="{}" class="legend">cluster {} · {} · {}</text>"#,
        height - 10,
        esc(&plan.cluster.cluster_id),
        esc(&plan.digest),
        plan.created_at.format("%Y-%m-%d %H:%M UTC")
    );
    out.push_str("</svg>\n");
    out
}

/// Text as XML character data or an attribute value.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(esc("x\u{1}y"), "x\u{FFFD}y");
    }
}
