//! Every public enum's wire names, pinned: each JSON value below is read and written back
//! byte for byte, so a renamed variant (or serde's `OAuth2` → `o_auth2`) fails here.

use integrations_core::IntegrationKind;
use integrations_core::definition::{ClientAuth, ConnectionMethodKind, Pkce, ScopeSeparator};
use integrations_core::host::AuditOutcome;
use integrations_core::model::{
    AuthorizationIntent, ConnectionScope, ConnectionStatus, PublicationScope,
};
use integrations_core::plan::{
    AuthInjection, InstallStep, McpConfigFormat, McpTransport, Readiness, WriteMode,
};
use integrations_core::schema::Widget;
use integrations_core::sync::SyncMode;
use integrations_core::tools::{PolicyOrigin, ToolPolicy};
use integrations_core::webhook::{SessionDispatch, SubjectKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn pin<T: Serialize + DeserializeOwned>(values: &[Value]) {
    for value in values {
        let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| {
            panic!("{} does not read {value}: {e}", std::any::type_name::<T>())
        });
        assert_eq!(
            &serde_json::to_value(&typed).unwrap(),
            value,
            "{}",
            std::any::type_name::<T>()
        );
    }
}

#[test]
fn every_public_wire_name_is_pinned() {
    pin::<ConnectionMethodKind>(&[
        json!("api_key"),
        json!("oauth2_authorization_code"),
        json!("oauth2_client_credentials"),
        json!("redirect"),
    ]);
    pin::<IntegrationKind>(&[json!("agent"), json!("connector"), json!("git")]);
    pin::<ScopeSeparator>(&[json!("space"), json!("comma")]);
    pin::<Pkce>(&[json!("unsupported"), json!("s256")]);
    pin::<ClientAuth>(&[json!("basic_header"), json!("request_body")]);
    pin::<ConnectionStatus>(&[
        json!({"status": "active"}),
        json!({"status": "error", "reason": "r"}),
        json!({"status": "revoked", "reason": "r"}),
    ]);
    pin::<ConnectionScope>(&[
        json!({"level": "organization"}),
        json!({"level": "workspace", "workspace": "w"}),
        json!({"level": "project", "project": "p"}),
        json!({"level": "user", "user": "u"}),
    ]);
    pin::<PublicationScope>(&[
        json!({"level": "workspace", "workspace": "w"}),
        json!({"level": "issue", "issue": "i"}),
        json!({"level": "user", "user": "u"}),
    ]);
    pin::<AuthorizationIntent>(&[
        json!({"intent": "create", "scope": {"level": "organization"}}),
        json!({"intent": "reauthorize", "connection": "c"}),
    ]);
    pin::<WriteMode>(&[json!("overwrite"), json!("if_absent")]);
    pin::<Readiness>(&[
        json!({"type": "none"}),
        json!({"type": "tcp", "port": 1}),
        json!({"type": "ws", "url": "ws://127.0.0.1:1"}),
        json!({"type": "http", "url": "http://127.0.0.1:1", "expected_status": 200}),
    ]);
    pin::<McpTransport>(&[
        json!({"type": "stdio", "command": "c", "args": [], "env": {}}),
        json!({"type": "streamable_http", "url": "https://x.test/mcp", "headers": {}}),
    ]);
    pin::<McpConfigFormat>(&[json!("toml"), json!("json")]);
    pin::<InstallStep>(&[
        json!({"type": "exec", "args": ["a"]}),
        json!({"type": "github_release", "repository": "o/r", "tag": null, "assets": {}, "binary": "b"}),
    ]);
    pin::<AuthInjection>(&[
        json!({"type": "bearer"}),
        json!({"type": "basic", "username": null}),
        json!({"type": "header", "name": "x-api-key", "prefix": null}),
        json!({"type": "query", "name": "key"}),
    ]);
    pin::<Widget>(&[
        json!("text"),
        json!("password"),
        json!("textarea"),
        json!("select"),
        json!("checkbox"),
        json!("number"),
        json!("url"),
        json!("list"),
    ]);
    pin::<SyncMode>(&[json!("full"), json!("incremental")]);
    pin::<ToolPolicy>(&[json!("auto"), json!("ask"), json!("block")]);
    pin::<PolicyOrigin>(&[json!("tool"), json!("integration"), json!("default")]);
    pin::<SubjectKind>(&[
        json!("issue"),
        json!("pull_request"),
        json!("comment"),
        json!("message"),
        json!("push"),
        json!("other"),
    ]);
    let key = json!({"family": "slack", "scope": "T1", "thread": "1.2"});
    pin::<SessionDispatch>(&[
        json!({"dispatch": "create", "key": key}),
        json!({"dispatch": "resume", "key": key}),
        json!({"dispatch": "ignore", "reason": "r"}),
    ]);
    pin::<AuditOutcome>(&[
        json!({"outcome": "success"}),
        json!({"outcome": "failure", "code": "c"}),
        json!({"outcome": "denied", "code": "c"}),
    ]);
}

#[test]
fn the_old_spelling_of_oauth2_kinds_is_still_read() {
    for (old, new) in [
        (
            "o_auth2_authorization_code",
            ConnectionMethodKind::OAuth2AuthorizationCode,
        ),
        (
            "o_auth2_client_credentials",
            ConnectionMethodKind::OAuth2ClientCredentials,
        ),
    ] {
        assert_eq!(
            serde_json::from_value::<ConnectionMethodKind>(json!(old)).unwrap(),
            new
        );
    }
}
