//! The service's rules, called directly (the REST and gRPC tests check only how they map onto
//! each front door): the MCP settings rules of `docs/api.md`, the key lifecycle, publish and
//! rollback, and that a refused request changes nothing.

use std::sync::Arc;

use mcpgw_shared::model::{Auth, IntegrationSnapshot, Limits};
use serde_json::json;

use super::snapshots::build_integration;
use super::views::{ConfigPatch, McpPatch, NewConfig, NewIntegration, PublishRequest};
use super::{Quotas, Service, ServiceError};
use crate::jwt::Caller;
use crate::seal::Sealer;
use crate::store::{Store, StoreSettings};

const MASTER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const T: &str = "acme";
const I: &str = "crm";

struct Fixture {
    service: Arc<Service>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A service over a fresh store holding integration `acme/crm` with tools `a` and `b`.
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), StoreSettings::default()).expect("store");
        let sealer = Sealer::from_hex(MASTER_KEY).expect("sealer");
        let service = Arc::new(
            Service::new(
                store,
                sealer,
                "https://mcp.test",
                Quotas {
                    writes_per_second: 0,
                    ..Quotas::default()
                },
            )
            .expect("service"),
        );
        let f = Self { service, _dir: dir };
        f.service
            .create_integration(
                &admin(),
                T,
                NewIntegration {
                    id: I.into(),
                    display_name: Some("CRM".into()),
                    description: Some("d".into()),
                    catalog: None,
                },
            )
            .await
            .expect("integration");
        for tool in ["a", "b"] {
            let body = json!({
                "description": format!("tool {tool}"),
                "inputSchema": {"type": "object"},
                "http": {"method": "GET", "path": format!("/{tool}")}
            });
            f.service
                .put_tool(&admin(), T, I, tool, body)
                .await
                .expect("tool");
        }
        f
    }

    async fn patch(&self, patch: McpPatch) -> Result<super::views::McpSettingsView, ServiceError> {
        self.service
            .update_mcp_settings(&admin(), T, I, patch)
            .await
    }

    async fn enable(&self, enabled: bool) -> super::views::McpSettingsView {
        self.patch(McpPatch {
            enabled: Some(enabled),
            ..McpPatch::default()
        })
        .await
        .expect("patch")
    }

    /// What data planes would be sent for the integration now.
    fn snapshot(&self) -> IntegrationSnapshot {
        build_integration(&self.service.store, &self.service.sealer, T, I)
            .expect("build")
            .expect("exists")
    }

    fn version(&self) -> u64 {
        self.service.store.version().expect("version")
    }

    async fn config(&self, base_url: &str) -> String {
        let new: NewConfig = serde_json::from_value(json!({
            "parameters": {"baseUrl": base_url},
            "auth": {"type": "BEARER", "parameters": {"token": "s3cret"}}
        }))
        .expect("config");
        let c = self
            .service
            .create_config(&admin(), T, I, new)
            .await
            .expect("create");
        c.id.to_string()
    }
}

fn admin() -> Caller {
    Caller::system("tests")
}

#[tokio::test]
async fn the_first_enable_mints_one_key_and_nothing_else_does() {
    let f = Fixture::new().await;
    let first = f.enable(true).await;
    let raw = first.api_key.expect("minted on the first enable (rule 1)");
    let key_id = first.api_key_id.expect("bound");
    assert!(
        raw.expose()
            .contains(&first.key_prefix.clone().expect("prefix"))
    );
    assert_eq!(f.snapshot().keys.len(), 1);

    // Read back: never the secret again.
    let read = f.service.get_mcp_settings(&admin(), T, I).expect("get");
    assert!(read.api_key.is_none());

    // Disabling keeps the key bound and live (rule 3); enabling again mints nothing (rule 2).
    let disabled = f.enable(false).await;
    assert_eq!(disabled.api_key_id, Some(key_id));
    assert!(!f.snapshot().enabled);
    assert_eq!(f.snapshot().keys[0].key_id, key_id);
    let again = f.enable(true).await;
    assert!(again.api_key.is_none());
    assert_eq!(again.api_key_id, Some(key_id));
}

