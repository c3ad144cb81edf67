//! `sandbox up|down|status`: a local MariaDB replication cluster (design §9).

use super::Context;
use super::opts::SandboxPassword;
use crate::error::{Error, Result};
use crate::sandbox::fragment::demo_tables;
use crate::sandbox::{Layout, NodeStatus, Sandbox};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::Table;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub action: SandboxAction,
}

#[derive(Debug, Args)]
pub struct DirArg {
    /// Directory holding the sandbox's datadirs, sockets, pid files and logs
    #[arg(long, default_value = "./sandbox")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SandboxAction {
    /// Start the cluster (initializing it the first time); a running sandbox is left as it is
    Up(UpArgs),
    /// Stop the sandbox's own servers (found by their pid files)
    Down {
        #[command(flatten)]
        dir: DirArg,
        /// Also delete the sandbox directory
        #[arg(long)]
        purge: bool,
    },
    /// Create demo schemas with real fragmentation on the primary (replicated to every node)
    Fragment {
        #[command(flatten)]
        dir: DirArg,
        /// Schema to (re)create the demo tables in
        #[arg(long, default_value = "shop")]
        schema: String,
        /// Size of each large table before fragmentation, MiB
        #[arg(long, default_value_t = 40)]
        size_mb: u64,
    },
    /// Show each node: pid, read-only, replication
    Status {
        #[command(flatten)]
        dir: DirArg,
        /// Output format
        #[arg(long, visible_alias = "format", value_enum, default_value_t = StatusFormat::Table)]
        output_format: StatusFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Port of the primary; node i listens on base-port + i [default: 23306]
    #[arg(long)]
    pub base_port: Option<u16>,
    /// Replicas of the primary [default: 2]
    #[arg(long)]
    pub replicas: Option<usize>,
    /// Add a chained replica replicating from replica 1
    #[arg(long)]
    pub chain: bool,
    /// Account created on every node (all privileges, also used for replication)
    #[arg(long, default_value = "recycler")]
    pub user: String,
    #[command(flatten)]
    pub login: SandboxPassword,
}

pub async fn run(ctx: &Context, args: SandboxArgs) -> Result<i32> {
    if ctx.dry_run && !matches!(args.action, SandboxAction::Status { .. }) {
        println!(
            "dry run: the sandbox command would start, stop or change local servers and data; nothing done"
        );
        return Ok(0);
    }
    match args.action {
        SandboxAction::Up(a) => up(a).await,
        SandboxAction::Down { dir, purge } => {
            let sb = Sandbox::open(&dir.dir)?;
            sb.down(purge, Duration::from_secs(60)).await?;
            println!(
                "sandbox at {} stopped{}",
                sb.dir.display(),
                if purge { " and deleted" } else { "" }
            );
            Ok(0)
        }
        SandboxAction::Fragment {
            dir,
            schema,
            size_mb,
        } => {
            let sb = Sandbox::open(&dir.dir)?;
            let tables = demo_tables(&schema, size_mb.max(1));
            sb.fragment(&tables).await?;
            for t in &tables {
                println!(
                    "{}.{}: {} rows, {:?}{}{}",
                    t.schema,
                    t.table,
                    t.rows,
                    t.pattern,
                    if t.fulltext { ", FULLTEXT" } else { "" },
                    t.partitions
                        .map(|p| format!(", {p} partitions"))
                        .unwrap_or_default()
                );
            }
            println!("fragmented on the primary and replicated to every node");
            Ok(0)
        }
        SandboxAction::Status { dir, output_format } => {
            let sb = Sandbox::open(&dir.dir)?;
            let st = sb.status().await;
            match output_format {
                StatusFormat::Json => println!("{}", crate::output::json_pretty(&st)?),
                StatusFormat::Table => println!("{}", status_table(&st)),
            }
            Ok(if st.iter().all(|s| s.running) { 0 } else { 1 })
        }
    }
}

async fn up(a: UpArgs) -> Result<i32> {
    let existing = Sandbox::open(&a.dir.dir).ok();
    let layout = match &existing {
        Some(sb) => {
            let mut l = sb.layout.clone();
            let conflicts = a.base_port.is_some_and(|p| p != l.base_port)
                || a.replicas.is_some_and(|r| r != l.replicas)
                || (a.chain && !l.chain);
            if conflicts {
                return Err(Error::invalid(format!(
                    "a sandbox with another layout exists at {} (base port {}, {} replicas{}); \
                     run `sandbox down --purge --dir {}` first",
                    sb.dir.display(),
                    l.base_port,
                    l.replicas,
                    if l.chain { ", chained replica" } else { "" },
                    sb.dir.display()
                )));
            }
            l.user = a.user.clone();
            l
        }
        None => Layout {
            base_port: a.base_port.unwrap_or(23306),
            replicas: a.replicas.unwrap_or(2),
            chain: a.chain,
            user: a.user.clone(),
            tls: None,
        },
    };
    if layout.replicas == 0 && layout.chain {
        return Err(Error::invalid("--chain needs at least one replica"));
    }
    let sb = Sandbox::new(&a.dir.dir, layout);
    sb.up(&a.login.password).await?;
    println!("{}", status_table(&sb.status().await));
    println!(
        "sandbox running in {}; connect with --host 127.0.0.1 --port {} --user {} and the \
         password given to `sandbox up`.\nstop it with: mysql-tablespace-recycling sandbox down --dir {}",
        sb.dir.display(),
        sb.layout.base_port,
        sb.layout.user,
        sb.dir.display()
    );
    Ok(0)
}

fn status_table(st: &[NodeStatus]) -> Table {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(["node", "address", "pid", "read_only", "replication"]);
    for s in st {
        t.add_row([
            s.name.clone(),
            s.address.clone(),
            s.pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "stopped".into()),
            s.read_only
                .map(|r| if r { "ON" } else { "OFF" }.to_string())
                .unwrap_or_else(|| "-".into()),
            s.replication.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}
