//! Snapshots of what people read, from fixed fixtures (no cluster): the topology tree (and its
//! JSON and YAML), the plan table (`show`), the check table and its JSON, the diff, the job list
//! and one job (`status`, as text, JSON and YAML) and `monitor` (table and JSON).
//!
//! Renderers that are the CLI's own run through the binary, so their tables are laid out for a
//! pipe (120 columns) whatever terminal the tests run in. What depends on the clock — a running
//! job's times, the monitor's header — is redacted or filtered; everything else is fixed.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::cli;
use insta::{assert_snapshot, with_settings};
use mysql_tablespace_recycling::apply::{ActionOutcome, ActionStatus, Ledger, RunState};
use mysql_tablespace_recycling::error::ErrorCode;
use mysql_tablespace_recycling::jobs::{JobKind, JobPhase, JobRecord, JobStatus, Store};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::mysql::flavor::Flavor;
use mysql_tablespace_recycling::plan::{Plan, diff, read_plan, rebuild_statement, write_plan};
use mysql_tablespace_recycling::topology::{
    ClusterTopology, DatabaseNode, OutputFormat, ReplicationState, Role, SeenNode, TopologyTree,
    Truncation, render,
};
use serde_json::{Value, json};
use std::path::Path;

fn at(t: &str) -> DateTime<Utc> {
    t.parse().expect("a fixed time")
}

/// Runs the binary in `work` with `args`; asserts its exit code and returns its stdout.
fn run(work: &tempfile::TempDir, args: &[&str], code: i32) -> String {
    let o = cli(work).args(args).output().expect("run the binary");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}\n{out}");
    out
}

// ---------------------------------------------------------------------------------------------
// The topology.

fn node(port: u16, id: u32, role: Role, slaves: Vec<DatabaseNode>) -> DatabaseNode {
    let replica = role == Role::Slave;
    DatabaseNode {
        host: "127.0.0.1".into(),
        port,
        server_id: id,
        role,
        read_only: replica,
        lag_seconds: replica.then_some(0),
        version: "10.11.19-MariaDB-log".into(),
        server_uuid: None,
        super_read_only: None,
        flavor: Some(Flavor::MariaDb),
        log_bin: true,
        log_slave_updates: true,
        gtid_mode: Some("ON".into()),
        source: None,
        replication: replica.then(|| ReplicationState {
            channel: String::new(),
            io_running: "Yes".into(),
            sql_running: "Yes".into(),
            gtid: Some("Slave_Pos".into()),
            last_error: None,
            delay_seconds: 0,
            filters: Default::default(),
        }),
        error: None,
        slaves,
    }
}

/// A primary; replica 1 with a delayed chained replica (super_read_only on) below it; replica 2
/// stopped on an error; a replica that does not answer; one announced without a port.
fn topology() -> ClusterTopology {
    let mut chained = node(23309, 4, Role::Slave, vec![]);
    chained.source = Some(Endpoint::new("127.0.0.1", 23307));
    chained.lag_seconds = Some(3605);
    chained.super_read_only = Some(true);
    if let Some(r) = chained.replication.as_mut() {
        r.delay_seconds = 3600;
    }
    let mut r1 = node(23307, 2, Role::Slave, vec![chained]);
    r1.source = Some(Endpoint::new("127.0.0.1", 23306));
    let mut r2 = node(23308, 3, Role::Slave, vec![]);
    r2.source = Some(Endpoint::new("127.0.0.1", 23306));
    r2.lag_seconds = None;
    if let Some(r) = r2.replication.as_mut() {
        r.io_running = "No".into();
        r.sql_running = "No".into();
        r.last_error = Some("Duplicate entry '7' for key 'PRIMARY'".into());
    }
    let mut gone = node(3306, 5, Role::Slave, vec![]);
    gone.host = "10.0.0.9".into();
    gone.error = Some("cannot connect to 10.0.0.9:3306: connection refused".into());
    let mut portless = node(0, 0, Role::Slave, vec![]);
    portless.host = "db-7.example".into();
    portless.error = Some("announced by 127.0.0.1:23306 without a port".into());
    ClusterTopology {
        cluster_id: "cluster-8618e7901b7f".into(),
        cluster_name: "sandbox".into(),
        discover_time: at("2026-11-26T20:31:00Z"),
        topology: TopologyTree {
            master: node(23306, 1, Role::Master, vec![r1, r2, gone, portless]),
        },
        truncated: None,
        missing: Vec::new(),
    }
}

