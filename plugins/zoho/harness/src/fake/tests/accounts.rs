//! Accounts: issuing tokens, the 11th-refresh refusal and recovery, bad clients and grants,
//! and what CRM and Billing answer to missing, wrong-scheme, expired and revoked tokens.

use super::{j, t0, Harness, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};
use reqwest::Method;
use std::time::Duration;

fn refresh_query(secret: &str, refresh: &str) -> String {
    format!(
        "/oauth/v2/token?refresh_token={refresh}&client_id={CLIENT_ID}&client_secret={secret}&grant_type=refresh_token"
    )
}

/// Refreshes through a form body instead of the query string.
async fn refresh_by_form(h: &Harness) -> super::Answer {
    let res = h
        .client
        .post(h.server.url("/oauth/v2/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&refresh_token={REFRESH_TOKEN}"
        ))
        .send()
        .await
        .expect("a response");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("a body");
    super::Answer {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or_default(),
        text,
    }
}

#[tokio::test]
async fn ten_tokens_per_ten_minutes_then_access_denied_until_the_window_frees() {
    let h = Harness::start().await;
    for i in 0..10 {
        let a = if i % 2 == 0 {
            let q = refresh_query(CLIENT_SECRET, REFRESH_TOKEN);
            h.send(Method::POST, &q, None, &[], None).await
        } else {
            refresh_by_form(&h).await
        };
        assert_eq!(a.status, 200, "{}", a.text);
        let token = a.json["access_token"].as_str().expect("an access token");
        assert!(token.starts_with("1000."), "{token}");
        assert_eq!(a.json["api_domain"], h.server.base_url());
        assert_eq!(a.json["token_type"], "Bearer");
        assert_eq!(a.json["expires_in"], 3600);
        h.data.advance_clock(Duration::from_secs(10));
    }
    let refused = j(
        r#"{"error":"Access Denied","error_description":"You have made too many requests continuously. Please try again after some time.","status":"failure"}"#,
    );
    let eleventh = refresh_by_form(&h).await;
    assert_eq!((eleventh.status, &eleventh.json), (400, &refused));
    h.data.advance_clock(Duration::from_secs(300));
    let still = refresh_by_form(&h).await;
    assert_eq!((still.status, &still.json), (400, &refused));
    assert_eq!(h.data.tokens_issued(), 10, "refusals issue nothing");
    // The first token was issued at t0; ten minutes later it has left the window.
    h.data.set_now(Some(t0() + chrono::Duration::seconds(600)));
    let again = refresh_by_form(&h).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(h.data.tokens_issued(), 11);
    assert_eq!(h.data.token_issue_times()[0], t0());
    // A fresh token works against the CRM.
    let token = again.json["access_token"].as_str().expect("a token");
    let auth = format!("Zoho-oauthtoken {token}");
    let a = h
        .send(
            Method::GET,
            "/crm/v8/Leads?fields=Email",
            Some(&auth),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 204);
}

#[tokio::test]
async fn bad_clients_codes_and_grants_answer_200_with_an_error() {
    let h = Harness::start().await;
    h.data
        .add_client("1000.OTHER", "other", "1000.other.refresh");
    let post = |path: String| {
        let h = &h;
        async move { h.send(Method::POST, &path, None, &[], None).await }
    };
    let a = post(refresh_query("wrong", REFRESH_TOKEN)).await;
    assert_eq!(
        (a.status, &a.json),
        (200, &j(r#"{"error":"invalid_client"}"#))
    );
    let a = post(refresh_query(CLIENT_SECRET, "1000.nope")).await;
    assert_eq!(
        (a.status, &a.json),
        (200, &j(r#"{"error":"invalid_code"}"#))
    );
    // Another client's refresh token is not this client's.
    let a = post(refresh_query(CLIENT_SECRET, "1000.other.refresh")).await;
    assert_eq!(a.json, j(r#"{"error":"invalid_code"}"#));
    let a = post(format!(
        "/oauth/v2/token?client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&refresh_token={REFRESH_TOKEN}"
    ))
    .await;
    assert_eq!(
        (a.status, &a.json),
        (200, &j(r#"{"error":"unsupported_grant_type"}"#))
    );
    let a = post(format!(
        "/oauth/v2/token?client_id=1000.UNKNOWN&client_secret=x&refresh_token={REFRESH_TOKEN}&grant_type=refresh_token"
    ))
    .await;
    assert_eq!(a.json, j(r#"{"error":"invalid_client"}"#));
    assert_eq!(h.data.tokens_issued(), 0);
}

#[tokio::test]
async fn missing_wrong_scheme_expired_and_revoked_tokens_answer_401() {
    let h = Harness::start().await;
    let invalid = j(
        r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}"#,
    );
    let path = "/crm/v8/Products?fields=Product_Name";
    let a = h.send(Method::GET, path, None, &[], None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json["code"], "AUTHENTICATION_FAILURE");
    let bearer = format!("Bearer {}", h.token);
    let a = h.send(Method::GET, path, Some(&bearer), &[], None).await;
    assert_eq!((a.status, &a.json), (401, &invalid));
    let a = h.crm_get(path).await;
    assert_eq!(a.status, 204, "a live token with the right scheme works");
    // Past its hour, the token is dead.
    h.data.advance_clock(Duration::from_secs(3600));
    let a = h.crm_get(path).await;
    assert_eq!((a.status, &a.json), (401, &invalid));
    // A refreshed token works until every token is expired at once.
    let q = refresh_query(CLIENT_SECRET, REFRESH_TOKEN);
    let fresh = h.send(Method::POST, &q, None, &[], None).await;
    let auth = format!(
        "Zoho-oauthtoken {}",
        fresh.json["access_token"].as_str().expect("a token")
    );
    assert_eq!(
        h.send(Method::GET, path, Some(&auth), &[], None)
            .await
            .status,
        204
    );
    h.data.expire_all_tokens();
    let a = h.send(Method::GET, path, Some(&auth), &[], None).await;
    assert_eq!((a.status, &a.json), (401, &invalid));
    // Billing answers its own shape.
    let org = h.data.billing_org_id();
    let extra = [("X-com-zoho-subscriptions-organizationid", org.as_str())];
    let a = h
        .send(Method::GET, "/billing/v1/plans", Some(&auth), &extra, None)
        .await;
    assert_eq!(
        (a.status, &a.json),
        (
            401,
            &j(r#"{"code":57,"message":"You are not authorized to perform this operation"}"#)
        )
    );
    let a = h
        .send(Method::GET, "/billing/v1/plans", None, &extra, None)
        .await;
    assert_eq!((a.status, &a.json["code"]), (401, &j("14")));
    // Shorter lifetimes are honoured and announced.
    h.data.set_token_lifetime(Duration::from_secs(60));
    let fresh = h.send(Method::POST, &q, None, &[], None).await;
    assert_eq!(fresh.json["expires_in"], 60);
}
