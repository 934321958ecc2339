//! The records the suite stores: every optional field set, or none.

use std::time::Duration;

use integrations_core::host::Sealed;
use integrations_core::model::{
    AuthorizationIntent, Binding, Capability, Connection, ConnectionScope, ConnectionStatus,
    Credential, CredentialType, PendingAuthorization, ProfileVersion, Publication,
    PublicationScope, SyncCheckpoint, Target,
};
use integrations_core::tools::{
    ApprovalId, ApprovalRequest, CallContext, PendingContinuation, Session,
};
use integrations_core::webhook::WebhookEvent;
use integrations_core::{
    BindingId, ConnectionId, ConnectionMethodId, DefinitionKey, IntegrationKind, ProfileId,
    ProjectId, PublicationId, TargetId, TenantId, Timestamp, UserId, WorkspaceId,
};
use serde_json::json;

/// Far after any real clock a host runs with, so that [`purge`](super) of records made
/// at [`OLD`] times never touches these.
const BASE: i64 = 4_000_000_000;
/// Long before any real record: what the purge check makes.
pub(super) const OLD: i64 = 1_000_000_000;

pub(super) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(BASE + seconds)
}

pub(super) fn old(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(OLD + seconds)
}

fn id<T>(parse: fn(String) -> Result<T, integrations_core::Error>, value: &str) -> T {
    parse(value.to_owned()).expect("a valid id")
}

pub(super) fn tenant(value: &str) -> TenantId {
    id(TenantId::new, value)
}
pub(super) fn connection_id(value: &str) -> ConnectionId {
    id(ConnectionId::new, value)
}
pub(super) fn target_id(value: &str) -> TargetId {
    id(TargetId::new, value)
}
pub(super) fn binding_id(value: &str) -> BindingId {
    id(BindingId::new, value)
}
pub(super) fn publication_id(value: &str) -> PublicationId {
    id(PublicationId::new, value)
}
pub(super) fn approval_id(value: &str) -> ApprovalId {
    id(ApprovalId::new, value)
}
pub(super) fn profile(version: u64) -> ProfileVersion {
    ProfileVersion::new(id(ProfileId::new, "support-agent"), version)
}

pub(super) fn key() -> DefinitionKey {
    DefinitionKey::new("github", "github").expect("a valid key")
}

pub(super) fn other_key() -> DefinitionKey {
    DefinitionKey::new("linear", "linear").expect("a valid key")
}

pub(super) fn sealed(label: &str) -> Sealed {
    // Arbitrary bytes, with every byte value a column must keep (0, high bit).
    let mut bytes = vec![0_u8, 1, 127, 128, 255];
    bytes.extend_from_slice(label.as_bytes());
    Sealed::new("key-2026", bytes)
}

pub(super) fn target(tenant: &TenantId, id: &str, full: bool) -> Target {
    let mut target = Target::new(tenant.clone(), target_id(id), key(), at(0));
    if full {
        target.enabled = false;
        target.display_name = Some("Acme GitHub Enterprise".into());
        target.config = json!({"base_url": "https://github.acme.test", "ñ": [1, 2.5, null]});
        target.secrets = Some(sealed("target-secrets"));
        target.updated_at = at(5);
    }
    target
}

pub(super) fn connection(tenant: &TenantId, id: &str, full: bool) -> Connection {
    let mut connection = Connection::new(
        tenant.clone(),
        connection_id(id),
        target_id("t1"),
        key(),
        ConnectionMethodId::new("github_app").expect("a valid id"),
        at(0),
    );
    if full {
        connection.status = ConnectionStatus::Error {
            reason: "refresh token rejected".into(),
        };
        connection.scope = ConnectionScope::User {
            user: UserId::new("u-1").expect("a valid id"),
        };
        connection.external_subject = Some("installation-42".into());
        connection.endpoint_key = Some("ep-7f3a".into());
        connection.config = json!({"org": "acme", "repos": ["a", "b"]});
        connection.granted_scopes = vec!["repo".into(), "read:org".into()];
        connection.managed_webhook = Some(
            integrations_core::webhook::ManagedWebhook::new(
                "hook-1234",
                "https://hooks.example.com/webhooks/github/github-cloud/ep-7f3a",
                at(8),
            )
            .with_place(Some("repos/acme/app".into())),
        );
        connection.updated_at = at(9);
    }
    connection
}

pub(super) fn credentials(label: &str) -> Vec<Credential> {
    vec![
        Credential::new(CredentialType::API_KEY, sealed(label), at(1)),
        Credential::new(
            CredentialType::OAUTH2_ACCESS_TOKEN,
            sealed(&format!("{label}-access")),
            at(2),
        )
        .with_slot("bot")
        .with_expiry(Some(at(3600))),
        Credential::new(
            CredentialType::new("jira_api_token").expect("a valid type"),
            sealed(&format!("{label}-custom")),
            at(3),
        )
        .with_slot("user"),
    ]
}