#[tokio::test]
async fn concurrent_first_enables_mint_exactly_one_key() {
    let f = Fixture::new().await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let service = f.service.clone();
            tokio::spawn(async move {
                service
                    .update_mcp_settings(
                        &admin(),
                        T,
                        I,
                        McpPatch {
                            enabled: Some(true),
                            ..McpPatch::default()
                        },
                    )
                    .await
                    .expect("patch")
            })
        })
        .collect();
    let mut minted = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let view = t.await.expect("task");
        minted += usize::from(view.api_key.is_some());
        ids.extend(view.api_key_id);
    }
    assert_eq!(minted, 1, "rule 8");
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn rotation_mints_a_new_key_and_revokes_the_old_one_for_good() {
    let f = Fixture::new().await;
    let old = f.enable(true).await.api_key_id.expect("bound");
    let rotated = f.service.rotate_key(&admin(), T, I).await.expect("rotate");
    let new = rotated.api_key_id.expect("bound");
    assert_ne!(old, new);
    assert!(
        rotated.api_key.is_some(),
        "the new secret is returned once (rule 4)"
    );
    let keys = f.snapshot().keys;
    assert_eq!(keys.len(), 1, "only the new key is live");
    assert_eq!(keys[0].key_id, new);
    // Disabling and enabling never brings the revoked key back.
    f.enable(false).await;
    assert_eq!(f.enable(true).await.api_key_id, Some(new));
}

#[tokio::test]
async fn a_refused_patch_changes_nothing() {
    let f = Fixture::new().await;
    f.enable(true).await;
    let foreign = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(&str, McpPatch, &str)> = vec![
        (
            "configId not a UUID",
            McpPatch {
                config_id: Some("nope".into()),
                ..McpPatch::default()
            },
            "configId",
        ),
        (
            "configId of no config of this integration (rule 5)",
            McpPatch {
                config_id: Some(foreign),
                ..McpPatch::default()
            },
            "configId",
        ),
        (
            "an unknown tool exposed (rule 6)",
            McpPatch {
                exposed_tool_ids: Some(vec!["a".into(), "zzz".into()]),
                ..McpPatch::default()
            },
            "exposedToolIds",
        ),
        (
            "a limit of zero (rule 9)",
            McpPatch {
                limits: Some(Limits {
                    burst: Some(0),
                    ..Limits::default()
                }),
                ..McpPatch::default()
            },
            "limits.burst",
        ),
        (
            "a description too long",
            McpPatch {
                description: Some("x".repeat(5000)),
                ..McpPatch::default()
            },
            "description",
        ),
    ];
    for (case, patch, field) in cases {
        let before = (f.version(), f.snapshot());
        match f.patch(patch).await {
            Err(ServiceError::Invalid(e)) => assert_eq!(e.field, field, "{case}"),
            other => panic!("{case}: {other:?}"),
        }
        assert_eq!(f.version(), before.0, "{case}: nothing committed");
        assert_eq!(f.snapshot(), before.1, "{case}: nothing changed");
    }
}

