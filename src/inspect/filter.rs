//! Which tables a scan looks at: [`TableFilter`], include and exclude lists of database and
//! table globs ([`glob_match`]: `*` any run, `?` one character). System schemas are never
//! selected.

use super::catalog::SYSTEM_SCHEMAS;

/// Which tables a scan looks at. Patterns are globs (`*`, `?`); empty include lists mean all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableFilter {
    pub databases: Vec<String>,
    pub tables: Vec<String>,
    pub exclude_databases: Vec<String>,
    pub exclude_tables: Vec<String>,
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl TableFilter {
    /// Whether `schema.table` is selected. System schemas never are.
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        let any = |pats: &[String], s: &str| pats.iter().any(|p| glob_match(p, s));
        !SYSTEM_SCHEMAS.contains(&schema)
            && (self.databases.is_empty() || any(&self.databases, schema))
            && (self.tables.is_empty() || any(&self.tables, table))
            && !any(&self.exclude_databases, schema)
            && !any(&self.exclude_tables, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("shop*", "shop_eu"));
        assert!(glob_match("*", ""));
        assert!(glob_match("ord?rs", "orders"));
        assert!(!glob_match("ord?rs", "ordrs"));
        assert!(glob_match("a*b*c", "a-x-b-y-c"));
        assert!(!glob_match("a*b*c", "a-x-b-y"));
    }

    #[test]
    fn filters_include_exclude_and_never_system_schemas() {
        let f = TableFilter {
            databases: vec!["shop*".into()],
            tables: vec![],
            exclude_databases: vec!["shop_tmp".into()],
            exclude_tables: vec!["*_log".into()],
        };
        assert!(f.matches("shop", "orders"));
        assert!(!f.matches("shop", "access_log"));
        assert!(!f.matches("shop_tmp", "orders"));
        assert!(!f.matches("crm", "orders"));
        assert!(!TableFilter::default().matches("mysql", "user"));
    }
}
