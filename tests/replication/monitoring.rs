//! Fragmentation monitoring (issue 17) against the sandbox: a server with a cluster in its
//! config scans it on its interval into metrics.db, prunes past the retention and serves the
//! history, `/metrics` and alerts; the scans only read (no binlog event, no statement but reads
//! on any node); a replica that stops answering is reported while the others are scanned.

use crate::common::{PASSWORD, USER, cluster, serial};
use mysql_tablespace_recycling::config::{ClusterConfig, ClusterPrimary, Config};
use mysql_tablespace_recycling::jobs::Store;
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use mysql_tablespace_recycling::secret::Secret;
use mysql_tablespace_recycling::server::{AppState, serve};
use mysql_tablespace_recycling::settings::HumanDuration;
use serde_json::Value;
use std::time::{Duration, Instant};

const SCHEMA: &str = "mon_s";

/// A server in process with cluster `mon` in its config, scanning every second.
pub(crate) struct Server {
    pub(crate) base: String,
    http: reqwest::Client,
    metrics_db: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = cluster().primary();
        let mut cfg = Config::default();
        cfg.server.host = "127.0.0.1".into();
        cfg.persistence.job_state.file = Some(dir.path().join("jobs.db"));
        cfg.persistence.metrics.file = Some(dir.path().join("data/metrics.db"));
        cfg.database.clusters = vec![ClusterConfig {
            name: "mon".into(),
            primary: ClusterPrimary {
                host: p.host.clone(),
                port: p.port,
                username: USER.into(),
                password: Secret::new(PASSWORD),
            },
            replica: None,
            nodes: Vec::new(),
            tls: None,
        }];
        cfg.monitoring.metrics.interval = HumanDuration(Duration::from_secs(1));
        cfg.monitoring.metrics.min_table_mb = Some(1);
        cfg.recycling.defaults.threshold_mb = 1;
        edit(&mut cfg);
        let metrics_db = cfg.metrics_file();
        let store = Store::open(&cfg.job_store_file()).await.unwrap();
        let state = AppState::new(cfg, store).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            metrics_db,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
        }
    }

    async fn call(&self, m: reqwest::Method, path: &str) -> (u16, Value) {
        let r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The cluster as `GET /api/v1/clusters` lists it.
    async fn cluster(&self) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, "/api/v1/clusters").await;
        assert_eq!(s, 200, "{v}");
        v["data"]["clusters"][0].clone()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap();
    }

    async fn db(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.metrics_db.display()))
            .await
            .unwrap()
    }
}

/// Every node of the sandbox.
pub(crate) fn nodes() -> Vec<Endpoint> {
    let c = cluster();
    vec![c.primary(), c.replica(1), c.replica(2), c.chained()]
}

/// The test's fragmented table, on every node.
async fn fragmented() {
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        SCHEMA,
        "frag",
        8,
        Pattern::RandomDelete { keep_every: 3 },
    )])
    .await;
    for n in nodes().iter().skip(1) {
        c.sync_from(&c.primary(), n).await;
    }
}

