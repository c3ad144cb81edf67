//! B8, what the fragmentation monitor costs: the `server` (a child process) scanning a cluster
//! of its own — a primary and two replicas, 1,000 replicated tables each — every 30 s. Measured
//! from `/proc/PID/stat`: the CPU time the server and each `mariadbd` use over a window of ten
//! scans, against the nodes' idle CPU over windows of the same length before the server starts
//! and after it stops. The scans themselves are read back from the server's metrics store: each
//! must have scanned every node and seen every table, or the scenario fails.

use crate::Args;
use crate::report::ScenarioResult;
use crate::scenarios::{create_tables, result, verdict};
use crate::util::{
    Bench, BenchResult, PASSWORD, ServerProcess, USER, cpu_seconds, median, rss_mib,
};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const SCHEMA: &str = "b8";
const CLUSTER: &str = "b8";
/// The floor of each process: % of one core.
const FLOOR_PCT: f64 = 2.0;

/// The CPU each process used over one window.
struct Window {
    wall: f64,
    cpu: Vec<f64>,
    /// The 1-minute load average at its end.
    load: f64,
}

impl Window {
    /// Process `i`'s CPU as % of one core.
    fn pct(&self, i: usize) -> f64 {
        self.cpu[i] / self.wall * 100.0
    }
}

/// Sleeps `length`, measuring the CPU time `pids` use meanwhile.
async fn window(pids: &[u32], length: Duration) -> BenchResult<Window> {
    let all = || {
        pids.iter()
            .map(|p| cpu_seconds(*p))
            .collect::<BenchResult<Vec<_>>>()
    };
    let (before, started) = (all()?, Instant::now());
    tokio::time::sleep(length).await;
    let after = all()?;
    let wall = started.elapsed().as_secs_f64();
    let load = mysql_tablespace_recycling::server::load_average();
    Ok(Window {
        wall,
        cpu: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
        load,
    })
}

/// One scan of the window, as the server's metrics store recorded it.
struct Scan {
    duration: f64,
    /// (node address, status, tables seen, node scan seconds).
    nodes: Vec<(String, String, i64, f64)>,
}

/// The scans of cluster `b8` started from `since_ms` (Unix ms) until `until_ms`.
async fn scans(db: &Path, since_ms: i64, until_ms: i64) -> BenchResult<Vec<Scan>> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .map_err(|e| format!("{}: {e}", db.display()))?;
    type Row = (
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.scan_id, s.started_at, s.finished_at, n.node, n.status, n.tables, n.duration_ms \
         FROM scans s LEFT JOIN node_scans n ON n.scan_id = s.scan_id \
         WHERE s.cluster = ? AND s.started_at >= ? AND s.started_at < ? \
         ORDER BY s.scan_id, n.node",
    )
    .bind(CLUSTER)
    .bind(since_ms)
    .bind(until_ms)
    .fetch_all(&mut c)
    .await
    .map_err(|e| e.to_string())?;
    let mut out: Vec<(i64, Scan)> = Vec::new();
    for (id, started, finished, node, status, tables, ms) in rows {
        if out.last().is_none_or(|(last, _)| *last != id) {
            let duration = (finished - started) as f64 / 1000.0;
            out.push((
                id,
                Scan {
                    duration,
                    nodes: Vec::new(),
                },
            ));
        }
        if let (Some(n), Some(s), Some(t), Some(ms), Some((_, scan))) =
            (node, status, tables, ms, out.last_mut())
        {
            scan.nodes.push((n, s, t, ms as f64 / 1000.0));
        }
    }
    let out = out.into_iter().map(|(_, s)| s).collect();
    Ok(out)
}

pub async fn b8(args: &Args) -> BenchResult<ScenarioResult> {
    let b = Bench::start_with("mtr-bench-b8", 2).await?;
    let r = measure(&b, args).await;
    b.stop();
    r
}

