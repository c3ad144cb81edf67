//! Logging: `tracing` to stderr and to a size-rotated file, as text or JSON lines
//! (`logging.format`); colour codes only on a terminal's stderr, never in the file.
//!
//! The file rotates like Go's lumberjack (which the spec's `max_size`/`max_backups`/`max_age`/
//! `compress` keys come from): when a write would push the file past `max_size` MiB, it is renamed to
//! `<stem>-<UTC timestamp>.<ext>`, optionally gzipped, and backups beyond `max_backups` or older than
//! `max_age` days are deleted — only files named like this log's backups, never anything else in
//! the directory. The file is written by a thread of its own ([`LogFile`]): a log line costs the
//! thread that logs it (a tokio worker) a copy into a channel, never a write, a rename or a gzip.
//! SQL statement logging of the driver is switched off on every connection (see
//! [`crate::mysql`]), so statements carrying credentials never reach a log.

use crate::config::{LogFormat, LoggingConfig};
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, SystemTime};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The UTC timestamp in a backup's name (`20261201T115614.123`), and its length.
const STAMP: &str = "%Y%m%dT%H%M%S%.3f";
const STAMP_LEN: usize = 19;

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

    /// The directory of the log (`.` for a bare file name).
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    }

    /// The file name's stem and extension (with its dot, or empty): backups are named
    /// `<stem>-<stamp>[-<n>]<ext>[.gz]`.
    fn stem_ext(&self) -> (String, String) {
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
        (stem, ext)
    }

    fn backup_name(&self) -> PathBuf {
        let (stem, ext) = self.stem_ext();
        let stamp = chrono::Utc::now().format(STAMP);
        let mut n = 0;
        loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let candidate = self.dir().join(format!("{stem}-{stamp}{suffix}{ext}"));
            let gz = PathBuf::from(format!("{}.gz", candidate.display()));
            if !candidate.exists() && !gz.exists() {
                return candidate;
            }
            n += 1;
        }
    }

    /// Whether `name` is the name of one of this log's backups, as [`Self::backup_name`] makes
    /// them (then perhaps gzipped).
    fn is_backup(&self, name: &str) -> bool {
        let (stem, ext) = self.stem_ext();
        let Some(rest) = name.strip_prefix(&format!("{stem}-")) else {
            return false;
        };
        let rest = rest.strip_suffix(".gz").unwrap_or(rest);
        let Some(rest) = rest.strip_suffix(ext.as_str()) else {
            return false;
        };
        let (stamp, n) = match rest.get(STAMP_LEN..) {
            Some(n) => (&rest[..STAMP_LEN], n),
            None => return false,
        };
        let n_ok = n.is_empty()
            || n.strip_prefix('-').is_some_and(|d| {
                !d.is_empty() && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit())
            });
        n_ok && chrono::NaiveDateTime::parse_from_str(stamp, STAMP).is_ok()
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
        let mut found: Vec<PathBuf> = fs::read_dir(self.dir())?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| self.is_backup(n)))
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

/// What the log file's thread is sent.
enum Msg {
    Line(Vec<u8>),
    /// Answer once every line sent before is written (and any rotation it caused is done).
    Sync(SyncSender<()>),
}

/// Lines waiting for the log file's thread before a logging thread waits for room: far more
/// than are logged while a large backup is compressed.
const QUEUE: usize = 65_536;

/// How long [`LogFile::sync`] waits for the file's thread.
const SYNC_WAIT: Duration = Duration::from_secs(30);

/// The handle `tracing-subscriber` writes log lines through: each line is sent to a thread that
/// owns the [`RotatingFile`] and writes, rotates and compresses in the order the lines came.
/// A failed write is dropped, as `tracing-subscriber` drops the error of a writer.
#[derive(Clone, Debug)]
pub struct LogFile(SyncSender<Msg>);

impl LogFile {
    /// Starts the thread that writes `file`.
    pub fn spawn(file: RotatingFile) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("log-file".into())
            .spawn(move || write_lines(file, rx))?;
        Ok(Self(tx))
    }

    /// Waits (at most 30 s) until every line sent so far is in the file.
    pub fn sync(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.0.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv_timeout(SYNC_WAIT);
        }
    }
}

fn write_lines(mut file: RotatingFile, rx: Receiver<Msg>) {
    for m in rx {
        match m {
            Msg::Line(l) => {
                let _ = file.write_all(&l);
            }
            Msg::Sync(done) => {
                let _ = file.flush();
                let _ = done.send(());
            }
        }
    }
}

