//! Fault tests: each scripted fault as the client sees it, scopes, and faults on a test's own router.

use super::{client, default_client};
use crate::routes::{self, JSON_DOC};
use crate::{Answer, FakeServer, Fault, FaultScope, Quota, QuotaAnswer, RetryAfter};
use axum::routing::get;
use axum::Router;
use std::time::{Duration, Instant};

async fn status_of(c: &reqwest::Client, url: String) -> u16 {
    c.get(url).send().await.expect("response").status().as_u16()
}

#[tokio::test]
async fn status_fault_fifo_and_scope() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Status(500), FaultScope::prefix("/status").times(2));
    server.push_fault(Fault::Status(502), FaultScope::any());
    assert_eq!(server.pending_faults(), 3);
    let c = default_client();
    // /json does not match the first scope: it takes the second fault.
    let res = c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(status_of(&c, server.url("/json")).await, 200);
    assert_eq!(status_of(&c, server.url("/status/201")).await, 500);
    assert_eq!(status_of(&c, server.url("/status/201")).await, 500);
    assert_eq!(status_of(&c, server.url("/status/201")).await, 201);
    assert_eq!(server.pending_faults(), 0);
    // Out-of-range scripted codes become 500; cleared faults are never served.
    server.push_fault(Fault::Status(101), FaultScope::any());
    assert_eq!(status_of(&c, server.url("/json")).await, 500);
    server.push_fault(Fault::Status(500), FaultScope::any().times(5));
    server.clear_faults();
    assert_eq!(status_of(&c, server.url("/json")).await, 200);
}

#[tokio::test]
async fn retry_after_status_once() {
    let server = FakeServer::start(routes::all()).await;
    let retry = RetryAfter::Seconds(3);
    server.push_fault(
        Fault::RetryAfterStatus {
            status: 503,
            retry_after: retry,
        },
        FaultScope::any(),
    );
    let c = default_client();
    let res = c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "3");
    assert_eq!(status_of(&c, server.url("/json")).await, 200);
}

#[tokio::test]
async fn delay_and_header_modify_the_normal_answer() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Delay(Duration::from_millis(300)), FaultScope::any());
    server.push_fault(Fault::header("X-Fake", "yes"), FaultScope::any());
    let c = default_client();
    let start = Instant::now();
    let res = c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(res.text().await.unwrap(), JSON_DOC);
    let res = c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(res.headers()["x-fake"], "yes");
}

#[tokio::test]
async fn slow_body_takes_chunks_times_interval() {
    let server = FakeServer::start(routes::all()).await;
    let (chunk, interval) = (40, Duration::from_millis(40));
    server.push_fault(Fault::SlowBody { chunk, interval }, FaultScope::any());
    let start = Instant::now();
    let res = default_client()
        .get(server.url("/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), JSON_DOC);
    let chunks = JSON_DOC.len().div_ceil(chunk) as u32;
    assert!(
        start.elapsed() >= interval * chunks,
        "{:?}",
        start.elapsed()
    );
}

/// Whether an I/O "connection reset" is somewhere in `err`'s source chain.
fn is_connection_reset(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

#[tokio::test]
async fn reset_is_a_connection_error_not_a_status() {
    let server = FakeServer::start(routes::all()).await;
    let c = default_client();
    assert_eq!(status_of(&c, server.url("/json")).await, 200); // a pooled connection exists
    server.push_fault(Fault::Reset, FaultScope::any());
    let err = c
        .post(server.url("/json"))
        .body("x")
        .send()
        .await
        .expect_err("reset");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
    assert!(is_connection_reset(&err), "{err:?}");
    assert_eq!(server.requests()[1].answer, Answer::Reset);
    assert_eq!(server.requests()[1].body_text(), "x");
    // The server keeps serving new connections.
    assert_eq!(status_of(&c, server.url("/json")).await, 200);
}

#[tokio::test]
async fn hang_makes_the_client_time_out() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Hang, FaultScope::any());
    let c = client(Duration::from_millis(300));
    let err = c
        .get(server.url("/json"))
        .send()
        .await
        .expect_err("timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.requests()[0].answer, Answer::Hung);
    assert_eq!(status_of(&c, server.url("/json")).await, 200);
}

#[tokio::test]
async fn malformed_json_fails_to_parse() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::MalformedJson, FaultScope::any().times(2));
    let c = default_client();
    for path in ["/json", "/status/404"] {
        let res = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body = res.bytes().await.unwrap();
        assert!(!body.is_empty());
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_err(),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn faults_and_quota_apply_to_a_tests_own_router() {
    let own = Router::new().route("/Deals", get(|| async { r#"{"value":[]}"# }));
    let server = FakeServer::start(own.merge(routes::echo_router())).await;
    server.set_quota(Some(Quota::per_minute(
        2,
        QuotaAnswer::TooManyRequests { retry_after: None },
    )));
    server.push_fault(Fault::Status(500), FaultScope::prefix("/Deals"));
    let c = default_client();
    // The replacing fault neither consults nor uses the quota.
    assert_eq!(status_of(&c, server.url("/echo")).await, 200);
    assert_eq!(status_of(&c, server.url("/Deals")).await, 500);
    assert_eq!(status_of(&c, server.url("/Deals?$top=300")).await, 200);
    assert_eq!(status_of(&c, server.url("/Deals")).await, 429);
    assert_eq!(status_of(&c, server.url("/missing")).await, 429);
    server.set_quota(None);
    assert_eq!(status_of(&c, server.url("/missing")).await, 404);
    let paths: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.path_and_query())
        .collect();
    assert_eq!(paths[2], "/Deals?$top=300");
}

#[tokio::test]
async fn shutdown_closes_hung_connections_and_the_port() {
    let server = FakeServer::start(routes::all()).await;
    server.push_fault(Fault::Hang, FaultScope::any());
    let url = server.url("/json");
    let c = default_client();
    let hung = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await }
    });
    assert!(server.wait_for_requests(1, Duration::from_secs(2)).await);
    let start = Instant::now();
    server.shutdown().await;
    let err = hung.await.unwrap().expect_err("closed by shutdown");
    assert!(
        !err.is_timeout() && start.elapsed() < Duration::from_secs(2),
        "{err:?}"
    );
    assert!(c
        .get(url)
        .send()
        .await
        .expect_err("port closed")
        .is_connect());
}
