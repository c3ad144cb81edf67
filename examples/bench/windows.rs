//! B6 (a maintenance window) and B7 (the duration estimate): the scenarios of long rebuilds.

use crate::Args;
use crate::report::ScenarioResult;
use crate::scenarios::{freed_total, sizes};
use crate::util::{Bench, BenchResult, PASSWORD, USER, median, mib};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Twelve tables of different sizes and fragmentation (MiB before fragmentation, pattern,
/// secondary indexes); smoke: an eighth of the size.
fn b6_tables(smoke: bool) -> Vec<TableSpec> {
    let shapes: [(u64, Pattern, u32); 12] = [
        (96, Pattern::RangeDelete { percent: 20 }, 1),
        (80, Pattern::RandomDelete { keep_every: 2 }, 2),
        (72, Pattern::RangeDelete { percent: 70 }, 1),
        (
            64,
            Pattern::ShrinkUpdate {
                percent: 30,
                to_bytes: 40,
            },
            0,
        ),
        (56, Pattern::RandomDelete { keep_every: 5 }, 1),
        (48, Pattern::RangeDelete { percent: 40 }, 3),
        (40, Pattern::RandomDelete { keep_every: 3 }, 0),
        (32, Pattern::RangeDelete { percent: 85 }, 1),
        (24, Pattern::RandomDelete { keep_every: 2 }, 2),
        (16, Pattern::RangeDelete { percent: 60 }, 0),
        (
            12,
            Pattern::ShrinkUpdate {
                percent: 80,
                to_bytes: 20,
            },
            1,
        ),
        (8, Pattern::RandomDelete { keep_every: 4 }, 1),
    ];
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, (size, pattern, idx))| {
            let size = if smoke { (size / 8).max(1) } else { size };
            TableSpec {
                secondary_indexes: idx,
                ..TableSpec::sized("b6", &format!("t{:02}", i + 1), size, pattern)
            }
        })
        .collect()
}

