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

/// The credential type of the marker a refused takeover leaves: until it expires, a
/// refresh token refused after a lapsed lease was taken over may have been used up by
/// that lease's holder, whose tokens may still land, and no refresh sends it again.
pub const REFRESH_IN_DOUBT_TYPE: &str = "oauth2_refresh_in_doubt";

fn is_lease(credential: &Credential, slot: Option<&str>) -> bool {
    credential.credential_type.as_str() == REFRESH_LEASE_TYPE && credential.slot.as_deref() == slot
}

fn is_doubt(credential: &Credential, slot: Option<&str>) -> bool {
    credential.credential_type.as_str() == REFRESH_IN_DOUBT_TYPE
        && credential.slot.as_deref() == slot
}

/// When a live in-doubt marker for `slot` is in the set, its expiry.
pub(super) fn in_doubt(
    set: &CredentialSet,
    slot: Option<&str>,
    now: Timestamp,
) -> Option<Timestamp> {
    set.credentials
        .iter()
        .filter(|c| is_doubt(c, slot))
        .filter_map(|c| c.expires_at)
        .find(|expires_at| *expires_at > now)
}

/// `credentials` (a set as read, its lapsed lease in it) with an in-doubt marker for
/// `slot` until `until` (replacing an earlier one).
pub(super) fn with_doubt(
    host: &Host,
    connection: &Connection,
    credentials: &[Credential],
    slot: Option<&str>,
    (now, until): (Timestamp, Timestamp),
) -> Result<Vec<Credential>, Error> {
    let marker =
        marker(host, connection, REFRESH_IN_DOUBT_TYPE, slot, now)?.with_expiry(Some(until));
    let mut credentials: Vec<Credential> = credentials
        .iter()
        .filter(|c| !is_doubt(c, slot))
        .cloned()
        .collect();
    credentials.push(marker);
    Ok(credentials)
}

/// A marker credential of `credential_type` for `slot`, issued `now`, sealing a random
/// holder id.
fn marker(
    host: &Host,
    connection: &Connection,
    credential_type: &'static str,
    slot: Option<&str>,
    now: Timestamp,
) -> Result<Credential, Error> {
    let credential_type = CredentialType::new(credential_type)?;
    let holder = crate::sealing::random_hex()?;
    let sealed = host.cipher().seal_secret(
        &Secret::new(holder),
        &credential_aad(connection, &credential_type, slot),
    )?;
    let mut marker = Credential::new(credential_type, sealed, now);
    marker.slot = slot.map(str::to_owned);
    Ok(marker)
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

/// The set's credentials without any lease or in-doubt marker for `slot`.
pub(super) fn without(set: &CredentialSet, slot: Option<&str>) -> Vec<Credential> {
    set.credentials
        .iter()
        .filter(|c| !is_lease(c, slot) && !is_doubt(c, slot))
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
    let lease = marker(host, connection, REFRESH_LEASE_TYPE, slot, now)?
        .with_expiry(Some(now.saturating_add(ttl)));
    let mut credentials: Vec<Credential> = set
        .credentials
        .iter()
        .filter(|c| !is_lease(c, slot))
        .cloned()
        .collect();
    credentials.push(lease);
    Ok(credentials)
}
