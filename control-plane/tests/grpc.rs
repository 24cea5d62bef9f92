//! The same operations through gRPC, its auth failure modes, and the snapshot stream.

mod support;

use std::time::Duration;

use mcpgw_shared::model::SnapshotUpdate;
use mcpgw_shared::{apikey, pb};
use pb::config_service_client::ConfigServiceClient;
use pb::integration_service_client::IntegrationServiceClient;
use pb::mcp_settings_service_client::McpSettingsServiceClient;
use pb::snapshot_service_client::SnapshotServiceClient;
use pb::tool_service_client::ToolServiceClient;
use support::{Cp, DP_TOKEN, token};
use tonic::{Code, Request};

fn authed<T>(msg: T, bearer: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {bearer}").parse().expect("metadata"),
    );
    r
}

fn iref(integration: &str) -> pb::IntegrationRef {
    pb::IntegrationRef {
        tenant: "acme".into(),
        integration: integration.into(),
    }
}

async fn seed(cp: &Cp, tok: &str) {
    let mut ints = IntegrationServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    ints.create_integration(authed(
        pb::CreateIntegrationRequest {
            tenant: "acme".into(),
            id: "crm".into(),
            display_name: "CRM".into(),
            description: String::new(),
            auto_publish: None,
        },
        tok,
    ))
    .await
    .expect("create");
    let mut tools = ToolServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    for id in ["a", "b"] {
        tools
            .put_tool(authed(
                pb::PutToolRequest {
                    tenant: "acme".into(),
                    integration: "crm".into(),
                    tool_id: id.into(),
                    json: support::tool_body(id).to_string(),
                },
                tok,
            ))
            .await
            .expect("put tool");
    }
}

