//! The set-based catalog queries of a scan — one statement per catalog per node, never one per
//! table — and the parsers that turn their rows into per-table facts.
//!
//! Catalogs: `information_schema.TABLES`, `COLUMNS` and `STATISTICS`; the InnoDB table→tablespace
//! view joined to the tablespace view (`INNODB_SYS_TABLES`/`INNODB_SYS_TABLESPACES` on MariaDB and
//! 5.7, `INNODB_TABLES`/`INNODB_TABLESPACES` on MySQL 8); `mysql.innodb_table_stats` and
//! `mysql.innodb_index_stats` (persistent statistics). InnoDB names tables `db/table` in the
//! server's filename encoding ([`encode_filename`]: `@` and two characters for many letters,
//! `@xxxx` for other characters) and partitions suffixed `#P#name` (`#p#` on MySQL 8); tables
//! are matched on the decoded names ([`decode_filename`]). The statistics tables hold decoded
//! names.

use crate::mysql::Row;
use crate::mysql::flavor::Flavor;

/// Schemas never scanned.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// `NOT IN (…)` of [`SYSTEM_SCHEMAS`] (constants, so written into the text).
fn not_system() -> String {
    let list: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| format!("'{s}'")).collect();
    format!("NOT IN ({})", list.join(", "))
}

/// ` AND (cond)` when a statement reads only some tables (phase 2 of a scan), else nothing.
fn and(only: Option<&str>) -> String {
    only.map(|c| format!(" AND ({c})")).unwrap_or_default()
}

/// InnoDB base tables with their size figures (`only`: a [`naming`] condition on
/// `TABLE_SCHEMA`, `TABLE_NAME`).
pub fn tables_sql(only: Option<&str>) -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, ROW_FORMAT, TABLE_ROWS, DATA_FREE, CREATE_OPTIONS \
         FROM information_schema.TABLES \
         WHERE ENGINE = 'InnoDB' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA {not_system}{}",
        and(only)
    )
}

/// Columns of the user tables, in order.
pub fn columns_sql(only: Option<&str>) -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, \
         CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, \
         DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA {not_system}{} \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
        and(only)
    )
}

/// Index columns of the user tables, including the index type (FULLTEXT, SPATIAL).
pub fn indexes_sql(only: Option<&str>) -> String {
    let not_system = not_system();
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, \
         SUB_PART, INDEX_TYPE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA {not_system}{} \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        and(only)
    )
}

/// Each InnoDB table (or partition) and the id of the tablespace it lives in, by that id (to
/// be merged with [`tablespaces_sql`] as both arrive).
pub fn innodb_tables_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql80 | Flavor::MySql84 => {
            "SELECT NAME, SPACE FROM information_schema.INNODB_TABLES ORDER BY SPACE"
        }
        Flavor::MariaDb | Flavor::MySql57 => {
            "SELECT NAME, SPACE FROM information_schema.INNODB_SYS_TABLES ORDER BY SPACE"
        }
    }
}

/// Every tablespace with its file size, by id. Joined to [`innodb_tables_sql`] here, not in
/// SQL: information_schema views have no indexes, so a join on the server is quadratic in
/// tables; both come sorted by tablespace id and are merged as they arrive.
pub fn tablespaces_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MySql80 | Flavor::MySql84 => {
            "SELECT SPACE, NAME AS SPACE_NAME, SPACE_TYPE, FILE_SIZE, ALLOCATED_SIZE \
             FROM information_schema.INNODB_TABLESPACES ORDER BY SPACE"
        }
        Flavor::MariaDb | Flavor::MySql57 => {
            "SELECT SPACE, NAME AS SPACE_NAME, NULL AS SPACE_TYPE, FILE_SIZE, ALLOCATED_SIZE \
             FROM information_schema.INNODB_SYS_TABLESPACES ORDER BY SPACE"
        }
    }
}

/// Persistent table statistics (`only`: a [`naming`] condition on `database_name`,
/// `table_name` with partitions).
pub fn table_stats_sql(only: Option<&str>) -> String {
    let not_system = not_system();
    format!(
        "SELECT database_name, table_name, n_rows FROM mysql.innodb_table_stats \
         WHERE database_name {not_system}{}",
        and(only)
    )
}

/// Persistent index statistics: leaf pages in use per index, and its distinct-key counts
/// (`n_diff_pfxNN`; the longest prefix counts the index's records, so every index is a count of
/// the rows from its own sample of pages).
pub fn index_stats_sql(only: Option<&str>) -> String {
    let not_system = not_system();
    format!(
        "SELECT database_name, table_name, index_name, stat_name, stat_value \
         FROM mysql.innodb_index_stats \
         WHERE (stat_name = 'n_leaf_pages' OR stat_name LIKE 'n|_diff|_pfx%' ESCAPE '|') \
         AND database_name {not_system}{}",
        and(only)
    )
}