#[test]
fn topology_tree() {
    assert_snapshot!(render(&topology(), OutputFormat::Table).unwrap());
}

/// A tree `--max-depth 1` cut both ways: walked from replica 1, whose source (the primary) was
/// not probed, with the chained replica below it not probed either.
#[test]
fn topology_tree_truncated() {
    let mut t = topology();
    let mut r1 = t.topology.master.slaves.remove(0);
    r1.slaves.clear();
    t.topology.master = r1;
    t.truncated = Some(Truncation {
        max_depth: 1,
        source_not_reached: Some(Endpoint::new("127.0.0.1", 23306)),
        replicas_below: 1,
        not_probed_below: vec![Endpoint::new("127.0.0.1", 23307)],
    });
    assert_snapshot!(render(&t, OutputFormat::Table).unwrap());
}

/// Replica 1 (with the chained replica below it) and replica 2 with replication filters: the
/// tree prints each one set under the replica, as pt-slave-find does; JSON and YAML carry them.
fn filtered_topology() -> ClusterTopology {
    let mut t = topology();
    let slaves = &mut t.topology.master.slaves;
    if let Some(r) = slaves[0].replication.as_mut() {
        r.filters.wild_ignore_table = vec!["big%.%".into(), r"shop.log\_%".into()];
        r.filters.ignore_db = vec!["scratch".into()];
    }
    if let Some(r) = slaves[1].replication.as_mut() {
        r.filters.do_db = vec!["shop".into(), "crm".into()];
    }
    t
}

#[test]
fn topology_tree_with_filters() {
    assert_snapshot!(render(&filtered_topology(), OutputFormat::Table).unwrap());
}

#[test]
fn topology_json_with_filters() {
    assert_snapshot!(render(&filtered_topology(), OutputFormat::Json).unwrap());
}

#[test]
fn topology_yaml_with_filters() {
    assert_snapshot!(render(&filtered_topology(), OutputFormat::Yaml).unwrap());
}

#[test]
fn topology_json() {
    assert_snapshot!(render(&topology(), OutputFormat::Json).unwrap());
}

#[test]
fn topology_yaml() {
    assert_snapshot!(render(&topology(), OutputFormat::Yaml).unwrap());
}

/// Nodes earlier discoveries found and this one did not: a replica whose replication stopped
/// (its source forgot it) and a former primary of the cluster.
fn missing() -> Vec<SeenNode> {
    vec![
        SeenNode {
            address: Endpoint::new("10.0.0.7", 3306),
            server_id: Some(7),
            server_uuid: None,
            role: Role::Master,
            source: None,
            first_seen: at("2026-10-01T08:00:00Z"),
            last_seen: at("2026-11-20T09:15:00.250Z"),
        },
        SeenNode {
            address: Endpoint::new("127.0.0.1", 23310),
            server_id: Some(6),
            server_uuid: None,
            role: Role::Slave,
            source: Some(Endpoint::new("127.0.0.1", 23307)),
            first_seen: at("2026-11-26T06:00:00Z"),
            last_seen: at("2026-11-26T20:10:11Z"),
        },
    ]
}

fn topology_with_missing() -> ClusterTopology {
    let mut t = topology();
    t.topology.master.slaves.truncate(2);
    t.missing = missing();
    t
}

#[test]
fn topology_tree_with_missing_nodes() {
    assert_snapshot!(render(&topology_with_missing(), OutputFormat::Table).unwrap());
}

#[test]
fn topology_json_with_missing_nodes() {
    assert_snapshot!(render(&topology_with_missing(), OutputFormat::Json).unwrap());
}

