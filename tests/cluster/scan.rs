//! The two-phase scan (issue 14): phase 1 reads every table from the InnoDB dictionary alone,
//! phase 2 only the tables that could qualify or that an obstacle skips. On the demo fixtures
//! plus many small tables, a plan from the two-phase scan is the plan of a full scan; a table
//! below the threshold never reaches phase 2; and the server opens only the phase-2 tables
//! (its own counter, `Opened_table_definitions`, after `FLUSH TABLES`). The cluster to itself
//! (`serial`): the counter is server-wide.

use crate::common::{cluster, serial};
use mysql_tablespace_recycling::config::Config;
use mysql_tablespace_recycling::inspect::{
    DEFAULT_SAMPLE_ROWS, NodeScan, Phase2, ScanOptions, TableFilter, TableStats, scan_node,
};
use mysql_tablespace_recycling::plan::{build_plan, select_targets};
use mysql_tablespace_recycling::sandbox::fragment::demo_tables;
use mysql_tablespace_recycling::settings::{Mode, SettingsOverrides};
use mysql_tablespace_recycling::topology::{DiscoverOptions, discover};
use sqlx::Executor;

const SMALL: usize = 150;

/// `Opened_table_definitions` of the node `conn` is on.
async fn opened(conn: &mut sqlx::MySqlConnection) -> u64 {
    let (_, v): (String, String) =
        sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Opened_table_definitions'")
            .fetch_one(conn)
            .await
            .unwrap();
    v.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_phase_scan_plans_what_a_full_scan_plans_and_opens_only_candidates() {
    let _g = serial().await;
    let c = cluster();
    let schema = "twophase";
    c.fragment(&demo_tables(schema, 6)).await;
    let primary = c.primary();
    let mut p = c.conn(&primary).await;
    for i in 0..SMALL {
        p.execute(
            format!(
                "CREATE TABLE {schema}.small_{i:03} (id INT PRIMARY KEY, v VARCHAR(40), KEY (v)) \
                 ENGINE=InnoDB"
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    let node = c.replica(2);
    c.sync_from(&primary, &node).await;
    // A table in the system tablespace, on this replica only: an obstacle the plan names.
    let mut admin = c.sandbox.admin(&c.sandbox.node(2)).await.unwrap();
    admin.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    admin
        .execute("SET GLOBAL innodb_file_per_table = OFF")
        .await
        .unwrap();
    let created = admin
        .execute(
            format!("CREATE TABLE {schema}.shared_t (id INT PRIMARY KEY) ENGINE=InnoDB").as_str(),
        )
        .await;
    admin
        .execute("SET GLOBAL innodb_file_per_table = ON")
        .await
        .unwrap();
    created.unwrap();

    let settings = SettingsOverrides {
        mode: Some(Mode::BinlogOff),
        threshold_mb: Some(2),
        threshold_percent: Some(5.0),
        ..Default::default()
    }
    .resolve(&Config::default().recycling.defaults, 4, None)
    .unwrap();
    let thresholds = settings.thresholds();
    let spec = c.spec();
    let topo = discover(&node, &spec, &DiscoverOptions::default())
        .await
        .unwrap();
    let sel = select_targets(&topo, &node, &settings).unwrap();
    let scan = |phase2| {
        let (spec, settings, admin_node) = (spec.clone(), settings.clone(), node.clone());
        async move {
            let opts = ScanOptions {
                filter: TableFilter {
                    databases: vec![schema.into()],
                    ..Default::default()
                },
                analyze: false,
                sample_rows: DEFAULT_SAMPLE_ROWS,
                phase2,
            };
            let worth = |t: &TableStats| settings.thresholds().admits(t);
            let mut watch = c.sandbox.admin(&c.sandbox.node(2)).await.unwrap();
            watch.execute("FLUSH TABLES").await.unwrap();
            let before = opened(&mut watch).await;
            let s: NodeScan = scan_node(&admin_node, &spec, &opts, &worth).await.unwrap();
            (s, opened(&mut watch).await - before)
        }
    };
    let (full, full_opened) = scan(Phase2::All).await;
    let (two, two_opened) = scan(Phase2::FilesOfAtLeast(thresholds.min_reclaim_bytes)).await;
    let now = chrono::Utc::now();
    let plan_of = |s: &NodeScan| {
        build_plan(
            &topo,
            &node,
            &sel,
            std::slice::from_ref(s),
            &settings,
            "plan-1",
            now,
        )
    };
    let (plan_full, plan_two) = (plan_of(&full), plan_of(&two));
    assert_eq!(plan_two, plan_full, "the two-phase plan is the full scan's");
    // The fixtures exercise every verdict: rebuilt, skipped as blocking, skipped as obstacle.
    assert!(plan_full.summary.actions >= 3, "{:?}", plan_full.summary);
    for t in ["docs", "shared_t"] {
        assert!(
            plan_full
                .skipped
                .iter()
                .any(|s| s.table.as_deref() == Some(t)),
            "{t} not skipped: {:?}",
            plan_full.skipped
        );
    }
    // Phase 2 left out every table whose file is under the threshold.
    let names = |s: &NodeScan| s.tables.iter().map(|t| t.table.clone()).collect::<Vec<_>>();
    let read = names(&two);
    assert!(read.iter().all(|t| !t.starts_with("small_")), "{read:?}");
    for t in &two.tables {
        assert!(
            t.obstacle.is_some() || t.file_size_bytes >= thresholds.min_reclaim_bytes,
            "{} ({} bytes) reached phase 2",
            t.table,
            t.file_size_bytes
        );
    }
    assert!(read.contains(&"orders".to_string()) && read.contains(&"shared_t".to_string()));
    assert_eq!(two.dictionary_tables, full.dictionary_tables);
    assert!(two.dictionary_tables > SMALL, "{}", two.dictionary_tables);
    assert!(names(&full).len() > SMALL);
    // The server opened the phase-2 tables only (plus its statistics tables).
    println!(
        "opened table definitions: full scan {full_opened}, two-phase {two_opened}; \
         phase 2 read {} of {} tables",
        two.tables.len(),
        two.dictionary_tables
    );
    assert!(full_opened > SMALL as u64, "{full_opened}");
    assert!(
        two_opened < 2 * read.len() as u64 + 10,
        "{two_opened} for {}",
        read.len()
    );
}
