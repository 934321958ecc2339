//! The loopback approval page: only the person signed in with the operator's link decides,
//! never a client holding an approval URL, a web page through a rebound DNS name, or a
//! form posted from another site.

use std::net::SocketAddr;
use std::sync::Arc;

use integrations_mcp::demo::Demo;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::Value;

use crate::support::{approval_id, calls, demo, json_of, plain, send_message};

/// The demo's approval page served on loopback, and its address.
async fn serve_page(demo: &Arc<Demo>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = demo.approval_router();
    tokio::spawn(async move { axum::serve(listener, page).await });
    addr
}

/// Asks to send a Slack message (an `ask` tool): the approval URL's path on the page.
async fn ask(demo: &Arc<Demo>, text: &str) -> String {
    let client = plain(demo).await;
    let result = client.call_tool(send_message(demo, text)).await.unwrap();
    format!("/approvals/{}", approval_id(&json_of(&result)))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn code_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Sends `request` with `header: value` and asserts the page refused it with 403
/// `mcp.approval_page_refused`.
async fn assert_refused(request: reqwest::RequestBuilder, header: &str, value: &str) {
    let response = request.header(header, value).send().await.unwrap();
    assert_eq!(
        code_of(response).await,
        (
            StatusCode::FORBIDDEN,
            "mcp.approval_page_refused".to_owned()
        ),
        "{header}: {value}"
    );
}

/// Signs in with the operator's link: the cookie to send back.
async fn sign_in(demo: &Demo, addr: SocketAddr) -> String {
    let response = http()
        .get(format!("http://{addr}{}", demo.page_key().sign_in_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/approvals");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_url_a_client_is_given_cannot_approve_until_the_operator_signs_in() {
    let demo = demo().await;
    let addr = serve_page(&demo).await;
    let path = ask(&demo, "deploy v3").await;
    let base = format!("http://{addr}");

    // Everything the client (or the agent behind it) holds: the approval URL.
    for (method, url) in [
        ("POST", format!("{base}{path}/approve")),
        ("POST", format!("{base}{path}/deny")),
        ("GET", format!("{base}{path}")),
        ("GET", format!("{base}/approvals")),
    ] {
        let request = if method == "POST" {
            http().post(&url)
        } else {
            http().get(&url)
        };
        let (status, code) = code_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
        assert_eq!(code, "mcp.approval_page_signed_out", "{method} {url}");
    }
    // A made-up cookie, and a sign-in link with another key, do not sign anyone in.
    let cookie = sign_in(&demo, addr).await;
    let (name, _) = cookie.split_once('=').unwrap();
    let forged = format!("{name}={}", "0".repeat(64));
    let response = http()
        .post(format!("{base}{path}/approve"))
        .header(COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http()
        .get(format!("{base}/sign-in?key={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert_eq!(
        code_of(response).await,
        (
            StatusCode::UNAUTHORIZED,
            "mcp.approval_page_signed_out".to_owned()
        )
    );
    assert_eq!(calls(&demo, "slack_messages"), 0);
    assert_eq!(
        demo.service
            .approvals()
            .pending(&demo.session.session.tenant)
            .await
            .unwrap()
            .len(),
        1
    );

    // Signed in, the person sees the request and approves it: it runs once.
    let page = http()
        .get(format!("{base}{path}"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("slack_send_message"));
    let approved = http()
        .post(format!("{base}{path}/approve"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &base)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

#[tokio::test]
async fn a_rebound_name_or_a_form_from_another_site_is_refused() {
    let demo = demo().await;
    let addr = serve_page(&demo).await;
    let path = ask(&demo, "deploy v4").await;
    let base = format!("http://{addr}");
    let cookie = sign_in(&demo, addr).await;
    let port = addr.port();

    // A web page reaching 127.0.0.1 through its own DNS name (DNS rebinding), even with
    // the cookie a browser would not send it: refused before anything is read.
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        String::new(),
    ] {
        let request = http()
            .get(format!("{base}/approvals"))
            .header(COOKIE, &cookie);
        assert_refused(request, "host", &host).await;
    }
    // A decision posted by another site's page.
    for (header, value) in [
        ("origin", "http://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("origin", format!("https://127.0.0.1:{port}")),
        ("sec-fetch-site", "cross-site".to_owned()),
    ] {
        let request = http()
            .post(format!("{base}{path}/approve"))
            .header(COOKIE, &cookie);
        assert_refused(request, header, &value).await;
    }
    assert_eq!(calls(&demo, "slack_messages"), 0);

    // The machine's own names are fine: `localhost`, and the page's own origin.
    let listed = http()
        .get(format!("{base}/approvals"))
        .header(HOST, format!("localhost:{port}"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let pending: Value = listed.json().await.unwrap();
    assert_eq!(pending["pending"].as_array().unwrap().len(), 1);
    let approved = http()
        .post(format!("{base}{path}/approve"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &base)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    assert_eq!(calls(&demo, "slack_messages"), 1);
}

#[tokio::test]
async fn the_page_key_stays_out_of_debug_output() {
    let demo = demo().await;
    let key = demo.page_key();
    let path = key.sign_in_path();
    let secret = path.strip_prefix("/sign-in?key=").unwrap();
    assert_eq!(secret.len(), 64);
    assert!(!format!("{key:?}").contains(secret));
    assert!(!format!("{demo:?}").contains(secret));
}
