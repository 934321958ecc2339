//! [`SecretCipher`]: how secrets are sealed at rest, and [`AesGcmKeyRing`], the default.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::{Error, Secret, TenantId};

const NONCE_LEN: usize = 12;

/// A sealed secret: the id of the key that sealed it and the ciphertext (for the
/// AES-GCM key ring: a 96-bit nonce, then the ciphertext and its tag).
///
/// Serialized as `{"key_id": "...", "ciphertext": "<base64>"}`. Its `Debug` shows the
/// key id and the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    key_id: String,
    ciphertext: Vec<u8>,
}

impl Sealed {
    /// A sealed value as stored.
    pub fn new(key_id: impl Into<String>, ciphertext: Vec<u8>) -> Self {
        Self {
            key_id: key_id.into(),
            ciphertext,
        }
    }

    /// The id of the key that sealed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The ciphertext bytes.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed {{ key_id: {:?}, len: {} }}",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

#[derive(Serialize, Deserialize)]
struct SealedRepr {
    key_id: String,
    ciphertext: String,
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SealedRepr {
            key_id: self.key_id.clone(),
            ciphertext: STANDARD.encode(&self.ciphertext),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = SealedRepr::deserialize(d)?;
        let ciphertext = STANDARD
            .decode(repr.ciphertext.as_bytes())
            .map_err(|_| serde::de::Error::custom("ciphertext is not valid base64"))?;
        Ok(Self {
            key_id: repr.key_id,
            ciphertext,
        })
    }
}

/// Associated data that binds a ciphertext to where it belongs: its tenant, the kind of
/// record, the record's id and the field. A ciphertext copied to another tenant, record
/// or field fails to open.
///
/// Parts are length-prefixed, so no two different part lists encode alike.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad {
    bytes: Vec<u8>,
}

impl Aad {
    /// Associated data for `field` of the `record` kind with id `id` in `tenant`.
    pub fn new(tenant: &TenantId, record: &str, id: &str, field: &str) -> Self {
        let mut bytes = Vec::with_capacity(64);
        for part in [
            b"integrations/v1".as_slice(),
            tenant.as_str().as_bytes(),
            record.as_bytes(),
            id.as_bytes(),
            field.as_bytes(),
        ] {
            bytes.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        Self { bytes }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aad({} bytes)", self.bytes.len())
    }
}

/// Seals and opens secrets at rest, with associated data and key ids so keys rotate.
///
/// Implement it over a KMS, or use [`AesGcmKeyRing`].
pub trait SecretCipher: Send + Sync {
    /// Encrypts `plaintext` bound to `aad` with the current key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when encryption fails.
    fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Sealed, Error>;

