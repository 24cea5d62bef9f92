//! The data planes following this control plane — and, on PostgreSQL, every other replica —
//! grouped by the tenants they serve. Each learns how many data planes share its tenants and
//! enforces that share of every per-key rate, burst and concurrency cap, so that a limit holds
//! for the fleet rather than once per replica; a join or a departure re-balances the others
//! at once here, and within a registry beat ([`share_through_store`]) on other replicas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpgw_shared::shard::Tenants;
use tokio::sync::watch;

use crate::store::Store;

/// How often a replica tells the registry its data planes and reads the others'.
const BEAT: Duration = Duration::from_millis(400);
/// A replica not heard from for this long no longer counts (it stopped or lost the database).
const LIVE: Duration = Duration::from_millis(2000);

/// Live snapshot streams, counted by the tenants they carry.
pub struct Members {
    by_tenants: Mutex<HashMap<String, u32>>,
    /// Other replicas' data planes, from the shared registry.
    others: Mutex<HashMap<String, u32>>,
    /// Bumped on every join and departure.
    roster: watch::Sender<u64>,
}

impl Default for Members {
    fn default() -> Self {
        Self {
            by_tenants: Mutex::new(HashMap::new()),
            others: Mutex::new(HashMap::new()),
            roster: watch::channel(0).0,
        }
    }
}

impl Members {
    /// Counts a data plane serving `tenants` until the returned membership is dropped.
    pub fn join(self: &Arc<Self>, tenants: &Tenants) -> Membership {
        let group = tenants.to_string();
        *self.lock().entry(group.clone()).or_insert(0) += 1;
        self.roster.send_modify(|g| *g = g.wrapping_add(1));
        Membership {
            members: self.clone(),
            group,
        }
    }

    /// Wakes on every join and departure.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.roster.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.by_tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn others(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.others
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This replica's data planes, per tenant selection.
    fn local(&self) -> Vec<(String, u32)> {
        self.lock().iter().map(|(g, n)| (g.clone(), *n)).collect()
    }

    /// Replaces the other replicas' counts; a change re-balances every stream.
    fn set_others(&self, others: HashMap<String, u32>) {
        let changed = {
            let mut current = self.others();
            let changed = *current != others;
            *current = others;
            changed
        };
        if changed {
            self.roster.send_modify(|g| *g = g.wrapping_add(1));
        }
    }
}

/// Keeps `members` in step with the other replicas sharing `store` (PostgreSQL): every beat,
/// and at once after a local join or departure, this replica's counts go to the registry and
/// the others' come back. Returns at once for the embedded store, or when `shutdown` turns.
pub async fn share_through_store(
    store: Store,
    members: Arc<Members>,
    mut shutdown: watch::Receiver<bool>,
) {
    let replica = uuid::Uuid::new_v4().to_string();
    let mut roster = members.watch();
    loop {
        match store
            .exchange_members(&replica, &members.local(), LIVE)
            .await
        {
            Ok(None) => return,
            Ok(Some(others)) => members.set_others(others),
            // Keep the last counts: a registry hiccup must not hand out whole limits.
            Err(e) => tracing::warn!(error = %e, "the data-plane registry could not be reached"),
        }
        tokio::select! {
            () = tokio::time::sleep(BEAT) => {}
            changed = roster.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// One data plane's place among [`Members`].
pub struct Membership {
    members: Arc<Members>,
    group: String,
}

impl Membership {
    /// How many live data planes serve the same tenants as this one (itself included).
    #[must_use]
    pub fn sharing(&self) -> u32 {
        let here = self.members.lock().get(&self.group).copied().unwrap_or(1);
        let elsewhere = self.members.others().get(&self.group).copied().unwrap_or(0);
        here.saturating_add(elsewhere).max(1)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        {
            let mut groups = self.members.lock();
            if let Some(n) = groups.get_mut(&self.group) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    groups.remove(&self.group);
                }
            }
        }
        self.members.roster.send_modify(|g| *g = g.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_planes_share_by_the_tenants_they_serve_and_leave_when_dropped() {
        let members = Arc::new(Members::default());
        let mut roster = members.watch();
        let all = Tenants::All;
        let shard: Tenants = "0/2".parse().expect("shard");
        let a = members.join(&all);
        let b = members.join(&all);
        let s = members.join(&shard);
        assert!(roster.has_changed().expect("open"));
        roster.borrow_and_update();
        assert_eq!((a.sharing(), b.sharing(), s.sharing()), (2, 2, 1));
        drop(b);
        assert!(roster.has_changed().expect("open"));
        assert_eq!(a.sharing(), 1);
        // Other replicas' data planes count too, and a change re-balances.
        roster.borrow_and_update();
        members.set_others([(all.to_string(), 2)].into_iter().collect());
        assert!(roster.has_changed().expect("open"));
        assert_eq!((a.sharing(), s.sharing()), (3, 1));
        roster.borrow_and_update();
        members.set_others([(all.to_string(), 2)].into_iter().collect());
        assert!(
            !roster.has_changed().expect("open"),
            "no change, no re-balance"
        );
        drop((a, s));
        assert!(members.lock().is_empty());
    }
}
