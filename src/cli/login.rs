//! How the command line logs in to a cluster, the way the mysql client and Percona Toolkit do:
//! `-h -P -u -p -S`, `--ssl-*`, option files and `--login-path`, a password asked on the
//! terminal, a separate login for replicas.
//!
//! Each value is taken from the first layer that has it: flags, then the environment
//! (`RECYCLER_DB_PASSWORD`, `RECYCLER_DB_REPLICA_PASSWORD`), then the option files
//! ([`crate::mysql::option_file`]), then the config's `--cluster` entry, then the default.

use crate::config::{ClusterConfig, Config};
use crate::error::{Error, Result};
use crate::mysql::option_file::{ClientOptions, Sources};
use crate::mysql::tls::{SslMode, Tls};
use crate::mysql::{ConnectSpec, Credentials, Endpoint};
use crate::secret::Secret;
use clap::Args;
use std::path::PathBuf;

/// The environment variable of the password (below `--password`, above option files).
pub const PASSWORD_ENV: &str = "RECYCLER_DB_PASSWORD";
/// The environment variable of the replicas' password.
pub const REPLICA_PASSWORD_ENV: &str = "RECYCLER_DB_REPLICA_PASSWORD";

/// Option files, as the mysql client reads them.
#[derive(Debug, Clone, Args)]
pub struct DefaultsArgs {
    /// Read no option file (~/.my.cnf, ~/.mylogin.cnf)
    #[arg(long)]
    pub no_defaults: bool,
    /// Read only this option file instead of ~/.my.cnf ([client] and
    /// [mysql-tablespace-recycling] groups)
    #[arg(long, value_name = "FILE")]
    pub defaults_file: Option<PathBuf>,
    /// Read this option file after ~/.my.cnf (or --defaults-file)
    #[arg(long, value_name = "FILE")]
    pub defaults_extra_file: Option<PathBuf>,
    /// Read this group of ~/.mylogin.cnf (mysql_config_editor) and of the option files
    #[arg(long, value_name = "NAME")]
    pub login_path: Option<String>,
}

/// TLS flags, as the mysql client's.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// DISABLED, PREFERRED (TLS when offered, not verified), REQUIRED, VERIFY_CA (the
    /// certificate chains to --ssl-ca) or VERIFY_IDENTITY (and names the host)
    /// [default: PREFERRED; apply: at least the plan's]
    #[arg(long, value_enum, ignore_case = true, value_name = "MODE")]
    pub ssl_mode: Option<SslMode>,
    /// PEM file of the CA certificates (VERIFY_CA, VERIFY_IDENTITY)
    #[arg(long, value_name = "FILE")]
    pub ssl_ca: Option<PathBuf>,
    /// PEM file of the client certificate
    #[arg(long, value_name = "FILE")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM file of the client certificate's key
    #[arg(long, value_name = "FILE")]
    pub ssl_key: Option<PathBuf>,
}

/// How to log in to the nodes: every command that connects.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// MySQL user (of the node named, and of every node without a login of its own)
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// MySQL password (--password VALUE, --password=VALUE, -pVALUE); -p or --password without
    /// a value asks on the terminal. Prefer RECYCLER_DB_PASSWORD or an option file: a password
    /// on the command line is hidden from ps once read, but not before
    #[arg(short = 'p', long, num_args = 0..=1, value_name = "PASSWORD")]
    pub password: Option<Option<Secret>>,
    /// Ask for the password on the terminal (as gh-ost's --ask-pass)
    #[arg(long)]
    pub ask_pass: bool,
    /// The login of every other node discovery finds (a replica-only account)
    #[arg(long)]
    pub replica_user: Option<String>,
    /// The replicas' password (without a value: asked on the terminal)
    /// [env: RECYCLER_DB_REPLICA_PASSWORD]
    #[arg(long, num_args = 0..=1, value_name = "PASSWORD")]
    pub replica_password: Option<Option<Secret>>,
    /// Unix socket of a node on this machine, used for host localhost (the default host when
    /// given)
    #[arg(short = 'S', long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// A cluster from database.clusters in the config: its primary's address and logins
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub defaults: DefaultsArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Where the environment and the option files are read from: the process's, or a test's.
pub struct Environment<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// Asks for a password on the terminal.
    pub ask: &'a dyn Fn(&str) -> Result<Secret>,
}

impl Environment<'static> {
    /// The process environment and its terminal.
    pub fn process() -> Self {
        Self {
            var: &|k| std::env::var(k).ok(),
            ask: &prompt,
        }
    }
}

