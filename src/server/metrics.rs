//! `GET /metrics` in the Prometheus text format: jobs by status, active jobs, bytes reclaimed,
//! tables processed by outcome, a histogram of job durations — all from the job store, so the
//! numbers survive restarts and include CLI applies that share the store.

use super::AppState;
use super::error::ApiError;
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
        "recycler_bytes_reclaimed_total",
        "counter",
        "Bytes freed by table rebuilds, measured on the nodes.",
    );
    let _ = writeln!(body, "recycler_bytes_reclaimed_total {}", t.bytes_freed);
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
        "recycler_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    let _ = writeln!(
        body,
        "recycler_uptime_seconds {}",
        st.started().elapsed().as_secs()
    );
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
