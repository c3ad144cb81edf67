//! Runtime control of a running apply, the same for the CLI and the server (gh-ost's
//! interactive commands): pause and resume (no new rebuild starts while paused; a running one
//! goes on, since a running ALTER cannot be paused), panic (every running statement is killed
//! with `KILL QUERY` and everything stops), and the settings that may change while it runs
//! (`max_lag`, `max_load`, `batch_size`). The CLI drives it from `--pause-file`/`--panic-file`
//! ([`watch_files`]), the server from REST calls; the executor reads it at every checkpoint.

use crate::settings::{BadSetting, HumanDuration, LoadLimits, Settings};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The settings a running apply lets change.
#[derive(Debug, Clone, PartialEq)]
pub struct Tunables {
    pub max_lag: Duration,
    pub max_load: LoadLimits,
    pub batch_size: usize,
}

/// A change of [`Tunables`]: `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TunablesPatch {
    pub max_lag: Option<HumanDuration>,
    pub max_load: Option<LoadLimits>,
    pub batch_size: Option<usize>,
}

/// Who paused the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PausedBy {
    File,
    Api,
}

#[derive(Debug)]
struct State {
    paused: Vec<PausedBy>,
    paused_since: Option<DateTime<Utc>>,
    panic: Option<String>,
    tunables: Tunables,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    panic: CancellationToken,
    /// Bumped at every change, so watchers (the job row) can follow.
    changed: watch::Sender<u64>,
}

/// The control of one apply. Cheap to clone; every clone controls the same apply.
#[derive(Debug, Clone)]
pub struct ApplyHandle {
    inner: Arc<Inner>,
}

impl ApplyHandle {
    /// A handle starting from the plan's settings, not paused.
    pub fn new(s: &Settings) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    paused: Vec::new(),
                    paused_since: None,
                    panic: None,
                    tunables: Tunables {
                        max_lag: s.max_lag.0,
                        max_load: s.max_load(),
                        batch_size: s.batch_size.max(1),
                    },
                }),
                panic: CancellationToken::new(),
                changed,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut s);
        drop(s);
        self.inner.changed.send_modify(|n| *n += 1);
        r
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn set_paused(&self, by: PausedBy, on: bool) -> bool {
        let was = self.read(|s| s.paused.contains(&by));
        if was == on {
            return false;
        }
        self.with(|s| {
            if on {
                s.paused.push(by);
                s.paused_since.get_or_insert_with(Utc::now);
            } else {
                s.paused.retain(|b| *b != by);
                if s.paused.is_empty() {
                    s.paused_since = None;
                }
            }
        });
        true
    }

    /// Pauses (REST). True when it was not paused that way already.
    pub fn pause(&self) -> bool {
        let changed = self.set_paused(PausedBy::Api, true);
        if changed {
            tracing::warn!("apply paused: no new rebuild starts until it is resumed");
        }
        changed
    }

    /// Resumes what [`Self::pause`] paused (a pause file still in place keeps it paused).
    pub fn resume(&self) -> bool {
        let changed = self.set_paused(PausedBy::Api, false);
        if changed {
            tracing::warn!("apply resumed");
        }
        changed
    }

    /// Since when the apply is paused, and why, if it is.
    pub fn paused(&self) -> Option<(DateTime<Utc>, String)> {
        self.read(|s| {
            let since = s.paused_since?;
            let why: Vec<&str> = s
                .paused
                .iter()
                .map(|b| match b {
                    PausedBy::File => "the pause file exists",
                    PausedBy::Api => "paused through the API",
                })
                .collect();
            Some((since, why.join(" and ")))
        })
    }

    /// Kills every running statement and stops everything (`--panic-file`).
    pub fn panic(&self, why: &str) {
        let first = self.read(|s| s.panic.is_none());
        if first {
            tracing::error!("panic: {why}: killing the running statements, stopping");
            self.with(|s| s.panic = Some(why.to_string()));
            self.inner.panic.cancel();
        }
    }

    /// Why the apply panicked, if it did.
    pub fn panicked(&self) -> Option<String> {
        self.read(|s| s.panic.clone())
    }

    /// Fires when the apply panics.
    pub fn panic_token(&self) -> &CancellationToken {
        &self.inner.panic
    }

    /// The settings in force now.
    pub fn tunables(&self) -> Tunables {
        self.read(|s| s.tunables.clone())
    }

    /// Changes settings while the apply runs; checked like the plan's own.
    pub fn set(&self, p: &TunablesPatch) -> Result<Tunables, BadSetting> {
        if let Some(b) = p.batch_size
            && !(1..=crate::settings::MAX_BATCH_SIZE).contains(&b)
        {
            return Err(BadSetting {
                name: "batch_size",
                reason: format!("must be 1 to {}", crate::settings::MAX_BATCH_SIZE),
            });
        }
        if p.max_load.as_ref().is_some_and(|l| l.0.is_empty()) {
            return Err(BadSetting {
                name: "max_load",
                reason: "needs at least one VAR=N".into(),
            });
        }
        let t = self.with(|s| {
            if let Some(v) = p.max_lag {
                s.tunables.max_lag = v.0;
            }
            if let Some(v) = &p.max_load {
                s.tunables.max_load = v.clone();
            }
            if let Some(v) = p.batch_size {
                s.tunables.batch_size = v;
            }
            s.tunables.clone()
        });
        tracing::warn!(
            "settings changed while running: max_lag {}, max_load {}, batch_size {}",
            HumanDuration(t.max_lag),
            t.max_load,
            t.batch_size
        );
        Ok(t)
    }

    /// Resolves when anything of this handle changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }
}

/// Follows `--pause-file` and `--panic-file` every `every` until `stop` fires: while the pause
/// file exists the apply is paused; once the panic file exists, it panics.
pub fn watch_files(
    handle: ApplyHandle,
    pause: Option<PathBuf>,
    panic: Option<PathBuf>,
    every: Duration,
    stop: CancellationToken,
) {
    if pause.is_none() && panic.is_none() {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Some(p) = &panic
                && p.exists()
            {
                handle.panic(&format!("the panic file {} exists", p.display()));
            }
            if let Some(p) = &pause {
                let on = p.exists();
                if handle.set_paused(PausedBy::File, on) {
                    if on {
                        tracing::warn!(
                            "the pause file {} exists: no new rebuild starts until it is removed",
                            p.display()
                        );
                    } else {
                        tracing::warn!("the pause file {} is gone: resuming", p.display());
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stack_and_panic_is_once() {
        let h = ApplyHandle::new(&crate::plan::example_plan().settings);
        assert!(h.paused().is_none());
        assert!(h.pause());
        assert!(!h.pause());
        assert!(h.set_paused(PausedBy::File, true));
        assert!(h.resume());
        let (_, why) = h.paused().expect("the file still pauses it");
        assert_eq!(why, "the pause file exists");
        h.set_paused(PausedBy::File, false);
        assert!(h.paused().is_none());
        h.panic("first");
        h.panic("second");
        assert_eq!(h.panicked().as_deref(), Some("first"));
        assert!(h.panic_token().is_cancelled());
        let e = h
            .set(&TunablesPatch {
                batch_size: Some(0),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.name, "batch_size");
        let t = h
            .set(&TunablesPatch {
                max_lag: Some(HumanDuration::secs(3)),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(t.max_lag, Duration::from_secs(3));
        assert_eq!(t.batch_size, 5);
    }
}
