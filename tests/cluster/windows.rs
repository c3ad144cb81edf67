//! Long rebuilds and maintenance windows on a real cluster: plans carry duration estimates
//! (calibrated by the node's measured rebuilds once it has some), a rebuild of a ~500 MiB table
//! shows progress inside the table rising in the job view, a deadline too short for a table
//! skips it with the reason instead of starting and killing it, and a datadir without the room
//! a rebuild needs refuses it before any DDL. One at a time (`serial`): they count ALTERs on a
//! node and time rebuilds.

use crate::common::{apply, cli, cluster, plan_file, serial, spawn_apply};
use mysql_tablespace_recycling::jobs::Store;
use mysql_tablespace_recycling::jobs::view::JobView;
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use serde_json::Value;
use std::time::Duration;

/// `schema.big` made on `node` alone (`sql_log_bin=0`, a replica's own table): ~560 MiB of
/// 1000-byte rows with every fourth deleted, purged.
async fn big_table(node: &Endpoint, schema: &str) {
    let c = cluster();
    let create = format!("CREATE DATABASE IF NOT EXISTS `{schema}`");
    let table = format!(
        "CREATE TABLE `{schema}`.big (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(1000)) \
         ENGINE=InnoDB"
    );
    let fill = format!(
        "INSERT INTO `{schema}`.big (pad) SELECT REPEAT('x', 1000) FROM `{schema}`.seq_1_to_500000"
    );
    let thin = format!("DELETE FROM `{schema}`.big WHERE id % 4 = 0");
    c.exec(
        node,
        &["SET SESSION sql_log_bin = 0", &create, &table, &fill, &thin],
    )
    .await;
    c.purged(node).await;
}

fn plan_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn actions(plan: &Value) -> Vec<Value> {
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["actions"].as_array().unwrap().clone())
        .collect()
}

