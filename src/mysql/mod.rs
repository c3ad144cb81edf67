//! Talking to MySQL and MariaDB: connecting, rows, identifier quoting and the flavor-specific SQL.
//!
//! Every server-state question whose SQL differs between MySQL 5.7, 8.0, 8.4+ and MariaDB has
//! exactly one function here ([`flavor`], [`replication`]); the catalog statements of a scan
//! and their flavor variants live in `inspect::catalog`.
//! Introspection statements (`SHOW …`, catalog selects without user values) run over the text
//! protocol and come back as [`Row`]s keyed by column name, so the parsers can be unit-tested with
//! rows captured from each flavor. Statements that carry user values bind them as parameters.

pub mod address;
pub mod flavor;
pub mod gates;
pub mod grants;
pub mod option_file;
pub mod pool;
pub mod replication;
pub mod tls;

use crate::error::{ConnectFailure, Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions, Connection, Executor, Row as _};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A node's network address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` (port defaults to 3306); a host or port nothing could connect to
    /// ([`address::address_problem`]) is an input error, the value not quoted.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(r) = address::address_problem(s) {
            return Err(Error::invalid(format!("the address's {r}")));
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().unwrap_or(3306)),
            None => (s, 3306),
        };
        Ok(Self::new(host, port))
    }
}

impl Endpoint {
    /// The address with loopback spellings (`localhost`, `::1`, `[::1]`) written `127.0.0.1`
    /// and the host lower-cased: how two addresses of one node are compared.
    pub fn normalized(&self) -> Endpoint {
        let host = match self.host.to_ascii_lowercase().as_str() {
            "localhost" | "::1" | "[::1]" => "127.0.0.1".to_string(),
            other => other.to_string(),
        };
        Endpoint::new(host, self.port)
    }

    /// Whether both name the same node (after [`Endpoint::normalized`]).
    pub fn same_node(&self, other: &Endpoint) -> bool {
        self.normalized() == other.normalized()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A login. The password is a [`Secret`]: it never reaches a log, a file or a response.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// A login for one node, over the cluster's (config `clusters[].nodes[]`, as gh-ost's
/// `--master-user` is one for the master).
#[derive(Debug, Clone)]
pub struct NodeLogin {
    pub node: Endpoint,
    pub credentials: Credentials,
}

/// How to reach nodes: the logins (the seed's, the replicas', per-node ones), TLS, the connect
/// timeout and the read pools (clones share them).
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// The login of the node named (`--host`, a cluster's primary, a plan's seed), and of
    /// every node when no other login applies.
    pub credentials: Credentials,
    /// The login of every other node discovery finds (`--replica-user`, `clusters[].replica`).
    pub replica: Option<Credentials>,
    /// Logins of single nodes, over both.
    pub node_logins: Vec<NodeLogin>,
    /// The node named: it logs in with `credentials` even when `replica` is set.
    pub seed: Option<Endpoint>,
    /// TLS of every connection.
    pub tls: tls::Tls,
    pub connect_timeout: Duration,
    /// Connect to every node through this unix socket instead of TCP (sandbox
    /// administration only).
    pub socket: Option<PathBuf>,
    /// The unix socket of the nodes addressed as `localhost` (`--socket`, as the mysql client
    /// uses its socket for host `localhost`).
    pub local_socket: Option<PathBuf>,
    /// Sessions for discovery and catalog scans ([`pool`]); DDL never uses them.
    pub pools: pool::ReadPools,
}

impl ConnectSpec {
    /// A spec with read pools of their own, with `database.default`'s default limits.
    pub fn new(credentials: Credentials, connect_timeout: Duration) -> Self {
        Self {
            credentials,
            replica: None,
            node_logins: Vec::new(),
            seed: None,
            tls: tls::Tls::default(),
            connect_timeout,
            socket: None,
            local_socket: None,
            pools: pool::ReadPools::default(),
        }
    }

    /// The same login over `pools` (a server shares one set between its requests).
    pub fn with_pools(self, pools: pool::ReadPools) -> Self {
        Self { pools, ..self }
    }

    /// The same logins with `seed` as the node named (a plan's seed, at apply).
    pub fn with_seed(self, seed: Endpoint) -> Self {
        Self {
            seed: Some(seed),
            ..self
        }
    }

    /// The login used for `ep`: its own (`node_logins`), else the seed's for the seed, else
    /// the replicas' when set, else the seed's.
    pub fn credentials_for(&self, ep: &Endpoint) -> &Credentials {
        if let Some(n) = self.node_logins.iter().find(|n| n.node.same_node(ep)) {
            return &n.credentials;
        }
        let is_seed = self.seed.as_ref().is_none_or(|s| s.same_node(ep));
        match &self.replica {
            Some(r) if !is_seed => r,
            _ => &self.credentials,
        }
    }