/// The logins, before the seed's address is known.
struct Logins {
    spec: ConnectSpec,
    files: ClientOptions,
    /// `--ssl-mode` or an option file set the mode (apply keeps it even below the plan's).
    mode_given: bool,
}

impl CredentialArgs {
    fn option_files(&self, env: &Environment) -> Result<ClientOptions> {
        let d = &self.defaults;
        Sources {
            no_defaults: d.no_defaults,
            defaults_file: d.defaults_file.clone(),
            defaults_extra_file: d.defaults_extra_file.clone(),
            login_path: d.login_path.clone(),
            home: (env.var)("HOME").map(PathBuf::from),
            login_file: (env.var)("MYSQL_TEST_LOGIN_FILE").map(PathBuf::from),
        }
        .read()
    }

    fn logins(&self, cfg: &Config, env: &Environment) -> Result<Logins> {
        let cluster: Option<&ClusterConfig> = self
            .cluster
            .as_deref()
            .map(|n| cfg.cluster(n))
            .transpose()?;
        let files = self.option_files(env)?;
        let user = self
            .user
            .clone()
            .or_else(|| files.user.clone())
            .or_else(|| cluster.map(|c| c.primary.username.clone()))
            .ok_or_else(|| {
                Error::invalid("--user is required (or an option file's user, or --cluster NAME)")
            })?;
        let password = match (&self.password, self.ask_pass) {
            (Some(Some(p)), _) => p.clone(),
            (Some(None), _) | (None, true) => (env.ask)(&format!("Enter password for {user}: "))?,
            (None, false) => (env.var)(PASSWORD_ENV)
                .map(Secret::new)
                .or_else(|| files.password.clone())
                .or_else(|| cluster.map(|c| c.primary.password.clone()))
                .unwrap_or_default(),
        };
        let (cfg_replica, node_logins) = cluster.map(|c| c.other_logins()).unwrap_or_default();
        let replica = match &self.replica_user {
            Some(u) => Some(Credentials {
                user: u.clone(),
                password: match &self.replica_password {
                    Some(Some(p)) => p.clone(),
                    Some(None) => (env.ask)(&format!("Enter password for {u} (replicas): "))?,
                    None => (env.var)(REPLICA_PASSWORD_ENV)
                        .map(Secret::new)
                        .unwrap_or_default(),
                },
            }),
            None if self.replica_password.is_some() => {
                return Err(Error::invalid("--replica-password needs --replica-user"));
            }
            None => cfg_replica,
        };
        let cfg_tls = cluster.and_then(|c| c.tls.clone()).unwrap_or_default();
        let t = &self.tls;
        let mode = t.ssl_mode.or(files.ssl_mode);
        let tls = Tls {
            ssl_mode: mode.unwrap_or(cfg_tls.ssl_mode),
            ssl_ca: t.ssl_ca.clone().or(files.ssl_ca.clone()).or(cfg_tls.ssl_ca),
            ssl_cert: t
                .ssl_cert
                .clone()
                .or(files.ssl_cert.clone())
                .or(cfg_tls.ssl_cert),
            ssl_key: t
                .ssl_key
                .clone()
                .or(files.ssl_key.clone())
                .or(cfg_tls.ssl_key),
        };
        if let Some(p) = tls.problem() {
            return Err(Error::invalid(p));
        }
        if tls.ssl_mode.verifies() && tls.ssl_ca.is_none() {
            return Err(Error::invalid(format!(
                "--ssl-mode {} needs --ssl-ca (the CA the servers' certificates chain to)",
                tls.ssl_mode
            )));
        }
        let mut spec = cfg.database.default.spec(Credentials { user, password });
        spec.replica = replica;
        spec.node_logins = node_logins;
        spec.tls = tls;
        spec.local_socket = self.socket.clone().or(files.socket.clone());
        Ok(Logins {
            spec,
            files,
            mode_given: mode.is_some() || cluster.is_some_and(|c| c.tls.is_some()),
        })
    }

    /// The logins of a plan's nodes (`apply`): `seed` logs in as `--user`; TLS is at least the
    /// mode the plan was made with unless a flag or option file sets one.
    pub fn resolve_for_plan(
        &self,
        cfg: &Config,
        seed: &Endpoint,
        plan_mode: Option<SslMode>,
    ) -> Result<ConnectSpec> {
        let l = self.logins(cfg, &Environment::process())?;
        let mut spec = l.spec.with_seed(seed.clone());
        if !l.mode_given
            && let Some(m) = plan_mode
        {
            spec.tls.ssl_mode = spec.tls.ssl_mode.max(m);
        }
        Ok(spec)
    }
}

