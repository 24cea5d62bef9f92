//! The PostgreSQL store: several control planes on one database behave as one (a write on
//! either is read, published and enforced by both; the first enable mints one key whichever
//! replicas the requests reach; rotations never leave two live keys), the schema is migrated
//! once and a newer one refused, undecodable rows are quarantined, and an embedded store
//! moves to PostgreSQL with its versions, keys and sealed credentials.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use mcpgw_shared::apikey;
use mcpgw_test_support::postgres::Postgres;
use serde_json::json;
use support::{Api, Cp, eventually, seed_integration, token};

/// What a replica publishes, as comparable text: version and every integration's state.
fn published(cp: &Cp) -> (u64, String) {
    let full = cp.running().service.publisher().full();
    (full.version, format!("{:?}", full.upserts))
}

/// Both replicas publish the same version and the same state.
async fn converge(a: &Cp, b: &Cp) -> u64 {
    let mut last = (0, String::new());
    let same = eventually(Duration::from_secs(10), || {
        let (pa, pb) = (published(a), published(b));
        let same = pa == pb;
        last = pa;
        async move { same }
    })
    .await;
    assert!(
        same,
        "replicas did not converge:\n{:?}\n{:?}",
        published(a),
        published(b)
    );
    last.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_act_as_one_store() {
    let pg = Postgres::start();
    let url = pg.database("ha");
    let (a, b) = tokio::join!(Cp::start_on_database(&url), Cp::start_on_database(&url));
    let tok = token(&["*"]);
    let api_a = Api {
        base: &a.base,
        token: tok.clone(),
    };
    let api_b = Api {
        base: &b.base,
        token: tok.clone(),
    };
    assert_eq!(
        a.running().service.store().id(),
        b.running().service.store().id(),
        "one store, one identity"
    );

    // A write on A is read on B and published by both.
    let int = seed_integration(&api_a, "acme", "crm").await;
    let tools_on_b = eventually(Duration::from_secs(5), || async {
        api_b
            .get(&format!("{int}/tools"))
            .await
            .json()
            .as_array()
            .is_some_and(|t| t.len() == 2)
    })
    .await;
    assert!(tools_on_b, "B reads what A wrote");
    assert_eq!(converge(&a, &b).await, 3, "three writes, versions 1..=3");

    // Propagation between replicas: A acknowledges, B publishes (20 edits, measured).
    let mut lags = Vec::new();
    for i in 0..20 {
        let r = api_a
            .patch(&int, json!({"description": format!("edit {i}")}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let acked = std::time::Instant::now();
        let target = a.running().service.publisher().version();
        assert!(
            eventually(Duration::from_secs(5), || async {
                b.running().service.publisher().version() >= target
            })
            .await,
            "B publishes version {target}"
        );
        lags.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    lags.sort_by(f64::total_cmp);
    eprintln!(
        "replica-to-replica propagation: p50 {:.1} ms, max {:.1} ms",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    let base_version = converge(&a, &b).await;
    assert_eq!(base_version, 23);

    // 16 concurrent first enables spread over both replicas mint exactly one key.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let url = format!("{}{int}/mcp", if i % 2 == 0 { &a.base } else { &b.base });
        let tok = tok.clone();
        set.spawn(async move {
            support::call("PATCH", &url, Some(&tok), Some(&json!({"enabled": true}))).await
        });
    }
    let mut minted = Vec::new();
    let mut ids = BTreeSet::new();
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status, 200, "{}", r.text);
        let body = r.json();
        if let Some(k) = body["apiKey"].as_str() {
            minted.push(k.to_owned());
        }
        ids.insert(body["apiKeyId"].as_str().expect("bound").to_owned());
    }
    assert_eq!(minted.len(), 1, "exactly one key minted across replicas");
    assert_eq!(ids.len(), 1, "every response names the same key");
    converge(&a, &b).await;
    let full = b.running().service.publisher().full();
    assert_eq!(full.upserts[0].keys.len(), 1);
    assert_eq!(
        full.upserts[0].keys[0].hash,
        apikey::hash(&minted[0]).to_vec()
    );

    // Concurrent rotations on both replicas: each revokes the key before it, so exactly one
    // key is live at the end, and it is the one the last rotation returned.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = format!(
            "{}{int}/mcp:rotateKey",
            if i % 2 == 0 { &a.base } else { &b.base }
        );
        let tok = tok.clone();
        set.spawn(async move { support::call("POST", &url, Some(&tok), Some(&json!({}))).await });
    }
    let mut rotated = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status, 200, "{}", r.text);
        rotated.push(r.json()["apiKey"].as_str().expect("a new key").to_owned());
    }
    let version = converge(&a, &b).await;
    for cp in [&a, &b] {
        let full = cp.running().service.publisher().full();
        assert_eq!(
            full.upserts[0].keys.len(),
            1,
            "one live key after rotations"
        );
        let live = &full.upserts[0].keys[0].hash;
        assert_eq!(
            rotated
                .iter()
                .filter(|k| apikey::hash(k).as_slice() == live.as_slice())
                .count(),
            1,
            "the live key is one of the rotated ones"
        );
    }

    // Versions are global and gap-free: 3 + 20 edits + 16 enables (each a write) + 8
    // rotations.
    assert_eq!(version, 47);
    let log = pg.sql(
        "ha",
        "SELECT count(*), min(version), max(version) FROM mcpgw_changes",
    );
    assert_eq!(log, "47|1|47");
    // The audit log is the database's: B lists what A did.
    let audit = api_b.get("/v1/tenants/acme/audit?limit=100").await;
    assert_eq!(audit.status, 200);
    let versions: Vec<u64> = audit
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, (1..=47).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_starts_later_or_restarts_serves_the_same_state() {
    let pg = Postgres::start();
    let url = pg.database("later");
    let a = Cp::start_on_database(&url).await;
    let tok = token(&["*"]);
    let api = Api {
        base: &a.base,
        token: tok,
    };
    seed_integration(&api, "acme", "crm").await;
    seed_integration(&api, "acme", "erp").await;
    let b = Cp::start_on_database(&url).await;
    assert_eq!(converge(&a, &b).await, 6);
    // A deletion on A reaches B's publisher as a removal.
    assert_eq!(
        api.delete("/v1/tenants/acme/integrations/erp").await.status,
        204
    );
    converge(&a, &b).await;
    let full = b.running().service.publisher().full();
    assert_eq!(full.upserts.len(), 1);
    assert_eq!(full.version, 7);
}

