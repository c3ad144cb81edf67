//! Tables a rebuild cannot help or can only help by blocking writes: FULLTEXT (needs
//! LOCK=SHARED) and tables in the system tablespace. The cluster to itself (`serial`): it flips
//! the global `innodb_file_per_table` on a replica, which must not race with other tests' CREATE
//! TABLEs.

use crate::common::{cli, cluster, plan_file, serial};
use mysql_tablespace_recycling::plan::read_plan;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use sqlx::Executor;

#[tokio::test(flavor = "multi_thread")]
async fn fulltext_needs_allow_blocking_and_system_tablespace_tables_are_skipped() {
    let _g = serial().await;
    let c = cluster();
    let mut ft = TableSpec::sized("obst", "docs", 8, Pattern::RandomDelete { keep_every: 5 });
    ft.fulltext = true;
    c.fragment(&[ft]).await;
    let node = c.replica(2);
    // A table in the system tablespace, on this replica only (binlog off: no errant GTID). Its
    // replication has applied everything first, and the setting is back on whatever the CREATE
    // did, so no other table lands in the system tablespace.
    c.sync_from(&c.primary(), &node).await;
    let mut conn = c.conn(&node).await;
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute("SET GLOBAL innodb_file_per_table = OFF")
        .await
        .unwrap();
    let created = conn
        .execute("CREATE TABLE obst.shared_t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB")
        .await;
    conn.execute("SET GLOBAL innodb_file_per_table = ON")
        .await
        .unwrap();
    created.expect("CREATE TABLE in the system tablespace");
    conn.execute("INSERT INTO obst.shared_t SELECT seq, REPEAT('x', 100) FROM obst.seq_1_to_1000")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = |out: &str, extra: &[&str]| {
        let args = [&["--database", "obst", "--threshold-mb", "1"][..], extra].concat();
        read_plan(&plan_file(&work, &node, out, &args)).unwrap()
    };

    let p = plan("no_blocking.yaml", &[]);
    assert_eq!(p.summary.actions, 0);
    let docs = p
        .skipped
        .iter()
        .find(|s| s.table.as_deref() == Some("docs"))
        .expect("FULLTEXT table skipped");
    assert!(docs.reason.contains("FULLTEXT index fb") && docs.reason.contains("--allow-blocking"));
    let shared = p
        .skipped
        .iter()
        .find(|s| s.table.as_deref() == Some("shared_t"))
        .expect("system-tablespace table skipped");
    assert!(
        shared.reason.contains("system tablespace"),
        "{}",
        shared.reason
    );

    let p = plan("blocking.yaml", &["--allow-blocking"]);
    let (_, a) = p
        .actions()
        .next()
        .expect("FULLTEXT table planned with --allow-blocking");
    assert_eq!(a.table, "docs");
    assert!(!a.online);
    assert_eq!(
        a.statement,
        "ALTER TABLE `obst`.`docs` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=SHARED"
    );
    assert!(a.warnings.iter().any(|w| w.contains("LOCK=SHARED")));
    assert!(p.settings.allow_blocking);
    // check passes it (allowed) but warns.
    let o = cli(&work)
        .args(["check", work.path().join("blocking.yaml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("blocking_rebuild"));
    // The planned statement really runs on MariaDB.
    c.exec(&node, &["SET SESSION sql_log_bin = 0", &a.statement])
        .await;
}