/// Connection flags shared by every command that talks to a cluster.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// MySQL host (or --cluster; with --socket: localhost)
    #[arg(short = 'h', long)]
    pub host: Option<String>,
    /// MySQL port [default: 3306; through --socket: the server's]
    #[arg(short = 'P', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// A resolved target: the seed address, how to connect, and the cluster's name if named.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    pub spec: ConnectSpec,
    pub cluster_name: Option<String>,
}

impl TargetArgs {
    /// The seed address and the logins from the process's flags, environment and option
    /// files. Through a socket without a port, the seed's port is asked of the server.
    pub async fn resolve(&self, cfg: &Config) -> Result<Target> {
        self.resolve_in(cfg, &Environment::process()).await
    }

    async fn resolve_in(&self, cfg: &Config, env: &Environment<'_>) -> Result<Target> {
        let name = self.credentials.cluster.as_deref();
        let cluster = name.map(|n| cfg.cluster(n)).transpose()?;
        let l = self.credentials.logins(cfg, env)?;
        let host = self
            .host
            .clone()
            .or_else(|| l.files.host.clone())
            .or_else(|| cluster.map(|c| c.primary.host.clone()))
            .or_else(|| {
                l.spec
                    .local_socket
                    .as_ref()
                    .map(|_| "localhost".to_string())
            })
            .ok_or_else(|| {
                Error::invalid(
                    "--host is required (or --socket, an option file's host, or --cluster NAME)",
                )
            })?;
        if let Some(r) = crate::mysql::address::host_problem(&host) {
            return Err(Error::invalid(format!("--host: the host {r}")));
        }
        let port = self
            .port
            .or(l.files.port)
            .or_else(|| cluster.map(|c| c.primary.port));
        let mut endpoint = Endpoint::new(host, port.unwrap_or(3306));
        let mut spec = l.spec.with_seed(endpoint.clone());
        if port.is_none()
            && spec.local_socket.is_some()
            && endpoint.host.eq_ignore_ascii_case("localhost")
        {
            endpoint.port = server_port(&endpoint, &spec).await?;
            spec = spec.with_seed(endpoint.clone());
        }
        Ok(Target {
            endpoint,
            spec,
            cluster_name: name.map(str::to_string),
        })
    }
}

/// The port a node reached through its socket listens on (`@@port`): what its replicas know it
/// by.
async fn server_port(ep: &Endpoint, spec: &ConnectSpec) -> Result<u16> {
    let mut conn = crate::mysql::connect(ep, spec).await?;
    let rows = crate::mysql::query_rows(&mut conn, ep, "SELECT @@port AS port").await?;
    rows.first()
        .and_then(|r| r.u64(&["port"]))
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Discovery(format!("{ep}: the server did not say its port")))
}

