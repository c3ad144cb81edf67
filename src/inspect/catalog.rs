//! The set-based catalog queries of a scan — one statement per catalog per node, never one per
//! table — and the parsers that turn their rows into per-table facts.
//!
//! Catalogs: `information_schema.TABLES`, `COLUMNS` and `STATISTICS`; the InnoDB table→tablespace
//! view joined to the tablespace view (`INNODB_SYS_TABLES`/`INNODB_SYS_TABLESPACES` on MariaDB and
//! 5.7, `INNODB_TABLES`/`INNODB_TABLESPACES` on MySQL 8); `mysql.innodb_table_stats` and
//! `mysql.innodb_index_stats` (persistent statistics). InnoDB names tables `db/table` with special
//! characters encoded as `@xxxx` and partitions suffixed `#P#name` (`#p#` on MySQL 8).

use crate::mysql::Row;
use crate::mysql::flavor::Flavor;

/// Schemas never scanned.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// `NOT IN (…)` of [`SYSTEM_SCHEMAS`] (constants, so written into the text).
fn not_system() -> String {
    let list: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| format!("'{s}'")).collect();
    format!("NOT IN ({})", list.join(", "))
}

/// InnoDB base tables with their size figures.
pub fn tables_sql() -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, ROW_FORMAT, TABLE_ROWS, DATA_FREE, CREATE_OPTIONS \
         FROM information_schema.TABLES \
         WHERE ENGINE = 'InnoDB' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA {not_system}"
    )
}

/// Columns of every user table, in order.
pub fn columns_sql() -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, \
         CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, \
         DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA {not_system} \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
    )
}

/// Index columns of every user table, including the index type (FULLTEXT, SPATIAL).
pub fn indexes_sql() -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, \
         SUB_PART, INDEX_TYPE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA {not_system} \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
    )
}

/// Each InnoDB table (or partition) and the id of the tablespace it lives in.
pub fn innodb_tables_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql80 | Flavor::MySql84 => {
            "SELECT NAME, SPACE FROM information_schema.INNODB_TABLES"
        }
        Flavor::MariaDb | Flavor::MySql57 => {
            "SELECT NAME, SPACE FROM information_schema.INNODB_SYS_TABLES"
        }
    }
}

/// Every tablespace with its file size. Joined to [`innodb_tables_sql`] here, not in SQL:
/// information_schema views have no indexes, so a join on the server is quadratic in tables.
pub fn tablespaces_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql80 | Flavor::MySql84 => {
            "SELECT SPACE, NAME AS SPACE_NAME, SPACE_TYPE, FILE_SIZE, ALLOCATED_SIZE \
             FROM information_schema.INNODB_TABLESPACES"
        }
        Flavor::MariaDb | Flavor::MySql57 => {
            "SELECT SPACE, NAME AS SPACE_NAME, NULL AS SPACE_TYPE, FILE_SIZE, ALLOCATED_SIZE \
             FROM information_schema.INNODB_SYS_TABLESPACES"
        }
    }
}

/// Persistent table statistics.
pub fn table_stats_sql() -> String {
    let not_system = not_system();
    format!(
        "SELECT database_name, table_name, n_rows FROM mysql.innodb_table_stats \
         WHERE database_name {not_system}"
    )
}

/// Persistent index statistics: leaf pages in use per index.
pub fn index_stats_sql() -> String {
    let not_system = not_system();
    format!(
        "SELECT database_name, table_name, index_name, stat_name, stat_value \
         FROM mysql.innodb_index_stats WHERE stat_name = 'n_leaf_pages' \
         AND database_name {not_system}"
    )
}

/// The seven catalog statements of a scan, in the order the scan sends them (also what the
/// benchmark's baseline sends with the `mariadb` client).
pub fn scan_statements(flavor: Flavor) -> Vec<String> {
    vec![
        tables_sql(),
        innodb_tables_sql(flavor).to_string(),
        tablespaces_sql(flavor).to_string(),
        table_stats_sql(),
        index_stats_sql(),
        columns_sql(),
        indexes_sql(),
    ]
}

/// Decodes MySQL's filename encoding (`@0020` → space) of a database or table name.
/// Sequences other than `@` + four hex digits are left as they are.
pub fn decode_filename(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' && i + 5 <= bytes.len() {
            let hex = &s[i + 1..i + 5];
            if let Ok(cp) = u32::from_str_radix(hex, 16)
                && hex.chars().all(|c| c.is_ascii_hexdigit())
                && let Some(ch) = char::from_u32(cp)
            {
                out.push(ch);
                i += 5;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Encodes a name the way MySQL names files (`my table` → `my@0020table`) when it is ASCII;
/// `None` for names with other characters (whose compact codes this tool does not produce).
pub fn encode_filename(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => out.push(ch),
            c if c.is_ascii() => out.push_str(&format!("@{:04x}", c as u32)),
            _ => return None,
        }
    }
    Some(out)
}

