//! A running rebuild statement and what stops it: the deadline, `worker_timeout`, cancellation,
//! a panic, or the node's load passing `critical_load` (read every `check_interval` on the
//! control connection). The stop itself is `KILL QUERY` from that second connection ([`kill`]);
//! a client-side timeout alone would leave the ALTER running on the server.
//!
//! [`until_stopped`] and [`critical_watch`] take the statement and the load as plain futures and
//! a [`LoadSource`], so the kill decisions are tested without a server.

use super::Event;
use super::checkpoint::Bounds;
use super::gate::during_rebuild;
use super::progress::RebuildNow;
use super::session::Control;
use crate::mysql::ConnectSpec;
use crate::settings::LoadLimits;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// Why a running statement was stopped.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Limit {
    /// The apply's deadline.
    Deadline,
    Cancelled,
    /// `worker_timeout`: this table only.
    TableTimeout,
    Panic(String),
    /// `critical_load`: this node stops.
    CriticalLoad(String),
}

/// How a statement ended.
pub(super) enum Ran {
    Finished(Result<(), sqlx::Error>),
    /// Stopped on the server by `KILL QUERY`.
    Killed(Limit),
    /// `KILL QUERY` could not be sent, or the statement did not end after it: it may still be
    /// running on the server.
    Unstopped(Limit),
}

/// Where the load during a rebuild is read from.
#[async_trait::async_trait]
pub(super) trait LoadSource: Send {
    /// The status variables now; `None` when they cannot be read.
    async fn read(&mut self) -> Option<Vec<(String, u64)>>;
}

/// The control connection's view of `names` and, at each look, of the rebuild's progress
/// (sent out as [`Event::Progress`]).
pub(super) struct ControlLoad<'a> {
    pub ctl: &'a mut Control,
    pub names: Vec<&'a str>,
    pub progress: Option<Followed<'a>>,
}

/// The rebuild whose progress is followed: the DDL session and what is known so far.
pub(super) struct Followed<'a> {
    pub id: u64,
    pub now: RebuildNow,
    pub bounds: &'a Bounds<'a>,
}

#[async_trait::async_trait]
impl LoadSource for ControlLoad<'_> {
    async fn read(&mut self) -> Option<Vec<(String, u64)>> {
        let load = self.ctl.load(&self.names).await.ok();
        if let Some(f) = self.progress.as_mut() {
            match self.ctl.rebuild_progress(f.id, &f.now.schema).await {
                Ok(Some(r)) => {
                    f.now.read(r, chrono::Utc::now());
                    f.bounds.emit(Event::Progress(f.now.clone()));
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("cannot read the rebuild's progress: {e}"),
            }
        }
        load
    }
}

/// Reads the load every `every` while a rebuild runs; resolves when it passes `critical`.
pub(super) async fn critical_watch(
    src: &mut dyn LoadSource,
    critical: &LoadLimits,
    every: Duration,
) -> String {
    loop {
        tokio::time::sleep(every).await;
        let now = src.read().await;
        if let Some(why) = during_rebuild(None, now.as_deref(), critical) {
            tracing::warn!("{why}: killing the rebuild");
            return why;
        }
    }
}

/// Waits for `stmt` to end, or for the reason it must be stopped: `limit` passing (the deadline,
/// or `worker_timeout` when that comes first), cancel, panic, or `critical` resolving.
pub(super) async fn until_stopped<F>(
    b: &Bounds<'_>,
    stmt: Pin<&mut F>,
    limit: Instant,
    critical: impl Future<Output = String>,
) -> Result<Result<(), sqlx::Error>, Limit>
where
    F: Future<Output = Result<(), sqlx::Error>>,
{
    tokio::select! {
        r = stmt => Ok(r),
        _ = tokio::time::sleep_until(limit) => Err(
            if limit >= b.deadline { Limit::Deadline } else { Limit::TableTimeout }
        ),
        _ = b.cancel.cancelled() => Err(Limit::Cancelled),
        _ = b.handle.panic_token().cancelled() => {
            Err(Limit::Panic(b.handle.panicked().unwrap_or_default()))
        }
        c = critical => Err(Limit::CriticalLoad(c)),
    }
}

