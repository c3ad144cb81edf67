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
    // MariaDB's purge of the deleted rows takes the table's metadata lock batch by batch; a
    // rebuild started before it is done can fail to get it (seen in CI on the 600 MiB table).
    let mut conn = c.conn(&node).await;
    for _ in 0..240 {
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT FROM information_schema.INNODB_METRICS \
             WHERE NAME = 'trx_rseg_history_len'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
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

/// One step of a file's growth past 32 MiB (four extents): the resolution of a file size,
/// which the model cannot know the side of when the rebuilt size falls near a step.
const FILE_STEP: u64 = 4 << 20;

/// The estimate is within `bound` of what the rebuild freed, or within one [`FILE_STEP`].
fn within(est: u64, freed: u64, bound: f64) {
    let off = est.abs_diff(freed);
    let err = off as f64 / freed as f64;
    println!("estimated {est}, freed {freed}: error {:.1} %", err * 100.0);
    assert!(
        err <= bound || off <= FILE_STEP,
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
        "CREATE TABLE est_rsk.t (id INT PRIMARY KEY AUTO_INCREMENT, k CHAR(64), b VARCHAR(100), \
         KEY (k)) ENGINE=InnoDB",
        "INSERT INTO est_rsk.t (k, b) SELECT CONCAT(MD5(CONCAT(seq, RAND())), MD5(seq)), \
         REPEAT('y', 80) FROM est_rsk.seq_1_to_300000",
    ] {
        p.execute(sql).await.unwrap();
    }
    let (est, freed) = estimate_and_freed("est_rsk").await;
    within(est, freed, 0.15);
}

/// Runs `setup` on the primary, then plans and applies `schema` and checks the estimate.
async fn pattern(schema: &str, setup: &[&str], bound: f64) {
    let _g = shared().await;
    let c = cluster();
    let mut p = c.conn(&c.primary()).await;
    p.execute(format!("DROP DATABASE IF EXISTS {schema}").as_str())
        .await
        .unwrap();
    p.execute(format!("CREATE DATABASE {schema}").as_str())
        .await
        .unwrap();
    for sql in setup {
        p.execute(*sql).await.unwrap();
    }
    let (est, freed) = estimate_and_freed(schema).await;
    within(est, freed, bound);
}

/// `ROW_FORMAT=REDUNDANT`: 6-byte record headers, a field-end offset per column (hidden ones
/// too), a fixed-width column NULL or not takes its width, CHAR in utf8mb4 its full bytes.
#[tokio::test(flavor = "multi_thread")]
async fn a_redundant_table_is_estimated() {
    pattern(
        "est_red",
        &[
            "CREATE TABLE est_red.t (id INT PRIMARY KEY, a INT, b VARCHAR(200), c CHAR(20), \
             d DATETIME NULL, KEY (a)) ENGINE=InnoDB ROW_FORMAT=REDUNDANT \
             DEFAULT CHARSET=utf8mb4",
            "INSERT INTO est_red.t SELECT seq, seq % 1000, REPEAT('r', 60 + seq % 80), \
             LEFT(MD5(seq), 8), IF(seq % 3 = 0, NOW(), NULL) FROM est_red.seq_1_to_200000",
            "DELETE FROM est_red.t WHERE id % 4 <> 0",
        ],
        0.15,
    )
    .await;
}

/// `ROW_FORMAT=COMPACT` with TEXT values stored off-page: COMPACT keeps a 768-byte prefix of
/// each in the record (DYNAMIC only the 20-byte pointer).
#[tokio::test(flavor = "multi_thread")]
async fn a_compact_table_with_off_page_text_is_estimated() {
    pattern(
        "est_cpt",
        &[
            "CREATE TABLE est_cpt.t (id INT PRIMARY KEY, a INT, body TEXT, KEY (a)) \
             ENGINE=InnoDB ROW_FORMAT=COMPACT",
            "INSERT INTO est_cpt.t SELECT seq, seq % 100, \
             IF(seq % 4 = 0, REPEAT(MD5(seq), 400), REPEAT('c', 300)) \
             FROM est_cpt.seq_1_to_40000",
            "DELETE FROM est_cpt.t WHERE id % 3 <> 0",
        ],
        0.15,
    )
    .await;
}

/// DYNAMIC rows too long for half a page although no column is: InnoDB moves the longest
/// columns off-page until the record fits, and each goes to BLOB pages of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_rows_longer_than_half_a_page_is_estimated() {
    pattern(
        "est_blob",
        &[
            "CREATE TABLE est_blob.t (id INT PRIMARY KEY, a TEXT, b TEXT, c TEXT, d BLOB) \
             ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
            "INSERT INTO est_blob.t SELECT seq, REPEAT('a', 3000), REPEAT('b', 3000), \
             REPEAT('c', 3000), IF(seq % 5 = 0, REPEAT(MD5(seq), 700), NULL) \
             FROM est_blob.seq_1_to_20000",
            "DELETE FROM est_blob.t WHERE id % 3 <> 0",
        ],
        0.15,
    )
    .await;
}

