//! The checks. Each returns the first problem it finds.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use integrations_core::host::{ConnectionQuery, EventDelivery, Retention, Stores, purge_expired};
use integrations_core::model::{Connection, ConnectionStatus, Credential, Target};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{ConnectionId, Error, ErrorKind, TargetId, TenantId, Timestamp};
use serde::Serialize;

use super::StoreCheck;
use super::records::{self as r, at, old};

pub(super) type Outcome = Result<(), String>;

/// The tenants and names of one check, unique per run.
pub(super) struct Scope {
    prefix: String,
}

impl Scope {
    pub(super) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// Tenant `name` of this check.
    pub(super) fn tenant(&self, name: &str) -> TenantId {
        r::tenant(&format!("{}-{name}", self.prefix))
    }

    /// A name unique to this check (state digests, event ids).
    pub(super) fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }
}

pub(super) async fn run(
    check: StoreCheck,
    stores: &Arc<dyn Stores>,
    scope: &Scope,
    tasks: usize,
) -> Outcome {
    let s = &**stores;
    match check {
        StoreCheck::RoundTrips => round_trips(s, scope).await,
        StoreCheck::Listing => listing(s, scope).await,
        StoreCheck::ConnectionStatus => connection_status(s, scope).await,
        StoreCheck::CredentialCas => credential_cas(s, scope).await,
        StoreCheck::CheckpointCas => checkpoint_cas(s, scope).await,
        StoreCheck::TakeOnce => take_once(s, scope).await,
        StoreCheck::WebhookDedup => webhook_dedup(s, scope).await,
        StoreCheck::Concurrency => concurrency(stores, scope, tasks).await,
        StoreCheck::TenantIsolation => tenant_isolation(s, scope).await,
        StoreCheck::Purge => purge(s, scope).await,
        StoreCheck::SyncLeases => super::sync_leases::sync_leases(stores, scope, tasks).await,
        StoreCheck::NulText => super::nul_text::nul_text(s, scope).await,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The value of a store call, or the problem "`what` failed".
pub(super) fn ok<T>(result: Result<T, Error>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what} failed: {} ({})", e.code(), e.message()))
}

/// Compares as JSON, so that records without `PartialEq` compare too.
fn same<T: Serialize + Debug>(got: &T, want: &T, what: &str) -> Outcome {
    let g = serde_json::to_value(got).map_err(|e| e.to_string())?;
    let w = serde_json::to_value(want).map_err(|e| e.to_string())?;
    ensure!(
        g == w,
        "{what} read back differently:\n got  {g}\n want {w}"
    );
    Ok(())
}

fn is_version_conflict<T: Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(e) if e.kind() == ErrorKind::Conflict && e.code() == "store.version_conflict")
}

fn is_conflict<T: Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(e) if e.kind() == ErrorKind::Conflict)
}

/// `get_target_shared`'s answer; a store that also answers `get_target_now` must give the
/// same one there.
async fn target_shared(
    s: &dyn Stores,
    tenant: &TenantId,
    id: &TargetId,
) -> Result<Option<Arc<Target>>, String> {
    let shared = ok(s.get_target_shared(tenant, id).await, "get_target_shared")?;
    if let Some(now) = s.get_target_now(tenant, id) {
        let now = ok(now, "get_target_now")?;
        same(
            &now.as_deref(),
            &shared.as_deref(),
            "get_target_now beside get_target_shared",
        )?;
    }
    Ok(shared)
}

/// `get_connection_shared`'s answer; a store that also answers `get_connection_now` must
/// give the same one there.
async fn connection_shared(
    s: &dyn Stores,
    tenant: &TenantId,
    id: &ConnectionId,
) -> Result<Option<Arc<Connection>>, String> {
    let shared = ok(
        s.get_connection_shared(tenant, id).await,
        "get_connection_shared",
    )?;
    if let Some(now) = s.get_connection_now(tenant, id) {
        let now = ok(now, "get_connection_now")?;
        same(
            &now.as_deref(),
            &shared.as_deref(),
            "get_connection_now beside get_connection_shared",
        )?;
    }
    Ok(shared)
}

/// `get_target_shared` reads `target` (stored) back, and after a rewrite reads the new
/// record while a shared copy taken before keeps the old one.
async fn shared_target_reads(s: &dyn Stores, target: &Target) -> Outcome {
    let (t, id) = (&target.tenant, &target.id);
    let before = target_shared(s, t, id).await?;
    same(&before.as_deref(), &Some(target), "a target read shared")?;
    let mut changed = target.clone();
    changed.enabled = !target.enabled;
    changed.updated_at = at(50);
    ok(s.put_target(&changed).await, "put_target")?;
    let after = target_shared(s, t, id).await?;
    same(
        &after.as_deref(),
        &Some(&changed),
        "a rewritten target read shared",
    )?;
    same(
        &before.as_deref(),
        &Some(target),
        "a target read shared before a rewrite (a store must replace a shared record, not edit it)",
    )?;
    ok(s.put_target(target).await, "put_target")
}

async fn round_trips(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    for full in [true, false] {
        let suffix = if full { "full" } else { "bare" };

        let target = r::target(&t, &format!("t-{suffix}"), full);
        ok(s.put_target(&target).await, "put_target")?;
        let got = ok(s.get_target(&t, &target.id).await, "get_target")?;
        same(&got, &Some(target.clone()), "a target")?;
        shared_target_reads(s, &target).await?;

        let connection = r::connection(&t, &format!("c-{suffix}"), full);
        ok(s.put_connection(&connection).await, "put_connection")?;
        let got = ok(s.get_connection(&t, &connection.id).await, "get_connection")?;
        same(&got, &Some(connection.clone()), "a connection")?;
        let shared = connection_shared(s, &t, &connection.id).await?;
        same(
            &shared.as_deref(),
            &Some(&connection),
            "a connection read shared",
        )?;

        let credentials = if full {
            r::credentials(suffix)
        } else {
            Vec::new()
        };
        let version = ok(
            s.swap_credentials(&t, &connection.id, None, credentials.clone())
                .await,
            "swap_credentials",
        )?;
        ensure!(
            version == 1,
            "the first credential swap returned version {version}, not 1"
        );
        let got = ok(
            s.load_credentials(&t, &connection.id).await,
            "load_credentials",
        )?
        .ok_or("stored credentials were not found")?;
        ensure!(
            got.version == 1,
            "stored credentials have version {}, not 1",
            got.version
        );
        ensure!(
            got.tenant == t && got.connection == connection.id,
            "credentials came back under another tenant or connection"
        );
        same(&got.credentials, &credentials, "a credential set")?;

        let binding = r::binding(&t, &format!("b-{suffix}"), 3, full);
        ok(s.put_binding(&binding).await, "put_binding")?;
        same(
            &ok(s.get_binding(&t, &binding.id).await, "get_binding")?,
            &Some(binding),
            "a binding",
        )?;

        let pending = r::oauth_state(&t, &scope.name(suffix), at(600), full);
        ok(s.put_oauth_state(&pending).await, "put_oauth_state")?;
        let got = ok(
            s.take_oauth_state(&pending.state_digest, at(0)).await,
            "take_oauth_state",
        )?;
        same(&got, &Some(pending), "a pending authorization")?;

        let event = r::event(&t, &scope.name(suffix), at(0), full);
        ensure!(
            ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
            "a new event was not recorded as new"
        );

        let publication = r::publication(&t, &format!("p-{suffix}"), "c1", full);
        ok(s.put_publication(&publication).await, "put_publication")?;
        same(
            &ok(
                s.get_publication(&t, &publication.id).await,
                "get_publication",
            )?,
            &Some(publication),
            "a publication",
        )?;

        let checkpoint = r::checkpoint(&t, suffix, full);
        let v = ok(s.save_checkpoint(&checkpoint).await, "save_checkpoint")?;
        ensure!(
            v == 1,
            "the first checkpoint save returned version {v}, not 1"
        );
        let mut want = checkpoint.clone();
        want.version = 1;
        same(
            &ok(
                s.load_checkpoint(&t, &checkpoint.connection, suffix).await,
                "load_checkpoint",
            )?,
            &Some(want),
            "a checkpoint",
        )?;

        let approval = r::approval(&t, &format!("ap-{suffix}"), Duration::from_secs(600), full);
        ok(s.put_approval(&approval).await, "put_approval")?;
        same(
            &ok(
                s.take_approval(&t, &approval.id, at(0)).await,
                "take_approval",
            )?,
            &Some(approval),
            "an approval request",
        )?;

        let continuation = r::continuation(&t, &scope.name(suffix), at(0), at(600));
        ok(s.put_continuation(&continuation).await, "put_continuation")?;
        same(
            &ok(
                s.take_continuation(&t, &continuation.id, at(0)).await,
                "take_continuation",
            )?,
            &Some(continuation),
            "a continuation",
        )?;
    }
    let missing_target = target_shared(s, &t, &r::target_id("absent")).await?;
    ensure!(
        missing_target.is_none(),
        "a target never stored was read shared"
    );
    let missing_connection = connection_shared(s, &t, &r::connection_id("absent")).await?;
    ensure!(
        missing_connection.is_none(),
        "a connection never stored was read shared"
    );
    Ok(())
}

