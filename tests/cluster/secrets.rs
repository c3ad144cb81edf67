//! The secrets sweep (issue 11): one run of every command and of every endpoint with a distinctive
//! password — given as a flag, in the environment, in a REST body and in a config cluster — then
//! no file the tool wrote (plans, logs, the SQLite store and its WAL), no output and no response
//! contains it, raw or encoded (base64 at every alignment, hex).

use crate::common::{PASSWORD, USER, cli, cli_std, cluster, serial, target_args};
use mysql_tablespace_recycling::sandbox::fragment::{Pattern, TableSpec};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Every form in which the password could hide in a text: itself, hex, and base64 (standard
/// and URL-safe) at each of the three alignments it can have inside a longer encoded value.
fn forms() -> Vec<String> {
    let pw = PASSWORD.as_bytes();
    let mut v = vec![
        PASSWORD.to_string(),
        pw.iter().map(|b| format!("{b:02x}")).collect(),
        pw.iter().map(|b| format!("{b:02X}")).collect(),
    ];
    for lead in 0..3 {
        let mut data = vec![b'x'; lead];
        data.extend_from_slice(pw);
        let enc = base64(&data);
        // Drop the characters that also encode the leading bytes, and the last group, which
        // depends on what follows.
        let skip = (lead * 4).div_ceil(3);
        let core: String = enc.chars().skip(skip).take(enc.len() - skip - 4).collect();
        v.push(core.clone());
        v.push(core.replace('+', "-").replace('/', "_"));
    }
    v
}

/// Panics naming `what` when `text` holds the password in any form.
fn assert_clean(what: &str, text: &[u8]) {
    let t = String::from_utf8_lossy(text);
    for f in forms() {
        assert!(!t.contains(&f), "{what} holds the password (as {f:?})");
    }
}

/// Kills the server when dropped, so a failing assertion leaves no process behind.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    [base, more].concat()
}