#[tokio::test]
async fn settings_rules_over_grpc() {
    let cp = Cp::start().await;
    let tok = token(&["acme"]);
    seed(&cp, &tok).await;
    let mut mcp = McpSettingsServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");

    let s = mcp
        .get_mcp_settings(authed(iref("crm"), &tok))
        .await
        .expect("get")
        .into_inner();
    assert!(!s.enabled);
    assert_eq!(s.api_key, None);
    assert_eq!(s.exposed_tool_ids, None);
    assert_eq!(
        s.call_url,
        format!(
            "{}/v1/tenants/acme/integrations/crm/mcp:call",
            support::PUBLIC_MCP_URL
        )
    );

    let patch = |p: pb::UpdateMcpSettingsRequest| authed(p, &tok);
    let base = pb::UpdateMcpSettingsRequest {
        tenant: "acme".into(),
        integration: "crm".into(),
        ..Default::default()
    };
    let s = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            enabled: Some(true),
            ..base.clone()
        }))
        .await
        .expect("enable")
        .into_inner();
    let raw = s.api_key.clone().expect("minted on first enable");
    assert_eq!(s.key_prefix, apikey::parse(&raw).expect("format"));
    let again = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            enabled: Some(true),
            ..base.clone()
        }))
        .await
        .expect("re-enable")
        .into_inner();
    assert_eq!(again.api_key, None);
    assert_eq!(again.api_key_id, s.api_key_id);
    let off = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            enabled: Some(false),
            ..base.clone()
        }))
        .await
        .expect("disable")
        .into_inner();
    assert!(!off.enabled);
    assert_eq!(off.api_key_id, s.api_key_id);

    let err = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            exposed_tool_ids: Some(pb::ToolIdList {
                ids: vec!["zzz".into()],
            }),
            ..base.clone()
        }))
        .await
        .expect_err("unknown tool");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("exposedToolIds"),
        "{}",
        err.message()
    );
    let s2 = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            exposed_tool_ids: Some(pb::ToolIdList {
                ids: vec!["a".into()],
            }),
            ..base.clone()
        }))
        .await
        .expect("expose")
        .into_inner();
    assert_eq!(
        s2.exposed_tool_ids,
        Some(pb::ToolIdList {
            ids: vec!["a".into()]
        })
    );

    let err = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            config_id: Some(uuid::Uuid::now_v7().to_string()),
            ..base.clone()
        }))
        .await
        .expect_err("unknown config");
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut configs = ConfigServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let cfg = configs
        .create_config(authed(
            pb::CreateConfigRequest {
                tenant: "acme".into(),
                integration: "crm".into(),
                json: r#"{"parameters":{"baseUrl":"https://x.example"}}"#.into(),
            },
            &tok,
        ))
        .await
        .expect("config")
        .into_inner();
    let bound = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            config_id: Some(cfg.id.clone()),
            ..base.clone()
        }))
        .await
        .expect("bind")
        .into_inner();
    assert_eq!(bound.config_id, cfg.id);
    let cleared = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            config_id: Some(mcpgw_shared::NIL_UUID.to_string()),
            ..base.clone()
        }))
        .await
        .expect("clear")
        .into_inner();
    assert_eq!(cleared.config_id, mcpgw_shared::NIL_UUID.to_string());
    let rev = configs
        .publish_config(authed(
            pb::PublishConfigRequest {
                tenant: "acme".into(),
                integration: "crm".into(),
                config_id: cfg.id.clone(),
                note: None,
            },
            &tok,
        ))
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(rev.version, 1);

    let limited = mcp
        .update_mcp_settings(patch(pb::UpdateMcpSettingsRequest {
            limits: Some(pb::Limits {
                requests_per_second: Some(3.0),
                burst: None,
                max_concurrent_calls: Some(2),
            }),
            ..base.clone()
        }))
        .await
        .expect("limits")
        .into_inner();
    assert_eq!(
        limited.limits,
        Some(pb::Limits {
            requests_per_second: Some(3.0),
            burst: None,
            max_concurrent_calls: Some(2)
        })
    );

    let rotated = mcp
        .rotate_key(authed(iref("crm"), &tok))
        .await
        .expect("rotate")
        .into_inner();
    let new_raw = rotated.api_key.expect("new key once");
    assert_ne!(new_raw, raw);
    assert_ne!(rotated.api_key_id, s.api_key_id);
    let full = cp.running().service.publisher().full();
    assert_eq!(full.upserts[0].keys.len(), 1);
    assert_eq!(
        full.upserts[0].keys[0].hash,
        apikey::hash(&new_raw).to_vec()
    );

    let err = mcp
        .get_mcp_settings(authed(iref("missing"), &tok))
        .await
        .expect_err("404");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn grpc_auth_failure_modes() {
    let cp = Cp::start().await;
    let mut ints = IntegrationServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let req = || pb::ListIntegrationsRequest {
        tenant: "acme".into(),
    };
    let err = ints
        .list_integrations(Request::new(req()))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let expired = support::token_with(
        &["acme"],
        mcpgw_control_plane::jwt::now_secs() - 3600,
        support::JWT_SECRET,
    );
    assert_eq!(
        ints.list_integrations(authed(req(), &expired))
            .await
            .expect_err("expired")
            .code(),
        Code::Unauthenticated
    );
    let forged = support::token_with(
        &["acme"],
        mcpgw_control_plane::jwt::now_secs() + 60,
        "forged",
    );
    assert_eq!(
        ints.list_integrations(authed(req(), &forged))
            .await
            .expect_err("forged")
            .code(),
        Code::Unauthenticated
    );
    let err = ints
        .list_integrations(authed(req(), &token(&["other"])))
        .await
        .expect_err("other tenant");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        ints.list_integrations(authed(req(), &token(&["acme"])))
            .await
            .is_ok()
    );
    // Admin tokens do not open the snapshot stream, and the data-plane token is checked.
    let mut snaps = SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let err = snaps
        .watch(authed(pb::WatchRequest::default(), &token(&["*"])))
        .await
        .expect_err("jwt is not the dp token");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        snaps
            .watch(Request::new(pb::WatchRequest::default()))
            .await
            .expect_err("none")
            .code(),
        Code::Unauthenticated
    );
}

/// A snapshot stream opened with the data-plane token.
async fn watch(
    snaps: &mut SnapshotServiceClient<tonic::transport::Channel>,
    request: pb::WatchRequest,
) -> tonic::Streaming<pb::Snapshot> {
    snaps
        .watch(authed(request, DP_TOKEN))
        .await
        .expect("watch")
        .into_inner()
}

