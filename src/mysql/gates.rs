//! The questions the apply's gates ask a node, one function each whatever the flavor: its binary
//! log position and whether a replica has executed it, its load (status variables), its lag as a
//! pt-heartbeat row says it, and which sessions hold a table's metadata lock.
//!
//! Every value is a bound parameter; the heartbeat table's name goes through
//! [`super::quote_table`].

use super::flavor::{Flavor, ServerInfo};
use super::{Endpoint, query_error, query_rows, quote_table};
use crate::error::{Error, Result};
use chrono::{NaiveDateTime, Utc};
use sqlx::mysql::MySqlConnection;
use std::time::Duration;

/// What a node has written to its binary log so far, in the form its replicas can wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// MariaDB `@@gtid_binlog_pos` (every binlogged event has a GTID there).
    MariaDbGtid(String),
    /// MySQL `@@gtid_executed` (`gtid_mode=ON`).
    GtidSet(String),
    /// A binlog file and offset (MySQL with GTIDs off): only the node's direct replicas can
    /// wait for it; each of them then gives its own position to its replicas.
    File { file: String, pos: u64 },
}

impl Position {
    /// Whether replicas further down than the direct ones can wait for this same position.
    pub fn is_global(&self) -> bool {
        !matches!(self, Self::File { .. })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MariaDbGtid(p) | Self::GtidSet(p) => write!(f, "GTID {p}"),
            Self::File { file, pos } => write!(f, "{file}:{pos}"),
        }
    }
}

/// The node's binary log position now.
pub async fn binlog_position(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    info: &ServerInfo,
) -> Result<Position> {
    let scalar = |sql: &'static str| sqlx::query_scalar::<_, String>(sql);
    match info.flavor {
        Flavor::MariaDb => Ok(Position::MariaDbGtid(
            scalar("SELECT @@GLOBAL.gtid_binlog_pos")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| query_error(node, e))?,
        )),
        _ if info.assigns_gtids() => Ok(Position::GtidSet(
            scalar("SELECT @@GLOBAL.gtid_executed")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| query_error(node, e))?,
        )),
        f => {
            let sql = if f == Flavor::MySql84 {
                "SHOW BINARY LOG STATUS"
            } else {
                "SHOW MASTER STATUS"
            };
            let rows = query_rows(conn, node, sql).await?;
            let r = rows.first().ok_or_else(|| {
                Error::invalid(format!("{node}: {sql} is empty: the binary log is off"))
            })?;
            Ok(Position::File {
                file: r.text(&["File"]),
                pos: r.u64(&["Position"]).unwrap_or(0),
            })
        }
    }
}

/// Waits up to `timeout` for this replica to have executed `pos`: `Some(true)` when it has,
/// `Some(false)` when the time ran out, `None` when the server cannot tell (replication not
/// configured for it: `MASTER_POS_WAIT` returns NULL).
pub async fn wait_for_position(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    pos: &Position,
    timeout: Duration,
) -> Result<Option<bool>> {
    let secs = timeout.as_secs_f64();
    let r: Option<i64> = match pos {
        Position::MariaDbGtid(p) => sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, ?)")
            .bind(p)
            .bind(secs)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| query_error(node, e))?,
        Position::GtidSet(p) => sqlx::query_scalar("SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)")
            .bind(p)
            .bind(secs)
            .fetch_one(&mut *conn)
            .await
            .map(|r: Option<i64>| r.map(|v| if v == 0 { 0 } else { -1 }))
            .map_err(|e| query_error(node, e))?,
        Position::File { file, pos } => sqlx::query_scalar("SELECT MASTER_POS_WAIT(?, ?, ?)")
            .bind(file)
            .bind(pos)
            .bind(secs)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| query_error(node, e))?,
    };
    Ok(r.map(|v| v >= 0))
}

/// The values of status variables `names` now (`Threads_running`, …), as the server spells
/// them; a variable the server does not have is left out.
pub async fn global_status(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    info: &ServerInfo,
    names: &[&str],
) -> Result<Vec<(String, u64)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let view = match info.flavor {
        Flavor::MariaDb => "information_schema.GLOBAL_STATUS",
        _ => "performance_schema.global_status",
    };
    let marks = vec!["?"; names.len()].join(", ");
    let sql = format!(
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM {view} WHERE UPPER(VARIABLE_NAME) IN ({marks})"
    );
    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
    for n in names {
        q = q.bind(n.to_ascii_uppercase());
    }
    let rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| query_error(node, e))?;
    Ok(rows
        .into_iter()
        .filter_map(|(n, v)| {
            let v = v.trim().parse::<f64>().ok()?;
            Some((n, v.max(0.0) as u64))
        })
        .collect())
}

