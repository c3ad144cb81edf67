//! Results: `bench/results.json` (merged across runs of single scenarios) and `BENCHMARKS.md`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One scenario's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub target: String,
    /// "met", or "missed: …" with the number.
    pub verdict: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
    pub reproduce: String,
    /// Raw numbers (seconds, bytes) for scripts.
    pub data: serde_json::Value,
    pub measured_at: String,
    pub smoke: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Results {
    pub machine: BTreeMap<String, String>,
    pub scenarios: BTreeMap<String, ScenarioResult>,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What this machine is.
pub fn machine() -> BTreeMap<String, String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1_048_576.0))
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| {
            l.trim_start_matches("PRETTY_NAME=")
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert("cpu".into(), model);
    m.insert("cores".into(), sh("nproc", &[]));
    m.insert("memory".into(), mem);
    m.insert("os".into(), os);
    m.insert("kernel".into(), sh("uname", &["-r"]));
    m.insert("mariadb".into(), sh("mariadbd", &["--version"]));
    m.insert("tool".into(), env!("CARGO_PKG_VERSION").into());
    m
}

/// Merges `new` into `out/bench/results.json` and rewrites `out/BENCHMARKS.md`.
pub fn write(out: &Path, new: Vec<ScenarioResult>) -> Result<(), String> {
    let json_path = out.join("bench/results.json");
    let mut results: Results = std::fs::read_to_string(&json_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    // Only a run that measured something describes the machine; `--report` keeps the one the
    // stored numbers were measured on.
    if !new.is_empty() || results.machine.is_empty() {
        results.machine = machine();
    }
    for r in new {
        results.scenarios.insert(r.id.clone(), r);
    }
    std::fs::create_dir_all(json_path.parent().unwrap_or(out)).map_err(|e| e.to_string())?;
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&results).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(out.join("BENCHMARKS.md"), markdown(&results, out))
        .map_err(|e| e.to_string())?;
    println!(
        "wrote {} and {}",
        json_path.display(),
        out.join("BENCHMARKS.md").display()
    );
    Ok(())
}

fn markdown(r: &Results, out: &Path) -> String {
    let mut s = String::from(
        "# Benchmarks\n\nMeasured by the harness in this repository (`examples/bench`), each figure \
         side by side with its baseline in the same run, on a sandbox cluster the harness builds \
         itself (a MariaDB primary and three replicas on one machine). Times are medians of the \
         runs given; raw numbers are in [`bench/results.json`](bench/results.json).\n\n\
         Reproduce everything with `scripts/bench all` (or one scenario: `scripts/bench b2`; \
         `--runs N` to change the number of runs). CI runs `scripts/bench all --smoke` with tiny \
         sizes only to keep the harness working; it asserts no timings.\n\n\
         **One machine, shared cores.** All sandbox nodes share the same 2 cores and one disk, so \
         work on several nodes at once gains far less than on real separate hosts (measured here: \
         three 250 MiB rebuilds at once took 0.85× the time of mysqlcheck on the three replicas \
         in turn). That is why each target is set against a floor measured in the same run, and \
         why ratios to the one-after-another baselines are reported but not targeted.\n\n## Machine\n\n",
    );
    for (k, v) in &r.machine {
        s.push_str(&format!("- {k}: {v}\n"));
    }
    for id in ["b1", "b2", "b2b", "b3", "b4", "b5", "b6", "b7", "b8"] {
        let Some(x) = r.scenarios.get(id) else {
            continue;
        };
        s.push_str(&format!(
            "\n## {} — {}\n\nTarget: {}  \nResult: **{}**{}  \nReproduce: `{}`  \nMeasured: {}\n\n",
            id.to_uppercase(),
            x.title,
            x.target,
            x.verdict,
            if x.smoke {
                " (smoke size: not a measurement)"
            } else {
                ""
            },
            x.reproduce,
            x.measured_at
        ));
        s.push_str(&format!("| {} |\n", x.columns.join(" | ")));
        s.push_str(&format!("|{}\n", " --- |".repeat(x.columns.len())));
        for row in &x.rows {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        for n in &x.notes {
            s.push_str(&format!("\n{n}\n"));
        }
        // Hand-written analysis kept next to the results (`bench/notes/<id>.md`).
        if let Ok(analysis) = std::fs::read_to_string(out.join(format!("bench/notes/{id}.md"))) {
            s.push('\n');
            s.push_str(analysis.trim_end());
            s.push('\n');
        }
    }
    s
}