async fn next(s: &mut tonic::Streaming<pb::Snapshot>) -> pb::Snapshot {
    tokio::time::timeout(Duration::from_secs(5), s.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("message")
}

#[tokio::test]
async fn snapshot_stream_sends_full_then_changes_and_resumes() {
    let cp = Cp::start().await;
    let tok = token(&["acme"]);
    seed(&cp, &tok).await;
    let mut snaps = SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let mut stream = watch(
        &mut snaps,
        pb::WatchRequest {
            resume_from_version: 0,
            data_plane_id: "test".into(),
            ..Default::default()
        },
    )
    .await;
    let first = next(&mut stream).await;
    assert!(first.full);
    assert_eq!(first.upserts.len(), 1);
    let first_domain = SnapshotUpdate::try_from(first.clone()).expect("valid snapshot");
    assert_eq!(first_domain.upserts[0].tools.len(), 2);
    assert!(!first_domain.upserts[0].enabled);

    // A change arrives as a delta at a higher version.
    let mut mcp = McpSettingsServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    mcp.update_mcp_settings(authed(
        pb::UpdateMcpSettingsRequest {
            tenant: "acme".into(),
            integration: "crm".into(),
            enabled: Some(true),
            ..Default::default()
        },
        &tok,
    ))
    .await
    .expect("enable");
    let delta = next(&mut stream).await;
    assert!(!delta.full);
    assert!(delta.version > first.version);
    let d = SnapshotUpdate::try_from(delta.clone()).expect("valid");
    assert!(d.upserts[0].enabled);
    assert_eq!(d.upserts[0].keys.len(), 1);

    // Deletion arrives as a removal.
    let mut ints = IntegrationServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    ints.delete_integration(authed(iref("crm"), &tok))
        .await
        .expect("delete");
    let removal = next(&mut stream).await;
    assert!(removal.version > delta.version);
    assert_eq!(
        removal.removals,
        vec![pb::IntegrationKey {
            tenant: "acme".into(),
            integration_id: "crm".into()
        }]
    );

    // A second watcher resuming from the first delta's version gets only what changed since.
    let mut resumed = watch(
        &mut snaps,
        pb::WatchRequest {
            resume_from_version: delta.version,
            data_plane_id: "r".into(),
            ..Default::default()
        },
    )
    .await;
    let first_resumed = next(&mut resumed).await;
    assert!(!first_resumed.full);
    assert_eq!(first_resumed.version, removal.version);
    assert_eq!(first_resumed.removals.len(), 1);
    assert!(first_resumed.upserts.is_empty());
    // Every message names the store its version belongs to; resuming with that store's id
    // gets the delta, with another store's id (a data plane coming from a control plane on
    // another store) a full snapshot.
    let store_id = first_resumed.store_id.clone();
    assert_eq!(store_id.len(), 36, "a UUID: {store_id}");
    for (resume_store_id, full) in [
        (store_id.clone(), false),
        ("another-store".to_owned(), true),
    ] {
        let mut stream = watch(
            &mut snaps,
            pb::WatchRequest {
                resume_from_version: delta.version,
                data_plane_id: "s".into(),
                resume_store_id,
                ..Default::default()
            },
        )
        .await;
        let first = next(&mut stream).await;
        assert_eq!(first.full, full);
        assert_eq!(first.store_id, store_id);
    }
    // Resuming from a version the server cannot serve (the future) falls back to full.
    let mut future = watch(
        &mut snaps,
        pb::WatchRequest {
            resume_from_version: 9_999,
            data_plane_id: "f".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(next(&mut future).await.full);
}

/// A snapshot stream from version 0 that accepts messages of up to 64 MiB.
async fn watch_large(cp: &Cp, id: &str) -> tonic::Streaming<pb::Snapshot> {
    SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect")
        .max_decoding_message_size(64 * 1024 * 1024)
        .watch(authed(
            pb::WatchRequest {
                data_plane_id: id.into(),
                ..Default::default()
            },
            DP_TOKEN,
        ))
        .await
        .expect("watch")
        .into_inner()
}

#[tokio::test]
async fn large_snapshots_are_split_into_chunks_of_one_version() {
    let cp = Cp::start().await;
    let svc = &cp.running().service;
    let admin = mcpgw_control_plane::jwt::Caller::system("test");
    // Two integrations of ~2.4 MiB of tools each: together over the 4 MiB chunk size.
    for integration in ["big_a", "big_b"] {
        svc.create_integration(
            &admin,
            "acme",
            serde_json::from_value(serde_json::json!({"id": integration})).expect("new"),
        )
        .await
        .expect("create");
        for i in 0..12 {
            let mut tool = support::tool_body(&format!("t{i}"));
            tool["description"] = serde_json::json!("d".repeat(200 * 1024));
            svc.put_tool(&admin, "acme", integration, &format!("t{i}"), tool)
                .await
                .expect("tool");
        }
    }
    let mut stream = watch_large(&cp, "chunks").await;
    let first = next(&mut stream).await;
    assert!(
        first.full && first.more,
        "a full snapshot over 4 MiB starts a chunked series"
    );
    assert!(prost::Message::encoded_len(&first) <= 4 * 1024 * 1024 + 64 * 1024);
    let mut upserts = first.upserts.len();
    loop {
        let chunk = next(&mut stream).await;
        assert_eq!(
            chunk.version, first.version,
            "every chunk carries the same version"
        );
        assert!(!chunk.full, "only the first chunk replaces everything");
        upserts += chunk.upserts.len();
        if !chunk.more {
            break;
        }
    }
    assert_eq!(upserts, 2);
}

#[tokio::test]
async fn a_watch_for_some_tenants_carries_only_theirs_and_bad_selections_are_refused() {
    let cp = Cp::start().await;
    let tok = token(&["acme"]);
    seed(&cp, &tok).await;
    let mut snaps = SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let watch = |tenants: Vec<String>, shard_index, shard_count| {
        authed(
            pb::WatchRequest {
                data_plane_id: "shard".into(),
                tenants,
                shard_index,
                shard_count,
                ..Default::default()
            },
            DP_TOKEN,
        )
    };
    let mut other = snaps
        .watch(watch(vec!["globex".into()], 0, 0))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut other).await;
    assert!(first.full && first.upserts.is_empty(), "{first:?}");
    let mut mine = snaps
        .watch(watch(vec!["acme".into()], 0, 0))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut mine).await;
    assert!(!first.upserts.is_empty());
    assert!(first.upserts.iter().all(|u| u.tenant == "acme"));
    for (tenants, k, n) in [
        (vec!["acme".to_owned()], 0, 2),
        (Vec::new(), 2, 2),
        (vec!["not an id".to_owned()], 0, 0),
    ] {
        let refused = snaps
            .watch(watch(tenants, k, n))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
}

#[tokio::test]
async fn after_a_restart_data_planes_resume_with_a_delta_unless_a_deletion_came_between() {
    use mcpgw_control_plane::jwt::Caller;
    use mcpgw_control_plane::service::views::{McpPatch, NewIntegration};
    let admin = Caller::system("tests");
    let mut cp = Cp::start().await;
    let service = cp.running().service.clone();
    for id in ["one", "two", "three"] {
        let new = NewIntegration {
            id: id.into(),
            display_name: None,
            description: None,
            catalog: None,
        };
        service
            .create_integration(&admin, "acme", new)
            .await
            .expect("create");
    }
    let before = service.publisher().version();
    let patch = McpPatch {
        description: Some("changed".into()),
        ..McpPatch::default()
    };
    service
        .update_mcp_settings(&admin, "acme", "one", patch)
        .await
        .expect("change");
    drop(service);
    cp.restart().await;

    let resume = |from| {
        authed(
            pb::WatchRequest {
                resume_from_version: from,
                data_plane_id: "resuming".into(),
                ..Default::default()
            },
            DP_TOKEN,
        )
    };
    let mut snaps = SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let mut stream = snaps
        .watch(resume(before))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut stream).await;
    assert!(!first.full, "a delta across the restart: {first:?}");
    let ids: Vec<_> = first
        .upserts
        .iter()
        .map(|u| u.integration_id.as_str())
        .collect();
    assert_eq!(ids, ["one"]);
    assert_eq!(first.version, before + 1);

    // A deletion leaves nothing to resume from: behind it, a full snapshot after a restart;
    // from after it, a delta again.
    let service = cp.running().service.clone();
    service
        .delete_integration(&admin, "acme", "two")
        .await
        .expect("delete");
    let after = service.publisher().version();
    drop(service);
    cp.restart().await;
    let mut snaps = SnapshotServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let mut stream = snaps
        .watch(resume(before + 1))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut stream).await;
    assert!(first.full);
    assert_eq!(first.upserts.len(), 2);
    let mut stream = snaps
        .watch(resume(after))
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut stream).await;
    assert!(!first.full && first.upserts.is_empty() && first.removals.is_empty());
}

