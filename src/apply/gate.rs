//! The gates of a checkpoint as pure decisions (design §6.2, round 2): given what was read of
//! the nodes (lag, replay of the last rebuild, load) and the apply's control (pause), whether the
//! next rebuild may start, and while one runs, whether it must be killed. Every gate fails
//! closed: a lag or load that could not be read holds, it never passes.
//!
//! The executor gathers the readings and acts on the verdicts; keeping the decisions here means
//! they are tested without a server.

use super::control::Tunables;
use crate::settings::LoadLimits;
use std::time::Duration;

/// What is known of one replica's lag at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lag {
    /// Lag along its path (beyond any configured delay).
    Known(Duration),
    /// It has not yet executed the executing node's last rebuild.
    Replaying(String),
    /// Cannot be told: replication stopped, NULL lag, unreachable, no heartbeat row.
    Unknown(String),
}

/// What a checkpoint read.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// Why the apply is paused, if it is.
    pub paused: Option<String>,
    /// Per watched node (binlog-on: every replica the rebuild reaches; binlog-off: the target).
    pub lag: Vec<(String, Lag)>,
    /// Status variables of the executing node; `Err` when they could not be read.
    pub load: Result<Vec<(String, u64)>, String>,
}

/// Why the next rebuild may not start yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    Paused(String),
    /// Replicas still replaying the last rebuild, lagging or of unknown lag (one line each).
    Replicas(Vec<String>),
    /// Status variables above `max_load` or unreadable.
    Load(Vec<String>),
}

impl Hold {
    /// Says what is waited for.
    pub fn reason(&self) -> String {
        match self {
            Self::Paused(why) => format!("paused ({why})"),
            Self::Replicas(r) => format!("waiting for replicas: {}", r.join(", ")),
            Self::Load(l) => format!("waiting for load: {}", l.join(", ")),
        }
    }
}

/// The verdict before a rebuild: `None` is go. Pause first (a DBA's word wins), then replicas,
/// then load.
pub fn before_rebuild(r: &Readings, t: &Tunables) -> Option<Hold> {
    if let Some(why) = &r.paused {
        return Some(Hold::Paused(why.clone()));
    }
    let replicas: Vec<String> = r
        .lag
        .iter()
        .filter_map(|(node, lag)| match lag {
            Lag::Known(d) if *d <= t.max_lag => None,
            Lag::Known(d) => Some(format!(
                "{node} is {}s behind (max_lag {}s)",
                d.as_secs(),
                t.max_lag.as_secs()
            )),
            Lag::Replaying(what) => Some(format!("{node} is still replaying {what}")),
            Lag::Unknown(why) => Some(format!("{node} lag unknown ({why})")),
        })
        .collect();
    if !replicas.is_empty() {
        return Some(Hold::Replicas(replicas));
    }
    let load = match &r.load {
        Err(e) => vec![format!("status unknown ({e})")],
        Ok(now) => over(&t.max_load, now, "max_load"),
    };
    (!load.is_empty()).then_some(Hold::Load(load))
}

/// Variables of `limits` above them in `now`, or missing from it, one line each.
fn over(limits: &LoadLimits, now: &[(String, u64)], what: &str) -> Vec<String> {
    let mut out: Vec<String> = limits
        .exceeded(now)
        .into_iter()
        .map(|(n, v, l)| format!("{n}={v} > {l} ({what})"))
        .collect();
    out.extend(
        limits
            .0
            .iter()
            .filter(|(n, _)| !now.iter().any(|(m, _)| m.eq_ignore_ascii_case(n)))
            .map(|(n, _)| format!("{n} unknown (no such status variable)")),
    );
    out
}

/// Why a running rebuild must be killed now, if it must: a panic, or the executing node's load
/// above `critical_load` (pt-online-schema-change's `--critical-load`). A load that cannot be
/// read does not kill: the rebuild is already running, and the next gate will hold.
pub fn during_rebuild(
    panicked: Option<&str>,
    load: Option<&[(String, u64)]>,
    critical: &LoadLimits,
) -> Option<String> {
    if let Some(why) = panicked {
        return Some(format!("panic: {why}"));
    }
    let now = load?;
    let hits: Vec<String> = critical
        .exceeded(now)
        .into_iter()
        .map(|(n, v, l)| format!("{n}={v} > {l}"))
        .collect();
    (!hits.is_empty()).then(|| format!("critical load: {}", hits.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunables() -> Tunables {
        Tunables {
            max_lag: Duration::from_secs(1),
            max_load: LoadLimits::one("Threads_running", 25),
            batch_size: 1,
        }
    }

    fn calm() -> Readings {
        Readings {
            paused: None,
            lag: vec![("r3:3306".into(), Lag::Known(Duration::ZERO))],
            load: Ok(vec![("THREADS_RUNNING".into(), 3)]),
        }
    }

    #[test]
    fn a_calm_cluster_passes() {
        assert_eq!(before_rebuild(&calm(), &tunables()), None);
    }

    #[test]
    fn unknown_lag_waits_never_passes() {
        let mut r = calm();
        r.lag[0].1 = Lag::Unknown("replication stopped (io=No, sql=Yes)".into());
        let h = before_rebuild(&r, &tunables()).expect("holds");
        assert_eq!(
            h.reason(),
            "waiting for replicas: r3:3306 lag unknown (replication stopped (io=No, sql=Yes))"
        );
        r.lag[0].1 = Lag::Replaying("shop.orders".into());
        assert!(matches!(
            before_rebuild(&r, &tunables()),
            Some(Hold::Replicas(_))
        ));
        r.lag[0].1 = Lag::Known(Duration::from_secs(3));
        assert_eq!(
            before_rebuild(&r, &tunables()).map(|h| h.reason()),
            Some("waiting for replicas: r3:3306 is 3s behind (max_lag 1s)".into())
        );
    }

    #[test]
    fn pause_holds_before_anything_else() {
        let mut r = calm();
        r.paused = Some("the pause file exists".into());
        r.lag[0].1 = Lag::Known(Duration::from_secs(30));
        assert_eq!(
            before_rebuild(&r, &tunables()),
            Some(Hold::Paused("the pause file exists".into()))
        );
    }

    #[test]
    fn load_above_max_or_unreadable_holds() {
        let mut r = calm();
        r.load = Ok(vec![("THREADS_RUNNING".into(), 40)]);
        assert_eq!(
            before_rebuild(&r, &tunables()).map(|h| h.reason()),
            Some("waiting for load: Threads_running=40 > 25 (max_load)".into())
        );
        r.load = Ok(vec![]);
        assert!(matches!(
            before_rebuild(&r, &tunables()),
            Some(Hold::Load(_))
        ));
        r.load = Err("connection lost".into());
        assert!(matches!(
            before_rebuild(&r, &tunables()),
            Some(Hold::Load(_))
        ));
    }

    #[test]
    fn panic_and_critical_load_kill_a_running_rebuild() {
        let crit = LoadLimits::one("Threads_running", 50);
        let calm = [("THREADS_RUNNING".to_string(), 10)];
        let hot = [("THREADS_RUNNING".to_string(), 51)];
        assert_eq!(during_rebuild(None, Some(&calm), &crit), None);
        assert_eq!(during_rebuild(None, None, &crit), None);
        assert_eq!(
            during_rebuild(None, Some(&hot), &crit).as_deref(),
            Some("critical load: Threads_running=51 > 50")
        );
        assert_eq!(
            during_rebuild(Some("the panic file exists"), Some(&calm), &crit).as_deref(),
            Some("panic: the panic file exists")
        );
    }
}
