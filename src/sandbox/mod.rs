//! A local MariaDB replication cluster for the demo, the benchmarks and the test suite.
//!
//! Layout under one directory: `node0` is the primary, `node1..=N` replicate from it, and with
//! `chain` one more node replicates from `node1` (a chained replica). Every node has its own
//! datadir, port, socket, pid file and error log, `log_bin` with `log_slave_updates`,
//! `report_host/report_port`, and replicas start read-only. A `sandbox.json` state file records
//! the layout so `down` and `status` need only the directory; it holds no password.
//!
//! Servers are started detached (own session, reparented to init) so they survive the command
//! that started them; `down` stops only the processes named by this sandbox's pid files, and only
//! if their command line names this sandbox's datadir.

use crate::error::{Error, Result};
use crate::mysql::{self, ConnectSpec, Credentials, Endpoint, quote_ident, quote_literal};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use sqlx::Executor;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub mod fragment;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub base_port: u16,
    pub replicas: usize,
    pub chain: bool,
    /// The account created on every node (all privileges; also used for replication).
    pub user: String,
    /// TLS certificate files every node serves (a TLS test's own certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

/// The PEM files a node's `--ssl-cert`, `--ssl-key` and `--ssl-ca` name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Layout {
    /// Number of nodes: primary, replicas, optional chained replica.
    pub fn node_count(&self) -> usize {
        1 + self.replicas + usize::from(self.chain)
    }

    /// Index of the node `i` replicates from (`None` for the primary).
    pub fn source_of(&self, i: usize) -> Option<usize> {
        match i {
            0 => None,
            i if i <= self.replicas => Some(0),
            _ => Some(1),
        }
    }

    /// Human name of node `i`.
    pub fn name_of(&self, i: usize) -> String {
        match i {
            0 => "primary".into(),
            i if i <= self.replicas => format!("replica{i}"),
            _ => "chained".into(),
        }
    }
}

/// A sandbox directory and its layout.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub layout: Layout,
}

/// One node's paths and address.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub index: usize,
    pub name: String,
    pub endpoint: Endpoint,
    pub server_id: u32,
    pub datadir: PathBuf,
    /// The server's own tmpdir (rebuild temp files and bootstrap temp tables stay per node).
    pub tmpdir: PathBuf,
    pub socket: PathBuf,
    pub pid_file: PathBuf,
    pub error_log: PathBuf,
}

/// The live state of one node, for `sandbox status`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub address: String,
    pub pid: Option<u32>,
    pub running: bool,
    pub read_only: Option<bool>,
    pub replication: Option<String>,
}

const STATE_FILE: &str = "sandbox.json";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The MariaDB server binary and its bootstrap tool.
#[derive(Debug, Clone)]
pub struct ServerBinary {
    pub server: PathBuf,
    pub install_db: PathBuf,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl ServerBinary {
    /// Finds `mariadbd` (or a `mysqld` that is MariaDB) and `mariadb-install-db`.
    pub fn find() -> Result<Self> {
        let missing = || {
            Error::invalid(
                "no MariaDB server binary found (looked for mariadbd and mysqld on PATH and in \
                 /usr/sbin); install it with: apt-get install mariadb-server",
            )
        };
        let server = which("mariadbd")
            .or_else(|| which("mysqld"))
            .ok_or_else(missing)?;
        let version = std::process::Command::new(&server)
            .arg("--version")
            .output()
            .map_err(|e| Error::file(&server, e))?;
        if !String::from_utf8_lossy(&version.stdout)
            .to_ascii_lowercase()
            .contains("mariadb")
        {
            return Err(Error::invalid(format!(
                "{} is not MariaDB; the sandbox needs MariaDB's server (apt-get install \
                 mariadb-server)",
                server.display()
            )));
        }
        let install_db = which("mariadb-install-db")
            .or_else(|| which("mysql_install_db"))
            .ok_or_else(missing)?;
        Ok(Self { server, install_db })
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `pid` is a live (non-zombie) process whose command line mentions `marker`.
fn process_alive(pid: u32, marker: &Path) -> bool {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(_) => return false,
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .map(|(_, r)| r.trim_start().chars().next());
    if state == Some(Some('Z')) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .contains(&*marker.to_string_lossy())
        })
        .unwrap_or(false)
}

fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid we read from our own pid file, checked by process_alive.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

impl Sandbox {
    /// A sandbox at `dir` with `layout` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>, layout: Layout) -> Self {
        let dir = dir.into();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Self { dir, layout }
    }

