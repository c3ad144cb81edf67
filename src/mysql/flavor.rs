//! Server flavor and version, and the node facts every later stage needs.
//!
//! One statement serves every flavor: `SHOW GLOBAL VARIABLES WHERE Variable_name IN (…)` simply
//! leaves out variables a server does not have (`super_read_only` on MariaDB, `server_uuid` on
//! MariaDB, `gtid_strict_mode` on MySQL), where `SELECT @@x` would fail.

use super::{Endpoint, Row, parse_flag, query_rows};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use sqlx::mysql::MySqlConnection;
use std::collections::HashMap;
use std::fmt;

/// The server family and generation; decides which SQL a question needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// MySQL 5.7 and older (and Percona Server of the same generation).
    #[serde(rename = "mysql-5.7")]
    MySql57,
    /// MySQL 8.0.
    #[serde(rename = "mysql-8.0")]
    MySql80,
    /// MySQL 8.1 and later (8.4 LTS, 9.x): `SHOW SLAVE …` removed.
    #[serde(rename = "mysql-8.4")]
    MySql84,
    /// MariaDB (any version with GTID and multi-source: 10.0+).
    #[serde(rename = "mariadb")]
    MariaDb,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MySql57 => "mysql-5.7",
            Self::MySql80 => "mysql-8.0",
            Self::MySql84 => "mysql-8.4",
            Self::MariaDb => "mariadb",
        })
    }
}

/// A `major.minor.patch` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses the leading `X.Y.Z` of a version string such as `10.11.19-MariaDB-0+deb12u1`.
    pub fn parse(s: &str) -> Option<Self> {
        let head: String = s
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = head.split('.').filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(Self(major, minor, patch))
    }
}

impl Flavor {
    /// Detects the flavor from `version` and `version_comment`.
    pub fn detect(version: &str, comment: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb")
            || comment.to_ascii_lowercase().contains("mariadb")
        {
            return Self::MariaDb;
        }
        match Version::parse(version) {
            Some(v) if v >= Version(8, 1, 0) => Self::MySql84,
            Some(v) if v >= Version(8, 0, 0) => Self::MySql80,
            _ => Self::MySql57,
        }
    }
}

/// The facts of one node read in one round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub flavor: Flavor,
    pub version: String,
    pub server_id: u32,
    /// MySQL only; MariaDB has no server UUID.
    pub server_uuid: Option<String>,
    pub read_only: bool,
    /// MySQL only.
    pub super_read_only: Option<bool>,
    pub log_bin: bool,
    pub log_slave_updates: bool,
    /// MySQL `gtid_mode`; on MariaDB, GTIDs are always assigned to binlogged events: `ON`.
    pub gtid_mode: Option<String>,
    /// Galera / PXC is on (`wsrep_on=ON`).
    pub wsrep_on: bool,
    pub innodb_file_per_table: bool,
    pub innodb_page_size: u64,
    /// `report_host` / `report_port`, when set.
    pub report_host: Option<String>,
    pub report_port: Option<u16>,
    /// The `port` the server listens on.
    pub port: Option<u16>,
}

const VARIABLES: &str = "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', \
    'version_comment', 'server_id', 'server_uuid', 'read_only', 'super_read_only', 'log_bin', \
    'log_slave_updates', 'log_replica_updates', 'gtid_mode', 'wsrep_on', \
    'innodb_file_per_table', 'innodb_page_size', 'report_host', 'report_port', 'port')";

impl ServerInfo {
    /// Builds the facts from `SHOW GLOBAL VARIABLES` rows (`Variable_name`, `Value`).
    pub fn from_variables(rows: &[Row]) -> Self {
        let vars: HashMap<String, String> = rows
            .iter()
            .map(|r| {
                (
                    r.text(&["Variable_name"]).to_ascii_lowercase(),
                    r.text(&["Value"]),
                )
            })
            .collect();
        let get = |k: &str| vars.get(k).map(String::as_str);
        let flag = |k: &str| get(k).map(parse_flag);
        let version = get("version").unwrap_or_default().to_string();
        let flavor = Flavor::detect(&version, get("version_comment").unwrap_or_default());
        let nonempty = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::to_string);
        Self {
            flavor,
            server_id: get("server_id").and_then(|v| v.parse().ok()).unwrap_or(0),
            server_uuid: nonempty("server_uuid"),
            read_only: flag("read_only").unwrap_or(false),
            super_read_only: flag("super_read_only"),
            log_bin: flag("log_bin").unwrap_or(false),
            log_slave_updates: flag("log_replica_updates")
                .or_else(|| flag("log_slave_updates"))
                .unwrap_or(false),
            gtid_mode: match flavor {
                Flavor::MariaDb => Some("ON".into()),
                _ => nonempty("gtid_mode"),
            },
            wsrep_on: flag("wsrep_on").unwrap_or(false),
            innodb_file_per_table: flag("innodb_file_per_table").unwrap_or(true),
            innodb_page_size: get("innodb_page_size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(16_384),
            report_host: nonempty("report_host"),
            report_port: get("report_port")
                .and_then(|v| v.parse().ok())
                .filter(|p| *p != 0),
            port: get("port").and_then(|v| v.parse().ok()),
            version,
        }
    }

