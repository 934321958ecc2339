//! Signed start links: the only authorization start URLs the start route follows.
//!
//! A start URL names the tenant and user a new connection is stored for. Were the route to
//! trust an unsigned query, anyone could send a victim
//! `.../start?tenant=attacker&target=github&method=oauth2`: the victim approves the real
//! app, and the callback stores a connection holding the victim's grant in the
//! attacker's tenant. So the application mints each start URL
//! ([`App::start_link`](crate::App::start_link)) with an expiry and an HMAC-SHA256
//! signature over everything it says, and the start route refuses (`401`) a link that is
//! unsigned ([`INVALID_START_LINK`](crate::codes::INVALID_START_LINK)), changed or signed
//! under another key (the same code), or past its expiry
//! ([`START_LINK_EXPIRED`](crate::codes::START_LINK_EXPIRED)), before it stores anything
//! or redirects anywhere.
//!
//! The key is random per [`App`](crate::App) unless the host sets one
//! ([`App::with_link_key`](crate::App::with_link_key)): instances behind one load
//! balancer share it, so a link minted by one is followed by another.
//!
//! The signed message is a version tag, then the definition key, tenant, target, method,
//! user (when given) and expiry as one form-encoded string: encoding escapes `&` and `=`,
//! so no two sets of fields sign the same bytes. The signature is compared in constant
//! time ([`Mac::verify_slice`]).

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use integrations::core::{ConnectionMethodId, TargetId, Timestamp, UserId};
use integrations::prelude::*;
use sha2::Sha256;

use crate::error::codes;

type HmacSha256 = Hmac<Sha256>;

/// What every signed message starts with: a link signature is never valid as anything
/// else the same key might sign.
const CONTEXT: &[u8] = b"host-server start link v1\n";

/// The key that signs and checks start links. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct LinkKey {
    /// Keyed once; each signature works on a clone.
    mac: HmacSha256,
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkKey").finish_non_exhaustive()
    }
}

/// What a start link says: the integration, who the connection is for, and until when.
#[derive(Clone, Copy)]
pub(crate) struct LinkFields<'a> {
    pub(crate) key: &'a DefinitionKey,
    pub(crate) tenant: &'a TenantId,
    pub(crate) target: &'a TargetId,
    pub(crate) method: &'a ConnectionMethodId,
    pub(crate) user: Option<&'a UserId>,
    /// Unix seconds; the link is refused from this instant on.
    pub(crate) expires: i64,
}

impl LinkFields<'_> {
    /// The link's query without its signature: the fields the route reads, in order.
    pub(crate) fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("tenant", self.tenant.as_str())
            .append_pair("target", self.target.as_str())
            .append_pair("method", self.method.as_str());
        if let Some(user) = self.user {
            query.append_pair("user", user.as_str());
        }
        query
            .append_pair("expires", &self.expires.to_string())
            .finish()
    }

    /// The bytes signed: the query, under the integration the route names.
    fn message(&self) -> String {
        let mut message = url::form_urlencoded::Serializer::new(String::new());
        message.append_pair("key", self.key.as_str());
        format!("{}&{}", message.finish(), self.query())
    }
}

impl LinkKey {
    /// A key from `bytes`.
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        match HmacSha256::new_from_slice(bytes) {
            Ok(mac) => Self { mac },
            // HMAC takes keys of any length.
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }

    /// A key from the system's random generator.
    pub(crate) fn random() -> Result<Self, Error> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|_| Error::internal("the system random generator failed"))?;
        let key = Self::new(&bytes);
        bytes.fill(0);
        Ok(key)
    }

    fn mac(&self, fields: &LinkFields<'_>) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(CONTEXT);
        mac.update(fields.message().as_bytes());
        mac
    }

    /// The signature of `fields`, as the link's `sig` parameter (64 hex digits).
    pub(crate) fn sign(&self, fields: &LinkFields<'_>) -> String {
        hex::encode(self.mac(fields).finalize().into_bytes())
    }

    /// Checks a link's `expires` and `sig` parameters against the rest of it, at `now`.
    ///
    /// `fields.expires` is ignored: the expiry is the one the link carries, and it is
    /// signed.
    ///
    /// # Errors
    ///
    /// [`codes::INVALID_START_LINK`] when a parameter is missing or malformed or the
    /// signature does not match; [`codes::START_LINK_EXPIRED`] when the signature matches
    /// but the link has expired. Both are [`ErrorKind::Verification`] (401), and neither
    /// message repeats a signature.
    pub(crate) fn verify(
        &self,
        fields: LinkFields<'_>,
        expires: Option<&str>,
        sig: Option<&str>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(invalid(
                "the start link is not signed: start again from the application, which signs the links it gives",
            ));
        };
        let expires = expires
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| expires.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| invalid("the start link's expiry is not a time"))?;
        let sig = hex::decode(sig)
            .ok()
            .filter(|s| s.len() == 32)
            .ok_or_else(|| invalid("the start link's signature is malformed"))?;
        self.mac(&LinkFields { expires, ..fields })
            .verify_slice(&sig)
            .map_err(|_| {
                invalid(
                    "the start link was changed or signed by another server: start again from the application",
                )
            })?;
        if now.unix_seconds() >= expires {
            return Err(Error::new(
                ErrorKind::Verification,
                codes::START_LINK_EXPIRED,
                "the start link has expired: start again from the application for a new one",
            ));
        }
        Ok(())
    }
}

