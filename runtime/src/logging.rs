//! Log output that can never fail, block or abort a request.
//!
//! `tracing-subscriber` writes each event synchronously to its writer, and by default reports
//! a failed write with `eprintln!`, which panics when stderr itself is gone — inside whatever
//! request handler logged. A closed pipe or a full disk then aborts requests (after they have
//! committed), and a pipe nobody reads blocks every thread that logs.
//!
//! Here each formatted line is handed to a bounded queue drained by one writer thread. A full
//! queue (slow or stuck sink) drops the line and counts it ([`dropped_lines`]); write errors
//! are ignored by the writer thread. Handlers only ever pay for formatting and a `try_send`.
//!
//! Two more writers of stderr would bypass the queue, so neither is left to its default:
//! * the panic hook (the default one writes the message and backtrace straight to stderr,
//!   and with a stuck sink the panicking thread blocks forever — a worker that never ends
//!   keeps the process from exiting); here a panic becomes one line on the queue;
//! * records of the `log` crate (sled uses it) are bridged at `info` and above only: sled
//!   emits `trace` records from epoch-reclamation closures that run inside thread-exit
//!   destructors, where the formatter's thread-local buffer is already gone and formatting
//!   panics (a panic in a destructor aborts the process).

use std::fmt;
use std::io::Write;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tracing_log::AsLog;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// Lines queued for the writer thread at most, by default; beyond it lines are dropped.
pub const DEFAULT_QUEUE_LINES: usize = 16 * 1024;
/// How long [`LogGuard`] waits at exit for queued lines to be written.
const EXIT_DRAIN: Duration = Duration::from_secs(1);

static DROPPED: AtomicU64 = AtomicU64::new(0);
static QUEUED: AtomicUsize = AtomicUsize::new(0);

/// Log lines dropped so far because the sink was too slow or the queue full.
#[must_use]
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format '{other}' (text or json)")),
        }
    }
}

/// A [`MakeWriter`] whose writers hand lines to the queue without ever blocking or failing.
#[derive(Clone)]
pub struct QueueWriter {
    tx: SyncSender<Vec<u8>>,
}

