//! The benchmark harness: builds its own sandbox cluster and data, measures each figure side by
//! side with its baseline in the same run, and writes `BENCHMARKS.md` plus `bench/results.json`.
//!
//! ```text
//! scripts/bench [all|b1|b2|b2b|b3|b4|b5|b6|b7|b8]... [--runs 3] [--smoke] [--out DIR]
//! ```
//!
//! `--smoke` uses tiny sizes so CI can keep the harness working; it asserts nothing about time.
//! Scenarios run later merge into the existing results file, so one scenario can be re-measured
//! without redoing the others.

mod cost;
mod report;
mod scenarios;
mod util;
mod windows;

use std::path::PathBuf;

/// Parsed command line.
pub struct Args {
    pub scenarios: Vec<String>,
    pub runs: usize,
    pub smoke: bool,
    pub out: PathBuf,
    /// B1 table counts (default 1000, 20000, 100000; smoke 20, 60).
    pub b1_sizes: Option<Vec<usize>>,
    /// Only re-render BENCHMARKS.md from bench/results.json (and bench/notes/).
    pub report_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut scenarios = Vec::new();
    let mut runs = 3;
    let mut smoke = false;
    let mut out = None;
    let mut b1_sizes = None;
    let mut report_only = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--runs needs a number")?
            }
            "--smoke" => smoke = true,
            "--report" => report_only = true,
            "--b1-sizes" => {
                let v = it.next().ok_or("--b1-sizes needs a list like 1000,5000")?;
                b1_sizes = Some(
                    v.split(',')
                        .map(|x| x.trim().parse().map_err(|_| format!("bad size {x:?}")))
                        .collect::<Result<Vec<usize>, String>>()?,
                );
            }
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a directory")?)),
            "all" => scenarios
                .extend(["b1", "b2", "b2b", "b3", "b4", "b5", "b6", "b7", "b8"].map(String::from)),
            "b1" | "b2" | "b2b" | "b3" | "b4" | "b5" | "b6" | "b7" | "b8" => scenarios.push(a),
            "-h" | "--help" => {
                return Err(
                    "usage: bench [all|b1|b2|b2b|b3|b4|b5|b6|b7|b8]... [--runs N] [--smoke] [--out DIR] [--b1-sizes 1000,5000] [--report]".into(),
                );
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if scenarios.is_empty() {
        scenarios.extend(["b1", "b2", "b2b", "b3", "b4", "b5", "b6", "b7", "b8"].map(String::from));
    }
    scenarios.dedup();
    let out = out.unwrap_or_else(|| {
        if smoke {
            PathBuf::from("target/bench-smoke")
        } else {
            PathBuf::from(".")
        }
    });
    Ok(Args {
        scenarios,
        runs: if smoke { 1 } else { runs.max(1) },
        smoke,
        out,
        b1_sizes,
        report_only,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if args.report_only {
        if let Err(e) = report::write(&args.out, Vec::new()) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    match rt.block_on(scenarios::run_all(&args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