/// utf8mb4 text of 2- and 4-byte characters, and CHAR(n), which COMPACT/DYNAMIC store in at
/// least n bytes even when the value is shorter.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_multi_byte_text_is_estimated() {
    pattern(
        "est_mb4",
        &[
            "CREATE TABLE est_mb4.t (id INT PRIMARY KEY, code CHAR(40), name VARCHAR(100), \
             note VARCHAR(300), KEY (code)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            "INSERT INTO est_mb4.t SELECT seq, LEFT(MD5(seq), 4), \
             REPEAT('\u{e9}t\u{e9}', 10 + seq % 10), REPEAT('\u{1F600}', 20 + seq % 40) \
             FROM est_mb4.seq_1_to_150000",
            "DELETE FROM est_mb4.t WHERE id % 5 <> 0",
        ],
        0.15,
    )
    .await;
}

/// Wide rows that are mostly NULL: forty nullable columns, nine in ten of them NULL, which
/// COMPACT/DYNAMIC store in a bit each (fixed-width ones included).
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_mostly_null_wide_rows_is_estimated() {
    let mut cols = String::new();
    let mut vals = String::new();
    for i in 0..40 {
        let (ty, val) = match i % 4 {
            0 => ("BIGINT", "seq"),
            1 => ("DATETIME", "NOW()"),
            2 => ("DECIMAL(20,4)", "seq / 7"),
            _ => ("VARCHAR(100)", "REPEAT('n', 40)"),
        };
        cols.push_str(&format!(", c{i} {ty} NULL"));
        vals.push_str(&format!(", IF((seq + {i}) % 10 = 0, {val}, NULL)"));
    }
    let create = format!("CREATE TABLE est_null.t (id INT PRIMARY KEY{cols}) ENGINE=InnoDB");
    let insert = format!("INSERT INTO est_null.t SELECT seq{vals} FROM est_null.seq_1_to_150000");
    pattern(
        "est_null",
        &[&create, &insert, "DELETE FROM est_null.t WHERE id % 4 <> 0"],
        0.15,
    )
    .await;
}

/// A partitioned table whose partitions are fragmented unevenly (one purged, one not).
#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_table_is_estimated_over_its_partitions() {
    pattern(
        "est_part",
        &[
            "CREATE TABLE est_part.t (id INT PRIMARY KEY, a INT, b VARCHAR(200), KEY (a)) \
             ENGINE=InnoDB PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (100001), \
             PARTITION p1 VALUES LESS THAN (200001), PARTITION p2 VALUES LESS THAN MAXVALUE)",
            "INSERT INTO est_part.t SELECT seq, seq % 1000, REPEAT('p', 100 + seq % 100) \
             FROM est_part.seq_1_to_300000",
            "DELETE FROM est_part.t WHERE id <= 100000 AND id % 10 <> 0",
            "DELETE FROM est_part.t WHERE id > 200000 AND id % 2 = 0",
        ],
        0.15,
    )
    .await;
}
