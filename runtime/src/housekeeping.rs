//! Background housekeeping: jobs that run every so often for the life of a server and stop
//! with it (limiter pruning, storage recovery). One implementation, so every binary stops its
//! jobs the same way and none outlives a shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::serve::stopped;

/// Runs `job` every `period` (the first run one period after the call) until `shutdown`
/// turns `true`. A run in progress is finished, never cut; the next one is not started.
pub fn every<F, Fut>(
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut job: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(period) => {}
            }
            job().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_each_period_and_stops_with_the_server() {
        let (stop, rx) = watch::channel(false);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let task = every(Duration::from_secs(60), rx, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "not before the first period"
        );
        tokio::time::sleep(Duration::from_secs(2 * 60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        stop.send_replace(true);
        task.await.expect("stops");
        tokio::time::sleep(Duration::from_secs(10 * 60)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "nothing runs after shutdown"
        );
    }
}
