use super::*;
use crate::store::IntegrationRecord;

fn audit(tenant: &str) -> AuditRecord {
    AuditRecord {
        version: 0,
        at: 1,
        actor: "tester".into(),
        tenant: tenant.into(),
        action: "test".into(),
        target: "x".into(),
        catalog_revision: None,
    }
}

fn budget() -> Budget {
    Budget {
        tenant_bytes: u64::MAX,
    }
}

fn settings() -> StoreSettings {
    StoreSettings {
        min_free_bytes: 0,
        audit_retention: 1_000,
    }
}

async fn commit(store: &Embedded, w: WriteSet) -> u64 {
    let applied = store.apply(w, audit("acme"), budget()).expect("apply");
    store.flush(applied).await.expect("flush")
}

/// An integration record whose description is `value`.
fn record(value: &str) -> IntegrationRecord {
    IntegrationRecord {
        id: "i".into(),
        display_name: "i".into(),
        description: value.into(),
        created_at: 1,
        modified_at: 1,
        auto_publish: true,
    }
}

fn put(key: &keys::Key, value: &str) -> WriteSet {
    let mut w = WriteSet::default();
    w.put(key, &record(value)).expect("put");
    w
}

fn read(store: &Embedded, key: &keys::Key) -> Option<String> {
    store
        .get::<IntegrationRecord>(key)
        .expect("get")
        .map(|r| r.description)
}

fn descriptions(store: &Embedded, tenant: &str) -> Vec<String> {
    store
        .scan::<IntegrationRecord>(&keys::integrations(tenant))
        .expect("scan")
        .into_iter()
        .map(|r| r.description)
        .collect()
}

#[test]
fn a_store_keeps_its_identity_and_another_store_has_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = Embedded::open(dir.path(), settings())
        .expect("open")
        .id()
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
        Ok(4)
    );
    let reopened = Embedded::open(dir.path(), settings()).expect("reopen");
    assert_eq!(reopened.id(), id);
    let other = tempfile::tempdir().expect("tempdir");
    assert_ne!(
        Embedded::open(other.path(), settings()).expect("open").id(),
        id
    );
}

#[tokio::test]
async fn commits_are_atomic_versioned_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Embedded::open(dir.path(), settings()).expect("open");
        assert_eq!(store.version().expect("v"), 0);
        let mut w = put(&keys::integration("acme", "crm"), "one");
        w.put(&keys::integration("acme", "crm2"), &record("two"))
            .expect("put");
        assert_eq!(commit(&store, w).await, 1);
        let mut w = WriteSet::default();
        w.delete(&keys::integration("acme", "crm2"));
        assert_eq!(commit(&store, w).await, 2);
    }
    let store = Embedded::open(dir.path(), settings()).expect("reopen");
    assert_eq!(store.version().expect("v"), 2);
    assert_eq!(descriptions(&store, "acme"), vec!["one".to_owned()]);
    let log = store.audit_log("acme", 0, 10).expect("audit");
    assert_eq!(
        log.iter().map(|a| a.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(store.audit_log("acme", 1, 10).expect("audit").len(), 1);
    assert!(store.audit_log("other", 0, 10).expect("audit").is_empty());
}

#[test]
fn a_record_too_deep_to_read_back_is_never_written() {
    let mut deep = serde_json::json!(1);
    for _ in 0..=mcpgw_shared::json::DECODE_DEPTH_LIMIT {
        deep = serde_json::json!([deep]);
    }
    let mut w = WriteSet::default();
    assert!(matches!(
        w.put(&keys::integration("acme", "crm"), &deep),
        Err(StoreError::TooDeep { .. })
    ));
}

#[tokio::test]
async fn a_reverted_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Embedded::open(dir.path(), settings()).expect("open");
    commit(&store, put(&keys::integration("acme", "a"), "one")).await;
    let usage = store.usage("acme").expect("usage");
    let applied = store
        .apply(
            put(&keys::integration("acme", "a"), "changed"),
            audit("acme"),
            budget(),
        )
        .expect("apply");
    store.revert(applied).await;
    assert_eq!(
        read(&store, &keys::integration("acme", "a")),
        Some("one".into())
    );
    assert_eq!(store.version().expect("v"), 1);
    assert_eq!(store.usage("acme").expect("usage"), usage);
    assert_eq!(store.audit_log("acme", 0, 10).expect("audit").len(), 1);
}

