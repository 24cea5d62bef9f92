//! Soak: mixed MCP traffic while admins rotate keys, edit tools and change what is exposed.
//! Holds: no key is accepted once its revocation is served, no key opens another integration,
//! no response is unexpected, and memory stays flat.
//!
//! The test suite runs it for a few seconds; a real soak sets the duration:
//!
//! ```sh
//! MCPGW_SOAK_SECS=300 cargo test --release -p mcpgw-data-plane --test soak -- --nocapture
//! ```

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcpgw_control_plane::service::views::McpPatch;
use serde_json::json;
use support::{
    DpOptions, Gw, admin, bind_config, echo_tool, integration, modern, quiet_upstream, rss_kib,
};

const TENANTS: [&str; 2] = ["acme", "globex"];
const INTEGRATIONS: [&str; 2] = ["crm", "erp"];

/// A slot's keys: the current one with the version it became valid at, the revoked ones with
/// the version of their revocation, and whether a rotation is under way (its revocation may
/// be served before this record shows it).
#[derive(Clone, Default)]
struct Keys {
    current: (String, u64),
    revoked: Vec<(String, u64)>,
    rotating: bool,
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    ok: AtomicU64,
    refused: AtomicU64,
    wrong_key_accepted: AtomicU64,
    unexpected: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Tally {
    fn unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().expect("lock");
        if s.len() < 10 {
            s.push(what);
        }
    }
}