/// Asks for a password on the controlling terminal, without echo (as the mysql client does).
pub fn prompt(question: &str) -> Result<Secret> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let no_tty = |e: std::io::Error| {
        Error::invalid(format!(
            "a password was to be asked on the terminal, and there is none ({e}): give it in \
             {PASSWORD_ENV} or an option file"
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(no_tty)?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for an open terminal descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(no_tty(std::io::Error::last_os_error()));
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: setting the attributes just read, with echo off, on the same descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut out = &tty;
    let _ = out.write_all(question.as_bytes());
    let _ = out.flush();
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restoring the attributes saved above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.map_err(no_tty)?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        t: TargetArgs,
    }

    fn resolve(args: &[&str], env: &[(&str, &str)], cfg: &Config) -> Result<Target> {
        let t = T::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .map_err(|e| Error::invalid(e.to_string()))?;
        let vars: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = move |k: &str| vars.get(k).cloned();
        let ask = |_: &str| Ok(Secret::new("asked"));
        let env = Environment {
            var: &var,
            ask: &ask,
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(t.t.resolve_in(cfg, &env))
    }

    fn config() -> Config {
        Config::parse(
            "database:\n  clusters:\n  - name: prod\n    primary: {host: db1, port: 3310, username: cfg_user, password: cfg_pw}\n    replica: {username: ro, password: ro_pw}\n    nodes:\n    - {host: db3, port: 3306, username: db3_user}\n    tls: {ssl_mode: REQUIRED}\n",
            std::path::Path::new("config.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn flags_beat_the_environment_which_beats_option_files_which_beat_the_config() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".my.cnf"),
            "[client]\nuser=file_user\npassword=file_pw\nhost=db2\nport=3311\n",
        )
        .unwrap();
        let h = home.path().to_str().unwrap();
        let cfg = config();
        let pw = |t: &Target| t.spec.credentials.password.expose().to_string();
        // The config alone.
        let t = resolve(&["--cluster", "prod"], &[], &cfg).unwrap();
        assert_eq!(t.endpoint.to_string(), "db1:3310");
        assert_eq!(
            (t.spec.credentials.user.as_str(), pw(&t).as_str()),
            ("cfg_user", "cfg_pw")
        );
        // Option files over the config.
        let t = resolve(&["--cluster", "prod"], &[("HOME", h)], &cfg).unwrap();
        assert_eq!(t.endpoint.to_string(), "db2:3311");
        assert_eq!(
            (t.spec.credentials.user.as_str(), pw(&t).as_str()),
            ("file_user", "file_pw")
        );
        // The environment over option files.
        let t = resolve(
            &["--cluster", "prod"],
            &[("HOME", h), (PASSWORD_ENV, "env_pw")],
            &cfg,
        )
        .unwrap();
        assert_eq!(pw(&t), "env_pw");
        // Flags over everything (`-pflag_pw` reaches clap as `--password=flag_pw`: cli::argv).
        let t = resolve(
            &[
                "--cluster",
                "prod",
                "-h",
                "db9",
                "-P",
                "3400",
                "-u",
                "flag_user",
                "--password=flag_pw",
            ],
            &[("HOME", h), (PASSWORD_ENV, "env_pw")],
            &cfg,
        )
        .unwrap();
        assert_eq!(t.endpoint.to_string(), "db9:3400");
        assert_eq!(
            (t.spec.credentials.user.as_str(), pw(&t).as_str()),
            ("flag_user", "flag_pw")
        );
        // --no-defaults drops the option files.
        let t = resolve(
            &["--cluster", "prod", "--no-defaults"],
            &[("HOME", h)],
            &cfg,
        )
        .unwrap();
        assert_eq!(t.endpoint.to_string(), "db1:3310");
    }

    #[test]
    fn a_bare_password_flag_and_ask_pass_ask() {
        let cfg = Config::default();
        for args in [
            &["-h", "db1", "-u", "u", "--password"][..],
            &["-h", "db1", "-u", "u", "--ask-pass"][..],
        ] {
            let t = resolve(args, &[(PASSWORD_ENV, "env_pw")], &cfg).unwrap();
            assert_eq!(t.spec.credentials.password.expose(), "asked", "{args:?}");
        }
    }

    #[test]
    fn replicas_and_single_nodes_log_in_with_their_own_logins() {
        let cfg = config();
        let t = resolve(&["--cluster", "prod", "--no-defaults"], &[], &cfg).unwrap();
        let user = |h: &str, p: u16| t.spec.credentials_for(&Endpoint::new(h, p)).user.clone();
        assert_eq!(user("db1", 3310), "cfg_user", "the seed");
        assert_eq!(user("db2", 3306), "ro", "a replica");
        assert_eq!(user("db3", 3306), "db3_user", "a node of its own");
        assert_eq!(t.spec.tls.ssl_mode, SslMode::Required, "the cluster's TLS");
        let t = resolve(
            &[
                "-h",
                "db1",
                "-u",
                "u",
                "--replica-user",
                "r",
                "--replica-password=rp",
            ],
            &[],
            &Config::default(),
        )
        .unwrap();
        let r = t.spec.credentials_for(&Endpoint::new("db2", 3306));
        assert_eq!((r.user.as_str(), r.password.expose()), ("r", "rp"));
        assert_eq!(
            t.spec.credentials_for(&Endpoint::new("db1", 3306)).user,
            "u"
        );
        let e = resolve(
            &["-h", "db1", "-u", "u", "--replica-password=x"],
            &[],
            &Config::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "--replica-password needs --replica-user");
    }

    #[test]
    fn verifying_modes_need_a_ca() {
        let e = resolve(
            &["-h", "db1", "-u", "u", "--ssl-mode", "verify_identity"],
            &[],
            &Config::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs --ssl-ca"), "{e}");
    }
}
