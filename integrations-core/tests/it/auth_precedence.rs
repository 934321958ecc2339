//! Precedence, explicit and tested: which connection a request uses (by scope rank, never
//! by comparing strings) and which path resolves a credential.

use integrations_core::auth::{
    ApiKeyConnections, RequestScope, ResolutionPath, TokenManager, find_connection,
    resolution_path, select_connection,
};
use integrations_core::credential::{CredentialRequest, CredentialSource};
use integrations_core::definition::ConnectionMethodKind;
use integrations_core::host::ConnectionStore;
use integrations_core::model::{Connection, ConnectionScope, ConnectionStatus, CredentialType};
use integrations_core::plan::CredentialSelector;
use integrations_core::service::ConnectionInput;
use integrations_core::{
    ConnectionId, DefinitionKey, ErrorKind, ProjectId, Secret, TargetId, Timestamp, UserId,
    WorkspaceId,
};
use integrations_testkit::TestHost;
use integrations_testkit::mock::oauth::LinearMock;
use serde_json::json;

use crate::auth_support::{connect, setup, target_id, tenant};

fn connection(id: &str, key: &str, scope: ConnectionScope) -> Connection {
    let mut c = Connection::new(
        tenant(),
        ConnectionId::new(id).unwrap(),
        TargetId::new("t").unwrap(),
        key.parse().unwrap(),
        "oauth2".parse().unwrap(),
        Timestamp::UNIX_EPOCH,
    );
    c.scope = scope;
    c
}

fn user(u: &str) -> ConnectionScope {
    ConnectionScope::User {
        user: UserId::new(u).unwrap(),
    }
}
fn project(p: &str) -> ConnectionScope {
    ConnectionScope::Project {
        project: ProjectId::new(p).unwrap(),
    }
}
fn workspace(w: &str) -> ConnectionScope {
    ConnectionScope::Workspace {
        workspace: WorkspaceId::new(w).unwrap(),
    }
}

fn key() -> DefinitionKey {
    "linear::linear-default".parse().unwrap()
}

fn pick<'a>(candidates: &'a [Connection], scope: &RequestScope) -> Option<&'a str> {
    select_connection(candidates, &key(), scope)
        .unwrap()
        .map(|c| c.id.as_str())
}

#[test]
fn the_most_specific_applicable_connection_wins() {
    let candidates = vec![
        // Ids chosen so that a lexical sort would pick the wrong one.
        connection(
            "a-org",
            "linear::linear-default",
            ConnectionScope::Organization,
        ),
        connection("z-workspace", "linear::linear-default", workspace("w1")),
        connection("b-project", "linear::linear-default", project("p1")),
        connection("c-user-alice", "linear::linear-default", user("alice")),
        connection("d-user-bob", "linear::linear-default", user("bob")),
        connection("e-other-key", "github::github-cloud", user("alice")),
    ];
    let everything = RequestScope::organization()
        .with_workspace(WorkspaceId::new("w1").unwrap())
        .with_project(ProjectId::new("p1").unwrap())
        .with_user(UserId::new("alice").unwrap());
    assert_eq!(pick(&candidates, &everything), Some("c-user-alice"));
    let no_user = RequestScope::organization()
        .with_workspace(WorkspaceId::new("w1").unwrap())
        .with_project(ProjectId::new("p1").unwrap());
    assert_eq!(pick(&candidates, &no_user), Some("b-project"));
    let workspace_only =
        RequestScope::organization().with_workspace(WorkspaceId::new("w1").unwrap());
    assert_eq!(pick(&candidates, &workspace_only), Some("z-workspace"));
    assert_eq!(
        pick(&candidates, &RequestScope::organization()),
        Some("a-org")
    );
    // Another user's, project's or workspace's connection never applies.
    let carol = RequestScope::organization()
        .with_workspace(WorkspaceId::new("w2").unwrap())
        .with_project(ProjectId::new("p2").unwrap())
        .with_user(UserId::new("carol").unwrap());
    assert_eq!(pick(&candidates, &carol), Some("a-org"));
    // Input order does not matter.
    let mut reversed = candidates.clone();
    reversed.reverse();
    assert_eq!(pick(&reversed, &everything), Some("c-user-alice"));
    assert_eq!(pick(&[], &everything), None);
}

