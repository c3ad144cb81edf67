//! Progress inside one rebuild, read from a second connection while the ALTER runs.
//!
//! MariaDB: `information_schema.PROCESSLIST.PROGRESS` (with `STAGE`/`MAX_STAGE`) of the DDL
//! session, where the server reports it (a copying ALTER). An in-place InnoDB rebuild leaves it
//! at 0 (seen on 10.11: `0 0 0.000 altering table` for the whole statement), so there the
//! fraction is InnoDB's own `Innodb_onlineddl_pct_progress` (hundredths of a percent; one
//! online DDL at a time per node, which is how the executor runs them — another tool's
//! concurrent online DDL would mix in), taken only while this session's new tablespace
//! (`schema/#sql-alter-<pid>-<connection id in hex>`) exists; that tablespace's size is the
//! bytes written so far. Seen rising steadily over a 10 s rebuild of 356 MiB: 59 … 8581, and
//! 6 MiB … 331 MiB written.
//!
//! MySQL 8: `performance_schema.events_stages_current` (`WORK_COMPLETED`/`WORK_ESTIMATED`) of
//! the session's thread, whose `stage/innodb/alter%` instruments and `events_stages_current`
//! consumer are enabled before the first rebuild when they are off ([`enable_sql`]). Written
//! from MySQL's documentation and not run here (no MySQL server in this environment).

use crate::mysql::flavor::Flavor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the server says about a running rebuild.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// Done, 0 to 1.
    pub fraction: Option<f64>,
    /// Bytes of the new tablespace so far (MariaDB).
    pub bytes_written: Option<u64>,
    /// The server's name of the stage (`stage/innodb/alter table (read PK and internal
    /// sort)`, `2 of 3`).
    pub stage: Option<String>,
}

/// One rebuild under way and how far it is: the job view's `rebuilds`, the progress bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RebuildNow {
    pub node: String,
    pub schema: String,
    pub table: String,
    pub started_at: DateTime<Utc>,
    /// The file when it started.
    pub size_before: u64,
    /// The plan's estimate of the rebuilt file.
    pub estimated_bytes: u64,
    /// Bytes of the new file written so far, where the server tells (MariaDB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Done, in percent, as the server reports it; absent until it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The plan's estimate of the whole rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_duration_s: Option<f64>,
    /// Seconds left: from the server's fraction and the time so far once it reports, else
    /// from the estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_s: Option<f64>,
}

impl RebuildNow {
    /// Seconds since it started, as of `now`.
    pub fn elapsed(&self, now: DateTime<Utc>) -> f64 {
        ((now - self.started_at).num_milliseconds() as f64 / 1000.0).max(0.0)
    }

    /// Folds a reading in, as of `now`: percent, bytes written, stage, and the time left.
    pub fn read(&mut self, r: Reading, now: DateTime<Utc>) {
        let el = self.elapsed(now);
        self.percent = r
            .fraction
            .map(|f| (f.clamp(0.0, 1.0) * 1000.0).round() / 10.0);
        self.bytes_written = r.bytes_written;
        self.stage = r.stage;
        self.eta_s = match (r.fraction, self.estimated_duration_s) {
            // Too early a fraction says little: the estimate is better then.
            (Some(f), _) if f >= 0.02 => Some(el * (1.0 - f.min(1.0)) / f),
            (_, Some(est)) => Some((est - el).max(0.0)),
            _ => None,
        }
        .map(|s| s.round());
    }

    /// One line: `43.0%, 120.0 MiB of ~280.0 MiB written, ~2m left`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.percent {
            parts.push(format!("{p:.1}%"));
        }
        if let Some(b) = self.bytes_written {
            parts.push(format!(
                "{} of ~{} written",
                crate::plan::human_bytes(b),
                crate::plan::human_bytes(self.estimated_bytes)
            ));
        }
        if let Some(s) = self.eta_s {
            parts.push(format!("{} left", crate::plan::duration::human_duration(s)));
        }
        parts.join(", ")
    }
}

/// The query reading the progress of session `id` rebuilding a table of `schema`, with its
/// parameters in order.
pub fn reading_sql(flavor: Flavor, schema: &str, id: u64) -> (&'static str, Vec<Param>) {
    match flavor {
        Flavor::MariaDb => {
            let dir = crate::inspect::catalog::encode_filename(schema).unwrap_or_default();
            let dir = like_escape(&dir);
            (
                "SELECT CAST(p.STAGE AS UNSIGNED), CAST(p.MAX_STAGE AS UNSIGNED), \
                 CAST(p.PROGRESS AS DOUBLE), \
                 (SELECT CAST(VARIABLE_VALUE AS UNSIGNED) FROM information_schema.GLOBAL_STATUS \
                  WHERE VARIABLE_NAME = 'INNODB_ONLINEDDL_PCT_PROGRESS'), \
                 (SELECT CAST(SUM(FILE_SIZE) AS UNSIGNED) \
                  FROM information_schema.INNODB_SYS_TABLESPACES \
                  WHERE NAME LIKE ? OR NAME LIKE ?) \
                 FROM information_schema.PROCESSLIST p WHERE p.ID = ?",
                vec![
                    Param::Text(format!("{dir}/#sql-alter-%-{id:x}")),
                    Param::Text(format!("{dir}/#sql-alter-%-{id:x}#P#%")),
                    Param::Id(id),
                ],
            )
        }
        Flavor::MySql57 | Flavor::MySql80 | Flavor::MySql84 => (
            "SELECT s.EVENT_NAME, CAST(s.WORK_COMPLETED AS UNSIGNED), \
             CAST(s.WORK_ESTIMATED AS UNSIGNED) \
             FROM performance_schema.events_stages_current s \
             JOIN performance_schema.threads t ON t.THREAD_ID = s.THREAD_ID \
             WHERE t.PROCESSLIST_ID = ?",
            vec![Param::Id(id)],
        ),
    }
}