async fn listing(s: &dyn Stores, scope: &Scope) -> Outcome {
    let a = scope.tenant("a");
    let b = scope.tenant("b");
    // Put out of order; byte order decides ("B" < "a" < "b").
    for id in ["b", "a", "B"] {
        ok(s.put_target(&r::target(&a, id, false)).await, "put_target")?;
    }
    let replaced = r::target(&a, "a", true);
    ok(s.put_target(&replaced).await, "put_target (replace)")?;
    let ids: Vec<String> = ok(s.list_targets(&a).await, "list_targets")?
        .iter()
        .map(|t| t.id.as_str().to_owned())
        .collect();
    ensure!(
        ids == ["B", "a", "b"],
        "list_targets returned {ids:?}, want [\"B\", \"a\", \"b\"] (byte order, no duplicates)"
    );
    same(
        &ok(s.get_target(&a, &replaced.id).await, "get_target")?,
        &Some(replaced.clone()),
        "a replaced target",
    )?;
    ensure!(
        ok(s.delete_target(&a, &replaced.id).await, "delete_target")?,
        "delete_target of a stored target returned false"
    );
    ensure!(
        !ok(s.delete_target(&a, &replaced.id).await, "delete_target")?,
        "delete_target of a deleted target returned true"
    );
    ensure!(
        ok(s.get_target(&a, &replaced.id).await, "get_target")?.is_none(),
        "a deleted target is still there"
    );

    for (tenant, id) in [(&b, "c2"), (&a, "c2"), (&a, "c1")] {
        ok(
            s.put_connection(&r::connection(tenant, id, true)).await,
            "put_connection",
        )?;
    }
    ok(
        s.put_connection(&r::connection(&a, "c3", false)).await,
        "put_connection",
    )?;
    let ids: Vec<String> = ok(s.list_connections(&a).await, "list_connections")?
        .iter()
        .map(|c| c.id.as_str().to_owned())
        .collect();
    ensure!(
        ids == ["c1", "c2", "c3"],
        "list_connections returned {ids:?}"
    );
    // Routing: across tenants, in (tenant, id) order. The subject and endpoint are
    // this check's own, so other records in the database do not match.
    let subject = scope.name("installation");
    for (tenant, id) in [(&b, "c2"), (&a, "c2"), (&a, "c1")] {
        let mut c = r::connection(tenant, id, true);
        c.external_subject = Some(subject.clone());
        c.endpoint_key = Some(scope.name("endpoint"));
        ok(s.put_connection(&c).await, "put_connection")?;
    }
    let found: Vec<(String, String)> = ok(
        s.find_connections(&ConnectionQuery::by_subject(r::key(), subject.clone()))
            .await,
        "find_connections",
    )?
    .iter()
    .map(|c| (c.tenant.as_str().to_owned(), c.id.as_str().to_owned()))
    .collect();
    let want = vec![
        (a.as_str().to_owned(), "c1".to_owned()),
        (a.as_str().to_owned(), "c2".to_owned()),
        (b.as_str().to_owned(), "c2".to_owned()),
    ];
    ensure!(
        found == want,
        "find_connections by subject returned {found:?}, want {want:?}"
    );
    let by_endpoint = ok(
        s.find_connections(&ConnectionQuery::by_endpoint(
            r::key(),
            scope.name("endpoint"),
        ))
        .await,
        "find_connections",
    )?;
    ensure!(
        by_endpoint.len() == 3,
        "find_connections by endpoint found {} connections, want 3",
        by_endpoint.len()
    );
    // Both filters at once: each must hold.
    let mut both = ConnectionQuery::by_subject(r::key(), subject.clone());
    both.endpoint_key = Some(scope.name("endpoint"));
    let found = ok(s.find_connections(&both).await, "find_connections")?.len();
    ensure!(
        found == 3,
        "find_connections by subject and endpoint found {found} connections, want 3"
    );
    both.endpoint_key = Some(scope.name("another-endpoint"));
    let found = ok(s.find_connections(&both).await, "find_connections")?.len();
    ensure!(
        found == 0,
        "find_connections by subject and another endpoint found {found} connections, want none"
    );
    let other_key = ConnectionQuery::by_subject(
        integrations_core::DefinitionKey::new("linear", "linear").map_err(|e| e.to_string())?,
        subject,
    );
    ensure!(
        ok(s.find_connections(&other_key).await, "find_connections")?.is_empty(),
        "find_connections matched another definition key"
    );
    ensure!(
        ok(
            s.delete_connection(&a, &r::connection_id("c3")).await,
            "delete_connection"
        )?,
        "delete_connection returned false"
    );
    ensure!(
        !ok(
            s.delete_connection(&a, &r::connection_id("c3")).await,
            "delete_connection"
        )?,
        "a second delete_connection returned true"
    );

    for (id, version) in [("b2", 2), ("b1", 2), ("b0", 1)] {
        ok(
            s.put_binding(&r::binding(&a, id, version, false)).await,
            "put_binding",
        )?;
    }
    let ids: Vec<String> = ok(s.list_bindings(&a, &r::profile(2)).await, "list_bindings")?
        .iter()
        .map(|b| b.id.as_str().to_owned())
        .collect();
    ensure!(
        ids == ["b1", "b2"],
        "list_bindings of version 2 returned {ids:?}"
    );
    ensure!(
        ok(
            s.delete_binding(&a, &r::binding_id("b1")).await,
            "delete_binding"
        )?,
        "delete_binding returned false"
    );
    ensure!(
        !ok(
            s.delete_binding(&a, &r::binding_id("b1")).await,
            "delete_binding"
        )?,
        "a second delete_binding returned true"
    );

    for (id, connection) in [("p2", "c1"), ("p1", "c1"), ("p3", "c2")] {
        ok(
            s.put_publication(&r::publication(&a, id, connection, false))
                .await,
            "put_publication",
        )?;
    }
    let ids: Vec<String> = ok(
        s.list_publications(&a, &r::connection_id("c1")).await,
        "list_publications",
    )?
    .iter()
    .map(|p| p.id.as_str().to_owned())
    .collect();
    ensure!(
        ids == ["p1", "p2"],
        "list_publications of c1 returned {ids:?}"
    );
    ensure!(
        ok(
            s.delete_publication(&a, &r::publication_id("p1")).await,
            "delete_publication"
        )?,
        "delete_publication returned false"
    );
    ensure!(
        !ok(
            s.delete_publication(&a, &r::publication_id("p1")).await,
            "delete_publication"
        )?,
        "a second delete_publication returned true"
    );
    find_targets(s, scope).await
}

/// `find_targets`: the targets of one definition in every tenant, in (tenant, id) byte
/// order, each whole and under its own tenant; never another definition's.
async fn find_targets(s: &dyn Stores, scope: &Scope) -> Outcome {
    let x = scope.tenant("x");
    let y = scope.tenant("y");
    let full = r::target(&x, "t1", true);
    let mut other = r::target(&y, "t0", false);
    other.key = r::other_key();
    for target in [
        r::target(&y, "t2", false),
        r::target(&x, "t9", false),
        full.clone(),
        other,
    ] {
        ok(s.put_target(&target).await, "put_target")?;
    }
    let found = ok(s.find_targets(&r::key()).await, "find_targets")?;
    let order: Vec<(&str, &str)> = found
        .iter()
        .map(|t| (t.tenant.as_str(), t.id.as_str()))
        .collect();
    ensure!(
        order.windows(2).all(|w| w[0] < w[1]),
        "find_targets is not in (tenant, id) order: {order:?}"
    );
    ensure!(
        found.iter().all(|t| t.key == r::key()),
        "find_targets returned a target of another definition"
    );
    let ours: Vec<(&str, &str)> = order
        .iter()
        .copied()
        .filter(|(tenant, _)| *tenant == x.as_str() || *tenant == y.as_str())
        .collect();
    ensure!(
        ours == [(x.as_str(), "t1"), (x.as_str(), "t9"), (y.as_str(), "t2")],
        "find_targets returned {ours:?}, want x/t1, x/t9, y/t2"
    );
    same(
        &found.iter().find(|t| t.tenant == x && t.id == full.id),
        &Some(&full),
        "a target find_targets returned",
    )?;
    ok(s.delete_target(&x, &full.id).await, "delete_target")?;
    ensure!(
        !ok(s.find_targets(&r::key()).await, "find_targets")?
            .iter()
            .any(|t| t.tenant == x && t.id == full.id),
        "find_targets returned a deleted target"
    );
    Ok(())
}

async fn connection_status(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let connection = r::connection(&t, "c1", true);
    ok(s.put_connection(&connection).await, "put_connection")?;
    let shared_before = connection_shared(s, &t, &connection.id).await?;
    let revoked = ConnectionStatus::Revoked {
        reason: "uninstalled".into(),
    };
    let updated = ok(
        s.set_connection_status(&t, &connection.id, revoked.clone(), at(100))
            .await,
        "set_connection_status",
    )?
    .ok_or("set_connection_status of a stored connection returned None")?;
    let mut want = connection.clone();
    want.status = revoked;
    want.updated_at = at(100);
    same(
        &updated,
        &want,
        "the connection set_connection_status returned",
    )?;
    same(
        &ok(s.get_connection(&t, &connection.id).await, "get_connection")?,
        &Some(want.clone()),
        "a connection after set_connection_status",
    )?;
    same(
        &connection_shared(s, &t, &connection.id).await?.as_deref(),
        &Some(&want),
        "a connection read shared after set_connection_status",
    )?;
    same(
        &shared_before.as_deref(),
        &Some(&connection),
        "a connection read shared before set_connection_status (a store must replace a shared record, not edit it)",
    )?;
    let missing = ok(
        s.set_connection_status(
            &t,
            &r::connection_id("nope"),
            ConnectionStatus::Active,
            at(100),
        )
        .await,
        "set_connection_status",
    )?;
    ensure!(
        missing.is_none(),
        "set_connection_status of a missing connection returned Some"
    );
    ensure!(
        ok(
            s.get_connection(&t, &r::connection_id("nope")).await,
            "get_connection"
        )?
        .is_none(),
        "set_connection_status created a connection"
    );
    connection_status_if(s, scope).await?;
    connection_status_moves_forward(s, scope).await?;
    connection_put_if_unchanged(s, scope).await?;
    connection_put_if_absent(s, scope).await
}

/// `put_connection_if_absent` inserts a new record whole, and over an existing one
/// writes nothing, whatever its status.
async fn connection_put_if_absent(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let first = r::connection(&t, "c-put-absent", true);
    ensure!(
        ok(
            s.put_connection_if_absent(&first).await,
            "put_connection_if_absent"
        )?,
        "put_connection_if_absent of a new id did not insert"
    );
    same(
        &ok(s.get_connection(&t, &first.id).await, "get_connection")?,
        &Some(first.clone()),
        "a connection after put_connection_if_absent",
    )?;
    let mut second = r::connection(&t, "c-put-absent", false);
    second.updated_at = at(500);
    ensure!(
        !ok(
            s.put_connection_if_absent(&second).await,
            "put_connection_if_absent"
        )?,
        "put_connection_if_absent over an existing connection wrote"
    );
    same(
        &ok(s.get_connection(&t, &first.id).await, "get_connection")?,
        &Some(first),
        "a connection after a refused put_connection_if_absent",
    )
}