#[tokio::test]
async fn exposure_config_binding_and_limits_follow_their_rules() {
    let f = Fixture::new().await;
    f.enable(true).await;
    // Rule 6: never set = every tool; a list = exactly those; a deleted tool drops out.
    assert_eq!(f.snapshot().tools.len(), 2);
    f.patch(McpPatch {
        exposed_tool_ids: Some(vec!["b".into()]),
        ..McpPatch::default()
    })
    .await
    .expect("expose");
    let ids: Vec<_> = f.snapshot().tools.into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["b"]);
    f.service
        .delete_tool(&admin(), T, I, "b")
        .await
        .expect("delete");
    assert!(f.snapshot().tools.is_empty());

    // Rule 5: a config of this integration binds; the nil UUID clears.
    let config = f.config("https://api.example.com").await;
    let bound = f
        .patch(McpPatch {
            config_id: Some(config.clone()),
            ..McpPatch::default()
        })
        .await
        .expect("bind");
    assert_eq!(bound.config_id.to_string(), config);
    let cleared = f
        .patch(McpPatch {
            config_id: Some(uuid::Uuid::nil().to_string()),
            ..McpPatch::default()
        })
        .await
        .expect("clear");
    assert!(cleared.config_id.is_nil());
    assert_eq!(f.snapshot().config_id, None);

    // Rule 9: limits are patched field by field.
    let patch = |limits| McpPatch {
        limits: Some(limits),
        ..McpPatch::default()
    };
    f.patch(patch(Limits {
        burst: Some(7),
        ..Limits::default()
    }))
    .await
    .expect("burst");
    let both = f
        .patch(patch(Limits {
            requests_per_second: Some(2.5),
            ..Limits::default()
        }))
        .await
        .expect("rate");
    assert_eq!(both.limits.burst, Some(7));
    assert_eq!(both.limits.requests_per_second, Some(2.5));
    assert_eq!(f.snapshot().limits, both.limits);
}

