//! `topology`: discover the replication tree from any node and print it.

use super::login::TargetArgs;
use super::{Context, emit};
use crate::error::Result;
use crate::mysql::Endpoint;
use crate::topology::seen::remember;
use crate::topology::{DiscoverOptions, NodeMemory, OutputFormat, discover, render};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TopologyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format
    #[arg(long, visible_alias = "format", value_enum, default_value_t = OutputFormat::Table)]
    pub output_format: OutputFormat,
    /// Write the output to this file instead of stdout
    #[arg(long)]
    pub output_file: Option<PathBuf>,
    /// Levels to walk up from the node given and down from the primary
    #[arg(long, default_value_t = crate::topology::DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Forget a node seen by earlier discoveries (HOST:PORT; repeatable), so it is no longer
    /// reported "not found now" — say, a replica taken out for good
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_address)]
    pub forget: Vec<Endpoint>,
}

fn parse_address(s: &str) -> std::result::Result<Endpoint, String> {
    Endpoint::parse(s).map_err(|e| e.to_string())
}

pub async fn run(ctx: &Context, args: TopologyArgs) -> Result<i32> {
    let target = args.target.resolve(&ctx.config).await?;
    let opts = DiscoverOptions {
        max_depth: args.max_depth,
        parallel: ctx.parallel.unwrap_or(super::DEFAULT_PARALLEL),
        cluster_name: target.cluster_name.clone(),
    };
    // The job store remembers the nodes each discovery found (nodes seen before). Only a
    // report: a store that cannot be opened is a warning, unless a node is to be forgotten.
    let store = match ctx.open_store().await {
        Ok(s) => Some(s),
        Err(e) if args.forget.is_empty() => {
            tracing::warn!("nodes seen before are not reported: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    let mut topo = discover(&target.endpoint, &target.spec, &opts).await?;
    if let Some(store) = &store {
        // Forgotten before this discovery is recorded: not reported missing by it already.
        for ep in &args.forget {
            let what = if store.forget(&topo.cluster_name, ep).await? {
                "forgot"
            } else {
                "no node seen before at"
            };
            eprintln!("{what} {ep} (cluster {})", topo.cluster_name);
        }
        remember(&mut topo, store).await;
    }
    for (n, _) in topo.nodes() {
        if let Some(e) = &n.error {
            tracing::warn!(node = %n.endpoint(), "unreachable: {e}");
        }
    }
    emit(
        &render(&topo, args.output_format)?,
        args.output_file.as_ref(),
    )?;
    Ok(0)
}
