//! Shared helpers for the integration tests: one real sandbox cluster per test binary.
//!
//! The cluster (primary, two replicas, a chained replica below replica 1) is started on first use
//! in a temp dir on free ports, by the same code as `sandbox up`, and killed and deleted when the
//! test binary exits (an `atexit` hook: libtest ends with `exit`, so it always runs). Two
//! binaries use one: `cluster` (tests that work in their own schemas, or have the cluster to
//! themselves a while with [`serial`]) and `replication` (tests that stop or reconfigure
//! replication). Every test that uses the cluster holds [`shared`] or [`serial`].
#![allow(dead_code)]

use mysql_tablespace_recycling::mysql::{self, ConnectSpec, Credentials, Endpoint};
use mysql_tablespace_recycling::sandbox::{Layout, Sandbox, free_port_range};
use mysql_tablespace_recycling::secret::Secret;
use std::sync::OnceLock;
use std::time::Duration;

/// The account's password: distinctive, so leak checks can search for it.
pub const PASSWORD: &str = "Pw-s3cr3t-7f3a9c";
pub const USER: &str = "recycler";

pub struct TestCluster {
    pub sandbox: Sandbox,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

extern "C" fn teardown() {
    if let Some(c) = CLUSTER.get() {
        c.sandbox.destroy_now();
    }
}

/// The cluster of this test binary, started on first call.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("mtr-sandbox-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let base_port = free_port_range(4).expect("free ports");
        let sandbox = Sandbox::new(
            dir,
            Layout {
                base_port,
                replicas: 2,
                chain: true,
                user: USER.into(),
                tls: None,
            },
        );
        // SAFETY: registering a plain extern "C" fn with atexit.
        unsafe { libc::atexit(teardown) };
        let sb = sandbox.clone();
        let started = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(sb.up(&Secret::new(PASSWORD)))
        })
        .join()
        .expect("sandbox thread");
        if let Err(e) = started {
            sandbox.destroy_now();
            panic!("sandbox up failed: {e}");
        }
        TestCluster { sandbox }
    })
}

impl TestCluster {
    pub fn primary(&self) -> Endpoint {
        self.sandbox.node(0).endpoint
    }
    pub fn replica(&self, i: usize) -> Endpoint {
        self.sandbox.node(i).endpoint
    }
    /// The chained replica (below replica 1).
    pub fn chained(&self) -> Endpoint {
        self.sandbox.node(3).endpoint
    }
    pub fn spec(&self) -> ConnectSpec {
        ConnectSpec::new(
            Credentials {
                user: USER.into(),
                password: Secret::new(PASSWORD),
            },
            Duration::from_secs(5),
        )
    }
    pub async fn conn(&self, ep: &Endpoint) -> sqlx::MySqlConnection {
        mysql::connect(ep, &self.spec()).await.expect("connect")
    }
}

/// The binary under test, run in a fresh temp dir (so no config.yaml or logs/ of the repo is
/// used) with its log file there too.
pub fn cli(work: &tempfile::TempDir) -> assert_cmd::Command {
    assert_cmd::Command::from_std(cli_std(work.path()))
}

/// The same command as [`cli`], as a `std::process::Command` (for a process the test keeps
/// running, signals or watches). Its home is the work dir, so no `~/.my.cnf` of the machine's
/// is read.
pub fn cli_std(work: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mysql-tablespace-recycling"));
    cmd.current_dir(work)
        .env("HOME", work)
        .env_remove("MYSQL_TEST_LOGIN_FILE")
        .env_remove("RECYCLER_DB_PASSWORD")
        .env_remove("RECYCLER_DB_REPLICA_PASSWORD")
        .env_remove("RECYCLER_CONFIG_FILE")
        .env("RECYCLER_LOG_FILE", work.join("logs/recycling.log"));
    cmd
}

/// `--host/--port/--user/--password` for `ep`.
pub fn target_args(ep: &Endpoint) -> Vec<String> {
    vec![
        "--host".into(),
        ep.host.clone(),
        "--port".into(),
        ep.port.to_string(),
        "--user".into(),
        USER.into(),
        "--password".into(),
        PASSWORD.into(),
    ]
}

impl TestCluster {
    /// Builds fragmented tables on the primary and waits for every replica.
    pub async fn fragment(
        &self,
        tables: &[mysql_tablespace_recycling::sandbox::fragment::TableSpec],
    ) {
        self.sandbox.fragment(tables).await.expect("fragment");
    }

    /// Runs statements on `ep` in one session.
    pub async fn exec(&self, ep: &Endpoint, stmts: &[&str]) {
        use sqlx::Executor;
        let mut c = self.conn(ep).await;
        for s in stmts {
            c.execute(*s)
                .await
                .unwrap_or_else(|e| panic!("{ep}: {s}: {e}"));
        }
    }

    /// Size of a table's file(s) on `ep` from the tablespace view (sum over partitions).
    pub async fn file_size(&self, ep: &Endpoint, schema: &str, table: &str) -> u64 {
        let mut c = self.conn(ep).await;
        let rows: Vec<(String, Option<u64>)> =
            sqlx::query_as("SELECT NAME, FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES")
                .fetch_all(&mut c)
                .await
                .expect("tablespaces");
        rows.into_iter()
            .filter(|(n, _)| {
                mysql_tablespace_recycling::inspect::catalog::split_innodb_name(n)
                    .is_some_and(|(s, t, _)| s == schema && t == table)
            })
            .map(|(_, s)| s.unwrap_or(0))
            .sum()
    }

