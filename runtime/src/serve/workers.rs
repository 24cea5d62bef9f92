//! Connection workers: threads that each run a single-threaded tokio runtime, so that all a
//! connection does — its requests, the upstream calls they make, their timers — runs on one
//! thread and is woken by that thread's own event loop.
//!
//! A multi-threaded runtime balances load by moving tasks between threads; on a proxy's
//! request path each move is a cross-thread wake-up (a futex and, on a virtual machine, an
//! interrupt to an idle core), and a request crosses several tasks (the client connection, the
//! upstream connection). Measured on the data plane (`benches/load.rs`), those wake-ups were
//! most of the latency the gateway added at one connection. This is the event-loop-per-core
//! model of nginx and Envoy: the listener spreads accepted connections over the workers, and
//! work too heavy for an event loop still goes to a CPU pool.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// A fixed set of single-threaded runtimes, each on a thread of its own. Dropping it stops
/// them (tasks still running on them are dropped).
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping these ends each worker's loop.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `count` workers (at least one), named `{name}-{i}`.
    ///
    /// # Errors
    /// When a runtime or a thread cannot be created.
    pub fn start(count: usize, name: &str) -> std::io::Result<Self> {
        let mut handles = Vec::new();
        let mut stop = Vec::new();
        for i in 0..count.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let (tx, rx) = oneshot::channel::<()>();
            stop.push(tx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = rx.await;
                    });
                })?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        })
    }

    /// Runs `task` on the next worker, round-robin.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_workers_threads_in_turn() {
        let workers = Workers::start(2, "test-worker").expect("workers");
        assert_eq!(workers.handles.len(), 2);
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            workers.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                // Spawned from a worker, a task stays on that worker.
                let inner =
                    tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
                        .await
                        .expect("inner");
                let _ = tx.send((name, inner));
            });
        }
        let mut seen: Vec<_> = (0..4).map(|_| rx.recv().expect("ran")).collect();
        seen.sort();
        let worker = |i: usize| Some(format!("test-worker-{i}"));
        assert_eq!(
            seen,
            [
                (worker(0), worker(0)),
                (worker(0), worker(0)),
                (worker(1), worker(1)),
                (worker(1), worker(1)),
            ]
        );
    }
}
