//! What the benchmarks share: the real `data-plane` binary in a process of its own, and
//! what can be read of a process from `/proc` (resident memory, CPU time).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcpgw_test_support::http::send;
use mcpgw_test_support::secrets::DP_TOKEN;

/// A `data-plane` process; stopped (SIGINT, then SIGKILL) when dropped.
pub struct DataPlane {
    pub child: Child,
    /// The base URL its banner printed.
    pub url: String,
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        // SIGINT first, to the data plane under a profiling wrapper (`strace -c` writes its
        // summary once its tracee exits) and then to the process started, so the wrapper can
        // write its data.
        let pid = self.child.id().to_string();
        let _ = Command::new("pkill").args(["-INT", "-P", &pid]).status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the data plane following the control plane at `grpc`, with limits out of the way
/// and `extra` flags, under the wrapper command in the environment variable `wrapper_var` if
/// it is set (e.g. `heaptrack -o /tmp/dp` or `valgrind --tool=callgrind`).
pub fn start_data_plane(grpc: &str, extra: &[&str], wrapper_var: &str) -> DataPlane {
    let wrapper = std::env::var(wrapper_var).unwrap_or_default();
    let mut argv: Vec<String> = wrapper.split_whitespace().map(str::to_owned).collect();
    argv.push(env!("CARGO_BIN_EXE_data-plane").to_owned());
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .args([
            "--control-plane",
            grpc,
            "--listen",
            "127.0.0.1:0",
            "--default-requests-per-second",
            "1000000",
            "--default-burst",
            "1000000",
        ])
        .args(extra)
        .env("MCPGW_DATA_PLANE_TOKEN", DP_TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("data plane starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("data plane ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("banner") > 0,
            "the data plane exited"
        );
    }
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    DataPlane { child, url }
}

/// The data plane's snapshot version once it is ready.
pub async fn ready_at(url: &str) -> Option<u64> {
    let r = send("GET", &format!("{url}/readyz"), &[], None).await;
    (r.status == 200)
        .then(|| {
            r.text
                .split_whitespace()
                .nth(3)?
                .trim_end_matches(',')
                .parse()
                .ok()
        })
        .flatten()
}

/// Waits until the data plane at `url` serves version `target` or later.
pub async fn wait_version(url: &str, target: u64) {
    let limit = std::time::Instant::now() + Duration::from_secs(120);
    while ready_at(url).await.is_none_or(|v| v < target) {
        assert!(std::time::Instant::now() < limit, "no sync within 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Resident memory of process `pid`, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU time process `pid` has used so far: (user, system).
pub fn cpu_time(pid: u32) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces, so split after its ')').
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name, in ticks
    // of USER_HZ (100 on Linux).
    let ticks = |i: usize| Duration::from_millis(fields.get(i).copied().unwrap_or(0) * 10);
    (ticks(11), ticks(12))
}