fn invalid(message: &'static str) -> Error {
    Error::new(ErrorKind::Verification, codes::INVALID_START_LINK, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Owned {
        key: DefinitionKey,
        tenant: TenantId,
        target: TargetId,
        method: ConnectionMethodId,
        user: Option<UserId>,
    }

    impl Owned {
        fn new(tenant: &str, user: Option<&str>) -> Self {
            Self {
                key: "linear::linear-default".parse().unwrap(),
                tenant: TenantId::new(tenant).unwrap(),
                target: TargetId::new("linear").unwrap(),
                method: ConnectionMethodId::new("oauth2").unwrap(),
                user: user.map(|u| UserId::new(u).unwrap()),
            }
        }

        fn fields(&self, expires: i64) -> LinkFields<'_> {
            LinkFields {
                key: &self.key,
                tenant: &self.tenant,
                target: &self.target,
                method: &self.method,
                user: self.user.as_ref(),
                expires,
            }
        }
    }

    const EXPIRES: i64 = 1_800_000_600;

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(EXPIRES - 600)
    }

    fn code(result: Result<(), Error>) -> String {
        result.unwrap_err().code().to_owned()
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let key = LinkKey::new(&[7; 32]);
        let link = Owned::new("acme", Some("alice"));
        let sig = key.sign(&link.fields(EXPIRES));
        assert_eq!(sig.len(), 64);
        let expires = EXPIRES.to_string();
        let check = |now| key.verify(link.fields(0), Some(&expires), Some(&sig), now);
        check(now()).unwrap();
        check(Timestamp::from_unix_seconds(EXPIRES - 1)).unwrap();
        assert_eq!(
            code(check(Timestamp::from_unix_seconds(EXPIRES))),
            "host_server.start_link_expired"
        );
    }

    #[test]
    fn every_field_is_signed() {
        let key = LinkKey::new(&[7; 32]);
        let link = Owned::new("acme", Some("alice"));
        let sig = key.sign(&link.fields(EXPIRES));
        let expires = EXPIRES.to_string();
        let mut others = vec![
            Owned::new("mallory", Some("alice")),
            Owned::new("acme", Some("mallory")),
            Owned::new("acme", None),
        ];
        let mut other = Owned::new("acme", Some("alice"));
        other.key = "github::github-cloud".parse().unwrap();
        others.push(other);
        let mut other = Owned::new("acme", Some("alice"));
        other.target = TargetId::new("github").unwrap();
        others.push(other);
        let mut other = Owned::new("acme", Some("alice"));
        other.method = ConnectionMethodId::new("github-app-installation").unwrap();
        others.push(other);
        for other in &others {
            let e = key
                .verify(other.fields(0), Some(&expires), Some(&sig), now())
                .unwrap_err();
            assert_eq!(e.code(), "host_server.invalid_start_link");
            assert!(!e.to_string().contains(&sig), "{e}");
        }
        // A later expiry under the same signature.
        let later = (EXPIRES + 3600).to_string();
        assert_eq!(
            code(key.verify(link.fields(0), Some(&later), Some(&sig), now())),
            "host_server.invalid_start_link"
        );
        // Another key.
        assert_eq!(
            code(LinkKey::new(&[8; 32]).verify(link.fields(0), Some(&expires), Some(&sig), now())),
            "host_server.invalid_start_link"
        );
    }

    #[test]
    fn unsigned_or_malformed_links_are_refused() {
        let key = LinkKey::new(&[7; 32]);
        let link = Owned::new("acme", None);
        let sig = key.sign(&link.fields(EXPIRES));
        let expires = EXPIRES.to_string();
        let short = &sig[..62];
        for (expires, sig) in [
            (None, None),
            (Some(expires.as_str()), None),
            (None, Some(sig.as_str())),
            (Some("+1800000600"), Some(sig.as_str())),
            (Some("-1"), Some(sig.as_str())),
            (Some("soon"), Some(sig.as_str())),
            (Some(expires.as_str()), Some(short)),
            (Some(expires.as_str()), Some("zz")),
        ] {
            assert_eq!(
                code(key.verify(link.fields(0), expires, sig, now())),
                "host_server.invalid_start_link",
                "{expires:?} {sig:?}"
            );
        }
    }

    #[test]
    fn random_keys_differ_and_say_nothing_in_debug() {
        let link = Owned::new("acme", None);
        let (a, b) = (LinkKey::random().unwrap(), LinkKey::random().unwrap());
        assert_ne!(a.sign(&link.fields(EXPIRES)), b.sign(&link.fields(EXPIRES)));
        assert_eq!(format!("{a:?}"), "LinkKey { .. }");
    }
}