async fn alters(node: &Endpoint) -> u64 {
    let mut conn = cluster().conn(node).await;
    let (_, v): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_alter_table'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    v.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_rebuild_shows_its_progress_and_calibrates_the_next_estimates() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(1);
    big_table(&node, "win_progress").await;
    c.fragment(&[TableSpec::sized(
        "win_progress",
        "mid",
        24,
        Pattern::RandomDelete { keep_every: 3 },
    )])
    .await;
    c.purged(&node).await;
    let work = tempfile::tempdir().unwrap();
    let only = |t: &'static str| {
        vec![
            "--database",
            "win_progress",
            "--table",
            t,
            "--threshold-mb",
            "1",
        ]
    };
    let first = plan_file(&work, &node, "big.json", &only("big"));
    let p = plan_json(&first);
    assert_eq!(
        p["settings"]["order"], "reclaim",
        "the plan records the order"
    );
    let a = actions(&p);
    assert_eq!(a.len(), 1, "{p}");
    assert_eq!(
        a[0]["duration_method"], "default",
        "no history yet: {}",
        a[0]
    );
    let est = a[0]["estimated_duration_s"].as_f64().unwrap();
    assert!(est > 1.0, "{}", a[0]);
    assert_eq!(a[0]["secondary_indexes"], 0);
    assert!(a[0]["rows"].as_u64().unwrap() > 100_000, "{}", a[0]);

    let running = spawn_apply(work.path(), &first, &[]);
    let store = loop {
        if let Ok(s) = Store::open(&work.path().join("data/jobs.db")).await {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut seen: Vec<f64> = Vec::new();
    let mut remaining = Vec::new();
    let mut written = 0;
    while !running.is_finished() {
        if let Ok((jobs, _)) = store.jobs(None, 1, 0).await
            && let Some(j) = jobs.first()
            && let Ok(v) = JobView::load(&store, &j.job_id).await
            && let Some(r) = v.progress.rebuilds.first()
        {
            assert_eq!(
                (r.schema.as_str(), r.table.as_str()),
                ("win_progress", "big")
            );
            if let Some(pct) = r.percent {
                seen.push(pct);
            }
            written = written.max(r.bytes_written.unwrap_or(0));
            if let Some(left) = v.statistics.estimated_remaining {
                remaining.push(left);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, out, err) = running.await.unwrap();
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(
        seen.len() >= 3 && seen.windows(2).all(|w| w[0] <= w[1]) && seen.last() > seen.first(),
        "in-table progress rises monotonically in the job view: {seen:?}"
    );
    assert!(
        written > 50 << 20,
        "bytes of the new file written: {written}"
    );
    assert!(!remaining.is_empty(), "estimated_remaining while it ran");
    let rep: Value = serde_json::from_str(&out).unwrap();
    let o = &rep["outcomes"][0];
    assert_eq!(o["status"], "done", "{o}");
    assert_eq!(o["estimated_duration_s"].as_f64(), Some(est), "{o}");
    assert_eq!(rep["order"], "reclaim");

    // The node now has a measured rebuild: the next plan's estimates are calibrated by it.
    let second = plan_file(&work, &node, "mid.json", &only("mid"));
    let a = actions(&plan_json(&second));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["duration_method"], "calibrated", "{}", a[0]);
    let shown = cli(&work).args(["show"]).arg(&second).output().unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("(calibrated)"), "{text}");
    assert!(text.contains("estimated time ~"), "{text}");
    c.exec(
        &node,
        &["SET SESSION sql_log_bin = 0", "DROP DATABASE win_progress"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_would_not_finish_before_the_deadline_is_skipped_not_killed() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(1);
    big_table(&node, "win_deadline").await;
    c.fragment(&[
        TableSpec::sized(
            "win_deadline",
            "a",
            8,
            Pattern::RandomDelete { keep_every: 4 },
        ),
        TableSpec::sized("win_deadline", "b", 8, Pattern::RangeDelete { percent: 70 }),
    ])
    .await;
    c.purged(&node).await;
    let work = tempfile::tempdir().unwrap();
    // The big table's default estimate is ~7 s; the small ones' well under a second each.
    let plan = plan_file(
        &work,
        &node,
        "p.json",
        &[
            "--database",
            "win_deadline",
            "--threshold-mb",
            "1",
            "--timeout",
            "4s",
        ],
    );
    let a = actions(&plan_json(&plan));
    assert_eq!(a.len(), 3, "{a:?}");
    let big = a.iter().find(|x| x["table"] == "big").unwrap();
    assert!(big["estimated_duration_s"].as_f64().unwrap() > 4.0, "{big}");
    let size = c.file_size(&node, "win_deadline", "big").await;
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 5, "partial: {err}\n{out}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    for o in rep["outcomes"].as_array().unwrap() {
        let note = o["error"].as_str().unwrap_or("");
        assert!(!note.contains("KILL"), "nothing is killed: {o}");
        if o["table"] == "big" {
            assert_eq!(o["status"], "skipped", "{o}");
            assert!(
                note.starts_with("would not finish before the deadline (needs ~")
                    && note.contains("left)"),
                "{o}"
            );
            assert_eq!(o["code"], 1009, "{o}");
            assert!(o["started_at"].is_null(), "never started: {o}");
        } else {
            assert_eq!(o["status"], "done", "the small tables still fit: {o}");
        }
    }
    assert_eq!(
        rep["timed_out"], false,
        "the deadline never had to kill anything"
    );
    assert_eq!(c.file_size(&node, "win_deadline", "big").await, size);
    c.exec(
        &node,
        &["SET SESSION sql_log_bin = 0", "DROP DATABASE win_deadline"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_without_room_in_the_datadir_is_refused_before_any_ddl() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    c.fragment(&[TableSpec::sized(
        "win_disk",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 4 },
    )])
    .await;
    c.purged(&node).await;
    // The sandbox loads MariaDB's DISKS plugin: the node can tell its free space.
    let mut conn = c.conn(&node).await;
    let mounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.DISKS")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(mounts > 0);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "p.json",
        &["--database", "win_disk", "--threshold-mb", "1"],
    );
    let before = alters(&node).await;
    let size = c.file_size(&node, "win_disk", "t").await;
    let tiny = format!("{node}=1M");
    let (code, out, err) = apply(
        &work,
        &plan,
        &["--yes", "--output-format", "json", "--free-disk", &tiny],
    );
    assert_eq!(code, 5, "{err}\n{out}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    let o = &rep["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    let note = o["error"].as_str().unwrap();
    assert!(
        note.starts_with("not enough free disk for the rebuild: needs ~")
            && note.contains("1.0 MiB free (--free-disk)"),
        "{o}"
    );
    assert_eq!(alters(&node).await, before, "no ALTER reached the node");
    assert_eq!(c.file_size(&node, "win_disk", "t").await, size);
    // With the server's own figure (the DISKS plugin), there is room: it runs.
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["outcomes"][0]["status"], "done", "{rep}");
}
