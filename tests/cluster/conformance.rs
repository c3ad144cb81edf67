//! The seed spec's shapes where they differ from a plain serialization (issue 13), through a
//! server on port 0: a job's `config` is the spec's `RecycleConfig` with the values in force;
//! `started_at`, `completed_at`, `error` and `current_table` are omitted while unset; a
//! synchronous request past `server.request_timeout` is 408/1009 naming what still ran.

use super::server::{App, assert_error, target};
use crate::common::{PASSWORD, USER, cluster, shared};
use mysql_tablespace_recycling::config::Config;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use mysql_tablespace_recycling::settings::HumanDuration;
use serde_json::{Value, json};
use sqlx::Executor;
use std::time::{Duration, Instant};

/// Paths of every `null` in `v`.
fn nulls(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(at.to_string()),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| nulls(x, &format!("{at}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| nulls(x, &format!("{at}[{i}]"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_job_shows_the_settings_it_runs_with_and_omits_what_is_unset() {
    let _g = shared().await;
    let c = cluster();
    // A port that accepts connections and never answers: the job planning there runs until
    // the connect timeout, and the next job waits in the queue behind it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let app = App::start(|cfg: &mut Config| {
        cfg.recycling.concurrency.max_workers = 1;
        cfg.database.default.timeout = HumanDuration::secs(4);
        cfg.recycling.defaults.threshold_mb = 7;
    })
    .await;
    let defaults = Config::default().recycling.defaults;
    let (s, a) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": {"host": "127.0.0.1", "port": silent_port, "username": USER,
                              "password": PASSWORD}, "dry_run": true}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let a = a["data"]["job_id"].as_str().unwrap().to_string();
    let r1 = c.replica(1);
    let (s, b) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&r1), "dry_run": true,
                   "config": {"mode": "binlog-off", "databases": ["conf_*"],
                              "threshold_percent": 12.5}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let b = b["data"]["job_id"].as_str().unwrap().to_string();

    let (s, v) = app.get(&format!("/api/v1/recycle/jobs/{b}")).await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["status"], "pending", "{d}");
    for key in ["started_at", "completed_at", "error"] {
        assert!(d.get(key).is_none(), "{key} of a pending job: {d}");
    }
    assert!(d["progress"].get("current_table").is_none(), "{d}");
    // RecycleConfig: the spec's keys with the values in force, defaults filled in.
    let jc = &d["config"];
    assert_eq!(
        jc["target"],
        json!({"host": r1.host, "port": r1.port, "username": USER, "ssl_mode": "PREFERRED"}),
        "{jc}"
    );
    assert_eq!(jc["mode"], "binlog-off", "{jc}");
    assert_eq!(
        jc["threshold_mb"], 7,
        "the server's recycling.defaults: {jc}"
    );
    assert_eq!(jc["threshold_percent"], 12.5, "{jc}");
    assert_eq!(jc["exclude_primary"], true, "{jc}");
    assert_eq!(jc["databases"], json!(["conf_*"]), "{jc}");
    assert!(jc.get("tables").is_none(), "omitted when empty: {jc}");
    assert_eq!(jc["batch_size"], json!(defaults.batch_size), "{jc}");
    assert_eq!(jc["timeout"], json!(defaults.timeout), "{jc}");
    assert_eq!(jc["scope"], "node", "{jc}");
    assert_eq!(jc["dry_run"], true, "{jc}");
    let mut found = Vec::new();
    nulls(jc, "config", &mut found);
    assert!(
        found.is_empty(),
        "unset keys shown as null: {found:?} in {jc}"
    );
    assert!(!jc.to_string().contains("password"), "{jc}");

    let (_, list) = app.get("/api/v1/recycle/jobs?status=pending").await;
    let item = &list["data"]["jobs"][0];
    assert_eq!(item["job_id"], json!(b), "{list}");
    for key in ["started_at", "completed_at", "error", "current_table"] {
        assert!(item.get(key).is_none(), "{key} of a pending job: {item}");
    }

    // A failed job has its times and error; a completed one its times and no error key.
    let fa = app.wait_final(&a).await;
    assert_eq!(fa["status"], "failed", "{fa}");
    assert!(
        fa["error"].is_string() && fa["started_at"].is_string(),
        "{fa}"
    );
    assert!(fa["completed_at"].is_string(), "{fa}");
    let fb = app.wait_final(&b).await;
    assert_eq!(fb["status"], "completed", "{fb}");
    assert!(
        fb["started_at"].is_string() && fb["completed_at"].is_string(),
        "{fb}"
    );
    assert!(fb.get("error").is_none(), "{fb}");
    drop(silent);

    let (s, v) = app.get("/api/v1/recycle/jobs/job-20000101-999").await;
    assert_error(s, &v, 404, 1006);
    app.stop().await;
}

