//! Typed configuration: defaults < `config.yaml` < `RECYCLER_*` environment < command-line flags.
//!
//! The file format is the spec's §4.1 `config.yaml`, extended by the design (§10). Every struct
//! denies unknown keys, so a typo such as `recycling.defaults.treshold_mb` is an error naming the
//! full path instead of a silently ignored setting. Durations are written like `30s`, `1h`, `7d`.

use crate::error::{Error, Result};
use crate::input::{self, Problem, one_of};
use crate::secret::Secret;
use crate::settings::{HumanDuration, RecyclingDefaults};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most tables per node `/metrics` exports (`monitoring.metrics.top_tables`).
pub const MAX_TOP_TABLES: usize = 1000;

/// The path read when neither `--config` nor `RECYCLER_CONFIG_FILE` is given.
pub const DEFAULT_CONFIG_PATH: &str = "./config.yaml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The directory the state paths left unset are placed under (`--state-dir`,
    /// `RECYCLER_STATE_DIR`); unset: the current directory, as `./data/…` and `./logs/…`.
    pub state_dir: Option<PathBuf>,
    pub server: ServerConfig,
    pub logging: LoggingConfig,
    pub database: DatabaseConfig,
    pub recycling: RecyclingConfig,
    pub monitoring: MonitoringConfig,
    pub persistence: PersistenceConfig,
    pub client: ClientConfig,
}

/// `client:` — where `status` and `monitor` read jobs from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL of a running server (`http://host:8080`); unset: the local job store.
    pub server_url: Option<String>,
}

/// `server:` — the REST server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub read_timeout: HumanDuration,
    pub write_timeout: HumanDuration,
    pub idle_timeout: HumanDuration,
    /// Longest a synchronous request (discover, plan, a job's creation with its preflight)
    /// may work before it is stopped and answered 408/1009 naming what was still running.
    pub request_timeout: HumanDuration,
    /// Bearer token every endpoint but health requires; unset: no authentication (then the
    /// server should listen on loopback only).
    pub auth_token: Option<Secret>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            read_timeout: HumanDuration::secs(30),
            write_timeout: HumanDuration::secs(30),
            idle_timeout: HumanDuration::secs(120),
            request_timeout: HumanDuration::secs(60),
            auth_token: None,
        }
    }
}

/// How log lines are written, on stderr and in the file (`logging.format`, `--log-format`,
/// `RECYCLER_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-12-02T06:11:51.123456Z  INFO target: message key=value`; coloured on a terminal.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message`, `fields`, `spans`.
    Json,
}

impl LogFormat {
    /// The names the flag, the environment and the file accept.
    pub const NAMES: [&str; 2] = ["text", "json"];

    fn parse(v: &str) -> Option<Self> {
        match v.to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// `logging:` — level, format and the size-rotated log file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// debug, info, warn or error.
    pub level: String,
    /// text or json.
    pub format: LogFormat,
    /// The log file; rotated when it exceeds `max_size` MiB. Unset: `./logs/recycling.log`, or
    /// `STATE_DIR/logs/recycling.log` with a state directory ([`Config::log_file`]).
    pub file: Option<PathBuf>,
    /// MiB before the file is rotated.
    pub max_size: u64,
    /// Rotated files kept (0 = keep all, subject to `max_age`).
    pub max_backups: usize,
    /// Days a rotated file is kept (0 = no age limit).
    pub max_age: u64,
    /// Gzip rotated files.
    pub compress: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
            file: None,
            max_size: 100,
            max_backups: 5,
            max_age: 30,
            compress: true,
        }
    }
}

/// `database:` — connection defaults and named clusters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub default: ConnectionDefaults,
    pub clusters: Vec<ClusterConfig>,
}

/// `database.default:` — per-node connection settings: the connect timeout, and the read pool
/// of each node ([`crate::mysql::pool`]: discovery and catalog scans; DDL and its control
/// session are always dedicated connections).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionDefaults {
    /// Connect timeout per node.
    pub timeout: HumanDuration,
    /// Most read connections open to one node at once.
    pub max_open_conns: u32,
    /// Read connections kept open while idle.
    pub max_idle_conns: u32,
    /// A read connection is closed after this age.
    pub conn_max_lifetime: HumanDuration,
}

