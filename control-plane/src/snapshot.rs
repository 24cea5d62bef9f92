//! The snapshot publisher: what data planes see, as a plain versioned map.
//!
//! It knows nothing of storage (the service builds each [`IntegrationSnapshot`] and hands it
//! over after the write is durable). It keeps, per integration, the protobuf form of its latest [`IntegrationSnapshot`] and the
//! store version that produced it (a tombstone once the integration is deleted). A data plane
//! that resumes from version `v` gets exactly the entries changed after `v`; one that starts
//! fresh — or resumes from before this process started, when tombstones may be missing — gets
//! a full snapshot. Writers announce each new version on a `watch` channel, so a slow stream
//! coalesces several changes into one delta instead of queueing them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use mcpgw_shared::model::{IntegrationKey, IntegrationSnapshot};
use mcpgw_shared::pb;
use tokio::sync::watch;

struct Entry {
    version: u64,
    /// `None` = deleted.
    snapshot: Option<Arc<Published>>,
}

/// An integration as published, with the versions a delta needs to send only what changed.
struct Published {
    /// Its protobuf form, every tool included.
    pb: pb::IntegrationSnapshot,
    /// The version from which it has existed without a break: a data plane at an older
    /// version may not hold it (or holds an earlier incarnation), so it gets every tool.
    since: u64,
    /// The id of each tool of `pb.tools_json`, in that (id) order.
    tool_ids: Vec<String>,
    /// The version that last changed each tool of `pb.tools_json`.
    tool_versions: Vec<u64>,
    /// The version that last changed the set of exposed tools.
    ids_version: u64,
}

/// An integration's protobuf form and its tool ids, made before the publisher's lock is taken.
struct Converted {
    pb: pb::IntegrationSnapshot,
    tool_ids: Vec<String>,
}

impl From<&IntegrationSnapshot> for Converted {
    fn from(snapshot: &IntegrationSnapshot) -> Self {
        Self {
            pb: snapshot.into(),
            tool_ids: snapshot.tools.iter().map(|t| t.id.clone()).collect(),
        }
    }
}

impl Published {
    /// `converted` at `version`, after `previous` (the integration's last published form).
    fn new(converted: Converted, version: u64, previous: Option<&Published>) -> Self {
        let Converted { pb, tool_ids } = converted;
        let Some(previous) = previous else {
            return Self {
                tool_versions: vec![version; tool_ids.len()],
                pb,
                since: version,
                tool_ids,
                ids_version: version,
            };
        };
        // A tool keeps the version that last changed it if its body is the same as before.
        let tool_versions = tool_ids
            .iter()
            .zip(&pb.tools_json)
            .map(|(id, json)| match previous.tool_ids.binary_search(id) {
                Ok(i) if previous.pb.tools_json[i] == *json => previous.tool_versions[i],
                _ => version,
            })
            .collect();
        let ids_version = if tool_ids == previous.tool_ids {
            previous.ids_version
        } else {
            version
        };
        Self {
            pb,
            since: previous.since,
            tool_ids,
            tool_versions,
            ids_version,
        }
    }

    /// What a data plane holding this integration as of version `since` needs: every tool
    /// when it may not hold this integration, else only the tools changed after `since` (and
    /// the set of tool ids, when that changed).
    fn delta(&self, since: u64) -> pb::IntegrationSnapshot {
        if since < self.since {
            return self.pb.clone();
        }
        let tools_json = self
            .pb
            .tools_json
            .iter()
            .zip(&self.tool_versions)
            .filter(|(_, v)| **v > since)
            .map(|(json, _)| json.clone())
            .collect();
        let ids_changed = self.ids_version > since;
        pb::IntegrationSnapshot {
            tools_json,
            tools_partial: true,
            tool_ids_changed: ids_changed,
            tool_ids: if ids_changed {
                self.tool_ids.clone()
            } else {
                Vec::new()
            },
            tenant: self.pb.tenant.clone(),
            integration_id: self.pb.integration_id.clone(),
            enabled: self.pb.enabled,
            keys: self.pb.keys.clone(),
            limits: self.pb.limits,
            config_id: self.pb.config_id.clone(),
            revision: self.pb.revision.clone(),
            description: self.pb.description.clone(),
            display_name: self.pb.display_name.clone(),
            oauth: self.pb.oauth.clone(),
            catalog_revision: self.pb.catalog_revision,
            catalog_sha256: self.pb.catalog_sha256.clone(),
        }
    }
}

struct State {
    /// The version announced: every version up to it is published.
    version: u64,
    /// Versions published ahead of one still being flushed (writes finish their flushes in
    /// any order); announced once the gap below them closes.
    ahead: BTreeSet<u64>,
    entries: HashMap<IntegrationKey, Entry>,
    /// Every entry by the version that last changed it, so a delta walks the changes since
    /// its version, not every integration.
    by_version: BTreeSet<(u64, IntegrationKey)>,
}