/// A table a phase-2 statement names: schema, table, and whether it is partitioned.
pub type Named = (String, String, bool);

/// A `WHERE` condition naming `tables` by a schema and a table column, with its values to
/// bind in order: per schema `(s = ? AND t IN (?, …))`, OR-ed. The server then opens only those
/// tables (MariaDB and MySQL look the names up instead of reading every table). With
/// `partitions`, a partitioned table is named by its partitions' rows instead, `t#P#…`
/// (`#p#` on MySQL 8), as the statistics tables hold them.
pub fn naming(
    schema_col: &str,
    table_col: &str,
    tables: &[Named],
    partitions: bool,
) -> (String, Vec<String>) {
    let mut by_schema: std::collections::BTreeMap<&str, Vec<&Named>> = Default::default();
    for t in tables {
        by_schema.entry(t.0.as_str()).or_default().push(t);
    }
    let mut binds = Vec::new();
    let mut parts = Vec::new();
    for (schema, ts) in by_schema {
        binds.push(schema.to_string());
        let (like, plain): (Vec<&&Named>, Vec<&&Named>) =
            ts.iter().partition(|t| partitions && t.2);
        let mut names = Vec::new();
        if !plain.is_empty() {
            names.push(format!(
                "{table_col} IN ({})",
                vec!["?"; plain.len()].join(", ")
            ));
            binds.extend(plain.iter().map(|t| t.1.clone()));
        }
        for t in like {
            names.push(format!("{table_col} LIKE ? ESCAPE '|'"));
            binds.push(format!("{}#_#%", escape_like(&t.1)));
        }
        parts.push(format!("({schema_col} = ? AND ({}))", names.join(" OR ")));
    }
    (parts.join(" OR "), binds)
}

/// `s` as a `LIKE` pattern that matches only itself (escape character `|`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '%' | '_') {
            out.push('|');
        }
        out.push(c);
    }
    out
}

/// The catalog statements of a full scan, in the order the scan sends them (also what the
/// benchmark's baseline sends with the `mariadb` client).
pub fn scan_statements(flavor: Flavor) -> Vec<String> {
    vec![
        tables_sql(None),
        innodb_tables_sql(flavor).to_string(),
        tablespaces_sql(flavor).to_string(),
        table_stats_sql(None),
        index_stats_sql(None),
        columns_sql(None),
        indexes_sql(None),
    ]
}

/// The statements of a scan's phase 1, which every table passes through: the InnoDB dictionary
/// alone (what the benchmark's floor sends, with the persistent statistics).
pub fn phase1_statements(flavor: Flavor) -> Vec<String> {
    vec![
        innodb_tables_sql(flavor).to_string(),
        tablespaces_sql(flavor).to_string(),
    ]
}

