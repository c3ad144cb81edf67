//! The applier's limits on a real cluster: the deadline kills the rebuild on the server, a
//! transaction holding the table keeps the ALTER from being issued at all (so no query queues
//! behind it), a node made writable during a retry's backoff gets no further try, and an
//! interrupted apply resumes without rebuilding a table twice.

use crate::common::{self, apply, cluster, plan_file, serial};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::plan::{read_plan, write_plan};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec, build};
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("json report: {e}\n{stdout}"))
}

/// A config in the work dir: short retries so the tests stay quick.
fn config(work: &tempfile::TempDir, lock_retries: u32) {
    std::fs::write(
        work.path().join("config.yaml"),
        format!(
            "recycling:\n  defaults:\n    lock_retries: {lock_retries}\n    retry_backoff: 1s\n"
        ),
    )
    .unwrap();
}

async fn alters_running(c: &common::TestCluster, ep: &Endpoint, schema: &str) -> i64 {
    let mut conn = c.conn(ep).await;
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT('ALTER TABLE `', ?, '`%')",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_kills_the_rebuild_on_the_server() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    // A large table on this replica only (built with the binlog off), slow to rebuild.
    let mut spec = TableSpec::sized("tmo", "big", 300, Pattern::RangeDelete { percent: 20 });
    spec.secondary_indexes = 4;
    {
        let mut conn = c.conn(&node).await;
        conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
        build(&mut conn, &node, &spec).await.unwrap();
    }
    let before = c.file_size(&node, "tmo", "big").await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "tmo.yaml",
        &[
            "--database",
            "tmo",
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
            "--timeout",
            "1s",
        ],
    );
    // The estimate says it does not fit in 1 s, so apply would skip it; an estimate can be
    // wrong, and the deadline still holds then: the plan is edited to claim 0.1 s (and its
    // new digest pinned, as an edited plan needs).
    let mut p = read_plan(&plan).unwrap();
    assert!(p.nodes[0].actions[0].estimated_duration_s.unwrap() > 1.0);
    for a in p.nodes.iter_mut().flat_map(|n| &mut n.actions) {
        a.estimated_duration_s = Some(0.1);
    }
    write_plan(&plan, &p).unwrap();
    let digest = p.computed_digest();
    let started = Instant::now();
    let (code, out, err) = apply(
        &work,
        &plan,
        &[
            "--yes",
            "--output-format",
            "json",
            "--expect-digest",
            &digest,
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("error[1009]"), "{err}");
    let o = &report(&out)["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    assert_eq!(o["code"], 1009, "{o}");
    assert!(o["error"].as_str().unwrap().contains("KILL QUERY"), "{o}");
    // 2 seconds after the deadline (1 s after the apply began), no ALTER runs on the server.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(took)).await;
    assert_eq!(
        alters_running(c, &node, "tmo").await,
        0,
        "the ALTER was killed on the server"
    );
    assert!(
        took < Duration::from_secs(20),
        "apply returned after {took:?}"
    );
    assert_eq!(
        c.file_size(&node, "tmo", "big").await,
        before,
        "the killed rebuild left the table as it was"
    );
    println!("apply with a 1s deadline returned after {took:?}");
    let mut conn = c.conn(&node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute("DROP DATABASE tmo").await.unwrap();
}

/// A transaction holding the table: the ALTER is never issued while it is open (so no reader
/// queues behind a waiting ALTER), the apply retries, then skips the table naming the holder.
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_holding_the_table_is_waited_for_never_queued_behind_then_skipped() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "mdl",
        "locked",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(1);
    let work = tempfile::tempdir().unwrap();
    config(&work, 2);
    let plan = plan_file(
        &work,
        &node,
        "mdl.yaml",
        &[
            "--database",
            "mdl",
            "--threshold-mb",
            "1",
            "--lock-wait-timeout",
            "1s",
        ],
    );
    // A transaction keeps the table open.
    let mut holder = c.conn(&node).await;
    let holder_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("SELECT COUNT(*) FROM mdl.locked")
        .await
        .unwrap();

    // Meanwhile, a reader measures how long its SELECTs wait, and a sampler watches the
    // processlist for an ALTER.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let mut conn = c.conn(&node).await;
        tokio::spawn(async move {
            let (mut worst, mut reads) = (Duration::ZERO, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                conn.execute("SELECT id FROM mdl.locked LIMIT 1")
                    .await
                    .unwrap();
                worst = worst.max(t.elapsed());
                reads += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (worst, reads)
        })
    };
    let sampler = {
        let stop = stop.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let (mut seen, mut samples) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                seen += alters_running(cluster(), &node, "mdl").await;
                samples += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (seen, samples)
        })
    };
    let (code, out, err) = tokio::task::spawn_blocking({
        let plan = plan.clone();
        move || apply(&work, &plan, &["--yes", "--output-format", "json"])
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (worst, reads) = reader.await.unwrap();
    let (alters, samples) = sampler.await.unwrap();
    holder.execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 5, "{err}");
    let o = &report(&out)["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    let why = o["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("thread {holder_id} (recycler@")) && why.contains("2 tries"),
        "the reason names the holder: {why}"
    );
    // Both watched the whole wait (two tries a second apart), not just its end.
    assert!(
        samples >= 10 && reads >= 10,
        "{samples} processlist samples, {reads} reads"
    );
    assert_eq!(
        alters, 0,
        "an ALTER was issued while the transaction was open"
    );
    println!("worst SELECT wait while apply waited for the holder: {worst:?} ({reads} reads)");
    assert!(
        worst < Duration::from_millis(1_000),
        "a SELECT waited {worst:?}, longer than lock_wait_timeout (1s)"
    );
}

