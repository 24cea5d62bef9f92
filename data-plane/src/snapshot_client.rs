//! Subscribes to the control plane's snapshot stream and keeps [`SnapshotStore`] current.
//!
//! Every message is converted and fully validated before it is swapped in; a message that
//! fails is refused (the last good state stays) and the stream is restarted from scratch.
//! On any disconnect the client reconnects with jittered exponential backoff and resumes
//! from the version it serves, so a control-plane restart costs one delta, not a reload.
//! Given several control-plane URLs it prefers the first and tries the others in turn while
//! it fails (any replica serves the same store); it resumes only where the version belongs to
//! the same store (the store's identity travels with every message), and takes a full
//! snapshot anywhere else.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use mcpgw_shared::pb::WatchRequest;
use mcpgw_shared::pb::snapshot_service_client::SnapshotServiceClient;
use mcpgw_shared::secret::Secret;
use mcpgw_shared::shard::Tenants;
use tokio::sync::watch;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::state::{Prepared, SnapshotStore};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Largest snapshot message accepted (the control plane sends chunks well below this).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Where and how to subscribe.
pub struct SnapshotClient {
    /// The control planes' gRPC URLs, tried in turn.
    pub endpoints: Vec<String>,
    /// The data-plane token.
    pub token: Secret,
    /// This replica's name.
    pub id: String,
    /// Limiters to bring in line with each applied snapshot.
    pub limiters: Arc<Limiters>,
    /// PEM CA certificate(s) trusted for an `https://` control plane (public roots if none).
    pub ca: Option<Vec<u8>>,
    /// The tenants served: asked of the control plane, and enforced on what it sends.
    pub tenants: Tenants,
}

/// Where the next stream starts.
#[derive(Default)]
struct Resume {
    /// The store the served version belongs to (empty until a snapshot is applied).
    store: String,
    /// Start over from a full snapshot: an update was refused, and none has applied since
    /// (whichever control plane the next one comes from).
    resync: bool,
    /// The stream that just ended applied something (it worked: start again from the first
    /// control plane).
    applied: bool,
}

enum StreamEnd {
    /// The stream failed or ended; resume from what we have.
    Disconnected,
    /// The control plane sent something we refused; start over with a full snapshot.
    Refused,
}

