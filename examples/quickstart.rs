//! The quick start: the SDK embedded in a program, offline, on the testkit's in-memory
//! host. Run it with `cargo run --example quickstart`.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;

use integrations::core::TargetId;
use integrations::core::service::TargetInput;
use integrations::prelude::*;
use integrations_testkit::TestHost;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // 1. The registry of shipped integrations.
    let registry = Arc::new(integrations::definitions::registry());
    println!("== 1. Registry: {} integrations ==", registry.len());
    for entry in registry.iter() {
        let methods: Vec<&str> = entry
            .methods()
            .iter()
            .map(|m| m.method().id.as_str())
            .collect();
        println!(
            "  {:<34} {:<9} {:<26} methods: {}",
            entry.key().to_string(),
            entry.kind().to_string(),
            entry.metadata().name,
            methods.join(", ")
        );
    }

    // 2. An in-memory host and the write-time service.
    let test = TestHost::new();
    let service = WriteService::new(registry.clone(), test.host().clone());
    let tenant = TenantId::new("acme")?;

    // 3. A valid target: config validated, secrets sealed with AES-256-GCM.
    let target = service
        .put_target(
            TargetInput::new(
                tenant.clone(),
                TargetId::new("github-prod")?,
                "github::github-cloud".parse()?,
            )
            .with_config(json!({"app_id": 123_456, "app_slug": "acme-agent"}))
            .with_secrets(json!({"webhook_secret": "It's a Secret to Everybody"})),
        )
        .await?;
    println!("\n== 2. Target stored ==");
    println!(
        "  {} ({}) enabled={} secrets sealed with key {}",
        target.id,
        target.key,
        target.enabled,
        target
            .secrets
            .as_ref()
            .map_or("-", integrations::core::host::Sealed::key_id)
    );

    // 4. A bad config is rejected with every issue, and nothing is stored.
    println!("\n== 3. A bad config is rejected ==");
    let bad = TargetInput::new(
        tenant,
        TargetId::new("ghes")?,
        "github::github-enterprise-server".parse()?,
    )
    .with_config(json!({"web_base_url": "not a url", "api_version": "v3", "colour": "blue"}));
    match service.put_target(bad).await {
        Ok(_) => println!("  unexpectedly accepted"),
        Err(e) => {
            println!("  {} ({}): {e}", e.code(), e.kind());
            for issue in e.issues() {
                println!("    {issue}");
            }
        }
    }
    Ok(())
}