/// Lag from a pt-heartbeat table on this node: now minus the `ts` of the row written by
/// `server_id` (pt-heartbeat `--utc` writes UTC). `None` when there is no such row.
pub async fn heartbeat_lag(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    table: (&str, &str),
    server_id: u32,
) -> Result<Option<Duration>> {
    let sql = format!(
        "SELECT ts FROM {} WHERE server_id = ?",
        quote_table(table.0, table.1)
    );
    let ts: Option<String> = sqlx::query_scalar(&sql)
        .bind(server_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| query_error(node, e))?;
    Ok(ts.and_then(|t| heartbeat_age(&t, Utc::now().naive_utc())))
}

/// How old a pt-heartbeat `ts` (`2026-12-01T09:00:00.123456`, UTC) is at `now`; a `ts` in the
/// future (clock skew) is 0.
pub fn heartbeat_age(ts: &str, now: NaiveDateTime) -> Option<Duration> {
    let t = ts.trim();
    let parsed = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()?;
    Some((now - parsed).to_std().unwrap_or(Duration::ZERO))
}

/// A session holding a table's metadata lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub thread_id: u64,
    pub user: String,
    pub host: String,
    /// Seconds its transaction has been open (or its statement running, without one).
    pub age_secs: u64,
    /// What is known of the lock: its mode, or "may hold" when it cannot be seen.
    pub lock: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "thread {} ({}@{}, open {}s, {})",
            self.thread_id,
            if self.user.is_empty() {
                "?"
            } else {
                &self.user
            },
            if self.host.is_empty() {
                "?"
            } else {
                &self.host
            },
            self.age_secs,
            self.lock
        )
    }
}

/// Whether the server can tell who holds a metadata lock: MySQL always
/// (`performance_schema.metadata_locks`), MariaDB with the `metadata_lock_info` plugin loaded.
pub async fn sees_metadata_locks(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    info: &ServerInfo,
) -> Result<bool> {
    if info.flavor != Flavor::MariaDb {
        return Ok(true);
    }
    let plugin: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PLUGINS \
         WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| query_error(node, e))?;
    Ok(plugin > 0)
}

/// A background thread's transaction (or, without a view of metadata locks, any transaction)
/// open at least this long may hold the table for long; shorter ones hold it per batch or event
/// and only delay an ALTER briefly (`lock_wait_timeout` bounds what they cost).
pub const UNSEEN_HOLDER_AGE: Duration = Duration::from_secs(1);

/// Sessions other than this one and `also_not` that hold the metadata lock of `schema.table`.
/// With `exact` (see [`sees_metadata_locks`]): MySQL `performance_schema.metadata_locks`,
/// MariaDB `METADATA_LOCK_INFO` — every user session holding it, and background threads (purge,
/// a replication applier) whose transaction has been open at least [`UNSEEN_HOLDER_AGE`];
/// without: every transaction open at least that long (which may hold the table).
pub async fn lock_holders(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    info: &ServerInfo,
    exact: bool,
    table: (&str, &str),
    also_not: u64,
) -> Result<Vec<LockHolder>> {
    let min = if exact {
        0
    } else {
        UNSEEN_HOLDER_AGE.as_secs()
    };
    let (sql, binds_table) = match (info.flavor, exact) {
        (Flavor::MariaDb, true) => (MARIADB_MDL, true),
        (Flavor::MariaDb, false) => (MARIADB_TRX, false),
        _ => (MYSQL_MDL, true),
    };
    let mut q = sqlx::query_as::<_, (u64, String, String, i64, String)>(sql);
    if binds_table {
        q = q.bind(table.0).bind(table.1);
    }
    let rows = q
        .bind(also_not)
        .bind(min)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| query_error(node, e))?;
    Ok(rows
        .into_iter()
        .map(|(thread_id, user, host, age, lock)| LockHolder {
            thread_id,
            user,
            host,
            age_secs: age.max(0) as u64,
            lock,
        })
        .collect())
}