#[tokio::test]
async fn the_schema_is_migrated_once_and_a_newer_one_is_refused() {
    let pg = Postgres::start();
    let url = pg.database("schema");
    let a = Cp::start_on_database(&url).await;
    drop(a);
    let b = Cp::start_on_database(&url).await;
    drop(b);
    assert_eq!(
        pg.sql(
            "schema",
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM mcpgw_schema_migrations"
        ),
        "1,2"
    );
    let _ = pg.sql(
        "schema",
        "INSERT INTO mcpgw_schema_migrations (version, description) VALUES (99, 'from the future')",
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut settings = support::settings(tmp.path(), 0);
    settings.database = Some(mcpgw_control_plane::store::DatabaseSettings::new(url));
    let refused = match mcpgw_control_plane::server::start(settings).await {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("newer than this control plane"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_undecodable_row_is_quarantined_and_everything_else_is_served() {
    let pg = Postgres::start();
    let url = pg.database("quarantine");
    let a = Cp::start_on_database(&url).await;
    let tok = token(&["*"]);
    let api = Api {
        base: &a.base,
        token: tok.clone(),
    };
    seed_integration(&api, "acme", "crm").await;
    seed_integration(&api, "acme", "erp").await;
    drop(a);
    let _ = pg.sql(
        "quarantine",
        "UPDATE mcpgw_records SET value = 'not json'::bytea WHERE key = 'tool/acme/crm/a'",
    );
    let b = Cp::start_on_database(&url).await;
    let api = Api {
        base: &b.base,
        token: tok,
    };
    let listed = api.get("/v1/quarantine").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()[0]["key"], "tool/acme/crm/a");
    let tools = api
        .get("/v1/tenants/acme/integrations/crm/tools")
        .await
        .json();
    assert_eq!(tools.as_array().expect("tools").len(), 1);
    assert_eq!(
        api.delete("/v1/quarantine/tool%2Facme%2Fcrm%2Fa")
            .await
            .status,
        204
    );
    assert_eq!(api.get("/v1/quarantine").await.json(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_moves_to_postgres_with_its_versions_keys_and_credentials() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cp = Cp::start_at(tmp.path(), 0).await;
    let tok = token(&["*"]);
    let api = Api {
        base: &cp.base,
        token: tok.clone(),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    let config = api
        .post(
            &format!("{int}/configs"),
            json!({"displayName": "prod", "parameters": {"baseUrl": "https://api.example.test"},
                   "auth": {"type": "BEARER", "parameters": {"token": "s3cret-token"}}}),
        )
        .await;
    assert_eq!(config.status, 201, "{}", config.text);
    let config_id = config.json()["id"].as_str().expect("id").to_owned();
    let published = api
        .post(&format!("{int}/configs/{config_id}:publish"), json!({}))
        .await;
    assert_eq!(published.status, 200, "{}", published.text);
    let enabled = api
        .patch(
            &format!("{int}/mcp"),
            json!({"enabled": true, "configId": config_id}),
        )
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let before = cp.running().service.publisher().full();
    let store_id = cp.running().service.store().id().to_owned();
    let audit_before = api.get("/v1/tenants/acme/audit?limit=100").await.json();
    cp.running.take().expect("running").shutdown().await;

    let pg = Postgres::start();
    let url = pg.database("moved");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_control-plane"))
        .arg("--data-dir")
        .arg(tmp.path())
        .arg("--database-url")
        .arg(&url)
        .arg("migrate-store")
        .env("MCPGW_JWT_SECRET", support::JWT_SECRET)
        .output()
        .expect("run migrate-store");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("at version {}", before.version)),
        "{stdout}"
    );
    // A second migration into the same database is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_control-plane"))
        .arg("--data-dir")
        .arg(tmp.path())
        .arg("--database-url")
        .arg(&url)
        .arg("migrate-store")
        .output()
        .expect("run migrate-store");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a store"));

    let moved = Cp::start_on_database(&url).await;
    assert_eq!(moved.running().service.store().id(), store_id);
    let after = moved.running().service.publisher().full();
    assert_eq!(after.version, before.version);
    // The same key hash and the same opened credentials (the sealed blob opened with the same
    // master key): the snapshots are identical.
    assert_eq!(
        format!("{:?}", after.upserts),
        format!("{:?}", before.upserts)
    );
    let api = Api {
        base: &moved.base,
        token: tok,
    };
    assert_eq!(
        api.get("/v1/tenants/acme/audit?limit=100").await.json(),
        audit_before
    );
    // And writes continue from there.
    let r = api.post(&format!("{int}/mcp:rotateKey"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        moved.running().service.publisher().version(),
        before.version + 1
    );
}

#[tokio::test]
async fn the_database_connection_can_require_tls_verified_against_a_private_ca() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data-plane/tests/tls");
    let pg = Postgres::start_tls(&fixtures.join("server.pem"), &fixtures.join("server.key"));
    let _ = pg.database("secure");
    let start = |url: String, ca: Option<std::path::PathBuf>| async move {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut settings = support::settings(tmp.path(), 0);
        settings.database = Some(mcpgw_control_plane::store::DatabaseSettings {
            ca_file: ca,
            ..mcpgw_control_plane::store::DatabaseSettings::new(url)
        });
        mcpgw_control_plane::server::start(settings).await
    };
    // The server takes TLS only; a certificate from an unknown CA is refused.
    let plain = start(pg.url("secure"), None).await;
    assert!(
        plain.is_err(),
        "a plain connection is refused by the server"
    );
    let unverified = start(pg.tls_url("secure"), None).await;
    let err = unverified
        .err()
        .expect("an unknown CA is refused")
        .to_string();
    assert!(!err.contains("mcpgw@"), "no URL in the error: {err}");
    // With the CA, it connects over TLS and serves.
    let running = start(pg.tls_url("secure"), Some(fixtures.join("ca.pem")))
        .await
        .expect("connects over TLS");
    let api = Api {
        base: &format!("http://{}", running.http_addr),
        token: token(&["*"]),
    };
    seed_integration(&api, "acme", "crm").await;
    assert_eq!(running.service.publisher().version(), 3);
    running.shutdown().await;
}

#[tokio::test]
async fn audit_records_beyond_the_retention_are_pruned_as_in_the_embedded_store() {
    let pg = Postgres::start();
    let url = pg.database("audit");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut settings = support::settings(tmp.path(), 0);
    settings.store.audit_retention = 3;
    settings.database = Some(mcpgw_control_plane::store::DatabaseSettings::new(url));
    let running = mcpgw_control_plane::server::start(settings)
        .await
        .expect("starts");
    let api = Api {
        base: &format!("http://{}", running.http_addr),
        token: token(&["*"]),
    };
    seed_integration(&api, "acme", "crm").await;
    seed_integration(&api, "acme", "erp").await;
    let log = api.get("/v1/tenants/acme/audit?limit=100").await.json();
    let versions: Vec<u64> = log
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, [4, 5, 6], "the newest three of six");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_gives_up_never_leaves_the_cluster_locked() {
    use mcpgw_control_plane::store::{DatabaseSettings, Store, StoreSettings};
    let pg = Postgres::start();
    let url = pg.database("locks");
    let settings = DatabaseSettings::new(url);
    let connect = || Store::connect(&settings, StoreSettings::default());
    let (a, b, c) = (
        connect().await.expect("a"),
        connect().await.expect("b"),
        connect().await.expect("c"),
    );
    // A holds the cluster's write lock; B waits for it and gives up (a request timeout).
    let held = a.lock().await.expect("a locks");
    let gave_up = tokio::time::timeout(Duration::from_millis(300), b.lock()).await;
    assert!(gave_up.is_err(), "B waits while A holds the lock");
    drop(held);
    // Neither the dropped lock of A nor B's abandoned attempt holds the lock now.
    let c_locked = tokio::time::timeout(Duration::from_secs(5), c.lock()).await;
    assert!(
        matches!(c_locked, Ok(Ok(_))),
        "C takes the write lock once A let go and B gave up"
    );
}
