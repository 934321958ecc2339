//! The rules for tool names: their length, their sanitized form, and the reserved name.

use crate::{DefinitionKey, Error, ValidationIssue};

/// The longest tool name, in bytes (`OpenAI` function names allow 64).
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Sanitizes a tool name to `[a-z0-9_]`: ASCII lowercased, every other character (`-`,
/// `.`, spaces, non-ASCII) replaced with `_`, runs of `_` collapsed, `_` trimmed at both
/// ends. Two names that sanitize alike collide.
///
/// ```
/// use integrations_core::tools::sanitize_tool_name;
/// assert_eq!(sanitize_tool_name("Linear.Create-Issue"), "linear_create_issue");
/// assert_eq!(sanitize_tool_name("a--b"), "a_b");
/// ```
pub fn sanitize_tool_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Checks a tool name of definition `key`: already sanitized, at most
/// [`MAX_TOOL_NAME_LEN`] bytes, `<family>_<verb>_<object>` (at least three parts, the
/// first being the sanitized family).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (`tool.invalid_name`)
/// saying which rule failed.
pub fn check_tool_name(key: &DefinitionKey, name: &str) -> Result<(), Error> {
    let family = sanitize_tool_name(key.family());
    let fail = |why: String| {
        Err(crate::codes::tool::INVALID_NAME.with_issues(
            format!("tool name {name:?} of {key}: {why}"),
            vec![ValidationIssue::new(
                crate::codes::tool::INVALID_NAME,
                "/name",
                why,
            )],
        ))
    };
    if name.is_empty() {
        return fail("a tool name must not be empty".to_owned());
    }
    if sanitize_tool_name(name) != name {
        return fail("a tool name is lowercase letters, digits and single underscores".to_owned());
    }
    if name.len() > MAX_TOOL_NAME_LEN {
        return fail(format!("a tool name is at most {MAX_TOOL_NAME_LEN} bytes"));
    }
    let Some(rest) = name.strip_prefix(&format!("{family}_")) else {
        return fail(format!(
            "a tool name starts with its integration, {family}_"
        ));
    };
    if rest.split('_').count() < 2 {
        return fail("a tool name is <integration>_<verb>_<object>".to_owned());
    }
    Ok(())
}

/// The name of the tool that reads the next page of a trimmed result. Reserved: no
/// integration may declare it.
pub const CONTINUE_TOOL_NAME: &str = "integrations_continue_result";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes() {
        assert_eq!(
            sanitize_tool_name("github_create_issue"),
            "github_create_issue"
        );
        assert_eq!(
            sanitize_tool_name("GitHub Create Issue!"),
            "github_create_issue"
        );
        assert_eq!(sanitize_tool_name("__x__y__"), "x_y");
        assert_eq!(sanitize_tool_name("créer"), "cr_er");
        assert_eq!(sanitize_tool_name("a-b"), sanitize_tool_name("a_b"));
    }

    #[test]
    fn checks_the_grammar() {
        let key: DefinitionKey = "linear::linear-default".parse().unwrap();
        assert!(check_tool_name(&key, "linear_create_issue").is_ok());
        assert!(check_tool_name(&key, "linear_list_issues").is_ok());
        for bad in [
            "",
            "Linear_create_issue",
            "linear_issue",
            "jira_create_issue",
            "linear__x_y",
            "linear-create-issue",
        ] {
            assert_eq!(
                check_tool_name(&key, bad).unwrap_err().code(),
                "tool.invalid_name",
                "{bad}"
            );
        }
        let long = format!("linear_create_{}", "x".repeat(60));
        assert!(check_tool_name(&key, &long).is_err());
        let key: DefinitionKey = "my-crm::default".parse().unwrap();
        assert!(check_tool_name(&key, "my_crm_get_contact").is_ok());
    }
}
