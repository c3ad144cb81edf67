//! The web dashboard (issue 17) in Debian's headless Chromium, driven by playwright-core
//! (`tests/browser/dashboard.mjs`, installed by `scripts/deps` with `npm ci`): against a real
//! server with a token and the sandbox cluster in its config, every page loads and shows the
//! real cluster, nodes and tables (6 of 20 MiB, so the job runs for seconds); a plan is made from the form, checked and diffed against one
//! made before; a job from it is paused and resumed from the page while its progress rises on
//! screen. Screenshots of every page go to `target/browser/`.

use crate::common::{cluster, serial};
use crate::monitoring::{Server, nodes};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use mysql_tablespace_recycling::secret::Secret;
use mysql_tablespace_recycling::settings::HumanDuration;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SCHEMA: &str = "dash_s";
const TOKEN: &str = "dash-Tok3n";
const TABLES: [&str; 6] = ["t1", "t2", "t3", "t4", "t5", "t6"];

/// `target/` of this build (the test binary is `target/<profile>/deps/…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

async fn call(server: &Server, m: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut r = reqwest::Client::new()
        .request(m, format!("{}{path}", server.base))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert!(status < 300, "{path}: {status} {v}");
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_real_cluster_and_a_live_job_in_headless_chromium() {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/deps (npm ci in tests/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/deps (apt-get install chromium)"
    );
    let _g = serial().await;
    let c = cluster();
    let specs: Vec<TableSpec> = TABLES
        .iter()
        .map(|t| TableSpec::sized(SCHEMA, t, 20, Pattern::RandomDelete { keep_every: 3 }))
        .collect();
    c.fragment(&specs).await;
    for n in nodes().iter().skip(1) {
        c.sync_from(&c.primary(), n).await;
    }

    let server = Server::start(|cfg| {
        cfg.server.auth_token = Some(Secret::new(TOKEN));
        cfg.database.clusters[0].name = "dash".into();
        cfg.monitoring.metrics.interval = HumanDuration(Duration::from_secs(2));
        cfg.monitoring.metrics.top_tables = 1000;
    })
    .await;
    // Two scans with the tables, so the history chart has lines.
    let t = Instant::now();
    loop {
        let h = call(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/clusters/dash/fragmentation?schema={SCHEMA}"),
            None,
        )
        .await;
        let points = h["nodes"][0]["points"].as_array().map_or(0, Vec::len);
        if h["tables"].as_array().map_or(0, Vec::len) == TABLES.len() * 4 && points >= 2 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "not scanned: {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The plan the page diffs against: one table only.
    let first = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/plans",
        Some(json!({"cluster": "dash", "config": {
            "scope": "cluster", "databases": [SCHEMA], "tables": ["t1"],
            "threshold_mb": 1, "threshold_percent": 1,
        }})),
    )
    .await;
    let first = first["plan_id"].as_str().unwrap().to_string();

    let shots = target_dir().join("browser");
    let _ = std::fs::remove_dir_all(&shots);
    let addresses: Vec<String> = nodes().iter().map(ToString::to_string).collect();
    // node and the Chromium it starts in a process group of their own, all killed on a timeout.
    let child = tokio::process::Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&browser)
        .env("BASE_URL", &server.base)
        .env("API_TOKEN", TOKEN)
        .env("CLUSTER", "dash")
        .env("NODES", addresses.join(","))
        .env("SCHEMA", SCHEMA)
        .env("TABLES", TABLES.join(","))
        .env("FIRST_PLAN", &first)
        .env("SHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (scripts/deps installs nodejs)");
    let group = child.id().expect("a running child") as i32;
    let out = match tokio::time::timeout(Duration::from_secs(300), child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            panic!("the browser test ran past 300 s");
        }
    };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    for page in [
        "clusters",
        "fragmentation",
        "new-plan",
        "plan",
        "plans",
        "job-paused",
        "job",
        "jobs",
    ] {
        let f = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&f).is_ok_and(|m| m.len() > 10_000),
            "no screenshot {}",
            f.display()
        );
    }
    server.stop().await;
    c.exec(&c.primary(), &[&format!("DROP DATABASE {SCHEMA}")])
        .await;
}