#[test]
fn topology_yaml_with_missing_nodes() {
    assert_snapshot!(render(&topology_with_missing(), OutputFormat::Yaml).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Plans: the table of `show`, `check`, `diff`.

fn example(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans")
        .join(name);
    read_plan(&path).expect("the example plan reads")
}

/// Writes `plan` into `work` as `name` (YAML) and returns `name`.
fn put<'a>(work: &tempfile::TempDir, name: &'a str, plan: &Plan) -> &'a str {
    write_plan(&work.path().join(name), plan).expect("write the plan");
    name
}

#[test]
fn plan_table_binlog_off() {
    let work = tempfile::tempdir().unwrap();
    let f = put(&work, "off.yaml", &example("example-binlog-off.yaml"));
    assert_snapshot!(run(&work, &["show", f], 0));
}

/// Warnings every action of a node carries are printed once below the table, and the nodes a
/// rebuild replicates to are named.
#[test]
fn plan_table_binlog_on() {
    let work = tempfile::tempdir().unwrap();
    let f = put(&work, "on.yaml", &example("example-binlog-on.yaml"));
    assert_snapshot!(run(&work, &["show", f], 0));
}

/// `show --chart`: the plan's fragmentation as an SVG bar chart (issue 17 item 5), a
/// well-formed XML document (read back by Python's parser) with a table name that needs escaping.
#[test]
fn plan_chart_svg() {
    use mysql_tablespace_recycling::mysql::quote_ident;
    let work = tempfile::tempdir().unwrap();
    let mut p = example("example-binlog-on.yaml");
    let a = &mut p.nodes[0].actions[0];
    let (old, new) = (quote_ident(&a.table), quote_ident("a<b&c"));
    a.statement = a.statement.replace(&old, &new);
    a.table = "a<b&c".into();
    p.seal();
    let f = put(&work, "on.yaml", &p);
    run(&work, &["show", f, "--chart", "chart.svg"], 0);
    let svg = std::fs::read_to_string(work.path().join("chart.svg")).unwrap();
    assert!(svg.contains("a&lt;b&amp;c"), "{svg}");
    let parsed = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(work.path().join("chart.svg"))
        .output()
        .expect("python3 (scripts/deps installs it)");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_snapshot!(svg);
}

#[test]
fn plan_table_of_an_empty_plan() {
    let work = tempfile::tempdir().unwrap();
    let mut p = example("example-binlog-off.yaml");
    for n in &mut p.nodes {
        n.actions.clear();
    }
    p.seal();
    let f = put(&work, "empty.yaml", &p);
    assert_snapshot!(run(&work, &["show", f], 0));
}

/// A plan whose discovery missed nodes seen before: a warning below the table, and a
/// `missing_node` finding each.
#[test]
fn plan_and_check_tables_with_missing_nodes() {
    let work = tempfile::tempdir().unwrap();
    let mut p = example("example-binlog-off.yaml");
    p.missing = missing();
    p.seal();
    let f = put(&work, "missing.yaml", &p);
    assert_snapshot!("plan_table_with_missing_nodes", run(&work, &["show", f], 0));
    assert_snapshot!(
        "check_table_with_missing_nodes",
        run(&work, &["check", f], 0)
    );
}

#[test]
fn check_table() {
    let work = tempfile::tempdir().unwrap();
    let f = put(&work, "on.yaml", &example("example-binlog-on.yaml"));
    assert_snapshot!(run(&work, &["check", f], 0));
}

/// A policy that makes findings errors (exit 4), and a hand edit (digest and summary).
#[test]
fn check_table_with_errors() {
    let work = tempfile::tempdir().unwrap();
    let mut p = example("example-binlog-off.yaml");
    p.nodes[2].read_only = false;
    p.nodes[0].actions.pop();
    let f = put(&work, "edited.yaml", &p);
    std::fs::write(
        work.path().join("policy.yaml"),
        "max_actions: 4\nrequire_mode: binlog-on\nlarge_table_bytes: 67108864\n\
         severity:\n  large_table: error\n",
    )
    .unwrap();
    assert_snapshot!(run(&work, &["check", f, "--policy", "policy.yaml"], 4));
}

