//! Quota tests: bursts, each over-quota answer, Retry-After forms, and the window freeing up.

use super::default_client;
use crate::routes::{self, JSON_DOC};
use crate::{Answer, FakeServer, Quota, QuotaAnswer, RetryAfter};
use reqwest::header::RETRY_AFTER;
use std::time::{Duration, SystemTime};

/// Sends `n` sequential GETs to `url`; returns (status, Retry-After, body) for each.
async fn burst(url: &str, n: usize) -> Vec<(u16, Option<String>, String)> {
    let c = default_client();
    let mut out = Vec::new();
    for _ in 0..n {
        let res = c.get(url).send().await.expect("response");
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().expect("ascii").to_owned());
        out.push((status, retry, res.text().await.expect("body")));
    }
    out
}

fn statuses(answers: &[(u16, Option<String>, String)]) -> Vec<u16> {
    answers.iter().map(|a| a.0).collect()
}

#[tokio::test]
async fn too_many_requests_with_seconds_after_limit() {
    let server = FakeServer::start(routes::all()).await;
    server.set_quota(Some(Quota::new(
        3,
        Duration::from_secs(10),
        QuotaAnswer::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(7)),
        },
    )));
    let got = burst(&server.url("/json"), 6).await;
    assert_eq!(statuses(&got), [200, 200, 200, 429, 429, 429]);
    assert_eq!(got[0].2, JSON_DOC);
    assert!(got[0].1.is_none());
    let body: serde_json::Value = serde_json::from_str(&got[3].2).expect("JSON 429 body");
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    assert_eq!(body["status"], "error");
    assert_eq!(got[3].1.as_deref(), Some("7"));
    let answers: Vec<_> = server.requests().iter().map(|r| r.answer).collect();
    assert_eq!(answers[..3], [Answer::Status(200); 3]);
    assert_eq!(answers[3..], [Answer::Status(429); 3]);
}

#[tokio::test]
async fn forbidden_html_like_ploomes() {
    let server = FakeServer::start(routes::all()).await;
    server.set_quota(Some(Quota::per_minute(2, QuotaAnswer::ForbiddenHtml)));
    let c = default_client();
    for _ in 0..2 {
        assert_eq!(
            c.get(server.url("/json")).send().await.unwrap().status(),
            200
        );
    }
    let res = c.get(server.url("/json")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get(RETRY_AFTER).is_none());
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let body = res.text().await.unwrap();
    assert!(body.starts_with("<!DOCTYPE html>"));
    assert!(body.contains("Your request has been forbidden"));
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
}

#[tokio::test]
async fn unavailable_with_http_date() {
    let server = FakeServer::start(routes::all()).await;
    server.set_quota(Some(Quota::new(
        1,
        Duration::from_secs(10),
        QuotaAnswer::Unavailable {
            retry_after: Some(RetryAfter::Date(30)),
        },
    )));
    let got = burst(&server.url("/json"), 2).await;
    assert_eq!(statuses(&got), [200, 503]);
    let date =
        httpdate::parse_http_date(got[1].1.as_deref().expect("Retry-After")).expect("HTTP-date");
    let wait = date
        .duration_since(SystemTime::now())
        .expect("in the future");
    assert!(
        wait >= Duration::from_secs(29) && wait <= Duration::from_secs(31),
        "{wait:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&got[1].2).expect("JSON 503 body");
    assert_eq!(body["status"], "error");
}

#[tokio::test]
async fn until_window_frees_then_accepted_again() {
    let server = FakeServer::start(routes::all()).await;
    let window = Duration::from_millis(700);
    server.set_quota(Some(Quota::new(
        2,
        window,
        QuotaAnswer::TooManyRequests {
            retry_after: Some(RetryAfter::UntilWindowFrees),
        },
    )));
    let url = server.url("/json");
    assert_eq!(statuses(&burst(&url, 2).await), [200, 200]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rejected = burst(&url, 1).await;
    assert_eq!(statuses(&rejected), [429]);
    let secs: u64 = rejected[0]
        .1
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert_eq!(secs, 1, "under 0.4 s left, rounded up");
    // Once both accepted requests have left the window, two are accepted again: the
    // rejected one, still inside its window, did not count.
    let t1 = server.requests()[1].received_at;
    tokio::time::sleep_until((t1 + window + Duration::from_millis(20)).into()).await;
    assert_eq!(statuses(&burst(&url, 3).await), [200, 200, 429]);
}

#[tokio::test]
async fn concurrent_burst_accepts_exactly_limit() {
    let server = FakeServer::start(routes::all()).await;
    server.set_quota(Some(Quota::new(
        4,
        Duration::from_secs(10),
        QuotaAnswer::TooManyRequests { retry_after: None },
    )));
    let c = default_client();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (c, url) = (c.clone(), server.url("/json"));
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert_eq!(got.iter().filter(|&&s| s == 200).count(), 4);
    assert_eq!(got.iter().filter(|&&s| s == 429).count(), 8);
    // In arrival order, the first four were the accepted ones.
    let logged: Vec<_> = server.requests().iter().map(|r| r.status()).collect();
    assert_eq!(logged[..4], [Some(200); 4]);
}

#[tokio::test]
async fn quota_can_be_replaced_and_removed() {
    let server = FakeServer::start(routes::all()).await;
    let url = server.url("/json");
    server.set_quota(Some(Quota::per_minute(1, QuotaAnswer::ForbiddenHtml)));
    assert_eq!(statuses(&burst(&url, 2).await), [200, 403]);
    server.set_quota(Some(Quota::per_minute(
        1,
        QuotaAnswer::TooManyRequests { retry_after: None },
    )));
    assert_eq!(statuses(&burst(&url, 2).await), [200, 429]);
    server.set_quota(None);
    assert_eq!(statuses(&burst(&url, 3).await), [200, 200, 200]);
}
