//! The clusters API (issue 17): the configured clusters with their last monitoring scan
//! (`GET /api/v1/clusters`), their fragmentation over time
//! (`GET /api/v1/clusters/{name}/fragmentation`) and a scan on request
//! (`POST /api/v1/clusters/{name}/scan`). Everything comes from the metrics store, so it
//! survives restarts; the tree and its marks come from the last scan's discovery.

use super::AppState;
use super::api::{ApiPath, Envelope, query_pairs};
use super::error::{ApiError, ErrorBody};
use super::handlers::{ApiResult, ok};
use crate::config::ClusterConfig;
use crate::error::Error;
use crate::monitor::scan::{NodeFigures, NodeStatus, ScanOutcome, tree};
use crate::monitor::store::{HistoryQuery, NodeHistory, StoredScan, TableHistory};
use crate::settings::HumanDuration;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::str::FromStr;

/// The clusters of the config.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterList {
    pub clusters: Vec<ClusterView>,
}

/// A configured cluster and its last scan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    pub name: String,
    /// The configured primary, `host:port`.
    pub primary: String,
    /// `null` before the first scan.
    pub last_scan: Option<ScanView>,
    /// Estimated reclaim of every node scanned, bytes.
    pub reclaimable_bytes: u64,
    /// Files of every table of every node scanned, bytes.
    pub file_bytes: u64,
    /// Tables of every node scanned (a table on three nodes counts three times).
    pub tables: u64,
    /// Depth first from the root, then nodes seen before and not found now.
    pub nodes: Vec<ClusterNodeView>,
}

/// When and how a scan went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    pub scan_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub outcome: ScanOutcome,
    /// Why discovery failed; omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A node as the last scan found it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterNodeView {
    pub address: String,
    /// Its source, `host:port`; omitted for the root and for missing nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    pub depth: usize,
    /// `master` or `slave`; omitted for a node not found now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Seconds behind its source; `null` for the root, a stopped replica or a missing node.
    pub lag_seconds: Option<i64>,
    /// Why no plan would rebuild on it (`recycling.defaults.exclude_primary`, reachability,
    /// replication); omitted when a plan could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<String>,
    pub status: NodeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_seconds: f64,
    pub tables: u64,
    pub file_bytes: u64,
    pub reclaimable_bytes: u64,
}

/// A cluster's figures over time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Fragmentation {
    pub cluster: String,
    pub since: DateTime<Utc>,
    /// Every node's totals at each scan, by address.
    pub nodes: Vec<NodeHistory>,
    /// Every recorded table at each scan, largest last estimated reclaim first.
    pub tables: Vec<TableHistory>,
}

/// `GET …/fragmentation` query.
#[derive(Debug, Clone, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FragmentationParams {
    /// RFC 3339 time, or a duration back from now (`1h`, `7d`); default `24h`.
    pub since: Option<String>,
    /// Only this node (`host:port`).
    pub node: Option<String>,
    /// Only tables of this schema.
    pub schema: Option<String>,
}

/// The default window of the history.
const DEFAULT_SINCE: std::time::Duration = std::time::Duration::from_secs(86_400);

impl FragmentationParams {
    /// The query (`since=1h&node=db1:3306`): an unknown, repeated or unreadable parameter is
    /// 400/1001 naming it.
    fn parse(query: &str, now: DateTime<Utc>) -> Result<HistoryQuery, ApiError> {
        let mut p = Self::default();
        for (key, value) in query_pairs(query, &["since", "node", "schema"])? {
            let slot = match key.as_str() {
                "since" => &mut p.since,
                "node" => &mut p.node,
                _ => &mut p.schema,
            };
            *slot = Some(value);
        }
        let since = match &p.since {
            Some(v) => since(v, now)?,
            None => now - chrono::Duration::from_std(DEFAULT_SINCE).unwrap_or_default(),
        };
        Ok(HistoryQuery {
            since: Some(since),
            node: p.node,
            schema: p.schema,
        })
    }
}

fn since(v: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = HumanDuration::from_str(v).map_err(|_| {
        ApiError::field(
            "since",
            format!("{v:?} is neither an RFC 3339 time nor a duration such as 1h or 7d"),
        )
    })?;
    Ok(chrono::Duration::from_std(d.0)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC))
}

fn seconds(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The view of a cluster from its last scan (none yet: only its name and primary).
fn view(st: &AppState, name: &str, primary: String, last: Option<StoredScan>) -> ClusterView {
    let Some(StoredScan { scan_id, scan }) = last else {
        return ClusterView {
            name: name.to_string(),
            primary,
            last_scan: None,
            reclaimable_bytes: 0,
            file_bytes: 0,
            tables: 0,
            nodes: Vec::new(),
        };
    };
    let figures = |addr: &str| scan.nodes.iter().find(|n| n.address == addr);
    let node_view = |f: &NodeFigures| ClusterNodeView {
        address: f.address.clone(),
        master: None,
        depth: 0,
        role: None,
        read_only: None,
        lag_seconds: None,
        protected: None,
        status: f.status,
        error: f.error.clone(),
        duration_seconds: seconds(f.duration),
        tables: f.tables,
        file_bytes: f.file_bytes,
        reclaimable_bytes: f.reclaimable_bytes,
    };
    let mut nodes = Vec::new();
    if let Some(topo) = &scan.topology {
        for t in tree(topo, st.monitor().exclude_primary()) {
            let address = t.node.endpoint().to_string();
            let Some(f) = figures(&address) else { continue };
            nodes.push(ClusterNodeView {
                master: t.master.map(|m| m.endpoint().to_string()),
                depth: t.depth,
                role: Some(t.node.role.as_str().to_string()),
                read_only: Some(t.node.read_only),
                lag_seconds: t.node.lag_seconds,
                protected: t.protected,
                ..node_view(f)
            });
        }
    }
    // Nodes seen before and missing now.
    for f in &scan.nodes {
        if !nodes.iter().any(|n| n.address == f.address) {
            nodes.push(node_view(f));
        }
    }
    let scanned = || {
        scan.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Scanned)
    };
    ClusterView {
        name: name.to_string(),
        primary,
        reclaimable_bytes: scan.reclaimable_bytes(),
        file_bytes: scanned().map(|n| n.file_bytes).sum(),
        tables: scanned().map(|n| n.tables).sum(),
        nodes,
        last_scan: Some(ScanView {
            scan_id,
            started_at: scan.started_at,
            finished_at: scan.finished_at,
            duration_seconds: seconds(
                (scan.finished_at - scan.started_at)
                    .to_std()
                    .unwrap_or_default(),
            ),
            outcome: scan.outcome,
            error: scan.error.clone(),
        }),
    }
}

