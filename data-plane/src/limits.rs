//! Per-key request rate (GCRA, `governor`) and per-integration calls in flight.
//!
//! Limiters live outside the snapshot so that a snapshot swap does not reset anyone's
//! budget; an integration's limiter is replaced only when its effective limits change.
//!
//! Limits hold for the fleet: when the control plane says `n` data planes serve the same
//! tenants, each enforces a 1/n share of every rate, burst and concurrency cap (a change of
//! `n` replaces every limiter: budgets restart).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use mcpgw_shared::model::{IntegrationKey, Limits};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::config::LimitDefaults;
use crate::refusal::Refusal;

/// Keyed by API key id, in a plain map behind a mutex: one per integration, so it must be
/// small when idle (governor's default, a `DashMap`, allocates a set of cache-padded shards
/// that grows with the core count: kilobytes per integration, whatever its traffic).
type KeyedLimiter =
    RateLimiter<Uuid, governor::state::keyed::HashMapStateStore<Uuid>, DefaultClock>;

/// The effective limits of one integration (defaults applied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effective {
    /// Requests per second per key.
    pub requests_per_second: f64,
    /// Burst per key.
    pub burst: u32,
    /// Calls in flight.
    pub max_concurrent_calls: u32,
}

impl Effective {
    /// `limits` with `defaults` filling unset fields.
    #[must_use]
    pub fn of(limits: &Limits, defaults: &LimitDefaults) -> Self {
        Self {
            requests_per_second: limits
                .requests_per_second
                .unwrap_or(defaults.requests_per_second),
            burst: limits.burst.unwrap_or(defaults.burst),
            max_concurrent_calls: limits
                .max_concurrent_calls
                .unwrap_or(defaults.max_concurrent_calls)
                .min(defaults.max_concurrent_calls_cap),
        }
    }

    /// One data plane's share when `n` enforce these limits together: rates divided, bursts
    /// and caps divided and rounded up (never below one).
    #[must_use]
    pub fn share(self, n: u32) -> Self {
        let n = n.max(1);
        Self {
            requests_per_second: self.requests_per_second / f64::from(n),
            burst: self.burst.div_ceil(n).max(1),
            max_concurrent_calls: self.max_concurrent_calls.div_ceil(n).max(1),
        }
    }
}

struct IntegrationLimiter {
    /// The integration's limits, before sharing.
    whole: Effective,
    rate: KeyedLimiter,
    in_flight: Arc<Semaphore>,
}

impl IntegrationLimiter {
    fn new(whole: Effective, sharing: u32) -> Self {
        let effective = whole.share(sharing);
        let per_cell = Duration::from_secs_f64(1.0 / effective.requests_per_second.max(1e-6));
        let burst = NonZeroU32::new(effective.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(per_cell)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Self {
            whole,
            rate: RateLimiter::hashmap(quota),
            in_flight: Arc::new(Semaphore::new(effective.max_concurrent_calls as usize)),
        }
    }
}

/// All integrations' limiters.
pub struct Limiters {
    defaults: LimitDefaults,
    /// How many data planes share the limits (this one included).
    sharing: AtomicU32,
    by_integration: RwLock<HashMap<IntegrationKey, Arc<IntegrationLimiter>>>,
}

/// Holds one slot of an integration's in-flight budget until dropped.
pub struct CallPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Limiters {
    /// Limiters using `defaults` where integrations set nothing.
    #[must_use]
    pub fn new(defaults: LimitDefaults) -> Self {
        Self {
            defaults,
            sharing: AtomicU32::new(1),
            by_integration: RwLock::new(HashMap::new()),
        }
    }

    /// How many data planes share the limits, as last set.
    fn sharing(&self) -> u32 {
        self.sharing.load(Ordering::Relaxed)
    }

    /// `n` data planes (this one included) now enforce the limits together: every limiter
    /// is replaced by one enforcing a 1/n share. False (and nothing replaced) when `n` is
    /// the share already in force.
    pub fn share_among(&self, n: u32) -> bool {
        let n = n.max(1);
        let mut map = self
            .by_integration
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.sharing.swap(n, Ordering::Relaxed) == n {
            return false;
        }
        for limiter in map.values_mut() {
            *limiter = Arc::new(IntegrationLimiter::new(limiter.whole, n));
        }
        true
    }

