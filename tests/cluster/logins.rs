//! Logging in the way DBAs do, through the binary: option files and `--login-path`, their
//! precedence (flags > environment > option files > config), the mysql client's short flags, a
//! password asked on a terminal (a pty), a unix socket, per-role logins (a replica-only
//! account), and TLS against a node started with certificates the test makes.

use crate::common::{PASSWORD, USER, cli, cli_std, cluster, shared};
use mysql_tablespace_recycling::mysql::option_file::encode_login_file;
use mysql_tablespace_recycling::sandbox::{Layout, Sandbox, ServerTls, free_port_range};
use mysql_tablespace_recycling::secret::Secret;
use serde_json::Value;
use sqlx::Executor;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The addresses of a topology document's nodes, and whether every one was reached.
fn nodes(json: &[u8]) -> (Vec<String>, bool) {
    let v: Value = serde_json::from_slice(json).expect("topology JSON");
    let mut out = Vec::new();
    let mut all_reached = true;
    let mut stack = vec![v["topology"]["master"].clone()];
    while let Some(n) = stack.pop() {
        out.push(format!("{}:{}", n["host"].as_str().unwrap(), n["port"]));
        all_reached &= n.get("error").is_none_or(Value::is_null);
        stack.extend(n["slaves"].as_array().cloned().unwrap_or_default());
    }
    out.sort();
    (out, all_reached)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn option_files_and_the_login_path_log_in_flags_beat_env_beat_files_beat_config() {
    let _g = shared().await;
    let p = cluster().primary();
    let work = tempfile::tempdir().unwrap();
    let home = work.path();
    let good = format!(
        "[client]\nuser={USER}\npassword=\"{PASSWORD}\"\nhost=127.0.0.1\nport={}\n",
        p.port
    );
    let topology = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = cli(&work);
        c.arg("topology").args(args).args(["--format", "json"]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // ~/.my.cnf alone: no flag at all.
    write(&home.join(".my.cnf"), &good);
    let out = topology(&[], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(nodes(&out.stdout).0.len(), 4);
    // A wrong password in the file: refused; the environment beats it; a flag beats both.
    write(
        &home.join(".my.cnf"),
        &good.replace(PASSWORD, "wrong-in-file"),
    );
    let out = topology(&[], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("error[1002]"),
        "{err}"
    );
    assert!(err.contains("access denied"), "{err}");
    assert!(
        topology(&[], &[("RECYCLER_DB_PASSWORD", PASSWORD)])
            .status
            .success()
    );
    let out = topology(&[], &[("RECYCLER_DB_PASSWORD", "wrong-in-env")]);
    assert!(!out.status.success());
    let out = topology(
        &["--password", PASSWORD],
        &[("RECYCLER_DB_PASSWORD", "wrong-in-env")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The option file beats the config's cluster entry.
    write(
        &home.join("config.yaml"),
        &format!(
            "database:\n  clusters:\n  - name: sbx\n    primary: {{host: 127.0.0.1, port: {}, username: {USER}, password: \"{PASSWORD}\"}}\n",
            p.port
        ),
    );
    let out = topology(&["--cluster", "sbx"], &[]);
    assert!(
        !out.status.success(),
        "the file's wrong password is used over the config's"
    );
    let out = topology(&["--cluster", "sbx", "--no-defaults"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --defaults-file replaces ~/.my.cnf; --defaults-extra-file is read after it.
    write(&home.join("only.cnf"), &good);
    assert!(
        topology(&["--defaults-file", "only.cnf"], &[])
            .status
            .success()
    );
    write(
        &home.join("extra.cnf"),
        &format!("[mysql-tablespace-recycling]\npassword={PASSWORD}\n"),
    );
    assert!(
        topology(&["--defaults-extra-file", "extra.cnf"], &[])
            .status
            .success()
    );
    let out = topology(&["--defaults-file", "missing.cnf"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[1001]") && err.contains("missing.cnf not found"),
        "{err}"
    );
    // --login-path reads mysql_config_editor's obfuscated ~/.mylogin.cnf.
    std::fs::remove_file(home.join(".my.cnf")).unwrap();
    std::fs::write(
        home.join(".mylogin.cnf"),
        encode_login_file(
            &format!(
                "[sbx]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\nhost = \"127.0.0.1\"\nport = {}\n",
                p.port
            ),
            *b"k3y-of-twenty-bytes!",
        ),
    )
    .unwrap();
    let out = topology(&["--login-path", "sbx"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = topology(&[], &[]);
    assert!(
        !out.status.success(),
        "without --login-path, [sbx] is not read"
    );
}

#[tokio::test]
async fn the_mysql_client_short_flags_work() {
    let _g = shared().await;
    let p = cluster().primary();
    let work = tempfile::tempdir().unwrap();
    let port = p.port.to_string();
    let pw = format!("-p{PASSWORD}");
    for args in [
        vec!["-h", "127.0.0.1", "-P", &port, "-u", USER, &pw],
        vec![
            "-h127.0.0.1",
            "-P",
            &port,
            "-u",
            USER,
            "--password",
            PASSWORD,
        ],
    ] {
        let out = cli(&work)
            .arg("topology")
            .args(&args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(nodes(&out.stdout).0.len(), 4);
    }
    // --help is still the help; -h without a host is an error, not the help.
    let out = cli(&work).args(["topology", "--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-h, --host <HOST>"));
    let out = cli(&work).args(["topology", "-h"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Runs the binary on a pty (`script`), types `typed` once the prompt is on screen, and
/// returns (exit status, everything the terminal showed).
fn on_a_terminal(work: &Path, args: &[String], typed: &str) -> (bool, String) {
    let bin = env!("CARGO_BIN_EXE_mysql-tablespace-recycling");
    let line = std::iter::once(bin.to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(work)
        .env("HOME", work)
        .env_remove("RECYCLER_DB_PASSWORD")
        .env("RECYCLER_LOG_FILE", work.join("logs/recycling.log"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stdin = child.stdin.take();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(b) => shown.extend(b),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {}
        }
        if let Some(mut s) =
            stdin.take_if(|_| String::from_utf8_lossy(&shown).contains("Enter password"))
        {
            // The prompt is up, echo is off: type the password.
            s.write_all(format!("{typed}\n").as_bytes()).unwrap();
            // Kept open until the end: script(1) ends the session when its input closes.
            std::mem::forget(s);
        }
    }
    let ok = child.wait().unwrap().success();
    (ok, String::from_utf8_lossy(&shown).into_owned())
}

#[tokio::test]
async fn a_bare_p_asks_on_the_terminal_without_echo() {
    let _g = shared().await;
    let p = cluster().primary();
    let work = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "topology",
        "-h",
        "127.0.0.1",
        "-P",
        &p.port.to_string(),
        "-u",
        USER,
        "-p",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (ok, shown) = on_a_terminal(work.path(), &args, PASSWORD);
    assert!(ok, "{shown}");
    assert!(
        shown.contains(&format!("Enter password for {USER}: ")),
        "{shown}"
    );
    assert!(
        !shown.contains(PASSWORD),
        "the typed password was echoed: {shown}"
    );
    assert!(shown.contains("\"topology\""), "{shown}");
    // --ask-pass, and a wrong password typed is refused like a wrong one given.
    let mut args = args;
    args.retain(|a| a != "-p");
    args.push("--ask-pass".into());
    let (ok, shown) = on_a_terminal(work.path(), &args, "not-the-password");
    assert!(!ok && shown.contains("error[1002]"), "{shown}");
}

#[tokio::test]
async fn a_unix_socket_reaches_the_node_and_its_port_is_asked_of_the_server() {
    let _g = shared().await;
    let c = cluster();
    let socket = c.sandbox.node(0).socket;
    let work = tempfile::tempdir().unwrap();
    // No host, no port: host localhost through the socket (TCP would have reached port 3306).
    let out = cli(&work)
        .args(["topology", "-S"])
        .arg(&socket)
        .args(["-u", USER, "--password", PASSWORD, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (addrs, reached) = nodes(&out.stdout);
    assert!(reached, "{addrs:?}");
    assert_eq!(addrs.len(), 4, "{addrs:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["topology"]["master"]["port"], c.primary().port, "{v}");
}

/// Creates `user` on node `i` only (not binlogged).
async fn user_on(i: usize, user: &str, password: &str) {
    let c = cluster();
    let mut conn = c.sandbox.admin(&c.sandbox.node(i)).await.unwrap();
    for s in [
        "SET SESSION sql_log_bin = 0".to_string(),
        format!("CREATE OR REPLACE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
        format!("GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'"),
    ] {
        conn.execute(s.as_str()).await.unwrap();
    }
}

async fn drop_user_on(i: usize, user: &str) {
    let c = cluster();
    let mut conn = c.sandbox.admin(&c.sandbox.node(i)).await.unwrap();
    conn.execute("SET SESSION sql_log_bin = 0").await.unwrap();
    conn.execute(format!("DROP USER IF EXISTS '{user}'@'%'").as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn replicas_log_in_with_a_replica_only_account() {
    let _g = shared().await;
    let c = cluster();
    let p = c.primary();
    user_on(0, "mtr_ponly", "pw-primary").await;
    for i in 1..4 {
        user_on(i, "mtr_ronly", "pw-replica").await;
    }
    let work = tempfile::tempdir().unwrap();
    let port = p.port.to_string();
    let base = [
        "topology",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "-u",
        "mtr_ponly",
        "--password",
        "pw-primary",
        "--format",
        "json",
    ];
    // One login for all: the replicas refuse it.
    let out = cli(&work).args(base).output().unwrap();
    let (addrs, reached) = nodes(&out.stdout);
    assert!(!reached, "the replicas do not know mtr_ponly: {addrs:?}");
    // A replica login: every node is reached, each with its own account.
    let out = cli(&work)
        .args(base)
        .args([
            "--replica-user",
            "mtr_ronly",
            "--replica-password",
            "pw-replica",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (addrs, reached) = nodes(&out.stdout);
    assert!(reached && addrs.len() == 4, "{addrs:?}");
    // The same from the config: clusters[].replica.
    std::fs::write(
        work.path().join("config.yaml"),
        format!(
            "database:\n  clusters:\n  - name: sbx\n    primary: {{host: 127.0.0.1, port: {port}, username: mtr_ponly, password: pw-primary}}\n    replica: {{username: mtr_ronly, password: pw-replica}}\n"
        ),
    )
    .unwrap();
    let out = cli(&work)
        .args(["topology", "--cluster", "sbx", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (addrs, reached) = nodes(&out.stdout);
    assert!(reached && addrs.len() == 4, "{addrs:?}");
    drop_user_on(0, "mtr_ponly").await;
    for i in 1..4 {
        drop_user_on(i, "mtr_ronly").await;
    }
}

#[tokio::test]
async fn a_password_on_the_command_line_is_hidden_from_proc_cmdline() {
    let _g = shared().await;
    // A node that accepts and never answers: the tool sits in its connect while we look.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let work = tempfile::tempdir().unwrap();
    for pw in ["--password=Hide-me-4711", "-pHide-me-4711"] {
        let mut child = cli_std(work.path())
            .args(["topology", "-h", "127.0.0.1", "-P", &port, "-u", "u", pw])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Connecting means the arguments were parsed.
        let (_conn, _) = listener.accept().unwrap();
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let _ = child.kill();
        let _ = child.wait();
        assert!(!cmdline.contains("Hide-me-4711"), "{cmdline}");
        assert!(cmdline.contains("xxxxxxxxxxxx"), "{cmdline}");
    }
}

/// A CA, a server certificate it signed for 127.0.0.1 and localhost, and another CA.
fn certificates(dir: &Path) -> (ServerTls, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca = |name: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        (p, key, cert)
    };
    let (ca_params, ca_key, ca_cert) = ca("mtr test CA");
    let (_, _, other_cert) = ca("another CA");
    let mut sp =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    sp.distinguished_name
        .push(rcgen::DnType::CommonName, "mtr sandbox");
    let server_key = KeyPair::generate().unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_cert = sp.signed_by(&server_key, &issuer).unwrap();
    let files = ServerTls {
        cert: dir.join("server-cert.pem"),
        key: dir.join("server-key.pem"),
        ca: dir.join("ca.pem"),
    };
    std::fs::write(&files.cert, server_cert.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    let other = dir.join("other-ca.pem");
    std::fs::write(&other, other_cert.pem()).unwrap();
    (files, other)
}

/// A one-node sandbox of this test's own, destroyed when dropped.
struct OwnSandbox(Sandbox);

impl Drop for OwnSandbox {
    fn drop(&mut self) {
        self.0.destroy_now();
    }
}

#[tokio::test]
async fn verify_identity_connects_with_the_right_ca_and_a_wrong_ca_is_1002_saying_so() {
    let _g = shared().await;
    let dir = tempfile::Builder::new()
        .prefix("mtr-tls-")
        .tempdir()
        .unwrap();
    let (files, other_ca) = certificates(dir.path());
    let ca = files.ca.clone();
    let sb = OwnSandbox(Sandbox::new(
        dir.path().join("sandbox"),
        Layout {
            base_port: free_port_range(1).unwrap(),
            replicas: 0,
            chain: false,
            user: USER.into(),
            tls: Some(files),
        },
    ));
    sb.0.up(&Secret::new(PASSWORD))
        .await
        .expect("a TLS sandbox node");
    let port = sb.0.primary().port.to_string();
    let work = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        cli(&work)
            .args([
                "topology",
                "-h",
                "127.0.0.1",
                "-P",
                &port,
                "-u",
                USER,
                "--password",
                PASSWORD,
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let ca_s = ca.to_str().unwrap();
    let out = run(&["--ssl-mode", "VERIFY_IDENTITY", "--ssl-ca", ca_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--ssl-mode", "verify_ca", "--ssl-ca", ca_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "--ssl-mode",
        "VERIFY_IDENTITY",
        "--ssl-ca",
        other_ca.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error[1002]"), "{err}");
    assert!(
        err.contains(
            "TLS (VERIFY_IDENTITY): the server's certificate is not signed by a CA in --ssl-ca"
        ),
        "{err}"
    );
    // The plan records the mode it was made with.
    let out = run(&["--ssl-mode", "VERIFY_IDENTITY", "--ssl-ca", ca_s]);
    assert!(out.status.success());
    let plan = work.path().join("plan.yaml");
    let out = cli(&work)
        .args([
            "plan",
            "-h",
            "127.0.0.1",
            "-P",
            &port,
            "-u",
            USER,
            "--password",
            PASSWORD,
        ])
        .args([
            "--ssl-mode",
            "VERIFY_IDENTITY",
            "--ssl-ca",
            ca_s,
            "--exclude-primary",
            "false",
            "--out",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("ssl_mode: VERIFY_IDENTITY"), "{text}");
}