/// What to match InnoDB table names against for one table: the exact name and a `LIKE` pattern
/// for its partitions (or, for non-ASCII names, every table of the schema; callers decode and
/// compare).
pub fn tablespace_names(schema: &str, table: &str) -> (String, String) {
    match (encode_filename(schema), encode_filename(table)) {
        (Some(s), Some(t)) => (format!("{s}/{t}"), format!("{s}/{t}#P#%")),
        (Some(s), None) => (String::new(), format!("{s}/%")),
        _ => (String::new(), "%".into()),
    }
}

/// One table's InnoDB name(s), space id and file size (file-per-table only): binds the exact
/// name and a `LIKE` pattern from [`tablespace_names`].
pub fn table_file_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql80 | Flavor::MySql84 => {
            "SELECT t.NAME, CAST(t.SPACE AS SIGNED), s.FILE_SIZE \
             FROM information_schema.INNODB_TABLES t \
             LEFT JOIN information_schema.INNODB_TABLESPACES s \
             ON s.SPACE = t.SPACE AND s.NAME = t.NAME WHERE t.NAME = ? OR t.NAME LIKE ?"
        }
        Flavor::MariaDb | Flavor::MySql57 => {
            "SELECT t.NAME, CAST(t.SPACE AS SIGNED), s.FILE_SIZE \
             FROM information_schema.INNODB_SYS_TABLES t \
             LEFT JOIN information_schema.INNODB_SYS_TABLESPACES s \
             ON s.SPACE = t.SPACE AND s.NAME = t.NAME WHERE t.NAME = ? OR t.NAME LIKE ?"
        }
    }
}

/// Splits an InnoDB name `db/table#P#part` into (schema, table, is_partition), decoded.
pub fn split_innodb_name(name: &str) -> Option<(String, String, bool)> {
    let (db, rest) = name.split_once('/')?;
    let (table, part) = strip_partition(rest);
    Some((decode_filename(db), decode_filename(table), part))
}

/// A table name without its partition suffix (`t#P#p0`, `t#p#p0` on MySQL 8), and whether
/// there was one.
pub fn strip_partition(name: &str) -> (&str, bool) {
    // ASCII lower-casing keeps byte offsets.
    match name.to_ascii_lowercase().find("#p#") {
        Some(pos) => (&name[..pos], true),
        None => (name, false),
    }
}

/// Where a table's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Its own `.ibd` (one per partition): a rebuild can shrink it.
    FilePerTable { file_size: u64, allocated_size: u64 },
    /// The system tablespace (`ibdata1`): a rebuild never returns space to the OS.
    System,
    /// A general (shared) tablespace.
    General(String),
}

/// Joins [`innodb_tables_sql`] rows to [`tablespaces_sql`] rows: (schema, table, partition?,
/// placement) for every table whose tablespace is known.
pub fn placements(tables: &[Row], spaces: &[Row]) -> Vec<(String, String, bool, Placement)> {
    let by_id: std::collections::HashMap<u64, &Row> = spaces
        .iter()
        .filter_map(|r| r.u64(&["SPACE"]).map(|id| (id, r)))
        .collect();
    tables
        .iter()
        .filter_map(|t| placement_of(t, t.u64(&["SPACE"]).and_then(|id| by_id.get(&id).copied())))
        .collect()
}

