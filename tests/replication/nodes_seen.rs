//! Nodes seen before: a replica whose replication is stopped, and which its source has
//! forgotten, is reported by the next discovery of the cluster (through the binary, with a job
//! store of the test's own) as last seen and not found now — in the tree, the JSON, the plan and
//! the REST discover answer (a server in process on the same store); once it replicates again
//! it is not. (It stops replication: the cluster to itself, replication
//! running again when it ends, on a failure too.)

use crate::common::{PASSWORD, TestCluster, USER, cli, cluster, serial, target_args};
use mysql_tablespace_recycling::config::Config;
use mysql_tablespace_recycling::jobs::Store;
use mysql_tablespace_recycling::mysql::{Endpoint, query_rows};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use mysql_tablespace_recycling::server::{AppState, serve};
use mysql_tablespace_recycling::topology::ClusterTopology;
use serde_json::{Value, json};
use std::time::Duration;

/// Starts replication on the replica again when dropped: a failing assertion leaves the
/// cluster replicating for the tests after it.
struct Restart(Option<Endpoint>);

impl Restart {
    /// Starts replication now (and no more at drop).
    async fn now(mut self, c: &TestCluster) {
        let ep = self.0.take().expect("not restarted yet");
        c.exec(&ep, &["START SLAVE"]).await;
    }
}

impl Drop for Restart {
    fn drop(&mut self) {
        let Some(ep) = self.0.take() else { return };
        // The test's runtime may be unwinding: a runtime of its own, on a thread of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(cluster().exec(&ep, &["START SLAVE"]));
        })
        .join();
    }
}

/// Whether `source` lists `replica` as connected: in `SHOW SLAVE HOSTS` or with a binlog dump
/// thread beyond `others` (the other replicas connected to it).
async fn lists(c: &TestCluster, source: &Endpoint, replica: &Endpoint, others: usize) -> bool {
    let mut conn = c.conn(source).await;
    let hosts = query_rows(&mut conn, source, "SHOW SLAVE HOSTS")
        .await
        .expect("slave hosts");
    let announced = hosts
        .iter()
        .any(|r| r.u64(&["Port"]) == Some(u64::from(replica.port)));
    let dumps: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("dump threads");
    announced || dumps > others as i64
}

