//! Properties checked on generated input (proptest, a small number of cases each so CI stays
//! fast; `PROPTEST_CASES` raises it): the plan reader never panics on a mutated plan and either
//! reads it or refuses it with 1001; identifier quoting always round-trips; the filename
//! encoding round-trips and decodes only what it writes. No server needed.

use mysql_tablespace_recycling::inspect::catalog::{
    decode_filename, encode_filename, split_innodb_name,
};
use mysql_tablespace_recycling::mysql::{quote_ident, quote_table};
use mysql_tablespace_recycling::plan::{plan_from_value, read_plan, rebuild_statement};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

/// The documented example plans: valid documents to mutate.
const EXAMPLES: [&str; 2] = [
    include_str!("../plans/example-binlog-off.yaml"),
    include_str!("../plans/example-binlog-on.yaml"),
];

fn example(i: usize) -> Value {
    serde_yaml::from_str(EXAMPLES[i % EXAMPLES.len()]).expect("example plan is YAML")
}

/// Strings likely to matter to a plan or an identifier, and arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9`'\";\\\\. @#/:*?%_\\-]{0,16}",
        prop::sample::select(vec![
            "",
            "binlog-on",
            "binlog-off",
            "node",
            "cluster",
            "master",
            "slave",
            "primary",
            "127.0.0.1:23306",
            "localhost:23307",
            "[::1]:3306",
            "mysql",
            "sys",
            "1h",
            "0s",
            "10s",
            "-1s",
            "sha256:",
            "md5:x",
            "record_size",
            "data_free",
            "x`; DROP TABLE y; --",
            "ALTER TABLE `shop`.`orders` ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=SHARED",
            "ALTER TABLE `shop`.`orders` ENGINE=InnoDB, ALGORITHM=COPY, LOCK=NONE",
            "\u{0}",
            "café",
            "caf@0p",
        ])
        .prop_map(String::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            0u64,
            1,
            2,
            3,
            4,
            65535,
            65536,
            u64::from(u32::MAX) + 1
        ])
        .prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        text().prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One edit of a document at a place picked among all of its values.
#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
    /// A key added to an object (an element to an array).
    Add(Index, String, Value),
    /// The value at one place copied over another (a node into `nodes`, an action's
    /// statement into another action…).
    Copy {
        from: Index,
        to: Index,
    },
    /// A string edited in place (characters inserted, or cut).
    Splice(Index, Index, String, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), json()).prop_map(|(i, v)| Edit::Replace(i, v)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), text(), json()).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
        (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Edit::Copy { from, to }),
        (any::<Index>(), any::<Index>(), text(), any::<bool>())
            .prop_map(|(i, at, s, cut)| Edit::Splice(i, at, s, cut)),
    ]
}

/// JSON pointers of every value of `v` (the root included).
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, format!("{here}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn apply_edit(doc: &mut Value, e: &Edit) {
    let mut ps = Vec::new();
    pointers(doc, String::new(), &mut ps);
    let at = |i: &Index| ps[i.index(ps.len())].clone();
    match e {
        Edit::Replace(i, v) => {
            if let Some(x) = doc.pointer_mut(&at(i)) {
                *x = v.clone();
            }
        }
        Edit::Remove(i) => {
            let p = at(i);
            let Some((parent, last)) = p.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match doc.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(n) = last.parse::<usize>()
                        && n < a.len()
                    {
                        a.remove(n);
                    }
                }
                _ => {}
            }
        }
        Edit::Add(i, k, v) => match doc.pointer_mut(&at(i)) {
            Some(Value::Object(m)) => {
                m.insert(k.clone(), v.clone());
            }
            Some(Value::Array(a)) => a.push(v.clone()),
            _ => {}
        },
        Edit::Copy { from, to } => {
            let (from, to) = (at(from), at(to));
            if to.starts_with(&from) {
                return;
            }
            if let Some(v) = doc.pointer(&from).cloned()
                && let Some(x) = doc.pointer_mut(&to)
            {
                *x = v;
            }
        }
        Edit::Splice(i, pos, s, cut) => {
            if let Some(Value::String(x)) = doc.pointer_mut(&at(i)) {
                let bounds: Vec<usize> =
                    x.char_indices().map(|(b, _)| b).chain([x.len()]).collect();
                let b = bounds[pos.index(bounds.len())];
                if *cut {
                    x.truncate(b);
                } else {
                    x.insert_str(b, s);
                }
            }
        }
    }
}

/// Reads `doc` as a REST body and as YAML and JSON files: each reads or is refused with 1001.
fn read_every_way(doc: &Value) -> Result<(), TestCaseError> {
    let check = |what: &str, r: mysql_tablespace_recycling::error::Result<_>| match r {
        Ok(_) => Ok(()),
        Err(e) if e.code().as_u16() == 1001 => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("{what}: {} {e}", e.code()))),
    };
    check("document", plan_from_value(doc, "plan"))?;
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("p.yaml");
    std::fs::write(&yaml, serde_yaml::to_string(doc).unwrap()).unwrap();
    check("yaml file", read_plan(&yaml))?;
    let json = dir.path().join("p.json");
    std::fs::write(&json, serde_json::to_vec(doc).unwrap()).unwrap();
    check("json file", read_plan(&json))
}