/// `KILL QUERY id` on the control connection, or on a fresh one when that fails. Whether it was
/// sent.
pub(super) async fn kill(ctl: &mut Control, spec: &ConnectSpec, id: u64) -> bool {
    let sent = match ctl.kill_query(id).await {
        Ok(()) => true,
        Err(e) => {
            // The control connection may be gone: try a fresh one.
            tracing::warn!(node = %ctl.node, "KILL QUERY on the control connection failed: {e}");
            match Control::open(&ctl.node, spec).await {
                Ok(mut fresh) => match fresh.kill_query(id).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(node = %ctl.node, "KILL QUERY {id} failed: {e}");
                        false
                    }
                },
                Err(e) => {
                    tracing::error!(node = %ctl.node, "cannot connect to send KILL QUERY {id}: {e}");
                    false
                }
            }
        }
    };
    if sent {
        tracing::warn!(node = %ctl.node, "sent KILL QUERY {id}");
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ApplyHandle;
    use tokio_util::sync::CancellationToken;

    /// Loads from a script; the last one repeats.
    struct Loads(Vec<u64>);

    #[async_trait::async_trait]
    impl LoadSource for Loads {
        async fn read(&mut self) -> Option<Vec<(String, u64)>> {
            let v = if self.0.len() > 1 {
                self.0.remove(0)
            } else {
                self.0[0]
            };
            Some(vec![("THREADS_RUNNING".into(), v)])
        }
    }

    async fn stopped(
        handle: &ApplyHandle,
        loads: Vec<u64>,
        limit: Duration,
        deadline: Duration,
    ) -> Result<Result<(), sqlx::Error>, Limit> {
        let cancel = CancellationToken::new();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let b = Bounds {
            deadline: Instant::now() + deadline,
            cancel: &cancel,
            handle,
            check: Duration::from_millis(10),
            events: &tx,
        };
        // A rebuild that never ends by itself.
        let stmt = std::future::pending::<Result<(), sqlx::Error>>();
        tokio::pin!(stmt);
        let mut src = Loads(loads);
        let critical = LoadLimits::one("Threads_running", 50);
        until_stopped(
            &b,
            stmt,
            Instant::now() + limit,
            critical_watch(&mut src, &critical, b.check),
        )
        .await
    }

    fn handle() -> ApplyHandle {
        ApplyHandle::new(&crate::plan::example_plan().settings)
    }

    #[tokio::test]
    async fn critical_load_kills_the_running_rebuild() {
        let h = handle();
        let r = stopped(
            &h,
            vec![10, 20, 60],
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        assert_eq!(
            r.await.err(),
            Some(Limit::CriticalLoad(
                "critical load: Threads_running=60 > 50".into()
            ))
        );
    }

    #[tokio::test]
    async fn a_panic_kills_the_running_rebuild() {
        let h = handle();
        let p = h.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            p.panic("the panic file exists");
        });
        let r = stopped(
            &h,
            vec![10],
            Duration::from_secs(10),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(r.err(), Some(Limit::Panic("the panic file exists".into())));
    }

    #[tokio::test]
    async fn worker_timeout_and_the_deadline_are_told_apart() {
        let h = handle();
        let r = stopped(
            &h,
            vec![10],
            Duration::from_millis(30),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(r.err(), Some(Limit::TableTimeout));
        let r = stopped(
            &h,
            vec![10],
            Duration::from_millis(30),
            Duration::from_millis(30),
        )
        .await;
        assert_eq!(r.err(), Some(Limit::Deadline));
    }

    #[tokio::test]
    async fn a_calm_rebuild_runs_to_its_end() {
        let h = handle();
        let cancel = CancellationToken::new();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let b = Bounds {
            deadline: Instant::now() + Duration::from_secs(10),
            cancel: &cancel,
            handle: &h,
            check: Duration::from_millis(5),
            events: &tx,
        };
        let stmt = async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok(())
        };
        tokio::pin!(stmt);
        let mut src = Loads(vec![10]);
        let critical = LoadLimits::one("Threads_running", 50);
        let r = until_stopped(
            &b,
            stmt,
            b.deadline,
            critical_watch(&mut src, &critical, b.check),
        )
        .await;
        assert!(matches!(r, Ok(Ok(()))));
    }
}
