//! Moving an embedded store into an empty PostgreSQL database, keeping everything a data
//! plane or a client relies on: versions (and the store's identity, so data planes resume
//! with a delta), key hashes, sealed credentials (the same master key opens them), audit
//! records and quarantined records, byte for byte.

use super::super::embedded::Export;
use super::super::{StoreError, keys};
use super::connect::{Connector, DatabaseSettings};
use super::{WRITE_LOCK, schema};

/// What was moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Records (audit excluded).
    pub records: usize,
    /// Audit records.
    pub audit: usize,
    /// Quarantined records.
    pub quarantined: usize,
    /// The store's version.
    pub version: u64,
}

/// Writes `export` into the database of `database` in one transaction. Refuses a database
/// that already holds a store.
///
/// # Errors
/// When the database cannot be reached or migrated, already holds a store, or refuses a row.
pub async fn import(database: &DatabaseSettings, export: Export) -> Result<Imported, StoreError> {
    let connector = Connector::new(database)?;
    let client = connector.connect().await?;
    schema::migrate(&client).await?;
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ))
        .await?;
    let held: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM mcpgw_records) + (SELECT count(*) FROM mcpgw_changes) \
             + (SELECT count(*) FROM mcpgw_audit)",
            &[],
        )
        .await?
        .get(0);
    if held > 0 {
        return Err(StoreError::Database(
            "the database already holds a store: migrate into an empty database".into(),
        ));
    }
    let mut imported = Imported {
        records: 0,
        audit: 0,
        quarantined: 0,
        version: 0,
    };
    let mut keys_batch: Vec<String> = Vec::new();
    let mut values_batch: Vec<Vec<u8>> = Vec::new();
    for (key, value) in export.records {
        let key = String::from_utf8_lossy(&key).into_owned();
        if let Some((tenant, version)) = key
            .strip_prefix("audit/")
            .and_then(|rest| rest.split_once('/'))
        {
            let version: i64 = version.parse().unwrap_or(0);
            client
                .execute(
                    "INSERT INTO mcpgw_audit (tenant, version, record) VALUES ($1, $2, $3)",
                    &[&tenant, &version, &value],
                )
                .await?;
            imported.audit += 1;
            continue;
        }
        if key == keys::version().as_str() {
            imported.version = serde_json::from_slice(&value).unwrap_or(0);
        }
        keys_batch.push(key);
        values_batch.push(value);
        imported.records += 1;
        if keys_batch.len() >= 1000 {
            insert(&client, &mut keys_batch, &mut values_batch).await?;
        }
    }
    insert(&client, &mut keys_batch, &mut values_batch).await?;
    for (key, meta, raw) in export.quarantine {
        let key = String::from_utf8_lossy(&key).into_owned();
        client
            .execute(
                "INSERT INTO mcpgw_quarantine (key, meta, raw) VALUES ($1, $2, $3)",
                &[&key, &meta, &raw],
            )
            .await?;
        imported.quarantined += 1;
    }
    client.batch_execute("COMMIT").await?;
    Ok(imported)
}

async fn insert(
    client: &tokio_postgres::Client,
    keys: &mut Vec<String>,
    values: &mut Vec<Vec<u8>>,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "INSERT INTO mcpgw_records (key, value) SELECT * FROM unnest($1::text[], $2::bytea[])",
            &[&*keys, &*values],
        )
        .await?;
    keys.clear();
    values.clear();
    Ok(())
}
