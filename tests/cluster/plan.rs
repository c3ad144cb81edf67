//! Planning against a real sandbox cluster: estimate accuracy, scopes, thresholds, filters,
//! quoting, the plan file and the review commands' exit codes. Each test has its own schema.

use crate::common::{PASSWORD, cli, cluster, plan_file, shared, target_args};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::plan::{Plan, read_plan};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use std::path::Path;

/// Runs `plan` through the binary, writing `out`; returns the parsed plan.
fn plan_to(work: &tempfile::TempDir, seed: &Endpoint, out: &str, extra: &[&str]) -> Plan {
    read_plan(&plan_file(work, seed, out, extra)).expect("the written plan reads back")
}

fn actions_on(p: &Plan, ep: &Endpoint) -> Vec<String> {
    p.nodes
        .iter()
        .filter(|n| n.address == *ep)
        .flat_map(|n| {
            n.actions
                .iter()
                .map(|a| format!("{}.{}", a.schema, a.table))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn estimate_is_within_15_percent_of_what_a_rebuild_frees() {
    let _g = shared().await;
    let c = cluster();
    let tables = vec![
        TableSpec::sized(
            "acc",
            "random90",
            110,
            Pattern::RandomDelete { keep_every: 10 },
        ),
        TableSpec::sized("acc", "range60", 110, Pattern::RangeDelete { percent: 60 }),
        TableSpec::sized(
            "acc",
            "shrunk",
            110,
            Pattern::ShrinkUpdate {
                percent: 70,
                to_bytes: 30,
            },
        ),
    ];
    c.fragment(&tables).await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let p = plan_to(
        &work,
        &node,
        "acc.json",
        &[
            "--database",
            "acc",
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
            "--analyze",
        ],
    );
    let mut worst: f64 = 0.0;
    for t in &tables {
        let a = p
            .actions()
            .map(|(_, a)| a)
            .find(|a| a.table == t.table)
            .unwrap_or_else(|| panic!("{} planned", t.table));
        assert!(
            a.file_size_bytes >= 100 << 20,
            "{} is at least 100 MiB",
            t.table
        );
        let freed = c.rebuild_locally(&node, "acc", &t.table).await;
        let est = a.estimated_reclaim_bytes;
        let err = (est as f64 - freed as f64).abs() / freed as f64;
        let df_err = (a.data_free_bytes as f64 - freed as f64).abs() / freed as f64;
        println!(
            "{:<10} file {:>10}  estimated {:>10} ({})  freed {:>10}  error {:>5.1}%  | DATA_FREE {:>10} error {:>5.1}%",
            t.table,
            a.file_size_bytes,
            est,
            a.estimate_method,
            freed,
            err * 100.0,
            a.data_free_bytes,
            df_err * 100.0
        );
        assert!(freed > 0);
        worst = worst.max(err);
        assert!(err <= 0.15, "{}: estimated {est}, freed {freed}", t.table);
    }
    println!("worst error {:.1}%", worst * 100.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_scope_from_any_node_plans_every_replica_and_never_the_primary() {
    let _g = shared().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "scope",
        "frag",
        8,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let work = tempfile::tempdir().unwrap();
    let args = [
        "--scope",
        "cluster",
        "--database",
        "scope",
        "--threshold-mb",
        "1",
    ];
    for (i, seed) in [c.primary(), c.replica(1), c.chained()].iter().enumerate() {
        let p = plan_to(&work, seed, &format!("scope{i}.yaml"), &args);
        assert!(
            actions_on(&p, &c.primary()).is_empty(),
            "nothing on the primary"
        );
        for r in [c.replica(1), c.replica(2), c.chained()] {
            assert_eq!(
                actions_on(&p, &r),
                vec!["scope.frag".to_string()],
                "seed {seed}"
            );
        }
        let prim = p
            .skipped
            .iter()
            .find(|s| s.address == c.primary().to_string())
            .expect("primary under skipped");
        assert!(prim.schema.is_none() && prim.reason.starts_with("primary"));
        assert_eq!(p.summary.actions, 3);
        assert_eq!(p.summary.nodes, 3);
    }
    // --scope node on the primary is refused with 1004, naming the eligible nodes.
    let o = cli(&work)
        .arg("plan")
        .args(target_args(&c.primary()))
        .args(["--database", "scope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("error[1004]"), "{err}");
    assert!(err.contains(&c.replica(1).to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn thresholds_and_filters_select_exactly_the_expected_tables() {
    let _g = shared().await;
    let c = cluster();
    let mut specs = Vec::new();
    for db in ["sel_a", "sel_b"] {
        specs.push(TableSpec::sized(
            db,
            "big",
            20,
            Pattern::RandomDelete { keep_every: 10 },
        ));
        specs.push(TableSpec::sized(
            db,
            "half",
            12,
            Pattern::RangeDelete { percent: 50 },
        ));
        specs.push(TableSpec::sized(
            db,
            "small",
            3,
            Pattern::RandomDelete { keep_every: 2 },
        ));
        specs.push(TableSpec::sized(db, "plain", 10, Pattern::None));
    }
    c.fragment(&specs).await;
    let node = c.replica(1);
    let work = tempfile::tempdir().unwrap();
    let pick = |name: &str, extra: &[&str]| {
        let mut v = actions_on(&plan_to(&work, &node, name, extra), &node);
        v.sort();
        v
    };
    // Estimated on this fixture (MiB reclaim, %): big 27 / 90, half 14 / 64, small 9 / 82,
    // plain 8 / 40 (a compact-looking table still has free extents and half-full index pages).
    assert_eq!(
        pick(
            "t1.yaml",
            &[
                "--database",
                "sel_a",
                "--threshold-mb",
                "20",
                "--threshold-percent",
                "1"
            ]
        ),
        vec!["sel_a.big"],
        "MB threshold"
    );
    assert_eq!(
        pick(
            "t2.yaml",
            &[
                "--database",
                "sel_a",
                "--threshold-mb",
                "3",
                "--threshold-percent",
                "50"
            ]
        ),
        vec!["sel_a.big", "sel_a.half", "sel_a.small"],
        "percent threshold"
    );
    assert_eq!(
        pick(
            "t3.yaml",
            &[
                "--database",
                "sel_a",
                "--threshold-mb",
                "11",
                "--threshold-percent",
                "70"
            ]
        ),
        vec!["sel_a.big"],
        "both must hold: half fails the percent, small the MB"
    );
    // Globs and excludes across databases.
    assert_eq!(
        pick(
            "t4.yaml",
            &[
                "--database",
                "sel_*",
                "--exclude-database",
                "sel_b",
                "--table",
                "b*",
                "--table",
                "h?lf",
                "--threshold-mb",
                "1",
                "--threshold-percent",
                "20"
            ]
        ),
        vec!["sel_a.big", "sel_a.half"]
    );
    assert_eq!(
        pick(
            "t5.yaml",
            &[
                "--database",
                "sel_b",
                "--exclude-table",
                "big",
                "--exclude-table",
                "pl*",
                "--threshold-mb",
                "1",
                "--threshold-percent",
                "20"
            ]
        ),
        vec!["sel_b.half", "sel_b.small"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_appears_nowhere_in_plan_files() {
    let _g = shared().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "pw",
        "frag",
        4,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let work = tempfile::tempdir().unwrap();
    for out in ["p.yaml", "p.json"] {
        let p = plan_to(
            &work,
            &c.replica(1),
            out,
            &[
                "--database",
                "pw",
                "--threshold-mb",
                "1",
                "--scope",
                "cluster",
            ],
        );
        assert!(p.summary.actions > 0);
        let text = std::fs::read_to_string(work.path().join(out)).unwrap();
        assert!(!text.contains(PASSWORD), "password in {out}");
    }
    let o = cli(&work)
        .arg("plan")
        .args(target_args(&c.replica(1)))
        .args([
            "--database",
            "pw",
            "--threshold-mb",
            "1",
            "--output-format",
            "yaml",
        ])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    // The plan was printed: the password is not in it because it was left out.
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("format_version: 1") && out.contains("table: frag"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD));
    assert!(!err.contains(PASSWORD));
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    assert!(!log.contains(PASSWORD), "password in the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_named_with_a_backtick_a_space_and_a_dot_round_trips() {
    let _g = shared().await;
    let c = cluster();
    let (schema, table) = ("odd schema", "we`ird. name");
    c.fragment(&[TableSpec::sized(
        schema,
        table,
        6,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let node = c.replica(2);
    let work = tempfile::tempdir().unwrap();
    let p = plan_to(
        &work,
        &node,
        "odd.yaml",
        &["--database", schema, "--threshold-mb", "1"],
    );
    let (_, a) = p.actions().next().expect("the odd table is planned");
    assert_eq!((a.schema.as_str(), a.table.as_str()), (schema, table));
    assert_eq!(
        a.statement,
        "ALTER TABLE `odd schema`.`we``ird. name` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE"
    );
    // The statement is valid SQL for that very table: run it and the file shrinks.
    let before = c.file_size(&node, schema, table).await;
    c.exec(&node, &["SET SESSION sql_log_bin = 0", &a.statement])
        .await;
    assert!(c.file_size(&node, schema, table).await < before);
}

fn run_exit(work: &tempfile::TempDir, args: &[&str]) -> (i32, String, String) {
    let o = cli(work).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn detailed_exitcode_diff_and_check_exit_codes() {
    let _g = shared().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "rev",
        "frag",
        6,
        Pattern::RandomDelete { keep_every: 10 },
    )])
    .await;
    let work = tempfile::tempdir().unwrap();
    let node = c.replica(1);
    let base: Vec<String> = target_args(&node);
    let base: Vec<&str> = base.iter().map(String::as_str).collect();
    let w = work.path();
    let full = w.join("full.yaml");
    let empty = w.join("empty.yaml");
    let mut args = vec!["plan"];
    args.extend(&base);
    let mut full_args = args.clone();
    full_args.extend([
        "--database",
        "rev",
        "--threshold-mb",
        "1",
        "--detailed-exitcode",
        "--out",
    ]);
    full_args.push(full.to_str().unwrap());
    assert_eq!(run_exit(&work, &full_args).0, 2, "actions → 2");
    let mut empty_args = args.clone();
    empty_args.extend(["--database", "no_such_db", "--detailed-exitcode", "--out"]);
    empty_args.push(empty.to_str().unwrap());
    assert_eq!(run_exit(&work, &empty_args).0, 0, "empty plan → 0");

    let (f, e) = (full.to_str().unwrap(), empty.to_str().unwrap());
    assert_eq!(run_exit(&work, &["diff", f, f]).0, 0);
    let (code, out, _) = run_exit(&work, &["diff", e, f]);
    assert_eq!(code, 2);
    assert!(out.contains(&format!("+ {node} rev.frag")), "{out}");
    assert!(
        out.contains("--- ") && out.contains("+++ "),
        "unified diff: {out}"
    );

    assert_eq!(run_exit(&work, &["check", f]).0, 0);
    assert_eq!(run_exit(&work, &["show", f]).0, 0);
    let policy = w.join("policy.yaml");
    std::fs::write(&policy, "max_actions: 0\n").unwrap();
    let (code, out, _) = run_exit(&work, &["check", f, "--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("too_many_actions"), "{out}");

    // A hand edit that makes the rebuild blocking without allow_blocking is refused on read.
    let text = std::fs::read_to_string(&full).unwrap();
    let blocking = w.join("blocking.yaml");
    std::fs::write(
        &blocking,
        text.replace("LOCK=NONE", "LOCK=SHARED")
            .replace("online: true", "online: false"),
    )
    .unwrap();
    let (code, _, err) = run_exit(&work, &["check", blocking.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error[1001]") && err.contains("nodes[0].actions[0].online"),
        "{err}"
    );
    // Any other hand edit reads (show, check warn) but apply wants the new digest pinned.
    let edited = w.join("edited.yaml");
    std::fs::write(&edited, text.replace("batch_size: 5", "batch_size: 2")).unwrap();
    let (code, out, _) = run_exit(&work, &["check", edited.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("digest_mismatch"), "{out}");
    let new_digest = read_plan(&edited).unwrap().computed_digest();
    let (code, _, err) = run_exit(
        &work,
        &["apply", edited.to_str().unwrap(), "--user", "u", "--yes"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("was edited after it was made")
            && err.contains(&format!("--expect-digest {new_digest}")),
        "{err}"
    );

    // SQL text that is not what apply builds is refused when read (1001, naming the path).
    let tampered = w.join("tampered.yaml");
    std::fs::write(
        &tampered,
        text.replace("ENGINE=InnoDB", "ENGINE=InnoDB; DROP TABLE x"),
    )
    .unwrap();
    let (code, _, err) = run_exit(&work, &["show", tampered.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error[1001]") && err.contains("nodes[0].actions[0].statement"),
        "{err}"
    );

    // Unknown fields and formats are refused with the path.
    let unknown = w.join("unknown.yaml");
    std::fs::write(&unknown, text.replace("batch_size:", "batch_sise:")).unwrap();
    let (_, _, err) = run_exit(&work, &["show", unknown.to_str().unwrap()]);
    assert!(
        err.contains("error[1001]") && err.contains("settings.batch_sise"),
        "{err}"
    );
    let future = w.join("future.yaml");
    std::fs::write(
        &future,
        text.replace("format_version: 1", "format_version: 2"),
    )
    .unwrap();
    let (_, _, err) = run_exit(&work, &["check", future.to_str().unwrap()]);
    assert!(err.contains("format_version: 2 is not supported"), "{err}");
    // The plan as written is sealed: its digest is its content's.
    let p = read_plan(Path::new(f)).unwrap();
    assert_eq!(p.digest, p.computed_digest());
}

#[tokio::test]
async fn sandbox_fragment_builds_the_demo_schema() {
    let _g = shared().await;
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let dir = c.sandbox.dir.to_str().unwrap();
    let (code, out, err) = run_exit(
        &work,
        &[
            "sandbox",
            "fragment",
            "--dir",
            dir,
            "--schema",
            "demo",
            "--size-mb",
            "3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for t in [
        "orders",
        "events",
        "sessions",
        "docs",
        "logs",
        "tiny",
        "customers",
    ] {
        assert!(out.contains(&format!("demo.{t}")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_privileges_are_error_1008_naming_the_privilege() {
    let _g = shared().await;
    let c = cluster();
    let node = c.replica(1);
    // An account on this replica only (binlog off), without PROCESS.
    c.exec(
        &node,
        &[
            "SET SESSION sql_log_bin = 0",
            "CREATE OR REPLACE USER 'limited'@'%' IDENTIFIED BY 'limited-pw'",
            "GRANT SELECT, SLAVE MONITOR, REPLICATION MASTER ADMIN ON *.* TO 'limited'@'%'",
        ],
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let o = cli(&work)
        .args([
            "plan",
            "--host",
            &node.host,
            "--port",
            &node.port.to_string(),
        ])
        .args(["--user", "limited", "--password", "limited-pw"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[1008]") && err.contains("missing privilege PROCESS"),
        "{err}"
    );
    assert!(err.contains(&node.to_string()), "{err}");
}