impl QueueWriter {
    /// A queue of `capacity` lines drained into `sink` by a new thread that ignores write
    /// errors (a dead sink only loses lines).
    #[must_use]
    pub fn spawn<W: Write + Send + 'static>(capacity: usize, mut sink: W) -> Self {
        let (tx, rx) = sync_channel::<Vec<u8>>(capacity);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                for line in rx {
                    let _ = sink.write_all(&line);
                    QUEUED.fetch_sub(1, Ordering::Relaxed);
                }
            });
        if spawned.is_err() {
            // No writer thread: the queue fills and every line is dropped, which is still
            // better than failing the caller.
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Self { tx }
    }

    fn send(&self, line: &[u8]) {
        QUEUED.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(line.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                QUEUED.fetch_sub(1, Ordering::Relaxed);
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One event's writer (the formatter writes each event in one `write_all`).
pub struct LineWriter<'a>(&'a QueueWriter);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

/// Waits (briefly) at exit for queued lines to reach the sink.
#[must_use = "dropping the guard at once would not wait for the last lines"]
pub struct LogGuard(());

impl Drop for LogGuard {
    fn drop(&mut self) {
        let started = Instant::now();
        while QUEUED.load(Ordering::Relaxed) > 0 && started.elapsed() < EXIT_DRAIN {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The most detailed `log`-crate records bridged into the log (see the module comment).
const LOG_CRATE_MAX: tracing_log::log::LevelFilter = tracing_log::log::LevelFilter::Info;

/// Installs the global subscriber: `RUST_LOG` (else `default_filter`), `format`, written to
/// stderr through the non-blocking queue of `queue_lines` lines; panics are logged through
/// the same queue.
pub fn init(format: LogFormat, default_filter: &str, queue_lines: usize) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let queue = QueueWriter::spawn(queue_lines.max(1), std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(queue.clone())
        // A failed write is never reported with eprintln! (which panics without a stderr).
        .log_internal_errors(false);
    let dispatch = match format {
        LogFormat::Text => tracing::Dispatch::new(
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .finish(),
        ),
        LogFormat::Json => tracing::Dispatch::new(builder.json().finish()),
    };
    // Already installed (tests, embedding): keep the existing subscriber, bridge and hook.
    if tracing::dispatcher::set_global_default(dispatch).is_ok() {
        let bridged = tracing::level_filters::LevelFilter::current()
            .as_log()
            .min(LOG_CRATE_MAX);
        drop(
            tracing_log::LogTracer::builder()
                .with_max_level(bridged)
                .init(),
        );
        std::panic::set_hook(Box::new(move |info| {
            queue.send(panic_line(info, format, &std::backtrace::Backtrace::capture()).as_bytes());
        }));
    }
    LogGuard(())
}

/// One log line (text or JSON, like the subscriber's) for a panic: where, what, and the
/// backtrace when `RUST_BACKTRACE` asks for one. Touches no thread-local and never panics
/// itself, so it is safe in a panic hook that may run inside a thread-exit destructor.
fn panic_line(
    info: &PanicHookInfo<'_>,
    format: LogFormat,
    trace: &std::backtrace::Backtrace,
) -> String {
    let mut at = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut at));
    let location = info
        .location()
        .map_or_else(String::new, ToString::to_string);
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let trace = match trace.status() {
        std::backtrace::BacktraceStatus::Captured => Some(trace.to_string()),
        _ => None,
    };
    let mut line = match format {
        LogFormat::Text => {
            let mut line = format!(
                "{at} ERROR panic: panicked at {location}: {}",
                LogSafe(message)
            );
            if let Some(trace) = &trace {
                line.push_str(" backtrace=");
                line.push_str(&trace.escape_default().to_string());
            }
            line
        }
        LogFormat::Json => serde_json::json!({
            "timestamp": at,
            "level": "ERROR",
            "fields": {"message": format!("panicked at {location}: {message}"), "backtrace": trace},
            "target": "panic",
        })
        .to_string(),
    };
    line.push('\n');
    line
}

/// Displays a caller-controlled string safely inside a text log line: control characters
/// (newlines above all, which would forge log lines) are escaped and the length is bounded.
pub struct LogSafe<'a>(pub &'a str);

/// Characters of a [`LogSafe`] value shown at most.
const LOG_SAFE_MAX_CHARS: usize = 256;

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == LOG_SAFE_MAX_CHARS {
                return f.write_str("…");
            }
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Condvar, Mutex};

    /// A sink that blocks every write until released, like a pipe nobody reads.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.0;
            let mut open = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while !*open {
                open = cv
                    .wait(open)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn a_stuck_sink_never_blocks_the_caller_and_drops_are_counted() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let writer = QueueWriter::spawn(4, Stuck(gate.clone()));
        let before = dropped_lines();
        for _ in 0..100 {
            writer
                .make_writer()
                .write_all(b"line\n")
                .expect("never fails");
        }
        assert!(dropped_lines() - before >= 90, "a full queue drops lines");
        *gate.0.lock().expect("lock") = true;
        gate.1.notify_all();
    }

    #[test]
    fn a_broken_sink_never_fails_the_caller() {
        let writer = QueueWriter::spawn(4, Broken);
        for _ in 0..10 {
            writer
                .make_writer()
                .write_all(b"line\n")
                .expect("never fails");
        }
    }

    #[test]
    fn log_safe_escapes_control_characters_and_bounds_length() {
        assert_eq!(
            LogSafe("alice\nERROR forged line\r\u{1b}[31m").to_string(),
            "alice\\nERROR forged line\\r\\u{1b}[31m"
        );
        let long = "x".repeat(1000);
        assert_eq!(LogSafe(&long).to_string().chars().count(), 257);
    }
}