/// The configured primary of `c`, `host:port`.
fn primary(c: &ClusterConfig) -> String {
    crate::mysql::Endpoint::new(c.primary.host.clone(), c.primary.port).to_string()
}

/// The configured primary of cluster `name`; unknown: 404/1001.
fn primary_of(st: &AppState, name: &str) -> Result<String, ApiError> {
    st.monitor()
        .clusters()
        .iter()
        .find(|c| c.name == name)
        .map(primary)
        .ok_or_else(|| Error::NotFound(format!("cluster {name} is not configured")).into())
}

/// The clusters of `database.clusters`, each with its last monitoring scan.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters",
    responses(
        (status = 200, description = "Every configured cluster, in config order", body = Envelope<ClusterList>),
        (status = 500, description = "The metrics store failed (1000)", body = ErrorBody),
    ))]
pub async fn list_clusters(State(st): State<AppState>) -> ApiResult<ClusterList> {
    let mut clusters = Vec::new();
    for c in st.monitor().clusters() {
        let last = st.monitor().store().latest(&c.name, 0).await?;
        clusters.push(view(&st, &c.name, primary(c), last));
    }
    ok("success", ClusterList { clusters })
}

/// A cluster's fragmentation over time: each node's totals and each recorded table's file
/// size and estimated reclaim at every scan since `since`.
#[utoipa::path(get, path = "/api/v1/clusters/{name}/fragmentation", tag = "clusters",
    params(("name" = String, Path, description = "A cluster of database.clusters"), FragmentationParams),
    responses(
        (status = 200, description = "The history", body = Envelope<Fragmentation>),
        (status = 400, description = "Bad parameter, or the name is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such cluster (1001)", body = ErrorBody),
        (status = 500, description = "The metrics store failed (1000)", body = ErrorBody),
    ))]
pub async fn fragmentation(
    State(st): State<AppState>,
    ApiPath(name): ApiPath,
    RawQuery(query): RawQuery,
) -> ApiResult<Fragmentation> {
    primary_of(&st, &name)?;
    let q = FragmentationParams::parse(query.as_deref().unwrap_or(""), Utc::now())?;
    let (nodes, tables) = st.monitor().store().history(&name, &q).await?;
    ok(
        "success",
        Fragmentation {
            cluster: name,
            since: q.since.unwrap_or(DateTime::<Utc>::MIN_UTC),
            nodes,
            tables,
        },
    )
}

/// Scans a cluster now (after a scan of it still under way) and answers with the cluster as
/// the list shows it. A scan that cannot reach a node is recorded, not an error.
#[utoipa::path(post, path = "/api/v1/clusters/{name}/scan", tag = "clusters",
    params(("name" = String, Path, description = "A cluster of database.clusters")),
    responses(
        (status = 200, description = "The cluster after the scan", body = Envelope<ClusterView>),
        (status = 400, description = "The name is not text (1001)", body = ErrorBody),
        (status = 404, description = "No such cluster (1001)", body = ErrorBody),
        (status = 408, description = "Past server.request_timeout (1009); the scan goes on and is recorded", body = ErrorBody),
        (status = 500, description = "The metrics store failed (1000)", body = ErrorBody),
    ))]
pub async fn scan_cluster(
    State(st): State<AppState>,
    ApiPath(name): ApiPath,
) -> ApiResult<ClusterView> {
    let primary = primary_of(&st, &name)?;
    // The scan runs on a task of its own: past the request's deadline it is still recorded.
    let (monitor, n) = (st.monitor().clone(), name.clone());
    let scan = tokio::spawn(async move { monitor.scan(&n).await });
    let limit = st.config().server.request_timeout.0;
    let stored = match tokio::time::timeout(limit, scan).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => return Err(Error::Internal(format!("the scan task failed: {e}")).into()),
        Err(_) => {
            return Err(Error::RequestDeadline {
                limit,
                running: vec![format!("monitoring scan of cluster {name}")],
            }
            .into());
        }
    };
    ok("scanned", view(&st, &name, primary, Some(stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_query_takes_times_and_durations_and_names_bad_parameters() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = FragmentationParams::parse("", now).unwrap();
        assert_eq!(q.since, Some(now - chrono::Duration::hours(24)));
        let q = FragmentationParams::parse("since=1h&node=db1%3A3306&schema=s", now).unwrap();
        assert_eq!(q.since, Some(now - chrono::Duration::hours(1)));
        assert_eq!(q.node.as_deref(), Some("db1:3306"));
        assert_eq!(q.schema.as_deref(), Some("s"));
        let q = FragmentationParams::parse("since=2026-12-01T00:00:00Z", now).unwrap();
        assert_eq!(q.since.unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        for bad in ["since=yesterday", "limit=3", "node=a&node=b"] {
            assert!(FragmentationParams::parse(bad, now).is_err(), "{bad}");
        }
    }
}
