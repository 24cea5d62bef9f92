//! The process-wide logging setup, tested in child processes (it installs a global subscriber,
//! `log` bridge and panic hook): with stderr a pipe nobody reads, panics and thread exits
//! must neither block nor abort the process.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcpgw_runtime::logging::{DEFAULT_QUEUE_LINES, LogFormat};

/// Set in the child: which scenario to run instead of the parent's checks.
const CHILD: &str = "MCPGW_LOGGING_TEST_CHILD";

/// Runs this test binary again as a child running `test` with `scenario`, stderr a pipe that
/// is never read (or read, when `read_stderr`), and returns its exit status and what it wrote
/// to stderr; fails if it has not ended within 20 s, or if it did not run exactly that test
/// (a renamed test would otherwise leave the child nothing to run, and it would pass).
fn run_child(test: &str, scenario: &str, read_stderr: bool) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut stdout = child.stdout.take().expect("stdout");
    let ran = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        all
    });
    let mut stderr = child.stderr.take().expect("stderr");
    // Unread, the pipe stays open (held here) and fills up; closed, writes would just fail.
    let mut held = None;
    let reader = if read_stderr {
        Some(std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            all
        }))
    } else {
        held = Some(stderr);
        None
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child ({scenario}) did not end within 20 s: blocked on its stderr");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(held);
    let ran = ran.join().expect("stdout reader");
    assert!(
        ran.contains("running 1 test"),
        "the child ran {test}: {ran}"
    );
    let text = reader
        .map(|r| r.join().expect("reader"))
        .unwrap_or_default();
    (status, text)
}

/// Far more log output than a pipe holds, so that the log writer blocks on the unread pipe.
fn fill_the_sink() {
    let line = "x".repeat(1000);
    for i in 0..200 {
        tracing::info!(i, line, "filling the sink");
    }
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn a_panic_never_blocks_on_a_stuck_log_sink() {
    if std::env::var(CHILD).as_deref() == Ok("panic") {
        let _guard = mcpgw_runtime::logging::init(LogFormat::Text, "info", DEFAULT_QUEUE_LINES);
        fill_the_sink();
        for _ in 0..3 {
            let joined = std::thread::spawn(|| panic!("a bug\nin a thread")).join();
            assert!(joined.is_err(), "the thread panicked");
        }
        return;
    }
    let (status, _) = run_child("a_panic_never_blocks_on_a_stuck_log_sink", "panic", false);
    assert!(status.success(), "child exit: {status}");
}

#[test]
fn a_panic_is_one_log_line() {
    if let Ok(format) = std::env::var(CHILD) {
        if format != "text" && format != "json" {
            return;
        }
        let format = if format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        let _guard = mcpgw_runtime::logging::init(format, "info", DEFAULT_QUEUE_LINES);
        let joined = std::thread::spawn(|| panic!("a bug\nERROR forged line")).join();
        assert!(joined.is_err());
        return;
    }
    let (status, text) = run_child("a_panic_is_one_log_line", "text", true);
    assert!(status.success(), "child exit: {status}");
    let line = text
        .lines()
        .find(|l| l.contains("panicked at"))
        .unwrap_or_else(|| panic!("a panic line in {text}"));
    assert!(line.contains("ERROR panic:"), "{line}");
    assert!(
        line.contains("a bug\\nERROR forged line"),
        "newlines escaped: {line}"
    );
    assert!(
        line.contains("backtrace="),
        "RUST_BACKTRACE=1 adds the backtrace: {line}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("ERROR forged line")),
        "{text}"
    );

    let (status, text) = run_child("a_panic_is_one_log_line", "json", true);
    assert!(status.success(), "child exit: {status}");
    let line = text
        .lines()
        .find(|l| l.contains("panicked at"))
        .unwrap_or_else(|| panic!("a panic line in {text}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["target"], "panic");
    let message = v["fields"]["message"].as_str().expect("message");
    assert!(message.ends_with("a bug\nERROR forged line"), "{message}");
    assert!(v["fields"]["backtrace"].is_string(), "{v}");
}

/// Logs a `log`-crate record from its destructor, which runs when its thread exits.
struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing_log::log::trace!("bumping atomic header lsn");
        tracing_log::log::debug!("from a thread-exit destructor");
    }
}

thread_local! {
    static LOGS_ON_DROP: LogsOnDrop = const { LogsOnDrop };
}

#[test]
fn a_log_record_from_a_thread_exit_destructor_never_aborts() {
    if std::env::var(CHILD).as_deref() == Ok("destructor") {
        let _guard = mcpgw_runtime::logging::init(LogFormat::Text, "info", DEFAULT_QUEUE_LINES);
        for _ in 0..3 {
            std::thread::spawn(|| {
                // Registered before the formatter's buffer, so destroyed after it: the
                // record arrives when the formatter can no longer run (as sled's do).
                LOGS_ON_DROP.with(|_| {});
                tracing::info!("the formatter's buffer now exists");
            })
            .join()
            .expect("thread");
        }
        tracing_log::log::info!("bridged at info");
        return;
    }
    let (status, text) = run_child(
        "a_log_record_from_a_thread_exit_destructor_never_aborts",
        "destructor",
        true,
    );
    assert!(status.success(), "child exit: {status}; stderr: {text}");
    assert!(
        text.contains("bridged at info"),
        "info records still arrive: {text}"
    );
}
