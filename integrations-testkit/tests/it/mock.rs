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