/// Code points the filename encoding writes as `@` and two characters, in runs of consecutive
/// code points: (first, last, index of the first's code in [`COMPACT_CODES`]). Letters of Latin-1
/// Supplement, Latin Extended-A/B, IPA, Greek, Cyrillic, Armenian, Latin Extended Additional,
/// Greek Extended, Roman numerals, circled letters and fullwidth letters: 1510 code points.
/// Measured on MariaDB 10.11 (a table per code point, its name read back from
/// `INNODB_SYS_TABLES`, and `CONVERT(… USING filename)` over every code point). MySQL's filename
/// charset has the same origin (5.1) and table; no MySQL server was measured.
#[rustfmt::skip]
const COMPACT_RUNS: [(u16, u16, u16); 50] = [
    (0x00C0, 0x00D6, 0), (0x00D8, 0x00F6, 23), (0x00F8, 0x012F, 54), (0x0131, 0x01BE, 110),
    (0x01C4, 0x01C4, 252), (0x01C6, 0x01C7, 253), (0x01C9, 0x01CA, 255), (0x01CC, 0x01F1, 257),
    (0x01F3, 0x01F6, 295), (0x01F8, 0x0241, 299), (0x0250, 0x02AF, 373), (0x0386, 0x0386, 469),
    (0x0388, 0x038A, 470), (0x038C, 0x038C, 473), (0x038E, 0x03A1, 474), (0x03A3, 0x03CE, 494),
    (0x03D0, 0x03D7, 538), (0x03D9, 0x03F3, 546), (0x03F5, 0x03F6, 573), (0x03F8, 0x03F8, 575),
    (0x03FB, 0x0481, 576), (0x048A, 0x04CE, 711), (0x04D0, 0x04F9, 780), (0x0500, 0x050F, 822),
    (0x0531, 0x0555, 838), (0x0561, 0x0585, 875), (0x1E00, 0x1E9B, 912), (0x1EA0, 0x1EF9, 1068),
    (0x1F00, 0x1F15, 1158), (0x1F18, 0x1F1D, 1180), (0x1F20, 0x1F45, 1186), (0x1F48, 0x1F4D, 1224),
    (0x1F50, 0x1F57, 1230), (0x1F59, 0x1F59, 1238), (0x1F5B, 0x1F5B, 1239), (0x1F5D, 0x1F5D, 1240),
    (0x1F5F, 0x1F7D, 1241), (0x1F80, 0x1FB4, 1272), (0x1FB6, 0x1FBC, 1325), (0x1FC2, 0x1FC4, 1332),
    (0x1FC6, 0x1FCC, 1335), (0x1FD0, 0x1FD3, 1342), (0x1FD6, 0x1FDB, 1346), (0x1FE0, 0x1FEC, 1352),
    (0x1FF2, 0x1FF3, 1365), (0x1FF6, 0x1FFC, 1367), (0x2160, 0x217F, 1374), (0x24B6, 0x24E9, 1406),
    (0xFF21, 0xFF3A, 1458), (0xFF41, 0xFF5A, 1484),
];
/// The two characters after `@` of each code point of [`COMPACT_RUNS`], in code point order.
const COMPACT_CODES: &str = concat!(
    "0G0H0I0J0K0L0M0N0O0P0Q0R0S0T0U0V0W0X0Y0Z1G1H1I1K1L1M1N1O1P1Q1j0g0h0i0j0k0l0m0n0o0p0q0r0s",
    "0t0u0v0w0x0y0z1g1h1i1k1l1m1n1o1p1q1r1S1s1T1t1U1u1V1v1W1w1X1x1Y1y1Z1z2G2g2H2h2I2i2J2j2K2k",
    "2L2l2M2m2N2n2O2o2P2p2Q2q2R2r2S2s2T2t2U2u2V2v2w2X2x2Y2y2Z2z3g3H3h3I3i3J3j3K3k3L3l3M3m3N3n",
    "3O3o3p3Q3q3R3r3S3s3T3t3U3u3V3v3W3w3X3x3Y3y3Z3z4G4g4H4h4I4i4J4j4K4k4L4l4M4m4N4n4O4o4P4p4Q",
    "4q4R4r4S4s1R4T4t4U4u4V4v4wgaQfHahaIaiaRfJajaTfUfKakalaZbWfYfMamaJgMgnaSgRgOaoapaqaYgHhra",
    "KhSasaTataUauaVhVavaYhwaxaYayaJiZazaLiMiGbgbHbhbTiIbibjbkbNbnbmbObobPbpbQbqbRbrbSbsbTbtb",
    "UbubVbvbWbwbXbxbYbybzbGcgcHchcIcicJcjcKckcLclcMcmcNcncOcocpcQcqcRcrcNaScscTctcUcucVcvcWc",
    "wcXcxcYcycZczcGdgdHdhdIdidJdjdKdkdLdldMdmdNdndOdodPdpdQdqdRdrdRasdTdtdUdudVdvdWdwdXdxdYd",
    "ydZdzdGegeHeheiejekelemeneOePepePaQereseVinfofpfqfrfsftfufvfwfxfyfzfgghgigjgkglgmgngogpg",
    "qgrgsgtgugvgwgxgygzgghhhihjhkhlhmhnhohphqhrhshthuhvhwhxhyhzhgihiiijikiliminioipiqirisiti",
    "uiviwixiyizigjhjijjjkjljmjnjojpjqjrjsjtjujvjwjxjyjzjgkhkik6G6H6I6J7S7T7U5y6L7W6N6O6P6Q6R",
    "7X6T8W6V6W6X6Y6Z8I7H8Y7K7L8H7N7O7P7Q7R6g6h6i6j6k6l6m6n6o6p6q6r6s6t6u6v6w6x6y6z7g7h7i7j7k",
    "7l7m7n7o7p7q7r7s7t7u7w7x7Y7Z8G8h8i8j8k8L8l8M8m8N8n8O8o8P8p8Q8q8R8r8S8s8T8t8U8u8V8v8w8x8y",
    "8z9g9h9i9j9k9L9M9NS1T1U1V1W1X1Y1Z1G2H2I2J2K2L2M2N2G0H0I0J0K0L0M0N0O0P0Q0R0S0T0U0V0W0X0Y0",
    "Z0G1H1I1J1K1L1M1N1O1P1Q1R1g0h0i0j0k0l0m0n0o0p0q0r0s0t0u0v0w0x0y0z0g1h1i1j1k1l1m1n1o1p1q1",
    "r1s1t1u1v1w1x1y1z1g2h2i2j2k2l2m2n2O2o2P2p2Q2q2R2r2S2s2T2t2U2u2V2v2W2w2X2x2Y2y2Z2z2G3g3H3",
    "h3I3i3J3j3K3k3M3m3N3n3O3o3P3p3Q3q3R3r3S3s3T3t3U3u3V3v3W3w3X3x3Y3y3Z3z3G4g4H4h4I4i4J4j4K4",
    "k4L4l4M4m4N4n4O4o4P4p4Q4q4R4r4S4s4T4U4u4V4v4W4w4X4x4Y4y4Z4z4G5g5I5i5J5j5K5k5L5l5M5m5N5n5",
    "O5o5P5p5Q5q5R5r5S5s5T5t5U5u5V5v5W5w5X5x5Y5y5Z5z5G6g6H6h6I6i6P6p6Q6q6R6r6S6s6T6t6U6u6V6v6",
    "W6w6H7I7J7K7L7M7N7O7P7Q7R7S7T7U7V7W7X7Y7Z7G8H8I8J8K8L8M8N8O8P8Q8R8S8T8U8V8W8X8h7i7j7k7l7",
    "m7n7o7p7q7r7s7t7u7v7w7x7y7z7g8h8i8j8k8l8m8n8o8p8q8r8s8t8u8v8w8x8GlglHlhlIlilJljlKlklLlll",
    "MlmlNlnlOlolPlplQlqlRlrlSlslTltlUlulVlvlWlwlXlxlYlylZlzlGmgmHmhmImimJmjmKmkmLmlmMmmmNmnm",
    "OmomPmpmQmqmRmrmSmsmTmtmUmumVmvmWmwmXmxmYmymZmzmGngnHnhnIninJnjnKnknLnlnMnmnNnnnGponPnpn",
    "QnqnRnrnSnsnTntnUnunVnvnWnwnXnxnYnynZnznGogoHohoIoioJojoKokoLoloMomoNonoOoooPopoQoqoRoro",
    "SosoTotoUouovowoxoyozogpLplpMpmpNpnpOpopPpppQpqpRprpSpspTptpUpupVpvpWpwpXpxpYpypZpzpGqgq",
    "HqhqIqiqJqjqKqkqLqlqMqmqNqnqOqoqPqpqQqqqRqrqSqsqTqtqUquqVqvqWqwqXqxqYqyqZqzqGrgrHrhrIrir",
    "JrjrKrkrLrlrMrmrNrnrOrorPrprgshsisjskslsmsnsGsHsIsJsKsLsMsNsospsqsrssstsOsPsQsRsSsTsyszs",
    "gthtitjtktltYsZsGtHtItJtKtLtmtntotptqtrtstttMtNtOtPtQtRtStTtutvtwtxtytztUtVtWtXtYtZtkulu",
    "munuoupuquruLuNuPuRuwuxuyuzugvhvivjvWuXuYuZuGvHvIvJvkvlvmvnvovpvqvrvsvtvuvvvwvxvgwhwiwjw",
    "kwlwmwnwGwHwIwJwKwLwMwNwowpwqwrwswtwuwvwOwPwQwRwSwTwUwVwwwxwywzwgxhxixjxWwXwYwZwGxHxIxJx",
    "kxlxmxnxoxqxrxKxLxKvLvNxsxtxuxwxxxMvNvOvPvTxyxzxgyhykylyYxZxQvRvnyoypyqyrysytyuyNyOyUvVv",
    "SyxyyyhzizSvTvWvXvYyG9H9I9J9K9L9M9N9O9P9Q9R9S9T9U9V9g9h9i9j9k9l9m9n9o9p9q9r9s9t9u9v9@A@B",
    "@C@D@E@F@G@H@I@J@K@L@M@N@O@P@Q@R@S@T@U@V@W@X@Y@Z@a@b@c@d@e@f@g@h@i@j@k@l@m@n@o@p@q@r@s@t",
    "@u@v@w@x@y@zA@B@C@D@E@F@G@H@I@J@K@L@M@N@O@P@Q@R@S@T@U@V@W@X@Y@Z@a@b@c@d@e@f@g@h@i@j@k@l@",
    "m@n@o@p@q@r@s@t@u@v@w@x@y@z@",
);

