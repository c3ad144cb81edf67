//! Logging: `tracing` to stderr and to a size-rotated file.
//!
//! The file rotates like Go's lumberjack (which the spec's `max_size`/`max_backups`/`max_age`/
//! `compress` keys come from): when a write would push the file past `max_size` MiB, it is renamed to
//! `<stem>-<UTC timestamp>.<ext>`, optionally gzipped, and backups beyond `max_backups` or older than
//! `max_age` days are deleted. SQL statement logging of the driver is switched off on every
//! connection (see [`crate::mysql`]), so statements carrying credentials never reach a log.

use crate::config::LoggingConfig;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Rotation limits of a [`RotatingFile`].
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Bytes before rotating.
    pub max_bytes: u64,
    /// Backups kept; 0 keeps all (subject to `max_age`).
    pub max_backups: usize,
    /// Age after which a backup is deleted; `None` keeps them regardless of age.
    pub max_age: Option<Duration>,
    /// Gzip rotated files.
    pub compress: bool,
}

impl Rotation {
    /// The rotation described by the `logging` config section.
    pub fn from_config(cfg: &LoggingConfig) -> Self {
        Self {
            max_bytes: cfg.max_size.max(1).saturating_mul(1024 * 1024),
            max_backups: cfg.max_backups,
            max_age: (cfg.max_age > 0).then(|| Duration::from_secs(cfg.max_age * 86_400)),
            compress: cfg.compress,
        }
    }
}

/// An append-only log file that rotates by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (creating parent directories) the log file for appending.
    pub fn open(path: impl Into<PathBuf>, rotation: Rotation) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            rotation,
            file,
            size,
        })
    }

    fn backup_name(&self) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let ext = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let candidate = dir.join(format!("{stem}-{stamp}{suffix}{ext}"));
            let gz = PathBuf::from(format!("{}.gz", candidate.display()));
            if !candidate.exists() && !gz.exists() {
                return candidate;
            }
            n += 1;
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let backup = self.backup_name();
        fs::rename(&self.path, &backup)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        if self.rotation.compress {
            gzip_file(&backup)?;
        }
        self.remove_old_backups()
    }

    /// The rotated files of this log, newest first.
    pub fn backups(&self) -> io::Result<Vec<PathBuf>> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let stem = self
            .path
            .file_stem()
            .map(|s| format!("{}-", s.to_string_lossy()))
            .unwrap_or_default();
        let own = self.path.file_name().map(|n| n.to_os_string());
        let mut found: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                Some(&name) != own.as_ref() && name.to_string_lossy().starts_with(&stem)
            })
            .map(|e| e.path())
            .collect();
        // The timestamp in the name sorts chronologically.
        found.sort();
        found.reverse();
        Ok(found)
    }

    fn remove_old_backups(&self) -> io::Result<()> {
        let now = SystemTime::now();
        for (i, b) in self.backups()?.into_iter().enumerate() {
            let too_many = self.rotation.max_backups > 0 && i >= self.rotation.max_backups;
            let too_old = self.rotation.max_age.is_some_and(|max| {
                fs::metadata(&b)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > max)
            });
            if too_many || too_old {
                fs::remove_file(&b)?;
            }
        }
        Ok(())
    }
}

fn gzip_file(path: &Path) -> io::Result<()> {
    let gz_path = PathBuf::from(format!("{}.gz", path.display()));
    let mut input = File::open(path)?;
    let out = File::create(&gz_path)?;
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    fs::remove_file(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A shareable handle that `tracing-subscriber` writes log lines through.
#[derive(Clone, Debug)]
pub struct SharedFile(Arc<Mutex<RotatingFile>>);

/// The guard `tracing-subscriber` gets per log line.
pub struct SharedFileGuard<'a>(std::sync::MutexGuard<'a, RotatingFile>);

impl Write for SharedFileGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = SharedFileGuard<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        SharedFileGuard(
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// Installs the global subscriber: stderr plus the rotated file. A log file that cannot be opened
/// is reported on stderr and the command goes on (logging must never stop a rebuild).
pub fn init(cfg: &LoggingConfig) -> Result<()> {
    let level = cfg.level.to_ascii_lowercase();
    let filter = |extra: &str| {
        EnvFilter::try_new(format!("{level},sqlx=warn{extra}"))
            .map_err(|e| Error::invalid(format!("logging.level {:?}: {e}", cfg.level)))
    };
    let tty = io::IsTerminal::is_terminal(&io::stderr());
    // On a terminal, progress bars replace the per-table `progress` lines on stderr. A command's
    // failure (target `outcome`) is printed on stderr as `error[CODE]: …` already; the file
    // keeps it.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(tty)
        .with_target(false)
        .with_filter(filter(if tty {
            ",progress=off,outcome=off"
        } else {
            ",outcome=off"
        })?);
    let file_layer = match RotatingFile::open(&cfg.file, Rotation::from_config(cfg)) {
        Ok(f) => Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(SharedFile(Arc::new(Mutex::new(f))))
                .with_filter(filter("")?),
        ),
        Err(e) => {
            eprintln!(
                "warning: cannot open log file {}: {e}; logging to stderr only",
                cfg.file.display()
            );
            None
        }
    };
    // A second init (tests calling run() twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn rotation(compress: bool, max_backups: usize) -> Rotation {
        Rotation {
            max_bytes: 1000,
            max_backups,
            max_age: None,
            compress,
        }
    }

    #[test]
    fn rotates_at_max_size_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut f = RotatingFile::open(&path, rotation(false, 2)).unwrap();
        let line = [b'x'; 99];
        for _ in 0..50 {
            f.write_all(&line).unwrap();
            f.write_all(b"\n").unwrap();
        }
        // 5000 bytes in 1000-byte files: the live file plus at most two backups.
        assert!(fs::metadata(&path).unwrap().len() <= 1000);
        let backups = f.backups().unwrap();
        assert_eq!(backups.len(), 2, "{backups:?}");
        for b in &backups {
            assert!(fs::metadata(b).unwrap().len() <= 1000);
        }
    }

    #[test]
    fn compresses_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut f = RotatingFile::open(&path, rotation(true, 0)).unwrap();
        for i in 0..30 {
            // tracing writes each formatted line with one call, as here.
            f.write_all(format!("line {i:0>94}\n").as_bytes()).unwrap();
        }
        let backups = f.backups().unwrap();
        assert!(!backups.is_empty());
        for b in &backups {
            assert!(b.to_string_lossy().ends_with(".log.gz"), "{b:?}");
            let mut text = String::new();
            flate2::read::GzDecoder::new(File::open(b).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            assert!(text.starts_with("line "));
        }
    }

    #[test]
    fn removes_backups_older_than_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let old = dir.path().join("app-20000101T000000.000.log");
        fs::write(&old, "old").unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let mut r = rotation(false, 0);
        r.max_age = Some(Duration::from_secs(30 * 86_400));
        let mut f = RotatingFile::open(&path, r).unwrap();
        for _ in 0..20 {
            f.write_all(&[b'y'; 100]).unwrap();
        }
        assert!(!old.exists(), "a backup older than max_age is deleted");
        assert!(!f.backups().unwrap().is_empty());
    }
}