/// A change to one field, or to one tool, of a large integration travels as that change,
/// not as the whole integration.
#[tokio::test]
async fn a_small_change_to_a_large_integration_sends_only_what_changed() {
    let cp = Cp::start().await;
    let svc = &cp.running().service;
    let admin = mcpgw_control_plane::jwt::Caller::system("test");
    svc.create_integration(
        &admin,
        "acme",
        serde_json::from_value(serde_json::json!({"id": "big"})).expect("new"),
    )
    .await
    .expect("create");
    let big_tool = |i: usize, text: &str| {
        let mut tool = support::tool_body(&format!("t{i:02}"));
        tool["description"] = serde_json::json!(text.repeat(25 * 1024));
        tool
    };
    for i in 0..40 {
        svc.put_tool(&admin, "acme", "big", &format!("t{i:02}"), big_tool(i, "d"))
            .await
            .expect("tool");
    }
    let mut stream = watch_large(&cp, "partial").await;
    let full = next(&mut stream).await;
    let size = prost::Message::encoded_len(&full);
    assert!(size > 1_000_000, "{size}");

    // One field of the settings: no tool travels.
    svc.update_mcp_settings(
        &admin,
        "acme",
        "big",
        serde_json::from_value(serde_json::json!({"enabled": true})).expect("patch"),
    )
    .await
    .expect("enable");
    let delta = next(&mut stream).await;
    let size = prost::Message::encoded_len(&delta);
    let upsert = &delta.upserts[0];
    assert!(upsert.enabled && upsert.keys.len() == 1);
    assert!(upsert.tools_partial && upsert.tools_json.is_empty() && !upsert.tool_ids_changed);
    assert!(size < 2_000, "{size} bytes for one field");

    // One tool edited: that tool only.
    svc.put_tool(&admin, "acme", "big", "t07", big_tool(7, "e"))
        .await
        .expect("edit");
    let delta = next(&mut stream).await;
    let upsert = &delta.upserts[0];
    assert!(upsert.tools_partial && !upsert.tool_ids_changed);
    assert_eq!(upsert.tools_json.len(), 1);
    assert!(upsert.tools_json[0].contains("\"t07\"") && upsert.tools_json[0].contains("eee"));
    assert!(prost::Message::encoded_len(&delta) < 30 * 1024);

    // A narrower exposure: the new set of ids, no tool body.
    svc.update_mcp_settings(
        &admin,
        "acme",
        "big",
        serde_json::from_value(serde_json::json!({"exposedToolIds": ["t01", "t07"]}))
            .expect("patch"),
    )
    .await
    .expect("expose");
    let delta = next(&mut stream).await;
    let upsert = &delta.upserts[0];
    assert!(upsert.tools_partial && upsert.tool_ids_changed);
    assert_eq!(upsert.tool_ids, ["t01", "t07"]);
    assert!(upsert.tools_json.is_empty());
    // What a data plane makes of it.
    let d = SnapshotUpdate::try_from(delta.clone()).expect("valid");
    assert_eq!(
        d.upserts[0].carried,
        mcpgw_shared::model::ToolsCarried::Changed {
            ids: Some(vec!["t01".into(), "t07".into()])
        }
    );
}