fn slot_name(slot: usize) -> (&'static str, &'static str) {
    (TENANTS[slot / 2], INTEGRATIONS[slot % 2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_leak_under_churn_and_memory_stays_flat() {
    let secs: u64 = std::env::var("MCPGW_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let gw = Arc::new(Gw::start_with(DpOptions::default()).await);
    let base = quiet_upstream(Arc::new(|_| {
        (
            200,
            vec![("content-type".into(), "application/json".into())],
            b"{\"ok\":true}".to_vec(),
        )
    }))
    .await;
    let mut slots = Vec::new();
    for slot in 0..4 {
        let (t, i) = slot_name(slot);
        let key = integration(&gw, t, i, &[echo_tool("echo"), echo_tool("extra")]).await;
        bind_config(&gw, t, i, &base, json!({"type": "NONE"})).await;
        let version = gw.service().publisher().version();
        slots.push(Keys {
            current: (key, version),
            revoked: Vec::new(),
            rotating: false,
        });
    }
    let keys = Arc::new(Mutex::new(slots));
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let warmed = Instant::now() + Duration::from_secs(secs.min(10) / 3);
    let rss_after_warmup = Arc::new(AtomicU64::new(0));

    // Admins: rotate keys, edit tools, narrow and widen what is exposed.
    let admin_task = {
        let (gw, keys) = (gw.clone(), keys.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let slot = (n % 4) as usize;
                let (t, i) = slot_name(slot);
                let s = gw.service();
                match n % 3 {
                    0 => {
                        keys.lock().expect("lock")[slot].rotating = true;
                        let v = s.rotate_key(&admin(), t, i).await.expect("rotate");
                        let version = s.publisher().version();
                        let mut k = keys.lock().expect("lock");
                        let old = std::mem::replace(
                            &mut k[slot].current,
                            (v.api_key.expect("key").expose().to_owned(), version),
                        );
                        k[slot].revoked.push((old.0, version));
                        k[slot].rotating = false;
                    }
                    1 => {
                        let mut tool = echo_tool("echo");
                        tool["description"] = json!(format!("edit {n}"));
                        s.put_tool(&admin(), t, i, "echo", tool)
                            .await
                            .expect("edit");
                    }
                    _ => {
                        let exposed = if n.is_multiple_of(2) {
                            Some(vec!["echo".to_owned()])
                        } else {
                            Some(vec!["echo".to_owned(), "extra".to_owned()])
                        };
                        s.update_mcp_settings(
                            &admin(),
                            t,
                            i,
                            McpPatch {
                                exposed_tool_ids: exposed,
                                ..McpPatch::default()
                            },
                        )
                        .await
                        .expect("expose");
                    }
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (gw, keys, tally, rss) = (gw.clone(), keys.clone(), tally.clone(), rss_after_warmup.clone());
            tokio::spawn(async move {
                let mut n = c as u64;
                while Instant::now() < deadline {
                    if c == 0 && rss.load(Ordering::Relaxed) == 0 && Instant::now() >= warmed {
                        rss.store(rss_kib(), Ordering::Relaxed);
                    }
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let slot = (n >> 33) as usize % 4;
                    // Mostly at the key's own integration, sometimes at another one.
                    let target = if (n >> 44) % 10 < 7 { slot } else { ((n >> 40) as usize) % 4 };
                    let (t, i) = slot_name(target);
                    let k = keys.lock().expect("lock")[slot].clone();
                    // Mostly the slot's current key, sometimes a revoked one.
                    let (key, revoked_at) = match (n >> 50) % 8 {
                        0 if !k.revoked.is_empty() => {
                            let (key, v) = &k.revoked[(n as usize >> 8) % k.revoked.len()];
                            (key.clone(), Some(*v))
                        }
                        _ => (k.current.0.clone(), None),
                    };
                    let served_before = gw.dp.store.version();
                    let endpoint = if (n >> 20).is_multiple_of(4) { "mcp:call" } else { "mcp:test" };
                    let url = gw.url(t, i, endpoint);
                    let r = match (n >> 24) % 3 {
                        0 => modern(&url, &key, 1, "tools/list", json!({})).await,
                        1 => modern(&url, &key, 2, "tools/call", json!({"name": "echo", "arguments": {"x": 1}})).await,
                        _ => modern(&url, &key, 3, "server/discover", json!({})).await,
                    };
                    tally.calls.fetch_add(1, Ordering::Relaxed);
                    let own = slot == target;
                    let revoked_is_served = revoked_at.is_some_and(|v| served_before >= v);
                    let current_is_served = served_before >= k.current.1;
                    match r.status {
                        200 => {
                            tally.ok.fetch_add(1, Ordering::Relaxed);
                            if !own || revoked_is_served {
                                tally.wrong_key_accepted.fetch_add(1, Ordering::Relaxed);
                                tally.unexpected(format!("accepted: own={own} revoked_at={revoked_at:?} served={served_before} {url}"));
                            } else if r.json().get("error").is_some() {
                                tally.unexpected(format!("JSON-RPC error: {}", r.text));
                            }
                        }
                        // A revoked key, a key rotated after it was read, or one not yet served.
                        401 if revoked_at.is_some() || !current_is_served || !own => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        401 => {
                            // The current key was served before the request, yet refused: only
                            // legitimate if a rotation was under way or has happened since.
                            let now = keys.lock().expect("lock")[slot].clone();
                            if now.current.0 == key && !now.rotating && !k.rotating {
                                tally.unexpected(format!("current key refused at {url}"));
                            } else {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        403 if !own => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        other => tally.unexpected(format!("{other} at {url}: {}", r.text)),
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    admin_task.await.expect("admin");
    let end_rss = rss_kib();
    let start_rss = rss_after_warmup.load(Ordering::Relaxed);
    let calls = tally.calls.load(Ordering::Relaxed);
    println!(
        "soak: {secs} s, {calls} calls ({:.0}/s), {} ok, {} refused as expected, {} wrong-key acceptances, {} unexpected; RSS {} KiB after warm-up, {} KiB at the end",
        calls as f64 / secs as f64,
        tally.ok.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.wrong_key_accepted.load(Ordering::Relaxed),
        tally.unexpected.load(Ordering::Relaxed),
        start_rss,
        end_rss,
    );
    let samples = tally.samples.lock().expect("lock").clone();
    assert_eq!(
        tally.wrong_key_accepted.load(Ordering::Relaxed),
        0,
        "{samples:#?}"
    );
    assert_eq!(tally.unexpected.load(Ordering::Relaxed), 0, "{samples:#?}");
    assert!(tally.ok.load(Ordering::Relaxed) > 0 && tally.refused.load(Ordering::Relaxed) > 0);
    assert!(
        end_rss.saturating_sub(start_rss) < 64 * 1024,
        "memory grew from {start_rss} to {end_rss} KiB"
    );
}