// A holder is a user session holding the table (any age: an idle transaction is the outage this
// prevents), or a background thread — InnoDB purge, a replication applier — whose transaction has
// been open at least the bound age (they take the lock per batch or per event, briefly; a long
// replicated transaction on the table is waited for).
const MARIADB_MDL: &str = "SELECT id, u, h, age, mode FROM (SELECT \
    CAST(m.THREAD_ID AS UNSIGNED) AS id, COALESCE(p.USER, '') AS u, COALESCE(p.HOST, '') AS h, \
    CAST(COALESCE(TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW()), MAX(p.TIME), 0) AS SIGNED) AS age, \
    GROUP_CONCAT(DISTINCT m.LOCK_MODE) AS mode, \
    MAX(p.ID IS NULL OR p.USER = 'system user' OR p.COMMAND = 'Daemon') AS background, \
    CAST(COALESCE(TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW()), -1) AS SIGNED) AS trx_age \
    FROM information_schema.METADATA_LOCK_INFO m \
    LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID \
    LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = m.THREAD_ID \
    WHERE m.TABLE_SCHEMA = ? AND m.TABLE_NAME = ? \
    AND m.THREAD_ID <> CONNECTION_ID() AND m.THREAD_ID <> ? \
    GROUP BY m.THREAD_ID, p.USER, p.HOST) x \
    WHERE x.background = 0 OR x.trx_age >= ? ORDER BY x.age DESC";

const MARIADB_TRX: &str = "SELECT * FROM (SELECT CAST(t.trx_mysql_thread_id AS UNSIGNED) AS id, \
    COALESCE(p.USER, '') AS u, COALESCE(p.HOST, '') AS h, \
    CAST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS SIGNED) AS age, \
    'may hold it: an open transaction (metadata_lock_info plugin not loaded)' AS mode \
    FROM information_schema.INNODB_TRX t \
    LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
    WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND t.trx_mysql_thread_id <> ?) x \
    WHERE x.age >= ? ORDER BY x.age DESC";

const MYSQL_MDL: &str = "SELECT id, u, h, age, mode FROM (SELECT \
    CAST(th.PROCESSLIST_ID AS UNSIGNED) AS id, \
    COALESCE(th.PROCESSLIST_USER, '') AS u, COALESCE(th.PROCESSLIST_HOST, '') AS h, \
    CAST(COALESCE(TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW()), MAX(th.PROCESSLIST_TIME), 0) AS SIGNED) AS age, \
    GROUP_CONCAT(DISTINCT m.LOCK_TYPE) AS mode, \
    MAX(th.TYPE = 'BACKGROUND' OR th.PROCESSLIST_USER IS NULL \
        OR th.PROCESSLIST_USER = 'system user') AS background, \
    CAST(COALESCE(TIMESTAMPDIFF(SECOND, MIN(t.trx_started), NOW()), -1) AS SIGNED) AS trx_age \
    FROM performance_schema.metadata_locks m \
    JOIN performance_schema.threads th ON th.THREAD_ID = m.OWNER_THREAD_ID \
    LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = th.PROCESSLIST_ID \
    WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = ? AND m.OBJECT_NAME = ? \
    AND m.LOCK_STATUS = 'GRANTED' AND th.PROCESSLIST_ID IS NOT NULL \
    AND th.PROCESSLIST_ID <> CONNECTION_ID() AND th.PROCESSLIST_ID <> ? \
    GROUP BY th.PROCESSLIST_ID, th.PROCESSLIST_USER, th.PROCESSLIST_HOST) x \
    WHERE x.background = 0 OR x.trx_age >= ? ORDER BY x.age DESC";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_ages_read_pt_heartbeat_timestamps() {
        let now = NaiveDateTime::parse_from_str("2026-12-01 10:00:05", "%Y-%m-%d %H:%M:%S")
            .expect("a time");
        assert_eq!(
            heartbeat_age("2026-12-01T10:00:02.500000", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            heartbeat_age("2026-12-01T10:00:09", now),
            Some(Duration::ZERO)
        );
        assert_eq!(heartbeat_age("yesterday", now), None);
    }

    #[test]
    fn holders_name_the_thread() {
        let h = LockHolder {
            thread_id: 42,
            user: "app".into(),
            host: "10.0.0.5:5123".into(),
            age_secs: 17,
            lock: "MDL_SHARED_READ".into(),
        };
        assert_eq!(
            h.to_string(),
            "thread 42 (app@10.0.0.5:5123, open 17s, MDL_SHARED_READ)"
        );
    }
}
