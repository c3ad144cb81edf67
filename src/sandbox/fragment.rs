//! `sandbox fragment`: tables with real fragmentation, made the way production makes it — bulk
//! insert, then deletes or shrinking updates — on the sandbox primary, replicated to every node.
//!
//! The same builder makes the fixtures of the integration tests and the benchmarks, so what the
//! demo shows is what the tests measure.

use super::Sandbox;
use crate::error::Result;
use crate::mysql::{self, Endpoint, quote_ident, quote_table};
use sqlx::Executor;
use sqlx::mysql::MySqlConnection;

/// How a table is fragmented after its bulk insert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// Left compact.
    None,
    /// Keep one row in `keep_every` (scattered deletes).
    RandomDelete { keep_every: u32 },
    /// Delete the lowest `percent` of the ids (a purge of old rows).
    RangeDelete { percent: u32 },
    /// Shrink the payload of `percent` of the rows to `to_bytes` bytes.
    ShrinkUpdate { percent: u32, to_bytes: u32 },
}

/// One table to build.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub schema: String,
    pub table: String,
    pub rows: u64,
    /// Bytes of the VARCHAR payload per row.
    pub payload: u32,
    pub pattern: Pattern,
    /// Extra secondary indexes (0–4).
    pub secondary_indexes: u32,
    pub fulltext: bool,
    pub partitions: Option<u32>,
}

impl TableSpec {
    /// A table of about `mib` MiB before fragmentation, with ~300-byte rows.
    pub fn sized(schema: &str, table: &str, mib: u64, pattern: Pattern) -> Self {
        let payload = 300;
        Self {
            schema: schema.into(),
            table: table.into(),
            rows: mib * 1024 * 1024 / (u64::from(payload) + 60),
            payload,
            pattern,
            secondary_indexes: 1,
            fulltext: false,
            partitions: None,
        }
    }
}

/// The demo schema: several patterns, a FULLTEXT table, a small table, a partitioned table.
pub fn demo_tables(schema: &str, mib: u64) -> Vec<TableSpec> {
    let mut v = vec![
        TableSpec::sized(
            schema,
            "orders",
            mib,
            Pattern::RandomDelete { keep_every: 10 },
        ),
        TableSpec::sized(schema, "events", mib, Pattern::RangeDelete { percent: 70 }),
        TableSpec::sized(
            schema,
            "sessions",
            mib,
            Pattern::ShrinkUpdate {
                percent: 80,
                to_bytes: 20,
            },
        ),
        TableSpec::sized(schema, "customers", mib / 4, Pattern::None),
        TableSpec::sized(schema, "tiny", 1, Pattern::RandomDelete { keep_every: 2 }),
    ];
    let mut docs = TableSpec::sized(
        schema,
        "docs",
        mib / 2,
        Pattern::RandomDelete { keep_every: 5 },
    );
    docs.fulltext = true;
    v.push(docs);
    let mut logs = TableSpec::sized(schema, "logs", mib, Pattern::RangeDelete { percent: 60 });
    logs.partitions = Some(4);
    v.push(logs);
    v
}

async fn run(c: &mut MySqlConnection, node: &Endpoint, sql: &str) -> Result<()> {
    c.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| mysql::query_error(node, e))
}

