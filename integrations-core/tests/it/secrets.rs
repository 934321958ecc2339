//! No error kind carries a secret: every error path that handles one is driven with a
//! known secret, and the secret must be absent from Display, Debug and the source chain.

use std::collections::BTreeSet;

use integrations_core::definition::{ConnectionMethod, SecretField};
use integrations_core::host::{Aad, AesGcmKeyRing, Sealed, SecretCipher, SecretCipherExt};
use integrations_core::model::{Credential, CredentialSet, CredentialType, Target};
use integrations_core::provider::{RedirectStart, TargetSecrets};
use integrations_core::schema::{BaseUrl, ConfigSpec};
use integrations_core::webhook::{Headers, InboundRequest, WebhookRequest};
use integrations_core::{
    ConnectionId, DefinitionKey, Error, ErrorKind, Registry, Secret, SecretJson, TargetId,
    TenantId, Timestamp,
};
use integrations_testkit::{assert_debug_secret_free, assert_secret_free};
use serde_json::json;

use crate::support::{TestIntegration, TrackerSecrets};

const SECRET: &str = "sk-live-4f9c2b7e1d0a";

fn check(errors: &mut Vec<(ErrorKind, String)>, err: &Error) {
    assert_secret_free(err, SECRET);
    errors.push((err.kind(), err.code().to_owned()));
}

#[test]
fn every_error_kind_is_secret_free() {
    let mut seen = Vec::new();

    // InvalidInput: ids, keys, URLs and schema values holding the secret.
    check(
        &mut seen,
        &TenantId::new(format!("{SECRET} x")).unwrap_err(),
    );
    check(
        &mut seen,
        &format!("{SECRET}_x::y")
            .parse::<DefinitionKey>()
            .unwrap_err(),
    );
    check(
        &mut seen,
        &BaseUrl::parse(&format!("https://user:{SECRET}@x.test")).unwrap_err(),
    );
    check(
        &mut seen,
        &BaseUrl::parse(&format!("https://x.test/?token={SECRET}")).unwrap_err(),
    );
    check(&mut seen, &Timestamp::parse_rfc3339(SECRET).unwrap_err());
    let schema = ConfigSpec::of::<TrackerSecrets>().compile().unwrap();
    for value in [
        json!({"webhook_secret": 1, "x": SECRET}),
        json!(SECRET),
        json!({"webhook_secret": [SECRET]}),
    ] {
        let issues = schema.parse(&value).unwrap_err();
        let err = Error::invalid_input("target.invalid", "invalid", issues);
        check(&mut seen, &err);
    }

    // NotFound and Conflict.
    let registry = Registry::new();
    check(
        &mut seen,
        &registry
            .require(&"tracker::cloud".parse().unwrap())
            .unwrap_err(),
    );
    let mut r = Registry::new();
    r.register(TestIntegration::new("tracker::cloud").arc())
        .unwrap();
    let mut again = TestIntegration::new("tracker::cloud");
    again.tools.clear();
    check(&mut seen, &r.register(again.arc()).unwrap_err());

    // Crypto: a sealed secret opened with the wrong key, wrong associated data, or tampered.
    let ring = AesGcmKeyRing::new("k1", [9; 32]).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let aad = Aad::new(&tenant, "credential", "c1", "api_key");
    let sealed = ring.seal_secret(&Secret::new(SECRET), &aad).unwrap();
    let other = AesGcmKeyRing::new("k1", [8; 32]).unwrap();
    check(&mut seen, &other.open(&sealed, &aad).unwrap_err());
    check(
        &mut seen,
        &ring
            .open(&sealed, &Aad::new(&tenant, "credential", "c2", "api_key"))
            .unwrap_err(),
    );
    check(
        &mut seen,
        &AesGcmKeyRing::new("k2", [9; 32])
            .unwrap()
            .open(&sealed, &aad)
            .unwrap_err(),
    );
    let mut bytes = sealed.ciphertext().to_vec();
    bytes[20] ^= 1;
    check(
        &mut seen,
        &ring.open(&Sealed::new("k1", bytes), &aad).unwrap_err(),
    );

    // Conflict: an ambiguous credential.
    let set = CredentialSet::new(
        tenant.clone(),
        ConnectionId::new("c1").unwrap(),
        1,
        vec![
            Credential::new(
                CredentialType::API_KEY,
                sealed.clone(),
                Timestamp::UNIX_EPOCH,
            )
            .with_slot("a"),
            Credential::new(
                CredentialType::API_KEY,
                sealed.clone(),
                Timestamp::UNIX_EPOCH,
            )
            .with_slot("b"),
        ],
    );
    check(
        &mut seen,
        &set.find(&CredentialType::API_KEY, None).unwrap_err(),
    );

    // Configuration: a schema that does not compile, quoting the secret as a keyword value.
    let bad = ConfigSpec::from_json_schema(json!({"type": SECRET}));
    check(&mut seen, &bad.compile().unwrap_err());

    let kinds: BTreeSet<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    for kind in [
        "invalid_input",
        "not_found",
        "conflict",
        "crypto",
        "configuration",
    ] {
        assert!(kinds.contains(kind), "no {kind} error was checked");
    }
}

#[test]
fn secret_types_never_print() {
    assert_debug_secret_free(&Secret::new(SECRET), SECRET);
    assert_debug_secret_free(&SecretJson::new(json!({"token": SECRET})), SECRET);
    let ring = AesGcmKeyRing::new("k1", [9; 32]).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let sealed = ring
        .seal_secret(
            &Secret::new(SECRET),
            &Aad::new(&tenant, "credential", "c1", "api_key"),
        )
        .unwrap();
    assert_debug_secret_free(&sealed, SECRET);
    assert_debug_secret_free(&ring, SECRET);
    let parsed = ConfigSpec::of::<TrackerSecrets>()
        .compile()
        .unwrap()
        .parse(&json!({"webhook_secret": SECRET}))
        .unwrap();
    assert_debug_secret_free(&parsed, SECRET);
    assert_debug_secret_free(parsed.get::<TrackerSecrets>().unwrap(), SECRET);
    assert_debug_secret_free(
        &TargetSecrets::from_pairs([("client_secret", SECRET)]),
        SECRET,
    );

    // A webhook delivery's body may carry a token (Slack's verification token, a
    // `response_url`): a request's `Debug` shows its length only.
    let key: DefinitionKey = "slack::slack-default".parse().unwrap();
    let headers = Headers::from_pairs([("content-type", "application/x-www-form-urlencoded")]);
    let body = format!("token={SECRET}&command=%2Fdeploy");
    let request = WebhookRequest::new(key.clone(), headers.clone(), body.clone().into_bytes());
    assert_debug_secret_free(&request, SECRET);
    assert_debug_secret_free(
        &InboundRequest::new(&key, &headers, body.as_bytes()),
        SECRET,
    );

    // An OAuth start never shows its `state`.
    let tenant = TenantId::new("acme").unwrap();
    let target = Target::new(
        tenant,
        TargetId::new("t").unwrap(),
        key,
        Timestamp::UNIX_EPOCH,
    );
    let config = ConfigSpec::of::<TrackerSecrets>()
        .compile()
        .unwrap()
        .parse(&json!({"webhook_secret": "w"}))
        .unwrap();
    let method = ConnectionMethod::api_key(
        "api-key",
        "Key",
        vec![SecretField::new("key", "Key", CredentialType::API_KEY)],
    )
    .unwrap();
    assert_debug_secret_free(
        &RedirectStart::new(&target, &config, &method, SECRET, "https://app.test/cb"),
        SECRET,
    );
}