#[tokio::test]
async fn undecodable_records_are_quarantined_and_everything_else_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Embedded::open(dir.path(), settings()).expect("open");
        commit(&store, put(&keys::integration("acme", "good"), "kept")).await;
        // Write raw records behind the store's back: one undecodable, one valid.
        let h = store.handles().expect("handles");
        h.data
            .insert(
                keys::integration("acme", "bad").as_bytes(),
                b"\"a string\"".as_ref(),
            )
            .expect("insert");
        // A well-formed tool record whose simulation nests past the decoder's limit: what the
        // record wrapper did to a document accepted at the old edge's limit.
        let deep = format!(
            r#"{{"def":{{"id":"t","description":"d","inputSchema":{{"type":"object"}},"http":{{"method":"GET","path":"/x"}},"simulation":{{"response":{}1{}}}}},"created_at":1,"modified_at":1}}"#,
            "[".repeat(125),
            "]".repeat(125)
        );
        h.data
            .insert(keys::tool("other", "crm", "t").as_bytes(), deep.as_bytes())
            .expect("insert");
        h.db.flush().expect("flush");
    }
    let store = Embedded::open(dir.path(), settings()).expect("opens despite a bad record");
    let quarantined = store.quarantined().expect("list");
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    let tool = quarantined
        .iter()
        .find(|q| q.key == "tool/other/crm/t")
        .expect("the deep tool");
    assert_eq!(tool.tenant.as_deref(), Some("other"));
    assert!(tool.reason.contains("recursion"), "{}", tool.reason);
    assert!(
        quarantined.iter().any(|q| q.key == "int/acme/bad"),
        "a string is not an integration record"
    );
    assert_eq!(descriptions(&store, "acme"), vec!["kept".to_owned()]);
    assert!(
        store
            .remove_quarantined("tool/other/crm/t")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_quarantined("tool/other/crm/t")
            .await
            .expect("again")
    );
    drop(store);
    let store = Embedded::open(dir.path(), settings()).expect("reopen");
    assert_eq!(
        store.quarantined().expect("list").len(),
        1,
        "removal is durable"
    );
}

#[tokio::test]
async fn usage_follows_writes_and_the_quota_refuses_growth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Embedded::open(dir.path(), settings()).expect("open");
    let key = keys::integration("acme", "a");
    commit(&store, put(&key, &"x".repeat(1000))).await;
    let used = store.usage("acme").expect("usage").bytes;
    assert!((1000..1200).contains(&used), "{used}");
    let tight = Budget {
        tenant_bytes: used + 10,
    };
    let grow = store.apply(put(&key, &"x".repeat(2000)), audit("acme"), tight);
    assert!(
        matches!(grow, Err(StoreError::OverQuota { limit, .. }) if limit == used + 10),
        "growth past the quota is refused"
    );
    let shrink = store
        .apply(put(&key, "small"), audit("acme"), tight)
        .expect("shrinking is always allowed");
    store.flush(shrink).await.expect("flush");
    assert!(store.usage("acme").expect("usage").bytes < 200);
    assert_eq!(store.usage("other").expect("usage"), Usage::default());
    // A recount at open agrees with the running count.
    let counted = store.usage("acme").expect("usage");
    drop(store);
    let store = Embedded::open(dir.path(), settings()).expect("reopen");
    assert_eq!(store.usage("acme").expect("usage"), counted);
}

#[tokio::test]
async fn audit_records_beyond_the_retention_are_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Embedded::open(
        dir.path(),
        StoreSettings {
            audit_retention: 3,
            ..settings()
        },
    )
    .expect("open");
    for i in 0..6 {
        commit(&store, put(&keys::integration("acme", "a"), &i.to_string())).await;
    }
    let log = store.audit_log("acme", 0, 100).expect("audit");
    assert_eq!(
        log.iter().map(|a| a.version).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert_eq!(store.usage("acme").expect("usage").audit_records, 3);
}

#[tokio::test]
async fn below_the_disk_reserve_writes_are_refused_and_reads_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Embedded::open(dir.path(), settings()).expect("open");
        commit(&store, put(&keys::integration("acme", "a"), "one")).await;
    }
    let store = Embedded::open(
        dir.path(),
        StoreSettings {
            min_free_bytes: u64::MAX,
            ..settings()
        },
    )
    .expect("open");
    let refused = store.apply(
        put(&keys::integration("acme", "b"), "two"),
        audit("acme"),
        budget(),
    );
    assert!(matches!(refused, Err(StoreError::DiskFull { .. })));
    assert!(refused.err().is_some_and(|e| e.is_unavailable()));
    assert_eq!(
        read(&store, &keys::integration("acme", "a")),
        Some("one".into())
    );
}

#[tokio::test]
async fn after_a_failed_flush_reads_serve_the_committed_state_until_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Embedded::open(dir.path(), settings()).expect("open");
    commit(&store, put(&keys::integration("acme", "a"), "one")).await;
    let mut w = put(&keys::integration("acme", "a"), "uncommitted");
    w.put(&keys::integration("acme", "b"), &record("new"))
        .expect("put");
    let applied = store.apply(w, audit("acme"), budget()).expect("apply");
    // What a failed flush does (sled keeps the write in memory).
    store.flush_failed(applied.epoch, &"injected I/O error");
    assert!(matches!(
        store.flush(applied).await,
        Err(StoreError::Degraded { .. })
    ));
    assert!(store.is_degraded());
    assert_eq!(
        read(&store, &keys::integration("acme", "a")),
        Some("one".into())
    );
    assert_eq!(
        descriptions(&store, "acme"),
        vec!["one".to_owned()],
        "the new record is invisible"
    );
    assert_eq!(store.version().expect("v"), 1);
    assert_eq!(store.audit_log("acme", 0, 10).expect("audit").len(), 1);
    assert!(matches!(
        store.apply(
            put(&keys::integration("acme", "c"), "x"),
            audit("acme"),
            budget()
        ),
        Err(StoreError::Degraded { .. })
    ));
    assert!(store.recover().expect("recovers"));
    assert!(!store.is_degraded());
    assert_eq!(descriptions(&store, "acme"), vec!["one".to_owned()]);
    assert_eq!(
        commit(&store, put(&keys::integration("acme", "c"), "x")).await,
        2
    );
}
