//! The scenarios B1–B5 (and B2b; B6 and B7 are in `windows`, B8 in `cost`). Each builds its own
//! data, measures the tool and its baseline in the same run, and returns a [`ScenarioResult`].

use crate::Args;
use crate::report::{ScenarioResult, write};
use crate::util::{
    Bench, BenchResult, ServerProcess, all_at_once, median, mib, one_after_another, rss_mib,
};
use mysql_tablespace_recycling::inspect::catalog::{
    index_stats_sql, phase1_statements, scan_statements, table_stats_sql,
};
use mysql_tablespace_recycling::mysql::Endpoint;
use mysql_tablespace_recycling::mysql::flavor::Flavor;
use mysql_tablespace_recycling::plan::rebuild_statement;
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, Shape, TableSpec, build};
use serde_json::{Value, json};
use sqlx::Executor;
use std::time::Duration;

pub async fn run_all(args: &Args) -> BenchResult<()> {
    // The shared cluster, started for the first scenario that uses it (B8 builds its own).
    let mut shared = None;
    let mut results = Vec::new();
    let mut failure = None;
    for s in &args.scenarios {
        println!("== {s}");
        match run_one(s, &mut shared, args).await {
            Ok(r) => {
                println!("{}: {}", r.id, r.verdict);
                results.push(r);
            }
            Err(e) => {
                failure = Some(format!("{s}: {e}"));
                break;
            }
        }
    }
    if let Some(bench) = shared {
        bench.stop();
    }
    write(&args.out, results)?;
    failure.map_or(Ok(()), Err)
}