/// A status write is a new revision even in the millisecond of the stored one, or with a
/// clock behind it: `updated_at` moves strictly forward (`Connection::touch`). Otherwise a
/// status changed and changed back in one millisecond (a suspension, then its
/// resumption) restores the revision a writer read before both, and its
/// `put_connection_if_unchanged` writes over whatever changed in between.
async fn connection_status_moves_forward(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let mut connection = r::connection(&t, "c-forward", false);
    connection.updated_at = at(500);
    ok(s.put_connection(&connection).await, "put_connection")?;
    let read = connection.clone();
    let suspended = ConnectionStatus::Error {
        reason: "suspended".into(),
    };
    let mut last = read.updated_at;
    for (from, to, now) in [
        (&ConnectionStatus::Active, suspended.clone(), at(500)),
        (&suspended, ConnectionStatus::Active, at(500)),
    ] {
        let written = ok(
            s.set_connection_status_if(&t, &read.id, from, to, now)
                .await,
            "set_connection_status_if",
        )?
        .ok_or("set_connection_status_if from the stored status returned None")?;
        ensure!(
            written.updated_at > last,
            "set_connection_status_if at {now} over a record updated at {last} wrote updated_at {} (a status write must move updated_at strictly forward: the later of now and the stored one plus 1 ms)",
            written.updated_at
        );
        last = written.updated_at;
    }
    let mut stale = read.clone();
    stale.granted_scopes = vec!["stale".into()];
    stale.touch(at(501));
    ensure!(
        !ok(
            s.put_connection_if_unchanged(&read, &stale).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged wrote over a record whose status changed and changed back in the millisecond it was read"
    );
    let behind = ok(
        s.set_connection_status(&t, &read.id, suspended, at(100))
            .await,
        "set_connection_status",
    )?
    .ok_or("set_connection_status of a stored connection returned None")?;
    ensure!(
        behind.updated_at > last,
        "set_connection_status at {} over a record updated at {last} moved updated_at back to {}",
        at(100),
        behind.updated_at
    );
    same(
        &ok(s.get_connection(&t, &read.id).await, "get_connection")?,
        &Some(behind),
        "a connection after set_connection_status with a clock behind it",
    )
}

/// `set_connection_status_if` writes only when the stored status equals the expected one
/// (the whole status, reason included), returns the updated connection, and otherwise
/// changes nothing.
async fn connection_status_if(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let connection = r::connection(&t, "c-if", false);
    ok(s.put_connection(&connection).await, "put_connection")?;
    let failed = ConnectionStatus::Error {
        reason: "refresh failed".into(),
    };
    for wrong in [
        ConnectionStatus::Revoked {
            reason: "uninstalled".into(),
        },
        ConnectionStatus::Error {
            reason: "another reason".into(),
        },
    ] {
        ensure!(
            ok(
                s.set_connection_status_if(&t, &connection.id, &wrong, failed.clone(), at(200))
                    .await,
                "set_connection_status_if"
            )?
            .is_none(),
            "set_connection_status_if wrote from {wrong:?} while the status was active"
        );
    }
    same(
        &ok(s.get_connection(&t, &connection.id).await, "get_connection")?,
        &Some(connection.clone()),
        "a connection after refused set_connection_status_if calls",
    )?;
    let updated = ok(
        s.set_connection_status_if(
            &t,
            &connection.id,
            &ConnectionStatus::Active,
            failed.clone(),
            at(200),
        )
        .await,
        "set_connection_status_if",
    )?
    .ok_or("set_connection_status_if from the stored status returned None")?;
    let mut want = connection.clone();
    want.status = failed.clone();
    want.updated_at = at(200);
    same(
        &updated,
        &want,
        "the connection set_connection_status_if returned",
    )?;
    same(
        &ok(s.get_connection(&t, &connection.id).await, "get_connection")?,
        &Some(want.clone()),
        "a connection after set_connection_status_if",
    )?;
    ensure!(
        ok(
            s.set_connection_status_if(
                &t,
                &connection.id,
                &ConnectionStatus::Active,
                ConnectionStatus::Active,
                at(300),
            )
            .await,
            "set_connection_status_if"
        )?
        .is_none(),
        "set_connection_status_if wrote from a status already changed"
    );
    // From the whole stored status, reason included, it writes again.
    ensure!(
        ok(
            s.set_connection_status_if(
                &t,
                &connection.id,
                &failed,
                ConnectionStatus::Active,
                at(300),
            )
            .await,
            "set_connection_status_if"
        )?
        .is_some_and(|c| c.status == ConnectionStatus::Active && c.updated_at == at(300)),
        "set_connection_status_if from the stored error status did not write"
    );
    let missing = r::connection_id("nope-if");
    ensure!(
        ok(
            s.set_connection_status_if(&t, &missing, &ConnectionStatus::Active, failed, at(300))
                .await,
            "set_connection_status_if"
        )?
        .is_none(),
        "set_connection_status_if of a missing connection returned Some"
    );
    ensure!(
        ok(s.get_connection(&t, &missing).await, "get_connection")?.is_none(),
        "set_connection_status_if created a connection"
    );
    Ok(())
}

/// `put_connection_if_unchanged` writes only over the revision read: not after a status
/// change, an endpoint key given meanwhile or any later write; and creates nothing.
async fn connection_put_if_unchanged(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    // Compared by status and endpoint key too, not by time alone: a host's own blind
    // write that changed only one of them, in the same millisecond, is a change.
    for (name, change) in [
        (
            "an endpoint key given",
            (|c: &mut Connection| c.endpoint_key = Some("ep_blind".into())) as fn(&mut Connection),
        ),
        ("a status changed", |c: &mut Connection| {
            c.status = ConnectionStatus::Revoked {
                reason: "disconnected".into(),
            };
        }),
    ] {
        let read = r::connection(&t, &format!("c-put-if-{}", name.len()), false);
        ok(s.put_connection(&read).await, "put_connection")?;
        let mut blind = read.clone();
        change(&mut blind);
        ok(s.put_connection(&blind).await, "put_connection")?;
        let mut write = read.clone();
        write.granted_scopes = vec!["late".into()];
        write.touch(read.updated_at);
        ensure!(
            !ok(
                s.put_connection_if_unchanged(&read, &write).await,
                "put_connection_if_unchanged"
            )?,
            "put_connection_if_unchanged wrote over {name} in the millisecond of the read"
        );
    }
    let read = r::connection(&t, "c-put-if", false);
    ok(s.put_connection(&read).await, "put_connection")?;
    let mut hooked = read.clone();
    hooked.endpoint_key = Some("ep_put_if".into());
    hooked.updated_at = at(200);
    ensure!(
        ok(
            s.put_connection_if_unchanged(&read, &hooked).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged over the record read did not write"
    );
    same(
        &ok(s.get_connection(&t, &read.id).await, "get_connection")?,
        &Some(hooked.clone()),
        "a connection after put_connection_if_unchanged",
    )?;
    // `read` is no longer the stored revision (another endpoint key and time).
    let mut stale = read.clone();
    stale.updated_at = at(300);
    ensure!(
        !ok(
            s.put_connection_if_unchanged(&read, &stale).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged wrote over a record changed since it was read"
    );
    // A write made in the millisecond of the revision read, `touch`ed as engines do, is
    // a new revision: a writer still holding that read cannot write over it.
    let mut touched = hooked.clone();
    touched.granted_scopes = vec!["touched".into()];
    touched.touch(hooked.updated_at);
    ensure!(
        ok(
            s.put_connection_if_unchanged(&hooked, &touched).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged over the record read did not write"
    );
    let mut over_touched = hooked.clone();
    over_touched.touch(hooked.updated_at);
    ensure!(
        !ok(
            s.put_connection_if_unchanged(&hooked, &over_touched).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged from a read older than a write in the same millisecond wrote"
    );
    let hooked = touched;
    // A status change at the same instant is a change too.
    let revoked = ConnectionStatus::Revoked {
        reason: "disconnected".into(),
    };
    ok(
        s.set_connection_status(&t, &read.id, revoked.clone(), at(200))
            .await,
        "set_connection_status",
    )?;
    let mut active_again = hooked.clone();
    active_again.touch(hooked.updated_at);
    ensure!(
        !ok(
            s.put_connection_if_unchanged(&hooked, &active_again).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged wrote over a status changed since the read"
    );
    let stored = ok(s.get_connection(&t, &read.id).await, "get_connection")?
        .ok_or("the connection disappeared")?;
    ensure!(
        stored.status == revoked,
        "a refused put_connection_if_unchanged changed the status to {:?}",
        stored.status
    );
    let missing = r::connection(&t, "nope-put-if", false);
    ensure!(
        !ok(
            s.put_connection_if_unchanged(&missing, &missing).await,
            "put_connection_if_unchanged"
        )?,
        "put_connection_if_unchanged of a missing connection wrote"
    );
    ensure!(
        ok(s.get_connection(&t, &missing.id).await, "get_connection")?.is_none(),
        "put_connection_if_unchanged created a connection"
    );
    Ok(())
}

async fn credential_cas(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let c = r::connection_id("c1");
    ensure!(
        ok(s.load_credentials(&t, &c).await, "load_credentials")?.is_none(),
        "credentials exist before any swap"
    );
    ensure!(
        is_version_conflict(
            &s.swap_credentials(&t, &c, Some(1), r::credentials("x"))
                .await
        ),
        "a swap expecting version 1 of nothing was not a store.version_conflict"
    );
    let v1 = ok(
        s.swap_credentials(&t, &c, None, r::credentials("one"))
            .await,
        "swap_credentials",
    )?;
    ensure!(v1 == 1, "the first swap returned {v1}");
    ensure!(
        is_version_conflict(&s.swap_credentials(&t, &c, None, r::credentials("x")).await),
        "a second swap expecting nothing was not a store.version_conflict"
    );
    let v2 = ok(
        s.swap_credentials(&t, &c, Some(1), r::credentials("two"))
            .await,
        "swap_credentials",
    )?;
    ensure!(v2 == 2, "the second swap returned {v2}");
    ensure!(
        is_version_conflict(
            &s.swap_credentials(&t, &c, Some(1), r::credentials("stale"))
                .await
        ),
        "a stale swap was not a store.version_conflict"
    );
    let stored =
        ok(s.load_credentials(&t, &c).await, "load_credentials")?.ok_or("credentials vanished")?;
    ensure!(
        stored.version == 2,
        "after a refused swap the version is {}",
        stored.version
    );
    same(
        &stored.credentials,
        &r::credentials("two"),
        "credentials after a refused swap",
    )?;
    // Fewer credentials replace all of them.
    let v3 = ok(
        s.swap_credentials(&t, &c, Some(2), r::credentials("three")[..1].to_vec())
            .await,
        "swap_credentials",
    )?;
    let stored =
        ok(s.load_credentials(&t, &c).await, "load_credentials")?.ok_or("credentials vanished")?;
    ensure!(
        v3 == 3 && stored.credentials.len() == 1,
        "a swap to one credential left {} (version {})",
        stored.credentials.len(),
        stored.version
    );
    ensure!(
        ok(s.delete_credentials(&t, &c).await, "delete_credentials")?,
        "delete_credentials returned false"
    );
    ensure!(
        !ok(s.delete_credentials(&t, &c).await, "delete_credentials")?,
        "a second delete_credentials returned true"
    );
    ensure!(
        ok(s.load_credentials(&t, &c).await, "load_credentials")?.is_none(),
        "deleted credentials are still there"
    );
    // A swap that read the deleted set (a refresh racing a disconnect) is refused, before
    // and after a new set is stored: versions continue past the deleted set's.
    ensure!(
        is_version_conflict(
            &s.swap_credentials(&t, &c, Some(v3), r::credentials("stale"))
                .await
        ),
        "a swap expecting the deleted set's version was not a store.version_conflict"
    );
    let again = ok(
        s.swap_credentials(&t, &c, None, r::credentials("new"))
            .await,
        "swap_credentials",
    )?;
    ensure!(
        again == v3 + 1,
        "a swap after delete returned version {again}; it must continue past the deleted set's {v3}"
    );
    for stale in 1..=v3 {
        ensure!(
            is_version_conflict(
                &s.swap_credentials(&t, &c, Some(stale), r::credentials("stale"))
                    .await
            ),
            "a swap expecting version {stale} of the deleted set matched the new set"
        );
    }
    let stored =
        ok(s.load_credentials(&t, &c).await, "load_credentials")?.ok_or("credentials vanished")?;
    ensure!(
        stored.version == again,
        "the new set reads back as version {}, not {again}",
        stored.version
    );
    same(
        &stored.credentials,
        &r::credentials("new"),
        "the set stored after a delete",
    )?;
    ensure!(
        is_version_conflict(&s.swap_credentials(&t, &c, None, r::credentials("x")).await),
        "a swap expecting nothing after a set was stored again was not a store.version_conflict"
    );
    // Deleted again, then stored again: the count still goes on.
    ensure!(
        ok(s.delete_credentials(&t, &c).await, "delete_credentials")?,
        "delete_credentials of the new set returned false"
    );
    let third = ok(
        s.swap_credentials(&t, &c, None, Vec::new()).await,
        "swap_credentials",
    )?;
    ensure!(
        third == again + 1,
        "a second swap after delete returned version {third}, not {}",
        again + 1
    );
    Ok(())
}

async fn checkpoint_cas(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let mut checkpoint = r::checkpoint(&t, "issues", true);
    checkpoint.version = 1;
    ensure!(
        is_version_conflict(&s.save_checkpoint(&checkpoint).await),
        "saving version 1 of nothing was not a store.version_conflict"
    );
    checkpoint.version = 0;
    ensure!(
        ok(s.save_checkpoint(&checkpoint).await, "save_checkpoint")? == 1,
        "the first save did not return 1"
    );
    ensure!(
        is_version_conflict(&s.save_checkpoint(&checkpoint).await),
        "a second save from version 0 was not a store.version_conflict"
    );
    checkpoint.version = 1;
    checkpoint.cursor = Some("page-2".into());
    ensure!(
        ok(s.save_checkpoint(&checkpoint).await, "save_checkpoint")? == 2,
        "the second save did not return 2"
    );
    let mut stale = checkpoint.clone();
    stale.cursor = Some("stale".into());
    ensure!(
        is_version_conflict(&s.save_checkpoint(&stale).await),
        "a stale save was not a store.version_conflict"
    );
    let loaded = ok(
        s.load_checkpoint(&t, &checkpoint.connection, "issues")
            .await,
        "load_checkpoint",
    )?
    .ok_or("the checkpoint vanished")?;
    ensure!(
        loaded.version == 2 && loaded.cursor.as_deref() == Some("page-2"),
        "after a refused save the checkpoint is version {} cursor {:?}",
        loaded.version,
        loaded.cursor
    );
    ensure!(
        ok(
            s.load_checkpoint(&t, &checkpoint.connection, "other").await,
            "load_checkpoint"
        )?
        .is_none(),
        "another stream has a checkpoint"
    );
    checkpoint_delete(s, scope).await
}

/// `delete_checkpoints` deletes every stream's checkpoint of one connection, in one
/// tenant, and nothing else; a checkpoint saved afterwards starts from version 0.
async fn checkpoint_delete(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let gone = r::connection_id("c-forgotten");
    let mut kept = Vec::new();
    for (tenant, connection, stream) in [
        (&t, &gone, "issues"),
        (&t, &gone, "comments"),
        (&t, &r::connection_id("c-kept"), "issues"),
        (&scope.tenant("b"), &gone, "issues"),
    ] {
        let mut checkpoint = r::checkpoint(tenant, stream, false);
        checkpoint.connection = connection.clone();
        checkpoint.version = 0;
        ok(s.save_checkpoint(&checkpoint).await, "save_checkpoint")?;
        if !(tenant == &t && connection == &gone) {
            kept.push(checkpoint);
        }
    }
    let deleted = ok(s.delete_checkpoints(&t, &gone).await, "delete_checkpoints")?;
    ensure!(
        deleted == 2,
        "delete_checkpoints of a connection with two streams said {deleted}"
    );
    for stream in ["issues", "comments"] {
        ensure!(
            ok(
                s.load_checkpoint(&t, &gone, stream).await,
                "load_checkpoint"
            )?
            .is_none(),
            "the {stream} checkpoint of a deleted connection's streams is still there"
        );
    }
    for checkpoint in &kept {
        ensure!(
            ok(
                s.load_checkpoint(
                    &checkpoint.tenant,
                    &checkpoint.connection,
                    &checkpoint.stream
                )
                .await,
                "load_checkpoint"
            )?
            .is_some(),
            "delete_checkpoints deleted the checkpoint of another connection or tenant"
        );
    }
    ensure!(
        ok(s.delete_checkpoints(&t, &gone).await, "delete_checkpoints")? == 0,
        "a second delete_checkpoints found checkpoints"
    );
    let mut again = r::checkpoint(&t, "issues", false);
    again.connection = gone;
    again.version = 0;
    ensure!(
        ok(s.save_checkpoint(&again).await, "save_checkpoint")? == 1,
        "a checkpoint saved after delete_checkpoints did not start over at version 1"
    );
    Ok(())
}

async fn take_once(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let pending = r::oauth_state(&t, &scope.name("state"), at(600), true);
    ok(s.put_oauth_state(&pending).await, "put_oauth_state")?;
    ensure!(
        is_conflict(&s.put_oauth_state(&pending).await),
        "a duplicate put_oauth_state was not a conflict"
    );
    ensure!(
        ok(
            s.take_oauth_state(&pending.state_digest, at(0)).await,
            "take_oauth_state"
        )?
        .is_some(),
        "take_oauth_state found nothing"
    );
    ensure!(
        ok(
            s.take_oauth_state(&pending.state_digest, at(0)).await,
            "take_oauth_state"
        )?
        .is_none(),
        "an OAuth state was taken twice"
    );

    let approval = r::approval(&t, "ap-1", Duration::from_secs(60), true);
    ok(s.put_approval(&approval).await, "put_approval")?;
    ensure!(
        is_conflict(&s.put_approval(&approval).await),
        "a duplicate put_approval was not a conflict"
    );
    ensure!(
        ok(
            s.take_approval(&t, &approval.id, at(0)).await,
            "take_approval"
        )?
        .is_some(),
        "take_approval found nothing"
    );
    ensure!(
        ok(
            s.take_approval(&t, &approval.id, at(0)).await,
            "take_approval"
        )?
        .is_none(),
        "an approval was taken twice"
    );
    // A request that never expires (a `Duration::MAX` lifetime puts its expiry past the
    // calendar's range) is stored and handed back whole.
    let never = r::approval(&t, "ap-never", Duration::MAX, true);
    ok(s.put_approval(&never).await, "put_approval")?;
    let taken = ok(s.take_approval(&t, &never.id, at(0)).await, "take_approval")?;
    ensure!(
        taken.as_ref() == Some(&never),
        "an approval request expiring past the year 9999 did not come back as stored"
    );

    let continuation = r::continuation(&t, &scope.name("cont"), at(0), at(600));
    ok(s.put_continuation(&continuation).await, "put_continuation")?;
    ensure!(
        is_conflict(&s.put_continuation(&continuation).await),
        "a duplicate put_continuation was not a conflict"
    );
    ensure!(
        ok(
            s.take_continuation(&t, &continuation.id, at(0)).await,
            "take_continuation"
        )?
        .is_some(),
        "take_continuation found nothing"
    );
    ensure!(
        ok(
            s.take_continuation(&t, &continuation.id, at(0)).await,
            "take_continuation"
        )?
        .is_none(),
        "a continuation was taken twice"
    );
    // Taken records can be put again (the runtime puts back a page it must not serve).
    ok(
        s.put_continuation(&continuation).await,
        "put_continuation after take",
    )?;
    take_expired(s, scope).await?;
    approval_delete(s, scope).await?;
    approval_calls(s, scope).await?;
    approval_call_counts(s, scope).await
}

/// The pending calls of one principal (tenant, workspace, user) are counted: not
/// another workspace's, user's (or no user's) or tenant's, not a call past its expiry, and
/// not one that stopped waiting (running, settled, denied).
async fn approval_call_counts(s: &dyn Stores, scope: &Scope) -> Outcome {
    use integrations_core::model::{ApprovalCall, ApprovalStage};
    use integrations_core::{UserId, WorkspaceId};
    let t = scope.tenant("a");
    let call = |tenant: &TenantId, n: u32, workspace: &str, user: Option<&str>, ttl: u64| {
        let mut request = r::approval(
            tenant,
            &format!("ap-count-{n}"),
            Duration::from_secs(ttl),
            false,
        );
        request.context.session.workspace = WorkspaceId::new(workspace).expect("a valid id");
        request.context.session.user = user.map(|u| UserId::new(u).expect("a valid id"));
        ApprovalCall::pending(format!("{n:064x}"), request, at(0))
    };
    let calls = [
        call(&t, 1, "ws-count", Some("u-count"), 600),
        call(&t, 2, "ws-count", Some("u-count"), 600),
        call(&t, 3, "ws-count", Some("u-count"), 600),
        call(&t, 4, "ws-count", Some("u-count"), 5),
        call(&t, 5, "ws-count", Some("u-other"), 600),
        call(&t, 6, "ws-count", None, 600),
        call(&t, 7, "ws-other", Some("u-count"), 600),
        call(&scope.tenant("b"), 8, "ws-count", Some("u-count"), 600),
    ];
    for c in &calls {
        ok(s.put_approval_call(c, at(0)).await, "put_approval_call")?;
    }
    // One of the principal's calls runs: it waits no longer.
    let running = calls[2].at_stage(ApprovalStage::Running, None, at(1), at(6000));
    ensure!(
        ok(
            s.update_approval_call(&running, ApprovalStage::Pending)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from pending to running failed"
    );
    let workspace = WorkspaceId::new("ws-count").expect("a valid id");
    let user = UserId::new("u-count").expect("a valid id");
    let count = |tenant: TenantId, user: Option<UserId>, when: Timestamp| {
        let workspace = workspace.clone();
        async move {
            ok(
                s.count_pending_approval_calls(&tenant, &workspace, user.as_ref(), when)
                    .await,
                "count_pending_approval_calls",
            )
        }
    };
    let counted = count(t.clone(), Some(user.clone()), at(2)).await?;
    ensure!(
        counted == 3,
        "count_pending_approval_calls counted {counted} of the principal's three pending calls"
    );
    let later = count(t.clone(), Some(user.clone()), at(5)).await?;
    ensure!(
        later == 2,
        "count_pending_approval_calls counted {later} calls at a pending call's expiry, not 2"
    );
    let anonymous = count(t.clone(), None, at(2)).await?;
    ensure!(
        anonymous == 1,
        "count_pending_approval_calls counted {anonymous} calls of no user, not 1"
    );
    let elsewhere = count(scope.tenant("b"), Some(user), at(2)).await?;
    ensure!(
        elsewhere == 1,
        "count_pending_approval_calls counted {elsewhere} of another tenant's calls, not 1"
    );
    for c in &calls {
        ok(
            s.delete_approvals(&c.tenant, &c.request.context.connection)
                .await,
            "delete_approvals",
        )?;
    }
    Ok(())
}

/// The approval calls the MCP server keeps: one live record per key (a second put gets
/// the first), moved between stages by compare-and-swap, a settled result kept sealed
/// byte for byte, an answer taken once, expired records never returned and replaced,
/// tenants apart, and deleted with their connection.
async fn approval_calls(s: &dyn Stores, scope: &Scope) -> Outcome {
    use integrations_core::model::{ApprovalCall, ApprovalStage};
    let t = scope.tenant("a");
    let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let request = r::approval(&t, "ap-call-1", Duration::from_secs(600), true);
    let pending = ApprovalCall::pending(key, request.clone(), at(0));
    ensure!(
        ok(
            s.put_approval_call(&pending, at(0)).await,
            "put_approval_call"
        )?
        .is_none(),
        "the first put_approval_call of a key found a record"
    );
    let mut second = ApprovalCall::pending(
        key,
        r::approval(&t, "ap-call-2", Duration::from_secs(600), false),
        at(1),
    );
    let existing = ok(
        s.put_approval_call(&second, at(1)).await,
        "put_approval_call",
    )?;
    ensure!(
        existing.as_ref() == Some(&pending),
        "a second put_approval_call of a live key did not return the first record"
    );
    let read = |tenant: TenantId, when: Timestamp| async move {
        ok(
            s.get_approval_call(&tenant, key, when).await,
            "get_approval_call",
        )
    };
    same(
        &read(t.clone(), at(2)).await?,
        &Some(pending.clone()),
        "an approval call",
    )?;
    ensure!(
        read(scope.tenant("b"), at(2)).await?.is_none(),
        "get_approval_call found another tenant's call"
    );
    same(
        &ok(
            s.find_approval_call(&t, &request.id, at(2)).await,
            "find_approval_call",
        )?,
        &Some(pending.clone()),
        "an approval call found by its request",
    )?;
    ensure!(
        ok(
            s.list_approval_calls(&t, at(2)).await,
            "list_approval_calls"
        )?
        .len()
            == 1
            && ok(
                s.list_approval_calls(&scope.tenant("b"), at(2)).await,
                "list_approval_calls"
            )?
            .is_empty(),
        "list_approval_calls did not list exactly the tenant's call"
    );

    // Another tenant sees none of it; a pending call is not handed over.
    let other = scope.tenant("b");
    ensure!(
        ok(
            s.find_approval_call(&other, &request.id, at(2)).await,
            "find_approval_call"
        )?
        .is_none()
            && ok(
                s.take_answered_call(&other, key, at(2)).await,
                "take_answered_call"
            )?
            .is_none(),
        "find_approval_call or take_answered_call reached another tenant's call"
    );
    ensure!(
        ok(
            s.take_answered_call(&t, key, at(2)).await,
            "take_answered_call"
        )?
        .is_none()
            && read(t.clone(), at(2)).await?.is_some(),
        "take_answered_call took a pending call"
    );
    // One call per request: the request's id under another key is refused.
    let elsewhere = ApprovalCall::pending(
        "0000000000000000000000000000000000000000000000000000000000000000",
        request.clone(),
        at(2),
    );
    ensure!(
        is_conflict(&s.put_approval_call(&elsewhere, at(2)).await),
        "a second call waiting in the same request was not a conflict"
    );
    let running = pending.at_stage(ApprovalStage::Running, None, at(3), at(6000));
    // An update for another request under the key, or another tenant's, changes nothing.
    let mut stranger = running.clone();
    stranger.request.id = r::approval_id("ap-call-stranger");
    let mut foreign = running.clone();
    foreign.tenant = other.clone();
    for wrong in [&stranger, &foreign] {
        ensure!(
            !ok(
                s.update_approval_call(wrong, ApprovalStage::Pending).await,
                "update_approval_call"
            )?,
            "update_approval_call replaced a call of another request or tenant"
        );
    }
    ensure!(
        !ok(
            s.update_approval_call(&running, ApprovalStage::Running)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from a stage the call is not at succeeded"
    );
    // Of concurrent updates from one stage, exactly one succeeds.
    let from_pending = || s.update_approval_call(&running, ApprovalStage::Pending);
    let raced = tokio::join!(
        from_pending(),
        from_pending(),
        from_pending(),
        from_pending()
    );
    let won = [raced.0, raced.1, raced.2, raced.3]
        .into_iter()
        .map(|r| ok(r, "update_approval_call"))
        .collect::<Result<Vec<bool>, String>>()?
        .into_iter()
        .filter(|won| *won)
        .count();
    ensure!(
        won == 1,
        "{won} of four concurrent update_approval_call from one stage succeeded"
    );
    ensure!(
        ok(
            s.take_answered_call(&t, key, at(4)).await,
            "take_answered_call"
        )?
        .is_none(),
        "take_answered_call took a running call"
    );
    let settled = running.at_stage(
        ApprovalStage::Settled,
        Some(r::sealed("result")),
        at(5),
        at(4000),
    );
    ensure!(
        ok(
            s.update_approval_call(&settled, ApprovalStage::Running)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from running to settled failed"
    );
    same(
        &read(t.clone(), at(6)).await?,
        &Some(settled.clone()),
        "a settled approval call",
    )?;
    ensure!(
        ok(
            s.take_answered_call(&t, key, at(7)).await,
            "take_answered_call"
        )?
        .as_ref()
            == Some(&settled),
        "take_answered_call did not return the settled call whole"
    );
    ensure!(
        ok(
            s.take_answered_call(&t, key, at(7)).await,
            "take_answered_call"
        )?
        .is_none()
            && read(t.clone(), at(7)).await?.is_none(),
        "a settled call was handed over twice"
    );

    // Expired: never returned, and replaced by the next put of its key.
    let mut short = ApprovalCall::pending(
        key,
        r::approval(&t, "ap-call-3", Duration::from_secs(10), false),
        at(0),
    );
    short.expires_at = at(10);
    ensure!(
        ok(
            s.put_approval_call(&short, at(0)).await,
            "put_approval_call"
        )?
        .is_none(),
        "put_approval_call after a take found a record"
    );
    ensure!(
        read(t.clone(), at(10)).await?.is_none()
            && ok(
                s.find_approval_call(&t, &short.request.id, at(10)).await,
                "find_approval_call"
            )?
            .is_none()
            && ok(
                s.list_approval_calls(&t, at(10)).await,
                "list_approval_calls"
            )?
            .is_empty(),
        "a call was returned at its expiry"
    );
    second.expires_at = at(700);
    ensure!(
        ok(
            s.put_approval_call(&second, at(10)).await,
            "put_approval_call"
        )?
        .is_none(),
        "put_approval_call did not replace an expired record of its key"
    );
    same(
        &read(t.clone(), at(11)).await?,
        &Some(second.clone()),
        "a replacing approval call",
    )?;
    // A denied call is handed over once too.
    let denied = second.at_stage(ApprovalStage::Denied, None, at(12), at(4000));
    ensure!(
        ok(
            s.update_approval_call(&denied, ApprovalStage::Pending)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from pending to denied failed"
    );
    same(
        &ok(
            s.take_answered_call(&t, key, at(13)).await,
            "take_answered_call",
        )?,
        &Some(denied),
        "a denied approval call",
    )?;
    ensure!(
        ok(
            s.put_approval_call(&second, at(14)).await,
            "put_approval_call"
        )?
        .is_none(),
        "put_approval_call after a denied call was taken found a record"
    );
    // An answer past its expiry is never handed over.
    let stale = second.at_stage(ApprovalStage::Denied, None, at(15), at(20));
    ensure!(
        ok(
            s.update_approval_call(&stale, ApprovalStage::Pending).await,
            "update_approval_call"
        )?,
        "update_approval_call from pending to denied failed"
    );
    ensure!(
        ok(
            s.take_answered_call(&t, key, at(20)).await,
            "take_answered_call"
        )?
        .is_none(),
        "take_answered_call handed over an answer at its expiry"
    );

    // Forgetting the connection deletes its calls.
    ok(
        s.delete_approvals(&t, &second.request.context.connection)
            .await,
        "delete_approvals",
    )?;
    ensure!(
        read(t.clone(), at(11)).await?.is_none(),
        "delete_approvals left the connection's approval calls"
    );
    Ok(())
}

/// `delete_approvals` deletes every request of one connection, in one tenant, expired or
/// not, and nothing else.
async fn approval_delete(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let gone = r::connection_id("c-forgotten");
    let kept_connection = r::connection_id("c-kept");
    let mut kept = Vec::new();
    for (n, (tenant, connection, expires_in)) in [
        (&t, &gone, Duration::from_secs(600)),
        (&t, &gone, Duration::ZERO),
        (&t, &kept_connection, Duration::from_secs(600)),
        (&scope.tenant("b"), &gone, Duration::from_secs(600)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut approval = r::approval(tenant, &format!("ap-del-{n}"), expires_in, n == 0);
        approval.context.connection = connection.clone();
        ok(s.put_approval(&approval).await, "put_approval")?;
        if !(tenant == &t && connection == &gone) {
            kept.push(approval);
        }
    }
    let deleted = ok(s.delete_approvals(&t, &gone).await, "delete_approvals")?;
    ensure!(
        deleted == 2,
        "delete_approvals of a connection with two requests (one expired) said {deleted}"
    );
    for approval in &kept {
        ensure!(
            ok(
                s.take_approval(&approval.tenant, &approval.id, at(0)).await,
                "take_approval"
            )?
            .as_ref()
                == Some(approval),
            "delete_approvals deleted the request of another connection or tenant"
        );
    }
    for n in 0..2 {
        ensure!(
            ok(
                s.take_approval(&t, &r::approval_id(&format!("ap-del-{n}")), at(0))
                    .await,
                "take_approval"
            )?
            .is_none(),
            "a deleted connection's approval request is still there"
        );
    }
    ensure!(
        ok(s.delete_approvals(&t, &gone).await, "delete_approvals")? == 0,
        "a second delete_approvals found requests"
    );
    Ok(())
}

/// An entry is live until its `expires_at`: taken one millisecond before, it is returned;
/// taken at or after it, it is deleted and reported as absent, so that a later take at an
/// earlier time (another host's clock) finds nothing either.
async fn take_expired(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    let just_before = Timestamp::from_unix_millis(at(600).unix_millis() - 1);
    for (name, when, live) in [
        ("live", just_before, true),
        ("at", at(600), false),
        ("after", at(601), false),
    ] {
        let pending = r::oauth_state(&t, &scope.name(&format!("exp-{name}")), at(600), true);
        ok(s.put_oauth_state(&pending).await, "put_oauth_state")?;
        let got = ok(
            s.take_oauth_state(&pending.state_digest, when).await,
            "take_oauth_state",
        )?;
        ensure!(
            got.is_some() == live,
            "take_oauth_state {name} its expiry returned {}",
            if live { "nothing" } else { "the expired state" }
        );
        ensure!(
            ok(
                s.take_oauth_state(&pending.state_digest, at(0)).await,
                "take_oauth_state"
            )?
            .is_none(),
            "an OAuth state taken {name} its expiry was still there"
        );

        let mut approval = r::approval(&t, &format!("ap-exp-{name}"), Duration::ZERO, true);
        approval.expires_at = at(600);
        ok(s.put_approval(&approval).await, "put_approval")?;
        let got = ok(
            s.take_approval(&t, &approval.id, when).await,
            "take_approval",
        )?;
        ensure!(
            got.is_some() == live,
            "take_approval {name} its expiry returned {}",
            if live {
                "nothing"
            } else {
                "the expired request"
            }
        );
        ensure!(
            ok(
                s.take_approval(&t, &approval.id, at(0)).await,
                "take_approval"
            )?
            .is_none(),
            "an approval taken {name} its expiry was still there"
        );

        let continuation =
            r::continuation(&t, &scope.name(&format!("cont-exp-{name}")), at(0), at(600));
        ok(s.put_continuation(&continuation).await, "put_continuation")?;
        let got = ok(
            s.take_continuation(&t, &continuation.id, when).await,
            "take_continuation",
        )?;
        ensure!(
            got.is_some() == live,
            "take_continuation {name} its expiry returned {}",
            if live {
                "nothing"
            } else {
                "the expired continuation"
            }
        );
        ensure!(
            ok(
                s.take_continuation(&t, &continuation.id, at(0)).await,
                "take_continuation"
            )?
            .is_none(),
            "a continuation taken {name} its expiry was still there"
        );
    }
    Ok(())
}

async fn webhook_dedup(s: &dyn Stores, scope: &Scope) -> Outcome {
    let a = scope.tenant("a");
    let b = scope.tenant("b");
    let id = scope.name("delivery");
    let event = r::event(&a, &id, at(0), true);
    ensure!(
        ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
        "a new event was not new"
    );
    ensure!(
        !ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
        "a redelivery was new"
    );
    ensure!(
        ok(
            s.record_event_if_new(&r::event(&b, &id, at(0), true)).await,
            "record_event_if_new"
        )?,
        "the same event id of another tenant was not new"
    );
    ensure!(
        ok(s.forget_event(&a, &event.key, &id).await, "forget_event")?,
        "forget_event returned false"
    );
    ensure!(
        !ok(s.forget_event(&a, &event.key, &id).await, "forget_event")?,
        "a second forget_event returned true"
    );
    ensure!(
        ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
        "a forgotten event was not new again"
    );
    ensure!(
        ok(s.release_event(&event).await, "release_event")?,
        "release_event of a recorded event returned false"
    );
    ensure!(
        ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
        "a released event was not new again"
    );
    event_delivery_states(s, &event).await
}

/// A store that answers `event_delivery` for the recorded `event` keeps its state: in
/// progress since `received_at` until marked delivered, per tenant, and in progress again
/// once forgotten and recorded anew; nothing for an event not recorded.
async fn event_delivery_states(s: &dyn Stores, event: &WebhookEvent) -> Outcome {
    let (t, key, id) = (&event.tenant, &event.key, event.external_event_id.as_str());
    let state = || async { ok(s.event_delivery(t, key, id).await, "event_delivery") };
    let Some(first) = state().await? else {
        // A store that keeps no delivery state: every redelivery is a duplicate.
        return Ok(());
    };
    let in_progress = EventDelivery::InProgress {
        since: event.received_at,
    };
    same_state(
        Some(first),
        Some(in_progress),
        "a recorded event's delivery",
    )?;
    // A redelivery takes over an event whose first delivery stalled: exactly when the
    // record, still in progress, was received by the stall time.
    let redelivery = redelivered(event, 600);
    let before = event.received_at.saturating_sub(Duration::from_secs(1));
    ensure!(
        !ok(
            s.take_over_event(&redelivery, before).await,
            "take_over_event"
        )?,
        "an event recorded after the stall time was taken over"
    );
    ensure!(
        ok(
            s.take_over_event(&redelivery, event.received_at).await,
            "take_over_event"
        )?,
        "an event in progress since the stall time was not taken over"
    );
    same_state(
        state().await?,
        Some(EventDelivery::InProgress {
            since: redelivery.received_at,
        }),
        "a taken-over event's delivery",
    )?;
    ensure!(
        !ok(
            s.take_over_event(&redelivered(event, 601), event.received_at)
                .await,
            "take_over_event"
        )?,
        "an event was taken over twice from one stall time"
    );
    // The first delivery fails after the takeover: its release leaves the taker's record.
    ensure!(
        !ok(s.release_event(event).await, "release_event")?,
        "the first delivery's release forgot the record a redelivery took over"
    );
    same_state(
        state().await?,
        Some(EventDelivery::InProgress {
            since: redelivery.received_at,
        }),
        "a taken-over event's delivery after the first delivery's release",
    )?;
    // Another tenant's writes of an event with the same ids leave this one's alone.
    let stranger = TenantId::new(format!("{t}-stranger")).map_err(|e| e.to_string())?;
    ok(
        s.mark_event_delivered(&stranger, key, id).await,
        "mark_event_delivered",
    )?;
    let mut theirs = redelivery.clone();
    theirs.tenant = stranger;
    ensure!(
        !ok(s.release_event(&theirs).await, "release_event")?,
        "another tenant's release_event forgot this tenant's event"
    );
    same_state(
        state().await?,
        Some(EventDelivery::InProgress {
            since: redelivery.received_at,
        }),
        "an event's delivery after another tenant marked and released one with its ids",
    )?;
    ok(
        s.mark_event_delivered(t, key, id).await,
        "mark_event_delivered",
    )?;
    ensure!(
        !ok(
            s.take_over_event(&redelivered(event, 602), at(10_000))
                .await,
            "take_over_event"
        )?,
        "a delivered event was taken over"
    );
    same_state(
        state().await?,
        Some(EventDelivery::Delivered),
        "a delivered event's delivery",
    )?;
    ensure!(
        !ok(s.record_event_if_new(event).await, "record_event_if_new")?,
        "a redelivery of a delivered event was new"
    );
    same_state(
        state().await?,
        Some(EventDelivery::Delivered),
        "a delivered event's delivery after a redelivery",
    )?;
    let other = TenantId::new(format!("{t}-other")).map_err(|e| e.to_string())?;
    same_state(
        ok(s.event_delivery(&other, key, id).await, "event_delivery")?,
        None,
        "the delivery of an event another tenant never recorded",
    )?;
    ok(
        s.mark_event_delivered(&other, key, id).await,
        "mark_event_delivered",
    )?;
    let mut elsewhere = redelivered(event, 603);
    elsewhere.tenant = other.clone();
    ensure!(
        !ok(
            s.take_over_event(&elsewhere, at(10_000)).await,
            "take_over_event"
        )?,
        "an event never recorded was taken over"
    );
    same_state(
        ok(s.event_delivery(&other, key, id).await, "event_delivery")?,
        None,
        "the delivery of an event marked delivered but never recorded",
    )?;
    ensure!(
        ok(s.forget_event(t, key, id).await, "forget_event")?,
        "forget_event of a delivered event returned false"
    );
    same_state(state().await?, None, "a forgotten event's delivery")?;
    ensure!(
        ok(s.record_event_if_new(event).await, "record_event_if_new")?,
        "a forgotten event was not new again"
    );
    same_state(
        state().await?,
        Some(in_progress),
        "the delivery of an event recorded again",
    )
}

/// `event` delivered again, received `seconds` after it.
fn redelivered(event: &WebhookEvent, seconds: u64) -> WebhookEvent {
    let mut again = event.clone();
    again.received_at = event
        .received_at
        .saturating_add(Duration::from_secs(seconds));
    again
}

fn same_state(got: Option<EventDelivery>, want: Option<EventDelivery>, what: &str) -> Outcome {
    ensure!(got == want, "{what} was {got:?}, not {want:?}");
    Ok(())
}

/// Runs `tasks` copies of `make(i)` at once; how many returned `true`.
pub(super) async fn race<F, Fut>(tasks: usize, make: F) -> Result<usize, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<bool, String>> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(make(i))).collect();
    let mut winners = 0;
    for handle in handles {
        if handle
            .await
            .map_err(|e| format!("a racing task panicked: {e}"))??
        {
            winners += 1;
        }
    }
    Ok(winners)
}

/// The credential set racing task `i` writes: every entry names the task, and the sets'
/// lengths differ (1 to 3 entries), so that a mix of two tasks' sets, or rows left over
/// from a longer one, cannot pass for one whole set.
fn racing_set(prefix: &str, i: usize) -> Vec<Credential> {
    let mut set = r::credentials(&format!("{prefix}-{i}"));
    set.truncate(1 + i % 3);
    set
}

/// Passes when `stored` is exactly the whole set of one racing task.
fn one_whole_set(stored: &[Credential], prefix: &str, tasks: usize) -> Outcome {
    ensure!(
        (0..tasks).any(|i| stored == racing_set(prefix, i).as_slice()),
        "after the race the {} stored credentials are not exactly one racing task's whole set",
        stored.len()
    );
    Ok(())
}

/// The record racing task `i` writes over `read`: its own scopes, config and time, so
/// that a mix of two tasks' writes cannot pass for one.
fn racing_connection(read: &Connection, i: usize) -> Connection {
    let mut connection = read.clone();
    connection.granted_scopes = vec![format!("task-{i}")];
    connection.config = serde_json::json!({ "task": i });
    connection.updated_at = read
        .updated_at
        .saturating_add(Duration::from_millis(1 + i as u64));
    connection
}

/// `put_approval_call` of one key, by every task at once: exactly one stores its call
/// (the others are handed that one); then `take_answered_call` of the settled call, by
/// every task at once: exactly one gets it. A store that reads then writes lets several
/// through (two processes would each run the approved call, or each answer the retry).
async fn approval_call_races(stores: &Arc<dyn Stores>, t: &TenantId, tasks: usize) -> Outcome {
    use integrations_core::model::{ApprovalCall, ApprovalStage};
    let key = "5a3f0c2b8e1d4f6a9b7c3e2d1f0a8b6c4d2e0f9a7b5c3d1e8f6a4b2c0d9e7f5a";
    let put_first = race(tasks, |i| {
        let (s, t) = (Arc::clone(stores), t.clone());
        async move {
            let request = r::approval(
                &t,
                &format!("ap-race-{i}"),
                Duration::from_secs(600),
                i % 2 == 0,
            );
            let call = ApprovalCall::pending(key, request, at(0));
            match s.put_approval_call(&call, at(0)).await {
                Ok(None) => Ok(true),
                Ok(Some(_)) => Ok(false),
                Err(e) => Err(format!("a racing put_approval_call failed: {}", e.code())),
            }
        }
    })
    .await?;
    ensure!(
        put_first == 1,
        "{put_first} of {tasks} concurrent put_approval_call of one key stored their call"
    );
    let pending = ok(
        stores.get_approval_call(t, key, at(1)).await,
        "get_approval_call",
    )?
    .ok_or("the raced approval call is missing")?;
    let running = pending.at_stage(ApprovalStage::Running, None, at(2), at(4000));
    ensure!(
        ok(
            stores
                .update_approval_call(&running, ApprovalStage::Pending)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from pending to running failed"
    );
    let settled = running.at_stage(
        ApprovalStage::Settled,
        Some(r::sealed("raced result")),
        at(3),
        at(4000),
    );
    ensure!(
        ok(
            stores
                .update_approval_call(&settled, ApprovalStage::Running)
                .await,
            "update_approval_call"
        )?,
        "update_approval_call from running to settled failed"
    );
    let taken = race(tasks, |_| {
        let (s, t) = (Arc::clone(stores), t.clone());
        async move {
            match s.take_answered_call(&t, key, at(4)).await {
                Ok(found) => Ok(found.is_some()),
                Err(e) => Err(format!("a racing take_answered_call failed: {}", e.code())),
            }
        }
    })
    .await?;
    ensure!(
        taken == 1,
        "{taken} of {tasks} concurrent take_answered_call of one settled call got it"
    );
    Ok(())
}

/// `put_connection_if_absent` of one id, by every task at once: exactly one inserts, and
/// the stored record is that task's whole record. A store that looks then inserts in two
/// steps lets several through, each writing over the last (two creates of one chosen id
/// would both succeed, the first one's record lost).
async fn connection_insert_race(stores: &Arc<dyn Stores>, t: &TenantId, tasks: usize) -> Outcome {
    let base = r::connection(t, "c-insert-race", false);
    let winners = race(tasks, |i| {
        let (s, base) = (Arc::clone(stores), base.clone());
        async move {
            s.put_connection_if_absent(&racing_connection(&base, i))
                .await
                .map_err(|e| format!("a racing put_connection_if_absent failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent put_connection_if_absent calls of one id inserted"
    );
    let raced = ok(stores.get_connection(t, &base.id).await, "get_connection")?
        .ok_or("the raced connection is missing")?;
    let winner = (0..tasks)
        .find(|&i| raced.granted_scopes == [format!("task-{i}")])
        .ok_or_else(|| {
            format!(
                "after the put_connection_if_absent race the stored scopes are {:?}, no task's",
                raced.granted_scopes
            )
        })?;
    same(
        &raced,
        &racing_connection(&base, winner),
        "after the put_connection_if_absent race, the connection (the winner's whole record)",
    )
}

/// `put_connection_if_unchanged` from one read, by every task at once: exactly one writes,
/// and the stored record is that task's whole record. A store that compares then writes
/// in two steps lets several through, each writing over the last.
async fn connection_write_race(stores: &Arc<dyn Stores>, t: &TenantId, tasks: usize) -> Outcome {
    let read = r::connection(t, "c-write-race", false);
    ok(stores.put_connection(&read).await, "put_connection")?;
    let winners = race(tasks, |i| {
        let (s, read) = (Arc::clone(stores), read.clone());
        async move {
            s.put_connection_if_unchanged(&read, &racing_connection(&read, i))
                .await
                .map_err(|e| format!("a racing put_connection_if_unchanged failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent put_connection_if_unchanged calls from one read wrote"
    );
    let raced = ok(stores.get_connection(t, &read.id).await, "get_connection")?
        .ok_or("the raced connection vanished")?;
    let winner = (0..tasks)
        .find(|&i| raced.granted_scopes == [format!("task-{i}")])
        .ok_or_else(|| {
            format!(
                "after the put_connection_if_unchanged race the stored scopes are {:?}, no task's",
                raced.granted_scopes
            )
        })?;
    same(
        &raced,
        &racing_connection(&read, winner),
        "after the put_connection_if_unchanged race, the connection (the winner's whole record)",
    )
}

async fn concurrency(stores: &Arc<dyn Stores>, scope: &Scope, tasks: usize) -> Outcome {
    let t = scope.tenant("a");
    let c = r::connection_id("c1");
    ok(
        stores
            .swap_credentials(&t, &c, None, r::credentials("start"))
            .await,
        "swap_credentials",
    )?;
    let winners = race(tasks, |i| {
        let (s, t, c) = (Arc::clone(stores), t.clone(), c.clone());
        async move {
            match s
                .swap_credentials(&t, &c, Some(1), racing_set("task", i))
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.code() == "store.version_conflict" => Ok(false),
                Err(e) => Err(format!("a racing swap failed: {}", e.code())),
            }
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent swaps from one version succeeded"
    );
    let after_race = ok(stores.load_credentials(&t, &c).await, "load_credentials")?
        .ok_or("credentials vanished")?;
    ensure!(
        after_race.version == 2,
        "after the race the credentials are version {}",
        after_race.version
    );
    one_whole_set(&after_race.credentials, "task", tasks)?;

    let fresh = r::connection_id("c2");
    let winners = race(tasks, |i| {
        let (s, t, c) = (Arc::clone(stores), t.clone(), fresh.clone());
        async move {
            match s
                .swap_credentials(&t, &c, None, racing_set("first", i))
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.code() == "store.version_conflict" => Ok(false),
                Err(e) => Err(format!("a racing first swap failed: {}", e.code())),
            }
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent first swaps succeeded"
    );
    let first = ok(
        stores.load_credentials(&t, &fresh).await,
        "load_credentials",
    )?
    .ok_or("the first credentials vanished")?;
    ensure!(
        first.version == 1,
        "after the first-swap race the credentials are version {}",
        first.version
    );
    one_whole_set(&first.credentials, "first", tasks)?;

    connection_write_race(stores, &t, tasks).await?;
    connection_insert_race(stores, &t, tasks).await?;

    let mut checkpoint = r::checkpoint(&t, "issues", false);
    ok(stores.save_checkpoint(&checkpoint).await, "save_checkpoint")?;
    checkpoint.version = 1;
    let winners = race(tasks, |_| {
        let (s, checkpoint) = (Arc::clone(stores), checkpoint.clone());
        async move {
            match s.save_checkpoint(&checkpoint).await {
                Ok(_) => Ok(true),
                Err(e) if e.code() == "store.version_conflict" => Ok(false),
                Err(e) => Err(format!("a racing checkpoint save failed: {}", e.code())),
            }
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent checkpoint saves succeeded"
    );

    let pending = r::oauth_state(&t, &scope.name("state"), at(600), true);
    ok(stores.put_oauth_state(&pending).await, "put_oauth_state")?;
    let winners = race(tasks, |_| {
        let (s, digest) = (Arc::clone(stores), pending.state_digest.clone());
        async move {
            s.take_oauth_state(&digest, at(0))
                .await
                .map(|p| p.is_some())
                .map_err(|e| format!("a racing take_oauth_state failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent takers got one OAuth state"
    );

    let approval = r::approval(&t, "ap-race", Duration::from_secs(60), false);
    ok(stores.put_approval(&approval).await, "put_approval")?;
    let winners = race(tasks, |_| {
        let (s, t, id) = (Arc::clone(stores), t.clone(), approval.id.clone());
        async move {
            s.take_approval(&t, &id, at(0))
                .await
                .map(|p| p.is_some())
                .map_err(|e| format!("a racing take_approval failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent takers got one approval"
    );

    let continuation = r::continuation(&t, &scope.name("cont"), at(0), at(600));
    ok(
        stores.put_continuation(&continuation).await,
        "put_continuation",
    )?;
    let winners = race(tasks, |_| {
        let (s, t, id) = (Arc::clone(stores), t.clone(), continuation.id.clone());
        async move {
            s.take_continuation(&t, &id, at(0))
                .await
                .map(|p| p.is_some())
                .map_err(|e| format!("a racing take_continuation failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent takers got one continuation"
    );

    let event = r::event(&t, &scope.name("event"), at(0), false);
    let winners = race(tasks, |_| {
        let (s, event) = (Arc::clone(stores), event.clone());
        async move {
            s.record_event_if_new(&event)
                .await
                .map_err(|e| format!("a racing record_event_if_new failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent deliveries of one event were new"
    );
    // Concurrent redeliveries of that event, stalled (it was never marked delivered):
    // exactly one takes it over, in a store that keeps delivery states.
    let state = ok(
        stores
            .event_delivery(&t, &event.key, &event.external_event_id)
            .await,
        "event_delivery",
    )?;
    if state.is_some() {
        let winners = race(tasks, |i| {
            let (s, event) = (Arc::clone(stores), redelivered(&event, 600 + i as u64));
            async move {
                s.take_over_event(&event, at(0))
                    .await
                    .map_err(|e| format!("a racing take_over_event failed: {}", e.code()))
            }
        })
        .await?;
        ensure!(
            winners == 1,
            "{winners} of {tasks} concurrent takeovers of one stalled event succeeded"
        );
    }

    // Conditional status changes from the status all tasks read: exactly one wins, and
    // the stored status is the winner's.
    let connection = r::connection(&t, "c-status", false);
    ok(stores.put_connection(&connection).await, "put_connection")?;
    let winners = race(tasks, |i| {
        let (s, t, id) = (Arc::clone(stores), t.clone(), connection.id.clone());
        async move {
            s.set_connection_status_if(
                &t,
                &id,
                &ConnectionStatus::Active,
                ConnectionStatus::Revoked {
                    reason: format!("task-{i}"),
                },
                at(1),
            )
            .await
            .map(|c| c.is_some())
            .map_err(|e| format!("a racing set_connection_status_if failed: {}", e.code()))
        }
    })
    .await?;
    ensure!(
        winners == 1,
        "{winners} of {tasks} concurrent set_connection_status_if calls from one status won"
    );
    let raced = ok(
        stores.get_connection(&t, &connection.id).await,
        "get_connection",
    )?
    .ok_or("the raced connection vanished")?;
    ensure!(
        matches!(&raced.status, ConnectionStatus::Revoked { reason } if reason.starts_with("task-")),
        "after the race the connection's status is {:?}",
        raced.status
    );
    approval_call_races(stores, &t, tasks).await
}

async fn tenant_isolation(s: &dyn Stores, scope: &Scope) -> Outcome {
    let a = scope.tenant("a");
    let b = scope.tenant("b");
    let target = r::target(&a, "t1", true);
    let connection = r::connection(&a, "c1", true);
    let binding = r::binding(&a, "b1", 1, true);
    let publication = r::publication(&a, "p1", "c1", true);
    let checkpoint = r::checkpoint(&a, "issues", true);
    let approval = r::approval(&a, "ap-1", Duration::from_secs(60), true);
    let continuation = r::continuation(&a, &scope.name("cont"), at(0), at(600));
    let event = r::event(&a, &scope.name("event"), at(0), true);
    ok(s.put_target(&target).await, "put_target")?;
    ok(s.put_connection(&connection).await, "put_connection")?;
    ok(
        s.swap_credentials(&a, &connection.id, None, r::credentials("a"))
            .await,
        "swap_credentials",
    )?;
    ok(s.put_binding(&binding).await, "put_binding")?;
    ok(s.put_publication(&publication).await, "put_publication")?;
    ok(s.save_checkpoint(&checkpoint).await, "save_checkpoint")?;
    ok(s.put_approval(&approval).await, "put_approval")?;
    ok(s.put_continuation(&continuation).await, "put_continuation")?;
    ok(s.record_event_if_new(&event).await, "record_event_if_new")?;

    // Tenant B, with tenant A's ids.
    ensure!(
        ok(s.get_target(&b, &target.id).await, "get_target")?.is_none(),
        "tenant B read tenant A's target"
    );
    ensure!(
        ok(s.list_targets(&b).await, "list_targets")?.is_empty(),
        "tenant B listed tenant A's targets"
    );
    ensure!(
        ok(s.get_connection(&b, &connection.id).await, "get_connection")?.is_none(),
        "tenant B read tenant A's connection"
    );
    ensure!(
        ok(s.list_connections(&b).await, "list_connections")?.is_empty(),
        "tenant B listed tenant A's connections"
    );
    ensure!(
        ok(
            s.set_connection_status(&b, &connection.id, ConnectionStatus::Active, at(50))
                .await,
            "set_connection_status"
        )?
        .is_none(),
        "tenant B changed tenant A's connection status"
    );
    ensure!(
        ok(
            s.set_connection_status_if(
                &b,
                &connection.id,
                &connection.status,
                ConnectionStatus::Active,
                at(50)
            )
            .await,
            "set_connection_status_if"
        )?
        .is_none(),
        "tenant B conditionally changed tenant A's connection status"
    );
    ensure!(
        ok(s.find_targets(&target.key).await, "find_targets")?
            .iter()
            .all(|t| t.tenant != b),
        "find_targets returned a target under tenant B, which has none"
    );
    ensure!(
        ok(s.find_targets(&target.key).await, "find_targets")?
            .iter()
            .any(|t| t.tenant == a && t.id == target.id),
        "find_targets did not return tenant A's target under tenant A"
    );
    ensure!(
        ok(
            s.load_credentials(&b, &connection.id).await,
            "load_credentials"
        )?
        .is_none(),
        "tenant B read tenant A's credentials"
    );
    ensure!(
        is_version_conflict(
            &s.swap_credentials(&b, &connection.id, Some(1), r::credentials("b"))
                .await
        ),
        "tenant B swapped tenant A's credentials"
    );
    ensure!(
        ok(s.get_binding(&b, &binding.id).await, "get_binding")?.is_none(),
        "tenant B read tenant A's binding"
    );
    ensure!(
        ok(s.list_bindings(&b, &r::profile(1)).await, "list_bindings")?.is_empty(),
        "tenant B listed tenant A's bindings"
    );
    ensure!(
        ok(
            s.get_publication(&b, &publication.id).await,
            "get_publication"
        )?
        .is_none(),
        "tenant B read tenant A's publication"
    );
    ensure!(
        ok(
            s.list_publications(&b, &connection.id).await,
            "list_publications"
        )?
        .is_empty(),
        "tenant B listed tenant A's publications"
    );
    ensure!(
        ok(
            s.load_checkpoint(&b, &checkpoint.connection, "issues")
                .await,
            "load_checkpoint"
        )?
        .is_none(),
        "tenant B read tenant A's checkpoint"
    );
    ensure!(
        is_version_conflict(
            &s.save_checkpoint(&{
                let mut c = checkpoint.clone();
                c.tenant = b.clone();
                c.version = 1;
                c
            })
            .await
        ),
        "tenant B saved over tenant A's checkpoint"
    );
    ensure!(
        ok(
            s.take_approval(&b, &approval.id, at(0)).await,
            "take_approval"
        )?
        .is_none(),
        "tenant B took tenant A's approval"
    );
    ensure!(
        ok(
            s.take_continuation(&b, &continuation.id, at(0)).await,
            "take_continuation"
        )?
        .is_none(),
        "tenant B took tenant A's continuation"
    );
    ensure!(
        !ok(
            s.forget_event(&b, &event.key, &event.external_event_id)
                .await,
            "forget_event"
        )?,
        "tenant B forgot tenant A's event"
    );
    ensure!(
        !ok(s.delete_target(&b, &target.id).await, "delete_target")?,
        "tenant B deleted tenant A's target"
    );
    ensure!(
        !ok(
            s.delete_connection(&b, &connection.id).await,
            "delete_connection"
        )?,
        "tenant B deleted tenant A's connection"
    );
    ensure!(
        !ok(
            s.delete_credentials(&b, &connection.id).await,
            "delete_credentials"
        )?,
        "tenant B deleted tenant A's credentials"
    );
    ensure!(
        !ok(s.delete_binding(&b, &binding.id).await, "delete_binding")?,
        "tenant B deleted tenant A's binding"
    );
    ensure!(
        !ok(
            s.delete_publication(&b, &publication.id).await,
            "delete_publication"
        )?,
        "tenant B deleted tenant A's publication"
    );
    // An id taken in tenant A is free in tenant B.
    let mut own = r::connection(&b, "c1", false);
    own.granted_scopes = vec!["tenant-b".into()];
    ensure!(
        ok(
            s.put_connection_if_absent(&own).await,
            "put_connection_if_absent"
        )?,
        "put_connection_if_absent in tenant B found tenant A's connection in the way"
    );
    ensure!(
        ok(s.delete_connection(&b, &own.id).await, "delete_connection")?,
        "tenant B's own connection could not be deleted"
    );

    // Tenant A's records are all still there, unchanged.
    same(
        &ok(s.get_target(&a, &target.id).await, "get_target")?,
        &Some(target),
        "tenant A's target",
    )?;
    same(
        &ok(s.get_connection(&a, &connection.id).await, "get_connection")?,
        &Some(connection.clone()),
        "tenant A's connection",
    )?;
    let creds = ok(
        s.load_credentials(&a, &connection.id).await,
        "load_credentials",
    )?
    .ok_or("tenant A's credentials vanished")?;
    ensure!(creds.version == 1, "tenant A's credentials changed version");
    same(
        &creds.credentials,
        &r::credentials("a"),
        "tenant A's credentials",
    )?;
    same(
        &ok(s.get_binding(&a, &binding.id).await, "get_binding")?,
        &Some(binding),
        "tenant A's binding",
    )?;
    same(
        &ok(
            s.get_publication(&a, &publication.id).await,
            "get_publication",
        )?,
        &Some(publication),
        "tenant A's publication",
    )?;
    ensure!(
        ok(
            s.load_checkpoint(&a, &checkpoint.connection, "issues")
                .await,
            "load_checkpoint"
        )?
        .is_some_and(|c| c.version == 1),
        "tenant A's checkpoint changed"
    );
    ensure!(
        !ok(s.record_event_if_new(&event).await, "record_event_if_new")?,
        "tenant A's event was forgotten"
    );
    same(
        &ok(
            s.take_approval(&a, &approval.id, at(0)).await,
            "take_approval",
        )?,
        &Some(approval),
        "tenant A's approval",
    )?;
    same(
        &ok(
            s.take_continuation(&a, &continuation.id, at(0)).await,
            "take_continuation",
        )?,
        &Some(continuation),
        "tenant A's continuation",
    )?;
    Ok(())
}

async fn purge(s: &dyn Stores, scope: &Scope) -> Outcome {
    let t = scope.tenant("a");
    // Records at OLD times: before anything any other check or host writes.
    let expired_state = r::oauth_state(&t, &scope.name("expired"), old(100), false);
    let live_state = r::oauth_state(&t, &scope.name("live"), old(10_000), false);
    let mut expired_approval = r::approval(&t, "ap-expired", Duration::ZERO, false);
    expired_approval.expires_at = old(100);
    let mut live_approval = r::approval(&t, "ap-live", Duration::ZERO, false);
    live_approval.expires_at = old(10_000);
    let expired_cont = r::continuation(&t, &scope.name("c-expired"), old(0), old(100));
    let live_cont = r::continuation(&t, &scope.name("c-live"), old(0), old(10_000));
    let old_event = r::event(&t, &scope.name("e-old"), old(100), false);
    let new_event = r::event(&t, &scope.name("e-new"), old(5_000), false);
    // Approval call records (which call each request answers) expire with their request.
    let call = |name: &str, request: &integrations_core::model::ApprovalRequest| {
        integrations_core::model::ApprovalCall::pending(
            format!("{name:0>64}"),
            request.clone(),
            old(0),
        )
    };
    let expired_call = call("c0ffee01", &expired_approval);
    let live_call = call("c0ffee02", &live_approval);
    ok(
        s.put_approval_call(&expired_call, old(0)).await,
        "put_approval_call",
    )?;
    ok(
        s.put_approval_call(&live_call, old(0)).await,
        "put_approval_call",
    )?;
    ok(s.put_oauth_state(&expired_state).await, "put_oauth_state")?;
    ok(s.put_oauth_state(&live_state).await, "put_oauth_state")?;
    ok(s.put_approval(&expired_approval).await, "put_approval")?;
    ok(s.put_approval(&live_approval).await, "put_approval")?;
    ok(s.put_continuation(&expired_cont).await, "put_continuation")?;
    ok(s.put_continuation(&live_cont).await, "put_continuation")?;
    ok(
        s.record_event_if_new(&old_event).await,
        "record_event_if_new",
    )?;
    ok(
        s.record_event_if_new(&new_event).await,
        "record_event_if_new",
    )?;

    // Now: OLD + 1100. Expired records kept 1000 s (the boundary, expired at OLD + 100,
    // goes); events remembered 2000 s (received at OLD + 100 goes, OLD + 5000 stays).
    let now: Timestamp = old(1_100);
    let retention = Retention::new(Duration::from_secs(1_000), Duration::from_secs(1_000));
    let report = ok(purge_expired(s, now, retention).await, "purge_expired")?;
    ensure!(
        report.oauth_states == 1
            && report.approvals == 2
            && report.continuations == 1
            && report.webhook_events == 1,
        "purge_expired reported {report:?}, want one of each (two approval records: the request and its call)"
    );
    ensure!(
        ok(
            s.get_approval_call(&t, &expired_call.key, old(0)).await,
            "get_approval_call"
        )?
        .is_none(),
        "an expired approval call survived the purge"
    );
    ensure!(
        ok(
            s.get_approval_call(&t, &live_call.key, now).await,
            "get_approval_call"
        )?
        .is_some(),
        "a live approval call was purged"
    );
    // The expired records are taken at a time before they expired: one the purge left
    // would be returned.
    ensure!(
        ok(
            s.take_oauth_state(&expired_state.state_digest, old(0))
                .await,
            "take_oauth_state"
        )?
        .is_none(),
        "an expired OAuth state survived the purge"
    );
    ensure!(
        ok(
            s.take_oauth_state(&live_state.state_digest, now).await,
            "take_oauth_state"
        )?
        .is_some(),
        "a live OAuth state was purged"
    );
    ensure!(
        ok(
            s.take_approval(&t, &expired_approval.id, old(0)).await,
            "take_approval"
        )?
        .is_none(),
        "an expired approval survived the purge"
    );
    ensure!(
        ok(
            s.take_approval(&t, &live_approval.id, now).await,
            "take_approval"
        )?
        .is_some(),
        "a live approval was purged"
    );
    ensure!(
        ok(
            s.take_continuation(&t, &expired_cont.id, old(0)).await,
            "take_continuation"
        )?
        .is_none(),
        "an expired continuation survived the purge"
    );
    ensure!(
        ok(
            s.take_continuation(&t, &live_cont.id, now).await,
            "take_continuation"
        )?
        .is_some(),
        "a live continuation was purged"
    );
    ensure!(
        ok(
            s.record_event_if_new(&old_event).await,
            "record_event_if_new"
        )?,
        "an event past the dedup retention is still remembered"
    );
    ensure!(
        !ok(
            s.record_event_if_new(&new_event).await,
            "record_event_if_new"
        )?,
        "an event within the dedup retention was forgotten"
    );
    let again = ok(purge_expired(s, now, retention).await, "purge_expired")?;
    ensure!(
        again.total() == 1,
        "a second purge deleted {again:?}; only the re-recorded old event should go"
    );
    Ok(())
}
