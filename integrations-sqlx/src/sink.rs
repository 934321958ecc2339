//! [`SqlRecordSink`]: synced records as JSON rows.

use async_trait::async_trait;
use integrations_core::model::Connection;
use integrations_core::sync::{RecordSink, SyncPage, SyncRecord};
use integrations_core::{ConnectionId, Error, TenantId};

use crate::SqlStores;
use crate::error::{self, opt_text, text};
use crate::stores::{from_json, get, to_json};

/// A [`RecordSink`] keeping synced records in the `sync_records` table, one row per
/// tenant, connection, stream and record id, the record's data as JSON text.
///
/// Pages are written in one transaction; upserts and deletes are idempotent, so a page
/// delivered twice after a crash leaves the same rows.
#[derive(Debug, Clone)]
pub struct SqlRecordSink {
    stores: SqlStores,
}

impl SqlRecordSink {
    /// A sink writing to the database of `stores`.
    pub fn new(stores: SqlStores) -> Self {
        Self { stores }
    }

    /// The records of a stream of a connection, ordered by id.
    ///
    /// # Errors
    ///
    /// `store.unavailable`; storage errors.
    pub async fn records(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Vec<SyncRecord>, Error> {
        let rows = self
            .stores
            .query(
                "SELECT id, updated_at, data FROM sync_records \
                 WHERE tenant = $1 AND connection = $2 AND stream = $3 ORDER BY id",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .bind(text("stream name", stream)?)
            .fetch_all(&self.stores.pool)
            .await
            .map_err(error::map)?;
        rows.iter()
            .map(|row| {
                Ok(SyncRecord::new(
                    get::<String>(row, "id")?,
                    get::<Option<String>>(row, "updated_at")?,
                    from_json(&get::<String>(row, "data")?, "synced record")?,
                ))
            })
            .collect()
    }
}

#[async_trait]
impl RecordSink for SqlRecordSink {
    async fn write_page(
        &self,
        connection: &Connection,
        stream: &str,
        page: &SyncPage,
    ) -> Result<(), Error> {
        let stores = &self.stores;
        // Checked before the transaction: a page is written whole or not at all.
        text("stream name", stream)?;
        for record in &page.records {
            text("record id", &record.id)?;
            opt_text("record timestamp", record.updated_at.as_deref())?;
        }
        for id in &page.deleted {
            text("deleted record id", id)?;
        }
        let mut tx = stores.begin().await?;
        for record in &page.records {
            stores
                .query(
                    "INSERT INTO sync_records (tenant, connection, stream, id, updated_at, data) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant, connection, stream, id) DO UPDATE SET \
                     updated_at = excluded.updated_at, data = excluded.data",
                )
                .bind(connection.tenant.as_str())
                .bind(connection.id.as_str())
                .bind(stream)
                .bind(record.id.as_str())
                .bind(record.updated_at.as_deref())
                .bind(to_json(&record.data)?)
                .execute(&mut *tx)
                .await
                .map_err(error::map)?;
        }
        for id in &page.deleted {
            stores
                .query(
                    "DELETE FROM sync_records \
                     WHERE tenant = $1 AND connection = $2 AND stream = $3 AND id = $4",
                )
                .bind(connection.tenant.as_str())
                .bind(connection.id.as_str())
                .bind(stream)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(error::map)?;
        }
        tx.commit().await.map_err(error::map)
    }

    async fn delete_stream(&self, connection: &Connection, stream: &str) -> Result<(), Error> {
        self.stores
            .query("DELETE FROM sync_records WHERE tenant = $1 AND connection = $2 AND stream = $3")
            .bind(connection.tenant.as_str())
            .bind(connection.id.as_str())
            .bind(text("stream name", stream)?)
            .execute(&self.stores.pool)
            .await
            .map_err(error::map)?;
        Ok(())
    }
}

impl SqlStores {
    /// A [`RecordSink`] on this database.
    pub fn record_sink(&self) -> SqlRecordSink {
        SqlRecordSink::new(self.clone())
    }
}
