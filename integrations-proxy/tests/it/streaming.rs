//! Bodies stream both ways: server-sent events token by token, many streams at once, a
//! 50 MB upload that reaches the upstream before the client has produced it all, and a
//! client that hangs up mid-stream leaves nothing behind.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn server_sent_events_arrive_token_by_token() {
    let fx = Fixture::start().await;
    let mut response = fx
        .client(&fx.grant())
        .post("https://api.openai.com/v1/responses?gated=1")
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-5","input":"hi","stream":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    for n in 0..3 {
        // The upstream sends event n+1 only after we have read event n: a proxy that
        // buffered the response would never deliver event 0.
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event arrives before the stream ends")
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&chunk).into_owned();
        assert!(text.contains(&format!("token{n}")), "{text}");
        assert!(!text.contains(&format!("token{}", n + 1)), "{text}");
        fx.upstream.state.sse_step.notify_one();
    }
    let rest = response.text().await.unwrap();
    assert!(rest.contains("[DONE]"));
}

#[tokio::test]
async fn a_hundred_concurrent_streams_complete() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .post("https://api.openai.com/v1/responses")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap()
        }));
    }
    for task in tasks {
        let text = task.await.unwrap();
        for n in 0..3 {
            assert!(text.contains(&format!("token{n}")), "{text}");
        }
        assert!(text.contains("[DONE]"));
    }
    let route = fx.plan.egress_routes[0].id.as_str().to_owned();
    assert_eq!(fx.proxy().metrics().count(&route, "forwarded"), 100);
    assert_eq!(fx.upstream.recorded().len(), 100);
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_leaks_nothing() {
    let fx = Fixture::start().await;
    let client = fx.client(&fx.grant());
    let mut response = client
        .get("https://api.openai.com/v1/hang")
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("token0"));
    let during = fx.proxy().metrics();
    assert_eq!((during.tunnels, during.in_flight), (1, 1));
    assert_eq!(fx.upstream.state.open_streams.load(Ordering::SeqCst), 1);
    drop(response);
    drop(client);
    let after = fx.settled().await;
    assert_eq!(
        (after.connections, after.tunnels, after.in_flight),
        (0, 0, 0),
        "{after:?}"
    );
    for _ in 0..500 {
        if fx.upstream.state.open_streams.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fx.upstream.state.open_streams.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_50_mb_upload_streams_through() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 50;
    let fx = Fixture::start().await;
    let state = fx.upstream.state.clone();
    let chunks = futures_util::stream::unfold(0_usize, move |n| {
        let state = state.clone();
        async move {
            if n == CHUNKS {
                return None;
            }
            if n == 2 {
                // Produce the rest only once the upstream has received the first MiB: a
                // proxy that buffered the body would wait here forever.
                let started =
                    tokio::time::timeout(Duration::from_secs(10), state.upload_started.notified())
                        .await;
                if started.is_err() {
                    return Some((
                        Err(std::io::Error::other("the upload did not stream")),
                        n + 1,
                    ));
                }
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; CHUNK])),
                n + 1,
            ))
        }
    });
    let response = fx
        .client(&fx.grant())
        .post("https://api.openai.com/v1/upload")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["bytes"], CHUNK * CHUNKS);
    assert_eq!(
        fx.upstream.state.uploaded.load(Ordering::SeqCst),
        (CHUNK * CHUNKS) as u64
    );
}
