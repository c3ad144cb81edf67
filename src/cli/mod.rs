//! The command line: clap definitions and the dispatcher; the option groups several commands
//! share are in `opts`.
//!
//! Each command lives in its own file and returns an exit code (design §7); errors are printed
//! once, here, as `error[CODE]: message` with the spec §6 code. The doc comments on the clap
//! types are the user manual (`--help`).

mod apply;
mod argv;
mod demo;
mod login;
mod manual;
mod opts;
mod plan;
mod progress;
mod sandbox;
mod server;
mod status;
mod topology;

use crate::config::{Config, DEFAULT_CONFIG_PATH, FlagOverrides, LogFormat};
use crate::error::{Error, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Gives disk space back from fragmented InnoDB tables across MySQL/MariaDB replication
/// clusters, safely: discover, plan, review, apply.
#[derive(Debug, Parser)]
#[command(
    name = "mysql-tablespace-recycling",
    version = VERSION,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Config file [env: RECYCLER_CONFIG_FILE] [default: ./config.yaml; a missing default file
    /// means built-in defaults]
    #[arg(long, global = true, env = "RECYCLER_CONFIG_FILE", hide_env = true)]
    pub config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn, error [env: RECYCLER_LOG_LEVEL] [config: logging.level]
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log line format: text, or one JSON object a line [env: RECYCLER_LOG_FORMAT] [config:
    /// logging.format] [default: text]
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log file, rotated by size [env: RECYCLER_LOG_FILE] [config: logging.file] [default:
    /// ./logs/recycling.log, or STATE_DIR/logs/recycling.log]
    #[arg(long, global = true)]
    pub log_file: Option<PathBuf>,
    /// Directory for the state paths not set otherwise: the job store (DIR/jobs.db), the log
    /// file (DIR/logs/recycling.log), the metrics store (DIR/metrics.db) [env:
    /// RECYCLER_STATE_DIR] [config: state_dir] [default: ./data/… and ./logs/…]
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    /// Show what would be done, change nothing
    #[arg(long, global = true, env = "RECYCLER_DRY_RUN")]
    pub dry_run: bool,
    /// Nodes worked on at once (probes, scans, rebuilds) [default: 10; apply: the plan's]
    #[arg(long, global = true, env = "RECYCLER_PARALLEL",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover the replication topology from any node and show it
    Topology(Box<topology::TopologyArgs>),
    /// Scan nodes, estimate what rebuilds would free, and write a reviewable plan
    Plan(Box<plan::PlanArgs>),
    /// Show a plan file
    Show(plan::ShowArgs),
    /// Compare two plans: exit 0 when the work is the same, 2 when it differs
    Diff(plan::DiffArgs),
    /// Check a plan against safety rules and a policy: exit 4 on any error finding
    Check(plan::CheckArgs),
    /// Apply a reviewed plan: preflight, batches, server-side timeouts; exit 3 stale, 5 partial
    Apply(Box<apply::ApplyArgs>),
    /// Plan in memory and apply it at once (with --dry-run: print the plan and stop)
    Recycle(Box<apply::RecycleArgs>),
    /// Run a local MariaDB replication cluster for demos and tests
    Sandbox(sandbox::SandboxArgs),
    /// The whole tool end to end on a local sandbox cluster
    Demo(demo::DemoArgs),
    /// Serve the REST API: topology, plans and jobs, WebSocket monitor, metrics
    Server(server::ServerArgs),
    /// Show jobs (from --server or the local job store)
    Status(status::StatusArgs),
    /// Watch running jobs, refreshed (from --server or the local job store)
    Monitor(status::MonitorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff; `man -l` renders it), or write every page to a directory
    Man(manual::ManArgs),
}

/// `--version`: the crate version and the git revision it was built from (`build.rs`:
/// the short hash, `-dirty` for uncommitted changes, `unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("RECYCLER_GIT_REVISION"),
    ")"
);

/// What every command gets: the resolved config and the global flags.
#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub dry_run: bool,
    /// `--parallel` when given.
    pub parallel: Option<usize>,
}

impl Context {
    /// The job store of `persistence.job_state` (in memory when it is disabled).
    pub async fn open_store(&self) -> Result<crate::jobs::Store> {
        if self.config.persistence.job_state.enabled {
            crate::jobs::Store::open(&self.config.job_store_file()).await
        } else {
            crate::jobs::Store::in_memory().await
        }
    }
}

/// Nodes at once when neither flag nor plan says.
pub use crate::topology::DEFAULT_PARALLEL;

/// The command line with `--help` as the only help flag on every command: `-h` is the host,
/// as in every MySQL tool.
pub(super) fn command() -> clap::Command {
    fn long_help_only(c: clap::Command) -> clap::Command {
        c.disable_help_flag(true)
            .arg(
                clap::Arg::new("help")
                    .long("help")
                    .action(clap::ArgAction::Help)
                    .help("Print help"),
            )
            .mut_subcommands(long_help_only)
    }
    use clap::CommandFactory;
    long_help_only(Cli::command())
}

/// Parses the process arguments (mysql spellings first: [`argv::normalize`]), wipes the
/// passwords from them, runs the command and returns the exit code.
pub fn main() -> i32 {
    use clap::FromArgMatches;
    let parsed = command()
        .try_get_matches_from(argv::normalize(std::env::args_os()))
        .and_then(|m| Cli::from_arg_matches(&m));
    argv::hide_passwords();
    match parsed {
        Ok(cli) => run(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    0
                }
                _ => {
                    let text = e.render().to_string();
                    let text = text.strip_prefix("error: ").unwrap_or(&text);
                    eprint!("error[1001]: {text}");
                    1
                }
            }
        }
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> i32 {
    match try_run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            // A plan that no longer matches the live cluster is refused with exit 3 (design §7).
            if matches!(e, Error::Stale { .. }) {
                3
            } else {
                1
            }
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config> {
    let explicit = cli.config.is_some();
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let mut config = Config::load(&path, explicit)?;
    config.apply_env(|k| std::env::var(k).ok())?;
    config.apply_flags(&FlagOverrides {
        log_level: cli.log_level.clone(),
        log_format: cli.log_format,
        log_file: cli.log_file.clone(),
        state_dir: cli.state_dir.clone(),
    })?;
    Ok(config)
}

fn try_run(cli: Cli) -> Result<i32> {
    // Documentation commands need no config, log or runtime.
    match &cli.command {
        Command::Completions(a) => return manual::completions(a).map(|()| 0),
        Command::Man(a) => return manual::man(a).map(|()| 0),
        _ => {}
    }
    let config = load_config(&cli)?;
    let _log = crate::logging::init(&config.logging, &config.log_file())?;
    tracing::debug!(
        log_file = %config.log_file().display(),
        job_store = %config.job_store_file().display(),
        metrics_store = %config.metrics_file().display(),
        "state paths"
    );
    let ctx = Context {
        config,
        dry_run: cli.dry_run,
        parallel: cli.parallel.map(usize::from),
    };
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(async {
        match cli.command {
            Command::Topology(a) => topology::run(&ctx, *a).await,
            Command::Plan(a) => plan::run(&ctx, *a).await,
            Command::Show(a) => plan::show(a),
            Command::Diff(a) => plan::diff_cmd(a),
            Command::Check(a) => plan::check_cmd(a),
            Command::Apply(a) => apply::apply(&ctx, *a).await,
            Command::Recycle(a) => apply::recycle(&ctx, *a).await,
            Command::Sandbox(a) => sandbox::run(&ctx, a).await,
            Command::Demo(a) => demo::run(&ctx, a).await,
            Command::Server(a) => server::run(&ctx, a).await,
            Command::Status(a) => status::status(&ctx, a).await,
            Command::Monitor(a) => status::monitor(&ctx, a).await,
            // Answered above, before the config is read.
            Command::Completions(_) | Command::Man(_) => Ok(0),
        }
    });
    if let Err(e) = &result {
        tracing::error!(target: "outcome", code = e.code().as_u16(), "{e}");
    }
    result
}

/// Writes `text` to `path`, or to stdout when `path` is `None`.
pub fn emit(text: &str, path: Option<&PathBuf>) -> Result<()> {
    match path {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
            }
            std::fs::write(p, text).map_err(|e| Error::file(p, e))?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent_and_h_is_the_host() {
        let cmd = super::command();
        cmd.clone().debug_assert();
        let m = cmd
            .try_get_matches_from(["t", "topology", "-h", "db1", "-P", "3307", "-u", "u"])
            .unwrap();
        let (_, sub) = m.subcommand().unwrap();
        assert_eq!(
            sub.get_one::<String>("host").map(String::as_str),
            Some("db1")
        );
    }
}
