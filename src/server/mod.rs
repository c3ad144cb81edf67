//! The REST server (spec §3, design §8): an axum router over the job manager, the planner and
//! the store. [`app`] builds the router from an [`AppState`]; [`serve`] runs it on a bound
//! listener until a shutdown future resolves, so tests bind port 0 and stop it cleanly.
//!
//! Connections get the configured timeouts: `read_timeout` for a request's headers (hyper)
//! and body, `write_timeout` for any write to stall, `idle_timeout` for a connection to stay
//! silent. On shutdown the server stops accepting, interrupts every job (running statements are
//! killed with `KILL QUERY`, the jobs are recorded `failed`, "interrupted"), closes WebSocket
//! monitors and drains the open requests.

mod api;
mod auth;
mod clusters;
mod dashboard;
mod error;
mod handlers;
mod metrics;
mod openapi;
mod plans;
mod ws;

use crate::config::Config;
use crate::error::Result;
use crate::jobs::{JobManager, ManagerConfig, Store};
use crate::monitor::Monitor;
use crate::mysql::ConnectSpec;
use crate::mysql::pool::ReadPools;
use crate::secret::Secret;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::MethodFilter;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    config: Config,
    /// The read pools of every node requests and jobs talk to (`database.default.*_conns`).
    pools: ReadPools,
    jobs: JobManager,
    /// The periodic fragmentation scans and their history.
    monitor: Monitor,
    started: Instant,
    token: Option<Secret>,
    shutdown: CancellationToken,
}

