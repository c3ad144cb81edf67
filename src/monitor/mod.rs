//! Fragmentation monitoring (spec §4.1 `monitoring.metrics`, `persistence.metrics`; design
//! §10): in server mode, every cluster of `database.clusters` is scanned every `interval` —
//! discovery, then the planner's read-only catalog scan of every node ([`scan`]) — and the
//! results are kept in the metrics store ([`store`]) for `retention`. [`Monitor`] runs the
//! scans (one at a time per cluster, on the schedule or asked for), counts the nodes each scan
//! missed for `/metrics`, and posts the alerts of [`alerts`] without ever waiting for them.

pub mod alerts;
pub mod scan;
pub mod store;

use crate::config::{ClusterConfig, Config};
use crate::error::{Error, Result};
use crate::jobs::Store;
use crate::jobs::alerts::AlertSink;
use crate::mysql::pool::ReadPools;
use alerts::{AlertRules, ClusterAlerts};
use scan::{ClusterScan, NodeStatus, ScanOutcome, ScanSettings, scan_cluster};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use store::{MetricsStore, StoredScan};
use tokio_util::sync::CancellationToken;

/// The monitor of a server. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: MetricsStore,
    /// Where discovery records the nodes it found (the job store).
    memory: Store,
    pools: ReadPools,
    /// One scan of a cluster at a time.
    running: HashMap<String, tokio::sync::Mutex<()>>,
    counts: Mutex<HashMap<String, ClusterCounts>>,
    sink: Option<AlertSink>,
    generator_url: Option<String>,
}

/// What this process counted of a cluster's scans.
#[derive(Default)]
struct ClusterCounts {
    alerts: ClusterAlerts,
    /// Node address → scans that did not read it.
    errors: BTreeMap<String, u64>,
}

impl Monitor {
    /// The monitor of `config`'s clusters, over the metrics store it names — in memory with
    /// `persistence.metrics.enabled: false` or no cluster configured (nothing to keep) — the job
    /// store `memory` and the server's read `pools`; alerts link to `generator_url`.
    pub async fn open(
        config: &Config,
        memory: Store,
        pools: ReadPools,
        generator_url: Option<String>,
    ) -> Result<Self> {
        let store = if config.persistence.metrics.enabled && !config.database.clusters.is_empty() {
            MetricsStore::open(&config.metrics_file()).await?
        } else {
            MetricsStore::in_memory().await?
        };
        let a = &config.monitoring.alerts;
        let sink = a
            .webhook_url
            .as_ref()
            .filter(|_| a.enabled)
            .map(AlertSink::new);
        Ok(Self {
            inner: Arc::new(Inner {
                running: config
                    .database
                    .clusters
                    .iter()
                    .map(|c| (c.name.clone(), tokio::sync::Mutex::new(())))
                    .collect(),
                config: config.clone(),
                store,
                memory,
                pools,
                counts: Mutex::new(HashMap::new()),
                sink,
                generator_url,
            }),
        })
    }

    pub fn store(&self) -> &MetricsStore {
        &self.inner.store
    }

    /// The configured clusters, in config order.
    pub fn clusters(&self) -> &[ClusterConfig] {
        &self.inner.config.database.clusters
    }

    /// Whether writable nodes and the root are protected (as plans default to).
    pub fn exclude_primary(&self) -> bool {
        self.inner.config.recycling.defaults.exclude_primary
    }

    /// Tables per node `/metrics` exports.
    pub fn top_tables(&self) -> usize {
        self.inner.config.monitoring.metrics.top_tables
    }

    /// What scans read.
    pub fn settings(&self) -> ScanSettings {
        let c = &self.inner.config;
        let m = &c.monitoring.metrics;
        let d = &c.recycling.defaults;
        let min_mb = m.min_table_mb.unwrap_or(d.threshold_mb);
        ScanSettings {
            parallel: m.parallel,
            node_timeout: m.node_timeout.0,
            max_depth: crate::topology::DEFAULT_MAX_DEPTH,
            min_file_bytes: min_mb.saturating_mul(1024 * 1024),
            thresholds: crate::plan::Thresholds {
                min_reclaim_bytes: d.threshold_mb.saturating_mul(1024 * 1024),
                min_percent: d.threshold_percent,
            },
            analyze: m.analyze,
            sample_rows: crate::inspect::DEFAULT_SAMPLE_ROWS,
        }
    }

    fn rules(&self) -> AlertRules {
        let m = &self.inner.config.monitoring;
        AlertRules {
            reclaimable_bytes: m.alerts.reclaimable_bytes,
            scan_failures: m.alerts.scan_failures,
            interval: m.metrics.interval.0,
        }
    }

