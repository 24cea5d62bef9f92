//! Group commit: one `fsync` makes every write applied before it durable.
//!
//! Writes are applied one at a time (the service's write lock), but each then waits for
//! durability *outside* the lock, so the next write can be applied meanwhile. The first
//! waiter to find no flush running becomes the leader: it flushes everything applied so far
//! and wakes every waiter its flush covered; those that arrived during its flush start the
//! next one together. A write is acknowledged only once a flush that began after it was
//! applied has finished, as before; a single writer pays exactly one flush, as before.
//!
//! If a flush fails, every write it was to cover — and every write applied since — is lost
//! together: their undo records (oldest first) become the store's degraded overlay, and their
//! waiters learn it through the epoch, which a failure advances.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sled::IVec;
use tokio::sync::Notify;

/// An undo record: the value of every key a write touched, before it.
pub(super) type Undo = BTreeMap<Vec<u8>, Option<IVec>>;

/// Applied writes not yet known durable, and who is flushing.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<State>,
    flushed: Notify,
    /// Flushes led so far (each made a group of writes durable).
    flushes: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Every version up to this one is durable.
    durable: u64,
    /// Advanced whenever pending writes are lost (a failed flush).
    epoch: u64,
    /// Applied, not yet durable, oldest first.
    pending: Vec<(u64, Undo)>,
    flushing: bool,
}

/// What a waiter must do next.
pub(super) enum Turn {
    /// Durable: acknowledge.
    Done,
    /// Lost in a failed flush.
    Lost,
    /// Flush everything up to this version, then report with [`GroupCommit::finish`] or
    /// [`GroupCommit::fail`] (with the epoch).
    Lead(u64, u64),
}

impl GroupCommit {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Flushes led so far.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Records an applied write; returns the epoch it belongs to.
    pub(super) fn applied(&self, version: u64, undo: Undo) -> u64 {
        let mut s = self.state();
        s.pending.push((version, undo));
        s.epoch
    }

    /// Takes back the newest applied write (it is being reverted); returns its undo record.
    pub(super) fn withdraw(&self, version: u64) -> Option<Undo> {
        let mut s = self.state();
        match s.pending.last() {
            Some((v, _)) if *v == version => s.pending.pop().map(|(_, undo)| undo),
            _ => None,
        }
    }

    /// Waits until the write at `version` (of `epoch`) is durable, lost, or this caller must
    /// lead the next flush.
    pub(super) async fn turn(&self, version: u64, epoch: u64) -> Turn {
        loop {
            let notified = self.flushed.notified();
            tokio::pin!(notified);
            {
                let mut s = self.state();
                if s.epoch != epoch {
                    return Turn::Lost;
                }
                if s.durable >= version {
                    return Turn::Done;
                }
                if !s.flushing {
                    s.flushing = true;
                    self.flushes.fetch_add(1, Ordering::Relaxed);
                    let target = s.pending.last().map_or(version, |(v, _)| *v);
                    return Turn::Lead(target, s.epoch);
                }
                // Registered before the lock is released: the leader's wake-up is not missed.
                notified.as_mut().enable();
            }
            notified.await;
        }
    }

    /// The leader's flush (begun in `epoch`) up to `target` succeeded: those writes are
    /// durable — unless a recovery abandoned them meanwhile.
    pub(super) fn finish(&self, target: u64, epoch: u64) {
        let mut s = self.state();
        s.flushing = false;
        if s.epoch == epoch {
            s.durable = s.durable.max(target);
            s.pending.retain(|(v, _)| *v > target);
        }
        drop(s);
        self.flushed.notify_waiters();
    }

    /// The leader's flush (begun in `epoch`) failed: every pending write is lost. Returns
    /// their undo records merged oldest first (the value each key had before any of them).
    pub(super) fn fail(&self, epoch: u64) -> Undo {
        let mut s = self.state();
        s.flushing = false;
        let merged = if s.epoch == epoch {
            Self::lose(&mut s)
        } else {
            Undo::new()
        };
        drop(s);
        self.flushed.notify_waiters();
        merged
    }

    /// A recovery is reopening the store: every pending write is lost, whatever a flush in
    /// progress does. Returns their merged undo records, as [`GroupCommit::fail`].
    pub(super) fn abandon(&self) -> Undo {
        let merged = Self::lose(&mut self.state());
        self.flushed.notify_waiters();
        merged
    }

    /// What is on disk after a recovery: the versions up to `version`.
    pub(super) fn reopened(&self, version: u64) {
        self.state().durable = version;
    }

    fn lose(s: &mut State) -> Undo {
        s.epoch += 1;
        let mut merged = Undo::new();
        for (_, undo) in s.pending.drain(..) {
            for (k, v) in undo {
                merged.entry(k).or_insert(v);
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn undo(key: &str, old: Option<&str>) -> Undo {
        [(
            key.as_bytes().to_vec(),
            old.map(|v| IVec::from(v.as_bytes())),
        )]
        .into_iter()
        .collect()
    }

    #[tokio::test]
    async fn one_flush_covers_every_write_applied_before_it() {
        let g = Arc::new(GroupCommit::default());
        let e1 = g.applied(1, Undo::new());
        let Turn::Lead(target, epoch) = g.turn(1, e1).await else {
            panic!("the first waiter leads");
        };
        assert_eq!(target, 1);
        // Applied while the flush runs: they wait for the next one, together.
        let e2 = g.applied(2, Undo::new());
        let e3 = g.applied(3, Undo::new());
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { matches!(g.turn(2, e2).await, Turn::Lead(3, _)) })
        };
        tokio::task::yield_now().await;
        g.finish(1, epoch);
        assert!(
            waiter.await.expect("task"),
            "the next leader covers 2 and 3"
        );
        g.finish(3, epoch);
        assert!(matches!(g.turn(3, e3).await, Turn::Done));
    }

    #[tokio::test]
    async fn a_failed_flush_loses_every_pending_write_and_keeps_the_oldest_values() {
        let g = GroupCommit::default();
        let e = g.applied(1, undo("k", Some("committed")));
        g.applied(2, undo("k", Some("from-write-1")));
        g.applied(3, undo("other", None));
        let Turn::Lead(3, epoch) = g.turn(1, e).await else {
            panic!("leads");
        };
        let merged = g.fail(epoch);
        assert_eq!(merged[b"k".as_slice()], Some(IVec::from(&b"committed"[..])));
        assert_eq!(merged[b"other".as_slice()], None);
        assert!(matches!(g.turn(2, e).await, Turn::Lost));
        assert!(matches!(g.turn(3, e).await, Turn::Lost));
    }

    #[tokio::test]
    async fn a_recovery_abandons_pending_writes_even_while_a_flush_runs() {
        let g = GroupCommit::default();
        let e = g.applied(5, Undo::new());
        let Turn::Lead(5, epoch) = g.turn(5, e).await else {
            panic!("leads");
        };
        let _ = g.abandon();
        g.reopened(4);
        // The flush that was running ends: it must not mark anything durable.
        g.finish(5, epoch);
        assert!(matches!(g.turn(5, e).await, Turn::Lost));
        // A new write reusing version 5 needs its own flush.
        let e2 = g.applied(5, Undo::new());
        assert!(matches!(g.turn(5, e2).await, Turn::Lead(5, _)));
    }

    #[test]
    fn a_reverted_write_is_withdrawn_only_if_it_is_the_newest() {
        let g = GroupCommit::default();
        g.applied(1, Undo::new());
        g.applied(2, undo("k", None));
        assert!(g.withdraw(1).is_none());
        assert!(g.withdraw(2).is_some());
        assert!(g.withdraw(2).is_none());
    }
}