    /// Opens an existing sandbox from its state file.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let state = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&state).map_err(|e| {
            Error::invalid(format!(
                "no sandbox at {} ({e}); start one with `sandbox up --dir {}`",
                dir.display(),
                dir.display()
            ))
        })?;
        let layout: Layout = serde_json::from_str(&text).map_err(|e| Error::file(&state, e))?;
        Ok(Self::new(dir, layout))
    }

    /// Whether a sandbox state file exists at `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).is_file()
    }

    /// Paths and address of node `i`.
    pub fn node(&self, i: usize) -> NodePaths {
        let base = self.dir.join(format!("node{i}"));
        NodePaths {
            index: i,
            name: self.layout.name_of(i),
            endpoint: Endpoint::new("127.0.0.1", self.layout.base_port + i as u16),
            server_id: i as u32 + 1,
            datadir: base.join("data"),
            tmpdir: base.join("tmp"),
            socket: base.join("mysqld.sock"),
            pid_file: base.join("mysqld.pid"),
            error_log: base.join("error.log"),
        }
    }

    /// All nodes, primary first.
    pub fn nodes(&self) -> Vec<NodePaths> {
        (0..self.layout.node_count())
            .map(|i| self.node(i))
            .collect()
    }

    /// The primary's address.
    pub fn primary(&self) -> Endpoint {
        self.node(0).endpoint
    }

    /// Root over the node's unix socket: sandbox administration only.
    pub fn admin_spec(&self, node: &NodePaths) -> ConnectSpec {
        ConnectSpec {
            socket: Some(node.socket.clone()),
            ..ConnectSpec::new(
                Credentials {
                    user: "root".into(),
                    password: Secret::default(),
                },
                Duration::from_secs(5),
            )
        }
    }

    /// An admin connection to node `node`.
    pub async fn admin(&self, node: &NodePaths) -> Result<sqlx::MySqlConnection> {
        mysql::connect(&node.endpoint, &self.admin_spec(node)).await
    }

    fn pid_of(&self, node: &NodePaths) -> Option<u32> {
        let pid = std::fs::read_to_string(&node.pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process_alive(pid, &node.datadir).then_some(pid)
    }

    /// Starts the cluster: initializes what is missing, starts what is stopped, wires replication
    /// once. Running it again on a running sandbox changes nothing.
    pub async fn up(&self, password: &Secret) -> Result<()> {
        if let Ok(existing) = Self::open(&self.dir)
            && existing.layout != self.layout
        {
            return Err(Error::invalid(format!(
                "a sandbox with another layout exists at {} ({:?}); run `sandbox down --purge \
                 --dir {}` first",
                self.dir.display(),
                existing.layout,
                self.dir.display()
            )));
        }
        let bin = ServerBinary::find()?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::file(&self.dir, e))?;
        std::fs::write(
            self.dir.join(STATE_FILE),
            crate::output::json_pretty(&self.layout)?,
        )
        .map_err(|e| Error::file(self.dir.join(STATE_FILE), e))?;

        let nodes = self.nodes();
        let fresh: Vec<bool> =
            futures::future::try_join_all(nodes.iter().map(|n| self.install(&bin, n))).await?;
        futures::future::try_join_all(nodes.iter().map(|n| self.start(&bin, n))).await?;
        for (n, is_fresh) in nodes.iter().zip(&fresh) {
            if *is_fresh || !n.datadir.join(".recycler-ready").exists() {
                self.initialize(n, password).await?;
            }
        }
        for n in &nodes {
            if !n.datadir.join(".recycler-ready").exists() {
                if let Some(src) = self.layout.source_of(n.index) {
                    self.wire(n, &self.node(src), password).await?;
                }
                std::fs::write(n.datadir.join(".recycler-ready"), b"")
                    .map_err(|e| Error::file(&n.datadir, e))?;
            }
        }
        for n in &nodes {
            if self.layout.source_of(n.index).is_some() {
                self.wait_replicating(n).await?;
            }
        }
        Ok(())
    }

    /// Creates the datadir; true when it was created now.
    async fn install(&self, bin: &ServerBinary, n: &NodePaths) -> Result<bool> {
        if n.datadir.join("mysql").is_dir() {
            return Ok(false);
        }
        for d in [&n.datadir, &n.tmpdir] {
            std::fs::create_dir_all(d).map_err(|e| Error::file(d, e))?;
        }
        let mut cmd = tokio::process::Command::new(&bin.install_db);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", n.datadir.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            // Concurrent bootstraps must not share temporary tables in /tmp.
            .arg(format!("--tmpdir={}", n.tmpdir.display()))
            .stdin(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| Error::file(&bin.install_db, e))?;
        if !out.status.success() {
            return Err(Error::invalid(format!(
                "{} failed for {}: {}",
                bin.install_db.display(),
                n.datadir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(true)
    }

    /// Starts node `n` detached unless it already runs, then waits until it accepts connections.
    async fn start(&self, bin: &ServerBinary, n: &NodePaths) -> Result<()> {
        if self.pid_of(n).is_none() {
            let _ = std::fs::remove_file(&n.pid_file);
            let mut args = vec![
                bin.server.display().to_string(),
                "--no-defaults".into(),
                format!("--datadir={}", n.datadir.display()),
                format!("--tmpdir={}", n.tmpdir.display()),
                format!("--socket={}", n.socket.display()),
                format!("--port={}", n.endpoint.port),
                "--bind-address=127.0.0.1".into(),
                format!("--server-id={}", n.server_id),
                format!("--log-bin={}", n.datadir.join("binlog").display()),
                format!("--relay-log={}", n.datadir.join("relay-bin").display()),
                "--log-slave-updates=1".into(),
                "--report-host=127.0.0.1".into(),
                format!("--report-port={}", n.endpoint.port),
                "--innodb-buffer-pool-size=64M".into(),
                "--innodb-log-file-size=64M".into(),
                "--performance-schema=OFF".into(),
                "--max-connections=500".into(),
                "--skip-name-resolve".into(),
                // Who holds which metadata lock: the apply waits for long holders before an
                // ALTER (the plugin ships with the server; production may load it or not).
                "--plugin-load-add=metadata_lock_info".into(),
                // Free space per filesystem (information_schema.DISKS): the apply's disk
                // preflight reads it.
                "--plugin-load-add=disks".into(),
                format!("--pid-file={}", n.pid_file.display()),
                format!("--log-error={}", n.error_log.display()),
            ];
            if self.layout.source_of(n.index).is_some() {
                args.push("--read-only=1".into());
            }
            if let Some(t) = &self.layout.tls {
                args.push(format!("--ssl-cert={}", t.cert.display()));
                args.push(format!("--ssl-key={}", t.key.display()));
                args.push(format!("--ssl-ca={}", t.ca.display()));
            }
            if is_root() {
                args.push("--user=root".into());
            }
            // The shell backgrounds the server and exits, so the server is reparented to init
            // and outlives this process; setsid keeps terminal signals (Ctrl-C) away from it.
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c")
                .arg("\"$@\" </dev/null >/dev/null 2>&1 &")
                .arg("sh")
                .args(&args);
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: setsid is async-signal-safe and the only call between fork and exec.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::setsid();
                        Ok(())
                    });
                }
            }
            let status = cmd.status().map_err(|e| Error::file(&bin.server, e))?;
            if !status.success() {
                return Err(Error::invalid(format!("could not start {}", n.name)));
            }
        }
        self.wait_ready(n).await
    }

    async fn wait_ready(&self, n: &NodePaths) -> Result<()> {
        let started = Instant::now();
        loop {
            match self.admin(n).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_login_refused() => return Err(e),
                Err(_) => {}
            }
            if started.elapsed() > READY_TIMEOUT {
                let log = std::fs::read_to_string(&n.error_log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                return Err(Error::invalid(format!(
                    "{} ({}) did not accept connections within {}s; last lines of {}:\n{}",
                    n.name,
                    n.endpoint,
                    READY_TIMEOUT.as_secs(),
                    n.error_log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the sandbox account (not binlogged) and clears the binlog so no node starts with
    /// local GTIDs.
    async fn initialize(&self, n: &NodePaths, password: &Secret) -> Result<()> {
        let mut c = self.admin(n).await?;
        let user = format!("{}@'%'", quote_ident(&self.layout.user));
        for stmt in [
            "SET SESSION sql_log_bin = 0".to_string(),
            format!(
                "CREATE OR REPLACE USER {user} IDENTIFIED BY {}",
                quote_literal(password.expose())
            ),
            format!("GRANT ALL PRIVILEGES ON *.* TO {user} WITH GRANT OPTION"),
            "RESET MASTER".to_string(),
        ] {
            c.execute(stmt.as_str())
                .await
                .map_err(|e| mysql::query_error(&n.endpoint, e))?;
        }
        Ok(())
    }

    async fn wire(&self, n: &NodePaths, source: &NodePaths, password: &Secret) -> Result<()> {
        let mut c = self.admin(n).await?;
        let change = format!(
            "CHANGE MASTER TO MASTER_HOST={}, MASTER_PORT={}, MASTER_USER={}, MASTER_PASSWORD={}, \
             MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            quote_literal(&source.endpoint.host),
            source.endpoint.port,
            quote_literal(&self.layout.user),
            quote_literal(password.expose()),
        );
        for stmt in [change.as_str(), "START SLAVE"] {
            c.execute(stmt)
                .await
                .map_err(|e| mysql::query_error(&n.endpoint, e))?;
        }
        Ok(())
    }

    async fn wait_replicating(&self, n: &NodePaths) -> Result<()> {
        let started = Instant::now();
        loop {
            let mut c = self.admin(n).await?;
            let rows = mysql::query_rows(&mut c, &n.endpoint, "SHOW SLAVE STATUS").await?;
            let running = rows
                .iter()
                .filter_map(mysql::replication::ReplicationSource::from_row)
                .any(|s| s.running());
            if running {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::invalid(format!(
                    "{} ({}): replication did not start within {}s",
                    n.name,
                    n.endpoint,
                    READY_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops this sandbox's servers (SIGTERM, then SIGKILL after `grace`). With `purge`, deletes
    /// the directory afterwards.
    pub async fn down(&self, purge: bool, grace: Duration) -> Result<()> {
        let nodes = self.nodes();
        let pids: Vec<(NodePaths, u32)> = nodes
            .into_iter()
            .filter_map(|n| self.pid_of(&n).map(|p| (n, p)))
            .collect();
        for (_, pid) in &pids {
            send_signal(*pid, libc::SIGTERM);
        }
        let started = Instant::now();
        while pids.iter().any(|(n, p)| process_alive(*p, &n.datadir)) {
            if started.elapsed() > grace {
                for (n, p) in &pids {
                    if process_alive(*p, &n.datadir) {
                        send_signal(*p, libc::SIGKILL);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if purge {
            std::fs::remove_dir_all(&self.dir).map_err(|e| Error::file(&self.dir, e))?;
        }
        Ok(())
    }

    /// Kills this sandbox's servers at once and deletes the directory. Synchronous, for test
    /// teardown at process exit where no runtime is left.
    pub fn destroy_now(&self) {
        for n in self.nodes() {
            if let Some(pid) = self.pid_of(&n) {
                send_signal(pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Live state of every node.
    pub async fn status(&self) -> Vec<NodeStatus> {
        let mut out = Vec::new();
        for n in self.nodes() {
            let pid = self.pid_of(&n);
            let mut st = NodeStatus {
                name: n.name.clone(),
                address: n.endpoint.to_string(),
                pid,
                running: pid.is_some(),
                read_only: None,
                replication: None,
            };
            if let Ok(mut c) = self.admin(&n).await
                && let Ok(info) = mysql::flavor::server_info(&mut c, &n.endpoint).await
            {
                st.read_only = Some(info.read_only);
                if let Ok(srcs) =
                    mysql::replication::replication_sources(&mut c, &n.endpoint, &info).await
                {
                    st.replication = srcs.first().map(|s| {
                        format!(
                            "from {} io={} sql={} lag={}",
                            s.source,
                            s.io_running,
                            s.sql_running,
                            s.seconds_behind
                                .map(|l| format!("{l}s"))
                                .unwrap_or_else(|| "NULL".into())
                        )
                    });
                }
            }
            out.push(st);
        }
        out
    }
}

/// Finds `count` consecutive free TCP ports on 127.0.0.1, starting somewhere in 20000–59999.
pub fn free_port_range(count: u16) -> Result<u16> {
    use std::net::TcpListener;
    let seed = std::process::id() as u64 ^ chrono::Utc::now().timestamp_subsec_nanos() as u64;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(2_654_435_761) + attempt * 7_919) % 39_000) as u16;
        let all_free = (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    Err(Error::invalid(format!(
        "no range of {count} free ports found on 127.0.0.1"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_with_chain() {
        let l = Layout {
            base_port: 23306,
            replicas: 2,
            chain: true,
            user: "recycler".into(),
            tls: None,
        };
        assert_eq!(l.node_count(), 4);
        assert_eq!(l.source_of(0), None);
        assert_eq!(l.source_of(2), Some(0));
        assert_eq!(l.source_of(3), Some(1));
        assert_eq!(l.name_of(3), "chained");
        let sb = Sandbox::new("/tmp/x", l);
        assert_eq!(sb.node(3).endpoint.port, 23309);
        assert_eq!(sb.node(3).server_id, 4);
    }
}
