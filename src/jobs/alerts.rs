//! Alerts for failed jobs: posted to `monitoring.alerts.webhook_url` in the Alertmanager v2
//! format (a JSON array of alerts with `labels`, `annotations`, `startsAt`, `endsAt`,
//! `generatorURL`), in a task of its own with retries, so a slow or dead alert receiver never
//! delays a job.

use super::{JobRecord, Store};
use chrono::{Duration as ChronoDuration, Utc};
use serde_json::json;
use std::time::Duration;

/// Where a job's failure alert stands (the store's `jobs.alert`; no state: no alert is wanted,
/// the job's process had no webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Posted if the job fails.
    Wanted,
    /// The job failed and the alert was not delivered yet: the server posts it (again) at its
    /// next start — a job interrupted by a shutdown or a crash included.
    Pending,
    Delivered,
}

impl AlertState {
    pub const ALL: [AlertState; 3] = [Self::Wanted, Self::Pending, Self::Delivered];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wanted => "wanted",
            Self::Pending => "pending",
            Self::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The state once the job failed.
    pub fn failed(state: Option<Self>) -> Option<Self> {
        match state {
            Some(Self::Wanted) => Some(Self::Pending),
            other => other,
        }
    }
}

/// Where alerts go and how hard to try.
#[derive(Debug, Clone)]
pub struct AlertSink {
    url: String,
    client: reqwest::Client,
    /// Tries per alert.
    pub tries: u32,
    /// Wait after the first failed try; doubled after each further one.
    pub backoff: Duration,
}

impl AlertSink {
    /// A sink posting to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            tries: 3,
            backoff: Duration::from_secs(1),
        }
    }

    /// The Alertmanager v2 body for a failed job.
    pub fn body(job: &JobRecord, generator_url: Option<&str>) -> serde_json::Value {
        let now = Utc::now();
        let mut alert = json!({
            "labels": {
                "alertname": "TablespaceRecyclingJobFailed",
                "severity": "warning",
                "service": "mysql-tablespace-recycling",
                "job_id": job.job_id,
                "kind": job.kind,
                "plan_id": job.plan_id.clone().unwrap_or_default(),
            },
            "annotations": {
                "summary": format!("tablespace recycling job {} failed", job.job_id),
                "description": job.error.clone().unwrap_or_else(|| "the job failed".into()),
                "processed_tables": format!("{}/{}", job.processed_tables, job.total_tables),
                "failed_tables": job.failed_tables.to_string(),
                "bytes_freed": job.bytes_freed.to_string(),
            },
            "startsAt": job.completed_at.unwrap_or(now).to_rfc3339(),
            // A job failure is an event, not a condition: let it resolve after a day.
            "endsAt": (now + ChronoDuration::days(1)).to_rfc3339(),
        });
        if let Some(u) = generator_url {
            alert["generatorURL"] = json!(u);
        }
        json!([alert])
    }

    /// Posts the alert of `job` in the background and records it delivered in `store`;
    /// returns at once. Undelivered, it stays pending for the server's next start.
    pub fn send(&self, job: &JobRecord, generator_url: Option<String>, store: &Store) {
        let body = Self::body(job, generator_url.as_deref());
        let sink = self.clone();
        let job_id = job.job_id.clone();
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = sink.post(&body).await {
                tracing::error!(job = %job_id,
                    "alert for the failed job not delivered: {e}; the server tries again at its \
                     next start");
                return;
            }
            tracing::info!(job = %job_id, "alert for the failed job delivered");
            if let Err(e) = store.set_alert(&job_id, AlertState::Delivered).await {
                tracing::error!(job = %job_id, "could not record the alert as delivered: {e}");
            }
        });
    }

    /// Posts `body`, retrying failures (network errors and non-2xx answers) with backoff.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        let mut wait = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.tries.max(1) {
            match self.client.post(&self.url).json(body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status()),
                // The error text names the URL, which is config, not a secret.
                Err(e) => last = e.to_string(),
            }
            if attempt < self.tries {
                tracing::warn!("alert webhook try {attempt} failed ({last}); retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(format!("{} tries failed, last: {last}", self.tries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobKind, JobStatus};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn alert_states_are_named_and_a_failure_makes_a_wanted_alert_pending() {
        for a in AlertState::ALL {
            assert_eq!(AlertState::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        use AlertState::*;
        assert_eq!(AlertState::failed(Some(Wanted)), Some(Pending));
        assert_eq!(AlertState::failed(Some(Delivered)), Some(Delivered));
        assert_eq!(AlertState::failed(None), None);
    }

    #[tokio::test]
    async fn retries_until_the_receiver_takes_it() {
        let hits = Arc::new(AtomicU32::new(0));
        let bodies = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let (h, b) = (hits.clone(), bodies.clone());
        let app = axum::Router::new().route(
            "/api/v2/alerts",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let (h, b) = (h.clone(), b.clone());
                async move {
                    b.lock().await.push(v);
                    // Fails the first try.
                    if h.fetch_add(1, Ordering::SeqCst) == 0 {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut sink = AlertSink::new(format!("http://{addr}/api/v2/alerts"));
        sink.backoff = Duration::from_millis(10);
        let mut job = JobRecord::new(
            "job-20261126-007".into(),
            JobKind::Apply,
            JobStatus::Failed,
            json!({}),
        );
        job.error = Some("some tables failed or were skipped".into());
        sink.post(&AlertSink::body(&job, None)).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let got = &bodies.lock().await[1][0];
        assert_eq!(got["labels"]["job_id"], "job-20261126-007");
        assert_eq!(got["labels"]["alertname"], "TablespaceRecyclingJobFailed");
        assert!(got["startsAt"].is_string() && got["endsAt"].is_string());

        let mut dead = AlertSink::new("http://127.0.0.1:9/api/v2/alerts");
        dead.backoff = Duration::from_millis(1);
        assert!(dead.post(&json!([])).await.unwrap_err().contains("3 tries"));
    }
}