/// What would show that a node ran anything but reads: its binlog position and its counters of
/// writes and DDL.
async fn writes(ep: &Endpoint) -> (String, Vec<(String, String)>) {
    let c = cluster();
    let mut conn = c.conn(ep).await;
    let counters: Vec<(String, String)> = sqlx::query_as(
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
         WHERE VARIABLE_NAME IN ('COM_ALTER_TABLE', 'COM_ANALYZE', 'COM_OPTIMIZE', \
         'COM_CREATE_TABLE', 'COM_DROP_TABLE', 'COM_INSERT', 'COM_UPDATE', 'COM_DELETE', \
         'COM_REPLACE', 'COM_TRUNCATE', 'COM_CREATE_DB', 'COM_REPAIR', 'COM_CREATE_INDEX') \
         ORDER BY VARIABLE_NAME",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (c.binlog_position(ep).await, counters)
}

/// Polls `f` every 200 ms until it holds, up to `limit`.
async fn until<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> F,
) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_scans_its_cluster_on_its_interval_keeps_the_history_and_only_reads() {
    let _g = serial().await;
    let c = cluster();
    fragmented().await;
    let mut before = Vec::new();
    for n in nodes() {
        before.push(writes(&n).await);
    }

    let server = Server::start(|cfg| {
        cfg.monitoring.metrics.retention = HumanDuration(Duration::from_secs(4));
        // Other tests' tables on this cluster may reclaim more than ours: export them all.
        cfg.monitoring.metrics.top_tables = 1000;
    })
    .await;
    // Scans on the interval: the last scan's id keeps rising.
    let mut ids: Vec<i64> = Vec::new();
    let t = Instant::now();
    while ids.len() < 6 {
        assert!(t.elapsed() < Duration::from_secs(60), "six scans: {ids:?}");
        let v = server.cluster().await;
        if let Some(id) = v["last_scan"]["scan_id"].as_i64()
            && ids.last() != Some(&id)
        {
            ids.push(id);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = server.cluster().await;
    assert_eq!(v["name"], "mon");
    assert_eq!(v["last_scan"]["outcome"], "ok", "{v}");
    let nodes_seen: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap())
        .collect();
    let want: Vec<String> = [c.primary(), c.replica(1), c.chained(), c.replica(2)]
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        nodes_seen, want,
        "depth first: the chained replica under replica 1"
    );
    assert_eq!(v["nodes"][0]["role"], "master");
    assert!(
        v["nodes"][0]["protected"]
            .as_str()
            .unwrap()
            .starts_with("primary"),
        "{v}"
    );
    assert_eq!(v["nodes"][2]["depth"], 2);
    assert_eq!(v["nodes"][2]["master"], c.replica(1).to_string());
    assert!(v["nodes"][1].get("protected").is_none(), "{v}");
    for n in v["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "scanned", "{n}");
        assert!(n["reclaimable_bytes"].as_u64().unwrap() > 1 << 20, "{n}");
    }

    // metrics.db holds the rows: every node of every scan, the table on each node.
    let mut db = server.db().await;
    let (scans, node_rows, table_rows): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM scans), (SELECT COUNT(*) FROM node_scans), \
         (SELECT COUNT(*) FROM table_scans WHERE schema_name = ? AND table_name = 'frag')",
    )
    .bind(SCHEMA)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(node_rows, scans * 4, "4 nodes a scan");
    assert_eq!(table_rows, scans * 4, "the table on each node, each scan");
    // Retention (4 s, scans every 1 s): the oldest kept started at most 4 s before the newest.
    let (oldest, newest): (i64, i64) =
        sqlx::query_as("SELECT MIN(started_at), MAX(started_at) FROM scans")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(newest - oldest <= 4_000, "{oldest}..{newest}");
    assert!(
        ids.len() as i64 > scans,
        "pruned: {} scans seen, {scans} kept",
        ids.len()
    );
    let first_kept: i64 = sqlx::query_scalar("SELECT MIN(scan_id) FROM scans")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(first_kept > ids[0], "the first scan is pruned");

    // The history API returns them.
    let (s, h) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/clusters/mon/fragmentation?since=1h&schema={SCHEMA}"),
        )
        .await;
    assert_eq!(s, 200, "{h}");
    let h = &h["data"];
    assert_eq!(h["nodes"].as_array().unwrap().len(), 4, "{h}");
    assert!(
        h["nodes"][0]["points"].as_array().unwrap().len() >= 2,
        "{h}"
    );
    let tables = h["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 4, "the table on each node: {h}");
    for t in tables {
        assert_eq!(
            (t["schema"].as_str(), t["table"].as_str()),
            (Some(SCHEMA), Some("frag"))
        );
        let last = t["points"].as_array().unwrap().last().unwrap();
        assert!(last["reclaim_bytes"].as_u64().unwrap() > 1 << 20, "{t}");
        assert!(last["file_bytes"].as_u64().unwrap() > last["reclaim_bytes"].as_u64().unwrap());
    }
    let (s, one) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/clusters/mon/fragmentation?node={}", c.replica(2)),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["data"]["nodes"].as_array().unwrap().len(), 1, "{one}");
    let (s, e) = server
        .call(reqwest::Method::GET, "/api/v1/clusters/nope/fragmentation")
        .await;
    assert_eq!((s, e["code"].as_u64()), (404, Some(1001)), "{e}");
    let (s, e) = server
        .call(
            reqwest::Method::GET,
            "/api/v1/clusters/mon/fragmentation?since=soon",
        )
        .await;
    assert_eq!((s, e["code"].as_u64()), (400, Some(1001)), "{e}");

    // Prometheus.
    let m = server.text("/metrics").await;
    for n in nodes() {
        assert!(
            m.contains(&format!(
                "recycler_reclaimable_bytes{{cluster=\"mon\",node=\"{n}\"}} "
            )),
            "{m}"
        );
        assert!(
            m.contains(&format!(
                "recycler_table_file_bytes{{cluster=\"mon\",node=\"{n}\",schema=\"{SCHEMA}\",table=\"frag\"}} "
            )),
            "{m}"
        );
    }
    assert!(m.contains("recycler_last_scan_timestamp_seconds{cluster=\"mon\",outcome=\"ok\"} "));
    assert!(m.contains("recycler_scan_duration_seconds{cluster=\"mon\"} "));
    assert!(m.contains(&format!(
        "recycler_scan_errors_total{{cluster=\"mon\",node=\"{}\"}} 0",
        c.replica(2)
    )));
    assert!(m.contains("process_start_time_seconds "));
    server.stop().await;

    // Nothing but reads reached any node: no binlog event, no write or DDL counted.
    for (n, b) in nodes().iter().zip(before) {
        assert_eq!(writes(n).await, b, "{n}");
    }
}

