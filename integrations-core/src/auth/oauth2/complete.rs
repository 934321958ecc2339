//! Completing an authorization-code flow: exchange the code (with the PKCE verifier kept
//! sealed in the pending authorization), read the tokens, find the external subject.

use std::collections::BTreeMap;

use super::client;
use super::token_response::TokenSet;
use crate::Error;
use crate::auth::identity;
use crate::auth::persist::Obtained;
use crate::auth::target::TargetContext;
use crate::definition::ConnectionMethod;
use crate::host::Host;
use crate::model::{CredentialType, PendingAuthorization};
use crate::provider::IssuedCredential;
use crate::sealing::{Aad, SecretCipherExt};

/// The associated data of a pending authorization's sealed PKCE verifier.
pub(crate) fn verifier_aad(pending: &PendingAuthorization) -> Aad {
    crate::sealing::pkce_verifier_aad(&pending.tenant, &pending.state_digest)
}

/// The credentials a token set yields.
pub(crate) fn issued(tokens: &TokenSet) -> Vec<IssuedCredential> {
    let mut out = vec![
        IssuedCredential::new(
            CredentialType::OAUTH2_ACCESS_TOKEN,
            tokens.access_token.clone(),
        )
        .with_expiry(tokens.expires_at),
    ];
    if let Some(refresh) = &tokens.refresh_token {
        out.push(
            IssuedCredential::new(CredentialType::OAUTH2_REFRESH_TOKEN, refresh.clone())
                .with_expiry(tokens.refresh_expires_at),
        );
    }
    out
}

/// The external subject: from the token response, else from the definition's identity
/// check when it names one.
pub(crate) async fn subject(
    host: &Host,
    context: &TargetContext,
    method: &ConnectionMethod,
    tokens: &TokenSet,
) -> Result<Option<String>, Error> {
    if tokens.subject.is_some() {
        return Ok(tokens.subject.clone());
    }
    let Some(check) = crate::definition::identity_check_with_defaults(
        context.entry.definition(),
        method,
        &context.config,
    )?
    else {
        return Ok(None);
    };
    if check.subject_pointer.is_none() {
        return Ok(None);
    }
    Ok(identity::verify(host, &check, &tokens.access_token)
        .await?
        .subject)
}

/// Exchanges the callback's code and returns what to store.
pub(crate) async fn complete(
    host: &Host,
    context: &TargetContext,
    method: &ConnectionMethod,
    pending: &PendingAuthorization,
    params: &BTreeMap<String, String>,
) -> Result<Obtained, Error> {
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        return Err(
            crate::codes::oauth::MISSING_CODE.error("the callback has no authorization code")
        );
    };
    let spec = context.oauth2(method)?;
    let secrets = context.secrets(host)?;
    let verifier = match &pending.pkce_verifier {
        Some(sealed) => Some(host.cipher().open_secret(sealed, &verifier_aad(pending))?),
        None => None,
    };
    let tokens = client::exchange_code(
        host,
        &spec,
        &secrets,
        code,
        &pending.redirect_uri,
        verifier.as_ref(),
    )
    .await?;
    let external_subject = subject(host, context, method, &tokens).await?;
    Ok(Obtained {
        credentials: issued(&tokens),
        granted_scopes: tokens
            .scopes
            .clone()
            .unwrap_or_else(|| pending.scopes.clone()),
        external_subject,
    })
}