/// The one code the server reads but never writes: `@zy` is read as U+1FF4, which is written
/// `@1ff4`.
const READ_ONLY_CODE: (u16, [u8; 2]) = (0x1FF4, *b"zy");

/// The characters a file name holds as they are.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The two characters after `@` that write `ch`, if it has a compact code.
fn compact_code(ch: char) -> Option<[u8; 2]> {
    let cp = u16::try_from(u32::from(ch)).ok()?;
    let i = COMPACT_RUNS.partition_point(|&(_, last, _)| last < cp);
    let &(first, last, at) = COMPACT_RUNS.get(i)?;
    if !(first..=last).contains(&cp) {
        return None;
    }
    let at = 2 * usize::from(at + (cp - first));
    let b = COMPACT_CODES.as_bytes();
    Some([b[at], b[at + 1]])
}

/// The index of a compact code in [`decode_table`]: both characters are in `0x30..0x80`.
fn code_index(b1: u8, b2: u8) -> Option<usize> {
    let ok = |b: u8| (0x30..0x80).contains(&b);
    (ok(b1) && ok(b2)).then(|| usize::from(b1 - 0x30) * 80 + usize::from(b2 - 0x30))
}

/// Code point of each compact code by [`code_index`] (0: none), built once.
fn decode_table() -> &'static [u16; 6400] {
    static TABLE: std::sync::OnceLock<Box<[u16; 6400]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0u16; 6400]);
        let codes = COMPACT_CODES.as_bytes().chunks_exact(2);
        let cps = COMPACT_RUNS
            .iter()
            .flat_map(|&(first, last, _)| first..=last);
        for (code, cp) in codes.zip(cps) {
            if let Some(i) = code_index(code[0], code[1]) {
                t[i] = cp;
            }
        }
        let (cp, [b1, b2]) = READ_ONLY_CODE;
        if let Some(i) = code_index(b1, b2) {
            t[i] = cp;
        }
        t
    })
}

