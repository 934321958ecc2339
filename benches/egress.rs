//! Classifying a request against 10, 1,000 and 10,000 routes: the index (by host, then a
//! segment trie) beside a linear scan of the same routes with the same matcher. The
//! indexed cost should stay nearly flat while the scan grows with the number of routes.
//!
//! Routes look like a large plan's: git routes `/<org>/<repo>.git` spread over hosts, ten
//! per host, none overlapping. Requests are pre-normalized (`RequestTarget`), so both
//! sides measure only the choice of route; `classify_url` adds URL parsing at 10,000.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use integrations::core::egress::{Classification, Matcher, RequestTarget, RouteIndex};
use integrations::core::plan::CompiledRoute;
use serde_json::json;

fn routes(n: usize) -> Vec<CompiledRoute> {
    (0..n)
        .map(|i| {
            let host = format!("git-{}.example.test", i / 10);
            serde_json::from_value(json!({
                "id": format!("egress_rule_b{i}"),
                "binding": format!("b{i}"),
                "connection": format!("c{i}"),
                "definition": "github::github-enterprise-server",
                "matcher": {
                    "hosts": [host],
                    "path_prefixes": [format!("/org-{i}/repo-{i}.git")],
                    "methods": ["GET", "POST"]
                },
                "upstream": format!("https://{host}"),
                "injection": {"type": "basic", "username": "x-access-token"},
                "credential": {"credential_type": "api_key", "slot": null, "resolver": null, "parameters": {}},
                "headers": {},
                "default_headers": {}
            }))
            .expect("a valid route")
        })
        .collect()
}

/// 64 requests spread over the routes, each matching exactly one.
fn requests(n: usize) -> Vec<(String, RequestTarget)> {
    (0..64)
        .map(|k| {
            let i = (k * 7919) % n;
            let url = format!(
                "https://git-{}.example.test/org-{i}/repo-{i}.git/info/refs?service=git-upload-pack",
                i / 10
            );
            let target = RequestTarget::from_url("GET", &url).expect("a valid URL");
            (url, target)
        })
        .collect()
}

fn linear_scan<'a>(
    routes: &'a [CompiledRoute],
    matchers: &[Matcher],
    target: &RequestTarget,
) -> Option<&'a CompiledRoute> {
    let mut found = None;
    for (route, matcher) in routes.iter().zip(matchers) {
        if matcher.matches(target) {
            if found.is_some() {
                return None;
            }
            found = Some(route);
        }
    }
    found
}

fn classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for n in [10_usize, 1_000, 10_000] {
        let routes = routes(n);
        let matchers: Vec<Matcher> = routes
            .iter()
            .map(|r| Matcher::new(&r.matcher).expect("a valid matcher"))
            .collect();
        let index = RouteIndex::new(routes.clone()).expect("unique route ids");
        let requests = requests(n);
        for (_, target) in &requests {
            assert!(matches!(
                index.classify_target(target),
                Classification::Route(_)
            ));
            assert!(linear_scan(&routes, &matchers, target).is_some());
        }
        group.bench_with_input(BenchmarkId::new("indexed", n), &n, |b, _| {
            b.iter(|| {
                for (_, target) in &requests {
                    black_box(index.classify_target(black_box(target)));
                }
            });
        });
        group.bench_with_input(BenchmarkId::new("linear_scan", n), &n, |b, _| {
            b.iter(|| {
                for (_, target) in &requests {
                    black_box(linear_scan(&routes, &matchers, black_box(target)));
                }
            });
        });
        if n == 10_000 {
            group.bench_with_input(BenchmarkId::new("classify_url", n), &n, |b, _| {
                b.iter(|| {
                    for (url, _) in &requests {
                        black_box(index.classify("GET", black_box(url)));
                    }
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