#[tokio::test]
async fn oauth_grants_are_listed_and_revoked_over_grpc() {
    use mcpgw_control_plane::service::oauth::AuthorizeParams;
    let cp = Cp::start().await;
    let tok = token(&["acme"]);
    seed(&cp, &tok).await;
    let mut mcp = McpSettingsServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    let enabled = mcp
        .update_mcp_settings(authed(
            pb::UpdateMcpSettingsRequest {
                tenant: "acme".into(),
                integration: "crm".into(),
                enabled: Some(true),
                oauth_enabled: Some(true),
                ..Default::default()
            },
            &tok,
        ))
        .await
        .expect("enable")
        .into_inner();
    assert!(enabled.oauth_enabled);
    let key = enabled.api_key.expect("minted");

    // A person approves a client (the consent page's steps, on the service).
    let service = &cp.running().service;
    let redirect = "http://127.0.0.1:9/cb".to_owned();
    let (client_id, _) = service
        .register_client(Some("gRPC test"), std::slice::from_ref(&redirect))
        .expect("registered");
    let params = AuthorizeParams {
        response_type: "code".into(),
        client_id,
        redirect_uri: redirect,
        code_challenge: "a".repeat(43),
        code_challenge_method: "S256".into(),
        state: "s".into(),
        resource: format!(
            "{}/v1/tenants/acme/integrations/crm/mcp:call",
            support::PUBLIC_MCP_URL
        ),
        scope: None,
    };
    let consent = service
        .authorize(params.clone())
        .await
        .expect("valid request: the consent page");
    service
        .approve(params, &consent.csrf, true, &key)
        .await
        .expect("approved")
        .expect("redirect");

    let iref = pb::IntegrationRef {
        tenant: "acme".into(),
        integration: "crm".into(),
    };
    let grants = mcp
        .list_grants(authed(iref.clone(), &tok))
        .await
        .expect("list")
        .into_inner()
        .grants;
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_name, "gRPC test");
    assert_eq!(grants[0].key_id, enabled.api_key_id);
    // Another tenant's token sees nothing of it.
    let other = mcp
        .list_grants(authed(iref.clone(), &token(&["other"])))
        .await
        .expect_err("forbidden");
    assert_eq!(other.code(), Code::PermissionDenied);
    mcp.delete_grant(authed(
        pb::GrantRef {
            tenant: "acme".into(),
            integration: "crm".into(),
            grant_id: grants[0].id.clone(),
        },
        &tok,
    ))
    .await
    .expect("revoked");
    let left = mcp
        .list_grants(authed(iref, &tok))
        .await
        .expect("list")
        .into_inner()
        .grants;
    assert!(left.is_empty());
}
