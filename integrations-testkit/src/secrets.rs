//! Checks that secrets never leak into errors or `Debug` output.
//!
//! A leak is rarely the exact string: a secret reaches a message hex-encoded, in base64
//! (an `Authorization: Basic` header, standard or URL-safe, with or without padding, at
//! any offset inside a larger base64 text), percent-encoded in a form body or query, or
//! cut short. The checks here look for each of those forms, and for every run of
//! [`PARTIAL_LEN`] consecutive characters of the secret that reaches past its public
//! prefix (the `ghp_`, `lin_refresh_` or `xoxb-` a provider puts on every token of a kind,
//! which messages may name).

use std::error::Error as StdError;
use std::fmt::Debug;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// The shortest run of a secret's characters counted as a partial leak.
pub const PARTIAL_LEN: usize = 8;

/// The length of a secret's public prefix: the leading words of letters, each followed
/// by `_` or `-` (`ghp_`, `lin_oauth_`, `xoxb-`, `whsec_`), which providers publish to
/// tell token kinds apart and which messages name freely (`oauth2_refresh_token`). A
/// partial leak must reach past it.
fn public_prefix(secret: &str) -> usize {
    let mut end = 0;
    let mut word = 0;
    for (i, c) in secret.char_indices() {
        if c.is_ascii_alphabetic() {
            word += 1;
        } else if (c == '_' || c == '-') && word > 0 {
            end = i + 1;
            word = 0;
        } else {
            break;
        }
    }
    end
}

/// Where in a text a form of a secret was found: the form's name, never the secret.
fn leaked_form(text: &str, secret: &str) -> Option<&'static str> {
    if text.contains(secret) {
        return Some("verbatim");
    }
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() > PARTIAL_LEN {
        let public = public_prefix(secret);
        for window in chars[public.saturating_sub(PARTIAL_LEN - 1)..].windows(PARTIAL_LEN) {
            let part: String = window.iter().collect();
            if text.contains(&part) {
                return Some("partial");
            }
        }
    }
    let bytes = secret.as_bytes();
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    if text.contains(&hex) || text.contains(&hex.to_ascii_uppercase()) {
        return Some("hex");
    }
    // In base64 a byte's characters depend on its offset modulo 3 and on its neighbours:
    // at each offset, keep the characters that depend on the secret's bytes alone, so a
    // secret found inside a longer base64 text (`client_id:secret`) is caught too.
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        for encoded in [
            STANDARD_NO_PAD.encode(&padded),
            URL_SAFE_NO_PAD.encode(&padded),
        ] {
            let skip = (offset * 8).div_ceil(6);
            let whole = padded.len() * 8 / 6;
            if whole <= skip {
                continue;
            }
            let core = &encoded[skip..whole];
            if (core.len() >= PARTIAL_LEN || (offset == 0 && core.len() >= 4))
                && text.contains(core)
            {
                return Some("base64");
            }
        }
    }
    let form: String = url::form_urlencoded::byte_serialize(bytes).collect();
    if form != secret {
        let lower = text.to_ascii_lowercase();
        if lower.contains(&form.to_ascii_lowercase())
            || lower.contains(&form.replace('+', "%20").to_ascii_lowercase())
        {
            return Some("URL-encoded");
        }
    }
    None
}

