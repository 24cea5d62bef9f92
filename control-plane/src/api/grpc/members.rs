//! The data planes following this control plane, grouped by the tenants they serve. Each
//! learns how many data planes share its tenants and enforces that share of every per-key
//! rate, burst and concurrency cap, so that a limit holds for the fleet rather than once per
//! replica; a join or a departure re-balances the others at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcpgw_shared::shard::Tenants;
use tokio::sync::watch;

/// Live snapshot streams, counted by the tenants they carry.
pub struct Members {
    by_tenants: Mutex<HashMap<String, u32>>,
    /// Bumped on every join and departure.
    roster: watch::Sender<u64>,
}

impl Default for Members {
    fn default() -> Self {
        Self {
            by_tenants: Mutex::new(HashMap::new()),
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
        self.members
            .lock()
            .get(&self.group)
            .copied()
            .unwrap_or(1)
            .max(1)
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
        drop((a, s));
        assert!(members.lock().is_empty());
    }
}