/// Creates (replacing) and fragments one table through `c`, then refreshes its statistics.
pub async fn build(c: &mut MySqlConnection, node: &Endpoint, t: &TableSpec) -> Result<()> {
    let tbl = quote_table(&t.schema, &t.table);
    run(
        c,
        node,
        &format!("CREATE DATABASE IF NOT EXISTS {}", quote_ident(&t.schema)),
    )
    .await?;
    run(c, node, &format!("DROP TABLE IF EXISTS {tbl}")).await?;
    let mut cols = vec![
        "id INT UNSIGNED NOT NULL".to_string(),
        "a INT NOT NULL".into(),
        format!("b VARCHAR({}) NOT NULL", t.payload.max(1)),
        "c DATETIME NOT NULL".into(),
        "PRIMARY KEY (id)".into(),
    ];
    for i in 0..t.secondary_indexes.min(4) {
        cols.push(match i {
            0 => "KEY ka (a)".into(),
            1 => "KEY kc (c)".into(),
            2 => "KEY kac (a, c)".into(),
            _ => "KEY kb (b(16))".into(),
        });
    }
    if t.fulltext {
        cols.push("FULLTEXT KEY fb (b)".into());
    }
    let parts = t
        .partitions
        .map(|p| format!(" PARTITION BY HASH(id) PARTITIONS {p}"))
        .unwrap_or_default();
    run(
        c,
        node,
        &format!(
            "CREATE TABLE {tbl} ({}) ENGINE=InnoDB{parts}",
            cols.join(", ")
        ),
    )
    .await?;
    // Words for FULLTEXT, one long run otherwise; MariaDB's sequence engine makes the rows.
    let payload = if t.fulltext {
        format!(
            "LEFT(REPEAT(CONCAT('lorem', seq % 97, ' ipsum '), {}), {})",
            t.payload / 10 + 1,
            t.payload
        )
    } else {
        format!("REPEAT(CHAR(65 + seq % 26), {})", t.payload)
    };
    // The sequence engine answers for seq_1_to_N in any database.
    let seq = quote_table(&t.schema, &format!("seq_1_to_{}", t.rows.max(1)));
    run(
        c,
        node,
        &format!(
            "INSERT INTO {tbl} (id, a, b, c) SELECT seq, seq * 7 % 100000, {payload}, \
             TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq SECOND FROM {seq}"
        ),
    )
    .await?;
    match t.pattern {
        Pattern::None => {}
        Pattern::RandomDelete { keep_every } => {
            sqlx::query(&format!("DELETE FROM {tbl} WHERE id % ? <> 0"))
                .bind(keep_every.max(1))
                .execute(&mut *c)
                .await
                .map_err(|e| mysql::query_error(node, e))?;
        }
        Pattern::RangeDelete { percent } => {
            sqlx::query(&format!("DELETE FROM {tbl} WHERE id <= ?"))
                .bind(t.rows * u64::from(percent.min(100)) / 100)
                .execute(&mut *c)
                .await
                .map_err(|e| mysql::query_error(node, e))?;
        }
        Pattern::ShrinkUpdate { percent, to_bytes } => {
            sqlx::query(&format!(
                "UPDATE {tbl} SET b = LEFT(b, ?) WHERE id % 100 < ?"
            ))
            .bind(to_bytes)
            .bind(percent.min(100))
            .execute(&mut *c)
            .await
            .map_err(|e| mysql::query_error(node, e))?;
        }
    }
    // Binlogged on purpose: every replica refreshes its own statistics too.
    run(c, node, &format!("ANALYZE TABLE {tbl}")).await
}

impl Sandbox {
    /// Builds `tables` on the primary and waits until every replica has applied them.
    pub async fn fragment(&self, tables: &[TableSpec]) -> Result<()> {
        let primary = self.node(0);
        let mut c = self.admin(&primary).await?;
        for t in tables {
            build(&mut c, &primary.endpoint, t).await?;
        }
        self.wait_replicas().await
    }

    /// Waits (up to 10 minutes) until every replica has applied everything the primary has
    /// written so far.
    pub async fn wait_replicas(&self) -> Result<()> {
        let primary = self.node(0);
        let mut c = self.admin(&primary).await?;
        let pos = mysql::query_rows(&mut c, &primary.endpoint, "SELECT @@gtid_binlog_pos AS pos")
            .await?
            .first()
            .map(|r| r.text(&["pos"]))
            .unwrap_or_default();
        for n in self.nodes().into_iter().skip(1) {
            let mut r = self.admin(&n).await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, 600)")
                .bind(&pos)
                .fetch_one(&mut r)
                .await
                .map_err(|e| mysql::query_error(&n.endpoint, e))?;
            if done != Some(0) {
                return Err(crate::error::Error::Timeout(format!(
                    "{} ({}) did not reach the primary's GTID position {pos}",
                    n.name, n.endpoint
                )));
            }
        }
        Ok(())
    }
}