async fn measure(b: &Bench, args: &Args) -> BenchResult<ScenarioResult> {
    let (tables, rows, interval, count, settle) = if args.smoke {
        (20, 10, 1, 4, 1)
    } else {
        (1000, 10, 30, 10, 30)
    };
    let interval = Duration::from_secs(interval);
    let mut r = result(
        "b8",
        &format!(
            "monitoring cost: a scan every {}s of 3 nodes (a primary and two replicas) × \
             {tables} tables",
            interval.as_secs()
        ),
        &format!(
            "the server < {FLOOR_PCT}% of one core; each node < {FLOOR_PCT}% of one core over \
             its idle baseline"
        ),
        args,
    );
    if !args.smoke {
        r.reproduce = "scripts/bench b8".into();
    }
    // `count` scans, the first at the window's start (the server scans at once, then every
    // interval); the window ends half an interval after the last one starts, so none is cut.
    let length = interval * count - interval / 2;

    let primary = b.sandbox.primary();
    create_tables(b, &primary, SCHEMA, (1, tables), rows, true).await?;
    b.sandbox.wait_replicas().await.map_err(|e| e.to_string())?;
    let nodes = b.sandbox.status().await;
    let pids: Vec<u32> = nodes
        .iter()
        .map(|n| n.pid.ok_or_else(|| format!("{} has no pid", n.name)))
        .collect::<BenchResult<_>>()?;
    // The writes' background work (statistics, purge, page flushing) settles first.
    tokio::time::sleep(Duration::from_secs(settle)).await;
    println!(
        "  {tables} tables on 3 nodes; idle baseline over {:.1}s",
        length.as_secs_f64()
    );
    let idle_before = window(&pids, length).await?;

    let dir = b.work.join("b8");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db = dir.join("metrics.db");
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "server:\n  host: 127.0.0.1\n  port: 0\nlogging:\n  level: warn\n  file: {}\n\
             persistence:\n  job_state:\n    file: {}\n  metrics:\n    file: {}\n\
             database:\n  clusters:\n    - name: {CLUSTER}\n      primary: {{host: {}, port: {}, \
             username: {USER}, password: {PASSWORD}}}\n\
             monitoring:\n  metrics:\n    interval: \"{}s\"\n",
            dir.join("server.log").display(),
            dir.join("jobs.db").display(),
            db.display(),
            primary.host,
            primary.port,
            interval.as_secs()
        ),
    )
    .map_err(|e| e.to_string())?;
    println!("  the server scanning every {}s", interval.as_secs());
    let since = chrono::Utc::now().timestamp_millis();
    let server = ServerProcess::start(&b.tool, &dir)?;
    let mut all = vec![server.pid()];
    all.extend(&pids);
    let monitored = window(&all, length).await?;
    let until = chrono::Utc::now().timestamp_millis();
    let rss = rss_mib(server.pid());
    drop(server);
    println!("  idle again over {:.1}s", length.as_secs_f64());
    let idle_after = window(&pids, length).await?;

    // Every scan must have read every node's tables: a scan that saw none measured nothing.
    let scans = scans(&db, since, until).await?;
    if scans.is_empty() {
        return Err(format!(
            "no scan recorded in the window (see {})",
            dir.display()
        ));
    }
    let mut seen = Vec::new();
    for n in &nodes {
        let mut per_scan = Vec::new();
        for (i, s) in scans.iter().enumerate() {
            match s.nodes.iter().find(|x| x.0 == n.address) {
                Some((_, status, t, _)) if status == "scanned" && *t >= tables as i64 => {
                    per_scan.push(*t)
                }
                other => {
                    return Err(format!(
                        "scan {} of the window did not see the {tables} tables of {} ({}): {:?}",
                        i + 1,
                        n.name,
                        n.address,
                        other.map(|(_, s, t, _)| format!("{s}, {t} tables"))
                    ));
                }
            }
        }
        seen.push(per_scan.into_iter().min().unwrap_or(0));
    }

    let durations: Vec<f64> = scans.iter().map(|s| s.duration).collect();
    let (dur_med, dur_max) = (
        median(&durations),
        durations.iter().copied().fold(0.0, f64::max),
    );
    let server_pct = monitored.pct(0);
    let mut ok = server_pct < FLOOR_PCT && scans.len() >= count as usize;
    r.columns = [
        "process",
        "CPU in the window (s)",
        "% of one core",
        "idle before (%)",
        "idle after (%)",
        "added by the scans (% of one core)",
        "tables seen per scan",
    ]
    .map(String::from)
    .to_vec();
    r.rows.push(vec![
        "server (mysql-tablespace-recycling server)".into(),
        format!("{:.2}", monitored.cpu[0]),
        format!("{server_pct:.2}"),
        "—".into(),
        "—".into(),
        format!("{server_pct:.2} (all of it)"),
        "—".into(),
    ]);
    let mut node_data = Vec::new();
    let mut worst_added = f64::MIN;
    for (i, n) in nodes.iter().enumerate() {
        let raw = monitored.pct(i + 1);
        let (before, after) = (idle_before.pct(i), idle_after.pct(i));
        let added = raw - (before + after) / 2.0;
        ok &= added < FLOOR_PCT;
        worst_added = worst_added.max(added);
        r.rows.push(vec![
            format!("mariadbd {} ({})", n.name, n.address),
            format!("{:.2}", monitored.cpu[i + 1]),
            format!("{raw:.2}"),
            format!("{before:.2}"),
            format!("{after:.2}"),
            format!("{added:+.2}"),
            seen[i].to_string(),
        ]);
        node_data.push(
            json!({"name": n.name, "address": n.address, "cpu_s": monitored.cpu[i + 1],
            "pct": raw, "idle_before_cpu_s": idle_before.cpu[i], "idle_before_pct": before,
            "idle_after_cpu_s": idle_after.cpu[i], "idle_after_pct": after, "added_pct": added,
            "tables_seen_min": seen[i]}),
        );
    }
    let node_secs: Vec<f64> = scans
        .iter()
        .flat_map(|s| s.nodes.iter().map(|n| n.3))
        .collect();
    r.notes.push(format!(
        "Three windows of {:.1}s each: the nodes idle, then the server running with the cluster \
         in `database.clusters` and `monitoring.metrics.interval` {}s (the defaults otherwise; \
         phase 2 reads no table this small), then the nodes idle again after the server stopped. \
         CPU is utime + stime of each process from `/proc/PID/stat`; a node's cost is its CPU \
         while scanned less the mean of its two idle windows. The server's is all the CPU it \
         used (HTTP idle, so the scans and their SQLite writes); its RSS at the end {rss:.1} MiB.",
        length.as_secs_f64(),
        interval.as_secs()
    ));
    r.notes.push(format!(
        "{} scans in the window (expected {count}), each of all 3 nodes and seeing at least \
         {tables} tables per node (the metrics store's `node_scans.tables`; the scenario fails \
         otherwise): a cluster scan took {dur_med:.3}s median, {dur_max:.3}s at most \
         (discovery and the three nodes at once); one node's catalog scan {:.3}s median.",
        scans.len(),
        median(&node_secs)
    ));
    r.notes.push(format!(
        "The machine's 1-minute load average at the end of each window: {:.2} idle before, {:.2} \
         scanned, {:.2} idle after (another engineer's builds may share the two cores; CPU \
         seconds per process are little affected by that, wall times are).",
        idle_before.load, monitored.load, idle_after.load
    ));
    r.verdict = verdict(
        ok,
        format!(
            "server {server_pct:.2}% of one core, each node at most {worst_added:+.2}% over \
             idle, {} scans of 3 × {tables} tables ({dur_med:.2}s each)",
            scans.len()
        ),
    );
    r.data = json!({
        "interval_s": interval.as_secs(), "window_s": length.as_secs_f64(), "tables": tables,
        "rows_per_table": rows,
        "server": {"cpu_s": monitored.cpu[0], "pct": server_pct, "rss_mib": rss},
        "nodes": node_data,
        "scans": scans.iter().map(|s| json!({"duration_s": s.duration,
            "nodes": s.nodes.iter().map(|n| json!({"node": n.0, "status": n.1, "tables": n.2,
                "duration_s": n.3})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "walls_s": [idle_before.wall, monitored.wall, idle_after.wall],
        "load_1m": [idle_before.load, monitored.load, idle_after.load],
    });
    Ok(r)
}
