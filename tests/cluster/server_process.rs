//! The server as a process, against a real sandbox cluster: SIGTERM interrupts a running job
//! (its ALTER killed, the job recorded `failed`, "interrupted"); SIGKILL during a job, then a
//! restart: the job is `failed` ("interrupted"), nothing is lost from the store, and a new job
//! from the same plan completes without rebuilding the finished tables. No response, log line
//! or store row contains the password. And `status`/`monitor` show a CLI apply running in
//! another process from the local job store.

use crate::common::{self, PASSWORD, USER, cli, cluster, serial};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec, build};
use serde_json::{Value, json};
use sqlx::{Executor, Row};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tables on replica 1 only (binlog off): two small ones, rebuilt first (actions run in name
/// order), and a large one that takes a while.
async fn tables(schema: &str) -> Endpoint {
    let c = cluster();
    let node = c.replica(1);
    let mut conn = c.conn(&node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    for t in ["a1", "a2"] {
        build(
            &mut conn,
            &node,
            &TableSpec::sized(schema, t, 8, Pattern::RandomDelete { keep_every: 10 }),
        )
        .await
        .unwrap();
    }
    let mut big = TableSpec::sized(schema, "zbig", 300, Pattern::RangeDelete { percent: 20 });
    big.secondary_indexes = 4;
    build(&mut conn, &node, &big).await.unwrap();
    node
}

async fn drop_schema(node: &Endpoint, schema: &str) {
    let mut conn = cluster().conn(node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute(format!("DROP DATABASE {schema}").as_str())
        .await
        .unwrap();
}

async fn alters(node: &Endpoint, schema: &str) -> Vec<i64> {
    let mut conn = cluster().conn(node).await;
    sqlx::query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE CONCAT('ALTER TABLE `', ?, '`%')",
    )
    .bind(schema)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn wait_alter(node: &Endpoint, schema: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    while alters(node, schema).await.is_empty() {
        assert!(Instant::now() < end, "no ALTER started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server process in `work` (config there, store and log there).
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

fn write_config(work: &Path, alerts: Option<&str>) {
    let mut cfg = "server:\n  host: 127.0.0.1\nlogging:\n  level: debug\n".to_string();
    if let Some(url) = alerts {
        cfg.push_str(&format!(
            "monitoring:\n  alerts:\n    enabled: true\n    webhook_url: {url}\n"
        ));
    }
    std::fs::write(work.join("config.yaml"), cfg).unwrap();
}

/// An Alertmanager stand-in on a free port: keeps the alerts it accepts, and refuses every
/// post (503) while `accept` is off.
struct Receiver {
    url: String,
    accept: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Self {
        let accept = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (a, g) = (accept.clone(), got.clone());
        let app = axum::Router::new().route(
            "/api/v2/alerts",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let (a, g) = (a.clone(), g.clone());
                async move {
                    if !a.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    g.lock()
                        .unwrap()
                        .extend(v.as_array().cloned().unwrap_or_default());
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v2/alerts", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, accept, got }
    }

    /// How many accepted alerts name job `id`.
    fn count(&self, id: &str) -> usize {
        let got = self.got.lock().unwrap();
        got.iter().filter(|a| a["labels"]["job_id"] == id).count()
    }

    /// Waits until an alert of job `id` arrived.
    async fn wait_for(&self, id: &str) -> Value {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(a) = self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|a| a["labels"]["job_id"] == id)
            {
                return a.clone();
            }
            assert!(Instant::now() < end, "no alert for {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Server {
    fn start(work: &Path) -> Self {
        let mut child = common::cli_std(work)
            .args(["server", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(work.join("server.stderr"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_string();
        Self {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&mut self, m: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let s = res.status().as_u16();
        let text = res.text().await.unwrap();
        // Checked on every response, of every server process of a test.
        assert!(
            !text.contains(PASSWORD),
            "response leaks the password: {text}"
        );
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn job(&mut self, id: &str) -> Value {
        let (s, v) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/recycle/jobs/{id}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"].clone()
    }

    async fn wait_job(&mut self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(300);
        loop {
            let d = self.job(id).await;
            if pred(&d) {
                return d;
            }
            assert!(Instant::now() < end, "job {id} never got there: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&mut self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

fn creds() -> Value {
    json!({"username": USER, "password": PASSWORD})
}

/// Every text cell of every row of every table of the SQLite store.
async fn store_dump(path: &Path) -> String {
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut out = String::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{t}\""))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for r in rows {
            for i in 0..r.len() {
                if let Ok(Some(s)) = r.try_get::<Option<String>, _>(i) {
                    out.push_str(&s);
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn read_all_logs(work: &Path) -> String {
    let mut out = String::new();
    for p in [work.join("server.stderr")].into_iter().chain(
        std::fs::read_dir(work.join("logs"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    ) {
        out.push_str(&std::fs::read_to_string(p).unwrap_or_default());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_interrupts_and_sigkill_then_restart_resumes_without_rebuilding() {
    let _g = serial().await;
    let schema = "scrash";
    let node = tables(schema).await;
    let work = tempfile::tempdir().unwrap();
    // Alerts go to a receiver that refuses them until the first restart.
    let receiver = Receiver::start().await;
    write_config(work.path(), Some(&receiver.url));
    let mut srv = Server::start(work.path());

    // A password in the wrong place is not echoed back.
    let (s, _) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/topology/discover",
            Some(json!({"host": node.host, "port": PASSWORD, "username": USER, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 400);
    // A wrong password is 500/1002 with the node, not the password.
    let (s, v) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/topology/discover",
            Some(json!({"host": node.host, "port": node.port, "username": USER, "password": format!("{PASSWORD}-wrong")})),
        )
        .await;
    assert_eq!((s, v["code"].clone()), (500, json!(1002)), "{v}");

    let (s, v) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/plans",
            Some(json!({"target": {"host": node.host, "port": node.port, "username": USER, "password": PASSWORD},
                        "config": {"databases": [schema], "threshold_mb": 1, "threshold_percent": 1}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let plan_id = v["data"]["plan_id"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["summary"]["actions"], 3, "{v}");
    let big_before = cluster().file_size(&node, schema, "zbig").await;

    // SIGTERM during the big rebuild: killed on the node, the job recorded as interrupted.
    let (s, v) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/recycle/jobs",
            Some(json!({"plan_id": plan_id, "credentials": creds()})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let first = v["data"]["job_id"].as_str().unwrap().to_string();
    srv.wait_job(&first, |d| {
        d["progress"]["current_table"] == json!(format!("{schema}.zbig"))
    })
    .await;
    wait_alter(&node, schema).await;
    let t = Instant::now();
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit().success());
    assert!(
        alters(&node, schema).await.is_empty(),
        "the ALTER was killed at shutdown"
    );
    println!("SIGTERM → server exited in {:?}", t.elapsed());
    assert_eq!(cluster().file_size(&node, schema, "zbig").await, big_before);

    // Restart: the job is failed/interrupted, the two small tables done, and its alert —
    // refused before the shutdown — is posted now.
    assert_eq!(receiver.count(&first), 0);
    receiver.accept.store(true, Ordering::SeqCst);
    let mut srv = Server::start(work.path());
    let alert = receiver.wait_for(&first).await;
    assert_eq!(
        alert["labels"]["alertname"], "TablespaceRecyclingJobFailed",
        "{alert}"
    );
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with("interrupted"),
        "{alert}"
    );
    let d = srv.job(&first).await;
    assert_eq!(d["status"], "failed", "{d}");
    assert!(
        d["error"].as_str().unwrap().starts_with("interrupted"),
        "{d}"
    );
    let done_first: Vec<String> = d["statistics"]["tables_processed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "done")
        .map(|t| t["table"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(done_first, vec!["a1", "a2"], "{d}");

    // A second job from the same plan, killed with SIGKILL mid-rebuild.
    let (s, v) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/recycle/jobs",
            Some(json!({"plan_id": plan_id, "credentials": creds()})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let second = v["data"]["job_id"].as_str().unwrap().to_string();
    let d = srv
        .wait_job(&second, |d| {
            d["progress"]["current_table"] == json!(format!("{schema}.zbig"))
        })
        .await;
    assert_eq!(
        d["progress"]["total_tables"], 1,
        "done tables are skipped: {d}"
    );
    wait_alter(&node, schema).await;
    srv.signal(libc::SIGKILL);
    srv.wait_exit();
    // What a crash leaves: the ALTER runs on; the operator (or its end) stops it.
    for id in alters(&node, schema).await {
        let mut conn = cluster().conn(&node).await;
        let _ = sqlx::query("KILL QUERY ?")
            .bind(id)
            .execute(&mut conn)
            .await;
    }
    let end = Instant::now() + Duration::from_secs(30);
    while !alters(&node, schema).await.is_empty() {
        assert!(Instant::now() < end);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Restart after the crash: the job is failed/interrupted and alerted; the first job's
    // alert, delivered already, is not posted again.
    let mut srv = Server::start(work.path());
    let alert = receiver.wait_for(&second).await;
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("zbig"),
        "{alert}"
    );
    let d = srv.job(&second).await;
    assert_eq!(d["status"], "failed", "{d}");
    assert!(d["error"].as_str().unwrap().contains("interrupted"), "{d}");
    assert!(
        d["error"].as_str().unwrap().contains("zbig"),
        "names the table in flight: {d}"
    );
    // Nothing lost: the first job and its ledger are still there.
    let d1 = srv.job(&first).await;
    assert_eq!(
        d1["statistics"]["tables_processed"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{d1}"
    );
    let (_, v) = srv
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/plans/{plan_id}"),
            None,
        )
        .await;
    assert_eq!(v["data"]["plan_id"], json!(plan_id));

    // The resumed job completes, rebuilding only the big table.
    let (s, v) = srv
        .call(
            reqwest::Method::POST,
            "/api/v1/recycle/jobs",
            Some(json!({"plan_id": plan_id, "credentials": creds()})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let third = v["data"]["job_id"].as_str().unwrap().to_string();
    let d = srv
        .wait_job(&third, |d| {
            d["status"] != "pending" && d["status"] != "running"
        })
        .await;
    assert_eq!(d["status"], "completed", "{d}");
    let t = d["statistics"]["tables_processed"].as_array().unwrap();
    assert_eq!(t.len(), 1, "{d}");
    assert_eq!(
        (t[0]["table"].clone(), t[0]["status"].clone()),
        (json!("zbig"), json!("done"))
    );
    assert!(cluster().file_size(&node, schema, "zbig").await < big_before);

    // The webhook-free metrics and list see all three jobs.
    let (_, v) = srv
        .call(reqwest::Method::GET, "/api/v1/recycle/jobs?limit=10", None)
        .await;
    assert_eq!(v["data"]["total"], 3, "{v}");
    srv.signal(libc::SIGTERM);
    srv.wait_exit();
    assert_eq!((receiver.count(&first), receiver.count(&second)), (1, 1));
    assert_eq!(receiver.count(&third), 0, "a completed job raises no alert");

    // No log line or store row holds the password (responses: checked in `Server::call`).
    let logs = read_all_logs(work.path());
    assert!(logs.contains("DEBUG"), "debug logging was on");
    assert!(!logs.contains(PASSWORD), "a log line leaks the password");
    let dump = store_dump(&work.path().join("data/jobs.db")).await;
    assert!(dump.contains(&plan_id) && dump.contains(USER));
    assert!(!dump.contains(PASSWORD), "a store row leaks the password");
    drop_schema(&node, schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_monitor_show_a_running_cli_apply_from_the_local_store() {
    let _g = serial().await;
    let schema = "swatch";
    let node = tables(schema).await;
    let work = tempfile::tempdir().unwrap();
    let plan = common::plan_file(
        &work,
        &node,
        "watch.yaml",
        &[
            "--database",
            schema,
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
        ],
    );
    let mut apply = common::cli_std(work.path())
        .arg("apply")
        .arg(&plan)
        .args(["--user", USER, "--password", PASSWORD, "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Watch it from "another terminal" until it rebuilds the big table.
    let end = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let o = cli(&work)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        if o.status.success() {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            if let Some(j) = v.as_array().and_then(|a| a.first())
                && j["current_table"] == json!(format!("{schema}.zbig"))
            {
                break j.clone();
            }
        }
        assert!(Instant::now() < end, "status never showed the apply");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["status"], "running");
    assert_eq!(job["processed_tables"], 2);
    let id = job["job_id"].as_str().unwrap().to_string();

    let o = cli(&work)
        .args(["monitor", "--count", "1", "--output-format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let j = &v["jobs"][0];
    assert_eq!(
        (j["job_id"].clone(), j["status"].clone()),
        (json!(id), json!("running"))
    );
    assert!((j["progress"].as_f64().unwrap() - 66.7).abs() < 0.1, "{j}");

    let o = cli(&work)
        .args(["monitor", "--count", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&id) && text.contains("running") && text.contains("swatch.zbig"),
        "{text}"
    );

    let o = cli(&work)
        .args(["status", "--job-id", &id, "--format", "yaml"])
        .output()
        .unwrap();
    let y: Value = serde_yaml::from_slice(&o.stdout).unwrap();
    assert_eq!(y["status"], "running");
    assert_eq!(
        y["statistics"]["tables_processed"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let o = cli(&work)
        .args(["status", "--job-id", &id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("rebuilding swatch.zbig") && text.contains("2/3 tables"),
        "{text}"
    );
    let o = cli(&work)
        .args(["status", "--job-id", "job-20000101-001"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[1006]"));

    // Ctrl-C on the apply: the rebuild is killed, the job ends cancelled.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(apply.id() as i32, libc::SIGINT) };
    apply.wait().unwrap();
    let o = cli(&work)
        .args(["status", "--job-id", &id, "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "cancelled", "{v}");
    assert!(alters(&node, schema).await.is_empty());
    drop_schema(&node, schema).await;
}
