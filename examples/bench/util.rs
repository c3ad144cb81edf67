//! Harness plumbing: the sandbox, the binaries under test and the baseline clients, timing.

use mysql_tablespace_recycling::mysql::{self, ConnectSpec, Credentials, Endpoint};
use mysql_tablespace_recycling::sandbox::{Layout, Sandbox, free_port_range};
use mysql_tablespace_recycling::secret::Secret;
use sqlx::Executor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, String>;

pub const USER: &str = "recycler";
pub const PASSWORD: &str = "bench-pw";

/// A running benchmark cluster (the shared one: primary + three replicas), and the tools.
pub struct Bench {
    pub sandbox: Sandbox,
    pub tool: PathBuf,
    pub work: PathBuf,
}

fn find(name: &str) -> BenchResult<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} not found: apt-get install mariadb-client"))
}

impl Bench {
    /// Starts the shared sandbox: a primary and three replicas.
    pub async fn start() -> BenchResult<Self> {
        Self::start_with("mtr-bench", 3).await
    }

    /// Starts a fresh sandbox of a primary and `replicas` replicas in the temp dir
    /// `<name>-<pid>`.
    pub async fn start_with(name: &str, replicas: usize) -> BenchResult<Self> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // target/<profile>/examples/bench → target/<profile>/mysql-tablespace-recycling
        let tool = exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("mysql-tablespace-recycling"))
            .filter(|p| p.is_file())
            .ok_or(
                "build the CLI first: cargo build --release --bins --examples (scripts/bench does)",
            )?;
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let base = free_port_range(1 + replicas as u16).map_err(|e| e.to_string())?;
        let sandbox = Sandbox::new(
            &dir,
            Layout {
                base_port: base,
                replicas,
                chain: false,
                user: USER.into(),
                tls: None,
            },
        );
        sandbox
            .up(&Secret::new(PASSWORD))
            .await
            .map_err(|e| e.to_string())?;
        let work = dir.join("work");
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let b = Self {
            sandbox,
            tool,
            work,
        };
        // Data loading speed, not durability, matters for the fixtures (the same for every
        // method measured).
        for n in b.sandbox.nodes() {
            b.exec(
                &n.endpoint,
                &[
                    "SET GLOBAL innodb_flush_log_at_trx_commit = 2",
                    "SET GLOBAL sync_binlog = 0",
                ],
            )
            .await?;
        }
        Ok(b)
    }

    pub fn replicas(&self) -> Vec<Endpoint> {
        (1..=self.sandbox.layout.replicas)
            .map(|i| self.sandbox.node(i).endpoint)
            .collect()
    }

    pub fn spec(&self) -> ConnectSpec {
        ConnectSpec::new(
            Credentials {
                user: USER.into(),
                password: Secret::new(PASSWORD),
            },
            Duration::from_secs(10),
        )
    }

    pub async fn conn(&self, ep: &Endpoint) -> BenchResult<sqlx::MySqlConnection> {
        mysql::connect(ep, &self.spec())
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn exec(&self, ep: &Endpoint, stmts: &[&str]) -> BenchResult<()> {
        let mut c = self.conn(ep).await?;
        for s in stmts {
            c.execute(*s).await.map_err(|e| format!("{ep}: {s}: {e}"))?;
        }
        Ok(())
    }

    /// Sum of the file sizes of `schema`'s tables on `ep`.
    pub async fn schema_bytes(&self, ep: &Endpoint, schema: &str) -> BenchResult<u64> {
        let mut c = self.conn(ep).await?;
        let prefix = format!("{}/%", schema);
        let v: Option<String> = sqlx::query_scalar(
            "SELECT CAST(SUM(FILE_SIZE) AS CHAR) FROM information_schema.INNODB_SYS_TABLESPACES \
             WHERE NAME LIKE ?",
        )
        .bind(prefix)
        .fetch_one(&mut c)
        .await
        .map_err(|e| e.to_string())?;
        Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    /// The CLI under test with `args`, in the work dir, logging warnings to its log file.
    pub fn tool_command(&self, args: &[String]) -> Command {
        let mut c = Command::new(&self.tool);
        c.current_dir(&self.work)
            .env_remove("RECYCLER_CONFIG_FILE")
            .env("RECYCLER_LOG_FILE", self.work.join("bench.log"))
            .env("RECYCLER_LOG_LEVEL", "warn")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs the CLI under test; returns (wall time, stdout). Fails on a non-zero exit.
    pub fn tool(&self, args: &[String]) -> BenchResult<(Duration, String)> {
        let started = Instant::now();
        let out = self
            .tool_command(args)
            .output()
            .map_err(|e| e.to_string())?;
        let took = started.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{} {}: {}",
                self.tool.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// Runs the CLI under test like [`Bench::tool`]; returns (wall time, peak resident set in
    /// KiB, read from the kernel's accounting of the child when it is reaped).
    pub fn tool_rss(&self, args: &[String]) -> BenchResult<(Duration, u64)> {
        let started = Instant::now();
        let mut child = self
            .tool_command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut s).map(|_| s)
        });
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 reaps our own child and fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = child.id() as libc::pid_t;
        // SAFETY: waiting for our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let took = started.elapsed();
        let stderr = err.join().map_err(|_| "stderr reader")?.unwrap_or_default();
        if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!(
                "{} {}: {stderr}",
                self.tool.display(),
                args.join(" ")
            ));
        }
        Ok((took, usage.ru_maxrss as u64))
    }

    /// `--host/--port/--user/--password` of `ep`.
    pub fn target(&self, ep: &Endpoint) -> Vec<String> {
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

    /// A `mariadb` client command running `sql` (several statements allowed) on `ep`.
    pub fn client(&self, ep: &Endpoint, sql: &str) -> BenchResult<Command> {
        let mut c = Command::new(find("mariadb")?);
        c.args(["-h", &ep.host, "-P", &ep.port.to_string(), "-u", USER])
            .arg(format!("-p{PASSWORD}"))
            .args(["-N", "-B", "-e", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Ok(c)
    }

    /// `mysqlcheck --optimize --skip-write-binlog` of `schema` (all tables) on `ep`.
    pub fn mysqlcheck(
        &self,
        ep: &Endpoint,
        schema: &str,
        tables: &[String],
    ) -> BenchResult<Command> {
        let bin = find("mysqlcheck").or_else(|_| find("mariadb-check"))?;
        let mut c = Command::new(bin);
        c.args(["-h", &ep.host, "-P", &ep.port.to_string(), "-u", USER])
            .arg(format!("-p{PASSWORD}"))
            .args(["--optimize", "--skip-write-binlog", schema])
            .args(tables)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Ok(c)
    }

    pub fn stop(self) {
        self.sandbox.destroy_now();
    }
}

/// The CLI under test's `server`, a child process, stopped (SIGTERM, then reaped) when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, from its first line.
    pub base: String,
}

impl ServerProcess {
    /// Starts `tool --config config.yaml server` in `dir`; returns once it listens.
    pub fn start(tool: &Path, dir: &Path) -> BenchResult<Self> {
        use std::io::BufRead;
        let mut child = Command::new(tool)
            .current_dir(dir)
            .env_remove("RECYCLER_CONFIG_FILE")
            .env_remove("RECYCLER_DB_PASSWORD")
            .args(["--config", "config.yaml", "server"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take();
        let mut server = Self {
            child,
            base: String::new(),
        };
        let mut line = String::new();
        std::io::BufReader::new(stdout.ok_or("no stdout")?)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        server.base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line: {line:?}"))?
            .to_string();
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: signalling the server process this harness started and has not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Resident memory of `pid`, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU time `pid` has used so far (user + system, all its threads), seconds, from
/// `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> BenchResult<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The fields after the command name (which may hold spaces), from the third: utime and
    // stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> BenchResult<f64> {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|t| t as f64)
            .ok_or_else(|| format!("/proc/{pid}/stat: no field {i}: {stat:?}"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok((ticks(14)? + ticks(15)?) / hz.max(1) as f64)
}

/// Runs the commands all at once; returns the wall time until the last finished.
pub fn all_at_once(cmds: Vec<Command>) -> BenchResult<Duration> {
    let started = Instant::now();
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| c.stderr(Stdio::piped()).spawn())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for ch in children {
        let out = ch.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    Ok(started.elapsed())
}

/// Runs the commands one after another; returns the total wall time.
pub fn one_after_another(cmds: Vec<Command>) -> BenchResult<Duration> {
    let started = Instant::now();
    for mut c in cmds {
        let out = c
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    Ok(started.elapsed())
}

/// The median of `xs` (seconds).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn mib(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}
