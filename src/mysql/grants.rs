//! The current user's privileges, read from `SHOW GRANTS`, and the privileges each step of an
//! apply needs on MariaDB and MySQL: preflight compares the two and names every missing grant
//! on every node at once, before anything runs (error 1008).
//!
//! `SHOW GRANTS` (no `FOR`) lists the grants of the account the session logged in as and, on
//! MariaDB, those of its active role. Each line is parsed into privileges on `*.*`, a schema
//! pattern (`` `shop`.* ``, `` `shop\_%`.* ``) or a table; routine and proxy grants and role
//! memberships carry nothing an apply needs. What the lines cannot show makes the check
//! inconclusive, and then nothing is reported missing (the statements themselves still fail
//! with 1008): MySQL's roles (their privileges are not listed without `USING`) and partial
//! revokes. The lines' password hashes are never kept.

use super::Row;
use super::flavor::{Flavor, ServerInfo, Version};
use std::collections::BTreeSet;

/// What one `SHOW GRANTS` line grants on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Global,
    /// A schema name pattern (`%` and `_` wildcards, `\` escapes).
    Schema(String),
    Table(String, String),
}

/// The privileges of the session's account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    held: Vec<(Scope, BTreeSet<String>)>,
    /// Why what is missing cannot be told (then nothing is reported missing).
    pub inconclusive: Option<String>,
}

/// A privilege name as the servers print it, uppercase with single spaces; MariaDB's aliases
/// folded into the name `SHOW GRANTS` prints.
fn normalize(p: &str) -> String {
    let p = p
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match p.as_str() {
        "REPLICA MONITOR" => "SLAVE MONITOR".into(),
        "READ ONLY ADMIN" => "READ_ONLY ADMIN".into(),
        "REPLICATION REPLICA ADMIN" => "REPLICATION SLAVE ADMIN".into(),
        "REPLICATION REPLICA" => "REPLICATION SLAVE".into(),
        "ALL" => "ALL PRIVILEGES".into(),
        _ => p,
    }
}