    /// Scans cluster `name` now (after a scan of it still running), records and prunes.
    /// Unknown: 404/1001. A scan that fails is recorded as failed, not an error; only the
    /// store failing is.
    pub async fn scan(&self, name: &str) -> Result<StoredScan> {
        let cluster = self.inner.config.cluster(name)?;
        let Some(lock) = self.inner.running.get(name) else {
            return Err(Error::NotFound(format!("cluster {name} is not configured")));
        };
        let _one = lock.lock().await;
        let scan = match cluster.target(&self.inner.config.database.default) {
            Ok((seed, spec)) => {
                let spec = spec.with_pools(self.inner.pools.clone());
                scan_cluster(name, &seed, &spec, &self.settings(), &self.inner.memory).await
            }
            Err(why) => {
                let now = chrono::Utc::now();
                ClusterScan {
                    cluster: name.to_string(),
                    started_at: now,
                    finished_at: now,
                    outcome: ScanOutcome::Failed,
                    error: Some(why),
                    topology: None,
                    nodes: Vec::new(),
                }
            }
        };
        self.log(&scan);
        self.count(&scan);
        let scan_id = self.inner.store.record(&scan).await?;
        let retention = self.inner.config.monitoring.metrics.retention.0;
        let cut = scan.finished_at
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let pruned = self.inner.store.prune(cut).await?;
        if pruned > 0 {
            tracing::debug!(
                cluster = name,
                "pruned {pruned} scan(s) older than the retention"
            );
        }
        Ok(StoredScan { scan_id, scan })
    }

    fn log(&self, scan: &ClusterScan) {
        let name = &scan.cluster;
        let secs = (scan.finished_at - scan.started_at).num_milliseconds() as f64 / 1000.0;
        match scan.outcome {
            ScanOutcome::Failed => tracing::warn!(
                cluster = %name,
                "monitoring scan failed in {secs:.1} s: {}",
                scan.error.as_deref().unwrap_or("no node could be scanned")
            ),
            _ => tracing::info!(
                cluster = %name,
                "monitoring scan {}: {} node(s), {} reclaimable, in {secs:.1} s",
                scan.outcome.as_str(),
                scan.nodes.len(),
                crate::plan::human_bytes(scan.reclaimable_bytes())
            ),
        }
        for n in scan
            .nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Scanned)
        {
            tracing::warn!(
                cluster = %name,
                node = %n.address,
                "not scanned ({}): {}",
                n.status.as_str(),
                n.error.as_deref().unwrap_or("")
            );
        }
    }

    /// Counts the nodes `scan` missed and posts the alerts it raises or clears.
    fn count(&self, scan: &ClusterScan) {
        let alerts = {
            let mut counts = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
            let c = counts.entry(scan.cluster.clone()).or_default();
            for n in &scan.nodes {
                let e = c.errors.entry(n.address.clone()).or_default();
                if n.status != NodeStatus::Scanned {
                    *e += 1;
                }
            }
            c.alerts.observe(scan, &self.rules())
        };
        let Some(sink) = &self.inner.sink else {
            return;
        };
        let rules = self.rules();
        for a in alerts {
            let body = a.body(
                &rules,
                chrono::Utc::now(),
                self.inner.generator_url.as_deref(),
            );
            let sink = sink.clone();
            tokio::spawn(async move {
                match sink.post(&body).await {
                    Ok(()) => tracing::info!(
                        cluster = %a.cluster,
                        "alert {}{} delivered",
                        a.kind.name(),
                        if a.resolved { " (resolved)" } else { "" }
                    ),
                    Err(e) => tracing::error!(
                        cluster = %a.cluster,
                        "alert {} not delivered: {e}",
                        a.kind.name()
                    ),
                }
            });
        }
    }

    /// (cluster, node, scans that did not read the node) since this process started, for
    /// every node any scan listed.
    pub fn scan_errors(&self) -> Vec<(String, String, u64)> {
        let counts = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(String, String, u64)> = counts
            .iter()
            .flat_map(|(c, n)| {
                n.errors
                    .iter()
                    .map(move |(a, k)| (c.clone(), a.clone(), *k))
            })
            .collect();
        out.sort();
        out
    }

    /// Scans every cluster every `monitoring.metrics.interval` (the first at once), each on a
    /// task of its own so a slow cluster never delays another, until `shutdown`. Nothing when
    /// monitoring is disabled.
    pub fn spawn(&self, shutdown: CancellationToken) {
        if !self.inner.config.monitoring.metrics.enabled {
            return;
        }
        let every = self.inner.config.monitoring.metrics.interval.0;
        for c in self.clusters() {
            let (me, name, stop) = (self.clone(), c.name.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.cancelled() => return,
                    }
                    tokio::select! {
                        r = me.scan(&name) => if let Err(e) = r {
                            tracing::error!(cluster = %name, "monitoring scan not recorded: {e}");
                        },
                        _ = stop.cancelled() => return,
                    }
                }
            });
        }
    }
}