impl AppState {
    /// Opens the state over `store`: jobs a dead process left pending or running are recorded
    /// as `failed` ("interrupted") first.
    pub async fn new(config: Config, store: Store) -> Result<Self> {
        let recovered = store.recover_interrupted().await?;
        if !recovered.is_empty() {
            tracing::warn!(
                "job(s) {} were left running by a process that is gone: recorded as failed \
                 (interrupted); a new job from the same plan resumes them",
                recovered.join(", ")
            );
        }
        let mut mc = ManagerConfig::from_config(&config);
        mc.public_url = Some(format!(
            "http://{}:{}",
            config.server.host, config.server.port
        ));
        let pools = config.database.default.pools();
        let monitor =
            Monitor::open(&config, store.clone(), pools.clone(), mc.public_url.clone()).await?;
        let jobs = JobManager::new(store, mc);
        let alerted = jobs.send_pending_alerts().await?;
        if !alerted.is_empty() {
            tracing::warn!(
                "job(s) {} failed without their alert delivered (an interrupted job, or a \
                 shutdown before delivery): alerting now",
                alerted.join(", ")
            );
        }
        Ok(Self {
            inner: Arc::new(StateInner {
                token: config.server.auth_token.clone(),
                pools,
                jobs,
                monitor,
                config,
                started: Instant::now(),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn jobs(&self) -> &JobManager {
        &self.inner.jobs
    }

    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }

    /// `spec` over the server's read pools.
    pub fn pooled(&self, spec: ConnectSpec) -> ConnectSpec {
        spec.with_pools(self.inner.pools.clone())
    }

    fn started(&self) -> Instant {
        self.inner.started
    }

    fn token(&self) -> Option<&Secret> {
        self.inner.token.as_ref()
    }

    fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// WebSocket pings: well within the idle timeout.
    fn ping_interval(&self) -> Duration {
        (self.inner.config.server.idle_timeout.0 / 3)
            .clamp(Duration::from_millis(100), Duration::from_secs(30))
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, token or not: health, and the dashboard's static files (which hold no data;
    /// the page asks for the token and sends it with every call).
    Public,
    /// With a token configured (`server.auth_token`, `RECYCLER_API_TOKEN`): only with
    /// `Authorization: Bearer <token>`, else 401/1008.
    Token,
}

/// One operation of the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: &'static str,
    /// As axum and OpenAPI both write it: `/api/v1/recycle/jobs/{job_id}`.
    pub path: &'static str,
    pub access: Access,
}

impl Route {
    /// The route of `method path`, if the router has one.
    pub fn find(method: &str, path: &str) -> Option<&'static Route> {
        ROUTES
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
    }
}

/// The one table of routes: [`ROUTES`], the router of [`app`] and the operations of the OpenAPI
/// document ([`openapi::RouteDocs`]) are all generated from it, so a route cannot be served
/// undocumented, documented unserved, or left open by omission (every route is `Token` unless
/// marked `Public`).
macro_rules! routes {
    ($($access:ident $method:ident $path:literal => $($handler:ident)::+;)*) => {
        /// Every operation the server answers, with who may call it.
        pub const ROUTES: &[Route] = &[$(Route {
            method: stringify!($method),
            path: $path,
            access: Access::$access,
        }),*];

        /// The router of [`ROUTES`]: the public routes, and those behind the token check.
        fn routers() -> (Router<AppState>, Router<AppState>) {
            let (mut public, mut protected) = (Router::new(), Router::new());
            $(
                let r = axum::routing::on(MethodFilter::$method, $($handler)::+);
                match Access::$access {
                    Access::Public => public = public.route($path, r),
                    Access::Token => protected = protected.route($path, r),
                }
            )*
            (public, protected)
        }

        mod route_docs {
            #[allow(unused_imports)]
            use super::*;
            /// The `#[utoipa::path]` of every route of [`ROUTES`].
            #[derive(utoipa::OpenApi)]
            #[openapi(paths($($($handler)::+),*))]
            pub struct RouteDocs;
        }
        pub(crate) use route_docs::RouteDocs;
    };
}

routes! {
    Public GET "/api/v1/health" => handlers::health;
    Token POST "/api/v1/topology/discover" => handlers::discover_topology;
    Token POST "/api/v1/recycle/jobs" => handlers::create_job;
    Token GET "/api/v1/recycle/jobs" => handlers::list_jobs;
    Token GET "/api/v1/recycle/jobs/{job_id}" => handlers::get_job;
    Token DELETE "/api/v1/recycle/jobs/{job_id}" => handlers::cancel_job;
    Token PATCH "/api/v1/recycle/jobs/{job_id}" => handlers::patch_job;
    Token POST "/api/v1/recycle/jobs/{job_id}/pause" => handlers::pause_job;
    Token POST "/api/v1/recycle/jobs/{job_id}/resume" => handlers::resume_job;
    Token POST "/api/v1/plans" => plans::create_plan;
    Token GET "/api/v1/plans" => plans::list_plans;
    Token GET "/api/v1/plans/{plan_id}" => plans::get_plan;
    Token GET "/api/v1/plans/{plan_id}/review" => plans::review_plan;
    Token GET "/api/v1/plans/{plan_id}/diff" => plans::diff_plans;
    Token GET "/api/v1/clusters" => clusters::list_clusters;
    Token GET "/api/v1/clusters/{name}/fragmentation" => clusters::fragmentation;
    Token POST "/api/v1/clusters/{name}/scan" => clusters::scan_cluster;
    Token GET "/api/v1/ws/monitor" => ws::monitor;
    Token GET "/api/v1/openapi.json" => openapi::openapi_json;
    Token GET "/metrics" => metrics::metrics;
    Public GET "/" => dashboard::index;
    Public GET "/assets/{file}" => dashboard::asset;
}

/// The router: every route of [`ROUTES`], the token check on all but the public ones, the body
/// limits.
pub fn app(state: AppState) -> Router {
    let read_timeout = state.config().server.read_timeout.0;
    let (public, protected) = routers();
    let protected = protected.route_layer(from_fn_with_state(state.clone(), auth::require_token));
    public
        .merge(protected)
        .fallback(handlers::not_found)
        // Plans sent inline can be large.
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .layer(RequestBodyTimeoutLayer::new(read_timeout))
        .layer(from_fn(log_request))
        .with_state(state)
}

/// One debug line per request (method, path, status, time); never the body or headers.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let t = Instant::now();
    let res = next.run(req).await;
    tracing::debug!(
        "{method} {path} → {} in {:.1} ms",
        res.status().as_u16(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    res
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then shuts down as the module
/// doc says and returns when every job is recorded and every request answered.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state.clone());
    state.monitor().spawn(state.shutdown_token());
    let s = &state.config().server;
    let (idle, write) = (s.idle_timeout.0, s.write_timeout.0);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(s.read_timeout.0);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_read_timeout(Some(idle));
        io.set_write_timeout(Some(write));
        let io = TokioIo::new(Box::pin(io));
        let svc = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down");
    state.inner.shutdown.cancel();
    let jobs = state.jobs().clone();
    let drain = async {
        if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections were still open after 10 s; closing them");
        }
    };
    tokio::join!(jobs.shutdown(), drain);
    tracing::info!("stopped");
    Ok(())
}

/// `2h30m15s`, as the spec's health example.
pub fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The 1-minute load average (0 where the system does not say).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Whether `host` is a loopback address (or `localhost`).
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_and_loopback() {
        assert_eq!(uptime(Duration::from_secs(9015)), "2h30m15s");
        assert_eq!(uptime(Duration::from_secs(75)), "1m15s");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("0.0.0.0") && !is_loopback("10.0.0.1"));
    }
}
