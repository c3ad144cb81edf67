//! Shared helpers for the integration tests: one real sandbox cluster per test binary.
//!
//! The cluster (primary, two replicas, a chained replica below replica 1) is started on first use
//! in a temp dir on free ports, by the same code as `sandbox up`, and killed and deleted when the
//! test binary exits (an `atexit` hook: libtest ends with `exit`, so it always runs).
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
    let mut cmd = assert_cmd::Command::cargo_bin("mysql-tablespace-recycling").expect("binary");
    cmd.current_dir(work.path())
        .env_remove("RECYCLER_DB_PASSWORD")
        .env_remove("RECYCLER_CONFIG_FILE")
        .env("RECYCLER_LOG_FILE", work.path().join("logs/recycling.log"));
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

    /// Rebuilds a table on `ep` without writing the binlog; returns bytes freed.
    pub async fn rebuild_locally(&self, ep: &Endpoint, schema: &str, table: &str) -> u64 {
        let before = self.file_size(ep, schema, table).await;
        let stmt = mysql_tablespace_recycling::plan::rebuild_statement(schema, table, true);
        self.exec(ep, &["SET SESSION sql_log_bin = 0", &stmt]).await;
        let after = self.file_size(ep, schema, table).await;
        before.saturating_sub(after)
    }
}