#[test]
fn check_json() {
    let work = tempfile::tempdir().unwrap();
    let f = put(&work, "on.yaml", &example("example-binlog-on.yaml"));
    assert_snapshot!(run(&work, &["check", f, "--output-format", "json"], 0));
}

/// Every kind of change: settings, a node replaced, actions added, removed and made blocking,
/// and an estimate that moved (listed, not a change).
#[test]
fn diff_of_two_plans() {
    let old = example("example-binlog-off.yaml");
    let mut new = old.clone();
    new.plan_id = "plan-20261127-001".into();
    new.created_at = at("2026-11-27T08:00:00Z");
    new.settings.batch_size = 2;
    new.nodes[0].actions[2].estimated_reclaim_bytes += 1 << 20;
    let logs = &mut new.nodes[1].actions[1];
    logs.online = false;
    logs.statement = rebuild_statement("shop", "logs", false);
    let mut docs = new.nodes[1].actions[0].clone();
    docs.table = "docs".into();
    docs.statement = rebuild_statement("shop", "docs", true);
    new.nodes[1].actions.insert(0, docs);
    new.nodes[2].actions.pop();
    new.nodes[2].server_id = 14;
    new.seal();
    let d = diff(&old, &new, ("old.yaml", "new.yaml"));
    assert!(d.has_changes());
    assert_snapshot!(d.render());
}

// ---------------------------------------------------------------------------------------------
// Jobs: `status` and `monitor` read the local store, filled here with fixed jobs.

const DIGEST: &str = "sha256:14ec1e19971943e37b33dc6638d065a12e668b2ff1f7d303b160183540c69c0e";

fn job(id: &str, kind: JobKind, status: JobStatus, created: DateTime<Utc>) -> JobRecord {
    let mut j = JobRecord::new(id.into(), kind, status, json!({"mode": "binlog-on"}));
    j.created_at = created;
    j.plan_id = Some("plan-20261126-002".into());
    j.plan_digest = Some(DIGEST.into());
    // No owner: the store leaves a pending or running job as it is.
    j.owner_pid = None;
    j
}

/// `table` of `shop` on `127.0.0.1:port`, run for `secs` from `started`; no sizes, no error.
fn outcome(
    port: u16,
    table: &str,
    status: ActionStatus,
    started: DateTime<Utc>,
    secs: i64,
) -> ActionOutcome {
    ActionOutcome {
        started_at: Some(started),
        finished_at: started + Duration::seconds(secs),
        ..ActionOutcome::new(&format!("127.0.0.1:{port}"), "shop", table, status)
    }
}

/// `o` with its file sizes measured.
fn sized(o: ActionOutcome, before: u64, after: u64) -> ActionOutcome {
    ActionOutcome {
        size_before: Some(before),
        size_after: Some(after),
        bytes_freed: before - after,
        ..o
    }
}

/// `o` with why it did not rebuild.
fn why(o: ActionOutcome, error: &str, code: Option<ErrorCode>) -> ActionOutcome {
    ActionOutcome {
        error: Some(error.into()),
        code,
        ..o
    }
}

/// The running job's times: now-relative, so its elapsed time stays short and the tables keep
/// their layout.
struct Clock {
    started: DateTime<Utc>,
    since: DateTime<Utc>,
}

