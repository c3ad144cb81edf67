//! The checkpoint a node's worker runs before every table, as a loop over what it sees: stop
//! (panic, cancel, deadline) → drift → the gates' verdict ([`super::gate`]) → hold and look again
//! every `check_interval`, or go. What it sees comes through [`Eyes`] — the node's connections in
//! the executor, a script in the tests — so the states (unknown lag waits, pause holds, panic and
//! the deadline stop with what was waited for, drift stops at once) are tested without a server.

use super::control::ApplyHandle;
use super::gate::{Hold, Readings, before_rebuild};
use super::{Event, RunState};
use crate::error::ErrorCode;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a worker stops before its last action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stop {
    /// The deadline passed; what a gate was waiting for then, if it was.
    Deadline(Option<String>),
    Cancelled,
    /// `--panic-file` or a panic through the API.
    Panic(String),
    /// The node cannot go on (drift, privilege, lost connection, critical load).
    Node(String, Option<ErrorCode>),
}

impl Stop {
    /// The skip reason of the tables left, and its spec code.
    pub(super) fn reason(&self, timeout: &str) -> (String, Option<ErrorCode>) {
        match self {
            Self::Deadline(None) => (
                format!("not run: the apply's deadline ({timeout}) passed"),
                Some(ErrorCode::Timeout),
            ),
            Self::Deadline(Some(w)) => (
                format!("not run: the apply's deadline ({timeout}) passed while {w}"),
                Some(ErrorCode::Timeout),
            ),
            Self::Cancelled => ("not run: cancelled".into(), None),
            Self::Panic(why) => (format!("not run: panic ({why})"), None),
            Self::Node(r, c) => (format!("not run: {r}"), *c),
        }
    }
}

/// What every wait of an apply answers to: its deadline, cancellation, the control handle
/// (pause, panic, live settings), the check interval; and where its events go.
pub(super) struct Bounds<'a> {
    pub deadline: Instant,
    pub cancel: &'a CancellationToken,
    pub handle: &'a ApplyHandle,
    pub check: Duration,
    pub events: &'a UnboundedSender<Event>,
}

impl Bounds<'_> {
    /// Panic, cancel or deadline, if one is in force.
    pub fn stop_now(&self) -> Option<Stop> {
        if let Some(why) = self.handle.panicked() {
            Some(Stop::Panic(why))
        } else if self.cancel.is_cancelled() {
            Some(Stop::Cancelled)
        } else if Instant::now() >= self.deadline {
            Some(Stop::Deadline(None))
        } else {
            None
        }
    }

    /// Sleeps until `d` passes, unless panicked, cancelled or past the deadline first.
    pub async fn pause(&self, d: Duration) -> Option<Stop> {
        tokio::select! {
            _ = tokio::time::sleep(d) => None,
            _ = self.handle.panic_token().cancelled() => self.stop_now(),
            _ = self.cancel.cancelled() => Some(Stop::Cancelled),
            _ = tokio::time::sleep_until(self.deadline) => Some(Stop::Deadline(None)),
        }
    }

    /// Sends an event (and logs the ones that are progress lines).
    pub fn emit(&self, e: Event) {
        if let (Event::TableStarted { node, .. } | Event::Waiting { node, .. }, Some(line)) =
            (&e, e.activity())
        {
            tracing::info!(target: "progress", node = %node, "{line}");
        }
        if let Event::BatchDone {
            node,
            batch,
            tables,
            done,
            total,
        } = &e
        {
            tracing::info!(target: "progress", node = %node,
                "batch {batch} done ({tables} table(s); {done} of {total} on this node)");
        }
        // Nobody listening is fine.
        let _ = self.events.send(e);
    }
}

/// One look at the world from a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Look {
    /// How the node, or a node its rebuild reaches, no longer matches the plan.
    pub changed: Vec<String>,
    pub readings: Readings,
}

