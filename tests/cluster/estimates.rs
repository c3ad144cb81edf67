//! Estimates on shapes beyond the sandbox's own patterns (issue 14 item 2), each against what a
//! rebuild really frees on the node: the bound is the test.

use crate::common::{apply, cluster, plan_file, shared};
use serde_json::Value;
use sqlx::Executor;

/// Plans `schema` on replica 2 (statistics refreshed first), applies it, and returns
/// (estimated, freed) bytes over its actions.
async fn estimate_and_freed(schema: &str) -> (u64, u64) {
    let c = cluster();
    let node = c.replica(2);
    c.sync_from(&c.primary(), &node).await;
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(
        &work,
        &node,
        "p.json",
        &[
            "--database",
            schema,
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
            "--analyze",
        ],
    );
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let est = p["summary"]["estimated_reclaim_bytes"].as_u64().unwrap();
    assert!(est > 0, "{p}");
    let (code, out, err) = apply(&work, &plan, &["--yes", "--output-format", "json"]);
    assert_eq!(code, 0, "{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    let freed = rep["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["bytes_freed"].as_u64().unwrap())
        .sum();
    (est, freed)
}

fn within(est: u64, freed: u64, bound: f64) {
    let err = (est as f64 - freed as f64).abs() / freed as f64;
    println!("estimated {est}, freed {freed}: error {:.1} %", err * 100.0);
    assert!(
        err <= bound,
        "estimated {est}, freed {freed}: {:.1} % off",
        err * 100.0
    );
}

/// `ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8` with 80 % of its rows deleted: pages are stored in
/// 8 KiB blocks. Modelled as uncompressed, the estimate was 30 % under what the rebuild freed.
#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_table_is_estimated_at_its_block_size() {
    let _g = shared().await;
    let c = cluster();
    let mut p = c.conn(&c.primary()).await;
    for sql in [
        "CREATE DATABASE IF NOT EXISTS est_zip",
        "DROP TABLE IF EXISTS est_zip.t",
        "CREATE TABLE est_zip.t (id INT PRIMARY KEY, a INT, b VARCHAR(200), c VARCHAR(200), \
         KEY (a)) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8",
        "INSERT INTO est_zip.t SELECT seq, seq % 1000, REPEAT(CONCAT('abc', seq % 97), 10), \
         MD5(seq) FROM est_zip.seq_1_to_300000",
        "DELETE FROM est_zip.t WHERE id % 5 <> 0",
    ] {
        p.execute(sql).await.unwrap();
    }
    let (est, freed) = estimate_and_freed("est_zip").await;
    within(est, freed, 0.15);
}

/// Random primary keys and no deletes at all: the table is fragmented only by the page splits
/// of inserts in random key order (leaves about two thirds full).
#[tokio::test(flavor = "multi_thread")]
async fn a_table_split_by_random_primary_keys_is_estimated() {
    let _g = shared().await;
    let c = cluster();
    let mut p = c.conn(&c.primary()).await;
    for sql in [
        "CREATE DATABASE IF NOT EXISTS est_rpk",
        "DROP TABLE IF EXISTS est_rpk.t",
        "CREATE TABLE est_rpk.t (id CHAR(32) PRIMARY KEY, a INT, b VARCHAR(100), KEY (a)) \
         ENGINE=InnoDB",
        "INSERT INTO est_rpk.t SELECT MD5(CONCAT(seq, RAND())), seq % 1000, REPEAT('x', 80) \
         FROM est_rpk.seq_1_to_300000",
    ] {
        p.execute(sql).await.unwrap();
    }
    let (est, freed) = estimate_and_freed("est_rpk").await;
    within(est, freed, 0.15);
}

/// A random secondary key (an MD5 per row) under a sequential primary key, no deletes: only
/// the secondary index is split.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_split_by_a_random_secondary_key_is_estimated() {
    let _g = shared().await;
    let c = cluster();
    let mut p = c.conn(&c.primary()).await;
    for sql in [
        "CREATE DATABASE IF NOT EXISTS est_rsk",
        "DROP TABLE IF EXISTS est_rsk.t",
        "CREATE TABLE est_rsk.t (id INT PRIMARY KEY AUTO_INCREMENT, k CHAR(32), b VARCHAR(100), \
         KEY (k)) ENGINE=InnoDB",
        "INSERT INTO est_rsk.t (k, b) SELECT MD5(CONCAT(seq, RAND())), REPEAT('y', 80) \
         FROM est_rsk.seq_1_to_300000",
    ] {
        p.execute(sql).await.unwrap();
    }
    let (est, freed) = estimate_and_freed("est_rsk").await;
    within(est, freed, 0.15);
}
