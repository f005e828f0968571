//! CRM limits: the 24-hour credit budget (with and without `Retry-After`), the concurrency
//! cap, and the server's per-minute quota applying to CRM and Billing alike.

use super::Harness;
use fake_upstreams::{Quota, QuotaAnswer, RetryAfter};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const PATH: &str = "/crm/v8/Products?fields=Product_Name";

#[tokio::test]
async fn a_spent_credit_budget_answers_429_until_credits_free_up() {
    let mut h = Harness::start().await;
    h.data.set_credit_limit(Some(3));
    for _ in 0..3 {
        assert_eq!(h.crm_get(PATH).await.status, 204);
        h.data.advance_clock(Duration::from_secs(60));
    }
    let a = h.crm_get(PATH).await;
    assert_eq!(
        (a.status, &a.json["code"], &a.json["status"]),
        (429, &json!("TOO_MANY_REQUESTS"), &json!("error"))
    );
    assert_eq!(a.json["details"], json!({}));
    // The first credit was spent at t0, three minutes ago.
    let retry = a.headers.get("retry-after").and_then(|v| v.to_str().ok());
    assert_eq!(retry, Some("86220"));
    assert_eq!(h.data.credits_used(), 3, "a refusal costs nothing");
    // Billing spends no CRM credits.
    assert_eq!(
        h.billing(Method::GET, "/billing/v1/plans", None)
            .await
            .status,
        200
    );
    h.data.set_credit_retry_after(false);
    let a = h.crm_get(PATH).await;
    assert_eq!(a.status, 429);
    assert!(a.headers.get("retry-after").is_none());
    h.data.advance_clock(Duration::from_secs(86_220));
    h.token = h.data.grant_access_token();
    assert_eq!(
        h.crm_get(PATH).await.status,
        204,
        "the oldest credit has left the window"
    );
    assert_eq!(h.data.crm_calls(), 4);
}

#[tokio::test]
async fn one_call_more_than_the_concurrency_cap_answers_429_without_retry_after() {
    let h = Harness::start().await;
    h.data.set_max_concurrency(2);
    h.data.set_latency(Duration::from_millis(600));
    let (a, b, c) = tokio::join!(h.crm_get(PATH), h.crm_get(PATH), h.crm_get(PATH));
    let mut statuses = [a.status, b.status, c.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 204, 429]);
    let refused = [a, b, c]
        .into_iter()
        .find(|x| x.status == 429)
        .expect("one refusal");
    assert_eq!(refused.json["code"], "TOO_MANY_REQUESTS");
    assert!(refused.headers.get("retry-after").is_none());
    assert_eq!(h.data.crm_peak_concurrency(), 2);
    assert_eq!(h.data.credits_used(), 2, "the refused call spent no credit");
    // Slots are freed once answered.
    h.data.set_latency(Duration::ZERO);
    let (a, b) = tokio::join!(h.crm_get(PATH), h.crm_get(PATH));
    assert_eq!((a.status, b.status), (204, 204));
}

#[tokio::test]
async fn the_servers_per_minute_quota_counts_crm_and_billing_together() {
    let h = Harness::start().await;
    h.server.set_quota(Some(Quota::per_minute(
        2,
        QuotaAnswer::TooManyRequests {
            retry_after: Some(RetryAfter::Seconds(60)),
        },
    )));
    assert_eq!(h.crm_get(PATH).await.status, 204);
    assert_eq!(
        h.billing(Method::GET, "/billing/v1/products", None)
            .await
            .status,
        200
    );
    let a = h.crm_get(PATH).await;
    assert_eq!(
        (a.status, &a.json["code"]),
        (429, &json!("TOO_MANY_REQUESTS"))
    );
    assert_eq!(
        a.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("60")
    );
}