/// What a checkpoint sees.
#[async_trait::async_trait]
pub(super) trait Eyes: Send {
    /// The world now; `Err` when it cannot be seen (the node's connection failed).
    async fn look(&mut self, b: &Bounds<'_>) -> Result<Look, Stop>;
    /// Waits between two looks, at most `d`: true when it waited for something that may end
    /// sooner (replicas replaying), false when there is nothing but the time to wait for.
    async fn wait_between(&mut self, d: Duration) -> bool;
}

/// The gate a node is held at: what it waits for and since when.
#[derive(Debug, Default)]
pub(super) struct Held(Option<(String, Instant, DateTime<Utc>)>);

impl Held {
    /// The gates opened: say how long they held, and for what.
    pub fn open(&mut self, node: &str, b: &Bounds<'_>) {
        if let Some((reason, since, _)) = self.0.take() {
            tracing::info!(target: "progress",
                "waited {:.1}s: {reason}", since.elapsed().as_secs_f64());
            b.emit(Event::Gate {
                node: node.to_string(),
                state: RunState::Running,
            });
        }
    }

    /// A gate holds for `h`: say so when the reason changes.
    fn hold(&mut self, node: &str, h: &Hold, b: &Bounds<'_>) {
        let reason = h.reason();
        if self.0.as_ref().is_some_and(|(r, _, _)| *r == reason) {
            return;
        }
        let (since, at) = self
            .0
            .as_ref()
            .map(|(_, s, a)| (*s, *a))
            .unwrap_or_else(|| (Instant::now(), Utc::now()));
        tracing::info!(target: "progress", "{reason}");
        let state = match h {
            Hold::Paused(why) => RunState::Paused {
                reason: why.clone(),
                since: at,
            },
            _ => RunState::Throttled {
                reason: reason.clone(),
                since: at,
            },
        };
        b.emit(Event::Gate {
            node: node.to_string(),
            state,
        });
        self.0 = Some((reason, since, at));
    }

