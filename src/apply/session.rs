//! The two connections a node's worker holds: the dedicated DDL session (never pooled: pooled
//! sessions carry `sql_log_bin` and friends from one user to the next) and a control connection
//! for checks between statements and for `KILL QUERY` while a statement runs.

use crate::error::{Error, Result};
use crate::inspect::catalog;
use crate::mysql::flavor::{ServerInfo, server_info};
use crate::mysql::gates::{self, Position};
use crate::mysql::replication::replication_sources;
use crate::mysql::{self, ConnectSpec, Endpoint};
use crate::settings::Mode;
use crate::topology::{DatabaseNode, Role};
use sqlx::Executor;
use sqlx::mysql::MySqlConnection;
use std::time::Duration;

/// The session rebuilds run on.
pub struct DdlSession {
    conn: MySqlConnection,
    /// `CONNECTION_ID()`: what `KILL QUERY` names.
    pub id: u64,
}

/// One statement that prepares a DDL session, before any rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSetup {
    /// How long each rebuild may wait for its metadata lock, in seconds (at least 1).
    LockWaitTimeout(u64),
    /// binlog-off: nothing this session runs is written to the binary log.
    NoBinlog,
}

impl SessionSetup {
    /// The statements a session of `mode` runs first, in order: the one list the executor runs
    /// and `apply --dry-run` prints.
    pub fn of(mode: Mode, lock_wait_timeout_secs: u64) -> Vec<Self> {
        let mut v = vec![Self::LockWaitTimeout(lock_wait_timeout_secs.max(1))];
        if mode == Mode::BinlogOff {
            v.push(Self::NoBinlog);
        }
        v
    }

    /// The statement as a person reads it (the timeout is a bound parameter when it runs).
    pub fn sql(self) -> String {
        match self {
            Self::LockWaitTimeout(s) => format!("SET SESSION lock_wait_timeout = {s}"),
            Self::NoBinlog => "SET SESSION sql_log_bin = 0".into(),
        }
    }

    async fn run(self, conn: &mut MySqlConnection) -> std::result::Result<(), sqlx::Error> {
        match self {
            Self::LockWaitTimeout(s) => sqlx::query("SET SESSION lock_wait_timeout = ?")
                .bind(s)
                .execute(conn)
                .await
                .map(|_| ()),
            Self::NoBinlog => conn
                .execute("SET SESSION sql_log_bin = 0")
                .await
                .map(|_| ()),
        }
    }
}

impl DdlSession {
    /// Connects and prepares the session ([`SessionSetup::of`]): `lock_wait_timeout`, and in
    /// binlog-off `sql_log_bin=0` verified to be in force. A missing privilege is error 1008
    /// before any DDL.
    pub async fn open(
        node: &Endpoint,
        spec: &ConnectSpec,
        mode: Mode,
        lock_wait_timeout_secs: u64,
    ) -> Result<Self> {
        let mut conn = mysql::connect(node, spec).await?;
        for step in SessionSetup::of(mode, lock_wait_timeout_secs) {
            step.run(&mut conn)
                .await
                .map_err(|e| mysql::query_error(node, e))?;
        }
        let (log_bin, id): (i64, u64) =
            sqlx::query_as("SELECT CAST(@@session.sql_log_bin AS SIGNED), CONNECTION_ID()")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| mysql::query_error(node, e))?;
        let wanted = i64::from(mode == Mode::BinlogOn);
        if log_bin != wanted {
            return Err(Error::Privilege {
                node: node.to_string(),
                privilege: "SUPER or BINLOG ADMIN (to set sql_log_bin)".into(),
                message: format!(
                    "@@session.sql_log_bin is {log_bin} after setting it to {wanted}; refusing \
                     to run DDL"
                ),
            });
        }
        Ok(Self { conn, id })
    }

    /// Runs one rebuild statement of a table of `schema` (text protocol), with `schema` as the
    /// session's default database: replicas filter a binlogged DDL by its default database
    /// (`replicate_do_db`/`replicate_ignore_db`), so without it a replica with
    /// `replicate_do_db` would ignore every rebuild (see [`crate::topology::filters`]).
    pub async fn run(&mut self, schema: &str, sql: &str) -> std::result::Result<(), sqlx::Error> {
        self.conn.execute(use_schema(schema).as_str()).await?;
        self.conn.execute(sql).await.map(|_| ())
    }
}