/// Shapes the estimate model must get right beyond the [`Pattern`]s: row formats, off-page
/// columns, multi-byte text, mostly-NULL rows, page splits without deletes, an unevenly purged
/// partitioned table. Each is a few statements on the primary; the estimate tests and the
/// benchmark's B3 build them here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8`, 80 % of the rows deleted.
    Compressed,
    /// A random (MD5) primary key, no deletes: split leaves only.
    RandomPrimaryKey,
    /// A random 64-byte secondary key under a sequential primary key, no deletes.
    RandomSecondaryKey,
    /// `ROW_FORMAT=REDUNDANT`, utf8mb4 CHAR, nullable DATETIME, 75 % deleted.
    Redundant,
    /// `ROW_FORMAT=COMPACT`, a quarter of the rows with 12,800-byte TEXT stored off-page.
    CompactOffPageText,
    /// DYNAMIC rows of three 3,000-byte TEXTs (and some 22 KB BLOBs): longer than half a page.
    RowsOverHalfAPage,
    /// utf8mb4 text of 2- and 4-byte characters and a CHAR(40) holding 4 characters.
    MultiByteText,
    /// Forty nullable columns, nine in ten NULL.
    MostlyNullWideRows,
    /// Three range partitions: one 90 % deleted, one untouched, one half deleted.
    PartitionedUneven,
}

impl Shape {
    pub const ALL: [Shape; 9] = [
        Shape::Compressed,
        Shape::RandomPrimaryKey,
        Shape::RandomSecondaryKey,
        Shape::Redundant,
        Shape::CompactOffPageText,
        Shape::RowsOverHalfAPage,
        Shape::MultiByteText,
        Shape::MostlyNullWideRows,
        Shape::PartitionedUneven,
    ];

