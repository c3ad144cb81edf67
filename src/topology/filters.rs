//! Whether a replica's replication filters let a binlog-on rebuild of one table through.
//!
//! A rebuild (`ALTER TABLE … ENGINE=InnoDB`) is DDL, and DDL is always written to the binary log
//! as a statement, so a replica filters it by the rules the MySQL and MariaDB manuals give for
//! statement-based replication ("How Servers Evaluate Replication Filtering Rules"):
//! 1. database options (`replicate_do_db`, then `replicate_ignore_db`) are checked against the
//!    statement's **default database**, never the schema the statement names — apply's DDL
//!    session runs `USE` of the table's schema first, so the two are the same (without it, a
//!    replica with `replicate_do_db` would ignore every rebuild);
//! 2. then table options against the table named, in this order: `replicate_do_table` (a match
//!    applies it), `replicate_ignore_table` (a match ignores it), `replicate_wild_do_table`,
//!    `replicate_wild_ignore_table` (`%` and `_` wildcards, `\_` and `\%` literal); with no match,
//!    a replica with any do-table option ignores it, one without applies it.
//!
//! The answer fails safe in both directions ([`Delivery`]): where the outcome depends on what
//! this cannot see — a `replicate_rewrite_db` (the replica's schema names differ), or a name that
//! matches a rule only when compared without case (it depends on `lower_case_table_names`) — it is
//! [`Delivery::Uncertain`], which the planner counts as reached for every protection rule and as
//! not rebuilt for reclaim.

use crate::mysql::replication::ReplicationFilters;

/// What a replica does with the binlogged rebuild of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// It certainly executes it.
    Applied,
    /// It certainly ignores it; the rule that drops it (`replicate_wild_ignore_table=big%.%`).
    Ignored(String),
    /// It may or may not execute it, and why.
    Uncertain(String),
}

/// Whether a name or pattern matches: [`Match::Maybe`] when it does only compared without case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Maybe,
}

impl Match {
    /// Exact comparison first, then the case-folded one.
    fn of(exact: bool, folded: bool) -> Self {
        match (exact, folded) {
            (true, _) => Self::Yes,
            (false, true) => Self::Maybe,
            (false, false) => Self::No,
        }
    }
}

/// The best match of `name` against any of `rules` under `matches`, with the rule matched.
fn any<'a>(
    rules: &'a [String],
    matches: impl Fn(&str, &str) -> bool,
    name: &str,
) -> (Match, Option<&'a str>) {
    let mut best = (Match::No, None);
    for r in rules {
        let m = Match::of(
            matches(r, name),
            matches(&r.to_lowercase(), &name.to_lowercase()),
        );
        if m == Match::Yes {
            return (m, Some(r));
        }
        if m == Match::Maybe {
            best = (m, Some(r.as_str()));
        }
    }
    best
}

