//! The fake Commerce7 over real loopback HTTP: auth refusals, clubs, membership create/cancel rules, order cursor paging, the per-tenant rate limit, scripted failures and webhooks.

use super::{
    format_date, router, send_webhook, send_webhook_without_auth, Commerce7Data, Dataset,
    VALIDATION_MESSAGE,
};
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use fake_upstreams::FakeServer;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const TENANT: &str = "example-tenant";

/// A request: `auth` is the Authorization value, `tenant` the tenant header.
async fn call(
    server: &FakeServer,
    method: &str,
    path: &str,
    auth: Option<&str>,
    tenant: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = reqwest::Client::new().request(method, server.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(t) = tenant {
        req = req.header("tenant", t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.expect("a response");
    let status = res.status().as_u16();
    let bytes = res.bytes().await.expect("a body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A request as the connector makes it: right credentials and tenant.
async fn api(
    server: &FakeServer,
    data: &Commerce7Data,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = data.authorization();
    call(server, method, path, Some(&auth), Some(TENANT), body).await
}

async fn start(data: &Commerce7Data) -> FakeServer {
    FakeServer::start(router(data.clone())).await
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a time")
}

#[tokio::test]
async fn refuses_bad_credentials_and_tenants_with_commerce7_errors() {
    let data = Commerce7Data::generate(TENANT, 7, 20, 3);
    data.set_credentials("my-app", "s3cret");
    let server = start(&data).await;
    let unauthorized =
        json!({"statusCode":401,"type":"unauthorized","message":"Unauthorized user","errors":[]});
    let good = data.authorization();
    let wrong = Commerce7Data::new("x");
    wrong.set_credentials("my-app", "not-it");
    for (auth, tenant) in [
        (None, Some(TENANT)),
        (Some(wrong.authorization()), Some(TENANT)),
        (Some("Bearer abc".to_owned()), Some(TENANT)),
        (Some(good.clone()), None),
        (Some(good.clone()), Some("other-tenant")),
    ] {
        let (status, body) = call(&server, "GET", "/v1/club", auth.as_deref(), tenant, None).await;
        assert_eq!((status, &body), (401, &unauthorized), "{auth:?} {tenant:?}");
    }
    let (status, _) = call(&server, "GET", "/v1/club", Some(&good), Some(TENANT), None).await;
    assert_eq!(status, 200);
    // A JSON body must be sent as JSON.
    let res = reqwest::Client::new()
        .post(server.url("/v1/club-membership"))
        .header("authorization", &good)
        .header("tenant", TENANT)
        .header("content-type", "text/plain")
        .body(r#"{"customerId":"x"}"#)
        .send()
        .await
        .expect("a response");
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&res.bytes().await.expect("a body")).expect("JSON");
    assert_eq!(body["type"], "badRequest");
    assert_eq!(body["errors"], json!([]));
}

#[tokio::test]
async fn lists_and_reads_clubs() {
    let data = Commerce7Data::generate(TENANT, 7, 20, 3);
    let server = start(&data).await;
    let (status, body) = api(&server, &data, "GET", "/v1/club", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 3);
    let mut titles: Vec<&str> = body["clubs"]
        .as_array()
        .expect("clubs")
        .iter()
        .map(|c| c["title"].as_str().expect("a title"))
        .collect();
    titles.sort_unstable();
    assert_eq!(titles, ["Gold Club", "Platinum Club", "Silver Club"]);
    assert_eq!(body["clubs"][0]["type"], "Traditional");
    let id = body["clubs"][0]["id"].as_str().expect("an id").to_owned();
    let (status, club) = api(&server, &data, "GET", &format!("/v1/club/{id}"), None).await;
    assert_eq!((status, club["id"].as_str()), (200, Some(id.as_str())));
    let (status, missing) = api(&server, &data, "GET", "/v1/club/nope", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        missing,
        json!({"statusCode":404,"type":"notFound","message":"Club not found","errors":[]})
    );
    let (status, body) = api(&server, &data, "GET", "/v1/nothing-here", None).await;
    assert_eq!((status, body["type"].as_str()), (404, Some("notFound")));
    let (status, body) = api(&server, &data, "PATCH", "/v1/club", None).await;
    assert_eq!((status, body["statusCode"].as_u64()), (405, Some(405)));
    // An uninstalled app: the tenant is gone, its requests are unauthorised.
    assert!(data.remove_tenant(TENANT));
    assert_eq!(api(&server, &data, "GET", "/v1/club", None).await.0, 401);
    assert!(data.clubs().is_empty());
    assert!(data.tenant(TENANT).is_none());
}

#[tokio::test]
async fn creates_memberships_and_refuses_invalid_ones() {
    let data = Commerce7Data::new(TENANT);
    let club = data.add_club("Gold Club", super::ClubType::Traditional);
    let jane = data.add_customer("Jane", "Doe", "jane@example.com");
    let server = start(&data).await;
    let create = json!({"customerId": jane.id, "clubId": club.id,
        "orderDeliveryMethod": "Ship", "signupDate": "2025-01-05T10:00:00.000Z"});
    let (status, m) = api(
        &server,
        &data,
        "POST",
        "/v1/club-membership",
        Some(create.clone()),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "Active");
    assert_eq!(m["signupDate"], "2025-01-05T10:00:00.000Z");
    assert_eq!(
        m["club"],
        json!({"id": club.id, "title": "Gold Club", "slug": "gold-club"})
    );
    assert_eq!(m["cancelDate"], Value::Null);

    let mut missing = create.clone();
    missing
        .as_object_mut()
        .expect("an object")
        .remove("orderDeliveryMethod");
    let (status, err) = api(&server, &data, "POST", "/v1/club-membership", Some(missing)).await;
    assert_eq!(status, 422);
    assert_eq!(err["type"], "validationError");
    assert_eq!(err["message"], VALIDATION_MESSAGE);
    assert_eq!(
        err["errors"],
        json!([{"field":"orderDeliveryMethod","message":"required"}])
    );

    let mut stranger = create.clone();
    stranger["customerId"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, err) = api(
        &server,
        &data,
        "POST",
        "/v1/club-membership",
        Some(stranger),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["errors"][0]["field"], "customerId");

    // An empty body reads as `{}`: every required field is named.
    let (status, err) = api(&server, &data, "POST", "/v1/club-membership", None).await;
    assert_eq!(status, 422);
    assert_eq!(err["errors"].as_array().map(Vec::len), Some(3));

    // Already an active member of that club: a business-rule 422 without `errors`.
    let (status, err) = api(&server, &data, "POST", "/v1/club-membership", Some(create)).await;
    assert_eq!(status, 422);
    assert!(err.get("errors").is_none(), "{err}");
    assert_eq!(data.memberships().len(), 1);
}

#[tokio::test]
async fn a_cancel_by_put_ends_the_membership_and_leaves_customer_clubs() {
    let data = Commerce7Data::new(TENANT);
    let club = data.add_club("Silver Club", super::ClubType::Traditional);
    let jane = data.add_customer("Jane", "Doe", "jane@example.com");
    let server = start(&data).await;
    let create = json!({"customerId": jane.id, "clubId": club.id, "orderDeliveryMethod": "Pickup"});
    let (_, m) = api(&server, &data, "POST", "/v1/club-membership", Some(create)).await;
    let id = m["id"].as_str().expect("an id").to_owned();
    let path = format!("/v1/club-membership/{id}");
    let customer_path = format!("/v1/customer/{}", jane.id);
    let (_, c) = api(&server, &data, "GET", &customer_path, None).await;
    assert_eq!(c["clubs"][0]["clubMembershipId"], id.as_str());
    assert_eq!(c["orderInformation"]["currentClubTitle"], "Silver Club");

    let no_date = json!({"status": "Cancelled", "cancellationReason": "Moving"});
    let (status, err) = api(&server, &data, "PUT", &path, Some(no_date)).await;
    assert_eq!(status, 422);
    assert_eq!(
        err["errors"],
        json!([{"field":"cancelDate","message":"required"}])
    );

    let cancel = json!({"status": "Cancelled", "cancelDate": "2025-02-01T00:00:00Z",
        "cancellationReason": "Switching to another club"});
    let (status, m) = api(&server, &data, "PUT", &path, Some(cancel.clone())).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "Cancelled");
    assert_eq!(m["cancelDate"], "2025-02-01T00:00:00.000Z");
    assert_eq!(m["cancellationReason"], "Switching to another club");
    assert_eq!(m["orderDeliveryMethod"], "Pickup", "other fields are kept");
    let (_, c) = api(&server, &data, "GET", &customer_path, None).await;
    assert_eq!(c["clubs"], json!([]));
    assert_eq!(c["orderInformation"]["currentClubTitle"], Value::Null);

    let (status, err) = api(&server, &data, "PUT", &path, Some(cancel)).await;
    assert_eq!(
        (status, err["message"].as_str()),
        (422, Some("Club membership is already cancelled"))
    );
    let (status, _) = api(&server, &data, "GET", "/v1/customer/nope", None).await;
    assert_eq!(status, 404);
    let (status, gone) = api(&server, &data, "DELETE", &path, None).await;
    assert_eq!((status, gone["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(api(&server, &data, "GET", &path, None).await.0, 404);
}

#[tokio::test]
async fn walks_orders_by_cursor_with_a_gte_filter() {
    let data = Commerce7Data::new(TENANT);
    let jane = data.add_customer("Jane", "Doe", "jane@example.com");
    data.set_clock(Some(t0()));
    for _ in 0..30 {
        data.add_paid_order(&jane.id, 5_000);
        data.advance_clock(Duration::seconds(1));
    }
    let since = data.now() + Duration::hours(1);
    data.set_clock(Some(since));
    let mut expected = Vec::new();
    for i in 0..120 {
        // Pairs share an `updatedAt`: pages must tie-break on id.
        if i % 2 == 0 {
            data.advance_clock(Duration::milliseconds(500));
        }
        expected.push(data.add_paid_order(&jane.id, 1_000 + i).id);
    }
    assert_eq!(data.customer(&jane.id).map(|c| c.order_count), Some(150));
    let server = start(&data).await;
    let (_, c) = api(
        &server,
        &data,
        "GET",
        &format!("/v1/customer/{}", jane.id),
        None,
    )
    .await;
    // 30 × $50.00, then $10.00 + $10.01 + … + $11.19, in cents.
    assert_eq!(
        c["orderInformation"]["lifetimeValue"],
        30 * 5_000 + 120 * 1_000 + 7_140
    );
    assert_eq!(c["orderInformation"]["orderCount"], 150);
    data.set_rate_limit(Some(super::RateLimit {
        per_minute: 1,
        ..Default::default()
    }));
    let filter = format!("updatedAt=gte:{}", format_date(since));
    let mut cursor = "start".to_owned();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let path = format!("/v1/order?cursor={cursor}&{filter}");
        let (status, body) = api(&server, &data, "GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let orders = body["orders"].as_array().expect("orders");
        pages.push(orders.len());
        seen.extend(orders.iter().map(|o| {
            (
                o["updatedAt"].as_str().map(str::to_owned),
                o["id"].as_str().map(str::to_owned),
            )
        }));
        match body["cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, [50, 50, 20]);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by updatedAt, then id");
    let mut ids: Vec<String> = seen.into_iter().filter_map(|(_, id)| id).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    // Page mode totals the same filter; orderPaidDate filters too.
    data.set_rate_limit(None);
    let (_, body) = api(
        &server,
        &data,
        "GET",
        &format!("/v1/order?page=3&limit=50&{filter}"),
        None,
    )
    .await;
    assert_eq!(
        (
            body["total"].as_u64(),
            body["orders"].as_array().map(Vec::len)
        ),
        (Some(120), Some(20))
    );
    let paid = format!("/v1/order?orderPaidDate=lt:{}", format_date(since));
    let (_, body) = api(&server, &data, "GET", &paid, None).await;
    assert_eq!(body["total"], 30);
    let (status, err) = api(&server, &data, "GET", "/v1/order?limit=51", None).await;
    assert_eq!(
        (status, err["errors"][0]["field"].as_str()),
        (422, Some("limit"))
    );
}

#[tokio::test]
async fn the_101st_page_request_in_a_minute_is_429_but_cursor_mode_is_not_limited() {
    let data = Commerce7Data::generate(TENANT, 3, 30, 3);
    data.add_tenant("other-tenant", Dataset::default());
    data.set_clock(Some(t0()));
    let server = start(&data).await;
    for i in 0..100 {
        let (status, _) = api(&server, &data, "GET", "/v1/customer?page=1&limit=10", None).await;
        assert_eq!(status, 200, "request {}", i + 1);
    }
    let (status, body) = api(&server, &data, "GET", "/v1/club-membership?page=1", None).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"statusCode":429,"type":"tooManyRequests","message":"Too many requests","errors":[]})
    );
    let (status, body) = api(&server, &data, "GET", "/v1/customer?cursor=start", None).await;
    assert_eq!(
        (status, body["customers"].as_array().map(Vec::len)),
        (200, Some(30))
    );
    let auth = data.authorization();
    let other = call(
        &server,
        "GET",
        "/v1/club",
        Some(&auth),
        Some("other-tenant"),
        None,
    )
    .await;
    assert_eq!(other.0, 200, "the limit is per tenant");
    assert_eq!(data.throttled(), 1);
    data.advance_clock(Duration::seconds(60));
    assert_eq!(api(&server, &data, "GET", "/v1/club", None).await.0, 200);
}

#[tokio::test]
async fn scripted_membership_failures() {
    let data = Commerce7Data::generate(TENANT, 5, 10, 3);
    let server = start(&data).await;
    data.fail_next(2, 503);
    for _ in 0..2 {
        let (status, body) = api(&server, &data, "GET", "/v1/club-membership", None).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (503, Some("serviceUnavailable"))
        );
    }
    assert_eq!(
        api(&server, &data, "GET", "/v1/club-membership", None)
            .await
            .0,
        200
    );
    let customer = data.customers()[0].id.clone();
    let club = data.clubs()[0].id.clone();
    data.fail_for_customer(&customer, 403, "forbidden", "Customer is locked");
    let create = json!({"customerId": customer, "clubId": club, "orderDeliveryMethod": "Ship"});
    let (status, body) = api(&server, &data, "POST", "/v1/club-membership", Some(create)).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"statusCode":403,"type":"forbidden","message":"Customer is locked","errors":[]})
    );
}

/// What a receiver got: headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

#[tokio::test]
async fn webhooks_arrive_with_basic_auth_and_the_commerce7_envelope() {
    let received: Received = Arc::default();
    let sink = received.clone();
    let receiver = axum::Router::new().route(
        "/hooks/commerce7",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((headers, json));
                "ok"
            }
        }),
    );
    let server = FakeServer::start(receiver).await;
    let data = Commerce7Data::generate(TENANT, 5, 10, 3);
    let order = data.orders()[0].clone();
    let url = server.url("/hooks/commerce7");
    let answer = send_webhook(
        &url,
        "hook-user",
        "hook-pass",
        "Order",
        "Update",
        order.to_json(),
        TENANT,
    )
    .await;
    assert_eq!(answer, Ok((200, "ok".to_owned())));
    let answer =
        send_webhook_without_auth(&url, "Club", "Create", json!({"id": "c"}), TENANT).await;
    assert_eq!(answer.map(|a| a.0), Ok(200));
    let got = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(got.len(), 2);
    let (headers, body) = &got[0];
    // "hook-user:hook-pass" in base64.
    assert_eq!(
        headers["authorization"],
        "Basic aG9vay11c2VyOmhvb2stcGFzcw=="
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, &super::order_webhook_body(&order, "Update", TENANT));
    assert_eq!(body["user"], "staff@example-winery.com");
    assert_eq!(body["tenantId"], TENANT);
    assert_eq!(body["payload"]["total"], order.total);
    assert!(got[1].0.get("authorization").is_none());
    assert_eq!(got[1].1["object"], "Club");
}
