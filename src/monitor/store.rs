//! The metrics store (`persistence.metrics.file`, SQLite in WAL mode, separate from the job
//! store; in memory when `persistence.metrics.enabled` is false): every monitoring scan of a
//! cluster with its nodes and recorded tables, in the layout of `migrations-metrics/`, pruned
//! after `monitoring.metrics.retention`. Rows decode strictly: a value that does not is an
//! error naming the row.

use super::scan::{ClusterScan, NodeFigures, NodeStatus, ScanOutcome, TableFigures};
use crate::error::{Error, Result};
use crate::topology::ClusterTopology;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations-metrics");

fn db_err(e: impl std::fmt::Display) -> Error {
    Error::MetricsStore(e.to_string())
}

/// A scan as stored: its id and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScan {
    pub scan_id: i64,
    pub scan: ClusterScan,
}

/// One node's figures at one scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NodePoint {
    pub at: DateTime<Utc>,
    pub status: NodeStatus,
    pub file_bytes: u64,
    pub reclaimable_bytes: u64,
    pub tables: u64,
}

/// One table's figures at one scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TablePoint {
    pub at: DateTime<Utc>,
    pub file_bytes: u64,
    pub reclaim_bytes: u64,
}

/// A node's figures over time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NodeHistory {
    pub address: String,
    pub points: Vec<NodePoint>,
}

/// A table's figures over time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TableHistory {
    pub node: String,
    pub schema: String,
    pub table: String,
    pub points: Vec<TablePoint>,
}

/// Which history to read.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub since: Option<DateTime<Utc>>,
    pub node: Option<String>,
    pub schema: Option<String>,
}

/// The store.
#[derive(Debug, Clone)]
pub struct MetricsStore {
    pool: SqlitePool,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time_of(v: i64, what: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v)
        .ok_or_else(|| db_err(format!("{what}: {v} is not a time in milliseconds")))
}

fn count(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| db_err(format!("{what}: {v} is negative")))
}

fn status(v: &str, what: &str) -> Result<NodeStatus> {
    NodeStatus::parse(v).ok_or_else(|| db_err(format!("{what}: unknown node status {v:?}")))
}