/// Every file under `dir` but `except`, recursively.
fn files(dir: &Path, except: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, except, out);
        } else if p != except {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_appears_in_no_file_output_or_response() {
    let _g = serial().await;
    let c = cluster();
    // t for the CLI's apply, u for the server's.
    c.fragment(&[
        TableSpec::sized("sweep", "t", 4, Pattern::RandomDelete { keep_every: 10 }),
        TableSpec::sized("sweep", "u", 4, Pattern::RandomDelete { keep_every: 10 }),
    ])
    .await;
    let (primary, node) = (c.primary(), c.replica(2));
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // The one file that holds the password is the config the operator wrote.
    let config_file = w.join("config.yaml");
    std::fs::write(
        &config_file,
        format!(
            "server:\n  host: 127.0.0.1\nlogging:\n  level: trace\ndatabase:\n  clusters:\n    \
             - name: sb\n      primary: {{host: {}, port: {}, username: {USER}, password: \
             \"{PASSWORD}\"}}\n",
            primary.host, primary.port
        ),
    )
    .unwrap();
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    // Runs a command, asserts its exit code and that it printed `shows` (so a crash cannot
    // pass for a clean output), keeps its output for the sweep.
    let mut run = |name: &str, args: &[&str], env_password: bool, code: i32, shows: &str| {
        let mut cmd = cli(&work);
        if env_password {
            cmd.env("RECYCLER_DB_PASSWORD", PASSWORD);
        }
        let o = cmd.args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.status.code(), Some(code), "{name}: {text}");
        assert!(text.contains(shows), "{name} shows {shows:?}: {text}");
        outputs.push((format!("{name} stdout"), o.stdout));
        outputs.push((format!("{name} stderr"), o.stderr));
    };
    let t = target_args(&node);
    let t: Vec<&str> = t.iter().map(String::as_str).collect();
    let plan = w.join("p.yaml");
    let plan_s = plan.to_str().unwrap();
    let pj = w.join("p.json");
    let pj_s = pj.to_str().unwrap();
    let low = ["--database", "sweep", "--table", "t", "--threshold-mb", "1"];
    let primary_addr = primary.to_string();
    run(
        "topology",
        &with(&["topology"], &t),
        false,
        0,
        &format!("{primary_addr}  master"),
    );
    run(
        "topology json",
        &["topology", "--cluster", "sb", "--output-format", "json"],
        false,
        0,
        "\"cluster_name\": \"sb\"",
    );
    run(
        "plan",
        &with(&with(&["plan"], &t), &with(&low, &["--out", plan_s])),
        false,
        0,
        "sweep.t",
    );
    let host_port = [
        "--host",
        &node.host,
        "--port",
        &node.port.to_string(),
        "--user",
        USER,
    ]
    .map(str::to_string);
    let hp: Vec<&str> = host_port.iter().map(String::as_str).collect();
    run(
        "plan (env password)",
        &with(&with(&["plan"], &hp), &with(&low, &["--out", pj_s])),
        true,
        0,
        "sweep.t",
    );
    for (f, shows) in [
        ("table", "sweep.t"),
        ("json", "\"table\": \"t\""),
        ("yaml", "table: t"),
    ] {
        run(
            "show",
            &["show", plan_s, "--output-format", f],
            false,
            0,
            shows,
        );
    }
    run("check", &["check", plan_s], false, 0, "finding(s)");
    run(
        "diff",
        &["diff", plan_s, pj_s],
        false,
        0,
        "0 added, 0 removed, 0 changed",
    );
    let creds = ["--user", USER, "--password", PASSWORD];
    run(
        "dry-run apply",
        &with(&["--dry-run", "apply", plan_s], &creds),
        false,
        0,
        "ALTER TABLE `sweep`.`t`",
    );
    run(
        "apply",
        &with(
            &["apply", plan_s, "--yes", "--output-format", "json"],
            &creds,
        ),
        false,
        0,
        "\"status\": \"done\"",
    );
    // Rebuilt by the apply: nothing qualifies any more.
    run(
        "recycle dry-run",
        &with(&with(&["--dry-run", "recycle"], &t), &low),
        false,
        0,
        "total: 0 action(s)",
    );
    run(
        "wrong password",
        &[
            "topology",
            "--host",
            &node.host,
            "--port",
            &node.port.to_string(),
            "--user",
            USER,
            "--password",
            &format!("{PASSWORD}-wrong"),
        ],
        false,
        1,
        "access denied",
    );
    run("status", &["status"], false, 0, "completed");
    run(
        "status json",
        &["status", "--format", "json"],
        false,
        0,
        "\"status\": \"completed\"",
    );
    run(
        "monitor",
        &["monitor", "--count", "1", "--output-format", "json"],
        false,
        0,
        "\"jobs\":[]",
    );

    // Every endpoint, with the password in every body that takes one.
    let mut server = Reaped(
        cli_std(w)
            .args(["server", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(w.join("server.stderr")).unwrap(),
            ))
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let mut responses: Vec<(String, String)> = Vec::new();
    let target =
        json!({"host": node.host, "port": node.port, "username": USER, "password": PASSWORD});
    // Sends a request, asserts its status (so an error page cannot pass for a clean answer),
    // keeps the response for the sweep.
    let mut call = async |m: reqwest::Method, path: &str, body: Option<Value>, want: u16| {
        let mut r = http.request(m.clone(), format!("{base}{path}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(status, want, "{m} {path}: {text}");
        responses.push((format!("{m} {path}"), text.clone()));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    use reqwest::Method as M;
    call(M::GET, "/api/v1/health", None, 200).await;
    // Discover takes the login at the top level (spec §3.2.1), or a cluster of the config.
    let d = call(
        M::POST,
        "/api/v1/topology/discover",
        Some(target.clone()),
        200,
    )
    .await;
    assert_eq!(d["data"]["topology"]["master"]["port"], primary.port, "{d}");
    call(
        M::POST,
        "/api/v1/topology/discover",
        Some(json!({"cluster": "sb"})),
        200,
    )
    .await;
    let d = call(
        M::POST,
        "/api/v1/topology/discover",
        Some(json!({"host": node.host, "port": node.port, "username": USER, "password": format!("{PASSWORD}-wrong")})),
        500,
    )
    .await;
    assert_eq!(d["code"], 1002, "{d}");
    let config = json!({"databases": ["sweep"], "tables": ["u"], "threshold_mb": 1});
    let p = call(
        M::POST,
        "/api/v1/plans",
        Some(json!({"target": target, "config": config})),
        201,
    )
    .await;
    let plan_id = p["data"]["plan_id"].as_str().expect("plan id").to_string();
    assert_eq!(p["data"]["summary"]["actions"], 1, "{p}");
    call(M::GET, &format!("/api/v1/plans/{plan_id}"), None, 200).await;
    // The config's cluster names the primary: planned cluster-wide, the replicas are.
    let p = call(
        M::POST,
        "/api/v1/plans",
        Some(
            json!({"cluster": "sb", "config": {"databases": ["sweep"], "tables": ["u"],
                    "threshold_mb": 1, "scope": "cluster"}}),
        ),
        201,
    )
    .await;
    assert_eq!(p["data"]["summary"]["actions"], 3, "{p}");
    let j = call(
        M::POST,
        "/api/v1/recycle/jobs",
        Some(json!({"target": target, "config": config, "dry_run": true})),
        201,
    )
    .await;
    let dry = j["data"]["job_id"].as_str().expect("job id").to_string();
    let j = call(
        M::POST,
        "/api/v1/recycle/jobs",
        Some(json!({"plan_id": plan_id, "credentials": {"username": USER, "password": PASSWORD}})),
        201,
    )
    .await;
    let job = j["data"]["job_id"].as_str().expect("job id").to_string();
    // Let the jobs end, then look at them every way there is.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for id in [&dry, &job] {
        loop {
            let v = call(M::GET, &format!("/api/v1/recycle/jobs/{id}"), None, 200).await;
            let s = v["data"]["status"].as_str().unwrap_or("");
            if ["completed", "failed", "cancelled"].contains(&s) {
                assert_eq!(s, "completed", "{v}");
                break;
            }
            assert!(std::time::Instant::now() < end, "job {id} never ended: {v}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    call(M::GET, "/api/v1/recycle/jobs?limit=50", None, 200).await;
    // The job is finished: these are refused (1007), their answers swept all the same.
    for suffix in ["/pause", "/resume"] {
        call(
            M::POST,
            &format!("/api/v1/recycle/jobs/{job}{suffix}"),
            None,
            400,
        )
        .await;
    }
    call(
        M::PATCH,
        &format!("/api/v1/recycle/jobs/{job}"),
        Some(json!({"max_lag": "5s"})),
        400,
    )
    .await;
    call(M::DELETE, &format!("/api/v1/recycle/jobs/{job}"), None, 400).await;
    call(M::GET, "/api/v1/openapi.json", None, 200).await;
    call(M::GET, "/metrics", None, 200).await;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    server.0.wait().unwrap();

    assert!(
        responses.len() >= 18 && outputs.len() == 32,
        "the sweep ran ({} responses, {} outputs)",
        responses.len(),
        outputs.len()
    );
    for (what, text) in &responses {
        assert_clean(&format!("the response to {what}"), text.as_bytes());
    }
    for (what, text) in &outputs {
        assert_clean(what, text);
    }
    let mut written = Vec::new();
    files(w, &config_file, &mut written);
    let names: Vec<String> = written
        .iter()
        .map(|p| p.strip_prefix(w).unwrap().display().to_string())
        .collect();
    for must in ["p.yaml", "p.json", "logs/recycling.log", "data/jobs.db"] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} not among {names:?}"
        );
    }
    for p in &written {
        assert_clean(&p.display().to_string(), &std::fs::read(p).unwrap());
    }
    // And the sweep can see a password when there is one.
    assert!(
        std::panic::catch_unwind(|| assert_clean(
            "a control",
            base64(PASSWORD.as_bytes()).as_bytes()
        ))
        .is_err()
    );
}