impl ConnectionDefaults {
    /// Read pools with these limits.
    pub fn pools(&self) -> crate::mysql::pool::ReadPools {
        crate::mysql::pool::ReadPools::new(crate::mysql::pool::PoolSettings {
            max_open: self.max_open_conns,
            max_idle: self.max_idle_conns,
            max_lifetime: self.conn_max_lifetime.0,
        })
    }

    /// How to reach nodes with `credentials`: this connect timeout, and read pools of their
    /// own with these limits.
    pub fn spec(&self, credentials: crate::mysql::Credentials) -> crate::mysql::ConnectSpec {
        crate::mysql::ConnectSpec::new(credentials, self.timeout.0).with_pools(self.pools())
    }
}

impl Default for ConnectionDefaults {
    fn default() -> Self {
        Self {
            timeout: HumanDuration::secs(10),
            max_open_conns: 10,
            max_idle_conns: 5,
            conn_max_lifetime: HumanDuration::secs(3600),
        }
    }
}

/// `database.clusters[]:` — a named cluster: its primary's address and login, and optionally
/// the replicas' login, logins of single nodes and TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    pub primary: ClusterPrimary,
    /// The login of every node but the primary (a replica-only account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ClusterLogin>,
    /// Logins of single nodes (each `host`, `port`, `username`, `password`, as `primary`),
    /// over `primary` and `replica`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<ClusterPrimary>,
    /// TLS of every connection to the cluster's nodes (`ssl_mode`, `ssl_ca`, `ssl_cert`,
    /// `ssl_key`); default `ssl_mode: PREFERRED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::mysql::tls::Tls>,
}

impl ClusterConfig {
    /// The replicas' login and the per-node logins, as a connection uses them.
    pub fn other_logins(
        &self,
    ) -> (
        Option<crate::mysql::Credentials>,
        Vec<crate::mysql::NodeLogin>,
    ) {
        let replica = self.replica.as_ref().map(|r| crate::mysql::Credentials {
            user: r.username.clone(),
            password: r.password.clone(),
        });
        let nodes = self
            .nodes
            .iter()
            .map(|n| crate::mysql::NodeLogin {
                node: crate::mysql::Endpoint::new(n.host.clone(), n.port),
                credentials: crate::mysql::Credentials {
                    user: n.username.clone(),
                    password: n.password.clone(),
                },
            })
            .collect();
        (replica, nodes)
    }

    /// The cluster's seed (its primary) and how to reach its nodes over `defaults`' connect
    /// timeout and pools: the primary's login for the seed, the replicas' and single nodes'
    /// logins, its TLS. Fails with what is wrong with its `tls`.
    pub fn target(
        &self,
        defaults: &ConnectionDefaults,
    ) -> std::result::Result<(crate::mysql::Endpoint, crate::mysql::ConnectSpec), String> {
        let p = &self.primary;
        let seed = crate::mysql::Endpoint::new(p.host.clone(), p.port);
        let mut spec = defaults
            .spec(crate::mysql::Credentials {
                user: p.username.clone(),
                password: p.password.clone(),
            })
            .with_seed(seed.clone());
        (spec.replica, spec.node_logins) = self.other_logins();
        if let Some(t) = &self.tls {
            if let Some(why) = t.problem() {
                return Err(format!("{}: tls: {why}", self.name));
            }
            spec.tls = t.clone();
        }
        Ok((seed, spec))
    }
}

/// `database.clusters[].replica:` — a login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterLogin {
    pub username: String,
    #[serde(default)]
    pub password: Secret,
}

/// `database.clusters[].primary:`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterPrimary {
    pub host: String,
    #[serde(default = "default_mysql_port")]
    pub port: u16,
    pub username: String,
    #[serde(default)]
    pub password: Secret,
}

fn default_mysql_port() -> u16 {
    3306
}

/// `recycling:` — plan defaults and concurrency limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecyclingConfig {
    pub defaults: RecyclingDefaults,
    pub concurrency: ConcurrencyConfig,
}

/// `recycling.concurrency:` — server job limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencyConfig {
    pub max_workers: usize,
    pub queue_size: usize,
    /// Longest one table's rebuild may run before it is killed; unset (the default): no limit
    /// but the apply's `timeout`. Recorded in the plans made with it.
    pub worker_timeout: Option<HumanDuration>,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            max_workers: 10,
            queue_size: 100,
            worker_timeout: None,
        }
    }
}

/// `monitoring:` — periodic fragmentation scans of the configured clusters (server mode), and
/// Alertmanager alerts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    pub metrics: MetricsConfig,
    pub alerts: AlertsConfig,
}