/// A bound parameter of [`reading_sql`].
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Id(u64),
}

/// MySQL: the statements that turn on what [`reading_sql`] reads, each changing only what is
/// off (instruments and consumers are server-wide in MySQL; the tool logs that it turned them
/// on).
pub fn enable_sql() -> [&'static str; 2] {
    [
        "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES', TIMED = 'YES' \
         WHERE NAME LIKE 'stage/innodb/alter%' AND (ENABLED = 'NO' OR TIMED = 'NO')",
        "UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' \
         WHERE NAME IN ('events_stages_current') AND ENABLED = 'NO'",
    ]
}

/// `s` with `LIKE`'s wildcards and escape character taken literally.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// MariaDB's row: `STAGE`, `MAX_STAGE`, `PROGRESS` (percent), InnoDB's online-DDL progress
/// (hundredths of a percent) and the size of the session's new tablespace.
pub fn mariadb_reading(
    stage: Option<u64>,
    max_stage: Option<u64>,
    progress: Option<f64>,
    innodb_pct: Option<u64>,
    written: Option<u64>,
) -> Reading {
    match (max_stage, progress) {
        (Some(max), Some(p)) if max > 0 => Reading {
            fraction: Some(p / 100.0),
            bytes_written: written,
            stage: Some(format!("{} of {max}", stage.unwrap_or(1))),
        },
        _ => Reading {
            // InnoDB's figure belongs to this session's rebuild only once its file exists.
            fraction: written
                .and(innodb_pct)
                .filter(|p| *p > 0)
                .map(|p| p as f64 / 10_000.0),
            bytes_written: written,
            stage: None,
        },
    }
}

/// MySQL's row: the stage's name and its work completed and estimated.
pub fn mysql_reading(event: String, completed: Option<u64>, estimated: Option<u64>) -> Reading {
    let fraction = match (completed, estimated) {
        (Some(c), Some(e)) if e > 0 => Some(c as f64 / e as f64),
        _ => None,
    };
    Reading {
        fraction,
        bytes_written: None,
        stage: Some(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_progress_comes_from_the_processlist_or_innodb() {
        // A copying ALTER reports its own progress.
        let r = mariadb_reading(Some(1), Some(2), Some(40.0), Some(0), None);
        assert_eq!(r.fraction, Some(0.4));
        assert_eq!(r.stage.as_deref(), Some("1 of 2"));
        // An in-place rebuild: 0 in the processlist, InnoDB's figure once the file exists.
        let r = mariadb_reading(Some(0), Some(0), Some(0.0), Some(4321), Some(6 << 20));
        assert_eq!(r.fraction, Some(0.4321));
        assert_eq!(r.bytes_written, Some(6 << 20));
        let before_the_file = mariadb_reading(Some(0), Some(0), Some(0.0), Some(9000), None);
        assert_eq!(before_the_file.fraction, None);
    }

    #[test]
    fn mysql_progress_is_work_completed_over_estimated() {
        let r = mysql_reading(
            "stage/innodb/alter table (read PK and internal sort)".into(),
            Some(25),
            Some(100),
        );
        assert_eq!(r.fraction, Some(0.25));
        assert_eq!(mysql_reading("x".into(), Some(1), Some(0)).fraction, None);
    }

    #[test]
    fn the_session_is_found_by_its_tablespace_name() {
        let (sql, params) = reading_sql(Flavor::MariaDb, "shop_db", 322);
        assert!(sql.contains("INNODB_ONLINEDDL_PCT_PROGRESS"));
        assert_eq!(
            params,
            [
                Param::Text("shop\\_db/#sql-alter-%-142".into()),
                Param::Text("shop\\_db/#sql-alter-%-142#P#%".into()),
                Param::Id(322)
            ]
        );
        let (sql, params) = reading_sql(Flavor::MySql80, "shop", 9);
        assert!(sql.contains("events_stages_current"));
        assert_eq!(params, [Param::Id(9)]);
    }

    #[test]
    fn time_left_follows_the_server_once_it_reports() {
        let t0: DateTime<Utc> = "2026-12-01T01:00:00Z".parse().unwrap();
        let mut r = RebuildNow {
            node: "n:1".into(),
            schema: "s".into(),
            table: "t".into(),
            started_at: t0,
            size_before: 400 << 20,
            estimated_bytes: 280 << 20,
            bytes_written: None,
            percent: None,
            stage: None,
            estimated_duration_s: Some(100.0),
            eta_s: None,
        };
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        r.read(Reading::default(), at(30));
        assert_eq!(r.eta_s, Some(70.0));
        r.read(
            Reading {
                fraction: Some(0.25),
                bytes_written: Some(70 << 20),
                stage: None,
            },
            at(40),
        );
        assert_eq!((r.percent, r.eta_s), (Some(25.0), Some(120.0)));
        assert_eq!(
            r.describe(),
            "25.0%, 70.0 MiB of ~280.0 MiB written, ~2m left"
        );
    }
}
