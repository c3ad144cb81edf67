//! `server`: the REST API (spec §3) on `server.host:server.port`, until SIGINT or SIGTERM.

use super::Context;
use crate::error::{Error, Result};
use crate::server::{AppState, is_loopback, serve};
use clap::Args;
use std::io::Write;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Port to listen on; 0 picks a free one [env: RECYCLER_SERVER_PORT] [config: server.port]
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on [config: server.host]
    #[arg(long)]
    pub host: Option<String>,
}

/// Resolves on the first SIGINT or SIGTERM.
async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

pub async fn run(ctx: &Context, a: ServerArgs) -> Result<i32> {
    if ctx.dry_run {
        return Err(Error::invalid(
            "the server runs the jobs it is given; it has no --dry-run (send jobs with \
             \"dry_run\": true, or make plans with POST /api/v1/plans)",
        ));
    }
    let mut config = ctx.config.clone();
    if let Some(p) = a.port {
        config.server.port = p;
    }
    if let Some(h) = a.host {
        config.server.host = h;
    }
    let (host, port) = (config.server.host.clone(), config.server.port);
    if !is_loopback(&host) && config.server.auth_token.is_none() {
        let msg = format!(
            "the server listens on {host}, which is not a loopback address, and has no API \
             token: anyone who can reach it can discover clusters and rebuild tables. Set \
             server.auth_token (or RECYCLER_API_TOKEN), or listen on 127.0.0.1"
        );
        tracing::warn!("{msg}");
        eprintln!("WARNING: {msg}");
    }
    let store = ctx.open_store().await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| Error::Internal(format!("cannot listen on {host}:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("cannot listen on {host}:{port}: {e}")))?;
    // The port really bound (with --port 0), for links such as alerts' generatorURL.
    config.server.port = addr.port();
    let state = AppState::new(config, store).await?;
    // The first line on stdout: scripts and tests read the port from it.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(
        auth = state.config().server.auth_token.is_some(),
        "listening on http://{addr}"
    );
    serve(listener, state, signalled())
        .await
        .map_err(|e| Error::Internal(format!("server: {e}")))?;
    Ok(0)
}