    /// A read session to `ep` from the pools.
    pub async fn read(&self, ep: &Endpoint) -> Result<pool::Pooled> {
        self.pools.get(ep, self).await
    }

    /// The unix socket a connection to `ep` goes through, if any.
    fn socket_for(&self, ep: &Endpoint) -> Option<&PathBuf> {
        self.socket.as_ref().or_else(|| {
            self.local_socket
                .as_ref()
                .filter(|_| ep.host.eq_ignore_ascii_case("localhost"))
        })
    }

    fn options(&self, ep: &Endpoint) -> MySqlConnectOptions {
        let login = self.credentials_for(ep);
        let mut o = MySqlConnectOptions::new()
            .host(&ep.host)
            .port(ep.port)
            .username(&login.user)
            // Statement text can carry credentials (CHANGE MASTER TO); never log it.
            .disable_statement_logging();
        // An empty password must be sent as no password at all, or the server sees one.
        if !login.password.is_empty() {
            o = o.password(login.password.expose());
        }
        if let Some(s) = self.socket_for(ep) {
            o = o.socket(s);
        }
        self.tls.apply(o)
    }
}

/// Opens one dedicated connection to `ep`, failing with error 1002 after the connect timeout.
#[tracing::instrument(skip(spec), fields(node = %ep))]
pub async fn connect(ep: &Endpoint, spec: &ConnectSpec) -> Result<MySqlConnection> {
    let opts = spec.options(ep);
    let conn_err = |(reason, kind): (String, ConnectFailure)| Error::Connection {
        host: ep.host.clone(),
        port: ep.port,
        reason,
        kind,
    };
    match tokio::time::timeout(spec.connect_timeout, MySqlConnection::connect_with(&opts)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(conn_err(describe_connect_error(&e, &spec.tls))),
        Err(_) => Err(conn_err((
            format!("no answer within {}s", spec.connect_timeout.as_secs_f64()),
            ConnectFailure::Unreachable,
        ))),
    }
}

fn describe_connect_error(e: &sqlx::Error, tls: &tls::Tls) -> (String, ConnectFailure) {
    match e {
        sqlx::Error::Tls(t) => (tls.explain(&tls_detail(t.as_ref())), ConnectFailure::Tls),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            // rustls reports a refused certificate as an I/O error of kind InvalidData.
            (tls.explain(&io.to_string()), ConnectFailure::Tls)
        }
        sqlx::Error::Io(io) => (io.to_string(), ConnectFailure::Unreachable),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28000") => (
                format!("access denied ({})", db.message()),
                ConnectFailure::LoginRefused,
            ),
            _ => (db.message().to_string(), ConnectFailure::Unreachable),
        },
        other => (other.to_string(), ConnectFailure::Unreachable),
    }
}

/// A TLS error and its sources, one line.
fn tls_detail(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Maps a failed statement on `node` to an error naming the node; MySQL's privilege errors
/// (1142, 1143, 1227, 1044, 1045, 1370) become error 1008 naming what is missing.
pub fn query_error(node: &Endpoint, e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        let errno = error_number(&e);
        if matches!(errno, Some(1142 | 1143 | 1227 | 1044 | 1045 | 1370)) {
            return Error::Privilege {
                node: node.to_string(),
                privilege: privilege_named_in(db.message()),
                message: db.message().to_string(),
            };
        }
        return Error::Query {
            node: node.to_string(),
            message: match errno {
                Some(n) => format!("ERROR {n}: {}", db.message()),
                None => db.message().to_string(),
            },
            errno,
        };
    }
    Error::Query {
        node: node.to_string(),
        message: e.to_string(),
        errno: None,
    }
}

/// MySQL's 1227 reads "… you need (at least one of) the SUPER, BINLOG ADMIN privilege(s) …";
/// 1142 reads "SELECT command denied to user 'u'@'h' for table `mysql`.`innodb_index_stats`".
fn privilege_named_in(msg: &str) -> String {
    if let Some((cmd, rest)) = msg.split_once(" command denied")
        && let Some((_, table)) = rest.split_once(" for table ")
    {
        return format!(
            "{} on {}",
            cmd.trim(),
            table.trim().replace(['`', '\''], "")
        );
    }
    msg.split_once("the ")
        .and_then(|(_, rest)| rest.split_once(" privilege"))
        .map(|(p, _)| p.trim().to_string())
        .filter(|p| !p.is_empty() && p.len() < 80)
        .unwrap_or_else(|| "(see message)".into())
}

