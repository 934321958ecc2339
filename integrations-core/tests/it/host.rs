//! A host gives only what its engines use: `build()` requires the targets, connections
//! and credentials stores and the cipher; every other part is a stand-in failing with
//! `host.part_missing`; engines with a fallible constructor refuse a host without their
//! parts. (A webhook-only host ingesting a real GitHub delivery end to end is in
//! `integrations-definitions`' `webhooks::webhook_only`, next to the GitHub definition.)

use std::sync::Arc;

use integrations_core::auth::TokenManager;
use integrations_core::host::{AesGcmKeyRing, Host, HostBuilder, HostPart};
use integrations_core::model::{ApprovalId, ProfileVersion};
use integrations_core::sync::SyncRunner;
use integrations_core::tools::Runtime;
use integrations_core::webhook::{Ingest, ManagedWebhooks};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, ErrorKind, ProfileId, PublicationId, Registry, TenantId,
    Timestamp,
};
use integrations_testkit::{MemoryStore, TestHost, assert_debug_secret_free};

const KEY_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn keys() -> Arc<AesGcmKeyRing> {
    Arc::new(AesGcmKeyRing::new("k1", [7; 32]).unwrap())
}

/// A builder with the four required parts and nothing else.
fn required(store: &Arc<MemoryStore>) -> HostBuilder {
    Host::builder()
        .targets(store.clone())
        .connections(store.clone())
        .credentials(store.clone())
        .cipher(keys())
}

fn minimal() -> (Arc<MemoryStore>, Host) {
    let store = Arc::new(MemoryStore::new());
    let host = required(&store).build().unwrap();
    (store, host)
}

const OPTIONAL: [HostPart; 8] = [
    HostPart::Http,
    HostPart::Bindings,
    HostPart::OAuthStates,
    HostPart::WebhookEvents,
    HostPart::Publications,
    HostPart::Checkpoints,
    HostPart::Approvals,
    HostPart::Continuations,
];

/// `error` is `host.part_missing` naming `part` and how to set it.
fn names_missing(error: &Error, part: &str, setter: &str) {
    assert_eq!(error.code(), "host.part_missing", "{error}");
    assert_eq!(error.kind(), ErrorKind::Configuration);
    let message = error.to_string();
    assert!(message.contains(part), "{message}");
    assert!(message.contains(setter), "{message}");
}

#[test]
fn build_names_each_missing_required_part_and_only_those() {
    let store = Arc::new(MemoryStore::new());
    let cases = [
        (
            "targets",
            Host::builder()
                .connections(store.clone())
                .credentials(store.clone())
                .cipher(keys()),
        ),
        (
            "connections",
            Host::builder()
                .targets(store.clone())
                .credentials(store.clone())
                .cipher(keys()),
        ),
        (
            "credentials",
            Host::builder()
                .targets(store.clone())
                .connections(store.clone())
                .cipher(keys()),
        ),
        ("cipher", Host::builder().stores(store.clone())),
    ];
    for (missing, builder) in cases {
        let error = builder.build().unwrap_err();
        assert_eq!(error.code(), "host.incomplete");
        assert_eq!(error.kind(), ErrorKind::Configuration);
        let message = error.to_string();
        assert!(
            message.contains(&format!("the host is missing: {missing} (")),
            "{message}"
        );
        for other in ["targets", "connections", "credentials", "cipher"] {
            if other != missing {
                assert!(!message.contains(&format!("{other},")), "{message}");
            }
        }
        // Optional parts are never demanded.
        for optional in ["http", "checkpoints", "approvals", "webhook_events"] {
            assert!(!message.contains(optional), "{message}");
        }
    }

    let error = Host::builder().build().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the host is missing: targets, connections, credentials, cipher"),
        "{error}"
    );
}

#[test]
fn the_full_case_has_every_part_and_a_clone_is_one_reference() {
    let test = TestHost::new();
    let host = test.host();
    for part in HostPart::ALL {
        assert!(host.has(part), "{part}");
    }
    host.require("everything", &HostPart::ALL).unwrap();
    for needs in [
        Ingest::HOST_PARTS,
        ManagedWebhooks::HOST_PARTS,
        Runtime::HOST_PARTS,
        SyncRunner::HOST_PARTS,
        TokenManager::HOST_PARTS,
    ] {
        host.require("an engine", needs).unwrap();
    }
    // The parts live behind one `Arc`: cloning the host is one reference count.
    assert_eq!(std::mem::size_of::<Host>(), std::mem::size_of::<Arc<()>>());
}