/// Synchronous requests have a deadline (`server.request_timeout`, issue 13 item 3): past it
/// the work is stopped and the answer is 408/1009 naming what was still running; nothing is
/// saved. A connect that times out before it stays 500/1002.
#[tokio::test]
async fn a_request_past_its_deadline_is_408_naming_what_still_ran() {
    let _g = shared().await;
    let c = cluster();
    let r2 = c.replica(2);
    c.fragment(&[TableSpec::sized(
        "deadline",
        "t",
        4,
        Pattern::RandomDelete { keep_every: 4 },
    )])
    .await;
    c.sync_from(&c.primary(), &r2).await;
    // The table has variable-length columns, so the plan samples it; a write lock on it (on
    // replica 2 only) stalls the sample.
    let mut lock = c.sandbox.admin(&c.sandbox.node(2)).await.unwrap();
    lock.execute("LOCK TABLES deadline.t WRITE").await.unwrap();
    let app = App::start(|cfg: &mut Config| {
        cfg.server.request_timeout = HumanDuration::secs(2);
        cfg.database.default.timeout = HumanDuration::secs(1);
    })
    .await;
    let body = json!({"target": target(&r2),
                      "config": {"databases": ["deadline"], "threshold_mb": 1}});
    let t = Instant::now();
    let (s, v) = app.post("/api/v1/plans", body.clone()).await;
    let took = t.elapsed();
    assert_error(s, &v, 408, 1009);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(v["details"]["limit"], "2s", "{v}");
    let running: Vec<&str> = v["details"]["running"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        running.contains(&format!("sampling deadline.t on {r2}").as_str()),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("did not finish within 2s"),
        "{v}"
    );
    // Nothing was saved, and the stalled statement went with its connection.
    let (_, list) = app.get("/api/v1/recycle/jobs").await;
    assert_eq!(list["data"]["total"], 0, "{list}");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%deadline%' \
             AND ID <> CONNECTION_ID()",
        )
        .fetch_one(&mut lock)
        .await
        .unwrap();
        if waiting == 0 {
            break;
        }
        assert!(Instant::now() < end, "the sample still waits on the node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lock.execute("UNLOCK TABLES").await.unwrap();
    let (s, v) = app.post("/api/v1/plans", body).await;
    assert_eq!(s, 201, "in time once the lock is gone: {v}");

    // A connect that times out within the deadline stays a connection failure.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (s, v) = app
        .post(
            "/api/v1/topology/discover",
            json!({"host": "127.0.0.1", "port": port, "username": USER, "password": PASSWORD}),
        )
        .await;
    assert_error(s, &v, 500, 1002);
    drop(silent);
    app.stop().await;
}

/// A job store that fails is the server's fault, never the request's (issue 13 item 4): 500
/// with 1005 while a job is being created, 500 with 1000 when a list cannot be read. The store
/// is made to fail for real: a trigger refuses every new job row, then the table is renamed.
#[tokio::test]
async fn a_failing_job_store_is_a_5xx_never_a_bad_request() {
    let _g = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    let app =
        App::start(|cfg: &mut Config| cfg.persistence.job_state.file = Some(db.clone())).await;
    let store = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store
        .execute(
            "CREATE TRIGGER mtr_disk_full BEFORE INSERT ON jobs \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        )
        .await
        .unwrap();
    let (s, v) = app
        .post(
            "/api/v1/recycle/jobs",
            json!({"target": target(&cluster().replica(1)), "dry_run": true}),
        )
        .await;
    assert_error(s, &v, 500, 1005);
    store
        .execute("ALTER TABLE jobs RENAME TO mtr_jobs_gone")
        .await
        .unwrap();
    let (s, v) = app.get("/api/v1/recycle/jobs").await;
    assert_error(s, &v, 500, 1000);
}