/// `pattern` (with `%`, `_` and backslash escapes, as `LIKE` reads them) matches all of `text`.
pub fn wild_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Backtracking over the last `%` is enough: every `%` can stretch, so only the latest one
    // needs to be retried.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('_') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some('\\') if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                pi += 2;
                ti += 1;
                continue;
            }
            Some(c) if *c != '\\' && *c == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some('\\') if pi + 1 == p.len() && t[ti] == '\\' => {
                // A trailing backslash is itself.
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// What a replica with filters `f` does with a statement-logged DDL on `schema`.`table` run with
/// default database `default_db` (see the module docs for the rules).
pub fn ddl_delivery(
    f: &ReplicationFilters,
    default_db: &str,
    schema: &str,
    table: &str,
) -> Delivery {
    let rule = |name: &str, r: &str| format!("{name}={r}");
    if !f.rewrite_db.is_empty() {
        return Delivery::Uncertain(format!(
            "{}: the replica's schema names differ, so its other filters cannot be evaluated \
             here",
            rule("replicate_rewrite_db", &f.rewrite_db.join(","))
        ));
    }
    let uncertain = |name: &str, r: &str| {
        Delivery::Uncertain(format!(
            "{} matches only without regard to case (it depends on the replica's \
             lower_case_table_names)",
            rule(name, r)
        ))
    };
    // 1. Database options, against the default database.
    if !f.do_db.is_empty() {
        match any(&f.do_db, |a, b| a == b, default_db) {
            (Match::Yes, _) => {}
            (Match::Maybe, Some(r)) => return uncertain("replicate_do_db", r),
            _ => {
                return Delivery::Ignored(format!(
                    "{} (the statement's default database `{default_db}` is not in it)",
                    rule("replicate_do_db", &f.do_db.join(","))
                ));
            }
        }
    } else if !f.ignore_db.is_empty() {
        match any(&f.ignore_db, |a, b| a == b, default_db) {
            (Match::Yes, Some(r)) => return Delivery::Ignored(rule("replicate_ignore_db", r)),
            (Match::Maybe, Some(r)) => return uncertain("replicate_ignore_db", r),
            _ => {}
        }
    }
    // 2. Table options, against the table named, in the manual's order.
    let qualified = format!("{schema}.{table}");
    // (option, rules, a match applies the statement, the rules are patterns)
    let steps = [
        ("replicate_do_table", &f.do_table, true, false),
        ("replicate_ignore_table", &f.ignore_table, false, false),
        ("replicate_wild_do_table", &f.wild_do_table, true, true),
        (
            "replicate_wild_ignore_table",
            &f.wild_ignore_table,
            false,
            true,
        ),
    ];
    for (name, rules, applies, wild) in steps {
        let matches: fn(&str, &str) -> bool = if wild { wild_match } else { |a, b| a == b };
        match any(rules, matches, &qualified) {
            (Match::Yes, Some(_)) if applies => return Delivery::Applied,
            (Match::Yes, Some(r)) => return Delivery::Ignored(rule(name, r)),
            (Match::Maybe, Some(r)) => return uncertain(name, r),
            _ => {}
        }
    }
    let mut dos: Vec<String> = Vec::new();
    for (name, rules) in [
        ("replicate_do_table", &f.do_table),
        ("replicate_wild_do_table", &f.wild_do_table),
    ] {
        if !rules.is_empty() {
            dos.push(rule(name, &rules.join(",")));
        }
    }
    if dos.is_empty() {
        Delivery::Applied
    } else {
        Delivery::Ignored(format!(
            "{} (`{qualified}` matches none)",
            dos.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(set: &[(&str, &[&str])]) -> ReplicationFilters {
        let mut f = ReplicationFilters::default();
        for (name, rules) in set {
            let v: Vec<String> = rules.iter().map(|s| s.to_string()).collect();
            match *name {
                "do_db" => f.do_db = v,
                "ignore_db" => f.ignore_db = v,
                "do_table" => f.do_table = v,
                "ignore_table" => f.ignore_table = v,
                "wild_do" => f.wild_do_table = v,
                "wild_ignore" => f.wild_ignore_table = v,
                "rewrite" => f.rewrite_db = v,
                other => panic!("no option {other}"),
            }
        }
        f
    }

    fn on(f: &ReplicationFilters, db: &str, schema: &str, table: &str) -> Delivery {
        ddl_delivery(f, db, schema, table)
    }

    #[test]
    fn wildcards_as_like_reads_them() {
        assert!(wild_match("big%.%", "big.t"));
        assert!(wild_match("big%.%", "bigdata.orders"));
        assert!(!wild_match("big%.%", "shop.big"));
        assert!(wild_match("foo%.bar%", "foo1.bar_x"));
        assert!(!wild_match("foo%.bar%", "foo1.baz"));
        assert!(wild_match("db.t_", "db.t1"));
        assert!(!wild_match("db.t_", "db.t12"));
        // `\_` is a literal underscore, `_` any one character.
        assert!(wild_match(r"db.my\_t", "db.my_t"));
        assert!(!wild_match(r"db.my\_t", "db.myxt"));
        assert!(wild_match("db.my_t", "db.myxt"));
        assert!(wild_match("%", ""));
        assert!(wild_match("a%b%c", "aXbYbZc"));
        assert!(!wild_match("a%b%c", "aXbYbZ"));
        assert!(wild_match("%.%", "a.b"));
        assert!(!wild_match("db.t", "db.tt"));
    }

    #[test]
    fn no_filters_apply_everything() {
        let f = ReplicationFilters::default();
        assert_eq!(on(&f, "shop", "shop", "orders"), Delivery::Applied);
    }

    /// The manual: database options are checked against the default database, so a rebuild run
    /// without `USE` of its schema is ignored by a replica with `replicate_do_db`, even when it
    /// names a table of that schema; ignore-db is checked only when there is no do-db.
    #[test]
    fn database_options_check_the_default_database() {
        let f = filters(&[("do_db", &["shop"])]);
        assert_eq!(on(&f, "shop", "shop", "orders"), Delivery::Applied);
        assert!(
            matches!(on(&f, "other", "shop", "orders"), Delivery::Ignored(r)
            if r.starts_with("replicate_do_db=shop") && r.contains("`other`"))
        );
        let f = filters(&[("ignore_db", &["big"])]);
        assert_eq!(
            on(&f, "big", "big", "t"),
            Delivery::Ignored("replicate_ignore_db=big".into())
        );
        // Cross-database: `USE shop; ALTER TABLE big.t` is not ignored by ignore-db=big.
        assert_eq!(on(&f, "shop", "big", "t"), Delivery::Applied);
        // With a do-db, ignore-db is not consulted.
        let f = filters(&[("do_db", &["big"]), ("ignore_db", &["big"])]);
        assert_eq!(on(&f, "big", "big", "t"), Delivery::Applied);
    }

    /// A statement the database options let through is then checked against the table
    /// options, in the manual's order.
    #[test]
    fn table_options_in_the_manuals_order() {
        // do-table match: applied, whatever ignore rules say.
        let f = filters(&[("do_table", &["shop.orders"]), ("wild_ignore", &["shop.%"])]);
        assert_eq!(on(&f, "shop", "shop", "orders"), Delivery::Applied);
        // Not in do-table, but ignore rules come first: ignored by the wild ignore.
        assert_eq!(
            on(&f, "shop", "shop", "events"),
            Delivery::Ignored("replicate_wild_ignore_table=shop.%".into())
        );
        // Only do rules, no match: ignored.
        let f = filters(&[("do_table", &["shop.orders"])]);
        assert!(
            matches!(on(&f, "shop", "shop", "events"), Delivery::Ignored(r)
            if r.contains("replicate_do_table=shop.orders") && r.contains("matches none"))
        );
        // ignore-table before wild-do.
        let f = filters(&[("ignore_table", &["shop.t"]), ("wild_do", &["shop.%"])]);
        assert_eq!(
            on(&f, "shop", "shop", "t"),
            Delivery::Ignored("replicate_ignore_table=shop.t".into())
        );
        assert_eq!(on(&f, "shop", "shop", "u"), Delivery::Applied);
        // wild-do before wild-ignore.
        let f = filters(&[("wild_do", &["big.keep%"]), ("wild_ignore", &["big%.%"])]);
        assert_eq!(on(&f, "big", "big", "keep1"), Delivery::Applied);
        assert!(matches!(on(&f, "big", "big", "t"), Delivery::Ignored(_)));
        // Only ignore rules, no match: applied.
        let f = filters(&[("wild_ignore", &["big%.%"])]);
        assert_eq!(on(&f, "shop", "shop", "orders"), Delivery::Applied);
        assert_eq!(
            on(&f, "bigdata", "bigdata", "t"),
            Delivery::Ignored("replicate_wild_ignore_table=big%.%".into())
        );
        // Database options first: a do-db that lets it through, then the table rule drops it.
        let f = filters(&[("do_db", &["big"]), ("ignore_table", &["big.t"])]);
        assert!(matches!(on(&f, "big", "big", "t"), Delivery::Ignored(_)));
    }

    #[test]
    fn what_cannot_be_known_is_uncertain() {
        let f = filters(&[("rewrite", &["(big,small)"])]);
        assert!(matches!(on(&f, "big", "big", "t"), Delivery::Uncertain(r)
            if r.contains("replicate_rewrite_db=(big,small)")));
        // A match only without case depends on lower_case_table_names.
        let f = filters(&[("wild_ignore", &["Big%.%"])]);
        assert!(matches!(on(&f, "big", "big", "t"), Delivery::Uncertain(r)
            if r.contains("lower_case_table_names")));
        let f = filters(&[("do_db", &["Shop"])]);
        assert!(matches!(
            on(&f, "shop", "shop", "t"),
            Delivery::Uncertain(_)
        ));
        // An exact match elsewhere in the list decides.
        let f = filters(&[("ignore_table", &["Shop.T", "shop.t"])]);
        assert!(matches!(on(&f, "shop", "shop", "t"), Delivery::Ignored(_)));
    }
}