#[test]
fn ambiguity_at_the_winning_rank_is_an_error_and_revoked_ones_never_apply() {
    let mut two_orgs = vec![
        connection(
            "org-1",
            "linear::linear-default",
            ConnectionScope::Organization,
        ),
        connection(
            "org-2",
            "linear::linear-default",
            ConnectionScope::Organization,
        ),
    ];
    let e = select_connection(&two_orgs, &key(), &RequestScope::organization()).unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "auth.ambiguous_connection")
    );
    // A more specific connection settles it.
    two_orgs.push(connection("alice", "linear::linear-default", user("alice")));
    let alice = RequestScope::organization().with_user(UserId::new("alice").unwrap());
    assert_eq!(pick(&two_orgs, &alice), Some("alice"));
    // A revoked connection is out; one in error still wins (the caller must repair it).
    let mut revoked = connection(
        "org-2",
        "linear::linear-default",
        ConnectionScope::Organization,
    );
    revoked.status = ConnectionStatus::Revoked {
        reason: "removed".into(),
    };
    let mut broken = connection("alice", "linear::linear-default", user("alice"));
    broken.status = ConnectionStatus::Error {
        reason: "invalid_grant".into(),
    };
    let candidates = vec![
        connection(
            "org-1",
            "linear::linear-default",
            ConnectionScope::Organization,
        ),
        revoked,
        broken,
    ];
    assert_eq!(
        pick(&candidates, &RequestScope::organization()),
        Some("org-1")
    );
    assert_eq!(pick(&candidates, &alice), Some("alice"));
}

#[tokio::test]
async fn find_connection_reads_the_store() {
    let test = TestHost::new();
    for c in [
        connection(
            "org",
            "linear::linear-default",
            ConnectionScope::Organization,
        ),
        connection("alice", "linear::linear-default", user("alice")),
    ] {
        test.store.put_connection(&c).await.unwrap();
    }
    let alice = RequestScope::organization().with_user(UserId::new("alice").unwrap());
    let found = find_connection(test.host(), &tenant(), &key(), &alice)
        .await
        .unwrap();
    assert_eq!(found.unwrap().id.as_str(), "alice");
}

#[test]
fn the_resolution_path_follows_the_documented_order() {
    use ConnectionMethodKind::{
        ApiKey, OAuth2AuthorizationCode, OAuth2ClientCredentials, Redirect,
    };
    let access = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN);
    let refresh = CredentialSelector::of_type(CredentialType::OAUTH2_REFRESH_TOKEN);
    let api_key = CredentialSelector::of_type(CredentialType::API_KEY);
    let custom = access.clone().with_resolver("installation-token");
    let cases = [
        (
            OAuth2AuthorizationCode,
            &custom,
            true,
            ResolutionPath::CustomResolver("installation-token".into()),
        ),
        (
            ApiKey,
            &custom,
            false,
            ResolutionPath::CustomResolver("installation-token".into()),
        ),
        (
            OAuth2AuthorizationCode,
            &access,
            true,
            ResolutionPath::ManagedOAuth2,
        ),
        (
            OAuth2ClientCredentials,
            &access,
            true,
            ResolutionPath::ManagedOAuth2,
        ),
        (
            OAuth2AuthorizationCode,
            &refresh,
            true,
            ResolutionPath::DefaultResolver,
        ),
        (
            OAuth2AuthorizationCode,
            &refresh,
            false,
            ResolutionPath::Stored,
        ),
        (Redirect, &access, true, ResolutionPath::DefaultResolver),
        (ApiKey, &api_key, true, ResolutionPath::DefaultResolver),
        (ApiKey, &api_key, false, ResolutionPath::Stored),
    ];
    for (kind, selector, default, expected) in cases {
        assert_eq!(
            resolution_path(kind, selector, default),
            expected,
            "{kind:?} {selector:?}"
        );
    }
}