/// `monitoring.metrics:` — the server scans every cluster of `database.clusters` every
/// `interval` (discovery and the planner's read-only catalog scan of every node) and keeps the
/// results in `persistence.metrics.file` for `retention`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub interval: HumanDuration,
    pub retention: HumanDuration,
    /// Nodes of one cluster scanned at once.
    pub parallel: usize,
    /// The longest one node's scan may take; past it the node is recorded `failed` (timed out)
    /// and the others are not held up.
    pub node_timeout: HumanDuration,
    /// Tables whose files are at least this many MiB are recorded one by one (file size and
    /// estimated reclaim); smaller ones count only in the node's totals. Unset:
    /// `recycling.defaults.threshold_mb`.
    pub min_table_mb: Option<u64>,
    /// Refresh statistics before reading them (`ANALYZE NO_WRITE_TO_BINLOG TABLE`); off, a
    /// scan only reads.
    pub analyze: bool,
    /// Tables per node exported on `/metrics` (largest estimated reclaim first): bounds the
    /// series' cardinality.
    pub top_tables: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: HumanDuration::secs(30),
            retention: HumanDuration::secs(7 * 86_400),
            parallel: 4,
            node_timeout: HumanDuration::secs(120),
            min_table_mb: None,
            analyze: false,
            top_tables: 10,
        }
    }
}

/// `monitoring.alerts:`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub webhook_url: Option<String>,
    /// Alert while a cluster's estimated reclaimable bytes (every node's tables summed) are at
    /// or above this many bytes; unset: no such alert.
    pub reclaimable_bytes: Option<u64>,
    /// Alert once this many scans of a cluster in a row failed or could not scan some node.
    pub scan_failures: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            webhook_url: None,
            reclaimable_bytes: None,
            scan_failures: 3,
        }
    }
}

/// `persistence:`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersistenceConfig {
    pub job_state: JobStateConfig,
    pub metrics: MetricsStoreConfig,
}

/// `persistence.job_state:` — the SQLite job store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobStateConfig {
    pub enabled: bool,
    /// Unset: `./data/jobs.db`, or `STATE_DIR/jobs.db` ([`Config::job_store_file`]).
    pub file: Option<PathBuf>,
    /// Accepted for compatibility with the spec; the store is written as events happen.
    pub interval: HumanDuration,
}

impl Default for JobStateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            file: None,
            interval: HumanDuration::secs(10),
        }
    }
}

/// `persistence.metrics:` — the fragmentation history store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsStoreConfig {
    pub enabled: bool,
    /// Unset: `./data/metrics.db`, or `STATE_DIR/metrics.db` ([`Config::metrics_file`]).
    pub file: Option<PathBuf>,
}

impl Default for MetricsStoreConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            file: None,
        }
    }
}

/// Settings given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

/// The state paths' defaults: relative to the current directory, or to the state directory.
const DEFAULT_LOG_FILE: (&str, &str) = ("./logs/recycling.log", "logs/recycling.log");
const DEFAULT_JOB_STORE: (&str, &str) = ("./data/jobs.db", "jobs.db");
const DEFAULT_METRICS_STORE: (&str, &str) = ("./data/metrics.db", "metrics.db");

const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// An absolute `http://` or `https://` URL with a host.
fn is_http_url(u: &str) -> bool {
    reqwest::Url::parse(u)
        .is_ok_and(|x| matches!(x.scheme(), "http" | "https") && x.host_str().is_some())
}

