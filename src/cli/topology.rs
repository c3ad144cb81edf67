//! `topology`: discover the replication tree from any node and print it.

use super::login::TargetArgs;
use super::{Context, emit};
use crate::error::Result;
use crate::topology::{DiscoverOptions, OutputFormat, discover, render};
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
}

pub async fn run(ctx: &Context, args: TopologyArgs) -> Result<i32> {
    let target = args.target.resolve(&ctx.config).await?;
    let opts = DiscoverOptions {
        max_depth: args.max_depth,
        parallel: ctx.parallel.unwrap_or(super::DEFAULT_PARALLEL),
        cluster_name: target.cluster_name.clone(),
    };
    let topo = discover(&target.endpoint, &target.spec, &opts).await?;
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
