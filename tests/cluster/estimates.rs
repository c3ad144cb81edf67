//! Estimates on shapes beyond the sandbox's own patterns (issue 14 item 2), each against what a
//! rebuild really frees on the node: the bound is the test.

use crate::common::{apply, cluster, plan_file, shared};
use mysql_tablespace_recycling::sandbox::fragment::Shape;
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
    c.purged(&node).await;
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

/// Builds `shape` as `schema.t` on the primary, then plans and applies `schema` and checks the
/// estimate against what the rebuild freed.
async fn pattern(schema: &str, shape: Shape) {
    let _g = shared().await;
    let c = cluster();
    let mut p = c.conn(&c.primary()).await;
    p.execute(format!("CREATE DATABASE IF NOT EXISTS {schema}").as_str())
        .await
        .unwrap();
    for sql in shape.statements(schema, "t", shape.rows()) {
        p.execute(sql.as_str()).await.unwrap();
    }
    let (est, freed) = estimate_and_freed(schema).await;
    within(est, freed, 0.15);
}

/// `ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8` with 80 % of its rows deleted: pages are stored in
/// 8 KiB blocks. Modelled as uncompressed, the estimate was 30 % under what the rebuild freed.
#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_table_is_estimated_at_its_block_size() {
    pattern("est_zip", Shape::Compressed).await;
}

/// Random primary keys and no deletes at all: the table is fragmented only by the page splits
/// of inserts in random key order (leaves about two thirds full).
#[tokio::test(flavor = "multi_thread")]
async fn a_table_split_by_random_primary_keys_is_estimated() {
    pattern("est_rpk", Shape::RandomPrimaryKey).await;
}

/// A random secondary key under a sequential primary key, no deletes: only the secondary index
/// is split.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_split_by_a_random_secondary_key_is_estimated() {
    pattern("est_rsk", Shape::RandomSecondaryKey).await;
}

/// `ROW_FORMAT=REDUNDANT`: 6-byte record headers, a field-end offset per column (hidden ones
/// too), a fixed-width column NULL or not takes its width, CHAR in utf8mb4 its full bytes.
#[tokio::test(flavor = "multi_thread")]
async fn a_redundant_table_is_estimated() {
    pattern("est_red", Shape::Redundant).await;
}

/// `ROW_FORMAT=COMPACT` with TEXT values stored off-page: COMPACT keeps a 768-byte prefix of
/// each in the record (DYNAMIC only the 20-byte pointer).
#[tokio::test(flavor = "multi_thread")]
async fn a_compact_table_with_off_page_text_is_estimated() {
    pattern("est_cpt", Shape::CompactOffPageText).await;
}

/// DYNAMIC rows too long for half a page although no column is: InnoDB moves the longest
/// columns off-page until the record fits, and each goes to BLOB pages of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_rows_longer_than_half_a_page_is_estimated() {
    pattern("est_blob", Shape::RowsOverHalfAPage).await;
}

/// utf8mb4 text of 2- and 4-byte characters, and CHAR(n), which COMPACT/DYNAMIC store in at
/// least n bytes even when the value is shorter.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_multi_byte_text_is_estimated() {
    pattern("est_mb4", Shape::MultiByteText).await;
}

/// Wide rows that are mostly NULL: forty nullable columns, nine in ten of them NULL, which
/// COMPACT/DYNAMIC store in a bit each (fixed-width ones included).
#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_mostly_null_wide_rows_is_estimated() {
    pattern("est_null", Shape::MostlyNullWideRows).await;
}

/// A partitioned table whose partitions are fragmented unevenly (one purged, one not).
#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_table_is_estimated_over_its_partitions() {
    pattern("est_part", Shape::PartitionedUneven).await;
}