#[tokio::test]
async fn publish_and_rollback_switch_what_data_planes_call() {
    let f = Fixture::new().await;
    let config = f.config("https://v1.example.com").await;
    f.patch(McpPatch {
        config_id: Some(config.clone()),
        ..McpPatch::default()
    })
    .await
    .expect("bind");
    assert!(f.snapshot().revision.is_none(), "nothing published yet");
    let publish = || async {
        f.service
            .publish_config(&admin(), T, I, &config, PublishRequest { note: None })
            .await
            .expect("publish")
    };
    let v1 = publish().await;
    let patch: ConfigPatch =
        serde_json::from_value(json!({"parameters": {"baseUrl": "https://v2.example.com"}}))
            .expect("patch");
    f.service
        .update_config(&admin(), T, I, &config, patch)
        .await
        .expect("edit draft");
    let live = f.snapshot().revision.expect("published");
    assert_eq!(live.revision_id, v1.id, "a draft edit changes nothing live");
    let v2 = publish().await;
    assert_eq!(v2.version, v1.version + 1);
    let live = f.snapshot().revision.expect("published");
    assert_eq!(live.parameters.base_url, "https://v2.example.com");

    f.service
        .rollback_config(&admin(), T, I, &config, &v1.id.to_string())
        .await
        .expect("rollback");
    let live = f.snapshot().revision.expect("published");
    assert_eq!(live.revision_id, v1.id);
    assert_eq!(live.parameters.base_url, "https://v1.example.com");
    let Auth::Bearer { token } = &live.auth else {
        panic!("bearer auth: {}", live.auth.type_name());
    };
    assert_eq!(
        token.expose(),
        "s3cret",
        "data planes get the credentials opened"
    );

    let before = f.version();
    let unknown = uuid::Uuid::now_v7().to_string();
    let refused = f
        .service
        .rollback_config(&admin(), T, I, &config, &unknown)
        .await;
    assert!(
        matches!(refused, Err(ServiceError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(f.version(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_flushes_and_every_acknowledged_one_is_durable() {
    let f = Fixture::new().await;
    let base = f.version();
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let service = f.service.clone();
            tokio::spawn(async move {
                let body = json!({
                    "description": format!("tool {i}"),
                    "inputSchema": {"type": "object"},
                    "http": {"method": "GET", "path": "/x"}
                });
                service
                    .put_tool(&admin(), T, I, &format!("t{i}"), body)
                    .await
                    .expect("acknowledged")
            })
        })
        .collect();
    for w in writers {
        w.await.expect("task");
    }
    // Every write got its own version, with no gap, and the publisher announced the last.
    assert_eq!(f.version(), base + 64);
    assert_eq!(f.service.publisher().version(), base + 64);
    assert_eq!(f.snapshot().tools.len(), 66);
    let flushes = f.service.store.flushes();
    assert!((1..=64 + 3).contains(&flushes), "{flushes} flushes");

    // Acknowledged means on disk: a fresh store over the same directory has all of them.
    let dir = f._dir.path().to_owned();
    let service = f.service.clone();
    drop(f.service);
    let Ok(service) = Arc::try_unwrap(service) else {
        panic!("no other handle to the service");
    };
    drop(service);
    let reopened = Store::open(&dir, StoreSettings::default()).expect("reopen");
    assert_eq!(reopened.version().expect("version"), base + 64);
}

/// Puts tool `id` with `description` (GET /{id}).
async fn put_described(f: &Fixture, id: &str, description: &str) {
    let body = json!({
        "description": description,
        "inputSchema": {"type": "object"},
        "http": {"method": "GET", "path": format!("/{id}")}
    });
    f.service
        .put_tool(&admin(), T, I, id, body)
        .await
        .expect("tool");
}

fn served_description(f: &Fixture, id: &str) -> String {
    f.snapshot()
        .tools
        .iter()
        .find(|t| t.id == id)
        .map(|t| t.description.clone())
        .expect("served tool")
}

fn catalog(f: &Fixture) -> super::views::CatalogView {
    f.service
        .get_integration(&admin(), T, I)
        .expect("integration")
        .catalog
}

#[tokio::test]
async fn with_auto_publish_every_draft_change_is_a_revision_the_audit_names() {
    let f = Fixture::new().await;
    // Tools a and b were put one after the other: revisions 1 and 2.
    let c = catalog(&f);
    assert!(c.auto_publish);
    assert_eq!(c.revision, 2);
    assert_eq!(c.draft_pending, Some(false));
    let snapshot = f.snapshot();
    assert_eq!(snapshot.catalog.revision, 2);
    assert_eq!(snapshot.catalog.sha256, c.sha256);
    // The digest is the documented one, recomputable from the tools alone.
    let digests: Vec<(String, String)> = snapshot
        .tools
        .iter()
        .map(|t| (t.id.clone(), mcpgw_shared::model::tool_digest(t)))
        .collect();
    assert_eq!(
        mcpgw_shared::model::catalog_digest(digests.iter().map(|(i, d)| (i.as_str(), d.as_str()))),
        c.sha256
    );

    put_described(&f, "a", "changed").await;
    assert_eq!(f.snapshot().catalog.revision, 3);
    assert_ne!(f.snapshot().catalog.sha256, c.sha256);
    f.service
        .delete_tool(&admin(), T, I, "b")
        .await
        .expect("delete");
    assert_eq!(f.snapshot().catalog.revision, 4);
    // Putting the same definition again changes nothing served.
    put_described(&f, "a", "changed").await;
    assert_eq!(f.snapshot().catalog.revision, 4);

    let revisions = f
        .service
        .list_tool_revisions(&admin(), T, I)
        .expect("revisions");
    let numbers: Vec<u64> = revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [4, 3, 2, 1], "newest first");
    assert!(revisions[0].published && !revisions[1].published);
    assert_eq!(revisions[0].tool_ids, ["a"]);
    assert!(revisions.iter().all(|r| r.source == "edit"));

    let audit = f
        .service
        .audit_log(&admin(), T, 0, 100)
        .await
        .expect("audit");
    let named: Vec<(String, Option<u64>)> = audit
        .iter()
        .map(|a| (a.action.clone(), a.catalog_revision))
        .collect();
    assert_eq!(
        named,
        [
            ("integration.create".to_owned(), Some(0)),
            ("tool.put".to_owned(), Some(1)),
            ("tool.put".to_owned(), Some(2)),
            ("tool.put".to_owned(), Some(3)),
            ("tool.delete".to_owned(), Some(4)),
            ("tool.put".to_owned(), Some(4)),
        ]
    );
}

#[tokio::test]
async fn without_auto_publish_edits_wait_for_an_explicit_publish() {
    let f = Fixture::new().await;
    let patch: super::views::IntegrationPatch =
        serde_json::from_value(json!({"catalog": {"autoPublish": false}})).expect("patch");
    let view = f
        .service
        .update_integration(&admin(), T, I, patch)
        .await
        .expect("manual");
    assert!(!view.catalog.auto_publish);
    assert_eq!(view.catalog.revision, 2, "what was served stays served");

    put_described(&f, "a", "draft only").await;
    put_described(&f, "c", "new, unpublished").await;
    assert_eq!(served_description(&f, "a"), "tool a");
    assert!(f.snapshot().tools.iter().all(|t| t.id != "c"));
    assert_eq!(f.snapshot().catalog.revision, 2);
    assert_eq!(catalog(&f).draft_pending, Some(true));

    let (published, created) = f
        .service
        .publish_tools(
            &admin(),
            T,
            I,
            PublishRequest {
                note: Some("reviewed".into()),
            },
        )
        .await
        .expect("publish");
    assert!(created);
    assert_eq!(published.revision, 3);
    assert_eq!(published.source, "publish");
    assert_eq!(published.note.as_deref(), Some("reviewed"));
    assert_eq!(served_description(&f, "a"), "draft only");
    assert_eq!(f.snapshot().catalog.sha256, published.sha256);
    assert_eq!(catalog(&f).draft_pending, Some(false));

    // Publishing an unchanged draft makes no revision and writes nothing.
    let before = f.version();
    let (again, created) = f
        .service
        .publish_tools(&admin(), T, I, PublishRequest::default())
        .await
        .expect("publish again");
    assert!(!created);
    assert_eq!(again.revision, 3);
    assert_eq!(f.version(), before);

    // Taking a tool out of the draft changes nothing served, its exposure included, until
    // the publish that removes it.
    f.patch(McpPatch {
        exposed_tool_ids: Some(vec!["a".into(), "b".into()]),
        ..McpPatch::default()
    })
    .await
    .expect("expose");
    f.service
        .delete_tool(&admin(), T, I, "b")
        .await
        .expect("delete from the draft");
    assert!(f.snapshot().tools.iter().any(|t| t.id == "b"));
    f.service
        .publish_tools(&admin(), T, I, PublishRequest::default())
        .await
        .expect("publish the deletion");
    let snapshot = f.snapshot();
    assert!(snapshot.tools.iter().all(|t| t.id != "b"));
    let exposed = f
        .service
        .get_mcp_settings(&admin(), T, I)
        .expect("settings")
        .exposed_tool_ids;
    assert_eq!(exposed, Some(vec!["a".to_owned()]));

    // Turning autoPublish back on publishes the draft at once.
    put_described(&f, "a", "pending").await;
    let patch: super::views::IntegrationPatch =
        serde_json::from_value(json!({"catalog": {"autoPublish": true}})).expect("patch");
    f.service
        .update_integration(&admin(), T, I, patch)
        .await
        .expect("auto");
    assert_eq!(served_description(&f, "a"), "pending");
    assert_eq!(f.snapshot().catalog.revision, 5);
}

#[tokio::test]
async fn a_published_revision_that_lost_a_definition_fails_its_integration_closed() {
    let f = Fixture::new().await;
    let patch: super::views::IntegrationPatch =
        serde_json::from_value(json!({"catalog": {"autoPublish": false}})).expect("patch");
    f.service
        .update_integration(&admin(), T, I, patch)
        .await
        .expect("manual");
    // As if quarantine had taken a stored definition away.
    let store = &f.service.store;
    let mut lock = store.lock().await.expect("lock");
    let mut w = crate::store::WriteSet::default();
    for key in store
        .scan_keys(&crate::store::keys::catalog_bodies(T, I))
        .expect("bodies")
    {
        w.delete(&key);
    }
    let audit = crate::store::AuditRecord {
        version: 0,
        at: 0,
        actor: "test".into(),
        tenant: T.into(),
        action: "test".into(),
        target: String::new(),
        catalog_revision: None,
    };
    let budget = crate::store::Budget {
        tenant_bytes: u64::MAX,
    };
    let applied = store
        .apply(&mut lock, w, audit, budget)
        .await
        .expect("apply");
    drop(lock);
    store.flush(applied).await.expect("flush");
    let snapshot = f.snapshot();
    assert!(snapshot.tools.is_empty(), "no tool served");
    assert_eq!(
        snapshot.catalog,
        mcpgw_shared::model::CatalogStamp::default(),
        "no stamp a pin could match"
    );
    // Publishing the same draft again stores its definitions anew and mends it.
    let (mended, created) = f
        .service
        .publish_tools(&admin(), T, I, PublishRequest::default())
        .await
        .expect("publish");
    assert!(created);
    let snapshot = f.snapshot();
    assert_eq!(snapshot.tools.len(), 2);
    assert_eq!(snapshot.catalog.revision, mended.revision);
}

#[tokio::test]
async fn a_rollback_publishes_an_older_revision_anew() {
    let f = Fixture::new().await;
    let two = catalog(&f).sha256;
    put_described(&f, "a", "bad edit").await;
    put_described(&f, "z", "bad addition").await;
    assert_eq!(catalog(&f).revision, 4);

    let (rolled, created) = f
        .service
        .rollback_tools(&admin(), T, I, 2, None)
        .await
        .expect("rollback");
    assert!(created);
    assert_eq!(rolled.revision, 5, "revision numbers only go forward");
    assert_eq!(rolled.restored_from, Some(2));
    assert_eq!(rolled.sha256, two, "the same tools, so the same digest");
    let snapshot = f.snapshot();
    assert_eq!(snapshot.catalog.revision, 5);
    assert_eq!(served_description(&f, "a"), "tool a");
    assert!(snapshot.tools.iter().all(|t| t.id != "z"));
    // With autoPublish the draft follows: the next edit starts from the rolled-back tools.
    let tools = f.service.list_tools(&admin(), T, I).expect("tools");
    let ids: Vec<&str> = tools.iter().map(|t| t.def.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(catalog(&f).draft_pending, Some(false));

    let before = f.version();
    let refused = f.service.rollback_tools(&admin(), T, I, 99, None).await;
    assert!(
        matches!(refused, Err(ServiceError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(f.version(), before);
}

#[tokio::test]
async fn only_the_newest_revisions_are_kept_with_the_definitions_they_name() {
    let f = Fixture::new().await;
    for i in 0..25 {
        put_described(&f, "a", &format!("edit {i}")).await;
    }
    let revisions = f
        .service
        .list_tool_revisions(&admin(), T, I)
        .expect("revisions");
    assert_eq!(revisions.len(), super::catalog::REVISIONS_KEPT);
    assert_eq!(revisions[0].revision, 27);
    let oldest = revisions.last().expect("oldest").revision;
    assert_eq!(oldest, 8);
    // Every kept revision still opens, and no definition outlives the revisions naming it:
    // 20 versions of `a` and the one `b`.
    for r in &revisions {
        let (_, tools) = f
            .service
            .get_tool_revision(&admin(), T, I, r.revision)
            .expect("kept revision");
        assert_eq!(tools.len(), 2);
    }
    let bodies = f
        .service
        .store
        .scan_keys(&crate::store::keys::catalog_bodies(T, I))
        .expect("bodies");
    assert_eq!(bodies.len(), 21);
    f.service
        .rollback_tools(&admin(), T, I, oldest, None)
        .await
        .expect("rollback to the oldest kept");
    assert_eq!(served_description(&f, "a"), "edit 5");

    // Deleting the integration takes every revision and definition with it.
    f.service
        .delete_integration(&admin(), T, I)
        .await
        .expect("delete");
    for prefix in [
        crate::store::keys::catalog_bodies(T, I),
        crate::store::keys::catalog_revisions(T, I),
    ] {
        assert!(f.service.store.scan_keys(&prefix).expect("scan").is_empty());
    }
}
