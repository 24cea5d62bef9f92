//! A connection's requests in flight, shared between the connection task (which enforces its
//! deadlines from it) and the request and response bodies (which report progress into it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A connection's requests in flight and when the last one finished.
pub(super) struct Activity {
    accepted: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds after `accepted` at which the last request finished.
    last_done_ms: AtomicU64,
    /// Response bodies whose last frame (or head) hyper has not come back from.
    handed_over: AtomicUsize,
    /// Milliseconds after `accepted` at which a response body was last polled.
    last_poll_ms: AtomicU64,
    changed: Notify,
}

/// One request's place in its connection's activity; dropping it marks the request finished.
pub struct InFlight {
    activity: Arc<Activity>,
    /// Whether this request's response has data hyper has not come back from.
    handed_over: bool,
}

impl InFlight {
    /// The response (its head) is handed to hyper.
    pub(super) fn responded(&mut self) {
        self.activity.touch();
        self.hand_over();
    }

    /// Hyper came back for more of the body.
    pub(super) fn polled(&mut self) {
        self.activity.touch();
        if self.handed_over {
            self.handed_over = false;
            self.activity.handed_over.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A frame is handed to hyper.
    pub(super) fn hand_over(&mut self) {
        if !self.handed_over {
            self.handed_over = true;
            self.activity.handed_over.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.activity;
        if self.handed_over {
            a.handed_over.fetch_sub(1, Ordering::AcqRel);
        }
        a.last_done_ms.store(a.now_ms(), Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a connection was shut down by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// No first request head in time.
    Header,
    /// Idle between requests for too long.
    Idle,
    /// The client stopped taking a response.
    Stalled,
}

impl Activity {
    pub(super) fn new(accepted: Instant) -> Arc<Self> {
        Arc::new(Self {
            accepted,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_done_ms: AtomicU64::new(0),
            handed_over: AtomicUsize::new(0),
            last_poll_ms: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_poll_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // Only the first request is announced (to `first_request`): `expired` reads the
        // counters when its deadline comes, so a request costs no wake-up or timer.
        if self.requests.fetch_add(1, Ordering::Relaxed) == 0 {
            self.changed.notify_waiters();
        }
        InFlight {
            activity: self.clone(),
            handed_over: false,
        }
    }

    /// Resolves once the connection has received its first request.
    pub(super) async fn first_request(&self) {
        loop {
            let changed = self.changed.notified();
            if self.requests.load(Ordering::Relaxed) > 0 {
                return;
            }
            changed.await;
        }
    }

    /// Resolves when the connection has had nothing in flight for too long, or its client
    /// has stopped taking a response. Deadlines only move later with activity, so it sleeps
    /// until the earliest one the counters allow and checks again then (a busy connection
    /// every `idle_timeout / 4`): requests never wake it.
    pub(super) async fn expired(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Expired {
        // How often a busy connection is checked for a stalled client.
        let check = (idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        loop {
            if self.in_flight.load(Ordering::Acquire) > 0 {
                if self.handed_over.load(Ordering::Acquire) > 0 {
                    let polled = Duration::from_millis(self.last_poll_ms.load(Ordering::Relaxed));
                    if Instant::now() >= self.accepted + polled + idle_timeout {
                        return Expired::Stalled;
                    }
                }
                tokio::time::sleep(check).await;
                continue;
            }
            let (deadline, kind) = if self.requests.load(Ordering::Relaxed) == 0 {
                (self.accepted + header_timeout, Expired::Header)
            } else {
                let done = Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed));
                (self.accepted + done + idle_timeout, Expired::Idle)
            };
            if Instant::now() >= deadline {
                // Unless a request began in between.
                if self.in_flight.load(Ordering::Acquire) == 0 {
                    return kind;
                }
                continue;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}
