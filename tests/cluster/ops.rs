//! Operating it (issue 16 item 9) on the cluster: preflight names every missing grant of a
//! weak account on every node before any rebuild (1008), and an apply on a terminal colours
//! stderr but writes no colour codes into its log file, with its state under `--state-dir`.

use crate::common::{self, cli, cluster, plan_file, serial, shared};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};

/// `Com_alter_table` of `ep`: how many ALTER TABLE statements it has run.
async fn alters(ep: &Endpoint) -> u64 {
    let mut c = cluster().conn(ep).await;
    let (_, n): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_alter_table'")
        .fetch_one(&mut c)
        .await
        .expect("Com_alter_table");
    n.parse().expect("a count")
}

const WEAK: &str = "ops_weak";
const WEAK_PASSWORD: &str = "Weak-pw-4c1d";

#[tokio::test(flavor = "multi_thread")]
async fn preflight_names_every_missing_grant_on_every_node_before_any_rebuild() {
    // Alone: Com_alter_table is server-wide, and a user is created and dropped.
    let _g = serial().await;
    let c = cluster();
    c.fragment(&[
        TableSpec::sized(
            "opsgrant",
            "orders",
            6,
            Pattern::RandomDelete { keep_every: 4 },
        ),
        TableSpec::sized(
            "opsgrant",
            "events",
            6,
            Pattern::RangeDelete { percent: 70 },
        ),
    ])
    .await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &c.replica(1),
        "grants.yaml",
        &[
            "--scope",
            "cluster",
            "--database",
            "opsgrant",
            "--threshold-mb",
            "1",
        ],
    );
    // Created on the primary, replicated to every node: SELECT on the schema, nothing else.
    let p = c.primary();
    c.exec(
        &p,
        &[
            &format!("CREATE OR REPLACE USER '{WEAK}'@'%' IDENTIFIED BY '{WEAK_PASSWORD}'"),
            &format!("GRANT SELECT ON opsgrant.* TO '{WEAK}'@'%'"),
        ],
    )
    .await;
    let replicas = [c.replica(1), c.replica(2), c.chained()];
    for r in &replicas {
        c.sync_from(if *r == c.chained() { &replicas[0] } else { &p }, r)
            .await;
    }
    let mut before = Vec::new();
    for ep in std::iter::once(&p).chain(&replicas) {
        before.push(alters(ep).await);
    }
    let out = cli(&work)
        .arg("apply")
        .arg(&plan)
        .args(["--yes", "--user", WEAK, "--password", WEAK_PASSWORD])
        .output()
        .unwrap();
    let mut after = Vec::new();
    for ep in std::iter::once(&p).chain(&replicas) {
        after.push(alters(ep).await);
    }
    // The same account with what the README lists for binlog-off gets past the check.
    c.exec(
        &p,
        &[&format!(
            "GRANT SLAVE MONITOR, REPLICATION MASTER ADMIN, PROCESS, BINLOG ADMIN, \
             READ_ONLY ADMIN ON *.* TO '{WEAK}'@'%'"
        )],
    )
    .await;
    c.exec(&p, &[&format!("GRANT ALTER ON opsgrant.* TO '{WEAK}'@'%'")])
        .await;
    for r in &replicas {
        c.sync_from(if *r == c.chained() { &replicas[0] } else { &p }, r)
            .await;
    }
    let granted = cli(&work)
        .arg("apply")
        .arg(&plan)
        .args(["--yes", "--output-format", "json"])
        .args(["--user", WEAK, "--password", WEAK_PASSWORD])
        .output()
        .unwrap();
    c.exec(&p, &[&format!("DROP USER '{WEAK}'@'%'")]).await;

    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[1008]: missing privileges, nothing was executed"),
        "{err}"
    );
    let line = err.lines().find(|l| l.starts_with("error[1008]")).unwrap();
    // Every node the plan rebuilds on, with every privilege; the primary for discovery.
    let per_node: Vec<&str> = line.split(" | ").collect();
    for r in &replicas {
        let part = per_node
            .iter()
            .find(|x| x.contains(&format!("{r} lacks")))
            .unwrap_or_else(|| panic!("{r} not named: {line}"));
        for privilege in [
            "SLAVE MONITOR or SUPER",
            "REPLICATION MASTER ADMIN",
            "PROCESS",
            "BINLOG ADMIN or SUPER",
            "READ_ONLY ADMIN",
        ] {
            assert!(
                part.contains(privilege),
                "{r}: {privilege} not named: {part}"
            );
        }
        assert!(
            part.contains("ALTER on opsgrant.")
                && part.contains("opsgrant.orders")
                && part.contains("opsgrant.events"),
            "{part}"
        );
    }
    let primary = per_node
        .iter()
        .find(|x| x.contains(&format!("{p} lacks")))
        .unwrap_or_else(|| panic!("the primary not named: {line}"));
    assert!(
        primary.contains("SLAVE MONITOR") && !primary.contains("ALTER"),
        "the primary only discovery: {primary}"
    );
    assert!(!err.contains(WEAK_PASSWORD), "{err}");
    assert_eq!(before, after, "no ALTER ran anywhere");

    let err = String::from_utf8_lossy(&granted.stderr);
    assert_eq!(granted.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&granted.stdout).unwrap();
    let outcomes = report["outcomes"].as_array().unwrap();
    assert!(
        !outcomes.is_empty() && outcomes.iter().all(|o| o["status"] == "done"),
        "{report}"
    );
}

/// `'text'`: one shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_stderr_has_colour_and_the_log_file_none() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` (util-linux) to run the binary under a terminal");
        return;
    }
    let _g = shared().await;
    let c = cluster();
    c.fragment(&[TableSpec::sized(
        "opstty",
        "orders",
        6,
        Pattern::RandomDelete { keep_every: 4 },
    )])
    .await;
    // Planned elsewhere: the plan records itself in that directory's default store.
    let planning = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &planning,
        &c.replica(2),
        "tty.yaml",
        &["--database", "opstty", "--threshold-mb", "1"],
    );
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let log = work.path().join("tty.log");
    let bin = env!("CARGO_BIN_EXE_mysql-tablespace-recycling");
    let command = [
        bin,
        "--state-dir",
        state.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
        "apply",
        plan.to_str().unwrap(),
        "--yes",
        "--user",
        common::USER,
        "--password",
        common::PASSWORD,
    ]
    .map(sh_quote)
    .join(" ");
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(work.path())
        .env_remove("NO_COLOR")
        .env_remove("RECYCLER_LOG_FILE")
        .env_remove("RECYCLER_DB_PASSWORD")
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(terminal.contains("0 failed"), "{terminal}");
    assert!(
        terminal.contains("\x1b["),
        "the terminal gets colour: {terminal:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("rebuilt"), "{text}");
    assert!(
        text.contains("node=") && !text.contains('\x1b'),
        "colour codes in the log file: {text:?}"
    );
    // The job store is under the state dir, and `status` reads it there.
    assert!(state.join("jobs.db").is_file());
    assert!(!work.path().join("data").exists());
    let status = cli(&work)
        .args([
            "--state-dir",
            state.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && listed.contains("\"completed\""),
        "{listed}"
    );
}
