//! `GET /metrics` in the Prometheus text format. From the job store (so the numbers survive
//! restarts and include CLI applies that share the store): jobs by status, active jobs, bytes
//! reclaimed, tables processed by outcome, a histogram of job durations. From the metrics
//! store's last scan of each cluster: reclaimable bytes per node, file size and estimated
//! reclaim of the top `monitoring.metrics.top_tables` tables per node (bounded cardinality),
//! the scan's time and duration; and the nodes scans missed since the process started.

use super::AppState;
use super::error::ApiError;
use crate::monitor::scan::{NodeStatus, TableFigures};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::fmt::Write;

/// Upper bounds of the job duration histogram, seconds.
const BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
];

/// The handler.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let t = st.jobs().store().totals(&BUCKETS).await?;
    let active = st.jobs().active_jobs().await;
    let mut body = String::new();
    let head = |b: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(b, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut body,
        "recycler_jobs",
        "gauge",
        "Jobs in the job store by status.",
    );
    for s in crate::jobs::JobStatus::ALL {
        let n = t.jobs.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
        let _ = writeln!(body, "recycler_jobs{{status=\"{}\"}} {n}", s.as_str());
    }
    head(
        &mut body,
        "recycler_active_jobs",
        "gauge",
        "Jobs pending or running in this server.",
    );
    let _ = writeln!(body, "recycler_active_jobs {active}");
    head(
        &mut body,
        "recycler_reclaimed_bytes_total",
        "counter",
        "Bytes freed by table rebuilds, measured on the nodes.",
    );
    let _ = writeln!(body, "recycler_reclaimed_bytes_total {}", t.bytes_freed);
    head(
        &mut body,
        "recycler_tables_processed_total",
        "counter",
        "Tables with an outcome, by outcome (done, failed, skipped).",
    );
    for outcome in crate::apply::ActionStatus::ALL {
        let n = t
            .tables
            .iter()
            .find(|(x, _)| *x == outcome)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            body,
            "recycler_tables_processed_total{{outcome=\"{}\"}} {n}",
            outcome.as_str()
        );
    }
    head(
        &mut body,
        "recycler_job_duration_seconds",
        "histogram",
        "Duration of finished jobs, from start to end.",
    );
    for (b, n) in BUCKETS.iter().zip(&t.duration_buckets) {
        let _ = writeln!(
            body,
            "recycler_job_duration_seconds_bucket{{le=\"{b}\"}} {n}"
        );
    }
    let _ = writeln!(
        body,
        "recycler_job_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        t.duration_count
    );
    let _ = writeln!(body, "recycler_job_duration_seconds_sum {}", t.duration_sum);
    let _ = writeln!(
        body,
        "recycler_job_duration_seconds_count {}",
        t.duration_count
    );
    head(
        &mut body,
        "process_start_time_seconds",
        "gauge",
        "Start time of the server since the Unix epoch, seconds.",
    );
    let started = std::time::SystemTime::now()
        .checked_sub(st.started().elapsed())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = writeln!(body, "process_start_time_seconds {started:.3}");
    scans(&st, &mut body, head).await?;
    head(
        &mut body,
        "recycler_build_info",
        "gauge",
        "Version of the server.",
    );
    let _ = writeln!(
        body,
        "recycler_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

/// A label value in the text format: `\\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The series of the monitoring scans.
async fn scans(
    st: &AppState,
    body: &mut String,
    head: impl Fn(&mut String, &str, &str, &str),
) -> Result<(), ApiError> {
    let m = st.monitor();
    let mut last = Vec::new();
    for c in m.clusters() {
        if let Some(s) = m.store().latest(&c.name, m.top_tables()).await? {
            last.push(s.scan);
        }
    }
    head(
        body,
        "recycler_reclaimable_bytes",
        "gauge",
        "Estimated bytes a rebuild of the node's recorded tables would free, at the last scan.",
    );
    for s in &last {
        for n in s.nodes.iter().filter(|n| n.status == NodeStatus::Scanned) {
            let _ = writeln!(
                body,
                "recycler_reclaimable_bytes{{cluster=\"{}\",node=\"{}\"}} {}",
                label(&s.cluster),
                label(&n.address),
                n.reclaimable_bytes
            );
        }
    }
    for (name, help, value) in [
        (
            "recycler_table_reclaimable_bytes",
            "Estimated bytes a rebuild of the table would free, top tables per node, at the last scan.",
            (|t: &TableFigures| t.reclaim_bytes) as fn(&TableFigures) -> u64,
        ),
        (
            "recycler_table_file_bytes",
            "Size of the table's files, top tables per node, at the last scan.",
            |t: &TableFigures| t.file_bytes,
        ),
    ] {
        head(body, name, "gauge", help);
        for s in &last {
            for n in &s.nodes {
                for t in &n.table_figures {
                    let _ = writeln!(
                        body,
                        "{name}{{cluster=\"{}\",node=\"{}\",schema=\"{}\",table=\"{}\"}} {}",
                        label(&s.cluster),
                        label(&n.address),
                        label(&t.schema),
                        label(&t.table),
                        value(t)
                    );
                }
            }
        }
    }
    head(
        body,
        "recycler_scan_duration_seconds",
        "gauge",
        "Duration of the cluster's last scan, seconds.",
    );
    for s in &last {
        let secs = (s.finished_at - s.started_at).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(
            body,
            "recycler_scan_duration_seconds{{cluster=\"{}\"}} {secs:.3}",
            label(&s.cluster)
        );
    }
    head(
        body,
        "recycler_last_scan_timestamp_seconds",
        "gauge",
        "When the cluster's last scan ended, seconds since the Unix epoch.",
    );
    for s in &last {
        let _ = writeln!(
            body,
            "recycler_last_scan_timestamp_seconds{{cluster=\"{}\",outcome=\"{}\"}} {:.3}",
            label(&s.cluster),
            s.outcome.as_str(),
            s.finished_at.timestamp_millis() as f64 / 1000.0
        );
    }
    head(
        body,
        "recycler_scan_errors_total",
        "counter",
        "Scans that could not read the node (unreachable, failed or timed out) since the server started.",
    );
    for (cluster, node, n) in m.scan_errors() {
        let _ = writeln!(
            body,
            "recycler_scan_errors_total{{cluster=\"{}\",node=\"{}\"}} {n}",
            label(&cluster),
            label(&node)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
