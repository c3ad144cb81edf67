//! Replica lag as throttling needs it (design §3, §6.2).
//!
//! `Seconds_Behind_Master` only measures lag behind the *direct* source, and right after a
//! rebuild the replicas below have not even received its event, so a lag read then passes. The
//! watch therefore first waits until every replica the rebuild reaches has *executed* the
//! executing node's binary log position taken after the rebuild (`MASTER_GTID_WAIT` /
//! `WAIT_FOR_EXECUTED_GTID_SET`; with file positions hop by hop, `MASTER_POS_WAIT`), and only
//! then judges the lag: the worst along the path from the executing node, beyond any configured
//! `MASTER_DELAY`, or a pt-heartbeat row's age where one is configured. Replication stopped, a
//! NULL lag, an unreachable node or a missing heartbeat row is unknown: never 0.
//!
//! A delayed replica (and anything below it) is not waited for by position: it replays the
//! rebuild only after its delay, by design; its lag counts beyond the delay.

use super::gate::Lag;
use super::session::Control;
use crate::mysql::gates::Position;
use crate::mysql::{ConnectSpec, Endpoint};
use crate::topology::{ClusterTopology, DatabaseNode};
use std::collections::HashMap;
use std::time::Duration;

/// Where true lag is read instead of `Seconds_Behind_Master`: pt-heartbeat's table and the
/// server whose rows count (the topology's root).
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub schema: String,
    pub table: String,
    pub server_id: u32,
}

/// One watched replica as a checkpoint saw it.
pub struct Seen {
    pub node: Endpoint,
    /// Its own facts now (for the drift rule), or why they could not be read.
    pub live: Result<DatabaseNode, String>,
    pub lag: Lag,
}

/// Lag of one node as it says it: its own `Seconds_Behind_Master` (or heartbeat age) less
/// `delay` seconds of configured delay on its path.
pub fn own_lag(live: &DatabaseNode, heartbeat: Option<Duration>, delay: u64) -> Lag {
    let Some(r) = &live.replication else {
        // The root: nothing to be behind.
        return Lag::Known(Duration::ZERO);
    };
    if !live.replicating() {
        return Lag::Unknown(format!(
            "replication stopped (io={}, sql={})",
            r.io_running, r.sql_running
        ));
    }
    let raw = match (heartbeat, live.lag_seconds) {
        (Some(h), _) => h,
        (None, Some(s)) => Duration::from_secs(s.max(0) as u64),
        (None, None) => return Lag::Unknown("Seconds_Behind_Master is NULL".into()),
    };
    Lag::Known(raw.saturating_sub(Duration::from_secs(delay)))
}

/// Watches the replicas a binlog-on rebuild reaches.
pub struct LagWatch {
    spec: ConnectSpec,
    heartbeat: Option<Heartbeat>,
    /// (replica, nodes from the executing node's child down to the replica).
    paths: Vec<(Endpoint, Vec<Endpoint>)>,
    conns: HashMap<Endpoint, Control>,
    /// Configured delay of each watched node plus every node above it on its path.
    delay: HashMap<Endpoint, u64>,
    /// Positions replicas have still to execute, with the table they carry.
    pending: HashMap<Endpoint, (Position, String)>,
}

fn path_to<'a>(n: &'a DatabaseNode, target: &Endpoint, acc: &mut Vec<&'a DatabaseNode>) -> bool {
    for c in &n.slaves {
        acc.push(c);
        if c.endpoint() == *target || path_to(c, target, acc) {
            return true;
        }
        acc.pop();
    }
    false
}

