//! The database schema, as numbered migrations embedded in the binary and applied at start.
//!
//! Replicas starting at once take turns under a session advisory lock; each applies what the
//! database lacks, each migration in its own transaction with its row in
//! `mcpgw_schema_migrations`. A database migrated by a newer binary is refused rather than
//! misread.

use tokio_postgres::Client;

use super::super::StoreError;

/// Serialises migrations across replicas (`pg_advisory_lock` key).
const MIGRATION_LOCK: i64 = 0x6d63_7067_7701;

struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "records, change log, audit, quarantine",
        sql: r#"
            CREATE TABLE mcpgw_records (
                key text COLLATE "C" PRIMARY KEY,
                value bytea NOT NULL
            );
            CREATE TABLE mcpgw_changes (
                version bigint PRIMARY KEY,
                writer text NOT NULL,
                tenant text NOT NULL,
                integration text NOT NULL,
                at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE mcpgw_change_ops (
                version bigint NOT NULL REFERENCES mcpgw_changes (version) ON DELETE CASCADE,
                key text COLLATE "C" NOT NULL,
                value bytea,
                PRIMARY KEY (version, key)
            );
            CREATE TABLE mcpgw_audit (
                tenant text NOT NULL,
                version bigint NOT NULL,
                record bytea NOT NULL,
                PRIMARY KEY (tenant, version)
            );
            CREATE TABLE mcpgw_quarantine (
                key text COLLATE "C" PRIMARY KEY,
                meta bytea NOT NULL,
                raw bytea NOT NULL
            );
        "#,
    },
    Migration {
        version: 2,
        description: "data-plane registry",
        sql: r#"
            CREATE TABLE mcpgw_data_planes (
                replica text NOT NULL,
                selection text NOT NULL,
                data_planes integer NOT NULL,
                seen_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (replica, selection)
            );
        "#,
    },
];

/// The schema version this binary expects.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema to [`latest`]; returns the version found before.
pub(super) async fn migrate(client: &Client) -> Result<i32, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    // On failure the connection is dropped, which releases the lock too.
    if result.is_ok() {
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
    }
    result
}

async fn apply(client: &Client) -> Result<i32, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS mcpgw_schema_migrations (
                version integer PRIMARY KEY,
                description text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let found: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM mcpgw_schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if found > latest() {
        return Err(StoreError::Database(format!(
            "the database schema is at version {found}, newer than this control plane's {}: \
             run the newer release",
            latest()
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        client.batch_execute("BEGIN").await?;
        client.batch_execute(m.sql).await?;
        client
            .execute(
                "INSERT INTO mcpgw_schema_migrations (version, description) VALUES ($1, $2)",
                &[&m.version, &m.description],
            )
            .await?;
        client.batch_execute("COMMIT").await?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "database schema migrated"
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i32::try_from(i + 1).expect("small"));
            assert!(!m.sql.trim().is_empty() && !m.description.is_empty());
        }
        assert_eq!(latest(), 2);
    }
}
