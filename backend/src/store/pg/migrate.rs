//! Schema migrations for PostgreSQL, applied at start. Each is a SQL file in
//! `backend/migrations/postgres/`; `schema_migrations` records the applied
//! versions. Nodes starting together take turns: the whole check-and-apply
//! runs under a session advisory lock on a dedicated connection, so one node
//! migrates and the others wait, then find nothing to do.

use tokio_postgres::{Config, NoTls};

use super::PgError;
use crate::store::StoreError;

/// In order; never edit or reorder a released one, add a new file instead.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "0002_cluster_secret",
        include_str!("../../../migrations/postgres/0002_cluster_secret.sql"),
    ),
];

/// The advisory lock's key ("parley" in ASCII): held only while migrating.
const LOCK_KEY: i64 = 0x7061_726c_6579;

pub async fn apply(config: &Config) -> Result<(), StoreError> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(PgError::Db)?;
    let driver = tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(%err, "migration connection ended");
        }
    });
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
            .await?;
        let applied = apply_pending(&mut client).await;
        // Released even when a migration failed; closing the connection would too.
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
            .await?;
        applied
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

async fn apply_pending(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT   NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let rows = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?;
    let mut done = Vec::with_capacity(rows.len());
    for row in rows {
        done.push(row.try_get::<_, i64>(0)?);
    }
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        // A migration and its record commit together.
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}