/// A lock-wait retry can come minutes after the table's role check: the node is checked again
/// before every try, so a replica made writable during the backoff gets no further ALTER.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_made_writable_during_a_lock_retry_backoff_gets_no_further_try() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "mdlro",
        "locked",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(1);
    let work = tempfile::tempdir().unwrap();
    config(&work, 5);
    let plan = plan_file(
        &work,
        &node,
        "mdlro.yaml",
        &[
            "--database",
            "mdlro",
            "--threshold-mb",
            "1",
            "--lock-wait-timeout",
            "1s",
        ],
    );
    let mut holder = c.conn(&node).await;
    holder.execute("BEGIN").await.unwrap();
    holder
        .execute("SELECT COUNT(*) FROM mdlro.locked")
        .await
        .unwrap();
    let work_log = work.path().to_path_buf();
    let run = tokio::task::spawn_blocking({
        let plan = plan.clone();
        move || apply(&work, &plan, &["--yes", "--output-format", "json"])
    });
    // The first try gave up on the held table (the apply logs its backoff): the node turns
    // writable (a promotion) during the backoff.
    let log = work_log.join("logs/recycling.log");
    let end = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("(try 1 of 5)")) {
        assert!(Instant::now() < end, "the first try never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut admin = c.conn(&node).await;
    admin.execute("SET GLOBAL read_only = OFF").await.unwrap();
    let (code, out, err) = run.await.unwrap();
    admin.execute("SET GLOBAL read_only = ON").await.unwrap();
    holder.execute("ROLLBACK").await.unwrap();
    assert_eq!(code, 5, "{err}");
    let o = &report(&out)["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    assert_eq!(o["code"], 1004, "{o}");
    let why = o["error"].as_str().unwrap();
    assert!(why.contains("read_only ON → OFF"), "{why}");
    assert!(
        !why.contains("5 tries"),
        "retried on a writable node: {why}"
    );
}

/// The newest job of the local store, as `status --format json` (a JSON array) shows it.
fn latest_job(work: &tempfile::TempDir) -> serde_json::Value {
    let o = common::cli(work)
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status: {e}: {out}"));
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("no job in: {out}"))
}

async fn space_ids(c: &common::TestCluster, ep: &Endpoint) -> Vec<(String, i64)> {
    let mut conn = c.conn(ep).await;
    sqlx::query_as(
        "SELECT NAME, CAST(SPACE AS SIGNED) FROM information_schema.INNODB_SYS_TABLES \
         WHERE NAME LIKE 'res/t_' ORDER BY NAME",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_apply_resumes_without_rebuilding_a_table_twice() {
    let _g = serial().await;
    let c = cluster();
    let tables: Vec<TableSpec> = (1..=4)
        .map(|i| {
            TableSpec::sized(
                "res",
                &format!("t{i}"),
                4,
                Pattern::RandomDelete { keep_every: 10 },
            )
        })
        .collect();
    c.fragment(&tables).await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    config(&work, 1000);
    let plan = plan_file(
        &work,
        &node,
        "res.yaml",
        &[
            "--database",
            "res",
            "--threshold-mb",
            "1",
            "--lock-wait-timeout",
            "1s",
            "--batch-size",
            "2",
            // t1 and t2 first, then the held t3.
            "--order",
            "name",
        ],
    );
    // t3 is held open, so the first run gets stuck on it after t1 and t2.
    let mut holder = c.conn(&node).await;
    holder.execute("BEGIN").await.unwrap();
    holder.execute("SELECT COUNT(*) FROM res.t3").await.unwrap();
    let original = space_ids(c, &node).await;

    let child = common::cli_std(work.path())
        .args([
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--user",
            common::USER,
            "--password",
            common::PASSWORD,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the ledger to hold t1 and t2, then interrupt like Ctrl-C.
    let db = work.path().join("data/jobs.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "t1 and t2 were not done in time");
        if db.exists() {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&db)
                .read_only(true);
            if let Ok(mut s) = sqlx::SqliteConnection::connect_with(&opts).await {
                let done: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE status = 'done'")
                        .fetch_one(&mut s)
                        .await
                        .unwrap_or(0);
                if done >= 2 {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let first = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(5), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    let after_first = space_ids(c, &node).await;
    assert_ne!(after_first[0], original[0], "t1 rebuilt by the first run");
    assert_ne!(after_first[1], original[1], "t2 rebuilt by the first run");
    assert_eq!(
        after_first[2], original[2],
        "t3 not rebuilt (held open, then cancelled)"
    );
    assert_eq!(after_first[3], original[3], "t4 not reached");
    holder.execute("ROLLBACK").await.unwrap();

    let (code, out, err) = apply(
        &work,
        &plan,
        &["--yes", "--resume", "--output-format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let rep = report(&out);
    let ran: Vec<&str> = rep["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["table"].as_str().unwrap())
        .collect();
    assert_eq!(ran, vec!["t3", "t4"]);
    assert_eq!(rep["already_done"].as_array().unwrap().len(), 2);
    let after_resume = space_ids(c, &node).await;
    assert_eq!(after_resume[0], after_first[0], "t1 not rebuilt twice");
    assert_eq!(after_resume[1], after_first[1], "t2 not rebuilt twice");
    assert_ne!(after_resume[2], after_first[2], "t3 rebuilt on resume");
    assert_ne!(after_resume[3], after_first[3], "t4 rebuilt on resume");
}

/// Issue 11.11: a CLI apply killed with SIGKILL cannot record its end; `status` (reading the
/// local store) shows its job as interrupted at once, not `running`.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_apply_shows_as_interrupted_not_running() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "dead",
        "t",
        4,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "dead.yaml",
        &[
            "--database",
            "dead",
            "--threshold-mb",
            "1",
            "--timeout",
            "5m",
        ],
    );
    // Held open, so the apply waits for the holder (no ALTER is left behind by the kill).
    let mut holder = c.conn(&node).await;
    holder.execute("BEGIN").await.unwrap();
    holder.execute("SELECT COUNT(*) FROM dead.t").await.unwrap();
    let mut child = common::cli_std(work.path())
        .args(["apply", plan.to_str().unwrap(), "--yes"])
        .args(["--user", common::USER, "--password", common::PASSWORD])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = work.path().join("logs/recycling.log");
    let end = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("not issuing the ALTER")) {
        assert!(
            Instant::now() < end,
            "the apply never waited for the holder"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    holder.execute("ROLLBACK").await.unwrap();
    let j = latest_job(&work);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["error"].as_str().unwrap_or("").starts_with("interrupted"),
        "{j}"
    );
}

/// Issue 11.12: a table rebuilt since the plan was made (say by a run that died before it could
/// record it) needs nothing more: it is skipped as no longer qualifying, and the apply is
/// complete (exit 0), not partial.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_rebuilt_since_the_plan_is_skipped_and_the_apply_is_complete() {
    let _g = serial().await;
    let c = cluster();
    let tables: Vec<TableSpec> = (1..=2)
        .map(|i| {
            TableSpec::sized(
                "again",
                &format!("t{i}"),
                8,
                Pattern::RandomDelete { keep_every: 10 },
            )
        })
        .collect();
    c.fragment(&tables).await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "again.yaml",
        &["--database", "again", "--threshold-mb", "1"],
    );
    assert!(c.rebuild_locally(&node, "again", "t2").await > 0);
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let rep = report(&out);
    let t2 = rep["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["table"] == "t2")
        .unwrap()
        .clone();
    assert_eq!(t2["status"], "skipped", "{t2}");
    assert_eq!(t2["unneeded"], true, "{t2}");
    assert!(
        t2["error"]
            .as_str()
            .unwrap()
            .contains("no longer qualifies"),
        "{t2}"
    );
    let j = latest_job(&work);
    assert_eq!(j["status"], "completed", "{j}");
}
