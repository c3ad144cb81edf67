//! The store's layout: the migrations in `migrations/`, applied when a store is opened, and the
//! adoption of a store made before migrations.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;

/// The store's layout: `migrations/`, applied in order when the store is opened.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!();

/// The migration whose layout a store made before migrations is brought to first.
pub(super) const BASELINE: i64 = 1;

/// Brings a store made before migrations (it has a `jobs` table and no `_sqlx_migrations`) to
/// the layout of the [`BASELINE`] migration, which is written to run safely on it then: each of
/// its tables gets the columns of that migration it lacks (added over time: `jobs.owner_pid`,
/// `jobs.run_state`, `ledger.unneeded`), defined as the migration defines them. Tables it lacks
/// altogether, and indexes, the migration creates.
async fn adopt(tx: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let tables = |c| {
        sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(c)
    };
    let have = tables(&mut *tx).await?;
    if !have.iter().any(|t| t == "jobs") || have.iter().any(|t| t == "_sqlx_migrations") {
        return Ok(());
    }
    let baseline = MIGRATOR
        .iter()
        .find(|m| m.version == BASELINE)
        .ok_or_else(|| {
            sqlx::Error::Configuration("this build lacks the baseline migration".into())
        })?;
    // The baseline's layout, read from a scratch database it is run on.
    let mut scratch = SqliteConnectOptions::from_str("sqlite::memory:")?
        .connect()
        .await?;
    sqlx::raw_sql(&baseline.sql).execute(&mut scratch).await?;
    type Column = (String, String, bool, Option<String>);
    let columns = |t: String| {
        sqlx::query_as::<_, Column>(
            "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?)",
        )
        .bind(t)
    };
    for table in tables(&mut scratch).await? {
        if !have.contains(&table) {
            continue;
        }
        let present = columns(table.clone()).fetch_all(&mut *tx).await?;
        for (name, ty, not_null, default) in columns(table.clone()).fetch_all(&mut scratch).await? {
            if present.iter().any(|c| c.0 == name) {
                continue;
            }
            let mut def = format!(
                "ALTER TABLE {} ADD COLUMN {} {ty}",
                quote(&table),
                quote(&name)
            );
            if not_null {
                def.push_str(" NOT NULL");
            }
            if let Some(d) = default {
                def.push_str(&format!(" DEFAULT {d}"));
            }
            sqlx::query(&def).execute(&mut *tx).await?;
        }
    }
    scratch.close().await
}

/// `name` as an SQLite identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every migration the store lacks, in one write transaction, so two processes opening a store
/// at once take turns; a store made before migrations is adopted first.
pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), String> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| e.to_string())?;
    adopt(&mut tx).await.map_err(|e| e.to_string())?;
    MIGRATOR.run(&mut *tx).await.map_err(|e| match e {
        MigrateError::VersionMissing(v) => format!(
            "it was written by a newer version of this tool (migration {v} is unknown \
                 here); use that version"
        ),
        e => e.to_string(),
    })?;
    tx.commit().await.map_err(|e| e.to_string())
}