    /// The parsed version number.
    pub fn version_number(&self) -> Version {
        Version::parse(&self.version).unwrap_or(Version(0, 0, 0))
    }

    /// Whether a binlogged local write on this node gets a GTID (the errant-GTID risk).
    pub fn assigns_gtids(&self) -> bool {
        self.log_bin
            && self
                .gtid_mode
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("ON"))
    }
}

/// Reads the node's facts.
pub async fn server_info(conn: &mut MySqlConnection, node: &Endpoint) -> Result<ServerInfo> {
    let rows = query_rows(conn, node, VARIABLES).await?;
    Ok(ServerInfo::from_variables(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<Row> {
        pairs
            .iter()
            .map(|(k, v)| Row::from_pairs([("Variable_name", Some(*k)), ("Value", Some(*v))]))
            .collect()
    }

    #[test]
    fn detects_flavors() {
        assert_eq!(
            Flavor::detect("10.11.19-MariaDB-0+deb12u1-log", "Debian 12"),
            Flavor::MariaDb
        );
        assert_eq!(
            Flavor::detect("5.7.44-log", "MySQL Community Server (GPL)"),
            Flavor::MySql57
        );
        assert_eq!(Flavor::detect("8.0.36", ""), Flavor::MySql80);
        assert_eq!(Flavor::detect("8.4.3", ""), Flavor::MySql84);
        assert_eq!(Flavor::detect("9.1.0", ""), Flavor::MySql84);
        assert_eq!(Version::parse("8.0.22-13"), Some(Version(8, 0, 22)));
    }

    /// Captured from MariaDB 10.11 (sandbox replica).
    #[test]
    fn mariadb_variables() {
        let info = ServerInfo::from_variables(&vars(&[
            ("innodb_file_per_table", "ON"),
            ("innodb_page_size", "16384"),
            ("log_bin", "ON"),
            ("log_slave_updates", "ON"),
            ("port", "23307"),
            ("read_only", "ON"),
            ("report_host", "127.0.0.1"),
            ("report_port", "23307"),
            ("server_id", "2"),
            ("version", "10.11.19-MariaDB-0+deb12u1-log"),
            ("version_comment", "Debian 12"),
            ("wsrep_on", "OFF"),
        ]));
        assert_eq!(info.flavor, Flavor::MariaDb);
        assert_eq!(info.server_id, 2);
        assert!(info.read_only && info.log_bin && info.log_slave_updates);
        assert_eq!(info.server_uuid, None);
        assert_eq!(info.super_read_only, None);
        assert_eq!(info.report_port, Some(23307));
        assert!(info.assigns_gtids());
        assert!(!info.wsrep_on);
    }

    /// Captured from MySQL 8.0.36 (replica with GTIDs and super_read_only).
    #[test]
    fn mysql8_variables() {
        let info = ServerInfo::from_variables(&vars(&[
            ("gtid_mode", "ON"),
            ("innodb_file_per_table", "ON"),
            ("innodb_page_size", "16384"),
            ("log_bin", "ON"),
            ("log_replica_updates", "ON"),
            ("log_slave_updates", "ON"),
            ("port", "3306"),
            ("read_only", "ON"),
            ("report_host", ""),
            ("report_port", "3306"),
            ("server_id", "102"),
            ("server_uuid", "3e11fa47-71ca-11e1-9e33-c80aa9429562"),
            ("super_read_only", "ON"),
            ("version", "8.0.36"),
            ("version_comment", "MySQL Community Server - GPL"),
        ]));
        assert_eq!(info.flavor, Flavor::MySql80);
        assert_eq!(
            info.server_uuid.as_deref(),
            Some("3e11fa47-71ca-11e1-9e33-c80aa9429562")
        );
        assert_eq!(info.super_read_only, Some(true));
        assert_eq!(info.report_host, None);
        assert!(info.assigns_gtids());
    }

    /// MySQL 5.7 without GTIDs, a Galera node (PXC 5.7) as the second case.
    #[test]
    fn mysql57_and_galera_variables() {
        let info = ServerInfo::from_variables(&vars(&[
            ("gtid_mode", "OFF"),
            ("log_bin", "ON"),
            ("read_only", "OFF"),
            ("server_id", "1"),
            ("super_read_only", "OFF"),
            ("version", "5.7.44-log"),
            ("version_comment", "MySQL Community Server (GPL)"),
        ]));
        assert_eq!(info.flavor, Flavor::MySql57);
        assert!(!info.assigns_gtids());
        let pxc = ServerInfo::from_variables(&vars(&[
            ("version", "5.7.44-48-57"),
            ("version_comment", "Percona XtraDB Cluster (GPL)"),
            ("wsrep_on", "ON"),
        ]));
        assert!(pxc.wsrep_on);
    }
}