    /// The integration's limiter. Limits change only through [`Limiters::sync`] (when a
    /// snapshot is applied), so a request still holding an older snapshot cannot flip them
    /// back; a limiter missing here (a request racing the first sync) is created.
    fn limiter(&self, integration: &IntegrationKey, limits: &Limits) -> Arc<IntegrationLimiter> {
        {
            let map = self
                .by_integration
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(l) = map.get(integration) {
                return l.clone();
            }
        }
        let effective = Effective::of(limits, &self.defaults);
        let mut map = self
            .by_integration
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(integration.clone())
            .or_insert_with(|| Arc::new(IntegrationLimiter::new(effective, self.sharing())))
            .clone()
    }

    /// Brings the limiters in line with a newly applied snapshot: new limits replace an
    /// integration's limiter (its budgets restart), deleted integrations are forgotten.
    pub fn sync<'a>(&self, integrations: impl Iterator<Item = (&'a IntegrationKey, &'a Limits)>) {
        let mut map = self
            .by_integration
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen = std::collections::HashSet::new();
        for (key, limits) in integrations {
            seen.insert(key.clone());
            self.set(&mut map, key, limits);
        }
        map.retain(|k, _| seen.contains(k));
    }

    /// Brings the limiters in line with a delta's `changes`, in order: an integration served
    /// with new limits gets a new limiter (its budgets restart), one no longer served
    /// (`None`) is forgotten. Costs what the delta carries, not what is served.
    pub fn update(&self, changes: &[(IntegrationKey, Option<Limits>)]) {
        let mut map = self
            .by_integration
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, limits) in changes {
            match limits {
                Some(limits) => self.set(&mut map, key, limits),
                None => {
                    map.remove(key);
                }
            }
        }
    }

    /// Gives `key` a limiter for `limits`, keeping its current one (and its budgets) when the
    /// effective limits did not change.
    fn set(
        &self,
        map: &mut HashMap<IntegrationKey, Arc<IntegrationLimiter>>,
        key: &IntegrationKey,
        limits: &Limits,
    ) {
        let effective = Effective::of(limits, &self.defaults);
        if map.get(key).is_none_or(|l| l.whole != effective) {
            map.insert(
                key.clone(),
                Arc::new(IntegrationLimiter::new(effective, self.sharing())),
            );
        }
    }

    /// Spends `cost` requests of `key`'s rate (a JSON-RPC batch costs one per request in it).
    ///
    /// # Errors
    /// [`Refusal::RateLimited`] when the key is over its rate, [`Refusal::BatchOverBurst`]
    /// when `cost` exceeds its whole burst.
    pub fn check_rate(
        &self,
        integration: &IntegrationKey,
        limits: &Limits,
        key: Uuid,
        cost: u32,
    ) -> Result<(), Refusal> {
        let limiter = self.limiter(integration, limits);
        let batch = cost;
        let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match limiter.rate.check_key_n(&key, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Refusal::RateLimited {
                    retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
            // More than the burst can ever allow at once.
            Err(governor::InsufficientCapacity(burst)) => {
                Err(Refusal::BatchOverBurst { batch, burst })
            }
        }
    }

    /// Takes one slot of the integration's calls in flight: the one bound on what an
    /// integration runs at once, upstream requests included.
    ///
    /// # Errors
    /// [`Refusal::Concurrency`] when all slots are taken.
    pub fn start_call(
        &self,
        integration: &IntegrationKey,
        limits: &Limits,
    ) -> Result<CallPermit, Refusal> {
        let limiter = self.limiter(integration, limits);
        limiter
            .in_flight
            .clone()
            .try_acquire_owned()
            .map(CallPermit)
            .map_err(|_| Refusal::Concurrency)
    }

    /// Forgets keys idle long enough to be back at full burst (bounded memory).
    pub fn retain_recent(&self) {
        let map = self
            .by_integration
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for l in map.values() {
            l.rate.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> LimitDefaults {
        LimitDefaults {
            requests_per_second: 1.0,
            burst: 2,
            max_concurrent_calls: 1,
            max_concurrent_calls_cap: 3,
        }
    }

    #[test]
    fn no_integration_runs_more_calls_than_the_operator_cap() {
        let l = Limiters::new(defaults());
        let greedy = Limits {
            max_concurrent_calls: Some(1_000_000),
            ..Limits::default()
        };
        let permits: Vec<_> = (0..3)
            .map(|_| l.start_call(&key(), &greedy).expect("under the cap"))
            .collect();
        assert_eq!(
            l.start_call(&key(), &greedy).err(),
            Some(Refusal::Concurrency)
        );
        drop(permits);
        assert!(l.start_call(&key(), &greedy).is_ok());
    }

    #[test]
    fn a_batch_over_the_burst_is_refused_for_good() {
        let l = Limiters::new(defaults());
        assert_eq!(
            l.check_rate(&key(), &Limits::default(), Uuid::now_v7(), 3),
            Err(Refusal::BatchOverBurst { batch: 3, burst: 2 })
        );
    }

    fn key() -> IntegrationKey {
        IntegrationKey {
            tenant: "t".into(),
            integration_id: "i".into(),
        }
    }

    #[test]
    fn rate_allows_burst_then_refuses_with_retry_after() {
        let l = Limiters::new(defaults());
        let k = Uuid::now_v7();
        assert!(l.check_rate(&key(), &Limits::default(), k, 1).is_ok());
        assert!(l.check_rate(&key(), &Limits::default(), k, 1).is_ok());
        let refused = l
            .check_rate(&key(), &Limits::default(), k, 1)
            .expect_err("over burst");
        assert_eq!(refused.retry_after(), Some(1));
        // Another key has its own budget.
        assert!(
            l.check_rate(&key(), &Limits::default(), Uuid::now_v7(), 1)
                .is_ok()
        );
    }

    #[test]
    fn integration_limits_override_defaults() {
        let l = Limiters::new(defaults());
        let k = Uuid::now_v7();
        let limits = Limits {
            burst: Some(5),
            ..Limits::default()
        };
        for _ in 0..5 {
            assert!(l.check_rate(&key(), &limits, k, 1).is_ok());
        }
        assert!(l.check_rate(&key(), &limits, k, 1).is_err());
    }

    #[test]
    fn sync_applies_new_limits_and_forgets_deleted_integrations() {
        let l = Limiters::new(defaults());
        let k = Uuid::now_v7();
        let tight = Limits {
            burst: Some(1),
            ..Limits::default()
        };
        l.sync([(&key(), &tight)].into_iter());
        assert!(l.check_rate(&key(), &tight, k, 1).is_ok());
        assert!(l.check_rate(&key(), &tight, k, 1).is_err());
        // A request still carrying older limits does not change them.
        let loose = Limits {
            burst: Some(100),
            ..Limits::default()
        };
        assert!(l.check_rate(&key(), &loose, k, 1).is_err());
        l.sync([(&key(), &loose)].into_iter());
        assert!(
            l.check_rate(&key(), &loose, k, 1).is_ok(),
            "a new snapshot's limits apply"
        );
        l.sync(std::iter::empty());
        assert!(l.by_integration.read().expect("lock").is_empty());
    }

    #[test]
    fn a_delta_updates_only_what_it_names_in_order() {
        let l = Limiters::new(defaults());
        let other = IntegrationKey {
            tenant: "t".into(),
            integration_id: "other".into(),
        };
        let tight = Limits {
            burst: Some(1),
            ..Limits::default()
        };
        l.sync([(&key(), &Limits::default()), (&other, &tight)].into_iter());
        let k = Uuid::now_v7();
        assert!(l.check_rate(&other, &tight, k, 1).is_ok());
        // Removed then re-added in one batch: served, with the new limits.
        l.update(&[(key(), None), (key(), Some(tight))]);
        assert!(l.check_rate(&key(), &tight, k, 1).is_ok());
        assert!(l.check_rate(&key(), &tight, k, 1).is_err());
        // Added then removed: forgotten. The untouched integration keeps its spent budget.
        l.update(&[(key(), Some(Limits::default())), (key(), None)]);
        assert!(!l.by_integration.read().expect("lock").contains_key(&key()));
        assert!(l.check_rate(&other, &tight, k, 1).is_err());
    }

    #[test]
    fn concurrency_slots_are_released_on_drop() {
        let l = Limiters::new(defaults());
        let p = l.start_call(&key(), &Limits::default()).expect("first");
        assert_eq!(
            l.start_call(&key(), &Limits::default()).err(),
            Some(Refusal::Concurrency)
        );
        drop(p);
        assert!(l.start_call(&key(), &Limits::default()).is_ok());
    }
}