impl MetricsStore {
    /// Opens (creating) the store at `path` and brings its tables up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| Error::file(path, e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::set_up(opts)
            .await
            .map_err(|e| db_err(format!("{}: {e}", path.display())))
    }

    /// A store in memory (`persistence.metrics.enabled: false`): the history lasts as long as
    /// the process.
    pub async fn in_memory() -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db_err)?
            .foreign_keys(true);
        Self::set_up(opts).await.map_err(db_err)
    }

    async fn set_up(opts: SqliteConnectOptions) -> std::result::Result<Self, sqlx::Error> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Records `scan` in one transaction; returns its id.
    pub async fn record(&self, scan: &ClusterScan) -> Result<i64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let topology = scan
            .topology
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(db_err)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scans (cluster, started_at, finished_at, outcome, error, topology) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING scan_id",
        )
        .bind(&scan.cluster)
        .bind(millis(scan.started_at))
        .bind(millis(scan.finished_at))
        .bind(scan.outcome.as_str())
        .bind(&scan.error)
        .bind(topology)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for n in &scan.nodes {
            sqlx::query(
                "INSERT INTO node_scans (scan_id, node, status, error, duration_ms, tables, \
                 file_bytes, reclaimable_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&n.address)
            .bind(n.status.as_str())
            .bind(&n.error)
            .bind(n.duration.as_millis() as i64)
            .bind(n.tables as i64)
            .bind(n.file_bytes as i64)
            .bind(n.reclaimable_bytes as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            for t in &n.table_figures {
                sqlx::query(
                    "INSERT INTO table_scans (scan_id, node, schema_name, table_name, \
                     file_bytes, reclaim_bytes) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(&n.address)
                .bind(&t.schema)
                .bind(&t.table)
                .bind(t.file_bytes as i64)
                .bind(t.reclaim_bytes as i64)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    /// Deletes the scans started before `before` (with their nodes and tables); returns how
    /// many.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let cut = millis(before);
        for sql in [
            "DELETE FROM table_scans WHERE scan_id IN (SELECT scan_id FROM scans WHERE started_at < ?)",
            "DELETE FROM node_scans WHERE scan_id IN (SELECT scan_id FROM scans WHERE started_at < ?)",
        ] {
            sqlx::query(sql)
                .bind(cut)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let n = sqlx::query("DELETE FROM scans WHERE started_at < ?")
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    /// The last scan of `cluster`, with up to `tables_per_node` recorded tables of each node
    /// (largest estimated reclaim first).
    pub async fn latest(
        &self,
        cluster: &str,
        tables_per_node: usize,
    ) -> Result<Option<StoredScan>> {
        let Some(row) = sqlx::query(
            "SELECT scan_id, started_at, finished_at, outcome, error, topology FROM scans \
             WHERE cluster = ? ORDER BY started_at DESC, scan_id DESC LIMIT 1",
        )
        .bind(cluster)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        let scan_id: i64 = row.try_get("scan_id").map_err(db_err)?;
        let what = format!("scan {scan_id}");
        let outcome: String = row.try_get("outcome").map_err(db_err)?;
        let topology: Option<String> = row.try_get("topology").map_err(db_err)?;
        let topology: Option<ClusterTopology> = topology
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| db_err(format!("{what}: topology: {e}")))?;
        let mut scan = ClusterScan {
            cluster: cluster.to_string(),
            started_at: time_of(row.try_get("started_at").map_err(db_err)?, &what)?,
            finished_at: time_of(row.try_get("finished_at").map_err(db_err)?, &what)?,
            outcome: ScanOutcome::parse(&outcome)
                .ok_or_else(|| db_err(format!("{what}: unknown outcome {outcome:?}")))?,
            error: row.try_get("error").map_err(db_err)?,
            topology,
            nodes: Vec::new(),
        };
        let rows = sqlx::query(
            "SELECT node, status, error, duration_ms, tables, file_bytes, reclaimable_bytes \
             FROM node_scans WHERE scan_id = ? ORDER BY rowid",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let node: String = r.try_get("node").map_err(db_err)?;
            let what = format!("scan {scan_id}, node {node}");
            let st: String = r.try_get("status").map_err(db_err)?;
            scan.nodes.push(NodeFigures {
                status: status(&st, &what)?,
                error: r.try_get("error").map_err(db_err)?,
                duration: Duration::from_millis(count(
                    r.try_get("duration_ms").map_err(db_err)?,
                    &what,
                )?),
                tables: count(r.try_get("tables").map_err(db_err)?, &what)?,
                file_bytes: count(r.try_get("file_bytes").map_err(db_err)?, &what)?,
                reclaimable_bytes: count(r.try_get("reclaimable_bytes").map_err(db_err)?, &what)?,
                table_figures: Vec::new(),
                address: node,
            });
        }
        if tables_per_node > 0 {
            let rows = sqlx::query(
                "SELECT node, schema_name, table_name, file_bytes, reclaim_bytes FROM ( \
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY node \
                     ORDER BY reclaim_bytes DESC, schema_name, table_name) AS k \
                   FROM table_scans WHERE scan_id = ?) WHERE k <= ? \
                 ORDER BY node, k",
            )
            .bind(scan_id)
            .bind(tables_per_node as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
            for r in rows {
                let node: String = r.try_get("node").map_err(db_err)?;
                let what = format!("scan {scan_id}, node {node}");
                let t = TableFigures {
                    schema: r.try_get("schema_name").map_err(db_err)?,
                    table: r.try_get("table_name").map_err(db_err)?,
                    file_bytes: count(r.try_get("file_bytes").map_err(db_err)?, &what)?,
                    reclaim_bytes: count(r.try_get("reclaim_bytes").map_err(db_err)?, &what)?,
                };
                if let Some(n) = scan.nodes.iter_mut().find(|n| n.address == node) {
                    n.table_figures.push(t);
                }
            }
        }
        Ok(Some(StoredScan { scan_id, scan }))
    }

    /// The figures of `cluster`'s nodes and recorded tables over time: nodes by address,
    /// tables by their last estimated reclaim (largest first), points oldest first.
    pub async fn history(
        &self,
        cluster: &str,
        q: &HistoryQuery,
    ) -> Result<(Vec<NodeHistory>, Vec<TableHistory>)> {
        let since = q.since.map_or(i64::MIN, millis);
        let rows = sqlx::query(
            "SELECT s.started_at, n.node, n.status, n.file_bytes, n.reclaimable_bytes, n.tables \
             FROM node_scans n JOIN scans s ON s.scan_id = n.scan_id \
             WHERE s.cluster = ? AND s.started_at >= ? AND (? IS NULL OR n.node = ?) \
             ORDER BY n.node, s.started_at, s.scan_id",
        )
        .bind(cluster)
        .bind(since)
        .bind(&q.node)
        .bind(&q.node)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut nodes: Vec<NodeHistory> = Vec::new();
        for r in rows {
            let node: String = r.try_get("node").map_err(db_err)?;
            let what = format!("node {node}");
            let st: String = r.try_get("status").map_err(db_err)?;
            let p = NodePoint {
                at: time_of(r.try_get("started_at").map_err(db_err)?, &what)?,
                status: status(&st, &what)?,
                file_bytes: count(r.try_get("file_bytes").map_err(db_err)?, &what)?,
                reclaimable_bytes: count(r.try_get("reclaimable_bytes").map_err(db_err)?, &what)?,
                tables: count(r.try_get("tables").map_err(db_err)?, &what)?,
            };
            match nodes.last_mut() {
                Some(h) if h.address == node => h.points.push(p),
                _ => nodes.push(NodeHistory {
                    address: node,
                    points: vec![p],
                }),
            }
        }
        let rows = sqlx::query(
            "SELECT s.started_at, t.node, t.schema_name, t.table_name, t.file_bytes, \
             t.reclaim_bytes FROM table_scans t JOIN scans s ON s.scan_id = t.scan_id \
             WHERE s.cluster = ? AND s.started_at >= ? AND (? IS NULL OR t.node = ?) \
             AND (? IS NULL OR t.schema_name = ?) \
             ORDER BY t.node, t.schema_name, t.table_name, s.started_at, s.scan_id",
        )
        .bind(cluster)
        .bind(since)
        .bind(&q.node)
        .bind(&q.node)
        .bind(&q.schema)
        .bind(&q.schema)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut tables: BTreeMap<(String, String, String), Vec<TablePoint>> = BTreeMap::new();
        for r in rows {
            let key: (String, String, String) = (
                r.try_get("node").map_err(db_err)?,
                r.try_get("schema_name").map_err(db_err)?,
                r.try_get("table_name").map_err(db_err)?,
            );
            let what = format!("table {}.{} on {}", key.1, key.2, key.0);
            tables.entry(key).or_default().push(TablePoint {
                at: time_of(r.try_get("started_at").map_err(db_err)?, &what)?,
                file_bytes: count(r.try_get("file_bytes").map_err(db_err)?, &what)?,
                reclaim_bytes: count(r.try_get("reclaim_bytes").map_err(db_err)?, &what)?,
            });
        }
        let mut tables: Vec<TableHistory> = tables
            .into_iter()
            .map(|((node, schema, table), points)| TableHistory {
                node,
                schema,
                table,
                points,
            })
            .collect();
        let last = |t: &TableHistory| t.points.last().map_or(0, |p| p.reclaim_bytes);
        tables.sort_by_key(|t| std::cmp::Reverse(last(t)));
        Ok((nodes, tables))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(cluster: &str, at: DateTime<Utc>, reclaim: u64) -> ClusterScan {
        let node = |addr: &str, status, reclaim: u64| NodeFigures {
            address: addr.into(),
            status,
            error: (status != NodeStatus::Scanned).then(|| "refused".to_string()),
            duration: Duration::from_millis(12),
            tables: 3,
            file_bytes: 10 << 20,
            reclaimable_bytes: reclaim,
            table_figures: if status == NodeStatus::Scanned {
                vec![
                    TableFigures {
                        schema: "s".into(),
                        table: "big".into(),
                        file_bytes: 8 << 20,
                        reclaim_bytes: reclaim,
                    },
                    TableFigures {
                        schema: "t".into(),
                        table: "small".into(),
                        file_bytes: 2 << 20,
                        reclaim_bytes: 0,
                    },
                ]
            } else {
                Vec::new()
            },
        };
        ClusterScan {
            cluster: cluster.into(),
            started_at: at,
            finished_at: at + chrono::Duration::milliseconds(40),
            outcome: ScanOutcome::Partial,
            error: None,
            topology: None,
            nodes: vec![
                node("127.0.0.1:1", NodeStatus::Scanned, reclaim),
                node("127.0.0.1:2", NodeStatus::Unreachable, 0),
            ],
        }
    }

    #[tokio::test]
    async fn scans_round_trip_are_read_as_history_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetricsStore::open(&dir.path().join("m/metrics.db"))
            .await
            .unwrap();
        let t0 = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let t1 = t0 + chrono::Duration::seconds(30);
        store.record(&scan("a", t0, 5 << 20)).await.unwrap();
        let id = store.record(&scan("a", t1, 6 << 20)).await.unwrap();
        store.record(&scan("b", t1, 1)).await.unwrap();

        let last = store.latest("a", 1).await.unwrap().unwrap();
        assert_eq!(last.scan_id, id);
        let mut want = scan("a", t1, 6 << 20);
        want.nodes[0].table_figures.truncate(1);
        assert_eq!(last.scan, want, "one table per node, the largest reclaim");
        assert!(store.latest("c", 1).await.unwrap().is_none());

        let (nodes, tables) = store.history("a", &HistoryQuery::default()).await.unwrap();
        assert_eq!(nodes.len(), 2);
        let reclaims: Vec<u64> = nodes[0]
            .points
            .iter()
            .map(|p| p.reclaimable_bytes)
            .collect();
        assert_eq!(reclaims, [5 << 20, 6 << 20]);
        assert_eq!(nodes[1].points[0].status, NodeStatus::Unreachable);
        let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(names, ["big", "small"], "the largest reclaim first");

        let q = HistoryQuery {
            since: Some(t1),
            node: Some("127.0.0.1:1".into()),
            schema: Some("t".into()),
        };
        let (nodes, tables) = store.history("a", &q).await.unwrap();
        assert_eq!((nodes.len(), nodes[0].points.len()), (1, 1));
        assert_eq!((tables.len(), tables[0].schema.as_str()), (1, "t"));

        assert_eq!(store.prune(t1).await.unwrap(), 1, "the scan of a at t0");
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans WHERE cluster = 'a'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept, 1);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM table_scans")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, 4, "the tables of the two scans at t1");
    }

    #[tokio::test]
    async fn a_row_that_does_not_decode_is_an_error_naming_it() {
        let store = MetricsStore::in_memory().await.unwrap();
        let t0 = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        store.record(&scan("a", t0, 1)).await.unwrap();
        sqlx::query("UPDATE node_scans SET tables = -1 WHERE node = '127.0.0.1:2'")
            .execute(&store.pool)
            .await
            .unwrap();
        let e = store.latest("a", 0).await.unwrap_err();
        assert_eq!(e.code().as_u16(), 1000);
        assert!(e.to_string().contains("node 127.0.0.1:2"), "{e}");
    }
}
