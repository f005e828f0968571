//! Request-log and route tests: what is recorded, arrival times, echo, redirect, bytes and status routes.

use super::default_client;
use crate::routes;
use crate::{max_in_any_window, Answer, FakeServer};
use std::time::Duration;

#[tokio::test]
async fn log_records_requests_in_arrival_order() {
    let server = FakeServer::start(routes::all()).await;
    let c = default_client();
    c.post(server.url("/echo/x?a=1&b=two"))
        .header("User-Key", "secret")
        .body("hello")
        .send()
        .await
        .unwrap();
    c.get(server.url("status/418")).send().await.unwrap();
    c.delete(server.url("/nowhere")).send().await.unwrap();
    let log = server.requests();
    assert_eq!(log.len(), 3);
    let first = &log[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/echo/x");
    assert_eq!(first.query.as_deref(), Some("a=1&b=two"));
    assert_eq!(first.header("user-key"), Some("secret"));
    assert_eq!(first.body_text(), "hello");
    let answers: Vec<_> = log.iter().map(|r| r.answer).collect();
    assert_eq!(
        answers,
        [
            Answer::Status(200),
            Answer::Status(418),
            Answer::Status(404)
        ]
    );
    assert!(log
        .windows(2)
        .all(|w| w[0].received_at <= w[1].received_at && w[0].seq < w[1].seq));
    server.clear();
    assert_eq!(server.request_count(), 0);
    c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(server.requests()[0].seq, 3);
}

#[tokio::test]
async fn arrival_times_measure_client_pacing() {
    let server = FakeServer::start(routes::all()).await;
    let c = default_client();
    // A client pacing 1 request per 100 ms never has 2 in a 90 ms window.
    for _ in 0..5 {
        c.get(server.url("/json")).send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let times = server.arrival_times();
    assert_eq!(times.len(), 5);
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(max_in_any_window(&times, Duration::from_millis(90)), 1);
    assert_eq!(max_in_any_window(&times, Duration::from_secs(10)), 5);
}

#[tokio::test]
async fn echo_shows_headers_as_received() {
    let server = FakeServer::start(routes::echo_router()).await;
    let res = default_client()
        .put(server.url("/echo?q=a%20b"))
        .header("Authorization", "Zoho-oauthtoken t1")
        .header("X-Multi", "1")
        .header("X-Multi", "2")
        .body(r#"{"k":1}"#)
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(doc["method"], "PUT");
    assert_eq!(doc["path"], "/echo");
    assert_eq!(doc["query"], "q=a%20b");
    assert_eq!(doc["args"]["q"], "a b");
    assert_eq!(doc["headers"]["authorization"], "Zoho-oauthtoken t1");
    assert_eq!(doc["headers"]["x-multi"], "1, 2");
    assert!(doc["headers"].get("cookie").is_none());
    let list = doc["header_list"].as_array().unwrap();
    assert!(list.iter().any(|p| p[0] == "x-multi" && p[1] == "2"));
    assert_eq!(doc["body"], r#"{"k":1}"#);
}

#[tokio::test]
async fn redirect_to_any_url() {
    let server = FakeServer::start(routes::redirect_router()).await;
    let c = default_client();
    let res = c
        .get(server.url("/redirect?to=http://elsewhere.invalid/x&status=307"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["location"], "http://elsewhere.invalid/x");
    let res = c
        .get(server.url("/redirect?to=/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let res = c
        .get(server.url("/redirect?to=/json&status=200"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn bytes_with_and_without_length() {
    let server = FakeServer::start(routes::bytes_router().merge(routes::status_router())).await;
    let c = default_client();
    let n = 100_000;
    let res = c
        .get(server.url(&format!("/bytes?n={n}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-length"], n.to_string().as_str());
    assert_eq!(res.bytes().await.unwrap().len(), n);
    let res = c
        .get(server.url(&format!("/bytes?n={n}&chunked=1")))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("content-length").is_none());
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert_eq!(res.bytes().await.unwrap().len(), n);
    let res = c.get(server.url("/bytes?n=0")).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    assert_eq!(
        c.get(server.url("/bytes?n=x"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let res = c.post(server.url("/status/204")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        c.get(server.url("/status/99"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}