impl Config {
    /// Parses a config document. Errors name the file and the key path.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let doc: serde_json::Value = serde_yaml::from_str(text)
            .map_err(|e| Error::invalid(format!("{}: {e}", origin.display())))?;
        let cfg: Config = input::from_value(doc).map_err(|e| {
            let key = e.field();
            let msg = match &e.problem {
                Problem::UnknownField { expected, .. } => {
                    format!("unknown config key `{key}` (expected {})", one_of(expected))
                }
                other => format!("config key `{key}`: {other}"),
            };
            Error::invalid(format!("{}: {msg}", origin.display()))
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Loads the file at `path`. A missing file is an error when the path was given explicitly
    /// (flag or `RECYCLER_CONFIG_FILE`), and means "all defaults" at the default path.
    pub fn load(path: &Path, explicit: bool) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Self::default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::invalid(format!(
                "config file {} not found",
                path.display()
            ))),
            Err(e) => Err(Error::file(path, e)),
        }
    }

    /// Applies the `RECYCLER_*` environment (spec §4.2) on top of the file.
    /// `get` looks a variable up; tests pass a map instead of the process environment.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("RECYCLER_LOG_LEVEL") {
            self.logging.level = v;
        }
        if let Some(v) = get("RECYCLER_LOG_FILE") {
            self.logging.file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("RECYCLER_LOG_FORMAT") {
            self.logging.format = LogFormat::parse(&v).ok_or_else(|| {
                Error::invalid(format!(
                    "RECYCLER_LOG_FORMAT: {v:?} is not one of {}",
                    LogFormat::NAMES.join(", ")
                ))
            })?;
        }
        if let Some(v) = get("RECYCLER_STATE_DIR").filter(|v| !v.is_empty()) {
            self.state_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("RECYCLER_SERVER_PORT") {
            self.server.port = v.parse().map_err(|_| {
                Error::invalid(format!("RECYCLER_SERVER_PORT: {v:?} is not a port number"))
            })?;
        }
        if let Some(v) = get("RECYCLER_ALERT_WEBHOOK") {
            // Naming a webhook in the environment is asking for alerts.
            self.monitoring.alerts.webhook_url = Some(v);
            self.monitoring.alerts.enabled = true;
        }
        if let Some(v) = get("RECYCLER_API_TOKEN").filter(|v| !v.is_empty()) {
            self.server.auth_token = Some(Secret::new(v));
        }
        if let Some(v) = get("RECYCLER_SERVER_URL").filter(|v| !v.is_empty()) {
            self.client.server_url = Some(v);
        }
        // Design §10: the environment's password over every cluster's password in the file
        // (`--password` is above both, in the CLI).
        if let Some(v) = get("RECYCLER_DB_PASSWORD") {
            for c in &mut self.database.clusters {
                c.primary.password = Secret::new(v.clone());
            }
        }
        Ok(())
    }

    /// Applies command-line flags, the top layer, and validates the result (a bad value in a
    /// lower layer that a flag overrides is no error).
    pub fn apply_flags(&mut self, flags: &FlagOverrides) -> Result<()> {
        if let Some(v) = &flags.log_level {
            self.logging.level = v.clone();
        }
        if let Some(v) = flags.log_format {
            self.logging.format = v;
        }
        if let Some(v) = &flags.log_file {
            self.logging.file = Some(v.clone());
        }
        if let Some(v) = &flags.state_dir {
            self.state_dir = Some(v.clone());
        }
        self.validate(Path::new(
            "settings (file < RECYCLER_* environment < flags)",
        ))
    }

    /// A state path: `explicit` when set (flag, environment or file), else its default under the
    /// state directory, else under the current directory.
    fn state_path(&self, explicit: &Option<PathBuf>, default: (&str, &str)) -> PathBuf {
        match (explicit, &self.state_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(dir)) => dir.join(default.1),
            (None, None) => PathBuf::from(default.0),
        }
    }

    /// The log file (`logging.file`, `--log-file`, `RECYCLER_LOG_FILE`; default
    /// `./logs/recycling.log` or `STATE_DIR/logs/recycling.log`).
    pub fn log_file(&self) -> PathBuf {
        self.state_path(&self.logging.file, DEFAULT_LOG_FILE)
    }

    /// The SQLite job store (`persistence.job_state.file`; default `./data/jobs.db` or
    /// `STATE_DIR/jobs.db`).
    pub fn job_store_file(&self) -> PathBuf {
        self.state_path(&self.persistence.job_state.file, DEFAULT_JOB_STORE)
    }

    /// The metrics store (`persistence.metrics.file`; default `./data/metrics.db` or
    /// `STATE_DIR/metrics.db`): the fragmentation history of `monitoring.metrics`.
    pub fn metrics_file(&self) -> PathBuf {
        self.state_path(&self.persistence.metrics.file, DEFAULT_METRICS_STORE)
    }

    /// The named cluster of `database.clusters`.
    pub fn cluster(&self, name: &str) -> Result<&ClusterConfig> {
        self.database
            .clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .database
                    .clusters
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                Error::invalid(format!(
                    "cluster {name:?} is not in database.clusters (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |key: &str, why: String| {
            Err(Error::invalid(format!(
                "{}: config key `{key}`: {why}",
                origin.display()
            )))
        };
        let level = self.logging.level.to_ascii_lowercase();
        if !LOG_LEVELS.contains(&level.as_str()) {
            return bad(
                "logging.level",
                format!(
                    "{:?} is not one of {}",
                    self.logging.level,
                    LOG_LEVELS.join(", ")
                ),
            );
        }
        if self
            .server
            .auth_token
            .as_ref()
            .is_some_and(Secret::is_empty)
        {
            return bad(
                "server.auth_token",
                "is empty; remove the key to run without authentication".into(),
            );
        }
        if let Some(u) = &self.client.server_url
            && !is_http_url(u)
        {
            return bad(
                "client.server_url",
                format!("{u:?} is not an http:// or https:// URL"),
            );
        }
        for (key, d) in [
            ("server.read_timeout", self.server.read_timeout),
            ("server.write_timeout", self.server.write_timeout),
            ("server.idle_timeout", self.server.idle_timeout),
            ("server.request_timeout", self.server.request_timeout),
            ("database.default.timeout", self.database.default.timeout),
        ] {
            // A zero timeout answers nothing (a POST gets no reply, a connect fails at once).
            if d.0 < Duration::from_secs(1) {
                return bad(key, format!("{d} is less than 1s"));
            }
        }
        if self
            .recycling
            .concurrency
            .worker_timeout
            .is_some_and(|w| w.0 < Duration::from_secs(1))
        {
            return bad(
                "recycling.concurrency.worker_timeout",
                "must be at least 1s (every rebuild would be killed at once); remove it for no \
                 limit"
                    .into(),
            );
        }
        let m = &self.monitoring.metrics;
        if m.interval.0 < Duration::from_secs(1) {
            return bad("monitoring.metrics.interval", "must be at least 1s".into());
        }
        if m.node_timeout.0 < Duration::from_secs(1) {
            return bad(
                "monitoring.metrics.node_timeout",
                "must be at least 1s".into(),
            );
        }
        if !(1..=crate::settings::MAX_PARALLEL).contains(&m.parallel) {
            return bad(
                "monitoring.metrics.parallel",
                format!("must be between 1 and {}", crate::settings::MAX_PARALLEL),
            );
        }
        if m.top_tables > MAX_TOP_TABLES {
            return bad(
                "monitoring.metrics.top_tables",
                format!("must be at most {MAX_TOP_TABLES} (each is a series per node)"),
            );
        }
        if self.monitoring.alerts.scan_failures == 0 {
            return bad(
                "monitoring.alerts.scan_failures",
                "must be at least 1".into(),
            );
        }
        if let Some(u) = &self.monitoring.alerts.webhook_url
            && !is_http_url(u)
        {
            return bad(
                "monitoring.alerts.webhook_url",
                format!("{u:?} is not an http:// or https:// URL"),
            );
        }
        let d = &self.recycling.defaults;
        // The defaults are checked as the settings they become, by the plan's own check.
        if let Err(b) = crate::settings::SettingsOverrides::default().resolve(
            d,
            1,
            self.recycling.concurrency.worker_timeout,
        ) {
            return bad(&format!("recycling.defaults.{}", b.name), b.reason);
        }
        if d.lock_retries == 0 {
            return bad(
                "recycling.defaults.lock_retries",
                "must be at least 1".into(),
            );
        }
        if self.database.default.max_open_conns == 0 {
            return bad(
                "database.default.max_open_conns",
                "must be at least 1".into(),
            );
        }
        if self.recycling.concurrency.max_workers == 0 {
            return bad(
                "recycling.concurrency.max_workers",
                "must be at least 1".into(),
            );
        }
        for (i, c) in self.database.clusters.iter().enumerate() {
            if c.name.is_empty() {
                return bad(&format!("database.clusters[{i}].name"), "is empty".into());
            }
            if let Some(j) = self.database.clusters[..i]
                .iter()
                .position(|o| o.name == c.name)
            {
                return bad(
                    &format!("database.clusters[{i}].name"),
                    format!(
                        "{:?} is also the name of database.clusters[{j}]; --cluster NAME must \
                         name one cluster",
                        c.name
                    ),
                );
            }
            if c.primary.port == 0 {
                return bad(
                    &format!("database.clusters[{i}].primary.port"),
                    "must be 1 to 65535".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn durations_parse_and_render() {
        for (text, secs) in [("30s", 30), ("1h", 3600), ("7d", 604_800), ("90s", 90)] {
            assert_eq!(
                text.parse::<HumanDuration>().unwrap(),
                HumanDuration::secs(secs)
            );
        }
        assert_eq!(HumanDuration::secs(5400).to_string(), "1h30m");
        assert_eq!(HumanDuration::secs(604_800).to_string(), "7d");
        assert_eq!(HumanDuration::secs(0).to_string(), "0s");
        assert!("soon".parse::<HumanDuration>().is_err());
        // A bare number has no unit; more than a year and a day means nothing here.
        assert!(
            "90".parse::<HumanDuration>()
                .unwrap_err()
                .contains("no unit")
        );
        assert!(
            "400d"
                .parse::<HumanDuration>()
                .unwrap_err()
                .contains("longer")
        );
    }

    #[test]
    fn the_shipped_config_equals_the_defaults_and_the_examples_parse() {
        let text = include_str!("../config.yaml");
        let cfg = Config::parse(text, Path::new("config.yaml")).unwrap();
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            serde_json::to_value(Config::default()).unwrap()
        );
        for (name, text) in [
            (
                "config.cluster.yaml",
                include_str!("../examples/config.cluster.yaml"),
            ),
            (
                "config.server.yaml",
                include_str!("../examples/config.server.yaml"),
            ),
        ] {
            Config::parse(text, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_key() {
        for (text, key) in [
            ("server:\n  read_timeout: 0s\n", "server.read_timeout"),
            (
                "recycling:\n  concurrency:\n    worker_timeout: 0s\n",
                "recycling.concurrency.worker_timeout",
            ),
            (
                "monitoring:\n  alerts:\n    webhook_url: not-a-url\n",
                "monitoring.alerts.webhook_url",
            ),
            (
                "database:\n  clusters:\n    - {name: a, primary: {host: h, port: 1, username: u}}\n    - {name: a, primary: {host: g, port: 2, username: u}}\n",
                "database.clusters[1].name",
            ),
            (
                "recycling:\n  defaults:\n    timeout: 3600\n",
                "recycling.defaults.timeout",
            ),
            (
                "recycling:\n  defaults:\n    threshold_mb: 17592186044416\n",
                "recycling.defaults.threshold_mb",
            ),
        ] {
            let e = Config::parse(text, Path::new("c.yaml")).unwrap_err();
            assert_eq!(e.code().as_u16(), 1001, "{text}");
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn unknown_key_names_its_full_path() {
        let err = Config::parse(
            "recycling:\n  defaults:\n    treshold_mb: 5\n",
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(err.code().as_u16(), 1001);
        let msg = err.to_string();
        assert!(
            msg.contains("`recycling.defaults.treshold_mb`"),
            "message: {msg}"
        );
        assert!(msg.contains("threshold_mb"), "suggests the real key: {msg}");
    }

    #[test]
    fn bad_values_name_their_path() {
        let err = Config::parse(
            "recycling:\n  defaults:\n    timeout: soon\n",
            Path::new("c.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("recycling.defaults.timeout"), "{err}");
        let err = Config::parse("logging:\n  level: loud\n", Path::new("c.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("logging.level"), "{err}");
        // Out of range: named in the file's terms, when the file is read.
        let err = Config::parse(
            "recycling:\n  defaults:\n    timeout: 0s\n",
            Path::new("c.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("recycling.defaults.timeout"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error_only_when_explicit() {
        let p = Path::new("/nonexistent/config.yaml");
        assert!(Config::load(p, false).is_ok());
        let err = Config::load(p, true).unwrap_err();
        assert_eq!(err.code().as_u16(), 1001);
        assert!(err.to_string().contains("/nonexistent/config.yaml"));
    }

    /// Pins the precedence: defaults < file < environment < flags.
    #[test]
    fn precedence_defaults_file_env_flags() {
        let defaults = Config::default();
        assert_eq!(defaults.logging.level, "info");
        assert_eq!(defaults.server.port, 8080);

        let mut cfg = Config::parse(
            "logging:\n  level: warn\n  file: /from/file.log\nserver:\n  port: 1111\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(
            (cfg.logging.level.as_str(), cfg.server.port),
            ("warn", 1111)
        );

        let env: HashMap<&str, &str> = [
            ("RECYCLER_LOG_LEVEL", "error"),
            ("RECYCLER_SERVER_PORT", "2222"),
        ]
        .into();
        cfg.apply_env(|k| env.get(k).map(|v| v.to_string()))
            .unwrap();
        assert_eq!(
            (cfg.logging.level.as_str(), cfg.server.port),
            ("error", 2222)
        );
        assert_eq!(
            cfg.log_file(),
            PathBuf::from("/from/file.log"),
            "untouched by env"
        );

        cfg.apply_flags(&FlagOverrides {
            log_level: Some("debug".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (cfg.logging.level.as_str(), cfg.server.port),
            ("debug", 2222)
        );
        assert_eq!(cfg.log_file(), PathBuf::from("/from/file.log"));
    }

    #[test]
    fn state_paths_default_under_the_state_dir_and_explicit_paths_win() {
        let mut cfg = Config::default();
        assert_eq!(cfg.log_file(), PathBuf::from("./logs/recycling.log"));
        assert_eq!(cfg.job_store_file(), PathBuf::from("./data/jobs.db"));
        assert_eq!(cfg.metrics_file(), PathBuf::from("./data/metrics.db"));
        // The file's state_dir, then the environment's over it.
        let mut cfg2 = Config::parse(
            "state_dir: /var/lib/a\npersistence:\n  metrics:\n    file: /m.db\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(cfg2.job_store_file(), PathBuf::from("/var/lib/a/jobs.db"));
        cfg2.apply_env(|k| (k == "RECYCLER_STATE_DIR").then(|| "/var/lib/b".to_string()))
            .unwrap();
        assert_eq!(cfg2.job_store_file(), PathBuf::from("/var/lib/b/jobs.db"));
        assert_eq!(
            cfg2.log_file(),
            PathBuf::from("/var/lib/b/logs/recycling.log")
        );
        assert_eq!(cfg2.metrics_file(), PathBuf::from("/m.db"), "explicit wins");
        // The flag over both; an explicit log file over the state dir.
        cfg.apply_flags(&FlagOverrides {
            state_dir: Some("/srv/r".into()),
            log_file: Some("rel.log".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.job_store_file(), PathBuf::from("/srv/r/jobs.db"));
        assert_eq!(cfg.metrics_file(), PathBuf::from("/srv/r/metrics.db"));
        assert_eq!(cfg.log_file(), PathBuf::from("rel.log"));
    }

    #[test]
    fn the_log_format_comes_from_file_env_and_flag() {
        let mut cfg = Config::parse("logging:\n  format: json\n", Path::new("c.yaml")).unwrap();
        assert_eq!(cfg.logging.format, LogFormat::Json);
        cfg.apply_env(|k| (k == "RECYCLER_LOG_FORMAT").then(|| "TEXT".to_string()))
            .unwrap();
        assert_eq!(cfg.logging.format, LogFormat::Text);
        cfg.apply_flags(&FlagOverrides {
            log_format: Some(LogFormat::Json),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.logging.format, LogFormat::Json);
        let e = cfg
            .apply_env(|k| (k == "RECYCLER_LOG_FORMAT").then(|| "xml".to_string()))
            .unwrap_err();
        assert_eq!(e.code().as_u16(), 1001);
        assert!(e.to_string().contains("text, json"), "{e}");
        let e = Config::parse("logging:\n  format: xml\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().contains("logging.format"), "{e}");
    }

    #[test]
    fn the_environment_password_is_over_every_cluster_password() {
        let mut cfg = Config::parse(
            "database:\n  clusters:\n    - name: prod\n      primary: {host: h, username: u, password: from-file}\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        cfg.apply_env(|_| None).unwrap();
        assert_eq!(
            cfg.cluster("prod").unwrap().primary.password.expose(),
            "from-file"
        );
        cfg.apply_env(|k| (k == "RECYCLER_DB_PASSWORD").then(|| "from-env".to_string()))
            .unwrap();
        assert_eq!(
            cfg.cluster("prod").unwrap().primary.password.expose(),
            "from-env"
        );
    }

    #[test]
    fn cluster_password_is_redacted_in_debug() {
        let cfg = Config::parse(
            "database:\n  clusters:\n    - name: prod\n      primary: {host: h, username: u, password: s3cret}\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        let debug = format!("{cfg:?}");
        assert!(
            debug.contains("name: \"prod\"") && debug.contains("password: ****"),
            "the cluster is printed, its password masked: {debug}"
        );
        assert!(!debug.contains("s3cret"));
        assert_eq!(cfg.cluster("prod").unwrap().primary.port, 3306);
        assert!(cfg.cluster("nope").is_err());
    }
}
