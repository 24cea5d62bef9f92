//! What the workspace's tests share, so each crate's `tests/support` holds only its own
//! fixtures: the test secrets and admin tokens ([`secrets`]), a small HTTP client whose
//! responses assert problem+json and JSON-RPC errors ([`http`]), a local upstream that records
//! what it receives ([`upstream`]), a throwaway PostgreSQL server ([`postgres`]), and
//! [`eventually`].

pub mod http;
pub mod postgres;
pub mod secrets;
pub mod upstream;

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it holds or `within` passes; `false` if it never held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// This process's resident memory (KiB), from /proc.
#[must_use]
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn eventually_polls_until_the_check_holds_or_time_is_up() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let held = eventually(Duration::from_secs(1), move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { n >= 3 }
        })
        .await;
        assert!(held);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(!eventually(Duration::from_secs(1), || async { false }).await);
    }
}
