//! Applying plans on a real cluster with a chained replica: binlog-off never touches the primary
//! nor writes a binlog event on a replica; binlog-on reaches downstream replicas through
//! replication; stale plans are refused before any DDL. Tests run one at a time (`serial`): they
//! assert on binlog positions and flip read-only flags.

use crate::common::{self, apply, cli, cluster, plan_file, serial};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use serde_json::Value;
use sqlx::Executor;

fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("json report: {e}\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_off_shrinks_every_replica_and_never_touches_the_primary() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[
        TableSpec::sized(
            "boff",
            "orders",
            24,
            Pattern::RandomDelete { keep_every: 10 },
        ),
        TableSpec::sized("boff", "events", 16, Pattern::RangeDelete { percent: 70 }),
    ])
    .await;
    let (p, replicas) = (c.primary(), [c.replica(1), c.replica(2), c.chained()]);
    let primary_file = c.file_size(&p, "boff", "orders").await;
    let primary_pos = c.binlog_position(&p).await;
    let mut before = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let id = [2, 3, 4][i];
        before.push((
            c.file_size(r, "boff", "orders").await,
            c.binlog_position(r).await,
            c.own_gtids(r, id).await,
        ));
    }
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &c.replica(2),
        "boff.yaml",
        &[
            "--scope",
            "cluster",
            "--database",
            "boff",
            "--threshold-mb",
            "1",
        ],
    );
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}");
    let rep = report(&out);
    let outcomes = rep["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 6, "two tables on three replicas");
    for (i, r) in replicas.iter().enumerate() {
        let mine: Vec<&Value> = outcomes
            .iter()
            .filter(|o| o["node"] == r.to_string())
            .collect();
        assert_eq!(mine.len(), 2);
        for o in &mine {
            assert_eq!(o["status"], "done", "{o}");
            assert!(o["bytes_freed"].as_u64().unwrap() > 0, "{o}");
            assert!(
                o["size_after"].as_u64().unwrap() < o["size_before"].as_u64().unwrap(),
                "{o}"
            );
        }
        let (file, pos, gtids) = &before[i];
        assert!(
            c.file_size(r, "boff", "orders").await < *file,
            "{r} shrank on disk"
        );
        assert_eq!(
            &c.binlog_position(r).await,
            pos,
            "{r}: no binlog event written"
        );
        assert_eq!(
            &c.own_gtids(r, [2, 3, 4][i]).await,
            gtids,
            "{r}: no GTID of its own server id"
        );
    }
    assert_eq!(
        c.file_size(&p, "boff", "orders").await,
        primary_file,
        "primary file untouched"
    );
    assert_eq!(
        c.binlog_position(&p).await,
        primary_pos,
        "primary binlog untouched"
    );
    assert!(!out.contains(common::PASSWORD) && !err.contains(common::PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_runs_nothing_and_no_tty_without_yes_refuses() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "dry",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let r = c.replica(1);
    let size = c.file_size(&r, "dry", "t").await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &r,
        "dry.yaml",
        &["--database", "dry", "--threshold-mb", "1"],
    );

    let o = cli(&work)
        .args(["--dry-run", "apply"])
        .arg(&plan)
        .args(["--user", common::USER, "--password", common::PASSWORD])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("-- {r} (binlog-off mode)")), "{out}");
    assert!(out.contains("SET SESSION sql_log_bin = 0;"), "{out}");
    // With its schema as the default database, which replicas' db filters check.
    assert!(
        out.contains(
            "USE `dry`;\nALTER TABLE `dry`.`t` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE;"
        ),
        "{out}"
    );

    let o = cli(&work)
        .arg("apply")
        .arg(&plan)
        .args(["--user", common::USER, "--password", common::PASSWORD])
        .write_stdin("yes\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[1001]") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(c.file_size(&r, "dry", "t").await, size, "nothing ran");
    // And no job was recorded either: the refusal comes first.
    let store = mysql_tablespace_recycling::jobs::Store::open(&work.path().join("data/jobs.db"))
        .await
        .unwrap();
    assert_eq!(store.jobs(None, 10, 0).await.unwrap().1, 0);
    // The store looked at is the one an apply records its job in.
    let (code, _, err) = apply(&work, &plan, &["--yes"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(store.jobs(None, 10, 0).await.unwrap().1, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_on_on_the_intermediate_replica_reaches_the_chained_replica() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "bon",
        "t",
        16,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let (p, r1, r2, ch) = (c.primary(), c.replica(1), c.replica(2), c.chained());
    let sizes = |_: ()| async {
        (
            c.file_size(&p, "bon", "t").await,
            c.file_size(&r1, "bon", "t").await,
            c.file_size(&r2, "bon", "t").await,
            c.file_size(&ch, "bon", "t").await,
        )
    };
    let before = sizes(()).await;
    let primary_pos = c.binlog_position(&p).await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &r1,
        "bon.yaml",
        &[
            "--mode",
            "binlog-on",
            "--database",
            "bon",
            "--threshold-mb",
            "1",
        ],
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains(&format!("propagates_to:\n  - {ch}")),
        "{text}"
    );
    assert!(
        text.contains("errant transaction"),
        "the plan warns: {text}"
    );
    // The chained replica turns writable after the review: the rebuild would replicate to a
    // protected node the plan did not warn about, so preflight refuses (exit 3, nothing runs).
    let mut chained = c.conn(&ch).await;
    chained.execute("SET GLOBAL read_only = OFF").await.unwrap();
    let (code, _, err) = apply(&work, &plan, &["--yes"]);
    chained.execute("SET GLOBAL read_only = ON").await.unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("receives the rebuild but is protected")
            && err.contains("not in the reviewed plan"),
        "{err}"
    );
    assert_eq!(sizes(()).await, before, "nothing ran");
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report(&out)["outcomes"][0]["status"], "done");
    c.sync_from(&r1, &ch).await;
    let after = sizes(()).await;
    assert_eq!(after.0, before.0, "primary untouched");
    assert!(after.1 < before.1, "intermediate replica shrank");
    assert_eq!(after.2, before.2, "the other branch untouched");
    assert!(
        after.3 < before.3,
        "the chained replica shrank through replication"
    );
    assert_eq!(c.binlog_position(&p).await, primary_pos);
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_on_on_the_primary_needs_exclude_primary_false() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "onp",
        "t",
        16,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let p = c.primary();
    let work = tempfile::tempdir().unwrap();
    let o = cli(&work)
        .arg("plan")
        .args(common::target_args(&p))
        .args([
            "--mode",
            "binlog-on",
            "--database",
            "onp",
            "--threshold-mb",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("error[1004]") && err.contains("--exclude-primary=false"),
        "{err}"
    );

    let before: Vec<u64> = {
        let mut v = Vec::new();
        for n in [c.primary(), c.replica(1), c.replica(2), c.chained()] {
            v.push(c.file_size(&n, "onp", "t").await);
        }
        v
    };
    let plan = plan_file(
        &work,
        &p,
        "onp.yaml",
        &[
            "--mode",
            "binlog-on",
            "--exclude-primary=false",
            "--database",
            "onp",
            "--threshold-mb",
            "1",
        ],
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    for r in [c.replica(1), c.replica(2), c.chained()] {
        assert!(
            text.contains(&format!("  - {r}")),
            "propagates to {r}: {text}"
        );
    }
    let (code, _, err) = apply(&work, &plan, &["--yes"]);
    assert_eq!(code, 0, "{err}");
    let mut after = Vec::new();
    for n in [c.replica(1), c.replica(2), c.chained()] {
        c.sync_from(&p, &n).await;
    }
    for n in [c.primary(), c.replica(1), c.replica(2), c.chained()] {
        after.push(c.file_size(&n, "onp", "t").await);
    }
    for i in 0..4 {
        assert!(
            after[i] < before[i],
            "node {i} shrank: {before:?} → {after:?}"
        );
    }
    // `check` flags such a plan: an action on the primary is an error finding.
    let o = cli(&work).arg("check").arg(&plan).output().unwrap();
    assert_eq!(o.status.code(), Some(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_exits_3_and_nothing_runs_anywhere() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "stale",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let nodes = [c.primary(), c.replica(1), c.replica(2), c.chained()];
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &c.replica(1),
        "stale.yaml",
        &[
            "--scope",
            "cluster",
            "--database",
            "stale",
            "--threshold-mb",
            "1",
        ],
    );
    let mut before = Vec::new();
    for n in &nodes {
        before.push(c.file_size(n, "stale", "t").await);
    }
    let r2 = c.replica(2);
    c.exec(&r2, &["SET GLOBAL read_only = OFF"]).await;
    let (code, _, err) = apply(&work, &plan, &["--yes"]);
    c.exec(&r2, &["SET GLOBAL read_only = ON"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("{r2}: read_only ON → OFF")), "{err}");
    assert!(err.contains("nothing was executed"), "{err}");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(
            c.file_size(n, "stale", "t").await,
            before[i],
            "{n} untouched"
        );
    }
    // A digest that is not the reviewed one is refused the same way.
    let (code, _, err) = apply(&work, &plan, &["--yes", "--expect-digest", "sha256:0000"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not the expected sha256:0000"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recycle_plans_in_memory_then_applies() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "rcy",
        "t",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let r = c.replica(2);
    let before = c.file_size(&r, "rcy", "t").await;
    let work = tempfile::tempdir().unwrap();
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = vec!["recycle".into()];
        v.extend(common::target_args(&r));
        v.extend(["--database", "rcy", "--threshold-mb", "1"].map(String::from));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let o = cli(&work)
        .arg("--dry-run")
        .args(args(&[]))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("rcy.t") && out.contains("total: 1 action(s)"),
        "{out}"
    );
    assert_eq!(
        c.file_size(&r, "rcy", "t").await,
        before,
        "dry run changes nothing"
    );
    let o = cli(&work).args(args(&["--yes"])).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(c.file_size(&r, "rcy", "t").await < before);
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 done, 0 failed, 0 skipped"));
}

/// `batch_size` is visible (issue 13 item 11): in binlog-off, after every batch of
/// `batch_size` tables the log says the batch is done and that the checkpoint before the next
/// table passed, and the job view counts `batches_done`.
#[tokio::test(flavor = "multi_thread")]
async fn every_batch_end_is_logged_and_counted_in_binlog_off() {
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[
        TableSpec::sized("batches", "t1", 3, Pattern::RandomDelete { keep_every: 4 }),
        TableSpec::sized("batches", "t2", 3, Pattern::RandomDelete { keep_every: 4 }),
        TableSpec::sized("batches", "t3", 3, Pattern::RandomDelete { keep_every: 4 }),
    ])
    .await;
    let work = tempfile::tempdir().unwrap();
    let r2 = c.replica(2);
    let plan = plan_file(
        &work,
        &r2,
        "batches.yaml",
        &[
            "--database",
            "batches",
            "--threshold-mb",
            "1",
            "--batch-size",
            "2",
        ],
    );
    let (code, _out, err) = apply(&work, &plan, &["--yes"]);
    assert_eq!(code, 0, "{err}");
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    for line in [
        "batch 1 done (2 table(s); 2 of 3 on this node)",
        "checkpoint after batch 1 passed",
        "batch 2 done (1 table(s); 3 of 3 on this node)",
    ] {
        assert!(log.contains(line), "{line:?} not in the log:\n{log}");
    }
    assert!(!log.contains("checkpoint after batch 2"), "{log}");
    let job = err
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .unwrap_or_else(|| panic!("no job id in {err}"))
        .to_string();
    let o = cli(&work)
        .args(["status", "--job-id", &job, "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["progress"]["batches_done"], 2, "{v}");
    assert_eq!(v["config"]["batch_size"], 2, "{v}");
    // Unset fields are omitted in YAML as in JSON (spec §5.1 `omitempty`).
    for doc in [v.clone(), {
        let o = cli(&work)
            .args(["status", "--job-id", &job, "--format", "yaml"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_yaml::from_slice(&o.stdout).unwrap()
    }] {
        assert!(doc.get("error").is_none(), "{doc}");
        assert!(doc["progress"].get("current_table").is_none(), "{doc}");
        assert!(doc["config"].get("tables").is_none(), "{doc}");
        assert_eq!(doc["config"]["mode"], "binlog-off", "{doc}");
        assert!(
            doc["started_at"].is_string() && doc["completed_at"].is_string(),
            "{doc}"
        );
    }
}