#[tokio::test]
async fn a_part_not_given_fails_every_call_naming_itself_and_its_setter() {
    let (store, host) = minimal();
    for part in [
        HostPart::Targets,
        HostPart::Connections,
        HostPart::Credentials,
    ] {
        assert!(host.has(part));
    }
    for part in OPTIONAL {
        assert!(!host.has(part), "{part}");
    }
    let tenant = TenantId::new("acme").unwrap();
    let connection = ConnectionId::new("c-1").unwrap();
    let key: DefinitionKey = "x::x-cloud".parse().unwrap();
    let now = Timestamp::from_unix_seconds(1_790_000_000);
    let stores = "or HostBuilder::stores";

    let request = http::Request::get("http://127.0.0.1:9/")
        .body(bytes::Bytes::new())
        .unwrap();
    let error = host.http().send(request).await.unwrap_err();
    names_missing(&error, "the host has no HTTP client", "HostBuilder::http");
    let error = host
        .http_arc()
        .send(http::Request::new(bytes::Bytes::new()))
        .await
        .unwrap_err();
    names_missing(&error, "HTTP client", "HostBuilder::http");

    let profile = ProfileVersion::new(ProfileId::new("p").unwrap(), 1);
    let error = host
        .bindings()
        .list_bindings(&tenant, &profile)
        .await
        .unwrap_err();
    names_missing(&error, "binding store", "HostBuilder::bindings");
    assert!(error.to_string().contains(stores));

    let error = host
        .oauth_states()
        .take_oauth_state("digest", now)
        .await
        .unwrap_err();
    names_missing(&error, "OAuth state store", "HostBuilder::oauth_states");

    let error = host
        .webhook_events()
        .forget_event(&tenant, &key, "evt-1")
        .await
        .unwrap_err();
    names_missing(&error, "webhook event store", "HostBuilder::webhook_events");
    // A default that would answer "nothing to purge" fails too: a missing store is not
    // an empty one.
    let error = host.webhook_events().purge_events(now).await.unwrap_err();
    names_missing(&error, "webhook event store", "HostBuilder::webhook_events");

    let error = host
        .publications()
        .get_publication(&tenant, &PublicationId::new("pub-1").unwrap())
        .await
        .unwrap_err();
    names_missing(&error, "publication store", "HostBuilder::publications");

    let error = host
        .checkpoints()
        .load_checkpoint(&tenant, &connection, "issues")
        .await
        .unwrap_err();
    names_missing(&error, "checkpoint store", "HostBuilder::checkpoints");
    assert_eq!(
        error.to_string(),
        "the host has no checkpoint store; set one with HostBuilder::checkpoints or \
         HostBuilder::stores"
    );

    let error = host
        .approvals()
        .take_approval(&tenant, &ApprovalId::new("ap-1").unwrap(), now)
        .await
        .unwrap_err();
    names_missing(&error, "approval store", "HostBuilder::approvals");
    let error = host.approvals().purge_approvals(now).await.unwrap_err();
    names_missing(&error, "approval store", "HostBuilder::approvals");

    let error = host
        .continuations()
        .take_continuation(&tenant, "cursor-digest", now)
        .await
        .unwrap_err();
    names_missing(&error, "continuation store", "HostBuilder::continuations");

    // The required stores are the ones given, and nothing was written anywhere.
    assert!(
        host.targets()
            .list_targets(&tenant)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.record_count(), 0);
}

#[test]
fn require_names_every_missing_part_once_in_order() {
    let (_, host) = minimal();
    host.require(
        "a reader",
        &[
            HostPart::Targets,
            HostPart::Connections,
            HostPart::Credentials,
        ],
    )
    .unwrap();

    let error = host
        .require(
            "the sync runner",
            &[
                HostPart::Checkpoints,
                HostPart::Targets,
                HostPart::Http,
                HostPart::Checkpoints,
            ],
        )
        .unwrap_err();
    assert_eq!(error.code(), "host.part_missing");
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert_eq!(
        error.to_string(),
        "the sync runner needs parts this host was built without: the HTTP client \
         (HostBuilder::http), the checkpoint store (HostBuilder::checkpoints or \
         HostBuilder::stores)"
    );

    let error = host.require("sync", SyncRunner::HOST_PARTS).unwrap_err();
    names_missing(&error, "checkpoint store", "HostBuilder::checkpoints");
    let error = host.require("tools", Runtime::HOST_PARTS).unwrap_err();
    for part in ["approval store", "publication store", "continuation store"] {
        assert!(error.to_string().contains(part), "{error}");
    }
}

#[test]
fn ingest_and_managed_webhooks_refuse_a_host_without_their_parts() {
    let registry = Arc::new(Registry::new());
    let (store, host) = minimal();

    let error = Ingest::new(registry.clone(), host.clone()).unwrap_err();
    names_missing(&error, "webhook ingest", "HostBuilder::webhook_events");
    assert!(error.to_string().contains("webhook event store"), "{error}");

    // Without an event sink every verified delivery would fail: refused at start-up.
    let without_sink = required(&store)
        .webhook_events(store.clone())
        .build()
        .unwrap();
    let error = Ingest::new(registry.clone(), without_sink).unwrap_err();
    names_missing(&error, "webhook ingest", "HostBuilder::events");
    assert!(error.to_string().contains("event sink"), "{error}");

    let webhook_only = required(&store)
        .webhook_events(store.clone())
        .events(Arc::new(integrations_testkit::RecordingEventSink::new()))
        .build()
        .unwrap();
    Ingest::new(registry.clone(), webhook_only.clone()).unwrap();

    let tokens = Arc::new(TokenManager::new(registry.clone(), webhook_only.clone()));
    let error = ManagedWebhooks::new(
        registry.clone(),
        webhook_only,
        tokens.clone(),
        "https://hooks.example.com",
    )
    .unwrap_err();
    names_missing(&error, "managed webhooks", "HostBuilder::http");
    assert!(error.to_string().contains("HTTP client"), "{error}");

    let with_http = TestHost::new().host().clone();
    ManagedWebhooks::new(registry, with_http, tokens, "https://hooks.example.com").unwrap();
}

#[test]
fn debug_lists_the_missing_parts_and_no_secret() {
    let (_, host) = minimal();
    let debug = format!("{host:?}");
    assert!(
        debug.contains("Checkpoints") && debug.contains("Http"),
        "{debug}"
    );
    assert!(!debug.contains("Targets"), "{debug}");
    assert_debug_secret_free(&host, KEY_HEX);
    assert_debug_secret_free(&Host::builder().cipher(keys()), KEY_HEX);
}
