//! The catch-all fails tests readably on unexpected requests.

use std::sync::Arc;

use bytes::Bytes;
use integrations_core::host::{HttpClient, ReqwestHttpClient};
use integrations_testkit::mock::MockProvider;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn expected_requests_pass_and_unexpected_ones_are_reported() {
    let provider = MockProvider::start().await;
    Mock::given(method("GET"))
        .and(path("/expected"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(provider.server())
        .await;
    let http: Arc<dyn HttpClient> = Arc::new(ReqwestHttpClient::new().unwrap());
    let ok = http
        .send(
            http::Request::get(format!("{}/expected", provider.uri()))
                .body(Bytes::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    provider.assert_no_unexpected();

    let odd = http
        .send(
            http::Request::post(format!("{}/surprise?token=secret-value", provider.uri()))
                .body(Bytes::from_static(b"body-secret"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(odd.status(), 599);
    assert_eq!(provider.unexpected_requests(), ["POST /surprise?token"]);
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        provider.assert_no_unexpected();
    }))
    .unwrap_err();
    let text = message.downcast_ref::<String>().unwrap();
    assert!(text.contains("POST /surprise?token"), "{text}");
    assert!(!text.contains("secret-value") && !text.contains("body-secret"));
    // Dropping now would panic again; forget the record for this test only.
    std::mem::forget(provider);
}

/// A mock dropped by a task whose tokio budget is spent (a test that just awaited
/// hundreds of finished tasks) must not spin: wiremock checks its mocks on drop with a
/// nested `block_on` that would see "pending, poll again" forever. Run on a thread of its
/// own, so a regression fails here instead of hanging the suite.
#[test]
fn a_mock_dropped_with_the_task_budget_spent_does_not_spin() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let provider = MockProvider::start().await;
            while tokio::task::coop::has_budget_remaining() {
                tokio::task::consume_budget().await;
            }
            drop(provider);
        });
        let _ = done.send(());
    });
    assert!(
        finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .is_ok(),
        "dropping a MockProvider with the task budget spent did not return"
    );
}