/// MySQL error number of a failed statement, if it came from the server.
pub fn error_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    }
}

/// One result row of an introspection query: column name → text value (`None` for NULL).
/// The column names are shared by every row of a result, and a row's values live in one
/// buffer (a scan decodes hundreds of thousands of cells; one allocation per row, not per cell).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    names: std::sync::Arc<[String]>,
    buf: String,
    spans: Vec<Option<(u32, u32)>>,
}

impl Row {
    fn push(&mut self, v: Option<&str>) {
        self.spans.push(v.map(|v| {
            let start = self.buf.len() as u32;
            self.buf.push_str(v);
            (start, self.buf.len() as u32)
        }));
    }

    /// Builds a row from `(column, value)` pairs; used by tests to feed captured rows.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let pairs: Vec<(&str, Option<&str>)> = pairs.into_iter().collect();
        let mut r = Self {
            names: pairs.iter().map(|(k, _)| k.to_string()).collect(),
            ..Default::default()
        };
        for (_, v) in pairs {
            r.push(v);
        }
        r
    }

    fn from_text_row(row: &MySqlRow, names: &std::sync::Arc<[String]>) -> Self {
        let n = row.columns().len();
        let mut r = Self {
            names: names.clone(),
            buf: String::with_capacity(n * 16),
            spans: Vec::with_capacity(n),
        };
        for i in 0..n {
            let v: Option<&[u8]> = row.try_get_unchecked(i).ok().flatten();
            match v.map(String::from_utf8_lossy) {
                Some(text) => r.push(Some(&text)),
                None => r.push(None),
            }
        }
        r
    }

    /// The value of the first of `names` present (exact name, else case-insensitive);
    /// `None` if absent or NULL.
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            let i = self
                .names
                .iter()
                .position(|k| k == n)
                .or_else(|| self.names.iter().position(|k| k.eq_ignore_ascii_case(n)))?;
            self.spans[i].map(|(a, b)| &self.buf[a as usize..b as usize])
        })
    }

    /// The value of the first column (`SHOW GRANTS` names its one column after the account);
    /// `None` if NULL or there is none.
    pub fn first(&self) -> Option<&str> {
        self.spans
            .first()
            .copied()
            .flatten()
            .map(|(a, b)| &self.buf[a as usize..b as usize])
    }

    /// A string column, empty when absent or NULL.
    pub fn text(&self, names: &[&str]) -> String {
        self.get(names).unwrap_or_default().to_string()
    }

    /// An unsigned integer column.
    pub fn u64(&self, names: &[&str]) -> Option<u64> {
        self.get(names).and_then(|v| v.trim().parse().ok())
    }
}

/// MySQL's boolean spellings: `ON`, `1`, `YES`, `TRUE` are true.
pub fn parse_flag(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "ON" | "1" | "YES" | "TRUE"
    )
}

/// Runs an introspection statement (no user values) over the text protocol.
pub async fn query_rows(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    sql: &str,
) -> Result<Vec<Row>> {
    let started = std::time::Instant::now();
    let rows = conn
        .fetch_all(sql)
        .await
        .map_err(|e| query_error(node, e))?;
    let fetched = started.elapsed();
    let names: std::sync::Arc<[String]> = rows
        .first()
        .map(|r| {
            use sqlx::Column;
            r.columns().iter().map(|c| c.name().to_string()).collect()
        })
        .unwrap_or_default();
    let out: Vec<Row> = rows.iter().map(|r| Row::from_text_row(r, &names)).collect();
    tracing::debug!(
        node = %node,
        rows = out.len(),
        "{:.1} ms + {:.1} ms decoding: {}",
        fetched.as_secs_f64() * 1e3,
        (started.elapsed() - fetched).as_secs_f64() * 1e3,
        sql.chars().take(60).collect::<String>()
    );
    Ok(out)
}

/// Runs an introspection statement (no user values) over the text protocol and hands its rows
/// on as they arrive, so a catalog of 100k tables is never held whole.
pub fn stream_rows<'c>(
    conn: &'c mut MySqlConnection,
    node: &'c Endpoint,
    sql: &'c str,
) -> futures::stream::BoxStream<'c, Result<Row>> {
    use futures::StreamExt;
    let mut names: Option<std::sync::Arc<[String]>> = None;
    conn.fetch(sql)
        .map(move |r| {
            let r = r.map_err(|e| query_error(node, e))?;
            let names = names.get_or_insert_with(|| {
                use sqlx::Column;
                r.columns().iter().map(|c| c.name().to_string()).collect()
            });
            Ok(Row::from_text_row(&r, names))
        })
        .boxed()
}

