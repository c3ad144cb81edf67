//! The sampler: a bounded read of a candidate table's rows in primary-key order that measures
//! its variable-length and nullable columns → [`Sample`]. One statement per table returns the
//! byte length of each such column of each row (never the values), over up to four ranges
//! spread across the key's span when the key starts with an integer column (read first with
//! `MIN`/`MAX`), else over its first rows; [`Sample::measure`] lays each row out as InnoDB
//! would (which columns a long row moves off-page depends on the whole row).

use super::estimate::{Sample, TableShape};
use crate::error::Result;
use crate::mysql::{self, Endpoint, quote_ident, quote_table};
use sqlx::mysql::MySqlConnection;
use sqlx::{Executor, Row as _};

/// Rows sampled per candidate table by default.
pub const DEFAULT_SAMPLE_ROWS: u64 = 2000;

/// Reads up to `rows` rows in primary-key order — from four evenly spread starting points when
/// the key starts with an integer column — and measures the sampled columns.
pub(super) async fn sample(
    c: &mut MySqlConnection,
    node: &Endpoint,
    schema: &str,
    table: &str,
    shape: &TableShape<'_>,
    rows: u64,
) -> Result<Sample> {
    let tbl = quote_table(schema, table);
    let vars = shape.sampled_columns();
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
    let lengths: Vec<String> = vars
        .iter()
        .enumerate()
        .map(|(i, c)| format!("LENGTH({}) AS l{i}", quote_ident(&c.name)))
        .collect();
    let select_cols = lengths.join(", ");
    let mut starts: Vec<i64> = Vec::new();
    let mut bounds = None;
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
            bounds = Some((lo, hi));
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
    let sql = if starts.is_empty() {
        format!("SELECT {select_cols} FROM {tbl}{order} LIMIT ?")
    } else {
        let q = quote_ident(&first_int.expect("starts imply a key").name);
        // Each range also returns its key and its number, for the key density.
        starts
            .iter()
            .enumerate()
            .map(|(i, _)| {
                format!(
                    "(SELECT {select_cols}, CAST({q} AS SIGNED) AS k, {i} AS r FROM {tbl} \
                     WHERE {q} >= ?{order} LIMIT ?)"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let mut q = sqlx::query(&sql);
    if starts.is_empty() {
        q = q.bind(per);
    }
    for s in &starts {
        q = q.bind(*s).bind(per);
    }
    let fetched = c
        .fetch_all(q)
        .await
        .map_err(|e| mysql::query_error(node, e))?;
    let mut lengths: Vec<Vec<Option<u64>>> = Vec::with_capacity(fetched.len());
    // Per range: rows read and the highest key read.
    let mut ranges: Vec<(u64, i64)> = vec![(0, i64::MIN); starts.len()];
    for r in &fetched {
        let mut row = Vec::with_capacity(vars.len());
        for i in 0..vars.len() {
            let v: Option<i64> = r.try_get(i).map_err(|e| mysql::query_error(node, e))?;
            row.push(v.map(|v| v.max(0) as u64));
        }
        lengths.push(row);
        if !starts.is_empty() {
            let k: i64 = r.try_get("k").map_err(|e| mysql::query_error(node, e))?;
            let part: i64 = r.try_get("r").map_err(|e| mysql::query_error(node, e))?;
            if let Some(range) = ranges.get_mut(part as usize) {
                range.0 += 1;
                range.1 = range.1.max(k);
            }
        }
    }
    let mut out = Sample::measure(shape, &lengths);
    if let Some((lo, hi)) = bounds {
        out.rows_by_key = rows_by_key(&starts, &ranges, per, lo, hi);
    }
    Ok(out)
}

/// The table's rows as the sampled key ranges' density says: each range read `per` rows from
/// its start (a range that read fewer reached the end of the key, `hi`), so it saw
/// rows ÷ keys spanned; their mean density over the key's whole span `lo..=hi`.
fn rows_by_key(starts: &[i64], ranges: &[(u64, i64)], per: u64, lo: i64, hi: i64) -> Option<f64> {
    if starts.is_empty() {
        return None;
    }
    let densities: Vec<f64> = starts
        .iter()
        .zip(ranges)
        .map(|(&start, &(n, last))| {
            let end = if n >= per { last } else { hi };
            n as f64 / ((end as f64 - start as f64).max(0.0) + 1.0)
        })
        .collect();
    let mean = densities.iter().sum::<f64>() / densities.len() as f64;
    Some(mean * ((hi as f64 - lo as f64) + 1.0))
}

#[cfg(test)]
mod tests {
    use super::rows_by_key;

    #[test]
    fn rows_are_counted_by_the_density_of_the_sampled_key_ranges() {
        // Keys 3, 6, …, 20,000 (one in three kept): four ranges of 100 rows span 300 keys each.
        let starts = [1, 5000, 10000, 15000];
        let ranges = [(100, 300), (100, 5299), (100, 10299), (100, 15299)];
        let rows = rows_by_key(&starts, &ranges, 100, 1, 20000).unwrap();
        assert!((rows - 6667.0).abs() < 100.0, "{rows}");
        // A range that read fewer rows than asked reached the end of the key.
        let rows = rows_by_key(&[1, 51], &[(100, 100), (50, 100)], 100, 1, 100).unwrap();
        assert!((rows - 100.0).abs() < 2.0, "{rows}");
        assert_eq!(rows_by_key(&[], &[], 100, 1, 100), None);
    }
}
