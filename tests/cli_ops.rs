//! Operating the binary (issue 16 item 9), without a database: `--version`, `completions`,
//! `man`, `--state-dir` and `--log-format json`.

mod common;

use common::cli;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn version_names_the_git_revision() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let rest = text
        .strip_prefix(concat!(
            "mysql-tablespace-recycling ",
            env!("CARGO_PKG_VERSION"),
            " ("
        ))
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{text:?}"));
    let hash = rest.strip_suffix("-dirty").unwrap_or(rest);
    assert!(
        hash == "unknown" || (hash.len() >= 7 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text:?}"
    );
    // This test runs in a git checkout: the revision is known, and is HEAD's.
    if let Ok(head) = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && head.status.success()
    {
        assert!(
            String::from_utf8_lossy(&head.stdout).starts_with(hash),
            "{text:?}"
        );
    }
}

/// The subcommands `--help` lists, completions and man among them.
const COMMANDS: [&str; 14] = [
    "topology",
    "plan",
    "show",
    "diff",
    "check",
    "apply",
    "recycle",
    "sandbox",
    "demo",
    "server",
    "status",
    "monitor",
    "completions",
    "man",
];

#[test]
fn help_lists_completions_and_man() {
    let work = tempfile::tempdir().unwrap();
    let help = stdout(&cli(&work).arg("--help").output().unwrap());
    for c in COMMANDS {
        assert!(help.contains(&format!("\n  {c} ")), "{c} missing: {help}");
    }
}

#[test]
fn completions_for_every_shell() {
    let work = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = cli(&work).args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(script.contains("mysql-tablespace-recycling"), "{shell}");
        for flag in ["--threshold-mb", "--state-dir", "--log-format"] {
            assert!(
                script.contains(flag.trim_start_matches('-')),
                "{shell}: {flag}"
            );
        }
    }
    let out = cli(&work).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[1001]: invalid value 'tcsh'"));
    // No config, log file or store is needed or made.
    assert!(!work.path().join("logs").exists() && !work.path().join("data").exists());
}

#[test]
fn the_man_page_is_roff_naming_every_command_and_man_renders_it() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work).arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    // The first macro after the quote-string definitions (`.ie`/`.el`) is the title.
    let first = page
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap();
    assert!(
        first.starts_with(".TH mysql-tablespace-recycling 1 "),
        "{first}"
    );
    for c in COMMANDS {
        assert!(
            page.contains(&format!("mysql\\-tablespace\\-recycling\\-{c}(1)")),
            "{c} missing"
        );
    }
    // One command's page, and every page into a directory.
    let plan = stdout(&cli(&work).args(["man", "plan"]).output().unwrap());
    assert!(plan.contains(".TH mysql-tablespace-recycling-plan 1") && plan.contains("threshold"));
    let up = stdout(&cli(&work).args(["man", "sandbox", "up"]).output().unwrap());
    assert!(
        up.contains(".TH mysql-tablespace-recycling-sandbox-up 1"),
        "{up}"
    );
    let out = cli(&work).args(["man", "plna"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[1001]: no command \"plna\""));
    let dir = work.path().join("man1");
    let out = cli(&work)
        .args(["man", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for name in [
        "mysql-tablespace-recycling.1",
        "mysql-tablespace-recycling-apply.1",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    // `man -l -` renders it (scripts/deps installs man-db).
    let man = std::process::Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    {
        let mut man = man.expect("man(1) (scripts/deps installs man-db)");
        use std::io::Write;
        man.stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let shown = man.wait_with_output().unwrap();
        // Bold and underline are overstruck (`N\x08N`): keep the last of each pair.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&shown.stdout).chars() {
            if c == '\x08' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(
            shown.status.success(),
            "{}",
            String::from_utf8_lossy(&shown.stderr)
        );
        assert!(
            text.contains("SYNOPSIS") && text.contains("completions"),
            "{text}"
        );
    }
}

#[test]
fn state_dir_holds_the_store_and_the_log_unless_a_path_is_given() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let out = cli(&work)
        .env_remove("RECYCLER_LOG_FILE")
        .args(["--state-dir", state.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(state.join("jobs.db").is_file());
    assert!(state.join("logs/recycling.log").is_file());
    assert!(!work.path().join("data").exists() && !work.path().join("logs").exists());
    // The environment's state dir; an explicit job store path wins over it.
    let other = work.path().join("other");
    std::fs::write(
        work.path().join("config.yaml"),
        "persistence:\n  job_state:\n    file: mine/jobs.db\n",
    )
    .unwrap();
    let out = cli(&work)
        .env_remove("RECYCLER_LOG_FILE")
        .env("RECYCLER_STATE_DIR", &other)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(work.path().join("mine/jobs.db").is_file());
    assert!(other.join("logs/recycling.log").is_file() && !other.join("jobs.db").exists());
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .args(["--log-format", "json", "--log-level", "debug"])
        .args(["sandbox", "status", "--dir", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let outcome = lines
        .iter()
        .find(|l| l["target"] == "outcome")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(outcome["level"], "ERROR");
    assert_eq!(outcome["fields"]["code"], 1001);
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("no sandbox at nowhere")
    );
    assert!(outcome["timestamp"].is_string());
    assert!(lines.iter().any(|l| l["message"] == "state paths"));
    // stderr is JSON too (not a terminal here); the error line stays as it is.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[1001]: no sandbox at nowhere"), "{err}");
    let out = cli(&work)
        .args(["--log-format", "xml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[1001]: invalid value 'xml'"));
}

/// `examples/mysql-tablespace-recycling.service`: hardened, secrets from an environment file,
/// state under the state directory; `systemd-analyze verify` accepts it (scripts/deps installs it)
/// (with ExecStart pointed at the binary under test: verify checks that it exists).
#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = include_str!("../examples/mysql-tablespace-recycling.service");
    for line in [
        "User=recycler",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/mysql-tablespace-recycling",
        "Environment=RECYCLER_STATE_DIR=/var/lib/mysql-tablespace-recycling",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "EnvironmentFile=/etc/mysql-tablespace-recycling/env",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/local/bin/mysql-tablespace-recycling --log-format json server",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // The ExecStart command line parses.
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .args(["--log-format", "json", "server", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mysql-tablespace-recycling.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/mysql-tablespace-recycling",
            env!("CARGO_BIN_EXE_mysql-tablespace-recycling"),
        ),
    )
    .unwrap();
    match std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("systemd-analyze (scripts/deps installs systemd): {e}"),
    }
}