    /// Decrypts a value sealed for the same `aad`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) (`crypto.unknown_key`, `crypto.open_failed`) when the key is
    /// unknown, the ciphertext was tampered with, or the associated data differs.
    fn open(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// Conveniences over any [`SecretCipher`] for string and JSON secrets.
pub trait SecretCipherExt: SecretCipher {
    /// Seals a [`Secret`].
    ///
    /// # Errors
    ///
    /// As [`SecretCipher::seal`].
    fn seal_secret(&self, secret: &Secret, aad: &Aad) -> Result<Sealed, Error> {
        self.seal(secret.expose().as_bytes(), aad)
    }

    /// Opens a value sealed with [`seal_secret`](Self::seal_secret).
    ///
    /// # Errors
    ///
    /// As [`SecretCipher::open`], and [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when the plaintext is not UTF-8.
    fn open_secret(&self, sealed: &Sealed, aad: &Aad) -> Result<Secret, Error> {
        let bytes = self.open(sealed, aad)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            crate::codes::crypto::NOT_UTF8.error("a sealed secret is not UTF-8 text")
        })?;
        Ok(Secret::new(text))
    }
}

impl<T: SecretCipher + ?Sized> SecretCipherExt for T {}

/// AES-256-GCM with a ring of keys: seals with the primary key, opens with whichever key
/// id the ciphertext names, so old data still opens after a rotation.
///
/// Nonces are 96 random bits, so one key should seal at most about 2^32 values; rotate
/// with [`rotate`](Self::rotate) well before that. `Debug` lists key ids, never key bytes.
///
/// ```
/// use integrations_core::TenantId;
/// use integrations_core::host::{Aad, AesGcmKeyRing, SecretCipher};
///
/// let ring = AesGcmKeyRing::new("2026-11", [7u8; 32])?;
/// let aad = Aad::new(&TenantId::new("acme")?, "credential", "conn_1", "api_key");
/// let sealed = ring.seal(b"sk-live", &aad)?;
/// assert_eq!(&*ring.open(&sealed, &aad)?, b"sk-live");
/// # Ok::<(), integrations_core::Error>(())
/// ```
#[derive(Clone)]
pub struct AesGcmKeyRing {
    primary: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl AesGcmKeyRing {
    /// A ring holding one 256-bit key, which is primary.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`crypto.invalid_key_id`) for a blank key id.
    pub fn new(key_id: impl Into<String>, key: [u8; 32]) -> Result<Self, Error> {
        let key = Zeroizing::new(key);
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let mut keys = BTreeMap::new();
        keys.insert(key_id.clone(), cipher_for(&key));
        Ok(Self {
            primary: key_id,
            keys,
        })
    }

    /// A ring holding one key given as 64 hex digits (how hosts keep a key in an
    /// environment variable or a file), whose id is derived from the key itself: every
    /// process given the same key names it alike, so they open each other's records.
    ///
    /// The id is `k-` and the first 16 hex digits of a SHA-256 over a fixed label and the
    /// key: it identifies the key without revealing it.
    ///
    /// ```
    /// use integrations_core::host::AesGcmKeyRing;
    ///
    /// let a = AesGcmKeyRing::from_hex(&"0f".repeat(32))?;
    /// let b = AesGcmKeyRing::from_hex(&format!(" {}\n", "0F".repeat(32)))?;
    /// assert_eq!(a.primary_key_id(), b.primary_key_id());
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`crypto.invalid_key`) unless the text, trimmed, is
    /// exactly 64 hex digits. The message never shows the text.
    pub fn from_hex(key_hex: &str) -> Result<Self, Error> {
        let key = decode_key(key_hex)?;
        Self::new(derived_key_id(&key), *key)
    }

