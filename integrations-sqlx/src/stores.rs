//! The store traits on SQL: one statement or one transaction per operation.

use std::fmt::Write as _;

use async_trait::async_trait;
use integrations_core::host::{
    ApprovalStore, BindingStore, CheckpointStore, ConnectionQuery, ConnectionStore,
    ContinuationStore, CredentialStore, EventDelivery, OAuthStateStore, PublicationStore, Sealed,
    TargetStore, WebhookEventStore, version_conflict,
};
use integrations_core::model::{
    Binding, Connection, ConnectionStatus, Credential, CredentialSet, CredentialType,
    PendingAuthorization, ProfileVersion, Publication, SyncCheckpoint, SyncLease, Target,
};
use integrations_core::tools::{
    ApprovalCall, ApprovalId, ApprovalRequest, ApprovalStage, PendingContinuation,
};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{
    BindingId, ConnectionId, DefinitionKey, Error, PublicationId, TargetId, TenantId, Timestamp,
    UserId, WorkspaceId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{self, corrupt, map_duplicate, opt_text, text, to_i64, to_u64};
use crate::{Backend, SqlStores};

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|_| Error::internal("a record could not be serialized to JSON"))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &'static str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, Error>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|e| match e {
        // A value of another type than this crate writes (SQLite keeps whatever it is
        // given): the row was written by something else.
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => error::corrupt_column(column),
        other => error::map(other),
    })
}

/// `q` with a connection's columns bound as `$1` to `$8` (tenant, id, definition key,
/// external subject, endpoint key, status, `updated_at`, record), as every statement
/// that writes one binds them.
fn bind_connection<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    connection: &'q Connection,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, Error> {
    Ok(q.bind(connection.tenant.as_str())
        .bind(connection.id.as_str())
        .bind(connection.key.as_str())
        .bind(opt_text(
            "external subject",
            connection.external_subject.as_deref(),
        )?)
        .bind(opt_text(
            "endpoint key",
            connection.endpoint_key.as_deref(),
        )?)
        .bind(to_json(&connection.status)?)
        .bind(ms(connection.updated_at))
        .bind(to_json(connection)?))
}

fn record<T: DeserializeOwned>(row: &AnyRow, what: &'static str) -> Result<T, Error> {
    from_json(&get::<String>(row, "record")?, what)
}

fn records<T: DeserializeOwned>(rows: &[AnyRow], what: &'static str) -> Result<Vec<T>, Error> {
    rows.iter().map(|row| record(row, what)).collect()
}

fn ms(t: Timestamp) -> i64 {
    t.unix_millis()
}

fn sealed(row: &AnyRow, key_id: &str, ciphertext: &str) -> Result<Option<Sealed>, Error> {
    let key_id: Option<String> = get(row, key_id)?;
    let ciphertext: Option<Vec<u8>> = get(row, ciphertext)?;
    Ok(match (key_id, ciphertext) {
        (Some(key_id), Some(ciphertext)) => Some(Sealed::new(key_id, ciphertext)),
        _ => None,
    })
}

impl SqlStores {
    async fn fetch_optional<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Option<AnyRow>, Error> {
        query.fetch_optional(&self.pool).await.map_err(error::map)
    }

    async fn fetch_all<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<AnyRow>, Error> {
        query.fetch_all(&self.pool).await.map_err(error::map)
    }

    async fn affected<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<u64, Error> {
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(error::map)?
            .rows_affected())
    }
}

/// A row a `DELETE … RETURNING …, expires_at` took, unless it had expired by `now`:
/// take-once deletes an expired entry in the same statement and reports it absent.
fn live(row: Option<AnyRow>, now: Timestamp) -> Result<Option<AnyRow>, Error> {
    let Some(row) = row else {
        return Ok(None);
    };
    let expires_at: i64 = get(&row, "expires_at")?;
    Ok((expires_at > ms(now)).then_some(row))
}

fn target(row: &AnyRow) -> Result<Target, Error> {
    let mut target: Target = record(row, "target")?;
    target.secrets = sealed(row, "secrets_key_id", "secrets_ciphertext")?;
    Ok(target)
}