/// Publishes integration snapshots to any number of watchers.
pub struct Publisher {
    state: RwLock<State>,
    /// Deltas can be served only from this version on (tombstones before it are unknown).
    boot_version: u64,
    notify: watch::Sender<u64>,
    closing: watch::Sender<bool>,
}

impl Publisher {
    /// A publisher at store `version` holding `snapshots` (every integration that exists,
    /// each with the version that last changed it), serving deltas from `floor` on.
    #[must_use]
    pub fn new(
        version: u64,
        floor: u64,
        snapshots: impl IntoIterator<Item = (IntegrationSnapshot, u64)>,
    ) -> Self {
        let entries: HashMap<_, _> = snapshots
            .into_iter()
            .map(|(snapshot, at)| {
                // What changed before `at` is unknown: a data plane older than `at` gets it all.
                let entry = Entry {
                    version: at,
                    snapshot: Some(Arc::new(Published::new((&snapshot).into(), at, None))),
                };
                (snapshot.key, entry)
            })
            .collect();
        let by_version = entries
            .iter()
            .map(|(k, e)| (e.version, k.clone()))
            .collect();
        let (notify, _) = watch::channel(version);
        let (closing, _) = watch::channel(false);
        Self {
            state: RwLock::new(State {
                version,
                ahead: BTreeSet::new(),
                entries,
                by_version,
            }),
            boot_version: floor,
            notify,
            closing,
        }
    }

    /// Records the new state of one integration (`None` = deleted) at `version`, and wakes
    /// every watcher once every version up to it is published. Each version is published
    /// once (versions are gap-free among committed writes), possibly out of order; a state
    /// older than the one already recorded for the integration is not recorded.
    pub fn publish(
        &self,
        version: u64,
        key: IntegrationKey,
        snapshot: Option<IntegrationSnapshot>,
    ) {
        // Encoded outside the lock; under it only the comparison with the previous form.
        let converted = snapshot.as_ref().map(Converted::from);
        let announce = {
            let mut state = self
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let previous = state.entries.get(&key);
            let stale = previous.is_some_and(|p| p.version > version);
            let entry = (!stale).then(|| Entry {
                version,
                snapshot: converted.map(|c| {
                    let previous = previous.and_then(|p| p.snapshot.as_deref());
                    Arc::new(Published::new(c, version, previous))
                }),
            });
            if version == state.version + 1 {
                state.version = version;
                let state = &mut *state;
                while state.ahead.remove(&(state.version + 1)) {
                    state.version += 1;
                }
            } else if version > state.version {
                state.ahead.insert(version);
            }
            if let Some(entry) = entry {
                state.by_version.insert((version, key.clone()));
                if let Some(old) = state.entries.insert(key.clone(), entry)
                    && old.version != version
                {
                    state.by_version.remove(&(old.version, key));
                }
            }
            state.version
        };
        self.notify.send_if_modified(|announced| {
            let newer = announce > *announced;
            *announced = announce.max(*announced);
            newer
        });
    }

    /// The latest published version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// A receiver that changes whenever a new version is published.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Ends every watch stream (at shutdown, so the gRPC server can drain).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A receiver that turns `true` when the publisher closes.
    #[must_use]
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Everything, as one full snapshot.
    #[must_use]
    pub fn full(&self) -> pb::Snapshot {
        let state = self.read();
        let mut upserts: Vec<pb::IntegrationSnapshot> = state
            .entries
            .values()
            .filter_map(|e| e.snapshot.as_ref().map(|p| p.pb.clone()))
            .collect();
        upserts.sort_by(|a, b| (&a.tenant, &a.integration_id).cmp(&(&b.tenant, &b.integration_id)));
        pb::Snapshot {
            version: state.version,
            full: true,
            upserts,
            removals: Vec::new(),
            more: false,
            // Set by the stream that sends it (`api/grpc/watch.rs`).
            store_id: String::new(),
            data_planes: 0,
            oauth: None,
        }
    }

