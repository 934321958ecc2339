//! Checks that secrets never leak into errors or `Debug` output.

use std::error::Error as StdError;
use std::fmt::Debug;

/// Asserts that `secret` appears nowhere in `error`: not in its `Display`, not in its
/// `Debug`, and not in the `Display` or `Debug` of any error in its source chain.
///
/// # Panics
///
/// When the secret is found, naming where (but not printing the secret).
pub fn assert_secret_free(error: &(dyn StdError + 'static), secret: &str) {
    assert!(
        !secret.is_empty(),
        "assert_secret_free needs a non-empty secret"
    );
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut depth = 0;
    while let Some(e) = current {
        assert!(
            !e.to_string().contains(secret),
            "a secret appears in the Display of the error at depth {depth} of the source chain"
        );
        assert!(
            !format!("{e:?}").contains(secret),
            "a secret appears in the Debug of the error at depth {depth} of the source chain"
        );
        current = e.source();
        depth += 1;
    }
}

/// Asserts that `secret` does not appear in the `Debug` output of `value` (pretty or
/// compact).
///
/// # Panics
///
/// When the secret is found.
pub fn assert_debug_secret_free(value: &dyn Debug, secret: &str) {
    assert!(
        !secret.is_empty(),
        "assert_debug_secret_free needs a non-empty secret"
    );
    assert!(
        !format!("{value:?}").contains(secret),
        "a secret appears in a Debug output"
    );
    assert!(
        !format!("{value:#?}").contains(secret),
        "a secret appears in a pretty Debug output"
    );
}