    /// Waits (up to two minutes) until InnoDB on `ep` has purged every deleted row: until then
    /// the purge takes the tables' metadata locks batch by batch, and a rebuild started meanwhile
    /// can time out on it (seen in CI on a 600 MiB table).
    pub async fn purged(&self, ep: &Endpoint) {
        let mut conn = self.conn(ep).await;
        for _ in 0..240 {
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT FROM information_schema.INNODB_METRICS \
                 WHERE NAME = 'trx_rseg_history_len'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("purge backlog");
            if pending == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Rebuilds a table on `ep` without writing the binlog; returns bytes freed.
    pub async fn rebuild_locally(&self, ep: &Endpoint, schema: &str, table: &str) -> u64 {
        let before = self.file_size(ep, schema, table).await;
        let stmt = mysql_tablespace_recycling::plan::rebuild_statement(schema, table, true);
        self.exec(ep, &["SET SESSION sql_log_bin = 0", &stmt]).await;
        let after = self.file_size(ep, schema, table).await;
        before.saturating_sub(after)
    }
}

/// The binary's cluster lock: every test that uses the cluster holds it, shared or alone.
fn cluster_lock() -> &'static tokio::sync::RwLock<()> {
    static LOCK: OnceLock<tokio::sync::RwLock<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::RwLock::new(()))
}

/// The cluster to this test alone, for a test that asserts on cluster-wide state (binlog
/// positions, read-only flags, load, the processlist) or changes it for a while (a writable
/// replica, a global variable, stopped replication): no other test of the binary runs on it
/// meanwhile.
pub async fn serial() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    cluster_lock().write().await
}

/// The cluster shared with the other tests that take it so: for a test that works in its own
/// schema (or only reads) and needs the cluster as it is between `serial` tests — replicating,
/// read-only replicas, nothing else touching the server-wide state.
pub async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    cluster_lock().read().await
}

impl TestCluster {
    /// `SHOW MASTER STATUS` as "file:position".
    pub async fn binlog_position(&self, ep: &Endpoint) -> String {
        let mut c = self.conn(ep).await;
        let rows = mysql::query_rows(&mut c, ep, "SHOW MASTER STATUS")
            .await
            .expect("status");
        let r = rows.first().expect("binlog on");
        format!("{}:{}", r.text(&["File"]), r.text(&["Position"]))
    }

    /// `@@gtid_binlog_state` entries written by `server_id` itself (errant on a replica).
    pub async fn own_gtids(&self, ep: &Endpoint, server_id: u32) -> Vec<String> {
        let mut c = self.conn(ep).await;
        let state: String = sqlx::query_scalar("SELECT @@gtid_binlog_state")
            .fetch_one(&mut c)
            .await
            .expect("gtid state");
        state
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| g.split('-').nth(1) == Some(&server_id.to_string()))
            .collect()
    }

    /// Waits until `ep` has applied everything `source` has binlogged.
    pub async fn sync_from(&self, source: &Endpoint, ep: &Endpoint) {
        let mut s = self.conn(source).await;
        let pos: String = sqlx::query_scalar("SELECT @@gtid_binlog_pos")
            .fetch_one(&mut s)
            .await
            .expect("pos");
        let mut c = self.conn(ep).await;
        let r: i64 = sqlx::query_scalar("SELECT MASTER_GTID_WAIT(?, 300)")
            .bind(&pos)
            .fetch_one(&mut c)
            .await
            .expect("wait");
        assert_eq!(r, 0, "{ep} did not catch up with {source}");
    }
}

/// `plan` through the binary into `work/<out>`; returns the path.
pub fn plan_file(
    work: &tempfile::TempDir,
    seed: &Endpoint,
    out: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let path = work.path().join(out);
    let o = cli(work)
        .arg("plan")
        .args(target_args(seed))
        .arg("--out")
        .arg(&path)
        .args(extra)
        .output()
        .expect("run plan");
    assert!(
        o.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    path
}

/// `apply PLAN --yes --output-format json --user … --password …` plus `extra`, run in the
/// background in `work` (for a test that acts while it runs); resolves to (exit code, stdout,
/// stderr).
pub fn spawn_apply(
    work: &std::path::Path,
    plan: &std::path::Path,
    extra: &[&str],
) -> tokio::task::JoinHandle<(i32, String, String)> {
    let mut cmd = cli_std(work);
    cmd.arg("apply")
        .arg(plan)
        .args(["--yes", "--output-format", "json"])
        .args(["--user", USER, "--password", PASSWORD])
        .args(extra);
    tokio::task::spawn_blocking(move || {
        let o = cmd.output().expect("run apply");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
}

/// `apply PLAN --user … --password …` plus `extra`; returns (exit code, stdout, stderr).
pub fn apply(
    work: &tempfile::TempDir,
    plan: &std::path::Path,
    extra: &[&str],
) -> (i32, String, String) {
    let o = cli(work)
        .arg("apply")
        .arg(plan)
        .args(["--user", USER, "--password", PASSWORD])
        .args(extra)
        .output()
        .expect("run apply");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
