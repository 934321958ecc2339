//! The cross-process refresh lease: a short-lived marker credential written into the
//! connection's credential set by compare-and-swap before the token endpoint is called.
//!
//! Of several processes that find the same expired token, exactly one swaps the lease in
//! (the others' swaps conflict); they wait for the set to change and use the token the
//! winner stored. A lease whose holder died expires (by the host clock) and can be taken
//! over.

use std::time::Duration;

use crate::host::Host;

use crate::model::{Connection, Credential, CredentialSet, CredentialType};
use crate::sealing::SecretCipherExt;
use crate::service::credential_aad;
use crate::{Error, Secret, Timestamp};

/// The credential type of the refresh lease marker.
pub const REFRESH_LEASE_TYPE: &str = "oauth2_refresh_lease";

fn is_lease(credential: &Credential, slot: Option<&str>) -> bool {
    credential.credential_type.as_str() == REFRESH_LEASE_TYPE && credential.slot.as_deref() == slot
}

/// When a live lease for `slot` is in the set, its expiry.
pub(super) fn held(set: &CredentialSet, slot: Option<&str>, now: Timestamp) -> Option<Timestamp> {
    set.credentials
        .iter()
        .filter(|c| is_lease(c, slot))
        .filter_map(|c| c.expires_at)
        .find(|expires_at| *expires_at > now)
}

/// The set's lease for `slot`, live or expired. Once [`held`] found none live, one found
/// here lapsed: its holder may still have a token request in flight.
pub(super) fn lapsed<'s>(set: &'s CredentialSet, slot: Option<&str>) -> Option<&'s Credential> {
    set.credentials.iter().find(|c| is_lease(c, slot))
}

/// The set's credentials without any lease for `slot`.
pub(super) fn without(set: &CredentialSet, slot: Option<&str>) -> Vec<Credential> {
    set.credentials
        .iter()
        .filter(|c| !is_lease(c, slot))
        .cloned()
        .collect()
}

/// The set's credentials with a fresh lease for `slot` (replacing an expired one).
pub(super) fn with_lease(
    host: &Host,
    connection: &Connection,
    set: &CredentialSet,
    slot: Option<&str>,
    now: Timestamp,
    ttl: Duration,
) -> Result<Vec<Credential>, Error> {
    let lease_type = CredentialType::new(REFRESH_LEASE_TYPE)?;
    let holder = crate::sealing::random_hex()?;
    let sealed = host.cipher().seal_secret(
        &Secret::new(holder),
        &credential_aad(connection, &lease_type, slot),
    )?;
    let mut lease =
        Credential::new(lease_type, sealed, now).with_expiry(Some(now.saturating_add(ttl)));
    lease.slot = slot.map(str::to_owned);
    let mut credentials = without(set, slot);
    credentials.push(lease);
    Ok(credentials)
}
