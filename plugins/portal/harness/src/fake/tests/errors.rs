//! Error answers over HTTP: their exact bodies, statuses and headers, and scripted failures.

use super::{get, secret_server, send};
use fake_upstreams::{Fault, FaultScope};
use serde_json::json;

#[tokio::test]
async fn errors_have_postgrest_bodies_and_statuses() {
    let (_, server, key) = secret_server(50).await;
    let cases = [
        (
            "/rest/v1/leads?select=id,foo",
            400,
            json!({"code":"42703","details":null,"hint":null,"message":"column leads.foo does not exist"}),
        ),
        (
            "/rest/v1/leads?order=foo.desc",
            400,
            json!({"code":"42703","details":null,"hint":null,"message":"column leads.foo does not exist"}),
        ),
        (
            "/rest/v1/leads?foo=eq.1",
            400,
            json!({"code":"42703","details":null,"hint":null,"message":"column leads.foo does not exist"}),
        ),
        (
            "/rest/v1/leads?status=zz.new",
            400,
            json!({"code":"PGRST100","details":"unexpected \"z\" expecting \"not\" or operator (eq, gt, ...)","hint":null,"message":"\"failed to parse filter (zz.new)\" (line 1, column 1)"}),
        ),
        (
            "/rest/v1/leads?status=not.zz.new",
            400,
            json!({"code":"PGRST100","details":"unexpected \"z\" expecting operator (eq, gt, ...)","hint":null,"message":"\"failed to parse filter (not.zz.new)\" (line 1, column 5)"}),
        ),
        (
            "/rest/v1/leads?order=id.ac",
            400,
            json!({"code":"PGRST100","details":"unexpected \"c\" expecting \"asc\", \"desc\", \"nullsfirst\" or \"nullslast\"","hint":null,"message":"\"failed to parse order (id.ac)\" (line 1, column 4)"}),
        ),
        (
            "/rest/v1/leads?id=eq.nope",
            400,
            json!({"code":"22P02","details":null,"hint":null,"message":"invalid input syntax for type uuid: \"nope\""}),
        ),
        (
            "/rest/v1/leads?created_at=like.2025*",
            404,
            json!({"code":"42883","details":null,"hint":"No operator matches the given name and argument types. You might need to add explicit type casts.","message":"operator does not exist: timestamp with time zone ~~ unknown"}),
        ),
        (
            "/rest/v1/leads?limit=-1",
            416,
            json!({"code":"PGRST103","details":"Limit should be greater than or equal to zero.","hint":null,"message":"Requested range not satisfiable"}),
        ),
        (
            "/rest/v1/lead",
            404,
            json!({"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'public.leads'","message":"Could not find the table 'public.lead' in the schema cache"}),
        ),
        (
            "/rest/v1/leads?select=id,contacts(name)",
            400,
            json!({"code":"PGRST200","details":"Searched for a foreign key relationship between 'leads' and 'contacts' in the schema 'public', but no matches were found.","hint":null,"message":"Could not find a relationship between 'leads' and 'contacts' in the schema cache"}),
        ),
    ];
    for (path, status, body) in cases {
        let a = get(&server, &key, path, &[]).await;
        assert_eq!((a.status, &a.body), (status, &body), "{path}");
        let code = body["code"].as_str().unwrap_or("");
        assert_eq!(a.header("proxy-status"), format!("PostgREST; error={code}"));
        assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    }
    // The logic-tree parser reports too.
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?or=(status.eq.new,name.zz.x)",
        &[],
    )
    .await;
    assert_eq!((a.status, a.body["code"].as_str()), (400, Some("PGRST100")));
    assert!(a.body["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("\"failed to parse logic tree ((status.eq.new,name.zz.x))\""));
    // Accept types PostgREST does not offer, and handling=strict with an unknown preference.
    let a = get(&server, &key, "/rest/v1/leads", &[("Accept", "text/html")]).await;
    assert_eq!((a.status, a.body["code"].as_str()), (406, Some("PGRST107")));
    let a = get(
        &server,
        &key,
        "/rest/v1/leads",
        &[("Prefer", "handling=strict, count=exactly")],
    )
    .await;
    assert_eq!((a.status, a.body["code"].as_str()), (400, Some("PGRST122")));
    assert_eq!(a.body["details"], "Invalid preferences: count=exactly");
    // Paths outside the Data API are the gateway's.
    let a = send(&server, "GET", "/rest/v2/leads", &[]).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (404, r#"{"message":"no Route matched with those values"}"#)
    );
}

#[tokio::test]
async fn scripted_failures_answer_in_order_then_the_table_again() {
    let (data, server, key) = secret_server(50).await;
    data.fail_next(
        503,
        "PGRST001",
        "Database client error. Retrying the connection.",
        Some("no connection to the server"),
        None,
    );
    data.fail_next(500, "XX000", "internal error", None, Some("try later"));
    let a = get(&server, &key, "/rest/v1/leads?select=id", &[]).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        json!({"code":"PGRST001","details":"no connection to the server","hint":null,"message":"Database client error. Retrying the connection."})
    );
    let a = get(&server, &key, "/rest/v1/leads?select=id", &[]).await;
    assert_eq!((a.status, &a.body["hint"]), (500, &json!("try later")));
    let a = get(&server, &key, "/rest/v1/leads?select=id", &[]).await;
    assert_eq!((a.status, a.rows().len()), (200, 50));
    // Transport faults come from the fake server around the router; PostgREST never sees them.
    let before = data.leads_requests();
    server.push_fault(Fault::Status(502), FaultScope::prefix("/rest/v1/leads"));
    assert_eq!(get(&server, &key, "/rest/v1/leads", &[]).await.status, 502);
    server.push_fault(Fault::MalformedJson, FaultScope::prefix("/rest/v1/leads"));
    let a = get(&server, &key, "/rest/v1/leads?select=id", &[]).await;
    assert!(a.status == 200 && a.body.is_null(), "truncated JSON");
    assert_eq!(data.leads_requests(), before + 1);
    // A request the gateway refuses does not use up a scripted failure.
    data.fail_next(500, "XX000", "boom", None, None);
    assert_eq!(
        send(&server, "GET", "/rest/v1/leads", &[]).await.status,
        401
    );
    assert_eq!(get(&server, &key, "/rest/v1/leads", &[]).await.status, 500);
}