#[async_trait]
impl TargetStore for SqlStores {
    async fn get_target(&self, tenant: &TenantId, id: &TargetId) -> Result<Option<Target>, Error> {
        let q = self
            .query(
                "SELECT record, secrets_key_id, secrets_ciphertext FROM targets \
                 WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.fetch_optional(q)
            .await?
            .map(|row| target(&row))
            .transpose()
    }

    async fn put_target(&self, target: &Target) -> Result<(), Error> {
        // The sealed secrets are kept only in their own columns.
        let mut without_secrets = target.clone();
        without_secrets.secrets = None;
        let q = self
            .query(
                "INSERT INTO targets (tenant, id, secrets_key_id, secrets_ciphertext, record, \
                 definition_key) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, id) DO \
                 UPDATE SET definition_key = excluded.definition_key, \
                 secrets_key_id = excluded.secrets_key_id, \
                 secrets_ciphertext = excluded.secrets_ciphertext, record = excluded.record",
            )
            .bind(target.tenant.as_str())
            .bind(target.id.as_str())
            .bind(opt_text(
                "key id",
                target.secrets.as_ref().map(Sealed::key_id),
            )?)
            .bind(target.secrets.as_ref().map(Sealed::ciphertext))
            .bind(to_json(&without_secrets)?)
            .bind(target.key.as_str());
        self.affected(q).await.map(drop)
    }

    async fn list_targets(&self, tenant: &TenantId) -> Result<Vec<Target>, Error> {
        let q = self
            .query(
                "SELECT record, secrets_key_id, secrets_ciphertext FROM targets \
                 WHERE tenant = $1 ORDER BY id",
            )
            .bind(tenant.as_str());
        self.fetch_all(q).await?.iter().map(target).collect()
    }

    async fn delete_target(&self, tenant: &TenantId, id: &TargetId) -> Result<bool, Error> {
        let q = self
            .query("DELETE FROM targets WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.affected(q).await? > 0)
    }

    async fn find_targets(&self, key: &DefinitionKey) -> Result<Vec<Target>, Error> {
        let q = self
            .query(
                "SELECT record, secrets_key_id, secrets_ciphertext FROM targets \
                 WHERE definition_key = $1 ORDER BY tenant, id",
            )
            .bind(key.as_str());
        self.fetch_all(q).await?.iter().map(target).collect()
    }
}

/// A connection from its row: the record, with the status columns (which
/// `set_connection_status` changes in place) taking precedence.
fn connection(row: &AnyRow) -> Result<Connection, Error> {
    let mut connection: Connection = record(row, "connection")?;
    connection.status = from_json(&get::<String>(row, "status")?, "connection status")?;
    connection.updated_at = Timestamp::from_unix_millis(get(row, "updated_at")?);
    Ok(connection)
}

const CONNECTION_COLUMNS: &str = "record, status, updated_at";

/// The `updated_at` of a status write at `$4`: `$4`, or one millisecond past the stored
/// one when `$4` is not after it (`Connection::touch`), so every write is a new revision
/// that `put_connection_if_unchanged` from an earlier read does not match.
const NEXT_REVISION: &str = "CASE WHEN updated_at < $4 THEN $4 ELSE updated_at + 1 END";

#[async_trait]
impl ConnectionStore for SqlStores {
    async fn get_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, Error> {
        let q = self
            .query(
                "SELECT record, status, updated_at FROM connections WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.fetch_optional(q)
            .await?
            .map(|row| connection(&row))
            .transpose()
    }

    async fn put_connection(&self, connection: &Connection) -> Result<(), Error> {
        let q = bind_connection(
            self.query(
                "INSERT INTO connections \
                 (tenant, id, definition_key, external_subject, endpoint_key, status, updated_at, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tenant, id) DO UPDATE SET \
                 definition_key = excluded.definition_key, \
                 external_subject = excluded.external_subject, \
                 endpoint_key = excluded.endpoint_key, status = excluded.status, \
                 updated_at = excluded.updated_at, record = excluded.record",
            ),
            connection,
        )?;
        self.affected(q).await.map(drop)
    }

    async fn put_connection_if_absent(&self, connection: &Connection) -> Result<bool, Error> {
        let q = bind_connection(
            self.query(
                "INSERT INTO connections \
                 (tenant, id, definition_key, external_subject, endpoint_key, status, updated_at, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tenant, id) DO NOTHING",
            ),
            connection,
        )?;
        Ok(self.affected(q).await? > 0)
    }

    async fn list_connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, Error> {
        let q = self
            .query(
                "SELECT record, status, updated_at FROM connections WHERE tenant = $1 ORDER BY id",
            )
            .bind(tenant.as_str());
        self.fetch_all(q).await?.iter().map(connection).collect()
    }

    async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<bool, Error> {
        let q = self
            .query("DELETE FROM connections WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.affected(q).await? > 0)
    }

    async fn find_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>, Error> {
        let (sql, value) = match (&query.external_subject, &query.endpoint_key) {
            (Some(subject), None) => (
                "SELECT record, status, updated_at FROM connections \
                 WHERE definition_key = $1 AND external_subject = $2 ORDER BY tenant, id",
                Some(subject),
            ),
            (None, Some(endpoint)) => (
                "SELECT record, status, updated_at FROM connections \
                 WHERE definition_key = $1 AND endpoint_key = $2 ORDER BY tenant, id",
                Some(endpoint),
            ),
            (None, None) => (
                "SELECT record, status, updated_at FROM connections \
                 WHERE definition_key = $1 ORDER BY tenant, id",
                None,
            ),
            (Some(subject), Some(endpoint)) => {
                let q = self
                    .query(
                        "SELECT record, status, updated_at FROM connections \
                         WHERE definition_key = $1 AND external_subject = $2 \
                         AND endpoint_key = $3 ORDER BY tenant, id",
                    )
                    .bind(query.key.as_str())
                    .bind(text("external subject", subject)?)
                    .bind(text("endpoint key", endpoint)?);
                return self.fetch_all(q).await?.iter().map(connection).collect();
            }
        };
        let mut q = self.query(sql).bind(query.key.as_str());
        if let Some(value) = value {
            q = q.bind(text("external subject or endpoint key", value)?);
        }
        self.fetch_all(q).await?.iter().map(connection).collect()
    }

    async fn set_connection_status(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        let sql = format!(
            "UPDATE connections SET status = $3, updated_at = {NEXT_REVISION} \
             WHERE tenant = $1 AND id = $2 RETURNING {CONNECTION_COLUMNS}"
        );
        let q = self
            .query(&sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(to_json(&status)?)
            .bind(ms(now));
        self.fetch_optional(q)
            .await?
            .map(|row| connection(&row))
            .transpose()
    }

    async fn put_connection_if_unchanged(
        &self,
        read: &Connection,
        connection: &Connection,
    ) -> Result<bool, Error> {
        // One statement: the revision is compared and the record written in one step.
        // Endpoint keys are never empty, so `COALESCE(.., '')` compares a missing one.
        let q = bind_connection(
            self.query(
                "UPDATE connections SET definition_key = $3, external_subject = $4, \
                 endpoint_key = $5, status = $6, updated_at = $7, record = $8 \
                 WHERE tenant = $1 AND id = $2 AND status = $9 AND updated_at = $10 \
                 AND COALESCE(endpoint_key, '') = $11",
            ),
            connection,
        )?
        .bind(to_json(&read.status)?)
        .bind(ms(read.updated_at))
        .bind(text(
            "endpoint key",
            read.endpoint_key.as_deref().unwrap_or_default(),
        )?);
        Ok(self.affected(q).await? > 0)
    }

    async fn set_connection_status_if(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        expected: &ConnectionStatus,
        status: ConnectionStatus,
        now: Timestamp,
    ) -> Result<Option<Connection>, Error> {
        // One statement: the status is compared and written in the same step.
        let sql = format!(
            "UPDATE connections SET status = $3, updated_at = {NEXT_REVISION} \
             WHERE tenant = $1 AND id = $2 AND status = $5 RETURNING {CONNECTION_COLUMNS}"
        );
        let q = self
            .query(&sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(to_json(&status)?)
            .bind(ms(now))
            .bind(to_json(expected)?);
        self.fetch_optional(q)
            .await?
            .map(|row| connection(&row))
            .transpose()
    }
}

#[async_trait]
impl CredentialStore for SqlStores {
    async fn load_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<CredentialSet>, Error> {
        // One statement: the version and the credentials come from one snapshot.
        let q = self
            .query(
                "SELECT s.version, c.credential_type, c.slot, c.key_id, c.ciphertext, \
                 c.expires_at, c.issued_at \
                 FROM credential_sets s LEFT JOIN credentials c \
                 ON c.tenant = s.tenant AND c.connection = s.connection \
                 WHERE s.tenant = $1 AND s.connection = $2 AND s.deleted = 0 \
                 ORDER BY c.position",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str());
        let rows = self.fetch_all(q).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let version = to_u64(get(first, "version")?)?;
        let mut credentials = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(credential_type) = get::<Option<String>>(row, "credential_type")? else {
                continue;
            };
            let credential_type =
                CredentialType::new(credential_type).map_err(|_| corrupt("credential type"))?;
            let value =
                sealed(row, "key_id", "ciphertext")?.ok_or_else(|| corrupt("credential"))?;
            let mut credential = Credential::new(
                credential_type,
                value,
                Timestamp::from_unix_millis(get(row, "issued_at")?),
            )
            .with_expiry(get::<Option<i64>>(row, "expires_at")?.map(Timestamp::from_unix_millis));
            if let Some(slot) = get::<Option<String>>(row, "slot")? {
                credential = credential.with_slot(slot);
            }
            credentials.push(credential);
        }
        Ok(Some(CredentialSet::new(
            tenant.clone(),
            connection.clone(),
            version,
            credentials,
        )))
    }

    async fn swap_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected_version: Option<u64>,
        credentials: Vec<Credential>,
    ) -> Result<u64, Error> {
        let expected = expected_version.map(to_i64).transpose()?;
        let written = match self.backend {
            Backend::Postgres => {
                self.swap_in_one_statement(tenant, connection, expected, &credentials)
                    .await?
            }
            Backend::Sqlite => {
                self.swap_in_a_transaction(tenant, connection, expected, &credentials)
                    .await?
            }
        };
        match written {
            Some(version) => to_u64(version),
            None => Err(version_conflict()),
        }
    }

    async fn delete_credentials(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<bool, Error> {
        let mut tx = self.begin().await?;
        // The set's row stays, marked deleted, with its version (see `swap_version_sql`).
        let existed = self
            .query(
                "UPDATE credential_sets SET deleted = 1 \
                 WHERE tenant = $1 AND connection = $2 AND deleted = 0",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::map)?
            .rows_affected()
            > 0;
        self.query("DELETE FROM credentials WHERE tenant = $1 AND connection = $2")
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::map)?;
        tx.commit().await.map_err(error::map)?;
        Ok(existed)
    }
}

/// The version step of a credential swap: bump the version read, or, when none is
/// stored, create version 1 or continue a deleted set's count. It writes a row (and
/// returns the new version) only when the expected version is current; a deleted set's
/// versions are never current.
fn swap_version_sql(expected: Option<i64>) -> &'static str {
    if expected.is_some() {
        "UPDATE credential_sets SET version = version + 1 \
         WHERE tenant = $1 AND connection = $2 AND version = $3 AND deleted = 0 \
         RETURNING version"
    } else {
        "INSERT INTO credential_sets (tenant, connection, version, deleted) \
         VALUES ($1, $2, 1, 0) \
         ON CONFLICT (tenant, connection) DO UPDATE \
         SET version = credential_sets.version + 1, deleted = 0 \
         WHERE credential_sets.deleted = 1 RETURNING version"
    }
}

const CREDENTIAL_COLUMNS: &str =
    "position, credential_type, slot, key_id, ciphertext, expires_at, issued_at";

/// `count` rows of credential values, numbered from `$first` (typed for PostgreSQL when
/// `typed`: a `VALUES` list in a `SELECT` has no target columns to infer types from).
fn credential_values(first: usize, count: usize, typed: bool) -> String {
    let casts = if typed {
        [
            "::BIGINT", "::TEXT", "::TEXT", "::TEXT", "::BYTEA", "::BIGINT", "::BIGINT",
        ]
    } else {
        [""; 7]
    };
    let mut sql = String::new();
    for row in 0..count {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (column, cast) in casts.iter().enumerate() {
            if column > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}{cast}", first + row * casts.len() + column);
        }
        sql.push(')');
    }
    sql
}

/// The SQL of a whole credential swap on PostgreSQL, as one statement: the version step,
/// then (only when it wrote) the rows past the new set deleted and the new set upserted
/// by position. The delete and the upsert touch disjoint rows, so their order within the
/// statement does not matter; a concurrent swap of the same connection waits on the
/// version row's lock and then finds another version, writing nothing.
pub(crate) fn postgres_swap_sql(expected: Option<i64>, count: usize) -> String {
    let first = if expected.is_some() { 5 } else { 4 };
    let delete_from = first - 1;
    let mut sql = format!(
        "WITH v AS ({}), \
         d AS (DELETE FROM credentials WHERE tenant = $1 AND connection = $2 \
         AND position >= ${delete_from} AND EXISTS (SELECT 1 FROM v))",
        swap_version_sql(expected)
    );
    if count > 0 {
        let _ = write!(
            sql,
            ", w AS (INSERT INTO credentials (tenant, connection, {CREDENTIAL_COLUMNS}) \
             SELECT $1, $2, {CREDENTIAL_COLUMNS} FROM v CROSS JOIN (VALUES {}) \
             AS c ({CREDENTIAL_COLUMNS}) \
             ON CONFLICT (tenant, connection, position) DO UPDATE SET \
             credential_type = excluded.credential_type, slot = excluded.slot, \
             key_id = excluded.key_id, ciphertext = excluded.ciphertext, \
             expires_at = excluded.expires_at, issued_at = excluded.issued_at)",
            credential_values(first, count, true)
        );
    }
    sql.push_str(" SELECT version FROM v");
    sql
}

/// Binds the credential values in [`credential_values`] order.
fn bind_credentials<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    credentials: &'q [Credential],
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, Error> {
    for (position, credential) in credentials.iter().enumerate() {
        q = q
            .bind(to_i64(position as u64)?)
            .bind(text(
                "credential type",
                credential.credential_type.as_str(),
            )?)
            .bind(opt_text("credential slot", credential.slot.as_deref())?)
            .bind(text("key id", credential.value.key_id())?)
            .bind(credential.value.ciphertext())
            .bind(credential.expires_at.map(ms))
            .bind(ms(credential.issued_at));
    }
    Ok(q)
}

impl SqlStores {
    /// PostgreSQL: the swap as one statement ([`postgres_swap_sql`]), one round trip.
    /// The version written, `None` when the version step wrote nothing.
    async fn swap_in_one_statement(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected: Option<i64>,
        credentials: &[Credential],
    ) -> Result<Option<i64>, Error> {
        let sql = postgres_swap_sql(expected, credentials.len());
        let mut q = self
            .query(&sql)
            .bind(tenant.as_str())
            .bind(connection.as_str());
        if let Some(expected) = expected {
            q = q.bind(expected);
        }
        let q = bind_credentials(q.bind(to_i64(credentials.len() as u64)?), credentials)?;
        self.fetch_optional(q)
            .await?
            .map(|row| get(&row, "version"))
            .transpose()
    }

    /// SQLite (whose `WITH` takes no `UPDATE` or `INSERT`): one `BEGIN IMMEDIATE`
    /// transaction holding the write lock from its start: the version step, then the rows
    /// replaced. The version written; `None`, with nothing written, when the version
    /// step wrote nothing.
    async fn swap_in_a_transaction(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        expected: Option<i64>,
        credentials: &[Credential],
    ) -> Result<Option<i64>, Error> {
        let mut tx = self.begin().await?;
        let mut q = self
            .query(swap_version_sql(expected))
            .bind(tenant.as_str())
            .bind(connection.as_str());
        if let Some(expected) = expected {
            q = q.bind(expected);
        }
        let Some(row) = q.fetch_optional(&mut *tx).await.map_err(error::map)? else {
            tx.rollback().await.map_err(error::map)?;
            return Ok(None);
        };
        let version: i64 = get(&row, "version")?;
        self.query("DELETE FROM credentials WHERE tenant = $1 AND connection = $2")
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::map)?;
        if !credentials.is_empty() {
            let sql = format!(
                "INSERT INTO credentials (tenant, connection, {CREDENTIAL_COLUMNS}) \
                 SELECT $1, $2, * FROM (VALUES {})",
                credential_values(3, credentials.len(), false)
            );
            let q = self
                .query(&sql)
                .bind(tenant.as_str())
                .bind(connection.as_str());
            bind_credentials(q, credentials)?
                .execute(&mut *tx)
                .await
                .map_err(error::map)?;
        }
        tx.commit().await.map_err(error::map)?;
        Ok(Some(version))
    }
}

#[async_trait]
impl BindingStore for SqlStores {
    async fn get_binding(
        &self,
        tenant: &TenantId,
        id: &BindingId,
    ) -> Result<Option<Binding>, Error> {
        let q = self
            .query("SELECT record FROM bindings WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.fetch_optional(q)
            .await?
            .map(|row| record(&row, "binding"))
            .transpose()
    }

    async fn put_binding(&self, binding: &Binding) -> Result<(), Error> {
        let q = self
            .query(
                "INSERT INTO bindings (tenant, id, profile, profile_version, record) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, id) DO UPDATE SET \
                 profile = excluded.profile, profile_version = excluded.profile_version, \
                 record = excluded.record",
            )
            .bind(binding.tenant.as_str())
            .bind(binding.id.as_str())
            .bind(binding.profile.as_str())
            .bind(to_i64(binding.profile_version)?)
            .bind(to_json(binding)?);
        self.affected(q).await.map(drop)
    }

    async fn list_bindings(
        &self,
        tenant: &TenantId,
        profile: &ProfileVersion,
    ) -> Result<Vec<Binding>, Error> {
        let q = self
            .query(
                "SELECT record FROM bindings WHERE tenant = $1 AND profile = $2 \
                 AND profile_version = $3 ORDER BY id",
            )
            .bind(tenant.as_str())
            .bind(profile.profile.as_str())
            .bind(to_i64(profile.version)?);
        records(&self.fetch_all(q).await?, "binding")
    }

    async fn delete_binding(&self, tenant: &TenantId, id: &BindingId) -> Result<bool, Error> {
        let q = self
            .query("DELETE FROM bindings WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.affected(q).await? > 0)
    }
}

#[async_trait]
impl OAuthStateStore for SqlStores {
    async fn put_oauth_state(&self, pending: &PendingAuthorization) -> Result<(), Error> {
        // The PKCE verifier is kept only in the sealed columns.
        let mut without_secret = pending.clone();
        without_secret.pkce_verifier = None;
        let q = self
            .query(
                "INSERT INTO oauth_states (tenant, state_digest, expires_at, pkce_key_id, \
                 pkce_ciphertext, record) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(pending.tenant.as_str())
            .bind(text("state digest", &pending.state_digest)?)
            .bind(ms(pending.expires_at))
            .bind(opt_text(
                "key id",
                pending.pkce_verifier.as_ref().map(Sealed::key_id),
            )?)
            .bind(pending.pkce_verifier.as_ref().map(Sealed::ciphertext))
            .bind(to_json(&without_secret)?);
        q.execute(&self.pool).await.map_err(|e| {
            map_duplicate(
                e,
                integrations_core::codes::store::DUPLICATE_STATE,
                "a pending authorization with this state already exists",
            )
        })?;
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        state_digest: &str,
        now: Timestamp,
    ) -> Result<Option<PendingAuthorization>, Error> {
        let q = self
            .query(
                "DELETE FROM oauth_states WHERE state_digest = $1 \
                 RETURNING record, pkce_key_id, pkce_ciphertext, expires_at",
            )
            .bind(text("state digest", state_digest)?);
        let Some(row) = live(self.fetch_optional(q).await?, now)? else {
            return Ok(None);
        };
        let mut pending: PendingAuthorization = record(&row, "pending authorization")?;
        pending.pkce_verifier = sealed(&row, "pkce_key_id", "pkce_ciphertext")?;
        Ok(Some(pending))
    }

    async fn purge_oauth_states(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let q = self
            .query("DELETE FROM oauth_states WHERE expires_at <= $1")
            .bind(ms(expired_by));
        self.affected(q).await
    }
}

#[async_trait]
impl WebhookEventStore for SqlStores {
    async fn record_event_if_new(&self, event: &WebhookEvent) -> Result<bool, Error> {
        let q = self
            .query(
                "INSERT INTO webhook_events (tenant, definition_key, external_event_id, \
                 received_at, record, delivered) VALUES ($1, $2, $3, $4, $5, 0) \
                 ON CONFLICT (tenant, definition_key, external_event_id) DO NOTHING",
            )
            .bind(event.tenant.as_str())
            .bind(event.key.as_str())
            .bind(text("external event id", &event.external_event_id)?)
            .bind(ms(event.received_at))
            .bind(to_json(event)?);
        Ok(self.affected(q).await? == 1)
    }

    async fn forget_event(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<bool, Error> {
        let q = self
            .query(
                "DELETE FROM webhook_events WHERE tenant = $1 AND definition_key = $2 \
                 AND external_event_id = $3",
            )
            .bind(tenant.as_str())
            .bind(key.as_str())
            .bind(text("external event id", external_event_id)?);
        Ok(self.affected(q).await? > 0)
    }

    async fn mark_event_delivered(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<(), Error> {
        let q = self
            .query(
                "UPDATE webhook_events SET delivered = 1 WHERE tenant = $1 \
                 AND definition_key = $2 AND external_event_id = $3",
            )
            .bind(tenant.as_str())
            .bind(key.as_str())
            .bind(text("external event id", external_event_id)?);
        self.affected(q).await.map(drop)
    }

    async fn event_delivery(
        &self,
        tenant: &TenantId,
        key: &DefinitionKey,
        external_event_id: &str,
    ) -> Result<Option<EventDelivery>, Error> {
        let q = self
            .query(
                "SELECT received_at, delivered FROM webhook_events WHERE tenant = $1 \
                 AND definition_key = $2 AND external_event_id = $3",
            )
            .bind(tenant.as_str())
            .bind(key.as_str())
            .bind(text("external event id", external_event_id)?);
        let Some(row) = self.fetch_optional(q).await? else {
            return Ok(None);
        };
        let delivered: i64 = get(&row, "delivered")?;
        Ok(Some(if delivered == 0 {
            EventDelivery::InProgress {
                since: Timestamp::from_unix_millis(get(&row, "received_at")?),
            }
        } else {
            EventDelivery::Delivered
        }))
    }

    async fn release_event(&self, event: &WebhookEvent) -> Result<bool, Error> {
        let q = self
            .query(
                "DELETE FROM webhook_events WHERE tenant = $1 AND definition_key = $2 \
                 AND external_event_id = $3 AND received_at = $4",
            )
            .bind(event.tenant.as_str())
            .bind(event.key.as_str())
            .bind(text("external event id", &event.external_event_id)?)
            .bind(ms(event.received_at));
        Ok(self.affected(q).await? > 0)
    }

    async fn take_over_event(
        &self,
        event: &WebhookEvent,
        stalled_by: Timestamp,
    ) -> Result<bool, Error> {
        // One conditional statement: of concurrent takeovers, the first to update the
        // row moves its `received_at` past `stalled_by`, so the others match nothing
        // (PostgreSQL re-reads the row a blocked update waited for).
        let q = self
            .query(
                "UPDATE webhook_events SET received_at = $4, record = $5 WHERE tenant = $1 \
                 AND definition_key = $2 AND external_event_id = $3 AND delivered = 0 \
                 AND received_at <= $6",
            )
            .bind(event.tenant.as_str())
            .bind(event.key.as_str())
            .bind(text("external event id", &event.external_event_id)?)
            .bind(ms(event.received_at))
            .bind(to_json(event)?)
            .bind(ms(stalled_by));
        Ok(self.affected(q).await? == 1)
    }

    async fn purge_events(&self, received_by: Timestamp) -> Result<u64, Error> {
        let q = self
            .query("DELETE FROM webhook_events WHERE received_at <= $1")
            .bind(ms(received_by));
        self.affected(q).await
    }
}

#[async_trait]
impl PublicationStore for SqlStores {
    async fn get_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<Option<Publication>, Error> {
        let q = self
            .query("SELECT record FROM publications WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.fetch_optional(q)
            .await?
            .map(|row| record(&row, "publication"))
            .transpose()
    }

    async fn put_publication(&self, publication: &Publication) -> Result<(), Error> {
        let q = self
            .query(
                "INSERT INTO publications (tenant, id, connection, record) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, id) DO UPDATE SET \
                 connection = excluded.connection, record = excluded.record",
            )
            .bind(publication.tenant.as_str())
            .bind(publication.id.as_str())
            .bind(publication.connection.as_str())
            .bind(to_json(publication)?);
        self.affected(q).await.map(drop)
    }

    async fn list_publications(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<Publication>, Error> {
        let q = self
            .query(
                "SELECT record FROM publications WHERE tenant = $1 AND connection = $2 \
                 ORDER BY id",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str());
        records(&self.fetch_all(q).await?, "publication")
    }

    async fn delete_publication(
        &self,
        tenant: &TenantId,
        id: &PublicationId,
    ) -> Result<bool, Error> {
        let q = self
            .query("DELETE FROM publications WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.affected(q).await? > 0)
    }
}

#[async_trait]
impl CheckpointStore for SqlStores {
    async fn load_checkpoint(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
    ) -> Result<Option<SyncCheckpoint>, Error> {
        let q = self
            .query(
                "SELECT record FROM checkpoints WHERE tenant = $1 AND connection = $2 \
                 AND stream = $3",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .bind(text("stream name", stream)?);
        self.fetch_optional(q)
            .await?
            .map(|row| record(&row, "checkpoint"))
            .transpose()
    }

    async fn save_checkpoint(&self, checkpoint: &SyncCheckpoint) -> Result<u64, Error> {
        text("stream name", &checkpoint.stream)?;
        let version = checkpoint
            .version
            .checked_add(1)
            .ok_or_else(error::too_large)?;
        let mut saved = checkpoint.clone();
        saved.version = version;
        let sql = if checkpoint.version == 0 {
            "INSERT INTO checkpoints (tenant, connection, stream, version, record) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, connection, stream) DO NOTHING"
        } else {
            "UPDATE checkpoints SET version = $4, record = $5 \
             WHERE tenant = $1 AND connection = $2 AND stream = $3 AND version = $6"
        };
        let q = self
            .query(sql)
            .bind(checkpoint.tenant.as_str())
            .bind(checkpoint.connection.as_str())
            .bind(checkpoint.stream.as_str())
            .bind(to_i64(version)?)
            .bind(to_json(&saved)?);
        let q = if checkpoint.version == 0 {
            q
        } else {
            q.bind(to_i64(checkpoint.version)?)
        };
        if self.affected(q).await? == 1 {
            Ok(version)
        } else {
            Err(version_conflict())
        }
    }

    async fn acquire_sync_lease(&self, lease: &SyncLease, now: Timestamp) -> Result<bool, Error> {
        // One statement, so two runners racing cannot both win: the upsert only replaces
        // the holder's own lease or an expired one.
        let q = self
            .query(
                "INSERT INTO sync_leases (tenant, connection, stream, holder, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant, connection, stream) DO UPDATE \
                 SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE sync_leases.holder = excluded.holder OR sync_leases.expires_at <= $6",
            )
            .bind(lease.tenant.as_str())
            .bind(lease.connection.as_str())
            .bind(text("stream name", &lease.stream)?)
            .bind(text("lease holder", &lease.holder)?)
            .bind(ms(lease.expires_at))
            .bind(ms(now));
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_checkpoints(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        let q = self
            .query("DELETE FROM checkpoints WHERE tenant = $1 AND connection = $2")
            .bind(tenant.as_str())
            .bind(connection.as_str());
        Ok(usize::try_from(self.affected(q).await?).unwrap_or(usize::MAX))
    }

    async fn release_sync_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stream: &str,
        holder: &str,
    ) -> Result<bool, Error> {
        let q = self
            .query(
                "DELETE FROM sync_leases WHERE tenant = $1 AND connection = $2 \
                 AND stream = $3 AND holder = $4",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .bind(text("stream name", stream)?)
            .bind(text("lease holder", holder)?);
        Ok(self.affected(q).await? > 0)
    }
}

#[async_trait]
impl ApprovalStore for SqlStores {
    async fn put_approval(&self, request: &ApprovalRequest) -> Result<(), Error> {
        let q = self
            .query(
                "INSERT INTO approvals (tenant, id, expires_at, connection, record) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(request.tenant.as_str())
            .bind(request.id.as_str())
            .bind(ms(request.expires_at))
            .bind(request.context.connection.as_str())
            .bind(to_json(request)?);
        q.execute(&self.pool).await.map_err(|e| {
            map_duplicate(
                e,
                integrations_core::codes::store::DUPLICATE_APPROVAL,
                "an approval request with this id already exists",
            )
        })?;
        Ok(())
    }

    async fn take_approval(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalRequest>, Error> {
        let q = self
            .query(
                "DELETE FROM approvals WHERE tenant = $1 AND id = $2 \
                 RETURNING record, expires_at",
            )
            .bind(tenant.as_str())
            .bind(id.as_str());
        live(self.fetch_optional(q).await?, now)?
            .map(|row| record(&row, "approval request"))
            .transpose()
    }

    async fn purge_approvals(&self, expired_by: Timestamp) -> Result<u64, Error> {
        // One transaction: a failure deletes nothing, as the trait says. The calls
        // first, as `delete_approvals` takes them: two transactions locking the two
        // tables in opposite orders deadlock on PostgreSQL.
        let mut tx = self.begin().await?;
        let calls = self
            .query("DELETE FROM approval_calls WHERE expires_at <= $1")
            .bind(ms(expired_by))
            .execute(&mut *tx)
            .await
            .map_err(error::map)?
            .rows_affected();
        let requests = self
            .query("DELETE FROM approvals WHERE expires_at <= $1")
            .bind(ms(expired_by))
            .execute(&mut *tx)
            .await
            .map_err(error::map)?
            .rows_affected();
        tx.commit().await.map_err(error::map)?;
        Ok(requests + calls)
    }

    async fn delete_approvals(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<usize, Error> {
        // One transaction: a request never outlives its call record, or the reverse.
        let mut tx = self.begin().await?;
        self.query("DELETE FROM approval_calls WHERE tenant = $1 AND connection = $2")
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::map)?;
        let deleted = self
            .query("DELETE FROM approvals WHERE tenant = $1 AND connection = $2")
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::map)?
            .rows_affected();
        tx.commit().await.map_err(error::map)?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    async fn put_approval_call(
        &self,
        call: &ApprovalCall,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let key = text("approval call key", &call.key)?;
        let session = &call.request.context.session;
        // An expired record of the key gives way; a live one answers instead.
        for _ in 0..3 {
            let q = self
                .query(
                    "DELETE FROM approval_calls WHERE tenant = $1 AND key = $2 AND expires_at <= $3",
                )
                .bind(call.tenant.as_str())
                .bind(key)
                .bind(ms(now));
            self.affected(q).await?;
            let q = self
                .query(
                    "INSERT INTO approval_calls (tenant, key, approval, connection, stage, \
                     expires_at, result_key_id, result_ciphertext, record, workspace, \
                     principal_user) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (tenant, key) DO NOTHING",
                )
                .bind(call.tenant.as_str())
                .bind(key)
                .bind(call.request.id.as_str())
                .bind(call.request.context.connection.as_str())
                .bind(call.stage.as_str())
                .bind(ms(call.expires_at))
                .bind(opt_text(
                    "key id",
                    call.result.as_ref().map(Sealed::key_id),
                )?)
                .bind(call.result.as_ref().map(Sealed::ciphertext))
                .bind(call_record(call)?)
                .bind(session.workspace.as_str())
                .bind(session.user.as_ref().map_or("", UserId::as_str));
            let inserted = q.execute(&self.pool).await.map_err(|e| {
                map_duplicate(
                    e,
                    integrations_core::codes::store::DUPLICATE_APPROVAL,
                    "another call waits in this approval request",
                )
            })?;
            if inserted.rows_affected() > 0 {
                return Ok(None);
            }
            if let Some(live) = self.get_approval_call(&call.tenant, key, now).await? {
                return Ok(Some(live));
            }
            // The live one expired or was taken in between: try again.
        }
        Err(integrations_core::codes::store::VERSION_CONFLICT
            .error("the approval call kept changing while it was stored; retry"))
    }

    async fn get_approval_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let key = text("approval call key", key)?;
        self.approval_call_by(ByCall::Key, tenant, key, now).await
    }

    async fn find_approval_call(
        &self,
        tenant: &TenantId,
        approval: &ApprovalId,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        self.approval_call_by(ByCall::Approval, tenant, approval.as_str(), now)
            .await
    }

    async fn list_approval_calls(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<ApprovalCall>, Error> {
        let q = self
            .query(
                "SELECT record, result_key_id, result_ciphertext FROM approval_calls \
                 WHERE tenant = $1 AND expires_at > $2 ORDER BY key",
            )
            .bind(tenant.as_str())
            .bind(ms(now));
        self.fetch_all(q).await?.iter().map(approval_call).collect()
    }

    async fn count_pending_approval_calls(
        &self,
        tenant: &TenantId,
        workspace: &WorkspaceId,
        user: Option<&UserId>,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let q = self
            .query(
                "SELECT COUNT(*) AS pending FROM approval_calls WHERE tenant = $1 \
                 AND workspace = $2 AND principal_user = $3 AND stage = $4 \
                 AND expires_at > $5",
            )
            .bind(tenant.as_str())
            .bind(workspace.as_str())
            .bind(user.map_or("", UserId::as_str))
            .bind(ApprovalStage::Pending.as_str())
            .bind(ms(now));
        let row = q.fetch_one(&self.pool).await.map_err(error::map)?;
        let pending: i64 = get(&row, "pending")?;
        Ok(u64::try_from(pending).unwrap_or(0))
    }

    async fn update_approval_call(
        &self,
        call: &ApprovalCall,
        from: ApprovalStage,
    ) -> Result<bool, Error> {
        let q = self
            .query(
                "UPDATE approval_calls SET stage = $1, expires_at = $2, result_key_id = $3, \
                 result_ciphertext = $4, record = $5 \
                 WHERE tenant = $6 AND key = $7 AND approval = $8 AND stage = $9",
            )
            .bind(call.stage.as_str())
            .bind(ms(call.expires_at))
            .bind(opt_text(
                "key id",
                call.result.as_ref().map(Sealed::key_id),
            )?)
            .bind(call.result.as_ref().map(Sealed::ciphertext))
            .bind(call_record(call)?)
            .bind(call.tenant.as_str())
            .bind(text("approval call key", &call.key)?)
            .bind(call.request.id.as_str())
            .bind(from.as_str());
        Ok(self.affected(q).await? > 0)
    }

    async fn take_answered_call(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let q = self
            .query(
                "DELETE FROM approval_calls WHERE tenant = $1 AND key = $2 \
                 AND stage IN ('settled', 'denied') \
                 RETURNING record, result_key_id, result_ciphertext, expires_at",
            )
            .bind(tenant.as_str())
            .bind(text("approval call key", key)?);
        live(self.fetch_optional(q).await?, now)?
            .map(|row| approval_call(&row))
            .transpose()
    }
}

/// The column an approval call is looked up by.
#[derive(Clone, Copy)]
enum ByCall {
    /// The call's key.
    Key,
    /// The request it waits in.
    Approval,
}

impl SqlStores {
    /// The live approval call of `tenant` whose `by` column is `value`.
    async fn approval_call_by(
        &self,
        by: ByCall,
        tenant: &TenantId,
        value: &str,
        now: Timestamp,
    ) -> Result<Option<ApprovalCall>, Error> {
        let sql = match by {
            ByCall::Key => {
                "SELECT record, result_key_id, result_ciphertext FROM approval_calls \
                 WHERE tenant = $1 AND key = $2 AND expires_at > $3"
            }
            ByCall::Approval => {
                "SELECT record, result_key_id, result_ciphertext FROM approval_calls \
                 WHERE tenant = $1 AND approval = $2 AND expires_at > $3"
            }
        };
        let q = self
            .query(sql)
            .bind(tenant.as_str())
            .bind(value)
            .bind(ms(now));
        self.fetch_optional(q)
            .await?
            .map(|row| approval_call(&row))
            .transpose()
    }
}

/// An approval call's record: its JSON without the result, which has columns of its own.
fn call_record(call: &ApprovalCall) -> Result<String, Error> {
    let mut body = call.clone();
    body.result = None;
    to_json(&body)
}

fn approval_call(row: &AnyRow) -> Result<ApprovalCall, Error> {
    let mut call: ApprovalCall = record(row, "approval call")?;
    call.result = sealed(row, "result_key_id", "result_ciphertext")?;
    Ok(call)
}

#[async_trait]
impl ContinuationStore for SqlStores {
    async fn put_continuation(&self, pending: &PendingContinuation) -> Result<(), Error> {
        // The sealed pages are kept only in their own columns.
        let mut body = pending.clone();
        body.pages = Sealed::new("", Vec::new());
        let q = self
            .query(
                "INSERT INTO continuations (tenant, id, expires_at, pages_key_id, \
                 pages_ciphertext, record) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(pending.tenant.as_str())
            .bind(text("continuation id", &pending.id)?)
            .bind(ms(pending.expires_at))
            .bind(text("key id", pending.pages.key_id())?)
            .bind(pending.pages.ciphertext())
            .bind(to_json(&body)?);
        q.execute(&self.pool).await.map_err(|e| {
            map_duplicate(
                e,
                integrations_core::codes::store::DUPLICATE_CONTINUATION,
                "a continuation with this id already exists",
            )
        })?;
        Ok(())
    }

    async fn take_continuation(
        &self,
        tenant: &TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<PendingContinuation>, Error> {
        let q = self
            .query(
                "DELETE FROM continuations WHERE tenant = $1 AND id = $2 \
                 RETURNING pages_key_id, pages_ciphertext, record, expires_at",
            )
            .bind(tenant.as_str())
            .bind(text("continuation id", id)?);
        let Some(row) = live(self.fetch_optional(q).await?, now)? else {
            return Ok(None);
        };
        let mut pending: PendingContinuation = record(&row, "continuation")?;
        pending.pages = sealed(&row, "pages_key_id", "pages_ciphertext")?
            .ok_or_else(|| corrupt("continuation"))?;
        Ok(Some(pending))
    }

    async fn purge_continuations(&self, expired_by: Timestamp) -> Result<u64, Error> {
        let q = self
            .query("DELETE FROM continuations WHERE expires_at <= $1")
            .bind(ms(expired_by));
        self.affected(q).await
    }
}
