//! The sampler: a bounded read of a candidate table's rows in primary-key order that measures
//! its variable-length columns (in-record bytes, off-page bytes, NULLs) → [`Sample`]. One
//! aggregate statement per table, over up to four ranges spread across the key's span when the
//! key starts with an integer column (read first with `MIN`/`MAX`), else over its first rows.

use super::estimate::{self, Sample, TableShape};
use crate::error::Result;
use crate::mysql::{self, Endpoint, quote_ident, quote_table};
use sqlx::mysql::MySqlConnection;
use sqlx::{Executor, Row as _};

/// Rows sampled per candidate table by default.
pub const DEFAULT_SAMPLE_ROWS: u64 = 2000;

/// Reads up to `rows` rows in primary-key order — from four evenly spread starting points when
/// the key starts with an integer column — and measures the variable-length columns.
pub(super) async fn sample(
    c: &mut MySqlConnection,
    node: &Endpoint,
    schema: &str,
    table: &str,
    shape: &TableShape<'_>,
    rows: u64,
) -> Result<Sample> {
    let tbl = quote_table(schema, table);
    let vars = shape.variable_columns();
    let key: Vec<String> = shape
        .clustered()
        .map(|i| i.columns.iter().map(|(c, _)| quote_ident(c)).collect())
        .unwrap_or_default();
    let first_int = shape
        .clustered()
        .and_then(|i| i.columns.first())
        .and_then(|(name, _)| {
            shape
                .columns
                .iter()
                .find(|c| &c.name == name)
                .filter(|c| c.is_integer())
        });
    let order = if key.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", key.join(", "))
    };
    let cols: Vec<String> = vars.iter().map(|c| quote_ident(&c.name)).collect();
    let select_cols = cols.join(", ");
    let mut starts: Vec<i64> = Vec::new();
    if let Some(col) = first_int {
        let q = quote_ident(&col.name);
        let sql = format!(
            "SELECT CAST(MIN({q}) AS SIGNED) AS lo, CAST(MAX({q}) AS SIGNED) AS hi FROM {tbl}"
        );
        let r = c
            .fetch_one(sqlx::query(&sql))
            .await
            .map_err(|e| mysql::query_error(node, e))?;
        let lo: Option<i64> = r.try_get("lo").map_err(|e| mysql::query_error(node, e))?;
        let hi: Option<i64> = r.try_get("hi").map_err(|e| mysql::query_error(node, e))?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let span = (hi as i128 - lo as i128).max(0);
            starts = (0..4).map(|k| (lo as i128 + span * k / 4) as i64).collect();
            starts.dedup();
        }
    }
    let per = if starts.is_empty() {
        rows
    } else {
        rows.div_ceil(starts.len() as u64)
    };
    let inner = if starts.is_empty() {
        format!("SELECT {select_cols} FROM {tbl}{order} LIMIT ?")
    } else {
        let q = quote_ident(&first_int.expect("starts imply a key").name);
        starts
            .iter()
            .map(|_| format!("(SELECT {select_cols} FROM {tbl} WHERE {q} >= ?{order} LIMIT ?)"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let t = estimate::OFF_PAGE_THRESHOLD;
    let aggregates: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!(
                "CAST(SUM(CASE WHEN LENGTH({q}) > {t} THEN 20 ELSE COALESCE(LENGTH({q}), 0) END) AS CHAR) AS r{i}, \
                 CAST(SUM(CASE WHEN LENGTH({q}) > {t} THEN LENGTH({q}) + 8192 ELSE 0 END) AS CHAR) AS o{i}, \
                 CAST(SUM({q} IS NULL) AS CHAR) AS z{i}"
            )
        })
        .collect();
    let sql = format!(
        "SELECT CAST(COUNT(*) AS CHAR) AS n, {} FROM ({inner}) AS sample_rows",
        aggregates.join(", ")
    );
    let mut q = sqlx::query(&sql);
    if starts.is_empty() {
        q = q.bind(per);
    }
    for s in &starts {
        q = q.bind(*s).bind(per);
    }
    let r = c
        .fetch_one(q)
        .await
        .map_err(|e| mysql::query_error(node, e))?;
    let num = |name: &str| -> f64 {
        r.try_get::<Option<String>, _>(name)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let n = num("n");
    let mut out = Sample {
        rows: n as u64,
        ..Default::default()
    };
    if n > 0.0 {
        for (i, col) in vars.iter().enumerate() {
            out.in_record
                .insert(col.name.clone(), num(&format!("r{i}")) / n);
            out.off_page
                .insert(col.name.clone(), num(&format!("o{i}")) / n);
            out.null_fraction
                .insert(col.name.clone(), num(&format!("z{i}")) / n);
        }
    }
    Ok(out)
}