impl Clock {
    /// `text` with the running job's timestamps (as serde writes them) named instead.
    fn named(&self, text: &str) -> String {
        let stamp = |t: &DateTime<Utc>| {
            serde_json::to_value(t)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(text.contains(&stamp(&self.started)), "{text}");
        text.replace(&stamp(&self.started), "[started]")
            .replace(&stamp(&self.since), "[since]")
    }
}

const RUNNING: &str = "job-20261201-001";

/// The local store of `work`: a completed apply (one table no longer needing a rebuild), a
/// failed one (a statement error, a deadline), a dry run, a queued job and a running one held
/// by replica lag.
async fn store(work: &tempfile::TempDir) -> Clock {
    let s = Store::open(&work.path().join("data/jobs.db"))
        .await
        .unwrap();
    let t = at;

    let mut done = job(
        "job-20261126-001",
        JobKind::Apply,
        JobStatus::Completed,
        t("2026-11-26T21:29:00Z"),
    );
    done.phase = Some(JobPhase::Applying);
    done.started_at = Some(t("2026-11-26T21:30:00Z"));
    done.completed_at = Some(t("2026-11-26T21:45:30Z"));
    let unneeded = ActionOutcome {
        started_at: None,
        unneeded: true,
        ..why(
            outcome(
                23307,
                "docs",
                ActionStatus::Skipped,
                t("2026-11-26T21:30:01Z"),
                0,
            ),
            "no longer qualifies: the file is 96.0 KiB now",
            None,
        )
    };
    let done_outcomes = [
        unneeded,
        sized(
            outcome(
                23307,
                "events",
                ActionStatus::Done,
                t("2026-11-26T21:30:02Z"),
                312,
            ),
            54_525_952,
            16_777_216,
        ),
        sized(
            outcome(
                23307,
                "orders",
                ActionStatus::Done,
                t("2026-11-26T21:35:20Z"),
                610,
            ),
            54_525_952,
            4_194_304,
        ),
    ];

    let mut failed = job(
        "job-20261126-002",
        JobKind::Apply,
        JobStatus::Failed,
        t("2026-11-26T22:00:00Z"),
    );
    failed.phase = Some(JobPhase::Applying);
    failed.started_at = Some(t("2026-11-26T22:00:05Z"));
    failed.completed_at = Some(t("2026-11-26T23:00:05Z"));
    failed.error = Some("some tables failed or were skipped".into());
    let failed_outcomes = [
        sized(
            outcome(
                23308,
                "events",
                ActionStatus::Done,
                t("2026-11-26T22:00:06Z"),
                300,
            ),
            54_525_952,
            20_971_520,
        ),
        why(
            sized(
                outcome(
                    23308,
                    "logs",
                    ActionStatus::Failed,
                    t("2026-11-26T22:05:07Z"),
                    2,
                ),
                83_886_080,
                83_886_080,
            ),
            "127.0.0.1:23308: ALTER TABLE `shop`.`logs`: The table 'logs' is full",
            Some(ErrorCode::Internal),
        ),
        why(
            outcome(
                23308,
                "orders",
                ActionStatus::Skipped,
                t("2026-11-26T22:05:10Z"),
                3295,
            ),
            "the deadline passed: KILL QUERY 41 on 127.0.0.1:23308",
            Some(ErrorCode::Timeout),
        ),
    ];

    let mut dry = job(
        "job-20261126-003",
        JobKind::Plan,
        JobStatus::Completed,
        t("2026-11-26T23:10:00Z"),
    );
    dry.plan_id = Some("plan-20261126-003".into());
    dry.plan_digest = None;
    dry.phase = Some(JobPhase::Planning);
    dry.started_at = Some(t("2026-11-26T23:10:00Z"));
    dry.completed_at = Some(t("2026-11-26T23:10:02Z"));

    let mut queued = job(
        "job-20261126-004",
        JobKind::Apply,
        JobStatus::Pending,
        t("2026-11-26T23:20:00Z"),
    );
    queued.phase = Some(JobPhase::Waiting);

    let started = Utc::now() - Duration::seconds(90);
    let mut running = job(RUNNING, JobKind::Recycle, JobStatus::Running, started);
    running.phase = Some(JobPhase::Applying);
    running.started_at = Some(started);
    running.current_table = Some("shop.logs".into());
    let since = started + Duration::seconds(60);
    running.run_state = Some(RunState::Throttled {
        reason: "waiting for replicas: 127.0.0.1:23309 is 14s behind (max_lag 10s)".into(),
        since,
    });
    let running_outcomes = [sized(
        outcome(23307, "events", ActionStatus::Done, started, 60),
        54_525_952,
        16_777_216,
    )];

    for (j, outcomes) in [
        (done, &done_outcomes[..]),
        (failed, &failed_outcomes[..]),
        (dry, &[][..]),
        (queued, &[][..]),
        (running, &running_outcomes[..]),
    ] {
        let mut j = j;
        j.total_tables = if j.kind == JobKind::Recycle {
            3
        } else {
            outcomes.len() as u64
        };
        j.processed_tables = outcomes.len() as u64;
        // batch_size 2.
        j.batches_done = j.processed_tables.div_ceil(2);
        j.failed_tables = outcomes
            .iter()
            .filter(|o| o.status == ActionStatus::Failed)
            .count() as u64;
        j.bytes_freed = outcomes.iter().map(|o| o.bytes_freed).sum();
        s.insert_job(&j).await.unwrap();
        for o in outcomes {
            s.record(&j.job_id, DIGEST, o).await.unwrap();
        }
    }
    Clock { started, since }
}

/// Every `HH:MM:SS` (a running job's elapsed and remaining time, its gate's `since`).
const CLOCK: (&str, &str) = (r"\b\d{2,}:\d{2}:\d{2}\b", "HH:MM:SS");

#[tokio::test]
async fn status_job_list() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    let out = run(&work, &["status"], 0);
    with_settings!({filters => vec![CLOCK]}, {
        assert_snapshot!(out);
    });
}

