//! Work a tenant's call can make take milliseconds of CPU — generating a sandbox sample,
//! validating large arguments — runs here: off the reactor threads, and at most one job per
//! core at a time, so one tenant's heavy call never stalls the I/O of every other request.
//! (Applying a snapshot, which only the control plane triggers, runs on a blocking thread of
//! its own.) What each job may cost is bounded where it is defined (the sample generator's
//! budgets, the body size limit, linear-time patterns).

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The pool's capacity is taken from the machine. Clones share it.
#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
}

/// A job that panicked (a bug); the caller answers with an internal error.
#[derive(Debug, thiserror::Error)]
#[error("a background job failed")]
pub struct JobFailed;

impl Default for CpuPool {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl CpuPool {
    /// Runs `job` on a blocking thread once a core's slot is free.
    ///
    /// # Errors
    /// [`JobFailed`] if the job panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JobFailed> {
        let _slot = self.permits.acquire().await.map_err(|_| JobFailed)?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|_| JobFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let pool = CpuPool::default();
        assert_eq!(pool.run(|| 2 + 2).await.expect("ran"), 4);
        let failed = pool.run(|| -> u8 { panic!("a bug") }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run(|| 1).await.expect("still usable"), 1);
    }
}
