//! The apply's gates on a real cluster with a chained replica (design §6.2, round 2): a binlog-on
//! rebuild is never started while a replica below is still replaying the previous one; a stopped
//! downstream replica holds the apply until the deadline, which then says why; a delayed replica
//! does not hold it; load above `--max-load` holds it and above `--critical-load` kills the
//! running rebuild; the pause file holds it and the panic file kills and stops it.

use crate::common::{self, TestCluster, apply, cli, cluster, plan_file, serial, target_args};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec, build};
use sqlx::Executor;
use std::time::{Duration, Instant};

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("json report: {e}\n{stdout}"))
}

/// `ALTER TABLE `schema`…` statements running on `ep` (a replica's SQL thread included).
async fn alters(c: &TestCluster, ep: &Endpoint, schema: &str) -> i64 {
    let mut conn = c.conn(ep).await;
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE CONCAT('ALTER TABLE `', ?, '`%')",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// The statements of the ALTERs of `schema` running on `ep` (a replica's SQL thread included).
async fn altered(c: &TestCluster, ep: &Endpoint, schema: &str) -> Vec<String> {
    let mut conn = c.conn(ep).await;
    sqlx::query_scalar(
        "SELECT INFO FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE CONCAT('ALTER TABLE `', ?, '`%')",
    )
    .bind(schema)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Waits (up to 60 s) until an ALTER of `schema` runs on `ep`.
async fn until_altering(c: &TestCluster, ep: &Endpoint, schema: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    while alters(c, ep, schema).await == 0 {
        assert!(Instant::now() < end, "no ALTER of {schema} started on {ep}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn log_of(work: &std::path::Path) -> String {
    std::fs::read_to_string(work.join("logs/recycling.log")).unwrap_or_default()
}

/// `SPACE` of each table of `schema` on `ep` (a rebuild gives a table a new one).
async fn spaces(c: &TestCluster, ep: &Endpoint, schema: &str) -> Vec<(String, i64)> {
    let mut conn = c.conn(ep).await;
    sqlx::query_as(
        "SELECT NAME, CAST(SPACE AS SIGNED) FROM information_schema.INNODB_SYS_TABLES \
         WHERE NAME LIKE CONCAT(?, '/%') ORDER BY NAME",
    )
    .bind(schema)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Low thresholds, and the tables in name order: the tests act between a node's first and second
/// table.
const LOW: [&str; 6] = [
    "--threshold-mb",
    "1",
    "--threshold-percent",
    "1",
    "--order",
    "name",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = LOW.to_vec();
    v.extend_from_slice(extra);
    v
}

/// A table slow enough to rebuild that a test can act while it runs, built on `ep` only.
async fn slow_table(c: &TestCluster, ep: &Endpoint, schema: &str, mib: u64) {
    let mut spec = TableSpec::sized(schema, "big", mib, Pattern::RangeDelete { percent: 20 });
    spec.secondary_indexes = 4;
    let mut conn = c.conn(ep).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    build(&mut conn, ep, &spec).await.unwrap();
}

async fn drop_local(c: &TestCluster, ep: &Endpoint, schema: &str) {
    c.exec(
        ep,
        &[
            "SET SESSION sql_log_bin = 0",
            &format!("DROP DATABASE IF EXISTS `{schema}`"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_on_never_starts_a_rebuild_while_the_chained_replica_replays_the_last() {
    let _g = serial().await;
    let c = cluster();
    let tables: Vec<TableSpec> = (1..=3)
        .map(|i| {
            let mut t = TableSpec::sized(
                "gchain",
                &format!("t{i}"),
                40,
                Pattern::RangeDelete { percent: 30 },
            );
            t.secondary_indexes = 3;
            t
        })
        .collect();
    c.fragment(&tables).await;
    let (mid, chained) = (c.replica(1), c.chained());
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &mid,
        "gchain.yaml",
        &args(&[
            "--database",
            "gchain",
            "--mode",
            "binlog-on",
            "--batch-size",
            "1",
            "--max-lag",
            "1s",
        ]),
    );
    // Both processlists every 200 ms: the intermediate must never run a rebuild while the
    // chained replica still replays the previous one. (The same table on both is the tail of
    // one rebuild: its event is sent before the intermediate's statement has ended.)
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let (mid, chained) = (mid.clone(), chained.clone());
        tokio::spawn(async move {
            let (mut both, mut replaying, mut tail) = (0, 0, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let m = altered(cluster(), &mid, "gchain").await;
                let r = altered(cluster(), &chained, "gchain").await;
                if !r.is_empty() {
                    replaying += 1;
                }
                if m.iter().any(|t| !r.is_empty() && !r.contains(t)) {
                    both += 1;
                } else if !m.is_empty() && !r.is_empty() {
                    tail += 1;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (both, replaying, tail)
        })
    };
    let started = Instant::now();
    let (code, out, err) = common::spawn_apply(work.path(), &plan, &[]).await.unwrap();
    // The log has the gates' lines.
    let err = format!("{err}\n{}", log_of(work.path()));
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (both, replaying, tail) = sampler.await.unwrap();
    assert_eq!(code, 0, "{err}");
    let rep = report(&out);
    assert_eq!(rep["outcomes"].as_array().unwrap().len(), 3, "{rep}");
    println!(
        "3 binlog-on rebuilds in {took:?}; samples with the chained replica replaying: \
         {replaying}, with both rebuilding different tables: {both}, the same one: {tail}"
    );
    assert!(
        replaying > 0,
        "the sampler never saw the chained replica replay: the test shows nothing"
    );
    assert_eq!(
        both, 0,
        "the intermediate rebuilt while the chained replica replayed"
    );
    assert!(
        err.contains("still replaying the rebuild of gchain.t"),
        "the log says what it waited for: {err}"
    );
    assert!(err.contains("waited "), "the log says how long: {err}");
    c.sync_from(&mid, &chained).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_downstream_replica_holds_the_apply_until_the_deadline_says_why() {
    let _g = serial().await;
    let c = cluster();
    let mut t1 = TableSpec::sized("gstop", "t1", 24, Pattern::RangeDelete { percent: 30 });
    t1.secondary_indexes = 3;
    let t2 = TableSpec::sized("gstop", "t2", 8, Pattern::RandomDelete { keep_every: 10 });
    c.fragment(&[t1, t2]).await;
    let (mid, chained) = (c.replica(1), c.chained());
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &mid,
        "gstop.yaml",
        &args(&[
            "--database",
            "gstop",
            "--mode",
            "binlog-on",
            "--max-lag",
            "1s",
            "--timeout",
            "15s",
        ]),
    );
    let before = spaces(c, &mid, "gstop").await;
    let run = common::spawn_apply(work.path(), &plan, &[]);
    // The first rebuild runs: the chained replica's replication stops.
    until_altering(c, &mid, "gstop").await;
    c.exec(&chained, &["STOP SLAVE"]).await;
    let (code, out, err) = run.await.unwrap();
    c.exec(&chained, &["START SLAVE"]).await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("error[1009]"), "{err}");
    let rep = report(&out);
    let outcomes = rep["outcomes"].as_array().unwrap();
    let t2 = outcomes.iter().find(|o| o["table"] == "t2").unwrap();
    assert_eq!(t2["status"], "skipped", "{t2}");
    assert_eq!(t2["code"], 1009, "{t2}");
    let why = t2["error"].as_str().unwrap();
    assert!(
        why.contains("deadline")
            && why.contains(&chained.to_string())
            && why.contains("replication stopped"),
        "the reason says what was waited for: {why}"
    );
    let log = log_of(work.path());
    assert!(log.contains("lag unknown (replication stopped"), "{log}");
    let after = spaces(c, &mid, "gstop").await;
    assert_ne!(after[0], before[0], "t1 rebuilt before the stop");
    assert_eq!(
        after[1], before[1],
        "nothing started after the stop: t2 untouched"
    );
    c.sync_from(&mid, &chained).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_replica_below_does_not_hold_the_apply() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "gdelay",
        "t1",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let (mid, chained) = (c.replica(1), c.chained());
    c.exec(
        &chained,
        &[
            "STOP SLAVE",
            "CHANGE MASTER TO MASTER_DELAY = 3600",
            "START SLAVE",
        ],
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    // Topology shows the delay.
    let topo = cli(&work)
        .arg("topology")
        .args(target_args(&c.primary()))
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&topo.stdout);
    assert!(tree.contains("delay=3600s"), "{tree}");
    let plan = plan_file(
        &work,
        &mid,
        "gdelay.yaml",
        &args(&[
            "--database",
            "gdelay",
            "--mode",
            "binlog-on",
            "--max-lag",
            "1s",
            "--timeout",
            "2m",
        ]),
    );
    let started = Instant::now();
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    let took = started.elapsed();
    c.exec(
        &chained,
        &[
            "STOP SLAVE",
            "CHANGE MASTER TO MASTER_DELAY = 0",
            "START SLAVE",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(report(&out)["outcomes"][0]["status"], "done");
    println!("binlog-on apply above a MASTER_DELAY=3600 replica took {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "held by the delayed replica: {took:?}"
    );
    c.sync_from(&mid, &chained).await;
}

/// `n` sessions on `ep` each running `SELECT SLEEP(secs)`, started now.
async fn sleepers(
    c: &TestCluster,
    ep: &Endpoint,
    n: usize,
    secs: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut v = Vec::new();
    for _ in 0..n {
        let mut conn = c.conn(ep).await;
        v.push(tokio::spawn(async move {
            let _ = conn.execute(format!("SELECT SLEEP({secs})").as_str()).await;
        }));
    }
    v
}

async fn threads_running(c: &TestCluster, ep: &Endpoint) -> u64 {
    let mut conn = c.conn(ep).await;
    let v: String = sqlx::query_scalar(
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
         WHERE VARIABLE_NAME = 'THREADS_RUNNING'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    v.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn load_above_max_load_holds_the_next_rebuild_until_it_falls() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "gload",
        "t1",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "gload.yaml",
        &args(&["--database", "gload", "--max-load", "Threads_running=8"]),
    );
    let sleep_end = chrono::Utc::now() + chrono::Duration::seconds(6);
    let busy = sleepers(c, &node, 10, 6).await;
    while threads_running(c, &node).await <= 8 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, out, err) = common::spawn_apply(work.path(), &plan, &[]).await.unwrap();
    for b in busy {
        b.await.unwrap();
    }
    assert_eq!(code, 0, "{err}");
    let o = &report(&out)["outcomes"][0];
    assert_eq!(o["status"], "done", "{o}");
    let started: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(o["started_at"].clone()).unwrap();
    assert!(
        started + chrono::Duration::milliseconds(500) >= sleep_end,
        "the rebuild started at {started} while the sleeps ran until {sleep_end}"
    );
    let log = log_of(work.path());
    assert!(
        log.contains("waiting for load: Threads_running=") && log.contains("> 8 (max_load)"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn critical_load_kills_the_running_rebuild_within_two_seconds() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    slow_table(c, &node, "gcrit", 300).await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "gcrit.yaml",
        &args(&[
            "--database",
            "gcrit",
            "--max-load",
            "Threads_running=40",
            "--critical-load",
            "Threads_running=10",
        ]),
    );
    let run = common::spawn_apply(work.path(), &plan, &[]);
    until_altering(c, &node, "gcrit").await;
    let busy = sleepers(c, &node, 12, 8).await;
    while threads_running(c, &node).await <= 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let crossed = Instant::now();
    while alters(c, &node, "gcrit").await > 0 {
        assert!(
            crossed.elapsed() < Duration::from_secs(10),
            "the rebuild was not killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = crossed.elapsed();
    let (code, out, _) = run.await.unwrap();
    for b in busy {
        b.abort();
    }
    println!("critical load crossed → ALTER gone in {gone:?}");
    assert!(gone <= Duration::from_secs(2), "killed after {gone:?}");
    assert_eq!(code, 5, "{out}");
    let rep = report(&out);
    let o = &rep["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    let why = o["error"].as_str().unwrap();
    assert!(
        why.contains("KILL QUERY") && why.contains("critical load: Threads_running="),
        "{why}"
    );
    assert!(
        rep["node_errors"][0]
            .as_str()
            .unwrap()
            .contains("critical load"),
        "{rep}"
    );
    drop_local(c, &node, "gcrit").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pause_file_holds_new_rebuilds_and_its_removal_resumes() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "gpause",
        "t1",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "gpause.yaml",
        &args(&["--database", "gpause"]),
    );
    let pause = work.path().join("pause");
    std::fs::write(&pause, "").unwrap();
    let before = spaces(c, &node, "gpause").await;
    let run = common::spawn_apply(
        work.path(),
        &plan,
        &["--pause-file", pause.to_str().unwrap()],
    );
    // Paused: the log says so and nothing is rebuilt for 3 s.
    let end = Instant::now() + Duration::from_secs(30);
    while !log_of(work.path()).contains("paused (the pause file exists)") {
        assert!(
            Instant::now() < end,
            "never paused: {}",
            log_of(work.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        spaces(c, &node, "gpause").await,
        before,
        "rebuilt while paused"
    );
    std::fs::remove_file(&pause).unwrap();
    let (code, _, err) = run.await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_ne!(
        spaces(c, &node, "gpause").await,
        before,
        "rebuilt once resumed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panic_file_kills_the_rebuild_and_exits_5() {
    let _g = serial().await;
    let c = cluster();
    let node = c.replica(2);
    slow_table(c, &node, "gpanic", 300).await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "gpanic.yaml",
        &args(&["--database", "gpanic"]),
    );
    let panic_file = work.path().join("panic");
    let run = common::spawn_apply(
        work.path(),
        &plan,
        &["--panic-file", panic_file.to_str().unwrap()],
    );
    until_altering(c, &node, "gpanic").await;
    std::fs::write(&panic_file, "").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        alters(c, &node, "gpanic").await,
        0,
        "an ALTER still runs 2 s after the panic file appeared"
    );
    let (code, out, err) = run.await.unwrap();
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("panic (the panic file"), "{err}");
    let o = &report(&out)["outcomes"][0];
    assert_eq!(o["status"], "skipped", "{o}");
    assert!(o["error"].as_str().unwrap().contains("panic"), "{o}");
    drop_local(c, &node, "gpanic").await;
}

/// Kills a child process when dropped (a failing test leaves no pt-heartbeat behind).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// pt-heartbeat (`--update --utc`, every 0.5 s) writing `hb.heartbeat` on `ep`.
fn pt_heartbeat(ep: &Endpoint) -> Reaped {
    Reaped(
        std::process::Command::new("pt-heartbeat")
            .args(["--update", "--utc", "--create-table", "-D", "hb"])
            .args([
                "--interval",
                "0.5",
                "-h",
                &ep.host,
                "-P",
                &ep.port.to_string(),
            ])
            .args(["-u", common::USER, "-p", common::PASSWORD])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pt-heartbeat (percona-toolkit) runs"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_heartbeat_table_gives_the_true_lag_where_seconds_behind_master_says_0() {
    let _g = serial().await;
    let c = cluster();
    let (primary, mid, chained) = (c.primary(), c.replica(1), c.chained());
    c.exec(&primary, &["CREATE DATABASE IF NOT EXISTS hb"])
        .await;
    c.fragment(&[
        TableSpec::sized("gheart", "t1", 8, Pattern::RandomDelete { keep_every: 10 }),
        TableSpec::sized("gheart", "t2", 8, Pattern::RandomDelete { keep_every: 10 }),
    ])
    .await;
    let beat = pt_heartbeat(&primary);
    // The heartbeat row reached the chained replica.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = c.conn(&chained).await;
        let n: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM hb.heartbeat")
            .fetch_one(&mut conn)
            .await;
        if n.is_ok_and(|n| n > 0) {
            break;
        }
        assert!(Instant::now() < end, "no heartbeat row on {chained}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let work = tempfile::tempdir().unwrap();
    let plan = |out: &str, table: &str, timeout: &str| {
        plan_file(
            &work,
            &mid,
            out,
            &args(&[
                "--database",
                "gheart",
                "--table",
                table,
                "--mode",
                "binlog-on",
                "--max-lag",
                "2s",
                "--heartbeat-table",
                "hb.heartbeat",
                "--timeout",
                timeout,
            ]),
        )
    };
    // A live heartbeat: the apply goes through.
    let p1 = plan("gheart1.yaml", "t1", "1m");
    assert!(
        std::fs::read_to_string(&p1)
            .unwrap()
            .contains("heartbeat_table: hb.heartbeat")
    );
    let (code, out, err) = apply(&work, &p1, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let p2 = plan("gheart2.yaml", "t2", "8s");
    // The heartbeat stops: Seconds_Behind_Master stays 0 everywhere, the heartbeat's age grows.
    drop(beat);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, out, err) = apply(&work, &p2, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 5, "{err}");
    let why = report(&out)["outcomes"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("deadline") && why.contains("behind (max_lag 2s)"),
        "held by the heartbeat's lag: {why}"
    );
    c.exec(&primary, &["DROP DATABASE hb"]).await;
}

/// Issue 11.1: a replica the rebuild reaches, made writable during a binlog-on apply, stops it
/// before the next table (the checkpoints re-check every reached node, not only the executing
/// one), so no further rebuild replicates onto it.
#[tokio::test(flavor = "multi_thread")]
async fn a_reached_replica_made_writable_mid_apply_gets_no_further_rebuild() {
    let _g = serial().await;
    let c = cluster();
    let mut first = TableSpec::sized("gwrite", "t1", 24, Pattern::RangeDelete { percent: 30 });
    first.secondary_indexes = 3;
    let mut tables = vec![first];
    for i in 2..=3 {
        tables.push(TableSpec::sized(
            "gwrite",
            &format!("t{i}"),
            8,
            Pattern::RandomDelete { keep_every: 10 },
        ));
    }
    c.fragment(&tables).await;
    let (mid, chained) = (c.replica(1), c.chained());
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &mid,
        "gwrite.yaml",
        &args(&["--database", "gwrite", "--mode", "binlog-on"]),
    );
    let before = spaces(c, &chained, "gwrite").await;
    let run = common::spawn_apply(work.path(), &plan, &[]);
    // The first rebuild runs: the chained replica turns writable (a mis-set failover target).
    until_altering(c, &mid, "gwrite").await;
    c.exec(&chained, &["SET GLOBAL read_only = OFF"]).await;
    let (code, out, err) = run.await.unwrap();
    c.sync_from(&mid, &chained).await;
    let after = spaces(c, &chained, "gwrite").await;
    c.exec(&chained, &["SET GLOBAL read_only = ON"]).await;
    assert_eq!(code, 5, "{err}\n{out}");
    let rep = report(&out);
    let skipped: Vec<&serde_json::Value> = rep["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["table"] != "t1")
        .collect();
    assert_eq!(skipped.len(), 2, "{rep}");
    for o in skipped {
        assert_eq!(o["status"], "skipped", "{o}");
        assert_eq!(o["code"], 1004, "{o}");
        let why = o["error"].as_str().unwrap();
        assert!(
            why.contains("a replica the rebuild reaches changed")
                && why.contains(&chained.to_string())
                && why.contains("read_only=OFF"),
            "{why}"
        );
    }
    assert_eq!(
        after[1], before[1],
        "t2 did not replicate onto the writable replica"
    );
    assert_eq!(
        after[2], before[2],
        "t3 did not replicate onto the writable replica"
    );
}