/// Asserts that `secret` appears nowhere in `error`: not in its `Display`, not in its
/// `Debug`, and not in the `Display` or `Debug` of any error in its source chain; neither
/// verbatim, nor hex, base64 (standard or URL-safe, padded or not) or URL-encoded, nor any
/// [`PARTIAL_LEN`] consecutive characters of it.
///
/// # Panics
///
/// When the secret is found, naming where and in which form (but not printing the
/// secret).
pub fn assert_secret_free(error: &(dyn StdError + 'static), secret: &str) {
    assert!(
        !secret.is_empty(),
        "assert_secret_free needs a non-empty secret"
    );
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut depth = 0;
    while let Some(e) = current {
        if let Some(form) = leaked_form(&e.to_string(), secret) {
            panic!(
                "a secret appears ({form}) in the Display of the error at depth {depth} of the source chain"
            );
        }
        if let Some(form) = leaked_form(&format!("{e:?}"), secret) {
            panic!(
                "a secret appears ({form}) in the Debug of the error at depth {depth} of the source chain"
            );
        }
        current = e.source();
        depth += 1;
    }
}

/// Asserts that `secret` does not appear in the `Debug` output of `value` (pretty or
/// compact), in any of the forms [`assert_secret_free`] looks for.
///
/// # Panics
///
/// When the secret is found.
pub fn assert_debug_secret_free(value: &dyn Debug, secret: &str) {
    assert!(
        !secret.is_empty(),
        "assert_debug_secret_free needs a non-empty secret"
    );
    if let Some(form) = leaked_form(&format!("{value:?}"), secret) {
        panic!("a secret appears ({form}) in a Debug output");
    }
    if let Some(form) = leaked_form(&format!("{value:#?}"), secret) {
        panic!("a secret appears ({form}) in a pretty Debug output");
    }
}

/// Asserts that `secret` appears nowhere in `text` (a log line, a response body), in any
/// of the forms [`assert_secret_free`] looks for.
///
/// # Panics
///
/// When the secret is found.
pub fn assert_text_secret_free(text: &str, secret: &str) {
    assert!(
        !secret.is_empty(),
        "assert_text_secret_free needs a non-empty secret"
    );
    if let Some(form) = leaked_form(text, secret) {
        panic!("a secret appears ({form}) in the text");
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    use super::*;

    const SECRET: &str = "s3cr3t/Value+with?odd&chars~";

    #[derive(Debug)]
    struct Leaky(String);

    impl std::fmt::Display for Leaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "request failed: {}", self.0)
        }
    }

    impl StdError for Leaky {}

    #[derive(Debug)]
    struct Wrapper(Leaky);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn caught(text: &str) -> bool {
        std::panic::catch_unwind(|| {
            assert_secret_free(&Wrapper(Leaky(text.to_owned())), SECRET);
        })
        .is_err()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    #[test]
    fn every_encoded_form_of_a_secret_is_caught() {
        let basic = STANDARD.encode(format!("client-id:{SECRET}"));
        let forms = [
            ("verbatim", SECRET.to_owned()),
            ("hex", hex(SECRET.as_bytes())),
            ("HEX", hex(SECRET.as_bytes()).to_ascii_uppercase()),
            ("base64", STANDARD.encode(SECRET)),
            ("base64 unpadded", STANDARD_NO_PAD.encode(SECRET)),
            ("base64url", URL_SAFE.encode(SECRET)),
            ("base64url unpadded", URL_SAFE_NO_PAD.encode(SECRET)),
            ("base64 inside Basic auth", format!("Basic {basic}")),
            (
                "form-encoded",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_secret", SECRET)
                    .finish(),
            ),
            (
                "percent-encoded, lowercase",
                url::form_urlencoded::byte_serialize(SECRET.as_bytes())
                    .collect::<String>()
                    .to_ascii_lowercase(),
            ),
            ("a prefix", SECRET[..8].to_owned()),
            ("a middle run", SECRET[10..19].to_owned()),
        ];
        for (name, form) in forms {
            assert!(caught(&format!("the value was {form}.")), "{name}: {form}");
        }
    }

    #[test]
    fn unrelated_text_passes_and_the_panic_never_quotes_the_secret() {
        assert!(!caught("the token endpoint answered 401 invalid_client"));
        assert!(!caught(&format!("seven: {}", &SECRET[..7])));
        // A token kind's public prefix alone is no leak.
        let token = "lin_refresh_token_1a2b3c4d5e6f";
        assert_text_secret_free("CredentialType(oauth2_refresh_token)", token);
        assert!(
            std::panic::catch_unwind(|| assert_text_secret_free("token_1a2b3", token)).is_err()
        );
        let panic = std::panic::catch_unwind(|| {
            assert_secret_free(&Leaky(STANDARD.encode(SECRET)), SECRET);
        })
        .unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("(base64)"), "{message}");
        assert!(!message.contains(&SECRET[..8]), "{message}");
    }

    #[test]
    fn debug_and_text_checks_use_the_same_forms() {
        let leaky = Leaky(hex(SECRET.as_bytes()));
        assert!(std::panic::catch_unwind(|| assert_debug_secret_free(&leaky, SECRET)).is_err());
        let log = format!("POST /token body=client_secret={}", &SECRET[4..16]);
        assert!(std::panic::catch_unwind(|| assert_text_secret_free(&log, SECRET)).is_err());
        assert_text_secret_free("POST /token body=client_secret=[redacted]", SECRET);
    }
}