    /// Its name, as a table name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Compressed => "compressed",
            Self::RandomPrimaryKey => "random_primary_key",
            Self::RandomSecondaryKey => "random_secondary_key",
            Self::Redundant => "redundant",
            Self::CompactOffPageText => "compact_off_page_text",
            Self::RowsOverHalfAPage => "rows_over_half_a_page",
            Self::MultiByteText => "multi_byte_text",
            Self::MostlyNullWideRows => "mostly_null_wide_rows",
            Self::PartitionedUneven => "partitioned_uneven",
        }
    }

    /// Rows inserted at full size (20 to 640 MiB files).
    pub fn rows(self) -> u64 {
        match self {
            Self::Compressed | Self::RandomPrimaryKey | Self::RandomSecondaryKey => 300_000,
            Self::PartitionedUneven => 300_000,
            Self::Redundant => 200_000,
            Self::MultiByteText | Self::MostlyNullWideRows => 150_000,
            Self::CompactOffPageText => 40_000,
            Self::RowsOverHalfAPage => 20_000,
        }
    }

    /// The statements that build `schema.table` with `rows` rows, fragmented (the schema must
    /// exist; `seq_1_to_N` is MariaDB's sequence engine).
    pub fn statements(self, schema: &str, table: &str, rows: u64) -> Vec<String> {
        let t = quote_table(schema, table);
        let seq = quote_table(schema, &format!("seq_1_to_{rows}"));
        let third = rows / 3;
        let (create, fill, fragment): (String, String, Vec<String>) = match self {
            Self::Compressed => (
                "(id INT PRIMARY KEY, a INT, b VARCHAR(200), c VARCHAR(200), KEY (a)) \
                 ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8"
                    .into(),
                "SELECT seq, seq % 1000, REPEAT(CONCAT('abc', seq % 97), 10), MD5(seq)".into(),
                vec![format!("DELETE FROM {t} WHERE id % 5 <> 0")],
            ),
            Self::RandomPrimaryKey => (
                "(id CHAR(32) PRIMARY KEY, a INT, b VARCHAR(100), KEY (a)) ENGINE=InnoDB".into(),
                "SELECT MD5(CONCAT(seq, RAND())), seq % 1000, REPEAT('x', 80)".into(),
                vec![],
            ),
            Self::RandomSecondaryKey => (
                "(id INT PRIMARY KEY AUTO_INCREMENT, k CHAR(64), b VARCHAR(100), KEY (k)) \
                 ENGINE=InnoDB"
                    .into(),
                "SELECT seq, CONCAT(MD5(CONCAT(seq, RAND())), MD5(seq)), REPEAT('y', 80)".into(),
                vec![],
            ),
            Self::Redundant => (
                "(id INT PRIMARY KEY, a INT, b VARCHAR(200), c CHAR(20), d DATETIME NULL, \
                 KEY (a)) ENGINE=InnoDB ROW_FORMAT=REDUNDANT DEFAULT CHARSET=utf8mb4"
                    .into(),
                "SELECT seq, seq % 1000, REPEAT('r', 60 + seq % 80), LEFT(MD5(seq), 8), \
                 IF(seq % 3 = 0, NOW(), NULL)"
                    .into(),
                vec![format!("DELETE FROM {t} WHERE id % 4 <> 0")],
            ),
            Self::CompactOffPageText => (
                "(id INT PRIMARY KEY, a INT, body TEXT, KEY (a)) ENGINE=InnoDB ROW_FORMAT=COMPACT"
                    .into(),
                "SELECT seq, seq % 100, IF(seq % 4 = 0, REPEAT(MD5(seq), 400), REPEAT('c', 300))"
                    .into(),
                vec![format!("DELETE FROM {t} WHERE id % 3 <> 0")],
            ),
            Self::RowsOverHalfAPage => (
                "(id INT PRIMARY KEY, a TEXT, b TEXT, c TEXT, d BLOB) ENGINE=InnoDB \
                 ROW_FORMAT=DYNAMIC"
                    .into(),
                "SELECT seq, REPEAT('a', 3000), REPEAT('b', 3000), REPEAT('c', 3000), \
                 IF(seq % 5 = 0, REPEAT(MD5(seq), 700), NULL)"
                    .into(),
                vec![format!("DELETE FROM {t} WHERE id % 3 <> 0")],
            ),
            Self::MultiByteText => (
                "(id INT PRIMARY KEY, code CHAR(40), name VARCHAR(100), note VARCHAR(300), \
                 KEY (code)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                    .into(),
                "SELECT seq, LEFT(MD5(seq), 4), REPEAT('\u{e9}t\u{e9}', 10 + seq % 10), \
                 REPEAT('\u{1F600}', 20 + seq % 40)"
                    .into(),
                vec![format!("DELETE FROM {t} WHERE id % 5 <> 0")],
            ),
            Self::MostlyNullWideRows => {
                let (mut cols, mut vals) = (String::new(), String::new());
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
                (
                    format!("(id INT PRIMARY KEY{cols}) ENGINE=InnoDB"),
                    format!("SELECT seq{vals}"),
                    vec![format!("DELETE FROM {t} WHERE id % 4 <> 0")],
                )
            }
            Self::PartitionedUneven => (
                format!(
                    "(id INT PRIMARY KEY, a INT, b VARCHAR(200), KEY (a)) ENGINE=InnoDB \
                     PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN ({}), \
                     PARTITION p1 VALUES LESS THAN ({}), PARTITION p2 VALUES LESS THAN MAXVALUE)",
                    third + 1,
                    2 * third + 1
                ),
                "SELECT seq, seq % 1000, REPEAT('p', 100 + seq % 100)".into(),
                vec![
                    format!("DELETE FROM {t} WHERE id <= {third} AND id % 10 <> 0"),
                    format!("DELETE FROM {t} WHERE id > {} AND id % 2 = 0", 2 * third),
                ],
            ),
        };
        let mut v = vec![
            format!("DROP TABLE IF EXISTS {t}"),
            format!("CREATE TABLE {t} {create}"),
            format!("INSERT INTO {t} {fill} FROM {seq}"),
        ];
        v.extend(fragment);
        v
    }
}