impl Write for &LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(Msg::Line(buf.to_vec())).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the log file's thread ended")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sync();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = &'a LogFile;
    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The log file of the global subscriber, once [`init`] installed one.
static FILE: OnceLock<LogFile> = OnceLock::new();

/// Waits until every line logged so far is in the log file: before the process exits.
pub fn flush() {
    if let Some(f) = FILE.get() {
        f.sync();
    }
}

/// Returned by [`init`]: flushes the log file when dropped, so the lines of a command's end
/// reach it before the process exits.
#[must_use = "dropping it at once flushes the log file at once, not at the end"]
pub struct LogGuard(());

impl Drop for LogGuard {
    fn drop(&mut self) {
        flush();
    }
}

/// Whether stderr gets colour: it is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
fn stderr_colour() -> bool {
    io::IsTerminal::is_terminal(&io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A boxed layer of the registry the global subscriber is built on.
type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// A `fmt` layer writing to `writer` in `format`, colour only when `ansi`.
fn layer<W>(format: LogFormat, writer: W, ansi: bool, target: bool) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text if ansi => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(true)
            .with_target(target)
            .boxed(),
        // Its own field formatter: `fmt` caches a span's formatted fields per formatter type,
        // and with the terminal's formatter a file would get the terminal's colour codes.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .fmt_fields(PlainFields::default())
            .with_writer(writer)
            .with_ansi(false)
            .with_target(target)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(writer)
            .with_ansi(false)
            .boxed(),
    }
}

/// Installs the global subscriber: stderr plus the rotated file at `file`, both in
/// `cfg.format`; colour on stderr only (a terminal, `NO_COLOR` unset), never in the file. A log
/// file that cannot be opened is reported on stderr and the command goes on (logging must never
/// stop a rebuild). Keep the guard until the command ends.
pub fn init(cfg: &LoggingConfig, file: &Path) -> Result<LogGuard> {
    let level = cfg.level.to_ascii_lowercase();
    let filter = |extra: &str| {
        EnvFilter::try_new(format!("{level},sqlx=warn{extra}"))
            .map_err(|e| Error::invalid(format!("logging.level {:?}: {e}", cfg.level)))
    };
    let tty = io::IsTerminal::is_terminal(&io::stderr());
    // On a terminal, progress bars replace the per-table `progress` lines on stderr. A command's
    // failure (target `outcome`) is printed on stderr as `error[CODE]: …` already; the file
    // keeps it.
    let mut layers = vec![
        layer(cfg.format, io::stderr, stderr_colour(), false)
            .with_filter(filter(if tty {
                ",progress=off,outcome=off"
            } else {
                ",outcome=off"
            })?)
            .boxed(),
    ];
    let log_file = RotatingFile::open(file, Rotation::from_config(cfg)).and_then(LogFile::spawn);
    let log_file = match log_file {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!(
                "warning: cannot open log file {}: {e}; logging to stderr only",
                file.display()
            );
            None
        }
    };
    if let Some(f) = &log_file {
        layers.push(
            layer(cfg.format, f.clone(), false, true)
                .with_filter(filter("")?)
                .boxed(),
        );
    }
    // A second init (tests calling run() twice) keeps the first subscriber, and its file.
    let installed = tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok();
    if let (true, Some(f)) = (installed, log_file) {
        let _ = FILE.set(f);
    }
    Ok(LogGuard(()))
}

/// The default field formatter under a type of its own, for layers without colour (see
/// [`layer`]).
#[derive(Debug, Default)]
struct PlainFields(DefaultFields);

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        self.0.format_fields(writer, fields)
    }
}

/// `--log-format json`: one object a line, `{"timestamp", "level", "target", "message",
/// "fields", "spans"}`. `fields` holds the event's fields and those of the spans it is in (the
/// event's win), `spans` the names of those spans, outermost first.
struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Map::new();
        let mut spans = Vec::new();
        for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
            spans.push(Value::from(span.name()));
            let ext = span.extensions();
            if let Some(Ok(Value::Object(f))) = ext
                .get::<FormattedFields<JsonFields>>()
                .map(|f| serde_json::from_str::<Value>(f))
            {
                fields.extend(f);
            }
        }
        let mut own = FieldsToJson(Map::new());
        event.record(&mut own);
        let message = own.0.remove("message").unwrap_or(Value::from(""));
        fields.extend(own.0);
        let meta = event.metadata();
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": meta.level().as_str(),
            "target": meta.target(),
            "message": message,
            "fields": fields,
            "spans": spans,
        });
        writeln!(writer, "{line}")
    }
}

