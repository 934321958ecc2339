//! `compile` and `egress match`.

use serde_json::json;

use crate::support::{repo, run, stderr, stdout, temp_dir, write};

#[test]
fn compile_prints_canonical_json_or_its_hash() {
    let profile = repo("examples/profiles/agent-sandbox.json");
    let out = run(&["compile", &profile]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = plan["egress_routes"].as_array().unwrap();
    assert!(routes.iter().any(|r| r["id"] == "egress_rule_agent"));
    assert!(routes.iter().any(|r| r["id"] == "egress_rule_code"));
    assert!(routes.iter().any(|r| r["id"] == "egress_rule_tickets"));
    assert_eq!(plan["mcp_servers"][0]["name"], "linear");

    let hash = run(&["compile", &profile, "--hash"]);
    assert_eq!(hash.status.code(), Some(0));
    let hash = stdout(&hash);
    let hash = hash.trim();
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // Deterministic across runs.
    assert_eq!(stdout(&run(&["compile", &profile, "--hash"])).trim(), hash);
}

#[test]
fn compile_reports_every_issue_with_exit_1() {
    let dir = temp_dir("compile-bad");
    let bad = write(
        &dir,
        "profile.json",
        r#"{
          "tenant": "acme", "profile": "p", "version": 1,
          "targets": [{"id": "openai", "key": "openai::openai-default", "enabled": false}],
          "connections": [{"id": "k", "target": "openai", "method": "api-key"}],
          "bindings": [
            {"id": "a", "kind": "git", "connection": "k", "config": {"runtime": "codex-cli", "model": "nope"}}
          ]
        }"#,
    );
    let out = run(&["compile", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("compile.invalid "),
        "{}",
        stderr(&out)
    );
    let codes: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        codes.contains(&"binding.target_disabled".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"binding.kind_mismatch".to_owned()),
        "{codes:?}"
    );

    let broken = write(&dir, "broken.json", r#"{"tenant": "acme"}"#);
    let out = run(&["compile", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("compile.invalid_document "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn egress_match_prints_a_route_no_match_or_ambiguous() {
    let dir = temp_dir("egress");
    let out = run(&["compile", &repo("examples/profiles/agent-sandbox.json")]);
    let plan_text = stdout(&out);
    let plan = write(&dir, "plan.json", &plan_text);
    let plan = plan.to_str().unwrap();

    let hit = run(&[
        "egress",
        "match",
        plan,
        "get",
        "https://API.github.com:443/repos/acme/api/issues",
    ]);
    assert_eq!(hit.status.code(), Some(0));
    assert_eq!(stdout(&hit).trim(), "egress_rule_code");
    let sibling = run(&[
        "egress",
        "match",
        plan,
        "GET",
        "https://api.openai.com/v10/models",
    ]);
    assert_eq!(sibling.status.code(), Some(3), "/v1 never matches /v10");
    assert_eq!(stdout(&sibling).trim(), "no-match");
    let elsewhere = run(&["egress", "match", plan, "GET", "https://example.com/"]);
    assert_eq!(elsewhere.status.code(), Some(3));
    // A path servers read differently is a request `egress match` cannot parse:
    // exit 2, as an unparsable URL is.
    for url in [
        "https://api.openai.com/v1/..;/admin",
        "https://api.openai.com/v1/%2e%2e/admin",
    ] {
        let refused = run(&["egress", "match", plan, "GET", url]);
        assert_eq!(refused.status.code(), Some(2), "{url}");
        assert!(
            stderr(&refused).starts_with("egress.ambiguous_path "),
            "{}",
            stderr(&refused)
        );
    }

    // Two routes claiming one request: a plan edited by hand after compilation.
    let mut value: serde_json::Value = serde_json::from_str(&plan_text).unwrap();
    let routes = value["egress_routes"].as_array_mut().unwrap();
    let mut twin = routes
        .iter()
        .find(|r| r["id"] == "egress_rule_agent")
        .unwrap()
        .clone();
    twin["id"] = "egress_rule_twin".into();
    twin["binding"] = "twin".into();
    routes.push(twin);
    let ambiguous_plan = write(&dir, "ambiguous.json", &value.to_string());
    let out = run(&[
        "egress",
        "match",
        ambiguous_plan.to_str().unwrap(),
        "POST",
        "https://api.openai.com/v1/responses",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(stdout(&out).trim(), "ambiguous");
    // The stable code first on stderr, one in the catalogue.
    assert!(
        stderr(&out).starts_with("egress.ambiguous_route "),
        "{}",
        stderr(&out)
    );

    let not_a_plan = write(&dir, "not-a-plan.json", "{}");
    let out = run(&[
        "egress",
        "match",
        not_a_plan.to_str().unwrap(),
        "GET",
        "https://api.github.com/",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("cli.invalid_plan "));

    // A malformed route in the plan is the file's fault (exit 1), whichever check
    // finds it; a malformed request typed here is a usage error (exit 2).
    for (field, bad) in [
        ("hosts", json!(["bad host"])),
        ("methods", json!(["G ET"])),
        ("path_prefixes", json!(["no-slash"])),
    ] {
        let mut value: serde_json::Value = serde_json::from_str(&plan_text).unwrap();
        value["egress_routes"][0]["matcher"][field] = bad;
        let broken = write(&dir, &format!("broken-{field}.json"), &value.to_string());
        for args in [
            vec![
                "egress",
                "match",
                broken.to_str().unwrap(),
                "GET",
                "https://api.github.com/",
            ],
            vec![
                "proxy",
                "--plan",
                broken.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
        ] {
            let out = run(&args);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{field} {args:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).starts_with("cli.invalid_plan "),
                "{field} {args:?}: {}",
                stderr(&out)
            );
        }
    }
}