/// Runs a catalog statement whose values (schema and table names) are bound parameters, over
/// the binary protocol, into the same [`Row`]s as [`query_rows`]: integers are written as text,
/// every other value is read as its bytes.
pub async fn query_rows_bound(
    conn: &mut MySqlConnection,
    node: &Endpoint,
    sql: &str,
    binds: &[String],
) -> Result<Vec<Row>> {
    // Each chunk's text differs: not kept in the connection's statement cache.
    let mut q = sqlx::query(sql).persistent(false);
    for b in binds {
        q = q.bind(b.as_str());
    }
    let rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| query_error(node, e))?;
    let names: std::sync::Arc<[String]> = rows
        .first()
        .map(|r| {
            use sqlx::Column;
            r.columns().iter().map(|c| c.name().to_string()).collect()
        })
        .unwrap_or_default();
    rows.iter()
        .map(|r| Row::from_binary_row(r, &names, node))
        .collect()
}

impl Row {
    fn from_binary_row(
        row: &MySqlRow,
        names: &std::sync::Arc<[String]>,
        node: &Endpoint,
    ) -> Result<Self> {
        use sqlx::{Column, TypeInfo};
        let mut r = Self {
            names: names.clone(),
            buf: String::new(),
            spans: Vec::with_capacity(row.columns().len()),
        };
        for (i, col) in row.columns().iter().enumerate() {
            let ty = col.type_info().name();
            let text = if ty.contains("INT") && ty.contains("UNSIGNED") {
                row.try_get::<Option<u64>, _>(i)
                    .map(|v| v.map(|n| n.to_string()))
            } else if ty.contains("INT") {
                row.try_get::<Option<i64>, _>(i)
                    .map(|v| v.map(|n| n.to_string()))
            } else {
                row.try_get_unchecked::<Option<&[u8]>, _>(i)
                    .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
            }
            .map_err(|e| query_error(node, e))?;
            r.push(text.as_deref());
        }
        Ok(r)
    }
}

/// Quotes an identifier (schema, table, user) for MySQL: backticks, inner backticks doubled.
/// The only place identifiers enter SQL text.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `schema`.`table`, each part through [`quote_ident`].
pub fn quote_table(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// Quotes a string literal for the few statements that take no parameters
/// (`CHANGE MASTER TO`, `CREATE USER … IDENTIFIED BY`): backslashes and quotes escaped.
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_doubled_backticks() {
        assert_eq!(quote_ident("orders"), "`orders`");
        assert_eq!(quote_ident("we`ird. name"), "`we``ird. name`");
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote_literal(r"it's\x"), r"'it''s\\x'");
    }

    #[test]
    fn loopback_spellings_are_one_node() {
        let a = Endpoint::new("localhost", 3306);
        assert!(a.same_node(&Endpoint::new("127.0.0.1", 3306)));
        assert!(Endpoint::new("[::1]", 3306).same_node(&a));
        assert!(!a.same_node(&Endpoint::new("127.0.0.1", 3307)));
        assert!(Endpoint::new("DB1", 1).same_node(&Endpoint::new("db1", 1)));
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:23306").unwrap(),
            Endpoint::new("127.0.0.1", 23306)
        );
        assert_eq!(Endpoint::parse("db1").unwrap().port, 3306);
        assert!(Endpoint::parse("db1:x").is_err());
    }

    #[test]
    fn privilege_is_named_from_the_server_message() {
        assert_eq!(
            privilege_named_in(
                "Access denied; you need (at least one of) the SUPER, BINLOG ADMIN privilege(s) for this operation"
            ),
            "SUPER, BINLOG ADMIN"
        );
        assert_eq!(
            privilege_named_in(
                "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation"
            ),
            "PROCESS"
        );
    }

    #[test]
    fn rows_are_case_insensitive_and_fall_back_across_names() {
        let r = Row::from_pairs([
            ("Source_Port", Some("3306")),
            ("Replica_IO_Running", Some("Yes")),
        ]);
        assert_eq!(r.u64(&["Master_Port", "Source_Port"]), Some(3306));
        assert_eq!(r.get(&["replica_io_running"]), Some("Yes"));
        assert!(parse_flag(r.get(&["Replica_IO_Running"]).unwrap()));
        assert_eq!(r.get(&["Nope"]), None);
    }
}