/// Encodes a database or table name the way MariaDB and MySQL name its files and tablespaces
/// (the "filename" character set): `0-9`, `A-Z`, `a-z` and `_` as they are; letters with a
/// compact code (see [`COMPACT_RUNS`]) as `@` and two characters (`é` → `@0p`, `Ω` → `@7P`,
/// `д` → `@k0`); every other character as `@` and four lowercase hex digits (`my table` →
/// `my@0020table`, `@` → `@0040`).
///
/// `None` for a name no identifier can be: one with U+0000 or a character outside the Basic
/// Multilingual Plane (identifiers are utf8mb3; the server would write NUL as it is and only the
/// low 16 bits of the others).
pub fn encode_filename(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        let cp = u32::from(ch);
        if cp == 0 || cp > 0xFFFF {
            return None;
        }
        if u8::try_from(cp).is_ok_and(is_safe) {
            out.push(ch);
        } else if let Some([b1, b2]) = compact_code(ch) {
            out.push('@');
            out.push(char::from(b1));
            out.push(char::from(b2));
        } else {
            out.push_str(&format!("@{cp:04x}"));
        }
    }
    Some(out)
}

/// Reads filename-encoded text the way the server's filename character set does: safe
/// characters as they are, `@` and a compact code, `@@@` (NUL), or `@` and four lowercase hex
/// digits (the compact code tried first; no compact code is two hex digits). `None` for
/// anything the server cannot read (a character outside `0-9A-Za-z_`, an `@` not starting a
/// code, a surrogate).
fn read_filename(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if is_safe(b[i]) {
            out.push(char::from(b[i]));
            i += 1;
            continue;
        }
        if b[i] != b'@' {
            return None;
        }
        let (b1, b2) = (*b.get(i + 1)?, *b.get(i + 2)?);
        let compact = code_index(b1, b2).map_or(0, |k| decode_table()[k]);
        if compact != 0 {
            out.push(char::from_u32(u32::from(compact))?);
            i += 3;
        } else if b1 == b'@' && b2 == b'@' {
            out.push('\0');
            i += 3;
        } else {
            let hex = b.get(i + 1..i + 5)?;
            if !hex.iter().all(|&h| matches!(h, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            // Four hex digits: ASCII, so a valid str.
            let cp = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(char::from_u32(cp)?);
            i += 5;
        }
    }
    Some(out)
}

/// Decodes a database or table name from its file or tablespace name (the inverse of
/// [`encode_filename`]): `caf@0p` → `café`, `my@0020table` → `my table`.
///
/// `None` for a name the server would not have written for any table: unreadable sequences, but
/// also readable ones that are not how the server writes what they read (`@0041` reads as `A`,
/// which is written `A`). So every file name decodes to at most one table name and no two file
/// names to the same one: a table literally named `caf@0p` (its file `caf@00400p`) is never
/// taken for `café` (its file `caf@0p`). Internal names (`#sql-…` of an ALTER in progress) are
/// `None` too.
pub fn decode_filename(s: &str) -> Option<String> {
    let name = read_filename(s)?;
    (encode_filename(&name).as_deref() == Some(s)).then_some(name)
}

/// What to match InnoDB table names against for one table: its exact InnoDB name and a `LIKE`
/// pattern for its partitions. Both are on the encoded names; callers decode the rows and
/// compare the names, because the views compare case-insensitively (`@0p` is `é`, `@0P` is `É`)
/// and `_` is a `LIKE` wildcard. For a name no table can have, patterns no row matches.
pub fn tablespace_names(schema: &str, table: &str) -> (String, String) {
    match (encode_filename(schema), encode_filename(table)) {
        (Some(s), Some(t)) => (format!("{s}/{t}"), format!("{s}/{t}#P#%")),
        _ => (String::new(), String::new()),
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

/// Splits an InnoDB name `db/table#P#part` into (schema, table, is_partition), decoded with
/// [`decode_filename`]; `None` for a name that is no user table's (no `/`, or a part that is not
/// the server's encoding of a name, like `db/#sql-alter-…`). A `#` of a table's own name is
/// encoded (`@0023`), so the first `#P#` starts the partition.
pub fn split_innodb_name(name: &str) -> Option<(String, String, bool)> {
    let (db, rest) = name.split_once('/')?;
    let (table, part) = strip_partition(rest);
    Some((decode_filename(db)?, decode_filename(table)?, part))
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

/// What the dictionary says of one [`innodb_tables_sql`] row, given the [`tablespaces_sql`]
/// row of its tablespace id if there is one: (schema, table, partition?, placement), the
/// placement `None` when the tablespace row is missing (discarded, or being rebuilt right now);
/// `None` for a name that is no user table's.
pub fn placement_of(
    t: &Row,
    space: Option<&Row>,
) -> Option<(String, String, bool, Option<Placement>)> {
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
        Some(Placement::System)
    } else if space_type.eq_ignore_ascii_case("General")
        || (!space_name.is_empty() && space_name != name)
    {
        Some(Placement::General(space_name.to_string()))
    } else {
        space.map(|s| Placement::FilePerTable {
            file_size: s.u64(&["FILE_SIZE"]).unwrap_or(0),
            allocated_size: s.u64(&["ALLOCATED_SIZE"]).unwrap_or(0),
        })
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
        let (exact, like) = tablespace_names("odd schema", "t");
        assert_eq!(exact, "odd@0020schema/t");
        assert_eq!(like, "odd@0020schema/t#P#%");
        assert_eq!(
            decode_filename("odd@0020schema").as_deref(),
            Some("odd schema")
        );
        // No identifier holds NUL or a character beyond the BMP.
        assert_eq!(encode_filename("a\0b"), None);
        assert_eq!(encode_filename("a😀"), None);
        assert_eq!(tablespace_names("s", "a😀"), (String::new(), String::new()));
    }

    /// What MariaDB 10.11 writes for the first and last code point of each run of compact codes
    /// (read back from `INNODB_SYS_TABLES` of tables named with them).
    #[rustfmt::skip]
    const MEASURED: [(&str, &str); 93] = [
        ("\u{00C0}", "@0G"), ("\u{00D6}", "@1I"), ("\u{00D8}", "@1K"), ("\u{00F6}", "@1i"),
        ("\u{00F8}", "@1k"), ("\u{012F}", "@2v"), ("\u{0131}", "@2w"), ("\u{01BE}", "@mb"),
        ("\u{01C4}", "@Ob"), ("\u{01C6}", "@ob"), ("\u{01C7}", "@Pb"), ("\u{01C9}", "@pb"),
        ("\u{01CA}", "@Qb"), ("\u{01CC}", "@qb"), ("\u{01F1}", "@Qc"), ("\u{01F3}", "@qc"),
        ("\u{01F6}", "@Na"), ("\u{01F8}", "@Sc"), ("\u{0241}", "@Vi"), ("\u{0250}", "@nf"),
        ("\u{02AF}", "@ik"), ("\u{0386}", "@6G"), ("\u{0388}", "@6H"), ("\u{038A}", "@6J"),
        ("\u{038C}", "@7S"), ("\u{038E}", "@7T"), ("\u{03A1}", "@7H"), ("\u{03A3}", "@8Y"),
        ("\u{03CE}", "@7u"), ("\u{03D0}", "@7w"), ("\u{03D7}", "@8j"), ("\u{03D9}", "@8k"),
        ("\u{03F3}", "@8z"), ("\u{03F5}", "@9g"), ("\u{03F6}", "@9h"), ("\u{03F8}", "@9i"),
        ("\u{03FB}", "@9j"), ("\u{0481}", "@k3"), ("\u{048A}", "@M3"), ("\u{04CE}", "@g5"),
        ("\u{04D0}", "@I5"), ("\u{04F9}", "@i6"), ("\u{0500}", "@P6"), ("\u{050F}", "@w6"),
        ("\u{0531}", "@H7"), ("\u{0555}", "@X8"), ("\u{0561}", "@h7"), ("\u{0585}", "@x8"),
        ("\u{1E00}", "@Gl"), ("\u{1E9B}", "@gp"), ("\u{1EA0}", "@Lp"), ("\u{1EF9}", "@pr"),
        ("\u{1F00}", "@gs"), ("\u{1F15}", "@ts"), ("\u{1F18}", "@Os"), ("\u{1F1D}", "@Ts"),
        ("\u{1F20}", "@ys"), ("\u{1F45}", "@zt"), ("\u{1F48}", "@Ut"), ("\u{1F4D}", "@Zt"),
        ("\u{1F50}", "@ku"), ("\u{1F57}", "@ru"), ("\u{1F59}", "@Lu"), ("\u{1F5B}", "@Nu"),
        ("\u{1F5D}", "@Pu"), ("\u{1F5F}", "@Ru"), ("\u{1F7D}", "@xv"), ("\u{1F80}", "@gw"),
        ("\u{1FB4}", "@ox"), ("\u{1FB6}", "@qx"), ("\u{1FBC}", "@Nx"), ("\u{1FC2}", "@sx"),
        ("\u{1FC4}", "@ux"), ("\u{1FC6}", "@wx"), ("\u{1FCC}", "@Tx"), ("\u{1FD0}", "@yx"),
        ("\u{1FD3}", "@hy"), ("\u{1FD6}", "@ky"), ("\u{1FDB}", "@Rv"), ("\u{1FE0}", "@ny"),
        ("\u{1FEC}", "@Sy"), ("\u{1FF2}", "@xy"), ("\u{1FF3}", "@yy"), ("\u{1FF6}", "@hz"),
        ("\u{1FFC}", "@Yy"), ("\u{2160}", "@G9"), ("\u{217F}", "@v9"), ("\u{24B6}", "@@A"),
        ("\u{24E9}", "@@z"), ("\u{FF21}", "@A@"), ("\u{FF3A}", "@Z@"), ("\u{FF41}", "@a@"),
        ("\u{FF5A}", "@z@"),
    ];

    /// SHA-256 of what MariaDB 10.11 writes for every code point U+0001..U+FFFF but the
    /// surrogates, in order, each followed by `\n` (`CONVERT(CHAR(n USING utf32) USING
    /// filename)`; tables named with all 1510 compact-code letters and 531 other characters
    /// gave the same names in `INNODB_SYS_TABLES`).
    const SERVER_BMP_SHA256: &str =
        "76b35d6f39fb4337d902f5986717381e6e91cac407180bf05b2a2bdf7408ebc1";

    fn bmp() -> impl Iterator<Item = char> {
        (1..=0xFFFFu32).filter_map(char::from_u32)
    }

    #[test]
    fn every_bmp_character_is_encoded_as_the_server_does() {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for ch in bmp() {
            h.update(encode_filename(&ch.to_string()).expect("BMP").as_bytes());
            h.update(b"\n");
        }
        assert_eq!(hex::encode(h.finalize()), SERVER_BMP_SHA256);
        for (name, file) in MEASURED {
            assert_eq!(encode_filename(name).as_deref(), Some(file), "{name:?}");
            assert_eq!(decode_filename(file).as_deref(), Some(name), "{file}");
        }
        assert_eq!(encode_filename("é").as_deref(), Some("@0p"));
        assert_eq!(encode_filename("Ωmega").as_deref(), Some("@7Pmega"));
        assert_eq!(
            encode_filename("таблица").as_deref(),
            Some("@y0@g0@h0@r0@o0@i1@g0")
        );
        // A letter without a compact code, and a fullwidth one with.
        assert_eq!(encode_filename("א").as_deref(), Some("@05d0"));
        assert_eq!(encode_filename("Ａ").as_deref(), Some("@A@"));
    }

    #[test]
    fn every_compact_code_round_trips() {
        let mut seen = std::collections::HashSet::new();
        let mut compact = 0;
        for ch in bmp() {
            let file = encode_filename(&ch.to_string()).expect("BMP");
            assert!(seen.insert(file.clone()), "{ch:?}: {file} is written twice");
            assert_eq!(decode_filename(&file), Some(ch.to_string()), "{file}");
            if file.len() == 3 {
                compact += 1;
            }
            // Also inside a name, next to characters that look like hex digits.
            let name = format!("a{ch}0f{ch}");
            let file = encode_filename(&name).expect("BMP");
            assert_eq!(
                decode_filename(&file).as_deref(),
                Some(name.as_str()),
                "{file}"
            );
        }
        assert_eq!(compact, 1510);
    }

    #[test]
    fn only_what_the_server_writes_is_decoded() {
        assert_eq!(decode_filename("orders").as_deref(), Some("orders"));
        assert_eq!(
            decode_filename("we@0060ird@0020na@002eme").as_deref(),
            Some("we`ird na.me")
        );
        // Unreadable: a lone `@`, uppercase hex, a character the server always encodes.
        for s in [
            "a@b",
            "a@",
            "@00",
            "@00C0",
            "my-db",
            "caf\u{e9}",
            "#sql-alter-1a-2b",
        ] {
            assert_eq!(decode_filename(s), None, "{s}");
        }
        // Readable, but not what the server writes for what it reads.
        for s in ["@0041", "@00c0", "@@@", "@0000", "@d800", "@zy"] {
            assert_eq!(decode_filename(s), None, "{s}");
        }
        assert_eq!(read_filename("@0041").as_deref(), Some("A"));
        assert_eq!(read_filename("@zy").as_deref(), Some("\u{1FF4}"));
        assert_eq!(encode_filename("\u{1FF4}").as_deref(), Some("@1ff4"));
        assert_eq!(read_filename("@@@").as_deref(), Some("\0"));
        assert_eq!(read_filename("@d800"), None);
    }

    /// `café` is the file `caf@0p`; a table literally named `caf@0p` is `caf@00400p`. Each file
    /// decodes to its own table only.
    #[test]
    fn a_name_that_looks_encoded_is_told_apart() {
        assert_eq!(encode_filename("café").as_deref(), Some("caf@0p"));
        assert_eq!(encode_filename("caf@0p").as_deref(), Some("caf@00400p"));
        assert_eq!(decode_filename("caf@0p").as_deref(), Some("café"));
        assert_eq!(decode_filename("caf@00400p").as_deref(), Some("caf@0p"));
        assert_eq!(encode_filename("@0040x").as_deref(), Some("@00400040x"));
        assert_eq!(decode_filename("@00400040x").as_deref(), Some("@0040x"));
        assert_eq!(decode_filename("@0040x").as_deref(), Some("@x"));
        assert_eq!(
            split_innodb_name("fn@6v/@3ztra@1je"),
            Some(("fnλ".into(), "ŝtraße".into(), false))
        );
        assert_eq!(
            split_innodb_name("fn/p@0p#P#p@0g"),
            Some(("fn".into(), "pé".into(), true))
        );
        // A `#` of the name itself is encoded, so it does not start a partition.
        assert_eq!(
            split_innodb_name("fn/t@0023P@0023x"),
            Some(("fn".into(), "t#P#x".into(), false))
        );
        assert_eq!(split_innodb_name("fn/#sql-alter-1a-2b"), None);
        assert_eq!(split_innodb_name("fn/#sql-ib12#P#p0"), None);
        assert_eq!(split_innodb_name("SYS_FOREIGN"), None);
    }

    #[test]
    fn filename_encoding_is_decoded() {
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
    /// [`placement_of`] over every row, joined by id.
    fn dictionary(
        tables: &[Row],
        spaces: &[Row],
    ) -> Vec<(String, String, bool, Option<Placement>)> {
        tables
            .iter()
            .filter_map(|t| {
                let space = spaces
                    .iter()
                    .find(|s| s.u64(&["SPACE"]) == t.u64(&["SPACE"]));
                placement_of(t, space)
            })
            .collect()
    }

    #[test]
    fn the_dictionary_on_mariadb() {
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
        let p = dictionary(&tables, &spaces);
        assert_eq!((p[0].1.as_str(), p[0].2), ("t1", false));
        assert_eq!(
            p[0].3,
            Some(Placement::FilePerTable {
                file_size: 130023424,
                allocated_size: 130035712
            })
        );
        assert_eq!(p[1].3, Some(Placement::System));
        assert_eq!(
            (p[2].1.as_str(), &p[2].3),
            ("gone", &None),
            "a table without its tablespace row has no placement: {p:?}"
        );
    }

    /// Rows as MySQL 8.0 returns them: a general tablespace and a file-per-table partition.
    #[test]
    fn the_dictionary_on_mysql8() {
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
        let p = dictionary(&tables, &spaces);
        assert_eq!(p[0].3, Some(Placement::General("ts_audit".into())));
        let (s, t, is_part, pl) = &p[1];
        assert_eq!((s.as_str(), t.as_str(), *is_part), ("shop", "events", true));
        assert!(matches!(
            pl,
            Some(Placement::FilePerTable {
                file_size: 4194304,
                ..
            })
        ));
    }
}