#[tokio::test]
async fn the_token_manager_applies_resolution_precedence() {
    let mock = LinearMock::start().await;
    let (test, registry) = setup(&mock).await;
    let tokens = TokenManager::new(registry.clone(), test.host().clone());

    // An OAuth connection whose config would make the default resolver accept it.
    let mut oauth = connect(&test, &registry, &mock).await;
    oauth.config = json!({"use_default": true});
    test.store.put_connection(&oauth).await.unwrap();

    // 1. A custom resolver named by the selector wins over managed OAuth.
    let narrowed = CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN)
        .with_resolver("echo")
        .with_parameter("repositories", json!(["octo-org/octo-repo"]));
    let got = tokens
        .credential(&CredentialRequest::new(&oauth, &narrowed))
        .await
        .unwrap();
    assert_eq!(
        got.value.expose(),
        r#"resolved:{"repositories":["octo-org/octo-repo"]}"#
    );
    let other = narrowed
        .clone()
        .with_parameter("repositories", json!(["octo-org/other"]));
    let got = tokens
        .credential(&CredentialRequest::new(&oauth, &other))
        .await
        .unwrap();
    assert!(
        got.value.expose().contains("octo-org/other"),
        "parameters are part of the cache key"
    );
    let missing =
        CredentialSelector::of_type(CredentialType::OAUTH2_ACCESS_TOKEN).with_resolver("nope");
    let e = tokens
        .credential(&CredentialRequest::new(&oauth, &missing))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::NotFound, "auth.resolver_not_found")
    );

    // 2. Managed OAuth comes before the default resolver for access tokens.
    let access = tokens.access_token(&oauth).await.unwrap();
    assert!(
        mock.issued_secrets()
            .contains(&access.value.expose().to_owned())
    );

    // 3. The default resolver comes before the stored credential...
    let refresh = CredentialSelector::of_type(CredentialType::OAUTH2_REFRESH_TOKEN);
    let got = tokens
        .credential(&CredentialRequest::new(&oauth, &refresh))
        .await
        .unwrap();
    assert_eq!(got.value.expose(), "default-resolver-token");

    // 4. ...and when it declines, the stored credential by type and slot is used.
    let keys = ApiKeyConnections::new(registry.clone(), test.host().clone())
        .connect(
            ConnectionInput::new(
                tenant(),
                ConnectionId::new("keys").unwrap(),
                target_id(),
                "api-key".parse().unwrap(),
            )
            .with_secret("bot", "bot-key-1")
            .with_secret("user", "user-key-1"),
        )
        .await
        .unwrap();
    let any_key = CredentialSelector::of_type(CredentialType::API_KEY);
    let e = tokens
        .credential(&CredentialRequest::new(&keys, &any_key))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "credential.ambiguous")
    );
    let user_key = any_key.clone().with_slot("user");
    let got = tokens
        .credential(&CredentialRequest::new(&keys, &user_key))
        .await
        .unwrap();
    assert_eq!(got.value.expose(), "user-key-1");
    assert!(got.expires_at.is_none());
    // A static key the provider rejects cannot be renewed.
    let again = tokens
        .credential_rejected(
            &CredentialRequest::new(&keys, &user_key),
            &Secret::new("user-key-1"),
        )
        .await
        .unwrap();
    assert!(again.is_none());
    let absent = CredentialSelector::of_type(CredentialType::WEBHOOK_SECRET);
    let e = tokens
        .credential(&CredentialRequest::new(&keys, &absent))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::NotFound, "auth.no_credential")
    );
}
