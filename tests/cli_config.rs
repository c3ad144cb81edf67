//! Config handling through the binary: error codes, unknown keys, missing files. No database.

mod common;

use common::cli;

#[test]
fn unknown_key_is_error_1001_naming_its_path() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("config.yaml"),
        "recycling:\n  defaults:\n    treshold_mb: 5\n",
    )
    .unwrap();
    let out = cli(&work)
        .args(["topology", "--host", "127.0.0.1", "--user", "u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "error[1001]: ./config.yaml: unknown config key `recycling.defaults.treshold_mb`"
        ),
        "{err}"
    );
}

#[test]
fn explicit_missing_config_is_1001_default_missing_is_fine() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .args([
            "--config",
            "missing.yaml",
            "sandbox",
            "status",
            "--dir",
            "nowhere",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[1001]: config file missing.yaml not found"),
        "{err}"
    );
    // Same through the environment.
    let out = cli(&work)
        .env("RECYCLER_CONFIG_FILE", "missing.yaml")
        .args(["sandbox", "status", "--dir", "nowhere"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("config file missing.yaml not found"));
    // No config at the default path: defaults; the command itself then fails on the sandbox.
    let out = cli(&work)
        .args(["sandbox", "status", "--dir", "nowhere"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no sandbox at nowhere"), "{err}");
}

#[test]
fn bad_flags_are_1001_and_bad_env_values_too() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work).args(["topology", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[1001]: unexpected argument"));
    let out = cli(&work)
        .env("RECYCLER_LOG_LEVEL", "loud")
        .args(["sandbox", "status", "--dir", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[1001]") && err.contains("logging.level"),
        "{err}"
    );
    // The flag beats the environment: the config resolves with the flag's level, so the command
    // itself runs (and fails on the missing sandbox, which the log file records).
    let out = cli(&work)
        .env("RECYCLER_LOG_LEVEL", "loud")
        .args(["--log-level", "warn", "sandbox", "status", "--dir", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error[1001]: no sandbox at x") && !err.contains("logging.level"),
        "{err}"
    );
    let log = std::fs::read_to_string(work.path().join("logs/recycling.log")).unwrap();
    assert!(
        log.contains(" ERROR outcome: no sandbox at x"),
        "the failure is in the log file: {log}"
    );
}

#[test]
fn missing_user_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .args(["topology", "--host", "h"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[1001]: --user is required"));
}

#[test]
fn commands_that_only_act_refuse_dry_run() {
    let work = tempfile::tempdir().unwrap();
    for args in [&["server", "--port", "0"][..], &["demo"][..]] {
        let out = cli(&work)
            .env("RECYCLER_DRY_RUN", "true")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error[1001]") && err.contains("no --dry-run"),
            "{args:?}: {err}"
        );
    }
}

/// Issue 11.5 and 11.8 through the binary: a size that would overflow and settings that cannot
/// work are refused with 1001 naming the key or flag, before anything connects.
#[test]
fn settings_that_cannot_work_are_1001_naming_the_key() {
    for (config, key) in [
        ("server:\n  read_timeout: 0s\n", "server.read_timeout"),
        (
            "recycling:\n  concurrency:\n    worker_timeout: 0s\n",
            "recycling.concurrency.worker_timeout",
        ),
        (
            "monitoring:\n  alerts:\n    webhook_url: \"ftp:nowhere\"\n",
            "monitoring.alerts.webhook_url",
        ),
        (
            "database:\n  clusters:\n    - {name: a, primary: {host: h, port: 1, username: u}}\n    - {name: a, primary: {host: g, port: 2, username: u}}\n",
            "database.clusters[1].name",
        ),
        (
            "recycling:\n  defaults:\n    timeout: 3600\n",
            "recycling.defaults.timeout",
        ),
        (
            "recycling:\n  defaults:\n    threshold_mb: 17592186044416\n",
            "recycling.defaults.threshold_mb",
        ),
    ] {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("config.yaml"), config).unwrap();
        let out = cli(&work)
            .args([
                "topology",
                "--host",
                "127.0.0.1",
                "--port",
                "1",
                "--user",
                "u",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{config}: {err}");
        assert!(
            err.starts_with("error[1001]") && err.contains(key),
            "{key}: {err}"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let out = cli(&work)
        .args(["plan", "--host", "127.0.0.1", "--port", "1", "--user", "u"])
        .args(["--threshold-mb", "17592186044416"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error[1001]") && err.contains("--threshold-mb"),
        "{err}"
    );
}

/// A host or port nothing could connect to is an input error (1001), not a connection failure.
#[test]
fn a_malformed_host_or_port_is_1001() {
    let work = tempfile::tempdir().unwrap();
    for args in [
        ["--host", "db\u{1}x", "--port", "3306"],
        ["--host", "127.0.0.1", "--port", "0"],
    ] {
        let out = cli(&work)
            .arg("topology")
            .args(args)
            .args(["--user", "u"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.starts_with("error[1001]"), "{err}");
        assert!(!err.contains('\u{1}'), "the host is not echoed: {err}");
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bool_flags_take_their_value_after_a_space_as_the_spec_writes_them() {
    let work = tempfile::tempdir().unwrap();
    let port = closed_port().to_string();
    for flag in [
        &["--exclude-primary", "false"][..],
        &["--exclude-primary=false"],
        &["--exclude-primary"],
    ] {
        let out = cli(&work)
            .args([
                "plan",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--user",
                "u",
            ])
            .args(flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Parsed: the command went on to connect (1002), not a usage error (1001).
        assert_eq!(out.status.code(), Some(1), "{flag:?}: {err}");
        assert!(
            err.starts_with("error[1002]: cannot connect"),
            "{flag:?}: {err}"
        );
    }
    let out = cli(&work)
        .args([
            "plan",
            "--exclude-primary",
            "maybe",
            "--host",
            "h",
            "--user",
            "u",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error[1001]: invalid value 'maybe'"),
        "{err}"
    );
}

#[test]
fn format_and_output_format_are_both_accepted_where_a_command_prints() {
    let work = tempfile::tempdir().unwrap();
    for flag in ["--format", "--output-format"] {
        let out = cli(&work).args(["status", flag, "json"]).output().unwrap();
        assert!(out.status.success(), "status {flag}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v.is_array(), "status {flag}: {v}");
        let out = cli(&work)
            .args(["sandbox", "status", "--dir", "nowhere", flag, "json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("unexpected argument"),
            "sandbox status {flag}: {err}"
        );
    }
    let port = closed_port().to_string();
    for cmd in [&["topology"][..], &["plan"]] {
        let out = cli(&work)
            .args(cmd)
            .args([
                "--format",
                "json",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--user",
                "u",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error[1002]"), "{cmd:?} --format: {err}");
    }
}