/// Waits (at most a minute) until `lists` is `want`, writing to `source` meanwhile: the dump
/// thread of a replica that stopped notices only when it next sends an event, and then ends
/// and unregisters it.
async fn until_listed(c: &TestCluster, source: &Endpoint, replica: &Endpoint, want: bool) {
    c.exec(
        source,
        &[
            "CREATE DATABASE IF NOT EXISTS seen_beat",
            "CREATE TABLE IF NOT EXISTS seen_beat.beat (id INT AUTO_INCREMENT PRIMARY KEY)",
        ],
    )
    .await;
    for _ in 0..120 {
        if lists(c, source, replica, 1).await == want {
            return;
        }
        c.exec(source, &["INSERT INTO seen_beat.beat VALUES ()"])
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{source} still does not list {replica} as connected == {want}");
}

/// `args` through the binary in `work` (its job store: `work/jobs.db`, from its config);
/// returns stdout.
fn run(work: &tempfile::TempDir, args: &[String]) -> String {
    let o = cli(work)
        .arg("--config")
        .arg(work.path().join("config.yaml"))
        .args(args)
        .output()
        .expect("run the binary");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn topology(work: &tempfile::TempDir, seed: &Endpoint, format: &str) -> String {
    let mut args = vec!["topology".to_string()];
    args.extend(target_args(seed));
    args.extend(["--output-format".into(), format.into()]);
    run(work, &args)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// `POST /api/v1/topology/discover` from `seed` to a server in process on the job store at
/// `store`; returns the answer's `data`, checked against the OpenAPI document: it reads back
/// as a topology, and each missing node has every property its schema requires and no other.
async fn discover_over_rest(store: &std::path::Path, seed: &Endpoint) -> Value {
    let mut cfg = Config::default();
    cfg.server.host = "127.0.0.1".into();
    cfg.persistence.job_state.file = Some(store.to_path_buf());
    let state = AppState::new(cfg, Store::open(store).await.unwrap())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body =
        json!({"host": seed.host, "port": seed.port, "username": USER, "password": PASSWORD});
    let res = http
        .post(format!("{base}/api/v1/topology/discover"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let data = v["data"].clone();
    serde_json::from_value::<ClusterTopology>(data.clone()).expect("a topology");
    let schema = &doc["components"]["schemas"]["SeenNode"];
    let props = schema["properties"]
        .as_object()
        .expect("SeenNode's properties");
    for m in data["missing"].as_array().into_iter().flatten() {
        for k in m.as_object().unwrap().keys() {
            assert!(props.contains_key(k), "{k} is not in the schema: {schema}");
        }
        for r in schema["required"].as_array().unwrap() {
            assert!(m.get(r.as_str().unwrap()).is_some(), "{r} missing: {m}");
        }
    }
    data
}

#[tokio::test]
async fn a_replica_its_source_forgot_is_reported_as_seen_before_until_it_is_back() {
    let _g = serial().await;
    let c = cluster();
    let (primary, r2) = (c.primary(), c.replica(2));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("jobs.db");
    std::fs::write(
        work.path().join("config.yaml"),
        format!(
            "persistence:\n  job_state:\n    file: {}\n",
            serde_json::to_string(&store.display().to_string()).unwrap()
        ),
    )
    .unwrap();

    // A first discovery: every node found, nothing seen before.
    let first = json(&topology(&work, &primary, "json"));
    assert!(first.get("missing").is_none(), "{first}");
    assert!(store.exists(), "the discovery used the configured store");
    // And a plan with rebuilds on every replica, replica 2's included, for apply's preflight
    // below (seeded at the primary: discovery from replica 2 itself finds it on the way up).
    c.fragment(&[TableSpec::sized(
        "seen_t",
        "a",
        4,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let plan_path = work.path().join("cluster.yaml");
    let mut args = vec!["plan".to_string()];
    args.extend(target_args(&primary));
    args.extend(
        [
            "--scope",
            "cluster",
            "--database",
            "seen_t",
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "5",
            "--out",
        ]
        .map(String::from),
    );
    args.push(plan_path.display().to_string());
    run(&work, &args);

    // Replica 2 stops replicating; once the primary has forgotten it, no discovery finds it.
    let stopped_at = chrono::Utc::now();
    c.exec(&r2, &["STOP SLAVE"]).await;
    let restart = Restart(Some(r2.clone()));
    until_listed(c, &primary, &r2, false).await;

    let tree = topology(&work, &primary, "table");
    let line = format!("{r2}  last seen ");
    let seen = tree
        .lines()
        .find(|l| l.starts_with(&line))
        .unwrap_or_else(|| panic!("no line for {r2}:\n{tree}"));
    assert!(
        seen.ends_with(&format!("UTC as replica of {primary}, not found now")),
        "{seen}"
    );
    assert!(!tree.contains(&format!("+- {r2}")), "{tree}");
    let doc = json(&topology(&work, &primary, "json"));
    let missing = doc["missing"].as_array().expect("a missing list");
    assert_eq!(missing.len(), 1, "{doc}");
    let m = &missing[0];
    assert_eq!(m["address"], r2.to_string(), "{m}");
    assert_eq!(m["role"], "slave", "{m}");
    assert_eq!(m["source"], primary.to_string(), "{m}");
    assert_eq!(m["server_id"], 3, "{m}");
    // Last seen by the plan's discovery, the last to find it, before it stopped.
    let time = |v: &Value| -> chrono::DateTime<chrono::Utc> {
        v.as_str().expect("a time").parse().expect("RFC 3339")
    };
    assert_eq!(m["first_seen"], first["discover_time"], "{m}");
    let last = time(&m["last_seen"]);
    assert!(
        time(&first["discover_time"]) < last && last < stopped_at,
        "{m}"
    );

    // A plan made now names it too: a node it does not cover.
    let mut args = vec!["plan".to_string()];
    args.extend(target_args(&primary));
    args.extend(
        [
            "--scope",
            "cluster",
            "--database",
            "seen_none",
            "--output-format",
            "json",
        ]
        .map(String::from),
    );
    let plan = json(&run(&work, &args));
    assert_eq!(plan["missing"][0]["address"], r2.to_string(), "{plan}");
    // And the REST discover answer, from the store the CLI filled.
    let rest = discover_over_rest(&store, &primary).await;
    assert_eq!(rest["missing"][0]["address"], r2.to_string(), "{rest}");

    // Apply's preflight records what it found too (its warning in the log names the node
    // missing), and refuses the plan: its node is no longer in the topology (exit 3).
    let o = cli(&work)
        .arg("--config")
        .arg(work.path().join("config.yaml"))
        .arg("apply")
        .arg(&plan_path)
        .args(["--yes", "--user", USER, "--password", PASSWORD])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("{r2} is no longer in the replication topology")),
        "{err}"
    );
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    let warned = log
        .lines()
        .filter(|l| l.contains(&format!("seen before: {r2}  last seen")))
        .count();
    // topology twice, plan, apply's preflight.
    assert_eq!(warned, 4, "{log}");

    // Back: replicating and announced again, it is found and no longer missing.
    restart.now(c).await;
    until_listed(c, &primary, &r2, true).await;
    let back = json(&topology(&work, &primary, "json"));
    assert!(back.get("missing").is_none(), "{back}");
    let rest = discover_over_rest(&store, &primary).await;
    assert!(rest.get("missing").is_none(), "{rest}");
    let found = back["topology"]["master"]["slaves"]
        .as_array()
        .expect("replicas")
        .iter()
        .any(|n| n["port"] == r2.port);
    assert!(found, "{back}");
    c.exec(
        &primary,
        &[
            "DROP DATABASE IF EXISTS seen_beat",
            "DROP DATABASE IF EXISTS seen_t",
        ],
    )
    .await;
    c.sync_from(&primary, &r2).await;
}