impl SnapshotClient {
    /// Runs until `shutdown` turns true.
    pub async fn run(
        self,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = MIN_BACKOFF;
        let mut resume = Resume::default();
        // Which control plane: the first is preferred, the others are tried in turn while it
        // fails; after a stream that worked ends, the first again.
        let mut attempt: usize = 0;
        let count = self.endpoints.len().max(1);
        loop {
            let from = if resume.resync { 0 } else { store.version() };
            let endpoint = self
                .endpoints
                .get(attempt % count)
                .map_or("", String::as_str);
            let end = tokio::select! {
                end = self.follow(endpoint, &store, &metrics, from, &mut resume, &mut backoff) => end,
                () = crate::stopped(&mut shutdown) => return,
            };
            if matches!(end, StreamEnd::Refused) {
                resume.resync = true;
            }
            metrics.snapshot_stream_failed();
            if std::mem::take(&mut resume.applied) {
                attempt = 0;
            } else {
                attempt = attempt.wrapping_add(1);
            }
            // The next control plane after a short pause; the backoff grows once every one of
            // them has failed in a row.
            let delay = if attempt > 0 && attempt.is_multiple_of(count) {
                let delay = jitter(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                delay
            } else {
                jitter(MIN_BACKOFF)
            };
            tracing::debug!(
                delay_ms = delay.as_millis() as u64,
                "reconnecting to the control plane"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = crate::stopped(&mut shutdown) => return,
            }
        }
    }

    async fn follow(
        &self,
        endpoint: &str,
        store: &Arc<SnapshotStore>,
        metrics: &Metrics,
        from: u64,
        resume: &mut Resume,
        backoff: &mut Duration,
    ) -> StreamEnd {
        let channel = match Endpoint::from_shared(endpoint.to_owned()) {
            Ok(e) => e
                .connect_timeout(Duration::from_secs(3))
                .http2_keep_alive_interval(Duration::from_secs(10))
                .keep_alive_timeout(Duration::from_secs(5))
                .keep_alive_while_idle(true),
            Err(e) => {
                tracing::error!(error = %e, "invalid control-plane URL");
                return StreamEnd::Disconnected;
            }
        };
        let channel = if endpoint.starts_with("https://") {
            let tls = match &self.ca {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            match channel.tls_config(tls) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "invalid TLS settings for the control plane");
                    return StreamEnd::Disconnected;
                }
            }
        } else {
            channel
        };
        let channel = match channel.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, %endpoint, "control plane unreachable; serving the last snapshot");
                return StreamEnd::Disconnected;
            }
        };
        let (tenants, shard_index, shard_count) = self.tenants.to_request();
        let mut request = tonic::Request::new(WatchRequest {
            resume_from_version: from,
            data_plane_id: self.id.clone(),
            tenants,
            shard_index,
            shard_count,
            resume_store_id: if from > 0 {
                resume.store.clone()
            } else {
                String::new()
            },
        });
        let Ok(auth) = format!("Bearer {}", self.token.expose()).parse() else {
            tracing::error!("the data-plane token is not a valid header value");
            return StreamEnd::Disconnected;
        };
        request.metadata_mut().insert("authorization", auth);
        let mut client =
            SnapshotServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut stream = match client.watch(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                if status.code() == tonic::Code::Unauthenticated {
                    tracing::error!("the control plane refused the data-plane token");
                } else {
                    tracing::warn!(code = ?status.code(), message = status.message(), "watch failed");
                }
                return StreamEnd::Disconnected;
            }
        };
        let mut pending = Vec::new();
        // The store of the update being received.
        let mut update_store = String::new();
        // Messages being parsed and built, oldest first: as many at once as there are cores,
        // so a large update is prepared in parallel while holding only that many messages'
        // parsed form.
        let mut preparing = std::collections::VecDeque::new();
        let parallel = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        loop {
            let message = match stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => {
                    tracing::warn!("the control plane closed the snapshot stream");
                    return StreamEnd::Disconnected;
                }
                Err(status) => {
                    tracing::warn!(code = ?status.code(), message = status.message(), "snapshot stream broke");
                    return StreamEnd::Disconnected;
                }
            };
            if !message.full && !resume.store.is_empty() && message.store_id != resume.store {
                // A delta of another store's versions (a control plane that ignored the
                // store we resumed from): nothing of it applies to what we hold.
                tracing::error!(
                    served = store.version(),
                    "a control plane sent a delta of another store; starting over from a full snapshot"
                );
                metrics.snapshot_rejected();
                return StreamEnd::Refused;
            }
            store.received(message.version);
            if let Some(o) = &message.oauth
                && !o.issuer.is_empty()
            {
                store.set_oauth(crate::state::OAuthIssuer {
                    issuer: o.issuer.clone(),
                    keys: o
                        .keys
                        .iter()
                        .map(|k| (k.kid.clone(), k.public_key.clone()))
                        .collect(),
                    public_mcp_url: o.public_mcp_url.trim_end_matches('/').to_owned(),
                });
            }
            let sharing = message.data_planes.max(1);
            if self.limiters.share_among(sharing) {
                tracing::info!(
                    sharing,
                    "data planes enforcing these tenants' limits together"
                );
                metrics.limit_sharing(sharing);
            }
            if !message.full
                && !message.more
                && message.upserts.is_empty()
                && message.removals.is_empty()
                && pending.is_empty()
                && preparing.is_empty()
                && message.version <= store.version()
            {
                // Nothing to apply: the share alone changed.
                continue;
            }
            update_store.clone_from(&message.store_id);
            let more = message.more;
            let tenants = self.tenants.clone();
            preparing.push_back(tokio::task::spawn_blocking(move || {
                Prepared::from_message(message, &tenants)
            }));
            // A chunk of a larger update: the update applies as a whole once its last arrives.
            let wait_for = if more {
                preparing.len().saturating_sub(parallel - 1)
            } else {
                preparing.len()
            };
            for _ in 0..wait_for {
                let Some(job) = preparing.pop_front() else {
                    break;
                };
                match job.await {
                    Ok(Ok(p)) => pending.push(p),
                    Ok(Err(e)) => {
                        metrics.snapshot_rejected();
                        tracing::error!(reason = %e, served = store.version(), "refused a snapshot; keeping the last good one");
                        return StreamEnd::Refused;
                    }
                    Err(_) => {
                        metrics.snapshot_rejected();
                        tracing::error!(
                            served = store.version(),
                            "preparing a snapshot failed; keeping the last good one"
                        );
                        return StreamEnd::Refused;
                    }
                }
            }
            if more {
                continue;
            }
            let updates = std::mem::take(&mut pending);
            let target = store.clone();
            let limiters = self.limiters.clone();
            let Ok(applied) = tokio::task::spawn_blocking(move || {
                target.apply_prepared(updates, |next, applied| {
                    if applied.full {
                        limiters.sync(
                            next.integrations()
                                .map(|i| (&i.snapshot.key, &i.snapshot.limits)),
                        );
                    } else {
                        // A delta: only what it touched, whatever else is served.
                        limiters.update(&applied.changes);
                    }
                })
            })
            .await
            else {
                // A panic while applying (a bug): the served state was not touched.
                metrics.snapshot_rejected();
                tracing::error!(
                    served = store.version(),
                    "applying a snapshot failed; keeping the last good one"
                );
                return StreamEnd::Refused;
            };
            match applied {
                Ok(applied) => {
                    let version = applied.version;
                    store.settle();
                    for (key, reason) in &applied.rejected {
                        tracing::error!(
                            tenant = %key.tenant,
                            integration = %key.integration_id,
                            %reason,
                            "refused one integration of a snapshot; it is not served until the control plane sends a valid one"
                        );
                    }
                    *backoff = MIN_BACKOFF;
                    resume.store.clone_from(&update_store);
                    resume.resync = false;
                    resume.applied = true;
                    metrics.snapshot_applied();
                    tracing::info!(version, "snapshot applied");
                }
                Err(reason) => {
                    metrics.snapshot_rejected();
                    tracing::error!(%reason, served = store.version(), "refused a snapshot; keeping the last good one");
                    return StreamEnd::Refused;
                }
            }
        }
    }
}

/// "Equal jitter": a uniformly random delay in `[base/2, base]` (never near zero, so a
/// fleet reconnecting at once still spreads out without hammering).
fn jitter(base: Duration) -> Duration {
    let r = RandomState::new().hash_one(std::time::Instant::now());
    let half = base / 2;
    let extra = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(if extra == 0 { 0 } else { r % extra })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(800));
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
                "{d:?}"
            );
        }
    }
}