/// Collects an event's fields as JSON values (numbers and booleans as such, the rest as text).
struct FieldsToJson(Map<String, Value>);

impl Visit for FieldsToJson {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// A writer into memory, for a layer under test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Logs, under `layers`, an event with fields inside a span with fields, as the executor's
    /// `node` span and its `progress` events.
    fn log_in_a_span(layers: Vec<BoxedLayer>) {
        let subscriber = tracing_subscriber::registry().with(layers);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("execute_node", node = "127.0.0.1:23307");
            let _in = span.enter();
            tracing::info!(target: "progress", table = "shop.orders", freed = 42u64, done = true,
                "rebuilt shop.orders");
        });
    }

    #[test]
    fn the_file_gets_no_colour_codes_when_stderr_has_them() {
        let (terminal, file) = (Buffer::default(), Buffer::default());
        log_in_a_span(vec![
            layer(LogFormat::Text, terminal.clone(), true, false),
            layer(LogFormat::Text, file.clone(), false, true),
        ]);
        assert!(terminal.text().contains("\x1b["), "{:?}", terminal.text());
        let text = file.text();
        assert!(!text.contains('\x1b'), "colour codes in the file: {text:?}");
        assert!(
            text.contains("execute_node{node=\"127.0.0.1:23307\"}: progress: rebuilt shop.orders"),
            "{text:?}"
        );
    }

    #[test]
    fn json_lines_carry_timestamp_level_target_message_and_fields() {
        let (terminal, file) = (Buffer::default(), Buffer::default());
        log_in_a_span(vec![
            layer(LogFormat::Text, terminal.clone(), true, false),
            layer(LogFormat::Json, file.clone(), false, true),
        ]);
        let text = file.text();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        let stamp = line["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        );
        insta::assert_json_snapshot!("json_log_line", line, {".timestamp" => "[timestamp]"});
    }

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

    /// A day count in the past, as a modification time.
    fn days_ago(days: u64) -> SystemTime {
        SystemTime::now() - Duration::from_secs(days * 86_400)
    }

    #[test]
    fn rotation_deletes_only_its_own_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        // Old enough for max_age, and sorting below this log's backups for max_backups: only
        // their names tell them from backups.
        let foreign = [
            "app-notes.txt",
            "app-0.log",
            "app-1999-12-31.log",
            "app-20000101T000000.000.log.orig",
            "app.log.old",
            "other-20000101T000000.000.log",
        ];
        for name in foreign {
            let p = dir.path().join(name);
            fs::write(&p, "not a backup").unwrap();
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(days_ago(40))
                .unwrap();
        }
        let mut r = rotation(false, 1);
        r.max_age = Some(Duration::from_secs(30 * 86_400));
        let mut f = RotatingFile::open(&path, r).unwrap();
        for _ in 0..30 {
            f.write_all(&[b'z'; 100]).unwrap();
        }
        for name in foreign {
            assert!(dir.path().join(name).exists(), "{name} was deleted");
        }
        assert_eq!(f.backups().unwrap().len(), 1, "{:?}", f.backups());
    }

    /// Bytes gzip cannot shrink, so compressing them takes a while.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn a_line_that_rotates_does_not_wait_for_the_compression() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let big = noise(2 << 20);
        let mut r = rotation(true, 0);
        r.max_bytes = big.len() as u64;
        let log = LogFile::spawn(RotatingFile::open(&path, r.clone()).unwrap()).unwrap();
        log.make_writer().write_all(&big).unwrap();
        log.sync();
        // This line rotates the full file, which is then compressed.
        let t0 = Instant::now();
        log.make_writer().write_all(b"next\n").unwrap();
        let wrote = t0.elapsed();
        let reader = RotatingFile::open(dir.path().join("app.log"), r).unwrap();
        let compressed = loop {
            let b = reader.backups().unwrap();
            if b.len() == 1 && b[0].to_string_lossy().ends_with(".gz") {
                break t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "never compressed: {b:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // Relative, so that a loaded machine slows both alike.
        assert!(
            wrote * 4 < compressed,
            "the line took {wrote:?} and the compression was done after {compressed:?}: the \
             writer waited for it"
        );
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