fn placement_of(t: &Row, space: Option<&Row>) -> Option<(String, String, bool, Placement)> {
    let name = t.get(&["NAME"])?;
    let (schema, table, partition) = split_innodb_name(name)?;
    let id = t.u64(&["SPACE"]).unwrap_or(0);
    let space_name = space
        .and_then(|s| s.get(&["SPACE_NAME"]))
        .unwrap_or_default();
    let space_type = space
        .and_then(|s| s.get(&["SPACE_TYPE"]))
        .unwrap_or_default();
    let placement = if id == 0 || space_type.eq_ignore_ascii_case("System") {
        Placement::System
    } else if space_type.eq_ignore_ascii_case("General")
        || (!space_name.is_empty() && space_name != name)
    {
        Placement::General(space_name.to_string())
    } else if let Some(s) = space {
        Placement::FilePerTable {
            file_size: s.u64(&["FILE_SIZE"]).unwrap_or(0),
            allocated_size: s.u64(&["ALLOCATED_SIZE"]).unwrap_or(0),
        }
    } else {
        // A table whose tablespace row is missing (discarded, or being rebuilt).
        return None;
    };
    Some((schema, table, partition, placement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_encoded_like_mysql_file_names() {
        assert_eq!(
            encode_filename("orders_2024").as_deref(),
            Some("orders_2024")
        );
        assert_eq!(
            encode_filename("we`ird. name").as_deref(),
            Some("we@0060ird@002e@0020name")
        );
        assert_eq!(encode_filename("café"), None);
        let (exact, like) = tablespace_names("odd schema", "t");
        assert_eq!(exact, "odd@0020schema/t");
        assert_eq!(like, "odd@0020schema/t#P#%");
        assert_eq!(decode_filename(&exact), "odd schema/t");
    }

    #[test]
    fn filename_encoding_is_decoded() {
        assert_eq!(decode_filename("orders"), "orders");
        assert_eq!(decode_filename("we@0060ird@0020na@002eme"), "we`ird na.me");
        assert_eq!(decode_filename("a@b"), "a@b");
        assert_eq!(
            split_innodb_name("shop/orders#P#p0"),
            Some(("shop".into(), "orders".into(), true))
        );
        assert_eq!(
            split_innodb_name("shop/orders#p#p1#sp#s0"),
            Some(("shop".into(), "orders".into(), true))
        );
        assert_eq!(
            split_innodb_name("my@002ddb/t"),
            Some(("my-db".into(), "t".into(), false))
        );
        // Statistics rows name partitions the same way.
        assert_eq!(strip_partition("logs#P#p3"), ("logs", true));
        assert_eq!(strip_partition("logs#p#p3#sp#s0"), ("logs", true));
        assert_eq!(strip_partition("logs"), ("logs", false));
    }

    /// Rows captured from MariaDB 10.11 (`INNODB_SYS_TABLES`, `INNODB_SYS_TABLESPACES`).
    #[test]
    fn placements_on_mariadb() {
        let tables = [
            Row::from_pairs([("NAME", Some("exp/t1")), ("SPACE", Some("5"))]),
            Row::from_pairs([("NAME", Some("exp/sys1")), ("SPACE", Some("0"))]),
            Row::from_pairs([("NAME", Some("exp/gone")), ("SPACE", Some("9"))]),
        ];
        let spaces = [Row::from_pairs([
            ("SPACE", Some("5")),
            ("SPACE_NAME", Some("exp/t1")),
            ("SPACE_TYPE", None),
            ("FILE_SIZE", Some("130023424")),
            ("ALLOCATED_SIZE", Some("130035712")),
        ])];
        let p = placements(&tables, &spaces);
        assert_eq!(
            p.len(),
            2,
            "a table without its tablespace row is left out: {p:?}"
        );
        assert_eq!((p[0].1.as_str(), p[0].2), ("t1", false));
        assert_eq!(
            p[0].3,
            Placement::FilePerTable {
                file_size: 130023424,
                allocated_size: 130035712
            }
        );
        assert_eq!(p[1].3, Placement::System);
    }

    /// Rows as MySQL 8.0 returns them: a general tablespace and a file-per-table partition.
    #[test]
    fn placements_on_mysql8() {
        let tables = [
            Row::from_pairs([("NAME", Some("shop/audit")), ("SPACE", Some("12"))]),
            Row::from_pairs([("NAME", Some("shop/events#p#p2024")), ("SPACE", Some("13"))]),
        ];
        let spaces = [
            Row::from_pairs([
                ("SPACE", Some("12")),
                ("SPACE_NAME", Some("ts_audit")),
                ("SPACE_TYPE", Some("General")),
                ("FILE_SIZE", Some("1048576")),
            ]),
            Row::from_pairs([
                ("SPACE", Some("13")),
                ("SPACE_NAME", Some("shop/events#p#p2024")),
                ("SPACE_TYPE", Some("Single")),
                ("FILE_SIZE", Some("4194304")),
                ("ALLOCATED_SIZE", Some("4194304")),
            ]),
        ];
        let p = placements(&tables, &spaces);
        assert_eq!(p[0].3, Placement::General("ts_audit".into()));
        let (s, t, is_part, pl) = &p[1];
        assert_eq!((s.as_str(), t.as_str(), *is_part), ("shop", "events", true));
        assert!(matches!(
            pl,
            Placement::FilePerTable {
                file_size: 4194304,
                ..
            }
        ));
    }
}