/// Sends SIGCONT to the process it stopped when dropped, so a failing test leaves the node
/// running.
struct Stopped(libc::pid_t);

impl Stopped {
    fn node(i: usize) -> Self {
        let pid_file = cluster().sandbox.node(i).pid_file;
        let pid: libc::pid_t = std::fs::read_to_string(pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the sandbox node's own pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_stops_answering_is_reported_and_the_others_are_still_scanned() {
    let _g = serial().await;
    let c = cluster();
    fragmented().await;
    // An Alertmanager stand-in.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let receiver = axum::Router::new().route(
        "/api/v2/alerts",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_str(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v2/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let server = Server::start(|cfg| {
        // Scans on request only.
        cfg.monitoring.metrics.interval = HumanDuration(Duration::from_secs(3600));
        cfg.database.default.timeout = HumanDuration(Duration::from_secs(2));
        cfg.monitoring.metrics.node_timeout = HumanDuration(Duration::from_secs(5));
        cfg.monitoring.alerts.enabled = true;
        cfg.monitoring.alerts.webhook_url = Some(url);
        cfg.monitoring.alerts.scan_failures = 1;
        cfg.monitoring.alerts.reclaimable_bytes = Some(1 << 20);
    })
    .await;
    // The first scan at start, with every node.
    until(Duration::from_secs(60), "the first scan", || async {
        server.cluster().await["last_scan"]["outcome"] == "ok"
    })
    .await;
    let fired = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an alert")
        .unwrap();
    assert_eq!(
        fired[0]["labels"]["alertname"], "TablespaceRecyclingReclaimableBytes",
        "{fired}"
    );
    let d = fired[0]["annotations"]["description"].as_str().unwrap();
    assert!(d.contains("(1048576 bytes)") && d.contains("mon"), "{d}");

    let down = c.replica(2);
    let t = Instant::now();
    let (s, v) = {
        let _stopped = Stopped::node(2);
        server
            .call(reqwest::Method::POST, "/api/v1/clusters/mon/scan")
            .await
    };
    let took = t.elapsed();
    assert_eq!(s, 200, "{v}");
    let v = &v["data"];
    assert_eq!(v["last_scan"]["outcome"], "partial", "{v}");
    for n in v["nodes"].as_array().unwrap() {
        if n["address"] == down.to_string() {
            assert_ne!(n["status"], "scanned", "{n}");
            assert!(!n["error"].as_str().unwrap().is_empty(), "{n}");
        } else {
            assert_eq!(n["status"], "scanned", "{n}");
            assert!(n["reclaimable_bytes"].as_u64().unwrap() > 1 << 20, "{n}");
        }
    }
    assert_eq!(v["nodes"].as_array().unwrap().len(), 4, "{v}");
    // The stopped node cost its connect timeout, not the others' scans.
    assert!(took < Duration::from_secs(20), "{took:?}");

    let m = server.text("/metrics").await;
    assert!(
        m.contains(&format!(
            "recycler_scan_errors_total{{cluster=\"mon\",node=\"{down}\"}} 1"
        )),
        "{m}"
    );
    assert!(
        !m.contains(&format!(
            "recycler_reclaimable_bytes{{cluster=\"mon\",node=\"{down}\"}}"
        )),
        "no figure for a node not scanned"
    );
    let mut failing = None;
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        if a[0]["labels"]["alertname"] == "TablespaceRecyclingScansFailing" {
            failing = Some(a);
            break;
        }
    }
    let failing = failing.expect("the scans-failing alert");
    let d = failing[0]["annotations"]["description"].as_str().unwrap();
    assert!(d.contains(&down.to_string()), "{d}");

    // Answering again: a full scan resolves it.
    let (s, v) = server
        .call(reqwest::Method::POST, "/api/v1/clusters/mon/scan")
        .await;
    assert_eq!(
        (s, &v["data"]["last_scan"]["outcome"]),
        (200, &Value::from("ok")),
        "{v}"
    );
    let mut resolved = false;
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        if a[0]["labels"]["alertname"] == "TablespaceRecyclingScansFailing" {
            resolved = a[0]["annotations"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("resolved");
            break;
        }
    }
    assert!(resolved, "the scans-failing alert resolves");
    let (s, e) = server
        .call(reqwest::Method::POST, "/api/v1/clusters/nope/scan")
        .await;
    assert_eq!((s, e["code"].as_u64()), (404, Some(1001)), "{e}");
    server.stop().await;
}
