//! Compiling a profile of 1,000 bindings beside a profile of one: the profile-wide
//! checks index routes by host and prefix instead of comparing every pair, so the
//! 1,000-binding compile should cost about 1,000 times the one-binding compile. A
//! 3,000-binding profile shows the growth past 1,000 stays linear.
//!
//! Every binding is a Slack binding with its own target (its own Web API host) and
//! connection, so the profile is valid and every binding runs the full pipeline: the
//! write-time checks and schema parsing, `compile_binding`, route stamping, the overlap
//! check and assembly.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use integrations::core::compile::{ProfileInput, compile};
use serde_json::{Value, json};

fn profile(n: usize) -> ProfileInput {
    let targets: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("slack-{i}"),
                "key": "slack::slack-default",
                "config": {"api_base_url": format!("https://slack-{i}.example.test/api")}
            })
        })
        .collect();
    let connections: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("bot-{i}"), "target": format!("slack-{i}"), "method": "api-key"}))
        .collect();
    let bindings: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("chat-{i}"),
                "kind": "connector",
                "connection": format!("bot-{i}"),
                "config": {"default_channel": "C0123456789"}
            })
        })
        .collect();
    ProfileInput::from_value(&json!({
        "tenant": "acme",
        "profile": "bench",
        "version": 1,
        "targets": targets,
        "connections": connections,
        "bindings": bindings
    }))
    .expect("a valid profile document")
}

fn compile_profiles(c: &mut Criterion) {
    let registry = integrations::definitions::registry();
    let mut group = c.benchmark_group("compile");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for n in [1_usize, 1_000, 3_000] {
        let profile = profile(n);
        let plan = compile(&registry, &profile).expect("the profile compiles");
        assert_eq!(plan.egress_routes.len(), n);
        group.bench_with_input(BenchmarkId::new("bindings", n), &n, |b, _| {
            b.iter(|| black_box(compile(&registry, black_box(&profile))));
        });
    }
    group.finish();
}

criterion_group!(benches, compile_profiles);
criterion_main!(benches);
