//! Property: an admin JWT reads and changes its own tenants only. Over generated
//! (token tenants, target tenant, operation) combinations against one real control plane: a
//! covered tenant is served, any other gets 403 and is left exactly as it was.

mod support;

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::json;
use support::{Api, Cp, seed_integration, token, tool_body};

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

struct World {
    rt: tokio::runtime::Runtime,
    cp: Cp,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let cp = rt.block_on(async {
            let cp = Cp::start().await;
            let api = Api {
                base: &cp.base,
                token: token(&["*"]),
            };
            for t in TENANTS {
                seed_integration(&api, t, "crm").await;
            }
            cp
        });
        World { rt, cp }
    })
}

#[derive(Debug, Clone, Copy)]
enum Op {
    List,
    Get,
    Patch,
    PutTool,
    GetMcp,
    PatchMcp,
    CreateConfig,
    Audit,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_token_reaches_its_own_tenants_only(
        covered in prop::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        wildcard in prop::bool::weighted(0.15),
        target in 0usize..3,
        op in prop_oneof![
            Just(Op::List), Just(Op::Get), Just(Op::Patch), Just(Op::PutTool),
            Just(Op::GetMcp), Just(Op::PatchMcp), Just(Op::CreateConfig), Just(Op::Audit),
        ],
        marker in prop::string::string_regex("[a-z]{8}").expect("regex"),
    ) {
        let w = world();
        let tenants: Vec<&str> = if wildcard {
            vec!["*"]
        } else {
            covered.iter().map(|i| TENANTS[*i]).collect()
        };
        let allowed = wildcard || covered.contains(&target);
        let tenant = TENANTS[target];
        let base = format!("/v1/tenants/{tenant}/integrations");
        let (status, leaked) = w.rt.block_on(async {
            let api = Api { base: &w.cp.base, token: token(&tenants) };
            let r = match op {
                Op::List => api.get(&base).await,
                Op::Get => api.get(&format!("{base}/crm")).await,
                Op::Patch => api.patch(&format!("{base}/crm"), json!({"description": marker})).await,
                Op::PutTool => api.put(&format!("{base}/crm/tools/{marker}"), tool_body(&marker)).await,
                Op::GetMcp => api.get(&format!("{base}/crm/mcp")).await,
                Op::PatchMcp => api.patch(&format!("{base}/crm/mcp"), json!({"description": marker})).await,
                Op::CreateConfig => api.post(&format!("{base}/crm/configs"), json!({"displayName": marker, "parameters": {"baseUrl": "https://api.example.com"}})).await,
                Op::Audit => api.get(&format!("/v1/tenants/{tenant}/audit")).await,
            };
            // Whatever the answer, a forbidden caller must have left no trace.
            let all = Api { base: &w.cp.base, token: token(&["*"]) };
            let mut seen = String::new();
            for path in [format!("{base}/crm"), format!("{base}/crm/tools"), format!("{base}/crm/mcp"), format!("{base}/crm/configs")] {
                seen.push_str(&all.get(&path).await.text);
            }
            (r.status, seen.contains(&marker))
        });
        if allowed {
            prop_assert!((200..300).contains(&status), "{op:?} on {tenant} with {tenants:?}: {status}");
        } else {
            prop_assert_eq!(status, 403, "{:?} on {} with {:?}", op, tenant, tenants);
            prop_assert!(!leaked, "a forbidden {:?} changed {}", op, tenant);
        }
    }
}
