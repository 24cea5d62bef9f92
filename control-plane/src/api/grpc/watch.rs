//! `SnapshotService.Watch`: a full snapshot (or, when resuming, a delta) first, then one
//! message per batch of changes, each at a strictly higher version.

use std::pin::Pin;

use mcpgw_shared::pb;
use mcpgw_shared::shard::Tenants;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::Grpc;

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::Snapshot, Status>> + Send>>;

#[tonic::async_trait]
impl pb::snapshot_service_server::SnapshotService for Grpc {
    type WatchStream = SnapshotStream;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        self.check_data_plane(&req)?;
        let pb::WatchRequest {
            resume_from_version,
            data_plane_id,
            tenants,
            shard_index,
            shard_count,
            resume_store_id,
        } = req.into_inner();
        let tenants = Tenants::from_request(tenants, shard_index, shard_count)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let data_plane_id: String = data_plane_id
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        let publisher = self.service.publisher().clone();
        let store_id = self.service.store().id().to_owned();
        let stamp = Stamp {
            store_id: store_id.clone(),
            oauth: self.service.oauth_issuer(),
        };
        // A version of another store (a data plane coming from a control plane on another
        // store) says nothing about this one's: start from a full snapshot.
        let resume_from_version = if resume_store_id.is_empty() || resume_store_id == store_id {
            resume_from_version
        } else {
            0
        };
        let (tx, rx) = mpsc::channel(1);
        let members = self.members.clone();
        tokio::spawn(async move {
            // Counted while this stream lives; the others serving its tenants re-balance.
            let membership = members.join(&tenants);
            let mut roster = members.watch();
            roster.borrow_and_update();
            let mut changes = publisher.subscribe();
            let mut closing = publisher.closing();
            changes.borrow_and_update();
            let first = (resume_from_version > 0)
                .then(|| publisher.delta_since(resume_from_version))
                .flatten()
                .unwrap_or_else(|| publisher.full());
            let first = only(&tenants, first);
            let mut sharing = membership.sharing();
            tracing::info!(data_plane = %data_plane_id, version = first.version, full = first.full, %tenants, sharing, "data plane subscribed");
            let mut sent = first.version;
            if !send_chunked(&tx, first, &stamp, sharing).await {
                return;
            }
            loop {
                tokio::select! {
                    () = tx.closed() => break,
                    _ = closing.wait_for(|c| *c) => break,
                    changed = changes.changed() => if changed.is_err() { break },
                    changed = roster.changed() => if changed.is_err() { break },
                }
                let now_sharing = membership.sharing();
                let next = only(
                    &tenants,
                    publisher
                        .delta_since(sent)
                        .unwrap_or_else(|| publisher.full()),
                );
                let next = if next.version > sent {
                    next
                } else if now_sharing != sharing {
                    // Only the share changed: say so at the version already sent.
                    pb::Snapshot {
                        version: sent,
                        ..pb::Snapshot::default()
                    }
                } else {
                    continue;
                };
                sharing = now_sharing;
                sent = next.version;
                if !send_chunked(&tx, next, &stamp, sharing).await {
                    break;
                }
            }
            tracing::info!(data_plane = %data_plane_id, "data plane stream closed");
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// `snapshot` without the integrations of tenants the data plane does not serve (it still
/// carries the version, so a shard's version keeps up with everyone's).
fn only(tenants: &Tenants, mut snapshot: pb::Snapshot) -> pb::Snapshot {
    if *tenants != Tenants::All {
        snapshot.upserts.retain(|u| tenants.includes(&u.tenant));
        snapshot.removals.retain(|r| tenants.includes(&r.tenant));
    }
    snapshot
}

/// Largest snapshot message sent (data planes accept up to 64 MiB; an integration is at most
/// a few MiB, so chunks of this size always fit).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// What every message of a stream carries besides its changes.
struct Stamp {
    store_id: String,
    oauth: pb::OAuthIssuer,
}

/// Sends `snapshot` in chunks, each naming the store, how many data planes share the limits
/// and the OAuth issuer; false once the data plane is gone.
async fn send_chunked(
    tx: &mpsc::Sender<Result<pb::Snapshot, Status>>,
    mut snapshot: pb::Snapshot,
    stamp: &Stamp,
    sharing: u32,
) -> bool {
    snapshot.store_id.clone_from(&stamp.store_id);
    snapshot.data_planes = sharing;
    snapshot.oauth = Some(stamp.oauth.clone());
    for chunk in crate::snapshot::chunk(snapshot, CHUNK_BYTES) {
        if tx.send(Ok(chunk)).await.is_err() {
            return false;
        }
    }
    true
}