/// The identifier at the start of `s` (backquoted, with doubled backquotes, or bare) and what
/// follows it.
fn ident(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('`') {
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if chars.peek().is_some_and(|(_, n)| *n == '`') {
                    chars.next();
                    out.push('`');
                } else {
                    return Some((out, &rest[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let end = s.find(['.', ' ']).unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_string(), &s[end..]))
    }
}

/// `*.*`, `` `db`.* ``, `` `db`.`t` `` → the scope; routines (`PROCEDURE …`, `FUNCTION …`)
/// → `None`.
fn scope(object: &str) -> Option<Scope> {
    let object = object.trim();
    if object == "*.*" || object == "*" {
        return Some(Scope::Global);
    }
    let (db, rest) = ident(object)?;
    let rest = rest.strip_prefix('.')?;
    if rest == "*" {
        return Some(Scope::Schema(db));
    }
    let (table, tail) = ident(rest)?;
    tail.trim().is_empty().then_some(Scope::Table(db, table))
}

/// The privileges of a grant's list: `SELECT, INSERT (a, b), SLAVE MONITOR`; column lists
/// are dropped (a column grant does not grant the table).
fn privileges(list: &str) -> BTreeSet<String> {
    let mut depth = 0;
    let mut plain = String::new();
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    // A column grant `SELECT (a)` leaves `SELECT ` here: the table-level privilege it is not.
    let column_grants: BTreeSet<String> = list
        .split(',')
        .filter(|p| p.contains('('))
        .map(|p| normalize(p.split('(').next().unwrap_or_default()))
        .collect();
    plain
        .split(',')
        .map(normalize)
        .filter(|p| !p.is_empty() && !column_grants.contains(p))
        .collect()
}

/// Whether `name` matches the schema pattern `pattern` of a grant (`LIKE` rules: `%`, `_`,
/// `\` escaping either).
fn like(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('%', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('_', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                n.first() == Some(&rest[0]) && go(&rest[1..], &n[1..])
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

impl Grants {
    /// Parses `SHOW GRANTS` rows of a server of `flavor`.
    pub fn from_rows(rows: &[Row], flavor: Flavor) -> Self {
        let mut g = Self::default();
        for line in rows.iter().filter_map(Row::first) {
            g.add_line(line, flavor);
        }
        g
    }

    fn add_line(&mut self, line: &str, flavor: Flavor) {
        let line = line.trim();
        if line.starts_with("REVOKE ") {
            self.inconclusive = Some("partial revokes (REVOKE … ON a schema)".into());
            return;
        }
        let Some(body) = line.strip_prefix("GRANT ") else {
            return;
        };
        let Some((list, rest)) = body.split_once(" ON ") else {
            // `GRANT role TO user`: MariaDB lists an active role's grants itself; MySQL does
            // not list a role's privileges without `SHOW GRANTS … USING`.
            if flavor != Flavor::MariaDb {
                self.inconclusive =
                    Some("roles (SHOW GRANTS does not list their privileges)".into());
            }
            return;
        };
        if list.trim_start().starts_with("PROXY") {
            return;
        }
        let Some((object, _)) = rest.split_once(" TO ") else {
            return;
        };
        if let Some(scope) = scope(object) {
            self.held.push((scope, privileges(list)));
        }
    }

    /// Whether the account holds `privilege` globally, or (for a table privilege) on the
    /// schema or the table `on`.
    fn holds(&self, privilege: &str, on: Option<(&str, &str)>) -> bool {
        let all = "ALL PRIVILEGES";
        self.held.iter().any(|(scope, privs)| {
            let applies = match (scope, on) {
                (Scope::Global, _) => true,
                (Scope::Schema(p), Some((db, _))) => like(p, db),
                (Scope::Table(d, t), Some((db, table))) => d == db && t == table,
                _ => false,
            };
            applies && (privs.contains(privilege) || privs.contains(all))
        })
    }

    /// The needs of `needs` the account lacks, each as the text of an error message.
    pub fn missing(&self, needs: &[Need]) -> Vec<String> {
        if self.inconclusive.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for need in needs {
            match &need.on {
                On::Global => {
                    if !need.any_of.iter().any(|p| self.holds(p, None)) {
                        out.push(format!("{} ({})", need.any_of.join(" or "), need.why));
                    }
                }
                On::Tables(tables) => {
                    for p in &need.any_of {
                        let lacking: Vec<String> = tables
                            .iter()
                            .filter(|(d, t)| !self.holds(p, Some((d, t))))
                            .map(|(d, t)| format!("{d}.{t}"))
                            .collect();
                        if !lacking.is_empty() {
                            out.push(format!("{p} on {} ({})", lacking.join(", "), need.why));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Where a [`Need`] must be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum On {
    /// On `*.*`: any one of [`Need::any_of`].
    Global,
    /// On each of these tables (or their schema, or globally): every one of
    /// [`Need::any_of`].
    Tables(Vec<(String, String)>),
}

/// A privilege one step of an apply needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Global needs: any one of these; table needs: all of them.
    pub any_of: Vec<&'static str>,
    pub on: On,
    /// The step, as the message names it.
    pub why: &'static str,
}

impl Need {
    fn global(any_of: Vec<&'static str>, why: &'static str) -> Self {
        Self {
            any_of,
            on: On::Global,
            why,
        }
    }
}

/// What discovery needs on every node it probes: its replication status and its replicas.
pub fn discovery_needs(info: &ServerInfo) -> Vec<Need> {
    let v = info.version_number();
    let maria = info.flavor == Flavor::MariaDb;
    let status = if !maria {
        vec!["REPLICATION CLIENT", "SUPER"]
    } else if v >= Version(10, 5, 9) {
        vec!["SLAVE MONITOR", "SUPER"]
    } else if v >= Version(10, 5, 2) {
        vec!["REPLICATION SLAVE ADMIN", "SUPER"]
    } else {
        vec!["REPLICATION CLIENT", "SUPER"]
    };
    let replicas = if maria && v >= Version(10, 5, 2) {
        vec!["REPLICATION MASTER ADMIN"]
    } else {
        vec!["REPLICATION SLAVE"]
    };
    vec![
        Need::global(status, "discovery: its replication status"),
        Need::global(replicas, "discovery: its replicas (SHOW SLAVE HOSTS)"),
    ]
}

/// What a node that rebuilds `tables` needs, besides [`discovery_needs`]: `PROCESS` for the
/// control connection (processlist, tablespaces, lock holders), in binlog-off the right to
/// set `sql_log_bin`, on a `read_only` node the right to write through it, and the rebuild's
/// table privileges (MariaDB: `ALTER`; MySQL: `ALTER`, `CREATE`, `INSERT`). Killing its own
/// statements needs nothing: the same account runs them.
pub fn executor_needs(
    info: &ServerInfo,
    binlog_off: bool,
    read_only: bool,
    tables: Vec<(String, String)>,
) -> Vec<Need> {
    let v = info.version_number();
    let maria = info.flavor == Flavor::MariaDb;
    let mut needs = vec![Need::global(
        vec!["PROCESS"],
        "the control connection: processlist and tablespaces",
    )];
    if binlog_off {
        let any_of = match info.flavor {
            Flavor::MariaDb if v >= Version(10, 5, 2) => vec!["BINLOG ADMIN", "SUPER"],
            Flavor::MariaDb | Flavor::MySql57 => vec!["SUPER"],
            _ if v >= Version(8, 0, 14) => {
                vec!["SYSTEM_VARIABLES_ADMIN", "SESSION_VARIABLES_ADMIN", "SUPER"]
            }
            _ => vec!["SYSTEM_VARIABLES_ADMIN", "SUPER"],
        };
        needs.push(Need::global(
            any_of,
            "binlog-off: SET SESSION sql_log_bin = 0",
        ));
    }
    if read_only {
        let any_of = match info.flavor {
            Flavor::MariaDb if v >= Version(10, 11, 0) => vec!["READ_ONLY ADMIN"],
            Flavor::MariaDb if v >= Version(10, 5, 2) => vec!["READ_ONLY ADMIN", "SUPER"],
            Flavor::MariaDb | Flavor::MySql57 => vec!["SUPER"],
            _ => vec!["CONNECTION_ADMIN", "SUPER"],
        };
        needs.push(Need::global(any_of, "rebuilding on a read_only node"));
    }
    if !tables.is_empty() {
        needs.push(Need {
            any_of: if maria {
                vec!["ALTER"]
            } else {
                vec!["ALTER", "CREATE", "INSERT"]
            },
            on: On::Tables(tables),
            why: "the rebuilds",
        });
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<Row> {
        lines
            .iter()
            .map(|l| Row::from_pairs([("Grants for weak@%", Some(*l))]))
            .collect()
    }

    fn info(flavor: Flavor, version: &str) -> ServerInfo {
        ServerInfo {
            flavor,
            version: version.into(),
            server_id: 2,
            server_uuid: None,
            read_only: true,
            super_read_only: None,
            log_bin: true,
            log_slave_updates: true,
            gtid_mode: None,
            wsrep_on: false,
            innodb_file_per_table: true,
            innodb_page_size: 16384,
            report_host: None,
            report_port: None,
            port: None,
        }
    }

    fn tables() -> Vec<(String, String)> {
        vec![
            ("shop".into(), "orders".into()),
            ("shop_2".into(), "events".into()),
        ]
    }

    fn needs(i: &ServerInfo, binlog_off: bool) -> Vec<Need> {
        let mut n = discovery_needs(i);
        n.extend(executor_needs(i, binlog_off, true, tables()));
        n
    }

    /// Captured from MariaDB 10.11: a user with SELECT on one schema only.
    #[test]
    fn mariadb_user_with_select_only_misses_everything_an_apply_needs() {
        let g = Grants::from_rows(
            &rows(&[
                "GRANT USAGE ON *.* TO `weak`@`%` IDENTIFIED BY PASSWORD '*5E049F976AD9FD2789408D85343DDCA7292C79E4'",
                "GRANT SELECT ON `shop`.* TO `weak`@`%`",
            ]),
            Flavor::MariaDb,
        );
        let m = g.missing(&needs(&info(Flavor::MariaDb, "10.11.19-MariaDB-log"), true));
        assert_eq!(
            m,
            [
                "SLAVE MONITOR or SUPER (discovery: its replication status)",
                "REPLICATION MASTER ADMIN (discovery: its replicas (SHOW SLAVE HOSTS))",
                "PROCESS (the control connection: processlist and tablespaces)",
                "BINLOG ADMIN or SUPER (binlog-off: SET SESSION sql_log_bin = 0)",
                "READ_ONLY ADMIN (rebuilding on a read_only node)",
                "ALTER on shop.orders, shop_2.events (the rebuilds)",
            ]
        );
        assert!(
            !format!("{g:?}").contains("5E049F"),
            "no password hash kept"
        );
    }

    /// Captured from MariaDB 10.11: what the README lists for binlog-off, with ALTER on a
    /// schema pattern and a table, the dynamic privileges in one line.
    #[test]
    fn mariadb_user_with_the_readme_grants_misses_nothing() {
        let g = Grants::from_rows(
            &rows(&[
                "GRANT PROCESS, READ_ONLY ADMIN, REPLICATION MASTER ADMIN, BINLOG ADMIN, SLAVE MONITOR ON *.* TO `recycler`@`10.%`",
                "GRANT SELECT, ALTER ON `shop`.* TO `recycler`@`10.%`",
                "GRANT ALTER ON `shop_2`.`events` TO `recycler`@`10.%`",
                "GRANT ALTER ON `ops\\_%`.* TO `recycler`@`10.%`",
                "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `recycler`@`10.%`",
                "GRANT `dba` TO `recycler`@`10.%`",
            ]),
            Flavor::MariaDb,
        );
        assert_eq!(g.inconclusive, None);
        let i = info(Flavor::MariaDb, "10.11.19-MariaDB-log");
        assert_eq!(g.missing(&needs(&i, true)), Vec::<String>::new());
        // A table grant names its schema literally; `ops\_%` is `ops_eu`, not `opsXeu`.
        let other = ["ops_eu.t", "opsXeu.t", "shop_2.other", "shopX2.events"]
            .map(|t| {
                let (d, t) = t.split_once('.').unwrap();
                (d.to_string(), t.to_string())
            })
            .to_vec();
        assert_eq!(
            g.missing(&executor_needs(&i, false, false, other)),
            ["ALTER on opsXeu.t, shop_2.other, shopX2.events (the rebuilds)"]
        );
    }

    #[test]
    fn all_privileges_and_super_cover_their_needs() {
        let all = Grants::from_rows(
            &rows(&[
                "GRANT ALL PRIVILEGES ON *.* TO `recycler`@`%` IDENTIFIED BY PASSWORD '*8E' WITH GRANT OPTION",
            ]),
            Flavor::MariaDb,
        );
        let i = info(Flavor::MariaDb, "10.11.19-MariaDB-log");
        assert!(all.missing(&needs(&i, true)).is_empty());
        // SUPER no longer writes through read_only on MariaDB 10.11; it did on 10.6.
        let sup = Grants::from_rows(
            &rows(&[
                "GRANT SUPER, PROCESS, REPLICATION MASTER ADMIN ON *.* TO `u`@`%`",
                "GRANT ALL ON `shop%`.* TO `u`@`%`",
            ]),
            Flavor::MariaDb,
        );
        assert_eq!(
            sup.missing(&needs(&i, true)),
            ["READ_ONLY ADMIN (rebuilding on a read_only node)"]
        );
        assert!(
            sup.missing(&needs(&info(Flavor::MariaDb, "10.6.20-MariaDB"), true))
                .is_empty()
        );
    }

    /// MySQL 8.0 prints the dynamic privileges in a line of their own, without spaces; a
    /// rebuild needs ALTER, CREATE and INSERT; a column grant is not a table grant.
    #[test]
    fn mysql_dynamic_privileges_and_table_needs() {
        let g = Grants::from_rows(
            &rows(&[
                "GRANT PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `u`@`%`",
                "GRANT SESSION_VARIABLES_ADMIN,CONNECTION_ADMIN ON *.* TO `u`@`%`",
                "GRANT ALTER, CREATE, INSERT (a, b) ON `shop`.* TO `u`@`%`",
                "GRANT INSERT ON `shop_2`.`events` TO `u`@`%`",
            ]),
            Flavor::MySql80,
        );
        let m = g.missing(&needs(&info(Flavor::MySql80, "8.0.36"), true));
        assert_eq!(
            m,
            [
                "ALTER on shop_2.events (the rebuilds)",
                "CREATE on shop_2.events (the rebuilds)",
                "INSERT on shop.orders (the rebuilds)",
            ]
        );
        // Before 8.0.14 SESSION_VARIABLES_ADMIN did not allow sql_log_bin.
        let m = g.missing(
            &discovery_needs(&info(Flavor::MySql80, "8.0.13"))
                .into_iter()
                .chain(executor_needs(
                    &info(Flavor::MySql80, "8.0.13"),
                    true,
                    false,
                    vec![],
                ))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            m,
            ["SYSTEM_VARIABLES_ADMIN or SUPER (binlog-off: SET SESSION sql_log_bin = 0)"]
        );
    }

    #[test]
    fn mysql_roles_and_partial_revokes_make_the_check_inconclusive() {
        for line in [
            "GRANT `recycler_role`@`%` TO `u`@`%`",
            "REVOKE ALTER ON `mysql`.* FROM `u`@`%`",
        ] {
            let g = Grants::from_rows(
                &rows(&["GRANT USAGE ON *.* TO `u`@`%`", line]),
                Flavor::MySql80,
            );
            assert!(g.inconclusive.is_some(), "{line}");
            assert!(
                g.missing(&needs(&info(Flavor::MySql80, "8.0.36"), true))
                    .is_empty()
            );
        }
    }

    #[test]
    fn quoted_identifiers_and_patterns() {
        assert_eq!(
            scope("`we``ird`.`t.1`"),
            Some(Scope::Table("we`ird".into(), "t.1".into()))
        );
        assert_eq!(scope("`a_b`.*"), Some(Scope::Schema("a_b".into())));
        assert_eq!(scope("PROCEDURE `a`.`p`"), None);
        assert!(like("shop\\_%", "shop_eu") && !like("shop\\_%", "shopXeu"));
        assert!(like("a_c", "abc") && like("%", "") && !like("ab", "abc"));
    }
}