/// `apply PLAN --yes --output-format json` (a partial apply, exit 5, is an answer too).
fn apply(b: &Bench, plan: &std::path::Path, extra: &[&str]) -> BenchResult<(Duration, Value)> {
    let mut args: Vec<String> = [
        "apply",
        &plan.display().to_string(),
        "--yes",
        "--output-format",
        "json",
        "--user",
        USER,
        "--password",
        PASSWORD,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let started = Instant::now();
    let out = b.tool_command(&args).output().map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if !matches!(out.status.code(), Some(0 | 5)) {
        return Err(format!("apply: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let rep = serde_json::from_slice(&out.stdout).map_err(|e| format!("apply's report: {e}"))?;
    Ok((took, rep))
}

/// `plan --scope S --database DB --threshold-mb 1 …extra --out PATH` from `seed`.
fn plan(
    b: &Bench,
    seed: &Endpoint,
    db: &str,
    path: &std::path::Path,
    extra: &[&str],
) -> BenchResult<Value> {
    let mut a = vec!["plan".to_string()];
    a.extend(b.target(seed));
    a.extend(
        [
            "--database",
            db,
            "--threshold-mb",
            "1",
            "--threshold-percent",
            "1",
        ]
        .map(String::from),
    );
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push("--out".into());
    a.push(path.display().to_string());
    b.tool(&a)?;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_yaml::from_str(&text).map_err(|e| e.to_string())
}

/// (node, table) → (measured seconds, bytes freed) of the rebuilds done in a report.
fn done(rep: &Value) -> BTreeMap<(String, String), (f64, u64)> {
    let mut m = BTreeMap::new();
    for o in rep["outcomes"].as_array().into_iter().flatten() {
        if o["status"] != "done" {
            continue;
        }
        let (Some(s), Some(f)) = (o["started_at"].as_str(), o["finished_at"].as_str()) else {
            continue;
        };
        let t = |x: &str| chrono::DateTime::parse_from_rfc3339(x).ok();
        if let (Some(s), Some(f)) = (t(s), t(f)) {
            m.insert(
                (
                    o["node"].as_str().unwrap_or("").to_string(),
                    o["table"].as_str().unwrap_or("").to_string(),
                ),
                (
                    (f - s).num_milliseconds() as f64 / 1000.0,
                    o["bytes_freed"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    m
}

/// The most bytes a node can free within `window` seconds, by any subset of its rebuilds
/// (`items`: seconds, bytes): exhaustive over the subsets (12 tables: 4096).
fn best(items: &[(f64, u64)], window: f64) -> u64 {
    let n = items.len().min(20);
    (0u32..1 << n)
        .filter_map(|set| {
            let (t, bytes) = (0..n)
                .filter(|i| set & (1 << i) != 0)
                .fold((0.0, 0u64), |(t, by), i| (t + items[i].0, by + items[i].1));
            (t <= window).then_some(bytes)
        })
        .max()
        .unwrap_or(0)
}

/// Waits until InnoDB has purged the fragmenting deletes on every replica: a rebuild that runs
/// while purge still works on the tables is slower, and would calibrate (or be measured) wrong.
async fn purged(b: &Bench) -> BenchResult<()> {
    for ep in b.replicas() {
        let mut c = b.conn(&ep).await?;
        for _ in 0..600 {
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT FROM information_schema.INNODB_METRICS \
                 WHERE NAME = 'trx_rseg_history_len'",
            )
            .fetch_one(&mut c)
            .await
            .map_err(|e| e.to_string())?;
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Kills whatever `mysqlcheck` left running on the server (its client was stopped).
async fn kill_optimize(b: &Bench, ep: &Endpoint) -> BenchResult<()> {
    let mut c = b.conn(ep).await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'OPTIMIZE%' \
         OR INFO LIKE 'ALTER%' OR INFO LIKE 'ANALYZE%'",
    )
    .fetch_all(&mut c)
    .await
    .map_err(|e| e.to_string())?;
    for id in ids {
        let _ = sqlx::query("KILL QUERY ?").bind(id).execute(&mut c).await;
    }
    Ok(())
}

pub async fn b6(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = crate::scenarios::result(
        "b6",
        "a maintenance window: 12 tables on 3 replicas, a deadline that fits about half the work",
        "≥ 90% of the bytes the best order frees in the window; ≤ 5% of the window spent on rebuilds that were killed; mysqlcheck --optimize in name order cut at the same deadline reported",
        args,
    );
    let specs = b6_tables(args.smoke);
    let names: Vec<String> = specs.iter().map(|t| t.table.clone()).collect();
    let replicas = b.replicas();
    let path = b.work.join("b6.yaml");
    let (mut tool, mut best_v, mut check_v, mut killed_v, mut windows) =
        (vec![], vec![], vec![], vec![], vec![]);
    for run in 0..args.runs {
        println!("  run {}", run + 1);
        // 1. Every rebuild without a deadline: the durations the best order is computed from
        //    (and the nodes' calibration).
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        purged(b).await?;
        plan(
            b,
            &replicas[0],
            "b6",
            &path,
            &["--scope", "cluster", "--timeout", "2h"],
        )?;
        let (_, full) = apply(b, &path, &[])?;
        let measured = done(&full);
        let mut per_node: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
        for ((node, _), v) in &measured {
            per_node.entry(node.clone()).or_default().push(*v);
        }
        let longest = per_node
            .values()
            .map(|v| v.iter().map(|x| x.0).sum::<f64>())
            .fold(0.0, f64::max);
        let window = (longest / 2.0).max(2.0);
        windows.push(window);
        let best_bytes: u64 = per_node.values().map(|v| best(v, window)).sum();
        best_v.push(best_bytes as f64);
        // 2. The tool with that deadline.
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        purged(b).await?;
        let timeout = format!("{}s", window.floor() as u64);
        plan(
            b,
            &replicas[0],
            "b6",
            &path,
            &["--scope", "cluster", "--timeout", &timeout],
        )?;
        let before = sizes(b, "b6").await?;
        let (_, rep) = apply(b, &path, &[])?;
        tool.push(freed_total(b, &before, "b6").await? as f64);
        let killed: f64 = rep["outcomes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| {
                o["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("KILL QUERY"))
            })
            .filter_map(|o| {
                let s = chrono::DateTime::parse_from_rfc3339(o["started_at"].as_str()?).ok()?;
                let f = chrono::DateTime::parse_from_rfc3339(o["finished_at"].as_str()?).ok()?;
                Some((f - s).num_milliseconds() as f64 / 1000.0)
            })
            .sum();
        // (An empty sum is -0.0.)
        killed_v.push(killed / (window * replicas.len() as f64) + 0.0);
        // 3. mysqlcheck --optimize in name order on every replica at once, stopped at the
        //    deadline (its statement killed on the server too).
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        purged(b).await?;
        let before = sizes(b, "b6").await?;
        let mut kids = Vec::new();
        for ep in &replicas {
            kids.push(
                b.mysqlcheck(ep, "b6", &names)?
                    .spawn()
                    .map_err(|e| e.to_string())?,
            );
        }
        let started = Instant::now();
        let limit = Duration::from_secs(window.floor() as u64);
        loop {
            let all_done = kids.iter_mut().all(|k| matches!(k.try_wait(), Ok(Some(_))));
            if all_done || started.elapsed() >= limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for k in &mut kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        for ep in &replicas {
            kill_optimize(b, ep).await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        check_v.push(freed_total(b, &before, "b6").await? as f64);
    }
    let (t, be, c, k, w) = (
        median(&tool),
        median(&best_v),
        median(&check_v),
        median(&killed_v),
        median(&windows),
    );
    r.columns = ["method", "bytes freed in the window (MiB)", "vs best order"]
        .map(String::from)
        .to_vec();
    r.rows = vec![
        vec![
            "mysql-tablespace-recycling apply --timeout (order reclaim)".into(),
            format!("{:.1}", mib(t as u64)),
            format!("{:.1}%", t / be.max(1.0) * 100.0),
        ],
        vec![
            "best order (offline, from the measured durations of the same rebuilds)".into(),
            format!("{:.1}", mib(be as u64)),
            "100.0%".into(),
        ],
        vec![
            "mysqlcheck --optimize --skip-write-binlog, name order, stopped at the deadline".into(),
            format!("{:.1}", mib(c as u64)),
            format!("{:.1}%", c / be.max(1.0) * 100.0),
        ],
    ];
    r.notes.push(format!(
        "Window {w:.1} s (half of the longest node's rebuilds without a deadline); the tool's \
         time on rebuilds that were killed: {:.1}% of the window (all replicas).",
        k * 100.0
    ));
    r.verdict = crate::scenarios::verdict(
        t >= 0.9 * be && k <= 0.05,
        format!(
            "{:.1}% of the best order's bytes, {:.1}% of the window on killed rebuilds",
            t / be.max(1.0) * 100.0,
            k * 100.0
        ),
    );
    r.data = json!({"window_s": windows, "tool_freed": tool, "best_freed": best_v,
        "mysqlcheck_freed": check_v, "killed_share": killed_v});
    b.exec(&b.sandbox.primary(), &["DROP DATABASE IF EXISTS b6"])
        .await?;
    Ok(r)
}

/// Ten tables for B7 (and three to calibrate on): sizes, indexes and row widths differ.
fn b7_tables(smoke: bool) -> (Vec<TableSpec>, Vec<TableSpec>) {
    let scale = |m: u64| if smoke { (m / 8).max(1) } else { m };
    let t = |name: &str, m: u64, payload: u32, idx: u32, pattern: Pattern| {
        let base = TableSpec::sized("b7", name, scale(m), pattern);
        TableSpec {
            rows: scale(m) * 1024 * 1024 / (u64::from(payload) + 60),
            payload,
            secondary_indexes: idx,
            ..base
        }
    };
    let measured = vec![
        t("m01", 120, 300, 1, Pattern::RandomDelete { keep_every: 2 }),
        t("m02", 96, 900, 0, Pattern::RangeDelete { percent: 50 }),
        t("m03", 80, 60, 2, Pattern::RandomDelete { keep_every: 3 }),
        t("m04", 64, 300, 3, Pattern::RangeDelete { percent: 30 }),
        t(
            "m05",
            56,
            150,
            1,
            Pattern::ShrinkUpdate {
                percent: 50,
                to_bytes: 30,
            },
        ),
        t("m06", 48, 600, 0, Pattern::RandomDelete { keep_every: 4 }),
        t("m07", 40, 100, 2, Pattern::RangeDelete { percent: 60 }),
        t("m08", 32, 300, 1, Pattern::RandomDelete { keep_every: 2 }),
        t("m09", 24, 200, 0, Pattern::RangeDelete { percent: 40 }),
        t("m10", 16, 300, 1, Pattern::RandomDelete { keep_every: 3 }),
    ];
    let calibration = vec![
        t("c01", 72, 300, 1, Pattern::RandomDelete { keep_every: 2 }),
        t("c02", 48, 120, 2, Pattern::RangeDelete { percent: 50 }),
        t("c03", 40, 700, 0, Pattern::RandomDelete { keep_every: 3 }),
    ];
    (measured, calibration)
}

pub async fn b7(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = crate::scenarios::result(
        "b7",
        "duration estimate: estimated_duration_s against measured rebuilds, 10 tables, after one calibration run",
        "median error ≤ 30% (calibrated); the default rates' error reported",
        args,
    );
    let (measured, calibration) = b7_tables(args.smoke);
    let node = b.replicas()[0].clone();
    let path = b.work.join("b7.yaml");
    let (mut cal_err, mut def_err) = (vec![], vec![]);
    let mut rows = Vec::new();
    for run in 0..args.runs {
        println!("  run {}", run + 1);
        // A store of its own per run: the calibration is this run's.
        let store = b.work.join(format!("b7-{run}.db"));
        let _ = std::fs::remove_file(&store);
        let cfg = b.work.join(format!("b7-{run}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "persistence:\n  job_state:\n    file: {}\n",
                store.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let config = ["--config", cfg.to_str().unwrap_or_default()];
        let mut all = calibration.clone();
        all.extend(measured.iter().cloned());
        b.sandbox.fragment(&all).await.map_err(|e| e.to_string())?;
        purged(b).await?;
        // The default estimates of the measured tables, before any history.
        let mut extra: Vec<&str> = config.to_vec();
        extra.extend(["--table", "m*"]);
        let defaults = plan(b, &node, "b7", &path, &extra)?;
        // The calibration run.
        let mut extra: Vec<&str> = config.to_vec();
        extra.extend(["--table", "c*"]);
        plan(b, &node, "b7", &path, &extra)?;
        apply(b, &path, &config)?;
        let mut extra: Vec<&str> = config.to_vec();
        extra.extend(["--table", "m*"]);
        let calibrated = plan(b, &node, "b7", &path, &extra)?;
        let (_, rep) = apply(b, &path, &config)?;
        let took = done(&rep);
        let est = |p: &Value, t: &str| {
            p["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|n| n["actions"].as_array().cloned().unwrap_or_default())
                .find(|a| a["table"] == t)
                .and_then(|a| {
                    Some((
                        a["estimated_duration_s"].as_f64()?,
                        a["duration_method"].as_str()?.to_string(),
                    ))
                })
        };
        for ((_, t), (secs, _)) in &took {
            let (Some((c, cm)), Some((d, _))) = (est(&calibrated, t), est(&defaults, t)) else {
                continue;
            };
            let e = (c - secs).abs() / secs.max(0.01);
            cal_err.push(e);
            def_err.push((d - secs).abs() / secs.max(0.01));
            if run + 1 == args.runs {
                rows.push(vec![
                    t.clone(),
                    format!("{secs:.2}"),
                    format!("{c:.1} ({cm})"),
                    format!("{:+.0}%", (c - secs) / secs.max(0.01) * 100.0),
                    format!("{d:.1}"),
                ]);
            }
        }
    }
    let (mc, md) = (median(&cal_err), median(&def_err));
    r.columns = [
        "table",
        "measured (s)",
        "estimated (s)",
        "error",
        "default estimate (s)",
    ]
    .map(String::from)
    .to_vec();
    r.rows = rows;
    r.notes.push(format!(
        "Median error {:.1}% calibrated (on three rebuilds of other tables on the node), {:.1}% with \
         the default rates; {} rebuilds over {} run(s).",
        mc * 100.0,
        md * 100.0,
        cal_err.len(),
        args.runs
    ));
    r.verdict = crate::scenarios::verdict(
        mc <= 0.30 && cal_err.len() >= 8,
        format!(
            "median error {:.1}% over {} rebuilds",
            mc * 100.0,
            cal_err.len()
        ),
    );
    r.data = json!({"calibrated_error": cal_err, "default_error": def_err});
    b.exec(&b.sandbox.primary(), &["DROP DATABASE IF EXISTS b7"])
        .await?;
    Ok(r)
}