#[test]
fn the_example_plans_read() {
    for i in 0..EXAMPLES.len() {
        plan_from_value(&example(i), "plan").expect("example plan reads");
    }
}

/// 96 cases a property (`PROPTEST_CASES` overrides), failures kept in
/// `tests/proptest-regressions/properties.txt` (committed: each is replayed first).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Edited plan documents never panic the reader: read, or refused with 1001.
    #[test]
    fn an_edited_plan_reads_or_is_refused_with_1001(
        which in 0..EXAMPLES.len(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let mut doc = example(which);
        for e in &edits {
            apply_edit(&mut doc, e);
        }
        read_every_way(&doc)?;
    }

    /// Plan files with their text cut or spliced (also into invalid UTF-8) never panic the
    /// reader either.
    #[test]
    fn a_damaged_plan_file_reads_or_is_refused_with_1001(
        which in 0..EXAMPLES.len(),
        json in any::<bool>(),
        at in any::<Index>(),
        cut in any::<bool>(),
        insert in prop_oneof![
            text().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..8),
        ],
    ) {
        let doc = example(which);
        let mut bytes = if json {
            serde_json::to_vec_pretty(&doc).unwrap()
        } else {
            EXAMPLES[which].as_bytes().to_vec()
        };
        let at = at.index(bytes.len() + 1);
        if cut {
            bytes.truncate(at);
        } else {
            bytes.splice(at..at, insert);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if json { "p.json" } else { "p.yaml" });
        std::fs::write(&path, bytes).unwrap();
        if let Err(e) = read_plan(&path) {
            prop_assert_eq!(e.code().as_u16(), 1001, "{}", e);
        }
    }

    /// `quote_ident`: a backtick at each end, every backtick inside doubled, and undoubling
    /// gives the name back; `quote_table` is two of them joined by a dot, read back the same.
    #[test]
    fn quoting_round_trips(schema in text(), table in text()) {
        for name in [&schema, &table] {
            let q = quote_ident(name);
            prop_assert!(q.len() >= 2 && q.starts_with('`') && q.ends_with('`'), "{}", q);
            let (ident, rest) = read_ident(&q).expect("one quoted identifier");
            prop_assert_eq!(&ident, name);
            prop_assert_eq!(rest, "");
        }
        let qt = quote_table(&schema, &table);
        let (s, rest) = read_ident(&qt).expect("schema");
        let rest = rest.strip_prefix('.').expect("a dot");
        let (t, rest) = read_ident(rest).expect("table");
        prop_assert_eq!((s.as_str(), t.as_str(), rest), (schema.as_str(), table.as_str(), ""));
        // The rebuild statement quotes the same way: nothing of the names leaks out.
        let stmt = rebuild_statement(&schema, &table, true);
        let after = stmt.strip_prefix("ALTER TABLE ").expect("ALTER TABLE");
        let (s2, rest) = read_ident(after).expect("schema");
        let (t2, rest) = read_ident(rest.strip_prefix('.').expect("dot")).expect("table");
        prop_assert_eq!((s2, t2), (schema.clone(), table.clone()));
        prop_assert_eq!(rest, " ENGINE=InnoDB, ALGORITHM=INPLACE, LOCK=NONE");
    }

    /// Any name round-trips through the filename encoding (but names no identifier can be:
    /// NUL, beyond the BMP), and is written with `0-9A-Za-z_@` only.
    #[test]
    fn filenames_round_trip(name in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_@ #/.\\-éÀßΩωдЖ\u{1e9e}\u{2160}\u{24b6}\u{ff21}\u{1ff4}]{0,12}",
    ]) {
        let impossible = name.chars().any(|c| c == '\0' || u32::from(c) > 0xFFFF);
        match encode_filename(&name) {
            None => prop_assert!(impossible, "{:?} is a possible name", name),
            Some(file) => {
                prop_assert!(!impossible);
                prop_assert!(
                    file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'@'),
                    "{}", file
                );
                prop_assert_eq!(decode_filename(&file), Some(name.clone()), "{}", file);
                let innodb = format!("{file}/{file}#P#p0");
                prop_assert_eq!(split_innodb_name(&innodb), Some((name.clone(), name.clone(), true)));
            }
        }
    }

    /// Decoding is exact: whatever decodes is what encoding that name writes, so no two file
    /// names decode to one table name.
    #[test]
    fn only_what_is_written_decodes(file in prop_oneof![
        any::<String>(),
        "[@0-9a-fA-Z_gyz]{0,12}",
        "(@[0-9a-z@A-Z]{2}|@[0-9a-f]{4}|[a-z_]){0,5}",
    ]) {
        if let Some(name) = decode_filename(&file) {
            prop_assert_eq!(encode_filename(&name), Some(file));
        }
    }
}

/// One backtick-quoted identifier at the start of `s` (doubled backticks undoubled), and the
/// rest of `s`.
fn read_ident(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('`')?.char_indices();
    let body = &s[1..];
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if body[i + 1..].starts_with('`') {
                chars.next();
                out.push('`');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}