    /// A deadline met while a gate held says what it held for.
    fn explain(&self, stop: Stop) -> Stop {
        match (stop, &self.0) {
            (Stop::Deadline(None), Some((reason, since, _))) => Stop::Deadline(Some(format!(
                "{reason} (for {:.0}s)",
                since.elapsed().as_secs_f64()
            ))),
            (s, _) => s,
        }
    }
}

/// The checkpoint of `node`: `None` when the next rebuild may start.
pub(super) async fn checkpoint(
    node: &str,
    b: &Bounds<'_>,
    eyes: &mut dyn Eyes,
    held: &mut Held,
) -> Option<Stop> {
    loop {
        let round = Instant::now();
        if let Some(stop) = b.stop_now() {
            return Some(held.explain(stop));
        }
        let look = match eyes.look(b).await {
            Ok(l) => l,
            Err(stop) => return Some(stop),
        };
        if !look.changed.is_empty() {
            return Some(Stop::Node(
                format!(
                    "the node changed during the apply: {}",
                    look.changed.join(", ")
                ),
                Some(ErrorCode::Primary),
            ));
        }
        match before_rebuild(&look.readings, &b.handle.tunables()) {
            None => {
                held.open(node, b);
                return None;
            }
            Some(h) => held.hold(node, &h, b),
        }
        let rest = b.check.saturating_sub(round.elapsed());
        // Waiting for a replay ends as soon as it is done. (Not raced against a stop: the server
        // would go on waiting anyway and the connection must read the answer before its next
        // query; the wait is bounded by the interval and the next round checks the stop first.)
        if !eyes.wait_between(rest).await
            && let Some(stop) = b.pause(rest).await
        {
            return Some(held.explain(stop));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::gate::Lag;
    use std::collections::VecDeque;

    /// Looks from a script; the last one repeats.
    struct Script {
        looks: VecDeque<Look>,
        seen: usize,
    }

    #[async_trait::async_trait]
    impl Eyes for Script {
        async fn look(&mut self, _: &Bounds<'_>) -> Result<Look, Stop> {
            self.seen += 1;
            let l = if self.looks.len() > 1 {
                self.looks.pop_front()
            } else {
                self.looks.front().cloned()
            };
            Ok(l.expect("a scripted look"))
        }
        async fn wait_between(&mut self, _: Duration) -> bool {
            false
        }
    }

    fn look(lag: Lag) -> Look {
        Look {
            changed: vec![],
            readings: Readings {
                paused: None,
                lag: vec![("r3:3306".into(), lag)],
                load: Ok(vec![("THREADS_RUNNING".into(), 2)]),
            },
        }
    }

    fn unknown() -> Look {
        look(Lag::Unknown("replication stopped (io=No, sql=Yes)".into()))
    }

    struct Rig {
        cancel: CancellationToken,
        handle: ApplyHandle,
        tx: UnboundedSender<Event>,
        rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
    }

    impl Rig {
        fn new() -> Self {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            Self {
                cancel: CancellationToken::new(),
                handle: ApplyHandle::new(&crate::plan::example_plan().settings),
                tx,
                rx,
            }
        }
        fn bounds(&self, deadline: Duration) -> Bounds<'_> {
            Bounds {
                deadline: Instant::now() + deadline,
                cancel: &self.cancel,
                handle: &self.handle,
                check: Duration::from_millis(10),
                events: &self.tx,
            }
        }
        fn states(&mut self) -> Vec<&'static str> {
            let mut v = Vec::new();
            while let Ok(e) = self.rx.try_recv() {
                if let Event::Gate { state, .. } = e {
                    v.push(state.as_str());
                }
            }
            v
        }
    }

    async fn run(b: &Bounds<'_>, looks: Vec<Look>) -> (Option<Stop>, usize) {
        let mut eyes = Script {
            looks: looks.into(),
            seen: 0,
        };
        let mut held = Held::default();
        let stop = checkpoint("r1:3306", b, &mut eyes, &mut held).await;
        (stop, eyes.seen)
    }

    #[tokio::test]
    async fn unknown_lag_waits_and_passes_once_known() {
        let mut rig = Rig::new();
        let (stop, seen) = run(
            &rig.bounds(Duration::from_secs(10)),
            vec![unknown(), unknown(), look(Lag::Known(Duration::ZERO))],
        )
        .await;
        assert_eq!(stop, None);
        assert_eq!(seen, 3, "it looked until the lag was known");
        assert_eq!(rig.states(), ["throttled", "running"]);
    }

    #[tokio::test]
    async fn unknown_lag_never_passes_and_the_deadline_says_why() {
        let rig = Rig::new();
        let b = rig.bounds(Duration::from_millis(80));
        let (stop, seen) = run(&b, vec![unknown()]).await;
        assert!(seen > 2, "looked again while it held ({seen})");
        match stop {
            Some(Stop::Deadline(Some(why))) => assert!(
                why.starts_with(
                    "waiting for replicas: r3:3306 lag unknown (replication stopped (io=No, \
                     sql=Yes)) (for "
                ),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pause_holds_until_resumed() {
        let mut rig = Rig::new();
        rig.handle.pause();
        let h = rig.handle.clone();
        let resumer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            h.resume();
        });
        let mut eyes = PauseEyes(rig.handle.clone(), 0);
        let started = Instant::now();
        let stop = checkpoint(
            "r1:3306",
            &rig.bounds(Duration::from_secs(10)),
            &mut eyes,
            &mut Held::default(),
        )
        .await;
        assert_eq!(stop, None);
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert!(eyes.1 > 2, "it looked again while paused ({})", eyes.1);
        resumer.await.unwrap();
        assert_eq!(rig.states(), ["paused", "running"]);
    }

    /// Looks that see the handle's pause, as the executor's do.
    struct PauseEyes(ApplyHandle, usize);

    #[async_trait::async_trait]
    impl Eyes for PauseEyes {
        async fn look(&mut self, _: &Bounds<'_>) -> Result<Look, Stop> {
            self.1 += 1;
            let mut l = look(Lag::Known(Duration::ZERO));
            l.readings.paused = self.0.paused().map(|(_, why)| why);
            Ok(l)
        }
        async fn wait_between(&mut self, _: Duration) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_panic_while_held_stops_at_once() {
        let rig = Rig::new();
        let h = rig.handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            h.panic("the panic file exists");
        });
        let b = rig.bounds(Duration::from_secs(10));
        let started = Instant::now();
        let (stop, _) = run(&b, vec![unknown()]).await;
        assert_eq!(stop, Some(Stop::Panic("the panic file exists".into())));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn drift_stops_the_node_without_waiting() {
        let rig = Rig::new();
        let b = rig.bounds(Duration::from_secs(10));
        let mut l = unknown();
        l.changed = vec!["r1:3306: read_only ON → OFF".into()];
        let (stop, seen) = run(&b, vec![l]).await;
        assert_eq!(seen, 1);
        assert_eq!(
            stop,
            Some(Stop::Node(
                "the node changed during the apply: r1:3306: read_only ON → OFF".into(),
                Some(ErrorCode::Primary)
            ))
        );
    }
}