    /// A ring from text holding one key a line, as a host keeps its keys in a file or an
    /// environment variable: `ID=HEX` (a key named `ID`, as [`new`](Self::new) names it)
    /// or `HEX` alone (named as [`from_hex`](Self::from_hex) names it), `HEX` being 64
    /// hex digits (an id may hold `=`, not start with `#`). Blank lines and lines starting
    /// with `#` are skipped. The first key is
    /// primary: it seals new data; the others only open what they sealed (keys rotated
    /// out). A process given the lines a host built its ring from opens what the host
    /// sealed.
    ///
    /// ```
    /// use integrations_core::TenantId;
    /// use integrations_core::host::{Aad, AesGcmKeyRing, SecretCipher};
    ///
    /// let host = AesGcmKeyRing::new("2026-10", [1; 32])?.rotate("2026-11", [2; 32])?;
    /// let aad = Aad::new(&TenantId::new("acme")?, "credential", "conn_1", "api_key");
    /// let sealed = host.seal(b"sk-live", &aad)?;
    ///
    /// let lines = format!("# newest first\n2026-11={}\n2026-10={}\n", "02".repeat(32), "01".repeat(32));
    /// let ring = AesGcmKeyRing::from_lines(&lines)?;
    /// assert_eq!(ring.primary_key_id(), "2026-11");
    /// assert_eq!(&*ring.open(&sealed, &aad)?, b"sk-live");
    /// # Ok::<(), integrations_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput): `crypto.invalid_key`
    /// when there is no key or a key is not 64 hex digits (the message names the line,
    /// never its text); `crypto.invalid_key_id` for a blank id;
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`crypto.duplicate_key_id`)
    /// when two lines name one id.
    pub fn from_lines(text: &str) -> Result<Self, Error> {
        let mut ring: Option<Self> = None;
        // A byte-order mark (a key file written on Windows) is not part of the first line.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The key is after the last `=` (hex has none), so an id may hold `=`.
            let (id, key_hex) = match line.rsplit_once('=') {
                Some((id, key_hex)) => (Some(id.trim()), key_hex),
                None => (None, line),
            };
            let key = decode_key(key_hex).map_err(|_| {
                crate::codes::crypto::INVALID_KEY.with_issues(
                    format!(
                        "line {} holds no key: a key is 64 hex digits (32 bytes), alone or as ID=HEX",
                        n + 1
                    ),
                    Vec::new(),
                )
            })?;
            let id = id.map_or_else(|| derived_key_id(&key), str::to_owned);
            ring = Some(match ring {
                None => Self::new(id, *key)?,
                Some(ring) => ring.with_key(id, *key)?,
            });
        }
        ring.ok_or_else(|| {
            crate::codes::crypto::INVALID_KEY.with_issues(
                "no key: give one a line, 64 hex digits alone or as ID=HEX",
                Vec::new(),
            )
        })
    }

    /// A ring with one freshly generated random key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Crypto`](crate::ErrorKind::Crypto) when the system random source fails; as [`new`](Self::new).
    pub fn generate(key_id: impl Into<String>) -> Result<Self, Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|e| {
            crate::codes::crypto::RANDOM_FAILED
                .error("the system random source failed")
                .with_source(e)
        })?;
        Self::new(key_id, *key)
    }

    /// Adds a key that can open old data but does not seal new data.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) (`crypto.duplicate_key_id`) when the id is taken; as
    /// [`new`](Self::new).
    pub fn with_key(mut self, key_id: impl Into<String>, key: [u8; 32]) -> Result<Self, Error> {
        let key = Zeroizing::new(key);
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        if self.keys.contains_key(&key_id) {
            return Err(crate::codes::crypto::DUPLICATE_KEY_ID
                .error("the key ring already holds a key with this id"));
        }
        self.keys.insert(key_id, cipher_for(&key));
        Ok(self)
    }

    /// Adds a key and makes it primary: new data is sealed with it; data sealed with
    /// earlier keys still opens.
    ///
    /// # Errors
    ///
    /// As [`with_key`](Self::with_key).
    pub fn rotate(self, key_id: impl Into<String>, key: [u8; 32]) -> Result<Self, Error> {
        let key_id = key_id.into();
        let mut ring = self.with_key(key_id.clone(), key)?;
        ring.primary = key_id;
        Ok(ring)
    }

    /// The id of the key that seals new data.
    pub fn primary_key_id(&self) -> &str {
        &self.primary
    }

    /// The ids of every key in the ring, in byte-wise order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// 64 hex digits (surrounding whitespace ignored) as a key.
fn decode_key(key_hex: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(key_hex.trim(), key.as_mut()).map_err(|_| {
        crate::codes::crypto::INVALID_KEY
            .with_issues("a sealing key must be 64 hex digits (32 bytes)", Vec::new())
    })?;
    Ok(key)
}

/// The id [`AesGcmKeyRing::from_hex`] gives `key`: `k-` and the first 16 hex digits of a
/// SHA-256 over a fixed label and the key.
fn derived_key_id(key: &[u8; 32]) -> String {
    use sha2::Digest as _;

    let digest = sha2::Sha256::new()
        .chain_update(b"integrations key id v1\0")
        .chain_update(key)
        .finalize();
    format!("k-{}", hex::encode(&digest[..8]))
}

fn check_key_id(key_id: &str) -> Result<(), Error> {
    if key_id.trim().is_empty() {
        return Err(crate::codes::crypto::INVALID_KEY_ID
            .with_issues("a key id must not be blank", Vec::new()));
    }
    Ok(())
}

