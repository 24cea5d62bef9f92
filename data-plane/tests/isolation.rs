//! Property: an API key opens its own integration and nothing else. Over generated
//! (key, tenant, integration, endpoint) combinations against one real control plane and data
//! plane: the owner gets in, another integration's valid key gets 403 (a disabled integration
//! included), a damaged, revoked or unknown key gets 401, and a valid key at an integration
//! that does not exist gets 404 — never a success.

mod support;

use std::sync::OnceLock;

use mcpgw_control_plane::service::views::NewIntegration;
use proptest::prelude::*;
use serde_json::json;
use support::{Gw, admin, echo_tool, integration, request, rpc};

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const INTEGRATIONS: [&str; 2] = ["crm", "erp"];

struct World {
    rt: tokio::runtime::Runtime,
    gw: Gw,
    /// (tenant, integration, key) of every live key.
    keys: Vec<(usize, usize, String)>,
    /// Keys rotated out (revoked).
    revoked: Vec<String>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (gw, keys, revoked) = rt.block_on(async {
            let gw = Gw::start().await;
            let mut keys = Vec::new();
            let mut revoked = Vec::new();
            for (t, tenant) in TENANTS.iter().enumerate() {
                for (i, id) in INTEGRATIONS.iter().enumerate() {
                    let first = integration(&gw, tenant, id, &[echo_tool("echo")]).await;
                    if i == 0 {
                        // Rotated once: the first key is revoked for good.
                        let v = gw
                            .service()
                            .rotate_key(&admin(), tenant, id)
                            .await
                            .expect("rotate");
                        revoked.push(first);
                        keys.push((t, i, v.api_key.expect("key").expose().to_owned()));
                    } else {
                        keys.push((t, i, first));
                    }
                }
            }
            // An integration that exists but whose MCP was never enabled has no key at all.
            gw.service()
                .create_integration(
                    &admin(),
                    "acme",
                    NewIntegration {
                        id: "dormant".into(),
                        display_name: None,
                        description: None,
                        catalog: None,
                    },
                )
                .await
                .expect("dormant");
            gw.synced().await;
            (gw, keys, revoked)
        });
        World {
            rt,
            gw,
            keys,
            revoked,
        }
    })
}

#[derive(Debug, Clone)]
enum Presented {
    Live(usize),
    Revoked(usize),
    Damaged(usize, usize),
    Garbage(String),
}

fn presented() -> impl Strategy<Value = Presented> {
    prop_oneof![
        4 => (0usize..6).prop_map(Presented::Live),
        1 => (0usize..3).prop_map(Presented::Revoked),
        1 => (0usize..6, 0usize..80).prop_map(|(k, at)| Presented::Damaged(k, at)),
        1 => "[ -~]{0,60}".prop_map(Presented::Garbage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_key_opens_its_own_integration_only(
        key in presented(),
        tenant in 0usize..3,
        target in 0usize..4,
        endpoint in prop_oneof![Just("mcp:call"), Just("mcp:test")],
        via_header in any::<bool>(),
    ) {
        let w = world();
        let target_id = match target {
            0 | 1 => INTEGRATIONS[target],
            2 => "dormant",
            _ => "missing",
        };
        let (raw, owner) = match &key {
            Presented::Live(k) => (w.keys[*k].2.clone(), Some((w.keys[*k].0, w.keys[*k].1))),
            Presented::Revoked(k) => (w.revoked[*k].clone(), None),
            Presented::Damaged(k, at) => {
                let mut bytes = w.keys[*k].2.clone().into_bytes();
                let at = at % bytes.len();
                bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                (String::from_utf8_lossy(&bytes).into_owned(), None)
            }
            Presented::Garbage(g) => (g.clone(), None),
        };
        let url = w.gw.url(TENANTS[tenant], target_id, endpoint);
        let status = w.rt.block_on(async {
            let body = request(1, "tools/list", json!({}));
            let r = if via_header {
                support::send("POST", &url, &[("x-api-key", raw.as_str()), ("content-type", "application/json")], Some(body.to_string())).await
            } else {
                rpc(&url, &raw, &[], &body).await
            };
            r.status
        });
        // The key is judged before the path: an invalid key never learns whether the
        // integration exists.
        let expected = match owner {
            None => 401,
            Some(_) if target == 3 || (target == 2 && tenant != 0) => 404,
            Some((t, i)) if t == tenant && i == target => 200,
            Some(_) => 403,
        };
        prop_assert_eq!(status, expected, "key {:?} at {}", key, url);
    }
}
