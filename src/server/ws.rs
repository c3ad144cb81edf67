//! `GET /api/v1/ws/monitor`: a WebSocket that pushes a spec §3.3 `job_update` message on every
//! change of a job's status or progress. On connect it first sends the jobs pending or running,
//! so a client never starts blind. The server pings well within `server.idle_timeout` so quiet
//! monitors stay connected, and closes the socket when it shuts down. A client that offers the
//! `recycler.v1` subprotocol (the dashboard, which sends its token beside it) gets it selected.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::jobs::JobStatus;
use crate::jobs::view::JobUpdate;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

/// The upgrade handler. A request that is not a WebSocket upgrade is 400/1001 naming what is
/// missing, in the error body like every other error.
#[utoipa::path(get, path = "/api/v1/ws/monitor", tag = "jobs",
    responses(
        (status = 101, description = "WebSocket of job_update messages", body = JobUpdate),
        (status = 400, description = "Not a WebSocket upgrade request (1001)", body = ErrorBody),
    ))]
pub async fn monitor(
    State(st): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws
            .protocols([super::auth::WS_PROTOCOL])
            .on_upgrade(move |socket| run(socket, st)),
        Err(e) => ApiError::field(
            "headers",
            format!("not a WebSocket upgrade request: {}", e.body_text()),
        )
        .into_response(),
    }
}

async fn send(socket: &mut WebSocket, u: &JobUpdate) -> bool {
    match serde_json::to_string(u) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

async fn run(mut socket: WebSocket, st: AppState) {
    // Subscribe before the snapshot, so nothing falls between them.
    let mut rx = st.jobs().subscribe();
    let active = st
        .jobs()
        .store()
        .jobs_with(&[JobStatus::Pending, JobStatus::Running], 100)
        .await
        .unwrap_or_default();
    for j in &active {
        if !send(&mut socket, &JobUpdate::from(j)).await {
            return;
        }
    }
    let mut ping = tokio::time::interval(st.ping_interval());
    ping.tick().await;
    let shutdown = st.shutdown_token();
    loop {
        tokio::select! {
            u = rx.recv() => match u {
                Ok(job) => {
                    if !send(&mut socket, &JobUpdate::from(job.as_ref())).await {
                        return;
                    }
                }
                // A slow client missed some updates; the next one carries the current state.
                Err(RecvError::Lagged(n)) => tracing::debug!("monitor client lagged by {n}"),
                Err(RecvError::Closed) => break,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