fn cipher_for(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn open_failed() -> Error {
    crate::codes::crypto::OPEN_FAILED.error(
        "a sealed value could not be opened: wrong key, tampered data or wrong associated data",
    )
}

impl SecretCipher for AesGcmKeyRing {
    fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Sealed, Error> {
        let cipher = self
            .keys
            .get(&self.primary)
            .ok_or_else(|| Error::internal("the primary key is missing from the key ring"))?;
        let nonce = Nonce::try_generate().map_err(|e| {
            crate::codes::crypto::RANDOM_FAILED
                .error("the system random source failed")
                .with_source(e)
        })?;
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| crate::codes::crypto::SEAL_FAILED.error("sealing a value failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        Ok(Sealed::new(self.primary.clone(), out))
    }

    fn open(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cipher = self.keys.get(sealed.key_id()).ok_or_else(|| {
            crate::codes::crypto::UNKNOWN_KEY
                .error("a sealed value names a key that is not in the key ring")
        })?;
        let bytes = sealed.ciphertext();
        if bytes.len() < NONCE_LEN {
            return Err(open_failed());
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| open_failed())?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| open_failed())
    }
}

impl fmt::Debug for AesGcmKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcmKeyRing")
            .field("primary", &self.primary)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn aad(tenant: &str, id: &str) -> Aad {
        Aad::new(&TenantId::new(tenant).unwrap(), "credential", id, "api_key")
    }

    #[test]
    fn key_lines_name_keys_the_first_primary_and_errors_never_quote_a_key() {
        let bare = "ab".repeat(32);
        let ring = AesGcmKeyRing::from_lines(&format!(
            "\n# keys, newest first\n  2026-11 = {}\n{bare}\n",
            "cd".repeat(32)
        ))
        .unwrap();
        assert_eq!(ring.primary_key_id(), "2026-11");
        // A bare key is named as `from_hex` names it: it opens what that ring sealed.
        let old = AesGcmKeyRing::from_hex(&bare).unwrap();
        let sealed = old.seal(b"v", &aad("acme", "c1")).unwrap();
        assert_eq!(&*ring.open(&sealed, &aad("acme", "c1")).unwrap(), b"v");

        // An id may hold `=`; a byte-order mark before the first line is not part of it.
        let named = AesGcmKeyRing::new("prod=2026", [3; 32]).unwrap();
        let sealed = named.seal(b"w", &aad("acme", "c2")).unwrap();
        let ring =
            AesGcmKeyRing::from_lines(&format!("\u{feff}prod=2026={}\n", "03".repeat(32))).unwrap();
        assert_eq!(ring.primary_key_id(), "prod=2026");
        assert_eq!(&*ring.open(&sealed, &aad("acme", "c2")).unwrap(), b"w");

        let secret = format!("{}zz", "ef".repeat(31));
        let err = AesGcmKeyRing::from_lines(&format!("# x\nk1={secret}\n")).unwrap_err();
        assert_eq!(err.code(), "crypto.invalid_key");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(!format!("{err} {err:?}").contains(&secret), "{err:?}");
        for (text, code) in [
            ("", "crypto.invalid_key"),
            ("# only a comment\n\n", "crypto.invalid_key"),
            (&*format!(" ={bare}"), "crypto.invalid_key_id"),
            (
                &*format!("a={bare}\na={}", "cd".repeat(32)),
                "crypto.duplicate_key_id",
            ),
        ] {
            assert_eq!(
                AesGcmKeyRing::from_lines(text).unwrap_err().code(),
                code,
                "{text}"
            );
        }
    }

    #[test]
    fn round_trip() {
        let ring = AesGcmKeyRing::new("k1", [1; 32]).unwrap();
        let sealed = ring.seal(b"sk-test-secret", &aad("acme", "c1")).unwrap();
        assert_eq!(sealed.key_id(), "k1");
        assert!(!sealed.ciphertext().windows(6).any(|w| w == b"sk-tes"));
        assert_eq!(
            &*ring.open(&sealed, &aad("acme", "c1")).unwrap(),
            b"sk-test-secret"
        );
        // Two seals of one value differ (random nonces).
        assert_ne!(
            sealed,
            ring.seal(b"sk-test-secret", &aad("acme", "c1")).unwrap()
        );
    }

    #[test]
    fn hex_keys_name_themselves_and_bad_ones_are_refused_without_echo() {
        let a = AesGcmKeyRing::from_hex(&"0f".repeat(32)).unwrap();
        let b = AesGcmKeyRing::from_hex(&"0F".repeat(32)).unwrap();
        let other = AesGcmKeyRing::from_hex(&"1f".repeat(32)).unwrap();
        assert_eq!(a.primary_key_id(), b.primary_key_id());
        assert_ne!(a.primary_key_id(), other.primary_key_id());
        assert!(a.primary_key_id().starts_with("k-"));
        assert!(!a.primary_key_id().contains("0f0f"));
        let sealed = a.seal(b"sk-test", &aad("acme", "c1")).unwrap();
        assert_eq!(&*b.open(&sealed, &aad("acme", "c1")).unwrap(), b"sk-test");
        for bad in [
            "",
            "0f",
            &"zz".repeat(32),
            &"0f".repeat(33),
            &"0f".repeat(31),
        ] {
            let error = AesGcmKeyRing::from_hex(bad).unwrap_err();
            assert_eq!(error.code(), "crypto.invalid_key");
            assert!(bad.is_empty() || !error.to_string().contains(bad));
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let a = AesGcmKeyRing::new("k1", [1; 32]).unwrap();
        let b = AesGcmKeyRing::new("k1", [2; 32]).unwrap();
        let sealed = a.seal(b"secret", &aad("acme", "c1")).unwrap();
        assert_eq!(
            b.open(&sealed, &aad("acme", "c1")).unwrap_err().code(),
            "crypto.open_failed"
        );
        let c = AesGcmKeyRing::new("other", [1; 32]).unwrap();
        assert_eq!(
            c.open(&sealed, &aad("acme", "c1")).unwrap_err().code(),
            "crypto.unknown_key"
        );
    }

    #[test]
    fn wrong_associated_data_is_rejected() {
        let ring = AesGcmKeyRing::new("k1", [1; 32]).unwrap();
        let sealed = ring.seal(b"secret", &aad("acme", "c1")).unwrap();
        for other in [aad("evil", "c1"), aad("acme", "c2")] {
            let err = ring.open(&sealed, &other).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Crypto);
        }
        let field = Aad::new(
            &TenantId::new("acme").unwrap(),
            "credential",
            "c1",
            "refresh",
        );
        assert!(ring.open(&sealed, &field).is_err());
    }

    #[test]
    fn tampering_is_rejected() {
        let ring = AesGcmKeyRing::new("k1", [1; 32]).unwrap();
        let sealed = ring.seal(b"secret", &aad("acme", "c1")).unwrap();
        for i in 0..sealed.ciphertext().len() {
            let mut bytes = sealed.ciphertext().to_vec();
            bytes[i] ^= 0x01;
            let tampered = Sealed::new("k1", bytes);
            assert!(
                ring.open(&tampered, &aad("acme", "c1")).is_err(),
                "byte {i}"
            );
        }
        assert!(
            ring.open(&Sealed::new("k1", vec![0; 5]), &aad("acme", "c1"))
                .is_err()
        );
    }

    #[test]
    fn rotation_still_opens_old_data() {
        let old = AesGcmKeyRing::new("2025", [1; 32]).unwrap();
        let before = old.seal(b"old secret", &aad("acme", "c1")).unwrap();
        let ring = old.rotate("2026", [9; 32]).unwrap();
        assert_eq!(ring.primary_key_id(), "2026");
        let after = ring.seal(b"new secret", &aad("acme", "c1")).unwrap();
        assert_eq!(after.key_id(), "2026");
        assert_eq!(
            &*ring.open(&before, &aad("acme", "c1")).unwrap(),
            b"old secret"
        );
        assert_eq!(
            &*ring.open(&after, &aad("acme", "c1")).unwrap(),
            b"new secret"
        );
        assert!(ring.clone().rotate("2026", [3; 32]).is_err());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let ring = AesGcmKeyRing::new("k1", [0xAB; 32]).unwrap();
        let debug = format!("{ring:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.to_lowercase().contains("ab, ab") && !debug.contains("171"));
    }

    #[test]
    fn sealed_serializes_as_base64() {
        let sealed = Sealed::new("k1", vec![0, 1, 2, 255]);
        let json = serde_json::to_value(&sealed).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"key_id": "k1", "ciphertext": "AAEC/w=="})
        );
        assert_eq!(serde_json::from_value::<Sealed>(json).unwrap(), sealed);
    }

    #[test]
    fn secret_helpers() {
        let ring = AesGcmKeyRing::generate("gen").unwrap();
        let sealed = ring
            .seal_secret(&Secret::new("xoxb-1"), &aad("acme", "c1"))
            .unwrap();
        assert_eq!(
            ring.open_secret(&sealed, &aad("acme", "c1"))
                .unwrap()
                .expose(),
            "xoxb-1"
        );
    }
}