#[tokio::test]
async fn status_of_a_completed_job() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    assert_snapshot!(run(&work, &["status", "--job-id", "job-20261126-001"], 0));
}

#[tokio::test]
async fn status_of_a_failed_job() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    assert_snapshot!(run(&work, &["status", "--job-id", "job-20261126-002"], 0));
}

#[tokio::test]
async fn status_of_a_running_job() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    let out = run(&work, &["status", "--job-id", RUNNING], 0);
    with_settings!({filters => vec![CLOCK]}, {
        assert_snapshot!(out);
    });
}

#[tokio::test]
async fn status_json() {
    let work = tempfile::tempdir().unwrap();
    let clock = store(&work).await;
    let out = run(&work, &["status", "--format", "json"], 0);
    // Newest first: the running job.
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["job_id"], RUNNING);
    assert_snapshot!(clock.named(&out));
}

#[tokio::test]
async fn status_json_of_a_running_job() {
    let work = tempfile::tempdir().unwrap();
    let clock = store(&work).await;
    let out = run(
        &work,
        &["status", "--job-id", RUNNING, "--format", "json"],
        0,
    );
    with_settings!({filters => vec![CLOCK]}, {
        assert_snapshot!(clock.named(&out));
    });
}

#[tokio::test]
async fn status_yaml_of_a_failed_job() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    assert_snapshot!(run(
        &work,
        &["status", "--job-id", "job-20261126-002", "--format", "yaml"],
        0,
    ));
}

#[tokio::test]
async fn monitor_table() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    let out = run(&work, &["monitor", "--count", "1"], 0);
    let header = (r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "[now]");
    with_settings!({filters => vec![header, CLOCK]}, {
        assert_snapshot!(out);
    });
}

#[tokio::test]
async fn monitor_table_with_finished_jobs() {
    let work = tempfile::tempdir().unwrap();
    store(&work).await;
    let out = run(&work, &["monitor", "--count", "1", "--show-completed"], 0);
    let header = (r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "[now]");
    with_settings!({filters => vec![header, CLOCK]}, {
        assert_snapshot!(out);
    });
}

/// One JSON document per line per refresh.
#[tokio::test]
async fn monitor_json() {
    let work = tempfile::tempdir().unwrap();
    let clock = store(&work).await;
    let out = run(
        &work,
        &["monitor", "--count", "1", "--output-format", "json"],
        0,
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["jobs"][0]["job_id"], RUNNING);
    let now = (r#""timestamp":"[^"]+""#, r#""timestamp":"[now]""#);
    with_settings!({filters => vec![now]}, {
        assert_snapshot!(clock.named(&out));
    });
}

#[tokio::test]
async fn no_jobs() {
    let work = tempfile::tempdir().unwrap();
    assert_eq!(run(&work, &["status"], 0), "no jobs\n");
    let out = run(&work, &["monitor", "--count", "1"], 0);
    assert!(
        out.ends_with(" — 0 job(s) active\nno active jobs\n"),
        "{out}"
    );
}