    /// What changed after `since`, or `None` when a delta cannot be served from it (it is
    /// older than this process's state or newer than anything published).
    #[must_use]
    pub fn delta_since(&self, since: u64) -> Option<pb::Snapshot> {
        let state = self.read();
        if since < self.boot_version || since > state.version {
            return None;
        }
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        let changed = state
            .by_version
            .iter()
            .rev()
            .take_while(|(version, _)| *version > since);
        for (_, key) in changed {
            let Some(entry) = state.entries.get(key) else {
                continue;
            };
            match &entry.snapshot {
                Some(s) => upserts.push(s.delta(since)),
                None => removals.push(pb::IntegrationKey::from(key)),
            }
        }
        Some(pb::Snapshot {
            version: state.version,
            full: false,
            upserts,
            removals,
            more: false,
            store_id: String::new(),
            data_planes: 0,
            oauth: None,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Splits `snapshot` into messages of at most about `max_bytes` each (an integration is never
/// split), so a large state never exceeds a gRPC message limit. All but the last carry
/// `more`; only the first keeps `full`; removals travel in the last.
#[must_use]
pub fn chunk(snapshot: pb::Snapshot, max_bytes: usize) -> Vec<pb::Snapshot> {
    use prost::Message;
    let pb::Snapshot {
        version,
        full,
        upserts,
        removals,
        more: _,
        store_id,
        data_planes,
        oauth,
    } = snapshot;
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for upsert in upserts {
        let len = upsert.encoded_len();
        if !current.is_empty() && size + len > max_bytes {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(upsert);
    }
    chunks.push(current);
    let last = chunks.len() - 1;
    let mut removals = Some(removals);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, upserts)| pb::Snapshot {
            version,
            full: full && i == 0,
            upserts,
            removals: if i == last {
                removals.take().unwrap_or_default()
            } else {
                Vec::new()
            },
            more: i != last,
            store_id: store_id.clone(),
            data_planes,
            oauth: oauth.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(id: &str, padding: usize) -> pb::IntegrationSnapshot {
        pb::IntegrationSnapshot {
            tenant: "t".into(),
            integration_id: id.into(),
            description: "x".repeat(padding),
            ..Default::default()
        }
    }

    fn snapshot(id: &str) -> IntegrationSnapshot {
        IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "t".into(),
                integration_id: id.into(),
            },
            display_name: id.into(),
            description: String::new(),
            enabled: true,
            tools: Vec::new(),
            carried: mcpgw_shared::model::ToolsCarried::All,
            keys: Vec::new(),
            limits: mcpgw_shared::model::Limits::default(),
            config_id: None,
            revision: None,
            oauth: None,
            catalog: Default::default(),
        }
    }

    fn ids(s: &pb::Snapshot) -> (Vec<String>, Vec<String>) {
        let mut up: Vec<_> = s.upserts.iter().map(|u| u.integration_id.clone()).collect();
        let mut gone: Vec<_> = s
            .removals
            .iter()
            .map(|r| r.integration_id.clone())
            .collect();
        up.sort();
        gone.sort();
        (up, gone)
    }

    #[test]
    fn a_delta_carries_exactly_what_changed_since_its_version() {
        let p = Publisher::new(10, 10, (0..1000).map(|i| (snapshot(&format!("i{i}")), 10)));
        p.publish(11, snapshot("i1").key, Some(snapshot("i1")));
        p.publish(12, snapshot("i2").key, None);
        p.publish(13, snapshot("i1").key, Some(snapshot("i1")));
        p.publish(14, snapshot("new").key, Some(snapshot("new")));
        let delta = |since| ids(&p.delta_since(since).expect("servable"));
        assert_eq!(
            delta(10),
            (vec!["i1".into(), "new".into()], vec!["i2".into()])
        );
        assert_eq!(delta(12), (vec!["i1".into(), "new".into()], vec![]));
        assert_eq!(delta(13), (vec!["new".into()], vec![]));
        assert_eq!(delta(14), (vec![], vec![]));
        assert_eq!(p.delta_since(14).expect("servable").version, 14);
        assert!(p.delta_since(9).is_none(), "older than this process");
        assert!(p.delta_since(15).is_none(), "newer than anything published");
        assert_eq!(p.full().upserts.len(), 1000, "999 left plus the new one");
    }

    #[test]
    fn versions_are_announced_only_once_every_version_below_is_published() {
        let p = Publisher::new(10, 10, [(snapshot("a"), 10)]);
        let mut watch = p.subscribe();
        watch.borrow_and_update();
        // Write 12's flush finished before write 11's: nobody may see 12 without 11.
        p.publish(12, snapshot("b").key, Some(snapshot("b")));
        assert_eq!(p.version(), 10);
        assert!(!watch.has_changed().expect("open"));
        p.publish(11, snapshot("c").key, Some(snapshot("c")));
        assert_eq!(p.version(), 12);
        assert_eq!(*watch.borrow_and_update(), 12);
        assert_eq!(
            ids(&p.delta_since(10).expect("servable")).0,
            ["b".to_owned(), "c".to_owned()]
        );
    }

    #[test]
    fn chunks_large_snapshots_and_keeps_small_ones_whole() {
        let small = pb::Snapshot {
            version: 3,
            full: true,
            upserts: vec![integration("a", 10)],
            removals: vec![],
            more: false,
            store_id: "s".into(),
            data_planes: 0,
            oauth: None,
        };
        assert_eq!(chunk(small.clone(), 1000), vec![small]);

        let big = pb::Snapshot {
            version: 7,
            full: true,
            upserts: (0..5).map(|i| integration(&format!("i{i}"), 400)).collect(),
            removals: vec![pb::IntegrationKey {
                tenant: "t".into(),
                integration_id: "gone".into(),
            }],
            more: false,
            store_id: "s".into(),
            data_planes: 0,
            oauth: None,
        };
        let chunks = chunk(big, 1000);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].full && chunks[0].more);
        assert!(!chunks[1].full && chunks[1].more);
        assert!(!chunks[2].more && chunks[2].removals.len() == 1);
        assert!(chunks.iter().all(|c| c.version == 7 && c.store_id == "s"));
        assert_eq!(chunks.iter().map(|c| c.upserts.len()).sum::<usize>(), 5);
    }

    fn with_tools(id: &str, tools: &[(&str, &str)]) -> IntegrationSnapshot {
        let mut s = snapshot(id);
        s.tools = tools
            .iter()
            .map(|(t, d)| {
                serde_json::from_value(serde_json::json!({
                    "id": t, "description": d,
                    "inputSchema": {"type": "object"},
                    "http": {"method": "GET", "path": "/x"}
                }))
                .expect("tool")
            })
            .collect();
        s
    }

    fn carried(u: &pb::IntegrationSnapshot) -> (bool, Option<Vec<String>>, Vec<String>) {
        let tools = u
            .tools_json
            .iter()
            .map(|j| {
                let v: serde_json::Value = serde_json::from_str(j).expect("json");
                format!(
                    "{}={}",
                    v["id"].as_str().expect("id"),
                    v["description"].as_str().expect("d")
                )
            })
            .collect();
        (
            u.tools_partial,
            u.tool_ids_changed.then(|| u.tool_ids.clone()),
            tools,
        )
    }

    #[test]
    fn a_delta_carries_only_the_tools_changed_since_its_version() {
        let p = Publisher::new(10, 10, [(with_tools("a", &[("x", "1"), ("y", "1")]), 10)]);
        let delta = |since| {
            let d = p.delta_since(since).expect("servable");
            assert_eq!(d.upserts.len(), 1);
            carried(&d.upserts[0])
        };
        // A settings change re-sends no tool.
        let mut disabled = with_tools("a", &[("x", "1"), ("y", "1")]);
        disabled.enabled = false;
        p.publish(11, disabled.key.clone(), Some(disabled));
        assert_eq!(delta(10), (true, None, vec![]));
        assert!(!p.delta_since(10).expect("servable").upserts[0].enabled);
        // One tool edited: only it travels.
        p.publish(
            12,
            snapshot("a").key,
            Some(with_tools("a", &[("x", "1"), ("y", "2")])),
        );
        assert_eq!(delta(11), (true, None, vec!["y=2".to_owned()]));
        // A tool removed and one added: the new set, and only the new tool.
        p.publish(
            13,
            snapshot("a").key,
            Some(with_tools("a", &[("w", "1"), ("y", "2")])),
        );
        assert_eq!(
            delta(12),
            (
                true,
                Some(vec!["w".into(), "y".into()]),
                vec!["w=1".to_owned()]
            )
        );
        assert_eq!(
            delta(11),
            (
                true,
                Some(vec!["w".into(), "y".into()]),
                vec!["w=1".to_owned(), "y=2".to_owned()]
            )
        );
        // From before what this process knows of the integration: everything.
        assert!(p.delta_since(9).is_none());
        // Deleted and created again: a data plane from before the new one gets it whole.
        p.publish(14, snapshot("a").key, None);
        p.publish(15, snapshot("a").key, Some(with_tools("a", &[("w", "1")])));
        assert_eq!(delta(13), (false, None, vec!["w=1".to_owned()]));
        assert_eq!(delta(14), (false, None, vec!["w=1".to_owned()]));
        assert!(!p.full().upserts[0].tools_partial);
    }

    #[test]
    fn an_older_state_published_late_never_replaces_a_newer_one() {
        let p = Publisher::new(10, 10, [(with_tools("a", &[("x", "1")]), 10)]);
        // Write 12's flush finished first, then write 11's (both changed "a").
        p.publish(12, snapshot("a").key, Some(with_tools("a", &[("x", "3")])));
        p.publish(11, snapshot("a").key, Some(with_tools("a", &[("x", "2")])));
        assert_eq!(p.version(), 12);
        assert_eq!(carried(&p.full().upserts[0]).2, ["x=3".to_owned()]);
        assert_eq!(
            carried(&p.delta_since(10).expect("servable").upserts[0]).2,
            ["x=3".to_owned()]
        );
    }
}