/// `USE` of `schema`, run before each of its tables' rebuilds (and printed by `--dry-run`).
pub fn use_schema(schema: &str) -> String {
    format!("USE {}", mysql::quote_ident(schema))
}

/// A table as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum TableNow {
    Missing,
    NotFilePerTable,
    File(u64),
}

/// The control connection of a node.
pub struct Control {
    conn: MySqlConnection,
    pub node: Endpoint,
    info: ServerInfo,
    /// Whether metadata-lock holders can be seen exactly (asked once).
    sees_locks: Option<bool>,
}

impl Control {
    pub async fn open(node: &Endpoint, spec: &ConnectSpec) -> Result<Self> {
        let mut conn = mysql::connect(node, spec).await?;
        let info = server_info(&mut conn, node).await?;
        Ok(Self {
            conn,
            node: node.clone(),
            info,
            sees_locks: None,
        })
    }

    /// Stops the running statement of session `id` on the server.
    pub async fn kill_query(&mut self, id: u64) -> Result<()> {
        sqlx::query("KILL QUERY ?")
            .bind(id)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| mysql::query_error(&self.node, e))
    }

    /// Server facts and replication state now.
    pub async fn state(
        &mut self,
    ) -> Result<(ServerInfo, Vec<mysql::replication::ReplicationSource>)> {
        let info = server_info(&mut self.conn, &self.node).await?;
        let sources = replication_sources(&mut self.conn, &self.node, &info).await?;
        Ok((info, sources))
    }

    /// The node as it describes itself now (role from whether it has a source), for the drift
    /// rule and the lag gate.
    pub async fn live_node(&mut self) -> Result<DatabaseNode> {
        let (info, sources) = self.state().await?;
        let mut n = DatabaseNode::from_state(&self.node, &info, &sources, Role::Slave);
        n.role = super::drift::role_of(&n);
        Ok(n)
    }

    /// The node's binary log position now.
    pub async fn position(&mut self) -> Result<Position> {
        gates::binlog_position(&mut self.conn, &self.node, &self.info).await
    }

    /// Waits up to `timeout` for this replica to execute `pos` (see [`gates::wait_for_position`]).
    pub async fn wait_for(&mut self, pos: &Position, timeout: Duration) -> Result<Option<bool>> {
        gates::wait_for_position(&mut self.conn, &self.node, pos, timeout).await
    }

    /// Status variables `names` now.
    pub async fn load(&mut self, names: &[&str]) -> Result<Vec<(String, u64)>> {
        gates::global_status(&mut self.conn, &self.node, &self.info, names).await
    }

    /// The age of the pt-heartbeat row of `server_id` in `schema.table` here.
    pub async fn heartbeat(
        &mut self,
        schema: &str,
        table: &str,
        server_id: u32,
    ) -> Result<Option<Duration>> {
        gates::heartbeat_lag(&mut self.conn, &self.node, (schema, table), server_id).await
    }

    /// Sessions (but this one and `ddl`) holding `schema.table`'s metadata lock (see
    /// [`gates::lock_holders`]).
    pub async fn lock_holders(
        &mut self,
        schema: &str,
        table: &str,
        ddl: u64,
    ) -> Result<Vec<gates::LockHolder>> {
        let exact = match self.sees_locks {
            Some(x) => x,
            None => {
                let x = gates::sees_metadata_locks(&mut self.conn, &self.node, &self.info).await?;
                self.sees_locks = Some(x);
                x
            }
        };
        gates::lock_holders(
            &mut self.conn,
            &self.node,
            &self.info,
            exact,
            (schema, table),
            ddl,
        )
        .await
    }

    /// How far session `id`'s rebuild of a table of `schema` is; `None` when the session runs
    /// nothing now.
    pub async fn rebuild_progress(
        &mut self,
        id: u64,
        schema: &str,
    ) -> Result<Option<super::progress::Reading>> {
        use super::progress::{Param, mariadb_reading, mysql_reading, reading_sql};
        use crate::mysql::flavor::Flavor;
        let (sql, params) = reading_sql(self.info.flavor, schema, id);
        let node = self.node.clone();
        let err = |e| mysql::query_error(&node, e);
        let bind = |mut q: sqlx::query::Query<'static, sqlx::MySql, _>| {
            for p in params.iter().cloned() {
                q = match p {
                    Param::Text(t) => q.bind(t),
                    Param::Id(i) => q.bind(i),
                };
            }
            q
        };
        let row = bind(sqlx::query(sql))
            .fetch_optional(&mut self.conn)
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        use sqlx::Row;
        let col = |i| -> Result<Option<u64>> { row.try_get(i).map_err(err) };
        Ok(Some(match self.info.flavor {
            Flavor::MariaDb => mariadb_reading(
                col(0)?,
                col(1)?,
                row.try_get(2).map_err(err)?,
                col(3)?,
                col(4)?,
            ),
            _ => mysql_reading(row.try_get(0).map_err(err)?, col(1)?, col(2)?),
        }))
    }

    /// MySQL: turns on the stage instruments and consumer a rebuild's progress is read from,
    /// where they are off (server-wide; logged). Nothing on MariaDB.
    pub async fn enable_stage_progress(&mut self) {
        if self.info.flavor == crate::mysql::flavor::Flavor::MariaDb {
            return;
        }
        for sql in super::progress::enable_sql() {
            match self.conn.execute(sql).await {
                Ok(r) if r.rows_affected() > 0 => tracing::warn!(
                    "turned on {} performance_schema setting(s) to follow rebuild progress: {sql}",
                    r.rows_affected()
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    "cannot turn on the stage instruments (rebuild progress will not be shown): {e}"
                ),
            }
        }
    }

    /// Free bytes of the datadir's filesystem from the `DISKS` plugin; `None` where it is not
    /// loaded (or not readable), with the online-alter log's largest size.
    pub async fn free_disk(&mut self) -> Result<(Option<u64>, u64)> {
        let node = self.node.clone();
        let (datadir, log_max): (String, u64) = sqlx::query_as(
            "SELECT @@datadir, CAST(@@innodb_online_alter_log_max_size AS UNSIGNED)",
        )
        .fetch_one(&mut self.conn)
        .await
        .map_err(|e| mysql::query_error(&node, e))?;
        let mounts: Vec<(String, u64)> = match sqlx::query_as(super::disk::DISKS_SQL)
            .fetch_all(&mut self.conn)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("information_schema.DISKS cannot be read: {e}");
                return Ok((None, log_max));
            }
        };
        Ok((super::disk::free_of(&datadir, &mounts), log_max))
    }

    /// Whether the table exists as an InnoDB base table, and its file size (sum of partitions).
    pub async fn table_now(&mut self, schema: &str, table: &str) -> Result<TableNow> {
        let node = self.node.clone();
        let exists: Option<(String,)> = sqlx::query_as(
            "SELECT ENGINE FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
        )
        .bind(schema)
        .bind(table)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| mysql::query_error(&node, e))?;
        match exists {
            Some((engine,)) if engine.eq_ignore_ascii_case("InnoDB") => {}
            _ => return Ok(TableNow::Missing),
        }
        let (exact, prefix) = catalog::tablespace_names(schema, table);
        let rows: Vec<(String, i64, Option<u64>)> =
            sqlx::query_as(catalog::table_file_sql(self.info.flavor))
                .bind(&exact)
                .bind(&prefix)
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| mysql::query_error(&node, e))?;
        let mut total = 0;
        let mut found = false;
        for (name, space, size) in rows {
            let Some((s, t, _)) = catalog::split_innodb_name(&name) else {
                continue;
            };
            if s != schema || t != table {
                continue;
            }
            if space == 0 {
                return Ok(TableNow::NotFilePerTable);
            }
            match size {
                Some(sz) => {
                    found = true;
                    total += sz;
                }
                None => return Ok(TableNow::NotFilePerTable),
            }
        }
        Ok(if found {
            TableNow::File(total)
        } else {
            TableNow::NotFilePerTable
        })
    }
}
