//! The managed OAuth 2.0 path: the stored access token while it is fresh; otherwise one
//! refresh (or client-credentials renewal) per connection at a time, in-process by the
//! single-flight lock and across processes by the lease, with the new tokens (a rotated
//! refresh token included) swapped in atomically.
//!
//! The token request and the writes after it run in a task of their own, so a provider's
//! answer is stored even when its caller is gone: a rotating provider has used up the
//! refresh token by then. The caller stops waiting (a temporary `auth.refresh_timeout`)
//! when the request has not answered [`refresh_budget`] after the lease was taken, a
//! margin before the lease expires; the task goes on, extending the lease every half
//! lease while the provider has not answered (at most [`MAX_LEASE_HOLD`]), and releases
//! it or replaces it with the new tokens when the provider answers. Should the final
//! swap still conflict (clocks
//! disagree, or the connection was reauthorized meanwhile), the store is read again and
//! the tokens the provider just issued are kept unless the store already holds newer ones
//! (a refresh token other than the one this refresh used up).

use std::time::Duration;

use super::cache::CacheKey;
use super::{TokenManager, lease, same};
use crate::auth::CREDENTIAL_REVOKED;
use crate::auth::oauth2::client;
use crate::auth::oauth2::complete::issued;
use crate::auth::oauth2::token_response::{INVALID_GRANT, TokenSet};
use crate::auth::persist;
use crate::auth::target::TargetContext;
use crate::credential::ResolvedCredential;
use crate::definition::ConnectionMethodKind;
use crate::model::{Connection, Credential, CredentialSet, CredentialType};
use crate::plan::CredentialSelector;
use crate::{Error, Secret, Timestamp};

/// The stable code of an expired access token with no refresh token to renew it.
pub const NO_REFRESH_TOKEN: &str = crate::codes::oauth::NO_REFRESH_TOKEN.as_str();
/// The stable code of an expired refresh token.
pub const REFRESH_TOKEN_EXPIRED: &str = crate::codes::oauth::REFRESH_TOKEN_EXPIRED.as_str();

const MAX_ROUNDS: u32 = 64;
/// The longest a slow token request keeps extending its lease: past it, the lease lapses
/// and another process may refresh (a request that hangs must not block the connection
/// for good; the host's HTTP client should time out well before).
const MAX_LEASE_HOLD: Duration = Duration::from_secs(5 * 60);
/// The most kept back from a lease for the caller's wait.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How long a caller of a refresh under a lease of `ttl` waits for the token endpoint:
/// the lease minus a margin (a quarter of it, at most five seconds). The request itself
/// goes on, under its extended lease.
pub(super) fn refresh_budget(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 4).min(LEASE_MARGIN))
}
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Whether `error` says the grant behind a connection is dead (the connection is then
/// marked `error`).
pub(crate) fn is_dead_grant(error: &Error) -> bool {
    matches!(
        error.code(),
        INVALID_GRANT | CREDENTIAL_REVOKED | NO_REFRESH_TOKEN | REFRESH_TOKEN_EXPIRED
    )
}

/// How a renewal under the lease ended, when it did not fail.
enum Settled {
    /// Its tokens are the stored ones.
    Kept(TokenSet),
    /// Newer tokens are stored, or the store changed meanwhile: read it again.
    Again,
}

/// A renewal's tokens, and whether it used up the refresh token it was given.
struct Renewed {
    tokens: TokenSet,
    consumed: bool,
}

fn grant_of(kind: ConnectionMethodKind) -> &'static str {
    if kind == ConnectionMethodKind::OAuth2ClientCredentials {
        "client_credentials"
    } else {
        "refresh_token"
    }
}

fn matches_slot(
    credential: &Credential,
    credential_type: &CredentialType,
    slot: Option<&str>,
) -> bool {
    &credential.credential_type == credential_type && credential.slot.as_deref() == slot
}