pub(super) fn binding(tenant: &TenantId, id: &str, version: u64, full: bool) -> Binding {
    let mut binding = Binding::new(
        tenant.clone(),
        binding_id(id),
        profile(version),
        connection_id("c1"),
        IntegrationKind::Git,
        at(0),
    );
    if full {
        binding.config = json!({"repositories": ["acme/api"], "labels": {"bug": true}});
        binding.updated_at = at(4);
    }
    binding
}

pub(super) fn oauth_state(
    tenant: &TenantId,
    digest: &str,
    expires_at: Timestamp,
    full: bool,
) -> PendingAuthorization {
    let intent = if full {
        AuthorizationIntent::Reauthorize {
            connection: connection_id("c1"),
        }
    } else {
        AuthorizationIntent::Create {
            scope: ConnectionScope::Organization,
        }
    };
    let mut pending = PendingAuthorization::new(
        digest,
        tenant.clone(),
        key(),
        target_id("t1"),
        ConnectionMethodId::new("oauth").expect("a valid id"),
        "https://host.test/oauth/callback",
        intent,
        at(0),
        expires_at,
    );
    if full {
        pending.user = Some(UserId::new("u-1").expect("a valid id"));
        pending.scopes = vec!["repo".into(), "user:email".into()];
        pending.pkce_verifier = Some(sealed("pkce"));
    }
    pending
}

pub(super) fn event(
    tenant: &TenantId,
    event_id: &str,
    received_at: Timestamp,
    full: bool,
) -> WebhookEvent {
    let mut value = json!({
        "tenant": tenant.as_str(),
        "connection": "c1",
        "key": key().as_str(),
        "event_type": "github.issue.opened",
        "provider_event_type": "issues.opened",
        "external_event_id": event_id,
        "delivery_id": null,
        "occurred_at": null,
        "received_at": received_at,
        "source_order_key": null,
        "subject": null,
        "payload": {"action": "opened", "issue": {"number": 7, "title": "ünïcode \"quoted\""}},
    });
    if full {
        value["delivery_id"] = json!("d-1");
        value["occurred_at"] = json!(at(-5));
        value["source_order_key"] = json!("000042");
        value["subject"] = json!({
            "kind": "issue", "id": "I_1", "number": "7", "title": "Crash", "text": "body",
            "url": "https://github.test/acme/api/issues/7", "actor": "octocat",
            "container": "acme/api", "parent": "P_1",
        });
        value["dispatch"] = json!({
            "dispatch": "resume",
            "key": {"family": "github", "scope": "acme/api", "thread": "7"},
        });
    }
    serde_json::from_value(value).expect("a valid webhook event")
}

pub(super) fn publication(
    tenant: &TenantId,
    id: &str,
    connection: &str,
    full: bool,
) -> Publication {
    let scope = if full {
        PublicationScope::User {
            user: UserId::new("u-1").expect("a valid id"),
        }
    } else {
        PublicationScope::Issue {
            issue: "ENG-1".into(),
        }
    };
    let mut publication = Publication::new(
        tenant.clone(),
        publication_id(id),
        connection_id(connection),
        scope,
        at(0),
    );
    if full {
        publication
            .capabilities
            .insert(Capability::new("issue.create").expect("a valid capability"));
        publication
            .capabilities
            .insert(Capability::new("issue.comment").expect("a valid capability"));
        publication.expires_at = Some(at(86_400));
    }
    publication
}

pub(super) fn checkpoint(tenant: &TenantId, stream: &str, full: bool) -> SyncCheckpoint {
    let mut checkpoint = SyncCheckpoint::new(tenant.clone(), connection_id("c1"), stream, at(0));
    if full {
        checkpoint.cursor = Some("cursor-Zm9v".into());
        checkpoint.watermark = Some("2030-01-01T00:00:00Z".into());
        checkpoint.in_full_sync = true;
        checkpoint.state = json!({"pages": 3, "etag": "W/\"x\""});
    }
    checkpoint
}

pub(super) fn approval(
    tenant: &TenantId,
    id: &str,
    expires_in: Duration,
    full: bool,
) -> ApprovalRequest {
    let mut session = Session::new(
        tenant.clone(),
        WorkspaceId::new("ws-1").expect("a valid id"),
    );
    let mut context = CallContext::new(session.clone(), connection_id("c1"));
    if full {
        session = session
            .with_user(UserId::new("u-1").expect("a valid id"))
            .with_project(ProjectId::new("p-1").expect("a valid id"))
            .with_issue("ENG-42");
        context = CallContext::new(session, connection_id("c1"))
            .with_publication(publication_id("pub-1"));
    }
    ApprovalRequest::new(
        approval_id(id),
        "github_create_issue",
        key(),
        json!({"title": "Crash", "labels": ["bug"]}),
        context,
        at(0),
        expires_in,
    )
}

pub(super) fn continuation(
    tenant: &TenantId,
    id: &str,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> PendingContinuation {
    serde_json::from_value(json!({
        "tenant": tenant.as_str(),
        "id": id,
        "workspace": "ws-1",
        "connection": "c1",
        "pointer": "/items",
        "page": 2,
        "remaining_pages": 5,
        "pages": sealed("pages"),
        "created_at": created_at,
        "expires_at": expires_at,
    }))
    .expect("a valid continuation")
}