/// Runs scenario `s`, on the `shared` cluster (started here if it is not yet) unless it builds
/// its own.
async fn run_one(s: &str, shared: &mut Option<Bench>, args: &Args) -> BenchResult<ScenarioResult> {
    if s == "b8" {
        return crate::cost::b8(args).await;
    }
    if shared.is_none() {
        *shared = Some(Bench::start().await?);
    }
    let b = shared.as_ref().ok_or("no sandbox")?;
    match s {
        "b1" => b1(b, args).await,
        "b2" => b2(b, args).await,
        "b2b" => b2b(b, args).await,
        "b3" => b3(b, args).await,
        "b4" => b4(b, args).await,
        "b5" => b5(b, args).await,
        "b6" => crate::windows::b6(b, args).await,
        "b7" => crate::windows::b7(b, args).await,
        other => Err(format!("unknown scenario {other}")),
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn reproduce(id: &str, args: &Args) -> String {
    if args.smoke {
        format!("scripts/bench {id} --smoke")
    } else {
        format!("scripts/bench {id} --runs {}", args.runs)
    }
}

pub(crate) fn result(id: &str, title: &str, target: &str, args: &Args) -> ScenarioResult {
    ScenarioResult {
        id: id.into(),
        title: title.into(),
        target: target.into(),
        verdict: String::new(),
        columns: vec![],
        rows: vec![],
        notes: vec![],
        reproduce: reproduce(id, args),
        data: Value::Null,
        measured_at: now(),
        smoke: args.smoke,
    }
}

pub(crate) fn verdict(ok: bool, what: String) -> String {
    if ok {
        format!("met ({what})")
    } else {
        format!("missed: {what}")
    }
}

/// Creates tables `from..=to` of the B1 shape in `schema` on `ep`, each with `rows` rows;
/// binlogged (so replicated) only with `replicate`.
pub(crate) async fn create_tables(
    b: &Bench,
    ep: &Endpoint,
    schema: &str,
    (from, to): (usize, usize),
    rows: usize,
    replicate: bool,
) -> BenchResult<()> {
    let mut c = b.conn(ep).await?;
    if !replicate {
        c.execute("SET SESSION sql_log_bin = 0")
            .await
            .map_err(|e| e.to_string())?;
    }
    c.execute(format!("CREATE DATABASE IF NOT EXISTS {schema}").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let values: Vec<String> = (1..=rows)
        .map(|i| format!("({i}, {i}, 'row {i}', NOW(), {i}.25, 'text of row {i}', {i}, 'r{i}')"))
        .collect();
    let mut i = from;
    while i <= to {
        let end = (i + 99).min(to);
        let sql: String = (i..=end)
            .map(|n| {
                let mut s = format!(
                    "CREATE TABLE {schema}.t{n:05} (id INT PRIMARY KEY, a INT NOT NULL, \
                     b VARCHAR(64), c DATETIME, d DECIMAL(10,2), e TEXT, f BIGINT, g CHAR(8), \
                     KEY ka (a), KEY kc (c)) ENGINE=InnoDB;"
                );
                if rows > 0 {
                    s.push_str(&format!(
                        "INSERT INTO {schema}.t{n:05} VALUES {};",
                        values.join(", ")
                    ));
                }
                s
            })
            .collect();
        sqlx::raw_sql(&sql)
            .execute(&mut c)
            .await
            .map_err(|e| format!("{ep}: creating tables: {e}"))?;
        i = end + 1;
    }
    Ok(())
}

async fn b1(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = result(
        "b1",
        "plan --scope cluster wall time over 3 data nodes, 1k to 100k tables per node",
        "≤ 1.5× the floor (the phase-1 dictionary and statistics queries by the `mariadb` client \
         to all nodes at once) at every size; linear in tables (per-1k cost at the largest size \
         within 1.2× of the one before); peak RSS ≤ 200 MiB at 100k",
        args,
    );
    let sizes: Vec<usize> = match &args.b1_sizes {
        Some(s) => s.clone(),
        None if args.smoke => vec![20, 60],
        None => vec![1000, 20000, 100000],
    };
    let replicas = b.replicas();
    // The floor: what phase 1 reads of every table, plus the persistent statistics.
    let mut floor_sql = phase1_statements(Flavor::MariaDb);
    floor_sql.extend([table_stats_sql(None), index_stats_sql(None)]);
    let floor_sql = floor_sql.join(";\n");
    let old_sql = scan_statements(Flavor::MariaDb).join(";\n");
    let mut created = 0;
    let mut data = Vec::new();
    r.columns = [
        "tables per node",
        "plan (s)",
        "floor: phase 1 + statistics, all nodes at once (s)",
        "plan / floor",
        "plan per 1k tables (ms)",
        "plan peak RSS (MiB)",
        "old floor: the seven full-scan statements (s)",
        "plan --full-scan (s)",
        "full scan peak RSS (MiB)",
    ]
    .map(String::from)
    .to_vec();
    let (mut ok, mut per_1k, mut worst_rss) = (true, Vec::new(), 0.0f64);
    for &n in &sizes {
        let mut tasks = Vec::new();
        for ep in &replicas {
            tasks.push(create_tables(b, ep, "b1", (created + 1, n), 0, false));
        }
        for t in futures::future::join_all(tasks).await {
            t?;
        }
        created = n;
        let mut a = vec!["plan".to_string()];
        a.extend(b.target(&replicas[0]));
        a.extend(["--scope", "cluster", "--output-format", "json"].map(String::from));
        let mut full = a.clone();
        full.push("--full-scan".into());
        let clients = |sql: &str| -> BenchResult<Vec<std::process::Command>> {
            replicas.iter().map(|ep| b.client(ep, sql)).collect()
        };
        let (mut ours, mut rss, mut floor, mut old, mut fulls, mut full_rss) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..args.runs {
            let (t, kib) = b.tool_rss(&a)?;
            ours.push(secs(t));
            rss.push(kib as f64 / 1024.0);
            floor.push(secs(all_at_once(clients(&floor_sql)?)?));
            old.push(secs(all_at_once(clients(&old_sql)?)?));
            let (t, kib) = b.tool_rss(&full)?;
            fulls.push(secs(t));
            full_rss.push(kib as f64 / 1024.0);
        }
        let (o, f) = (median(&ours), median(&floor));
        let peak = rss.iter().copied().fold(0.0, f64::max);
        ok &= o <= 1.5 * f;
        worst_rss = worst_rss.max(peak);
        per_1k.push(o * 1000.0 / (n as f64 / 1000.0));
        r.rows.push(vec![
            n.to_string(),
            format!("{o:.3}"),
            format!("{f:.3}"),
            format!("{:.2}×", o / f),
            format!("{:.1}", per_1k[per_1k.len() - 1]),
            format!("{peak:.0}"),
            format!("{:.3}", median(&old)),
            format!("{:.3}", median(&fulls)),
            format!("{:.0}", full_rss.iter().copied().fold(0.0, f64::max)),
        ]);
        data.push(
            json!({"tables": n, "plan_s": ours, "plan_rss_mib": rss, "floor_s": floor,
                         "old_floor_s": old, "full_scan_s": fulls, "full_scan_rss_mib": full_rss}),
        );
        println!(
            "  {n} tables: plan {o:.3}s ({peak:.0} MiB), floor {f:.3}s, old floor {:.3}s, \
             full scan {:.3}s",
            median(&old),
            median(&fulls)
        );
    }
    let mut linear = true;
    if per_1k.len() >= 2 && !args.smoke {
        let (prev, last) = (per_1k[per_1k.len() - 2], per_1k[per_1k.len() - 1]);
        linear = last <= 1.2 * prev;
        r.notes.push(format!(
            "Linearity: the plan costs {prev:.1} ms per 1k tables at {} tables and {last:.1} ms \
             per 1k at {} tables (ratio {:.2}; target ≤ 1.2).",
            sizes[sizes.len() - 2],
            sizes[sizes.len() - 1],
            last / prev.max(1e-9)
        ));
    }
    let rss_ok = sizes.last() != Some(&100000) || worst_rss <= 200.0;
    r.notes.push(
        "The plan's time includes starting the process, discovering the topology (four nodes \
         probed) and connecting; the floor is only the phase-1 dictionary queries and the \
         persistent statistics in one `mariadb` session per node. The old floor is the seven \
         statements of a full scan (what the plan read before the two-phase scan); `--full-scan` \
         is today's binary reading every table in phase 2, as the plan did before."
            .into(),
    );
    let worst = r
        .rows
        .iter()
        .map(|row| row[3].trim_end_matches('×').parse::<f64>().unwrap_or(0.0))
        .fold(0.0, f64::max);
    r.verdict = verdict(
        ok && linear && rss_ok,
        format!(
            "worst plan/floor {worst:.2}×, {}, peak RSS {worst_rss:.0} MiB",
            if linear { "linear" } else { "not linear" }
        ),
    );
    r.data = json!(data);
    // DROP DATABASE of 100k tables takes MariaDB 10.11 over ten minutes (it spends them in
    // "Opening tables"); dropping the tables 1000 at a time first takes about three.
    let drops: Vec<_> = replicas
        .iter()
        .map(|ep| drop_tables(b, ep, created))
        .collect();
    for d in futures::future::join_all(drops).await {
        d?;
    }
    Ok(r)
}

/// Drops the B1 tables `1..=n` of `ep` 1000 at a time, then their database.
async fn drop_tables(b: &Bench, ep: &Endpoint, n: usize) -> BenchResult<()> {
    let mut c = b.conn(ep).await?;
    c.execute("SET SESSION sql_log_bin = 0")
        .await
        .map_err(|e| e.to_string())?;
    for from in (1..=n).step_by(1000) {
        let names: Vec<String> = (from..=(from + 999).min(n))
            .map(|i| format!("b1.t{i:05}"))
            .collect();
        c.execute(format!("DROP TABLE IF EXISTS {}", names.join(", ")).as_str())
            .await
            .map_err(|e| format!("{ep}: dropping tables: {e}"))?;
    }
    c.execute("DROP DATABASE IF EXISTS b1")
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn b2_tables(smoke: bool) -> Vec<TableSpec> {
    let (a, b_, c) = if smoke { (3, 4, 5) } else { (80, 120, 160) };
    vec![
        TableSpec::sized(
            "b2",
            "scattered",
            a,
            Pattern::RandomDelete { keep_every: 4 },
        ),
        TableSpec::sized("b2", "purged", b_, Pattern::RangeDelete { percent: 50 }),
        TableSpec::sized(
            "b2",
            "shrunk",
            c,
            Pattern::ShrinkUpdate {
                percent: 60,
                to_bytes: 30,
            },
        ),
    ]
}

pub(crate) async fn freed_total(b: &Bench, before: &[u64], schema: &str) -> BenchResult<u64> {
    let mut total = 0;
    for (i, ep) in b.replicas().iter().enumerate() {
        total += before[i].saturating_sub(b.schema_bytes(ep, schema).await?);
    }
    Ok(total)
}

pub(crate) async fn sizes(b: &Bench, schema: &str) -> BenchResult<Vec<u64>> {
    let mut v = Vec::new();
    for ep in b.replicas() {
        v.push(b.schema_bytes(&ep, schema).await?);
    }
    Ok(v)
}

fn report_freed(out: &str) -> u64 {
    serde_json::from_str::<Value>(out)
        .ok()
        .and_then(|v| {
            v["outcomes"].as_array().map(|a| {
                a.iter()
                    .map(|o| o["bytes_freed"].as_u64().unwrap_or(0))
                    .sum()
            })
        })
        .unwrap_or(0)
}

async fn b2(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = result(
        "b2",
        "apply binlog-off on 3 replicas × 3 tables of 80–160 MiB",
        "≤ 1.05× the floor (the same ALTERs by the `mariadb` client to all replicas at once) with the same bytes freed (±2%); ratio to mysqlcheck reported",
        args,
    );
    let specs = b2_tables(args.smoke);
    let names: Vec<String> = specs.iter().map(|t| t.table.clone()).collect();
    let replicas = b.replicas();
    let plan_path = b.work.join("b2.yaml");
    let (mut ours, mut floor, mut check) = (vec![], vec![], vec![]);
    let (mut f_ours, mut f_floor, mut f_check) = (vec![], vec![], vec![]);
    for run in 0..args.runs {
        println!("  run {}", run + 1);
        // The tool.
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        let mut a = vec!["plan".to_string()];
        a.extend(b.target(&replicas[0]));
        a.extend(
            [
                "--scope",
                "cluster",
                "--database",
                "b2",
                "--threshold-mb",
                "1",
                "--threshold-percent",
                "1",
                "--out",
            ]
            .map(String::from),
        );
        a.push(plan_path.display().to_string());
        b.tool(&a)?;
        let before = sizes(b, "b2").await?;
        let (t, out) = b.tool(&[
            "apply".into(),
            plan_path.display().to_string(),
            "--yes".into(),
            "--output-format".into(),
            "json".into(),
            "--user".into(),
            crate::util::USER.into(),
            "--password".into(),
            crate::util::PASSWORD.into(),
        ])?;
        ours.push(secs(t));
        let measured = freed_total(b, &before, "b2").await?;
        f_ours.push(measured as f64);
        if report_freed(&out) != measured {
            r.notes.push(format!(
                "run {}: the tool reported {} bytes freed, the tablespace view shows {}",
                run + 1,
                report_freed(&out),
                measured
            ));
        }
        // The floor: the same ALTERs, all replicas at once.
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        let before = sizes(b, "b2").await?;
        let sql = std::iter::once("SET SESSION sql_log_bin = 0".to_string())
            .chain(names.iter().map(|t| rebuild_statement("b2", t, true)))
            .collect::<Vec<_>>()
            .join(";\n");
        floor.push(secs(all_at_once(
            replicas
                .iter()
                .map(|ep| b.client(ep, &sql))
                .collect::<Result<_, _>>()?,
        )?));
        f_floor.push(freed_total(b, &before, "b2").await? as f64);
        // The DBA's way: mysqlcheck per replica, one after another.
        b.sandbox
            .fragment(&specs)
            .await
            .map_err(|e| e.to_string())?;
        let before = sizes(b, "b2").await?;
        check.push(secs(one_after_another(
            replicas
                .iter()
                .map(|ep| b.mysqlcheck(ep, "b2", &names))
                .collect::<Result<_, _>>()?,
        )?));
        f_check.push(freed_total(b, &before, "b2").await? as f64);
    }
    let (o, f, c) = (median(&ours), median(&floor), median(&check));
    let (bo, bf, bc) = (median(&f_ours), median(&f_floor), median(&f_check));
    let bytes_diff = (bo - bf).abs() / bf.max(1.0);
    r.columns = [
        "method",
        "wall time (s)",
        "bytes freed (MiB)",
        "time vs floor",
    ]
    .map(String::from)
    .to_vec();
    r.rows = vec![
        vec![
            "mysql-tablespace-recycling apply".into(),
            format!("{o:.2}"),
            format!("{:.1}", mib(bo as u64)),
            format!("{:.3}×", o / f),
        ],
        vec![
            "floor: ALTERs by `mariadb`, all replicas at once".into(),
            format!("{f:.2}"),
            format!("{:.1}", mib(bf as u64)),
            "1.000×".into(),
        ],
        vec![
            "mysqlcheck --optimize --skip-write-binlog, replica after replica".into(),
            format!("{c:.2}"),
            format!("{:.1}", mib(bc as u64)),
            format!("{:.3}×", c / f),
        ],
    ];
    r.notes.push(format!(
        "The tool takes {:.2}× the time of mysqlcheck run on the replicas in turn.",
        o / c
    ));
    r.verdict = verdict(
        o <= 1.05 * f && bytes_diff <= 0.02,
        format!(
            "{:.3}× the floor, bytes freed {:+.1}% of the floor's",
            o / f,
            (bo - bf) / bf.max(1.0) * 100.0
        ),
    );
    r.data = json!({"apply_s": ours, "floor_s": floor, "mysqlcheck_s": check,
        "apply_freed": f_ours, "floor_freed": f_floor, "mysqlcheck_freed": f_check});
    b.exec(&b.sandbox.primary(), &["DROP DATABASE IF EXISTS b2"])
        .await?;
    Ok(r)
}

/// Loads the B2b schema. The 20 unfragmented tables are rebuilt once after loading (on every
/// node, through replication) so they really are compact: a bulk load leaves ~35% slack of its
/// own, which would be fragmentation too.
async fn load_b2b(b: &Bench, specs: &[TableSpec]) -> BenchResult<()> {
    b.sandbox.fragment(specs).await.map_err(|e| e.to_string())?;
    let stmts: Vec<String> = specs
        .iter()
        .filter(|t| t.pattern == Pattern::None)
        .map(|t| rebuild_statement(&t.schema, &t.table, true))
        .collect();
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    b.exec(&b.sandbox.primary(), &refs).await?;
    b.sandbox.wait_replicas().await.map_err(|e| e.to_string())
}

async fn b2b(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = result(
        "b2b",
        "a schema of 30 tables, 10 of them fragmented: plan + apply with default thresholds",
        "frees ≥ 95% of what mysqlcheck of the whole schema frees, in ≤ 40% of its time",
        args,
    );
    let (frag_mb, plain_mb) = if args.smoke { (3, 1) } else { (120, 10) };
    let mut specs = Vec::new();
    for i in 0..10 {
        specs.push(TableSpec::sized(
            "b2b",
            &format!("frag{i:02}"),
            frag_mb,
            Pattern::RandomDelete { keep_every: 10 },
        ));
    }
    for i in 0..20 {
        specs.push(TableSpec::sized(
            "b2b",
            &format!("plain{i:02}"),
            plain_mb,
            Pattern::None,
        ));
    }
    let replicas = b.replicas();
    let plan_path = b.work.join("b2b.yaml");
    let thresholds: Vec<String> = if args.smoke {
        // Smoke tables are far below the default 100 MiB.
        ["--threshold-mb", "1"].map(String::from).to_vec()
    } else {
        vec![]
    };
    let (mut ours, mut check, mut f_ours, mut f_check) = (vec![], vec![], vec![], vec![]);
    let mut plan_only = vec![];
    for run in 0..args.runs {
        println!("  run {}", run + 1);
        load_b2b(b, &specs).await?;
        let before = sizes(b, "b2b").await?;
        let mut a = vec!["plan".to_string()];
        a.extend(b.target(&replicas[0]));
        a.extend(["--scope", "cluster", "--database", "b2b", "--out"].map(String::from));
        a.push(plan_path.display().to_string());
        a.extend(thresholds.iter().cloned());
        let (tp, _) = b.tool(&a)?;
        let (ta, _) = b.tool(&[
            "apply".into(),
            plan_path.display().to_string(),
            "--yes".into(),
            "--user".into(),
            crate::util::USER.into(),
            "--password".into(),
            crate::util::PASSWORD.into(),
        ])?;
        ours.push(secs(tp + ta));
        plan_only.push(secs(tp));
        f_ours.push(freed_total(b, &before, "b2b").await? as f64);
        load_b2b(b, &specs).await?;
        let before = sizes(b, "b2b").await?;
        check.push(secs(one_after_another(
            replicas
                .iter()
                .map(|ep| b.mysqlcheck(ep, "b2b", &[]))
                .collect::<Result<_, _>>()?,
        )?));
        f_check.push(freed_total(b, &before, "b2b").await? as f64);
    }
    let (o, c, bo, bc) = (
        median(&ours),
        median(&check),
        median(&f_ours),
        median(&f_check),
    );
    r.columns = ["method", "wall time (s)", "bytes freed (MiB)"]
        .map(String::from)
        .to_vec();
    r.rows = vec![
        vec![
            "plan + apply (default thresholds)".into(),
            format!("{o:.2}"),
            format!("{:.1}", mib(bo as u64)),
        ],
        vec![
            "mysqlcheck --optimize --skip-write-binlog of the schema, replica after replica".into(),
            format!("{c:.2}"),
            format!("{:.1}", mib(bc as u64)),
        ],
    ];
    r.verdict = verdict(
        bo >= 0.95 * bc && o <= 0.40 * c,
        format!(
            "{:.1}% of mysqlcheck's bytes in {:.1}% of its time",
            bo / bc.max(1.0) * 100.0,
            o / c * 100.0
        ),
    );
    r.notes.push(
        "mysqlcheck rebuilds all 30 tables; the plan picks the 10 whose estimated reclaim passes \
         100 MiB and 10%. The 20 unfragmented tables are rebuilt once when the fixture is loaded \
         (a bulk load leaves about 35% slack of its own, which is fragmentation too)."
            .into(),
    );
    r.notes.push(format!(
        "Of the tool's {o:.2} s, planning (discovery, scan of 30 tables on 3 replicas, samples of \
         the 10 candidates) took {:.2} s.",
        median(&plan_only)
    ));
    r.data = json!({"plan_apply_s": ours, "plan_s": plan_only, "mysqlcheck_s": check, "plan_apply_freed": f_ours, "mysqlcheck_freed": f_check});
    b.exec(&b.sandbox.primary(), &["DROP DATABASE IF EXISTS b2b"])
        .await?;
    Ok(r)
}

async fn b3(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let mut r = result(
        "b3",
        "estimate accuracy over fifteen fragmentation patterns and row formats",
        "median absolute error ≤ 10% of the bytes a rebuild really frees, worst pattern ≤ 25%; \
         DATA_FREE's error reported beside each",
        args,
    );
    let mb = if args.smoke { 4 } else { 80 };
    let mut heavy = TableSpec::sized(
        "b3",
        "index_heavy",
        mb,
        Pattern::RandomDelete { keep_every: 3 },
    );
    heavy.secondary_indexes = 4;
    let mut parted = TableSpec::sized(
        "b3",
        "partitioned",
        mb,
        Pattern::RangeDelete { percent: 50 },
    );
    parted.partitions = Some(4);
    let specs = vec![
        TableSpec::sized(
            "b3",
            "random_delete",
            mb,
            Pattern::RandomDelete { keep_every: 10 },
        ),
        TableSpec::sized(
            "b3",
            "range_delete",
            mb,
            Pattern::RangeDelete { percent: 60 },
        ),
        TableSpec::sized(
            "b3",
            "shrinking_update",
            mb,
            Pattern::ShrinkUpdate {
                percent: 70,
                to_bytes: 30,
            },
        ),
        heavy,
        TableSpec::sized("b3", "already_compact", mb, Pattern::None),
        parted,
    ];
    b.sandbox
        .fragment(&specs)
        .await
        .map_err(|e| e.to_string())?;
    // The estimate tests' shapes at their sizes (a twentieth for the smoke run).
    for shape in Shape::ALL {
        let rows = if args.smoke {
            (shape.rows() / 20).max(200)
        } else {
            shape.rows()
        };
        let stmts = shape.statements("b3", shape.name(), rows);
        let stmts: Vec<&str> = stmts.iter().map(String::as_str).collect();
        b.exec(&b.sandbox.primary(), &stmts).await?;
    }
    b.sandbox.wait_replicas().await.map_err(|e| e.to_string())?;
    let tables: Vec<String> = specs
        .iter()
        .map(|t| t.table.clone())
        .chain(Shape::ALL.iter().map(|s| s.name().to_string()))
        .collect();
    let replicas = b.replicas();
    let plan_path = b.work.join("b3.json");
    let mut a = vec!["plan".to_string()];
    a.extend(b.target(&replicas[0]));
    a.extend(
        [
            "--scope",
            "cluster",
            "--database",
            "b3",
            "--threshold-mb",
            "0",
            "--threshold-percent",
            "0",
            "--analyze",
            "--out",
        ]
        .map(String::from),
    );
    a.push(plan_path.display().to_string());
    b.tool(&a)?;
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let estimate = |node: &Endpoint, table: &str| -> u64 {
        plan["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["address"] == node.to_string())
            .flat_map(|n| n["actions"].as_array().cloned().unwrap_or_default())
            .find(|a| a["table"] == table)
            .and_then(|a| a["estimated_reclaim_bytes"].as_u64())
            .unwrap_or(0)
    };
    let (mut errs, mut df_errs) = (vec![], vec![]);
    let mut samples = Vec::new();
    r.columns = [
        "pattern",
        "file (MiB)",
        "freed by a rebuild (MiB)",
        "estimate (MiB)",
        "estimate error",
        "DATA_FREE (MiB)",
        "DATA_FREE error",
    ]
    .map(String::from)
    .to_vec();
    let mut worst = (0.0f64, String::new());
    for table in &tables {
        let (mut rows_f, mut rows_e, mut rows_d, mut file) = (vec![], vec![], vec![], 0u64);
        let (mut pattern_errs, mut df_pattern_errs, mut small) = (vec![], vec![], false);
        for ep in &replicas {
            let mut c = b.conn(ep).await?;
            let (df,): (u64,) = sqlx::query_as(
                "SELECT DATA_FREE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'b3' AND TABLE_NAME = ?",
            )
            .bind(table)
            .fetch_one(&mut c)
            .await
            .map_err(|e| e.to_string())?;
            let before = table_bytes(b, ep, table).await?;
            c.execute("SET SESSION sql_log_bin = 0")
                .await
                .map_err(|e| e.to_string())?;
            c.execute(rebuild_statement("b3", table, true).as_str())
                .await
                .map_err(|e| e.to_string())?;
            let freed = before.saturating_sub(table_bytes(b, ep, table).await?);
            let est = estimate(ep, table);
            // Relative to what the rebuild freed; for a table that frees under a tenth of its
            // file (already compact), relative to the file, as a few MiB of allocation
            // rounding would otherwise count as 100 %.
            let of_file = freed * 10 < before;
            let denom = if of_file { before } else { freed };
            let rel = |x: u64| (x as f64 - freed as f64).abs() / (denom.max(1) as f64);
            errs.push(rel(est));
            pattern_errs.push(rel(est));
            df_errs.push(rel(df));
            df_pattern_errs.push(rel(df));
            samples.push(json!({"table": table, "node": ep.to_string(), "file": before, "freed": freed, "estimate": est, "data_free": df}));
            rows_f.push(freed as f64);
            rows_e.push(est as f64);
            rows_d.push(df as f64);
            file = before;
            small |= of_file;
        }
        let (f, e, d) = (median(&rows_f), median(&rows_e), median(&rows_d));
        let pattern_err = median(&pattern_errs);
        if pattern_err >= worst.0 {
            worst = (pattern_err, table.replace('_', " "));
        }
        r.rows.push(vec![
            table.replace('_', " "),
            format!("{:.1}", mib(file)),
            format!("{:.1}", mib(f as u64)),
            format!("{:.1}", mib(e as u64)),
            pct(pattern_err, small),
            format!("{:.1}", mib(d as u64)),
            pct(median(&df_pattern_errs), small),
        ]);
    }
    let (me, md) = (median(&errs), median(&df_errs));
    r.notes.push(format!(
        "Each pattern measured on the three replicas (the table rebuilt locally on each, sizes from \
         the tablespace view): {} samples; a pattern's error is the median of its three. Errors \
         are relative to what the rebuild freed, or to the file where that is under a tenth of \
         it (marked \"of the file\"). Median absolute error of the estimate {:.1}%, of \
         DATA_FREE {:.1}%.",
        errs.len(),
        me * 100.0,
        md * 100.0
    ));
    r.verdict = verdict(
        me <= 0.10 && worst.0 <= 0.25,
        format!(
            "median error {:.1}% (DATA_FREE {:.1}%), worst pattern {} {:.1}%",
            me * 100.0,
            md * 100.0,
            worst.1,
            worst.0 * 100.0
        ),
    );
    r.data = json!({"samples": samples, "median_error": me, "median_data_free_error": md, "worst_pattern": worst.1, "worst_pattern_error": worst.0});
    b.exec(&b.sandbox.primary(), &["DROP DATABASE IF EXISTS b3"])
        .await?;
    Ok(r)
}

/// An error as a percentage, "of the file" when it is relative to the file.
fn pct(err: f64, of_file: bool) -> String {
    if of_file {
        format!("{:.1}% of the file", err * 100.0)
    } else {
        format!("{:.1}%", err * 100.0)
    }
}

async fn table_bytes(b: &Bench, ep: &Endpoint, table: &str) -> BenchResult<u64> {
    let mut c = b.conn(ep).await?;
    let v: Option<String> = sqlx::query_scalar(
        "SELECT CAST(SUM(FILE_SIZE) AS CHAR) FROM information_schema.INNODB_SYS_TABLESPACES \
         WHERE NAME = CONCAT('b3/', ?) OR NAME LIKE CONCAT('b3/', ?, '#P#%')",
    )
    .bind(table)
    .bind(table)
    .fetch_one(&mut c)
    .await
    .map_err(|e| e.to_string())?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// N tiny fragmented tables in `b4` on `ep`, built without the binlog.
async fn tiny_tables(b: &Bench, ep: &Endpoint, n: usize) -> BenchResult<()> {
    let mut c = b.conn(ep).await?;
    c.execute("SET SESSION sql_log_bin = 0")
        .await
        .map_err(|e| e.to_string())?;
    c.execute("DROP DATABASE IF EXISTS b4")
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..n {
        let t = TableSpec {
            schema: "b4".into(),
            table: format!("t{i:04}"),
            rows: 2000,
            payload: 100,
            pattern: Pattern::RandomDelete { keep_every: 10 },
            secondary_indexes: 0,
            fulltext: false,
            partitions: None,
        };
        build(&mut c, ep, &t).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn b4(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let n = if args.smoke { 20 } else { 500 };
    let mut r = result(
        "b4",
        &format!("per-table overhead: {n} tiny tables on one node"),
        "≤ 10 ms added per table over the ALTER times alone",
        args,
    );
    let node = b.replicas()[0].clone();
    let plan_path = b.work.join("b4.yaml");
    let (mut ours, mut floor, mut per) = (vec![], vec![], vec![]);
    let mut actions = 0;
    for run in 0..args.runs {
        println!("  run {}", run + 1);
        tiny_tables(b, &node, n).await?;
        let mut a = vec!["plan".to_string()];
        a.extend(b.target(&node));
        a.extend(
            [
                "--database",
                "b4",
                "--threshold-mb",
                "0",
                "--threshold-percent",
                "0",
                "--out",
            ]
            .map(String::from),
        );
        a.push(plan_path.display().to_string());
        b.tool(&a)?;
        let plan: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&plan_path).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let tables: Vec<String> = plan["nodes"][0]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["table"].as_str().map(str::to_string))
            .collect();
        actions = tables.len();
        let (t, _) = b.tool(&[
            "apply".into(),
            plan_path.display().to_string(),
            "--yes".into(),
            "--user".into(),
            crate::util::USER.into(),
            "--password".into(),
            crate::util::PASSWORD.into(),
        ])?;
        tiny_tables(b, &node, n).await?;
        let sql = std::iter::once("SET SESSION sql_log_bin = 0".to_string())
            .chain(tables.iter().map(|t| rebuild_statement("b4", t, true)))
            .collect::<Vec<_>>()
            .join(";\n");
        let f = one_after_another(vec![b.client(&node, &sql)?])?;
        ours.push(secs(t));
        floor.push(secs(f));
        per.push((secs(t) - secs(f)) * 1000.0 / actions.max(1) as f64);
    }
    let (o, f, p) = (median(&ours), median(&floor), median(&per));
    r.columns = ["", "wall time (s)", "per table (ms)"]
        .map(String::from)
        .to_vec();
    r.rows = vec![
        vec![
            format!("apply of {actions} rebuilds"),
            format!("{o:.2}"),
            format!("{:.1}", o * 1000.0 / actions.max(1) as f64),
        ],
        vec![
            "the same ALTERs alone (one `mariadb` session)".into(),
            format!("{f:.2}"),
            format!("{:.1}", f * 1000.0 / actions.max(1) as f64),
        ],
        vec![
            "added by the tool".into(),
            format!("{:.2}", o - f),
            format!("{p:.1}"),
        ],
    ];
    r.notes.push(
        "Per table the tool adds, with every gate on (defaults: max_load, critical_load, the \
         binlog-off lag gate): the checkpoint (the node's variables and replication status for \
         the drift rule and its own lag, its load), the metadata-lock holder lookup, the \
         existence/size check before and after (two queries each), and the ledger row and job \
         progress in SQLite; the apply as a whole adds process start, preflight discovery and \
         connecting."
            .into(),
    );
    r.verdict = verdict(p <= 10.0, format!("{p:.1} ms added per table"));
    r.data =
        json!({"apply_s": ours, "alters_s": floor, "added_ms_per_table": per, "tables": actions});
    b.exec(
        &node,
        &["SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS b4"],
    )
    .await?;
    Ok(r)
}

/// `wrk` against `url`: (requests/s, p99 latency in ms).
fn wrk(url: &str, seconds: u32) -> BenchResult<(f64, f64)> {
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c50", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("wrk output without Requests/sec:\n{text}"))?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|v| {
            let (num, unit) =
                v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
            let n: f64 = num.parse().unwrap_or(0.0);
            match unit {
                "us" => n / 1000.0,
                "s" => n * 1000.0,
                _ => n,
            }
        })
        .ok_or_else(|| format!("wrk output without a 99% line:\n{text}"))?;
    Ok((rps, p99))
}

pub async fn b5(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    use mysql_tablespace_recycling::jobs::{JobKind, JobRecord, JobStatus, Store};
    let mut r = result(
        "b5",
        "REST server under load (wrk on loopback)",
        "health ≥ 20k req/s; job list (limit=50, 10k jobs in the store) p99 < 50 ms; RSS < 60 MiB",
        args,
    );
    let dir = b.work.join("b5");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db = dir.join("jobs.db");
    let _ = std::fs::remove_file(&db);
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "server:\n  host: 127.0.0.1\n  port: 0\nlogging:\n  level: warn\n  file: {}\npersistence:\n  job_state:\n    file: {}\n",
            dir.join("server.log").display(),
            db.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let server = ServerProcess::start(&b.tool, &dir)?;
    let (pid, base) = (server.pid(), server.base.clone());
    let seconds = if args.smoke { 2 } else { 10 };
    let run = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle = rss_mib(pid);
        let (mut h_rps, mut h_p99) = (vec![], vec![]);
        for _ in 0..args.runs {
            let (rps, p99) = wrk(&format!("{base}/api/v1/health"), seconds)?;
            h_rps.push(rps);
            h_p99.push(p99);
        }
        // 10k finished jobs in the store the server reads.
        let n = if args.smoke { 500 } else { 10_000 };
        let store = Store::open(&db).await.map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        for i in 0..n {
            let status = if i % 10 == 0 {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            };
            let mut j = JobRecord::new(
                format!("job-20261126-{:05}", i + 1),
                JobKind::Apply,
                status,
                json!({"mode": "binlog-off", "threshold_mb": 100}),
            );
            j.plan_id = Some(format!("plan-20261126-{:03}", i % 1000));
            j.plan_digest = Some("sha256:00".into());
            j.created_at = now - chrono::Duration::seconds(i as i64);
            j.started_at = Some(now);
            j.completed_at = Some(now);
            j.total_tables = 12;
            j.processed_tables = 12;
            j.bytes_freed = 1 << 30;
            j.owner_pid = None;
            store.insert_job(&j).await.map_err(|e| e.to_string())?;
        }
        let (mut l_rps, mut l_p99) = (vec![], vec![]);
        for _ in 0..args.runs {
            let (rps, p99) = wrk(&format!("{base}/api/v1/recycle/jobs?limit=50"), seconds)?;
            l_rps.push(rps);
            l_p99.push(p99);
        }
        let loaded = rss_mib(pid);
        Ok::<_, String>((idle, loaded, h_rps, h_p99, l_rps, l_p99, n))
    };
    let outcome = run.await;
    drop(server);
    let (idle, loaded, h_rps, h_p99, l_rps, l_p99, n) = outcome?;
    let (hr, hp, lr, lp) = (
        median(&h_rps),
        median(&h_p99),
        median(&l_rps),
        median(&l_p99),
    );
    r.columns = ["", "requests/s", "p99 (ms)", "server RSS (MiB)"]
        .map(String::from)
        .to_vec();
    r.rows = vec![
        vec![
            "GET /api/v1/health (empty store)".into(),
            format!("{hr:.0}"),
            format!("{hp:.2}"),
            format!("{idle:.1} idle"),
        ],
        vec![
            format!("GET /api/v1/recycle/jobs?limit=50 ({n} jobs)"),
            format!("{lr:.0}"),
            format!("{lp:.2}"),
            format!("{loaded:.1} after"),
        ],
    ];
    r.notes.push(format!(
        "wrk -t2 -c50 -d{seconds}s --latency, a second process on loopback sharing the two cores with the server."
    ));
    let ok = hr >= 20_000.0 && lp < 50.0 && idle.max(loaded) < 60.0;
    r.verdict = verdict(
        ok,
        format!(
            "health {hr:.0} req/s, job list p99 {lp:.1} ms, RSS {:.1} MiB",
            idle.max(loaded)
        ),
    );
    r.data = json!({"health_rps": h_rps, "health_p99_ms": h_p99, "jobs_rps": l_rps, "jobs_p99_ms": l_p99, "rss_idle_mib": idle, "rss_loaded_mib": loaded, "jobs": n});
    Ok(r)
}