impl LagWatch {
    /// Watches each of `targets` below `exec` in `topo`.
    pub fn new(
        topo: &ClusterTopology,
        exec: &Endpoint,
        targets: &[Endpoint],
        spec: &ConnectSpec,
        heartbeat: Option<Heartbeat>,
    ) -> Self {
        let mut paths = Vec::new();
        let mut delay = HashMap::new();
        if let Some(start) = topo.find(exec) {
            for t in targets {
                let mut acc = Vec::new();
                if path_to(start, t, &mut acc) {
                    let mut cum = 0;
                    for n in &acc {
                        cum += n.replication.as_ref().map_or(0, |r| r.delay_seconds);
                        delay.insert(n.endpoint(), cum);
                    }
                    paths.push((t.clone(), acc.iter().map(|n| n.endpoint()).collect()));
                }
            }
        }
        Self {
            spec: spec.clone(),
            heartbeat,
            paths,
            conns: HashMap::new(),
            delay,
            pending: HashMap::new(),
        }
    }

    /// Whether there is anything to watch.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Every node on a watched path, each once, top first.
    fn nodes(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = Vec::new();
        for (_, p) in &self.paths {
            for n in p {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        out
    }

    /// After a rebuild of `what` on the executing node (whose control connection is `exec`):
    /// every replica it reaches must execute the node's position before the next rebuild.
    pub async fn rebuilt(&mut self, exec: &mut Control, what: &str) -> crate::error::Result<()> {
        let pos = exec.position().await?;
        for n in self.nodes() {
            let direct = self.paths.iter().any(|(_, p)| p.first() == Some(&n));
            if self.delay.get(&n).copied().unwrap_or(0) == 0 && (pos.is_global() || direct) {
                self.pending.insert(n, (pos.clone(), what.to_string()));
            }
        }
        Ok(())
    }

    async fn conn(&mut self, ep: &Endpoint) -> Result<&mut Control, String> {
        if !self.conns.contains_key(ep) {
            let c = Control::open(ep, &self.spec)
                .await
                .map_err(|e| format!("unreachable: {e}"))?;
            self.conns.insert(ep.clone(), c);
        }
        self.conns
            .get_mut(ep)
            .ok_or_else(|| "unreachable".to_string())
    }

    /// Whether a replica has still to execute the last rebuild (as of the last check).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Checks (without waiting) which replicas executed the last rebuild, then reads every
    /// watched replica.
    pub async fn read(&mut self) -> Vec<Seen> {
        self.wait_pending(Duration::ZERO).await;
        let mut live: HashMap<Endpoint, Result<(DatabaseNode, Option<Duration>), String>> =
            HashMap::new();
        for n in self.nodes() {
            let hb = self.heartbeat.clone();
            let r = match self.conn(&n).await {
                Err(e) => Err(e),
                Ok(c) => match c.live_node().await {
                    Err(e) => Err(format!("unreachable: {e}")),
                    Ok(node) => match &hb {
                        None => Ok((node, None)),
                        Some(h) => match c.heartbeat(&h.schema, &h.table, h.server_id).await {
                            Ok(Some(age)) => Ok((node, Some(age))),
                            Ok(None) => Err(format!(
                                "no row of server_id {} in the heartbeat table {}.{}",
                                h.server_id, h.schema, h.table
                            )),
                            Err(e) => Err(format!("heartbeat table unreadable: {e}")),
                        },
                    },
                },
            };
            if r.is_err() {
                // Reconnect next time.
                self.conns.remove(&n);
            }
            live.insert(n, r);
        }
        self.paths
            .iter()
            .map(|(target, path)| {
                let mut worst = Lag::Known(Duration::ZERO);
                for n in path {
                    let lag = match live.get(n) {
                        Some(Ok((node, hb))) => {
                            own_lag(node, *hb, self.delay.get(n).copied().unwrap_or(0))
                        }
                        Some(Err(e)) => Lag::Unknown(e.clone()),
                        None => Lag::Unknown("not read".into()),
                    };
                    let lag = match (lag, self.pending.get(n)) {
                        (Lag::Known(_), Some((_, what))) => Lag::Replaying(what.clone()),
                        (l, _) => l,
                    };
                    worst = match (worst, lag) {
                        (u @ Lag::Unknown(_), _) | (_, u @ Lag::Unknown(_)) => u,
                        (r @ Lag::Replaying(_), _) | (_, r @ Lag::Replaying(_)) => r,
                        (Lag::Known(a), Lag::Known(b)) => Lag::Known(a.max(b)),
                    };
                }
                Seen {
                    node: target.clone(),
                    live: match live.get(target) {
                        Some(Ok((n, _))) => Ok(n.clone()),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err("not read".into()),
                    },
                    lag: worst,
                }
            })
            .collect()
    }

    /// One bounded wait, concurrently on every replica with a pending position (a zero `wait`
    /// only checks). Used as the pause between two checks while replicas replay: it ends as
    /// soon as they have.
    pub async fn wait_pending(&mut self, wait: Duration) {
        if self.pending.is_empty() {
            return;
        }
        let waiting: Vec<Endpoint> = self.pending.keys().cloned().collect();
        for ep in &waiting {
            if let Err(e) = self.conn(ep).await {
                tracing::debug!(node = %ep, "cannot wait for the rebuild's position: {e}");
            }
        }
        let Self { conns, pending, .. } = self;
        let waits = conns.iter_mut().filter_map(|(ep, c)| {
            let (pos, _) = pending.get(ep)?;
            let pos = pos.clone();
            Some(async move {
                let r = c.wait_for(&pos, wait).await;
                (ep.clone(), pos, r)
            })
        });
        let results = futures::future::join_all(waits).await;
        let mut reached = Vec::new();
        for (ep, pos, r) in results {
            match r {
                Ok(Some(true)) => reached.push((ep, pos)),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(node = %ep, "waiting for {pos} failed: {e}");
                    self.conns.remove(&ep);
                }
            }
        }
        for (ep, pos) in reached {
            let Some((_, what)) = self.pending.remove(&ep) else {
                continue;
            };
            tracing::debug!(node = %ep, "executed {pos} ({what})");
            if pos.is_global() {
                continue;
            }
            // File positions are the node's own: its replicas wait for its position now.
            let children: Vec<Endpoint> = self
                .paths
                .iter()
                .filter_map(|(_, p)| {
                    let i = p.iter().position(|n| *n == ep)?;
                    p.get(i + 1).cloned()
                })
                .filter(|c| self.delay.get(c).copied().unwrap_or(0) == 0)
                .collect();
            if children.is_empty() {
                continue;
            }
            if let Ok(c) = self.conn(&ep).await
                && let Ok(own) = c.position().await
            {
                for child in children {
                    self.pending.insert(child, (own.clone(), what.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Role;

    fn replica(lag: Option<i64>, io: &str, delay: u64) -> DatabaseNode {
        let mut n = DatabaseNode {
            lag_seconds: lag,
            source: Some(Endpoint::new("127.0.0.1", 3306)),
            ..DatabaseNode::fixture(3307, Role::Slave)
        };
        if let Some(r) = n.replication.as_mut() {
            r.io_running = io.into();
            r.delay_seconds = delay;
        }
        n
    }

    #[test]
    fn lag_counts_beyond_the_delay_and_unknown_is_never_zero() {
        let secs = Duration::from_secs;
        assert_eq!(
            own_lag(&replica(Some(3605), "Yes", 3600), None, 3600),
            Lag::Known(secs(5))
        );
        assert_eq!(
            own_lag(&replica(Some(10), "Yes", 3600), None, 3600),
            Lag::Known(secs(0))
        );
        assert_eq!(
            own_lag(&replica(Some(0), "Yes", 0), Some(secs(7)), 0),
            Lag::Known(secs(7)),
            "the heartbeat wins over Seconds_Behind_Master"
        );
        assert!(matches!(
            own_lag(&replica(None, "Yes", 0), None, 0),
            Lag::Unknown(_)
        ));
        assert_eq!(
            own_lag(&replica(Some(0), "No", 0), None, 0),
            Lag::Unknown("replication stopped (io=No, sql=Yes)".into())
        );
    }
}
