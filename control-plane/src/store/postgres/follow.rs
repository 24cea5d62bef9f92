//! Following the change log: every version another replica commits is applied to this
//! replica's mirror, in order, and handed to the service (which publishes it to this replica's
//! data planes). A `NOTIFY` from each commit wakes the follower at once; it also polls, so a
//! lost listening connection delays it by one poll interval at most.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::Client;

use super::{CHANNEL, OnChange, Postgres, StoreError, to_i64};

/// Versions read per query while catching up.
const BATCH: i64 = 1000;

/// One version read from the change log.
struct Change {
    version: u64,
    tenant: String,
    integration: String,
    ops: Vec<(String, Option<Vec<u8>>)>,
}

impl Postgres {
    /// Starts the follower (once); `on_change` is called for each version this replica did
    /// not write, in order, when the mirror shows it.
    pub(crate) fn follow(&self, on_change: OnChange) {
        if self.inner.on_change.set(on_change).is_err() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.follow_loop().await });
    }

    /// Stops the follower.
    pub(crate) fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    async fn follow_loop(self) {
        let mut closing = self.inner.closing.subscribe();
        let wake = Arc::new(Notify::new());
        let poll = self.inner.database.poll_interval;
        let mut backoff = Duration::from_millis(100);
        while !*closing.borrow() {
            match self.inner.connector.listen(CHANNEL, wake.clone()).await {
                Ok(client) => {
                    backoff = Duration::from_millis(100);
                    loop {
                        let caught_up = {
                            let _one = self.inner.follow_lock.lock().await;
                            self.catch_up(&client).await
                        };
                        match caught_up {
                            Ok(()) => self.inner.reachable.store(true, Ordering::Relaxed),
                            Err(e) => {
                                tracing::error!(error = %e, "following the database's change log failed");
                                self.inner.reachable.store(false, Ordering::Relaxed);
                                break;
                            }
                        }
                        if client.is_closed() {
                            break;
                        }
                        tokio::select! {
                            () = wake.notified() => {}
                            () = tokio::time::sleep(poll) => {}
                            _ = closing.changed() => return,
                        }
                    }
                }
                Err(e) => {
                    self.inner.reachable.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "cannot reach the database to follow its change log; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = closing.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Applies every committed version newer than the mirror's, in order, handing each to
    /// `on_change`. The caller holds the follow lock.
    pub(super) async fn catch_up(&self, client: &Client) -> Result<(), StoreError> {
        loop {
            let from = self.mirror().version;
            // The head first: every version up to it is committed by the time it is read, so
            // if the changes after `from` then come back empty while the head is beyond it,
            // they were pruned (not merely committed in between).
            let head = super::head_version(client).await?;
            let rows = client
                .query(
                    "SELECT c.version, c.tenant, c.integration, o.key, o.value \
                     FROM mcpgw_changes c JOIN mcpgw_change_ops o ON o.version = c.version \
                     WHERE c.version > $1 AND c.version <= $1 + $2 ORDER BY c.version, o.key",
                    &[&to_i64(from), &BATCH],
                )
                .await?;
            let changes = group(&rows);
            if changes.is_empty() {
                if head > from {
                    return Err(behind(from, head));
                }
                return Ok(());
            }
            let last = changes.last().map_or(from, |c| c.version);
            for change in changes {
                if change.version != self.mirror().version + 1 {
                    return Err(behind(self.mirror().version, change.version));
                }
                drop(self.mirror_mut().apply(change.version, change.ops));
                if let Some(on_change) = self.inner.on_change.get() {
                    on_change(change.version, &change.tenant, &change.integration);
                }
            }
            if last < from + u64::try_from(BATCH).unwrap_or(0) {
                return Ok(());
            }
        }
    }
}

fn behind(at: u64, next: u64) -> StoreError {
    StoreError::Database(format!(
        "this replica is at version {at} but the change log continues at {next}: it was away \
         longer than the change log's retention; restart it to reload"
    ))
}

/// Rows (one per operation, ordered by version) grouped into changes.
fn group(rows: &[tokio_postgres::Row]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    for row in rows {
        let version = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if changes.last().is_none_or(|c| c.version != version) {
            changes.push(Change {
                version,
                tenant: row.get(1),
                integration: row.get(2),
                ops: Vec::new(),
            });
        }
        if let Some(change) = changes.last_mut() {
            change.ops.push((row.get(3), row.get(4)));
        }
    }
    changes
}