impl TokenManager {
    /// The managed access token of an OAuth 2.0 connection. With `rejected`, a token equal
    /// to it is never returned: another caller's newer one is, or a new one is fetched.
    pub(super) async fn managed(
        &self,
        key: &CacheKey,
        connection: &Connection,
        kind: ConnectionMethodKind,
        selector: &CredentialSelector,
        rejected: Option<&Secret>,
    ) -> Result<ResolvedCredential, Error> {
        let _flight = self.cache.flight(key).await;
        if let Some(hit) = self.cache.get(key, self.freshness, self.now()) {
            if rejected.is_none_or(|r| !same(r, &hit.value)) {
                return Ok(hit);
            }
            self.cache.forget(key);
        }
        let slot = selector.slot.as_deref();
        let started = tokio::time::Instant::now();
        let mut pause = FIRST_PAUSE;
        for _ in 0..MAX_ROUNDS {
            let set = self.load_set(connection).await?;
            let now = self.now();
            if let Some(access) = set.find(&CredentialType::OAUTH2_ACCESS_TOKEN, slot)?
                && self
                    .freshness
                    .fresh(access.expires_at, access.issued_at, now)
            {
                let value = self.open(connection, access)?;
                if rejected.is_none_or(|r| !same(r, &value)) {
                    self.cache.put(
                        key.clone(),
                        value.clone(),
                        access.expires_at,
                        access.issued_at,
                        now,
                        self.freshness,
                    );
                    return Ok(ResolvedCredential::new(value, access.expires_at));
                }
            }
            if let Some(until) = lease::held(&set, slot, now) {
                // Another process is refreshing: wait for its tokens.
                if started.elapsed() >= self.lease_wait {
                    return Err(crate::codes::auth::REFRESH_IN_PROGRESS
                        .error(
                            "another process is refreshing this connection's token; retry shortly",
                        )
                        .with_retry_after(until.duration_since(now)));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
            // A refresh token refused while an earlier holder may still answer is not
            // sent again until then.
            if let Some(until) = lease::in_doubt(&set, slot, now) {
                return Err(self.in_doubt(until));
            }
            self.require_active(connection).await?;
            let refresh_token = if kind == ConnectionMethodKind::OAuth2ClientCredentials {
                None
            } else {
                Some(self.usable_refresh_token(connection, &set, slot).await?)
            };
            // A lapsed lease's holder may have sent this very refresh token and still
            // store what the provider answered it.
            let took_over = lease::lapsed(&set, slot).map(|lapsed| lapsed.issued_at);
            let leased =
                lease::with_lease(&self.host, connection, &set, slot, now, self.lease_ttl)?;
            let version = match self
                .host
                .credentials()
                .swap_credentials(
                    &connection.tenant,
                    &connection.id,
                    Some(set.version),
                    leased,
                )
                .await
            {
                Ok(version) => version,
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e),
            };
            // This process holds the lease at `version`, until `now + lease_ttl`. The token
            // request and the writes after it run in a task of their own: a provider that
            // rotates refresh tokens uses this one up when it answers, so its answer is
            // stored even when this caller stops waiting (the budget) or is dropped.
            let renewal = {
                let this = self.detached();
                let (connection, set) = (connection.clone(), set.clone());
                let slot = slot.map(str::to_owned);
                tokio::spawn(async move {
                    let leased = (&set, slot.as_deref(), version);
                    this.settle_renewal(
                        &connection,
                        kind,
                        leased,
                        refresh_token.as_ref(),
                        took_over,
                    )
                    .await
                })
            };
            let settled = match tokio::time::timeout(refresh_budget(self.lease_ttl), renewal).await
            {
                Ok(Ok(settled)) => settled?,
                Ok(Err(_stopped)) => {
                    return Err(crate::codes::auth::REFRESH_TIMEOUT.error(
                        "the refresh stopped before the token endpoint answered (its task panicked or the runtime shut down); retry",
                    ));
                }
                Err(_) => {
                    return Err(crate::codes::auth::REFRESH_TIMEOUT.error(
                        "the token endpoint did not answer within the refresh lease; the refresh goes on and stores its tokens when they come: retry",
                    ));
                }
            };
            match settled {
                Settled::Kept(tokens) => {
                    let now = self.now();
                    self.cache.put(
                        key.clone(),
                        tokens.access_token.clone(),
                        tokens.expires_at,
                        now,
                        now,
                        self.freshness,
                    );
                    return Ok(ResolvedCredential::new(
                        tokens.access_token,
                        tokens.expires_at,
                    ));
                }
                // Newer tokens are stored, or the store changed while we refreshed: the
                // next round reads them.
                Settled::Again => {}
            }
        }
        Err(crate::codes::auth::REFRESH_CONTENDED
            .error("the connection's credentials kept changing during the refresh; retry"))
    }

    /// Renews under the lease at `version` of `set`, then stores the outcome: the new
    /// tokens (audited once stored: the lease covers the token request and the writes
    /// after it, and a slow audit sink must not let it lapse first), or, on a failure,
    /// the lease released and a dead grant recorded on the connection.
    ///
    /// A refresh token refused after this refresh `took_over` a lapsed lease (issued at
    /// that time) is not recorded as a dead grant while the lapsed holder may still
    /// answer ([`MAX_LEASE_HOLD`] and a lease after the lease's last extension): its
    /// request may have used the token up, and its tokens may still land. The set is
    /// put back as it was read, lapsed lease included, with an in-doubt marker until
    /// then, which answers every refresh meanwhile without sending the token again; the
    /// call fails as [`REFRESH_IN_PROGRESS`](crate::codes::auth::REFRESH_IN_PROGRESS).
    /// Any other failure in that time puts the set back as read too. A refusal after
    /// that records the grant dead, as any other.
    async fn settle_renewal(
        &self,
        connection: &Connection,
        kind: ConnectionMethodKind,
        (set, slot, version): (&CredentialSet, Option<&str>, u64),
        refresh_token: Option<&Secret>,
        took_over: Option<Timestamp>,
    ) -> Result<Settled, Error> {
        let (renewed, version) = self
            .renew_under_lease(connection, (set, slot, version), refresh_token)
            .await;
        match renewed {
            Ok(Renewed { tokens, consumed }) => {
                let kept = self
                    .keep_renewed(
                        connection,
                        (set, slot, version),
                        refresh_token,
                        &tokens,
                        consumed,
                    )
                    .await;
                self.audit_refresh(connection, grant_of(kind), None).await;
                Ok(if kept? {
                    Settled::Kept(tokens)
                } else {
                    Settled::Again
                })
            }
            Err(error) => {
                // While the holder of the lease this refresh took over may still answer,
                // the set goes back as it was read (its lapsed lease in it), whatever the
                // failure: that holder may have used the refresh token up, and the next
                // refresh must know. A refusal also leaves an in-doubt marker until then,
                // so no refresh sends the token again meanwhile.
                let doubt = self
                    .doubt_until(took_over)
                    .filter(|_| refresh_token.is_some());
                let in_doubt = doubt.is_some() && is_dead_grant(&error);
                let released = match doubt {
                    Some(until) if in_doubt => match lease::with_doubt(
                        &self.host,
                        connection,
                        &set.credentials,
                        slot,
                        (self.now(), until),
                    ) {
                        Ok(credentials) => self.swap_back(connection, credentials, version).await,
                        Err(e) => Err(e),
                    },
                    Some(_) => {
                        self.swap_back(connection, set.credentials.clone(), version)
                            .await
                    }
                    None => self.release(connection, set, slot, version).await,
                };
                self.audit_refresh(connection, grant_of(kind), Some(&error))
                    .await;
                if is_dead_grant(&error) {
                    let Some(released) = released? else {
                        // The store changed while we refreshed: re-read before giving up.
                        return Ok(Settled::Again);
                    };
                    if let (true, Some(until)) = (in_doubt, doubt) {
                        tracing::warn!(
                            target: "integrations::auth",
                            tenant = %connection.tenant,
                            connection = %connection.id,
                            code = error.code(),
                            "a refresh token was refused while the process whose lease lapsed may still store new tokens; the connection is left active"
                        );
                        return Err(self.in_doubt(until));
                    }
                    self.mark_error(connection, &error, Some(released)).await?;
                } else {
                    released?;
                }
                Err(error)
            }
        }
    }

    /// [`renew`](Self::renew), keeping the lease at `version` of `set` alive while the
    /// token endpoint has not answered: every half lease it is extended by
    /// compare-and-swap to a full lease from then, for at most [`MAX_LEASE_HOLD`], so no
    /// other process refreshes with a refresh token this request may be using up. The
    /// renewal, and the version of the set holding the lease now (the last extension's).
    /// When an extension finds the set changed (reauthorized, or the lease taken over
    /// after all), extending stops; the write after the renewal sorts it out.
    async fn renew_under_lease(
        &self,
        connection: &Connection,
        (set, slot, version): (&CredentialSet, Option<&str>, u64),
        refresh_token: Option<&Secret>,
    ) -> (Result<Renewed, Error>, u64) {
        let renewal = self.renew(connection, refresh_token);
        tokio::pin!(renewal);
        let every = (self.lease_ttl / 2).max(Duration::from_millis(50));
        let mut left = (MAX_LEASE_HOLD.as_millis() / every.as_millis().max(1)) as usize;
        let mut version = version;
        loop {
            tokio::select! {
                renewed = &mut renewal => return (renewed, version),
                () = tokio::time::sleep(every), if left > 0 => {
                    left -= 1;
                    match self.extend_lease(connection, set, slot, version).await {
                        Ok(Some(extended)) => version = extended,
                        Ok(None) => left = 0,
                        Err(e) => tracing::warn!(
                            target: "integrations::auth",
                            tenant = %connection.tenant,
                            connection = %connection.id,
                            code = e.code(),
                            "the refresh lease could not be extended while the token endpoint is slow"
                        ),
                    }
                }
            }
        }
    }

    /// Extends our lease at `version` to a full lease from now. The new version, or
    /// `None` when the set changed since.
    async fn extend_lease(
        &self,
        connection: &Connection,
        set: &CredentialSet,
        slot: Option<&str>,
        version: u64,
    ) -> Result<Option<u64>, Error> {
        let leased = lease::with_lease(
            &self.host,
            connection,
            set,
            slot,
            self.now(),
            self.lease_ttl,
        )?;
        match self
            .host
            .credentials()
            .swap_credentials(&connection.tenant, &connection.id, Some(version), leased)
            .await
        {
            Ok(version) => Ok(Some(version)),
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores the tokens a refresh under the lease at `version` got: in place of the
    /// leased set, or, when the set changed meanwhile (the lease expired, or the
    /// connection was reauthorized), kept unless the store holds newer ones. Whether
    /// these tokens are the stored ones.
    async fn keep_renewed(
        &self,
        connection: &Connection,
        (set, slot, version): (&CredentialSet, Option<&str>, u64),
        refresh_token: Option<&Secret>,
        tokens: &TokenSet,
        consumed: bool,
    ) -> Result<bool, Error> {
        let merged = self.merged(connection, set, slot, tokens, consumed)?;
        match self
            .host
            .credentials()
            .swap_credentials(&connection.tenant, &connection.id, Some(version), merged)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => {
                // The provider just issued these tokens, and with rotation the old refresh
                // token is used up: keep them unless the store holds newer ones.
                tracing::warn!(
                    target: "integrations::auth",
                    tenant = %connection.tenant,
                    connection = %connection.id,
                    "a refresh outlived its lease; keeping the newest tokens"
                );
                self.store_after_conflict(connection, slot, refresh_token, tokens, consumed)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    /// The refresh token to use, or the permanent failure (recorded on the connection)
    /// when there is none or it expired.
    async fn usable_refresh_token(
        &self,
        connection: &Connection,
        set: &CredentialSet,
        slot: Option<&str>,
    ) -> Result<Secret, Error> {
        let error = match set.find(&CredentialType::OAUTH2_REFRESH_TOKEN, slot)? {
            Some(refresh) if refresh.expires_at.is_none_or(|e| e > self.now()) => {
                return self.open(connection, refresh);
            }
            Some(_) => crate::codes::oauth::REFRESH_TOKEN_EXPIRED.error("the refresh token expired; reauthorize the connection",
            ),
            None => crate::codes::oauth::NO_REFRESH_TOKEN.error("the access token expired and the provider issued no refresh token; reauthorize the connection",
            ),
        };
        self.audit_refresh(connection, "refresh_token", Some(&error))
            .await;
        self.mark_error(connection, &error, Some(set.version))
            .await?;
        Err(error)
    }

    /// Calls the token endpoint: a refresh with `refresh_token`, else client credentials.
    async fn renew(
        &self,
        connection: &Connection,
        refresh_token: Option<&Secret>,
    ) -> Result<Renewed, Error> {
        let context = TargetContext::for_connection(&self.registry, &self.host, connection).await?;
        let method = context.method(&connection.method)?;
        let spec = context.oauth2(method)?;
        let secrets = context.secrets(&self.host)?;
        if let Some(token) = refresh_token {
            let tokens = client::refresh(&self.host, &spec, &secrets, token).await?;
            return Ok(Renewed {
                tokens,
                consumed: spec.rotates_refresh_tokens,
            });
        }
        let scopes = if connection.granted_scopes.is_empty() {
            spec.default_scopes.clone()
        } else {
            connection.granted_scopes.clone()
        };
        let tokens = client::client_credentials(&self.host, &spec, &secrets, &scopes).await?;
        Ok(Renewed {
            tokens,
            consumed: false,
        })
    }

    /// The set after a successful refresh: the new access token, the rotated refresh
    /// token when one came back; else the old one, unless the refresh `consumed` it (a
    /// provider that rotates refresh tokens invalidates the one it was sent: sending it
    /// again could look like token theft to the provider's reuse detection); no lease.
    fn merged(
        &self,
        connection: &Connection,
        set: &CredentialSet,
        slot: Option<&str>,
        tokens: &TokenSet,
        consumed: bool,
    ) -> Result<Vec<Credential>, Error> {
        let mut credentials = lease::without(set, slot);
        credentials.retain(|c| !matches_slot(c, &CredentialType::OAUTH2_ACCESS_TOKEN, slot));
        if tokens.refresh_token.is_some() || consumed {
            credentials.retain(|c| !matches_slot(c, &CredentialType::OAUTH2_REFRESH_TOKEN, slot));
        }
        let mut new = issued(tokens);
        for credential in &mut new {
            credential.slot = slot.map(str::to_owned);
        }
        credentials.extend(persist::seal(&self.host, connection, &new)?);
        Ok(credentials)
    }

    /// After a successful renewal whose final swap conflicted: stores `tokens` (merged
    /// into the set as it is now) unless the set now holds a refresh token other than
    /// `used`, which only a newer refresh or a reauthorization can have put there.
    /// `false` when newer tokens are stored (or the credentials were deleted: a
    /// disconnected connection is not revived).
    async fn store_after_conflict(
        &self,
        connection: &Connection,
        slot: Option<&str>,
        used: Option<&Secret>,
        tokens: &TokenSet,
        consumed: bool,
    ) -> Result<bool, Error> {
        for _ in 0..MAX_ROUNDS {
            let Some(set) = self
                .host
                .credentials()
                .load_credentials(&connection.tenant, &connection.id)
                .await?
            else {
                return Ok(false);
            };
            let newer = match (used, set.find(&CredentialType::OAUTH2_REFRESH_TOKEN, slot)?) {
                (Some(used), Some(stored)) => !same(&self.open(connection, stored)?, used),
                _ => false,
            };
            if newer {
                return Ok(false);
            }
            let merged = self.merged(connection, &set, slot, tokens, consumed)?;
            match self
                .host
                .credentials()
                .swap_credentials(
                    &connection.tenant,
                    &connection.id,
                    Some(set.version),
                    merged,
                )
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        Err(crate::codes::auth::REFRESH_CONTENDED
            .error("the connection's credentials kept changing during the refresh; retry"))
    }

    /// When a refresh took over a lease last extended at `took_over`, until when its
    /// holder may still answer (its request bounded by [`MAX_LEASE_HOLD`], a lease after
    /// that), if that is still to come.
    fn doubt_until(&self, took_over: Option<Timestamp>) -> Option<Timestamp> {
        let until = took_over?.saturating_add(MAX_LEASE_HOLD.saturating_add(self.lease_ttl));
        (until > self.now()).then_some(until)
    }

    /// The error of a refresh while a refused refresh token is in doubt until `until`.
    pub(super) fn in_doubt(&self, until: Timestamp) -> Error {
        crate::codes::auth::REFRESH_IN_PROGRESS
            .error(
                "the provider refused the refresh token another process's lapsed refresh may have used; its tokens may still be stored: retry shortly",
            )
            .with_retry_after(until.duration_since(self.now()).min(self.lease_ttl))
    }

    /// Replaces our leased set at `version` with `credentials`. The new version, or
    /// `None` when the set changed since we took it.
    async fn swap_back(
        &self,
        connection: &Connection,
        credentials: Vec<Credential>,
        version: u64,
    ) -> Result<Option<u64>, Error> {
        match self
            .host
            .credentials()
            .swap_credentials(
                &connection.tenant,
                &connection.id,
                Some(version),
                credentials,
            )
            .await
        {
            Ok(version) => Ok(Some(version)),
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes our lease. The new version, or `None` when the set changed since we took
    /// it.
    async fn release(
        &self,
        connection: &Connection,
        set: &CredentialSet,
        slot: Option<&str>,
        version: u64,
    ) -> Result<Option<u64>, Error> {
        self.swap_back(connection, lease::without(set, slot), version)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_budget_leaves_the_lease_a_margin() {
        assert_eq!(
            refresh_budget(Duration::from_secs(30)),
            Duration::from_secs(25)
        );
        assert_eq!(
            refresh_budget(Duration::from_secs(2)),
            Duration::from_millis(1500)
        );
        assert_eq!(refresh_budget(Duration::ZERO), Duration::ZERO);
        for secs in [1, 7, 30, 600] {
            assert!(refresh_budget(Duration::from_secs(secs)) < Duration::from_secs(secs));
        }
    }
}
