//! The fake Supabase over real loopback HTTP: keys, keyset and incremental reads, counting,
//! ranges and the row cap. Errors and filter semantics are in `tests/`.

mod errors;
mod filters;

use super::{format_timestamp, router, ApiKey, PortalData};
use chrono::{DateTime, TimeZone, Utc};
use fake_upstreams::FakeServer;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::collections::HashSet;

/// A parsed answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn rows(&self) -> &Vec<Value> {
        self.body.as_array().expect("a JSON array")
    }
}

/// `GET` (or `method`) `path` with exactly `headers`.
async fn send(server: &FakeServer, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = reqwest::Client::new().request(method, server.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("a response");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// `GET path` with the secret key, plus `extra` headers.
async fn get(server: &FakeServer, key: &ApiKey, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut headers = vec![("apikey", key.as_str())];
    headers.extend_from_slice(extra);
    send(server, "GET", path, &headers).await
}

/// A timestamp as it goes into a URL: PostgREST's rendering with `+` encoded.
fn url_ts(t: DateTime<Utc>) -> String {
    format_timestamp(t).replace('+', "%2B")
}

fn ids(a: &Answer) -> Vec<String> {
    a.rows()
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_owned())
        .collect()
}

async fn secret_server(n: usize) -> (PortalData, FakeServer, ApiKey) {
    let key = ApiKey::sample_secret();
    let data = PortalData::generate(7, n, key.clone());
    let server = FakeServer::start(router(data.clone())).await;
    (data, server, key)
}

#[tokio::test]
async fn keys_follow_the_gateway_and_postgrest_rules() {
    let (data, server, secret) = secret_server(20).await;
    let path = "/rest/v1/leads?select=id";

    let a = send(&server, "GET", path, &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.text,
        r#"{"message":"No API key found in request","hint":"No `apikey` request header or url param was found."}"#
    );
    assert_eq!(a.header("sb-error-code"), "UNAUTHORIZED_MISSING_API_KEY");
    let a = send(&server, "GET", path, &[("apikey", "sb_secret_wrong")]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["message"], "Invalid API key");
    assert_eq!(
        a.body["hint"],
        "Double check your Supabase `anon` or `service_role` API key."
    );

    // A secret key: apikey alone (header or URL parameter); never as a bearer token or from a browser.
    assert_eq!(get(&server, &secret, path, &[]).await.status, 200);
    let by_param = format!("{path}&apikey={}", secret.as_str());
    assert_eq!(send(&server, "GET", &by_param, &[]).await.status, 200);
    let bearer = format!("Bearer {}", secret.as_str());
    let a = get(&server, &secret, path, &[("Authorization", &bearer)]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["code"], "PGRST301");
    assert_eq!(a.body["message"], "Expected 3 parts in JWT; got 1");
    assert!(a
        .header("www-authenticate")
        .starts_with("Bearer error=\"invalid_token\""));
    let browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0";
    let a = get(&server, &secret, path, &[("User-Agent", browser)]).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.body["message"],
        "Forbidden use of secret API key in browser"
    );
    assert_eq!(
        data.leads_requests(),
        2,
        "refused requests never reach PostgREST"
    );

    // A legacy JWT key: apikey and the same key as a bearer token; browsers are fine.
    let legacy = ApiKey::sample_legacy();
    data.set_key(legacy.clone());
    let a = get(&server, &legacy, path, &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["code"], "PGRST302");
    let bearer = format!("Bearer {}", legacy.as_str());
    let both = [("Authorization", bearer.as_str()), ("User-Agent", browser)];
    assert_eq!(get(&server, &legacy, path, &both).await.status, 200);
    let other_jwt = [(
        "Authorization",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln",
    )];
    let a = get(&server, &legacy, path, &other_jwt).await;
    assert_eq!((a.status, a.body["code"].as_str()), (401, Some("PGRST301")));
    assert_eq!(
        get(&server, &secret, path, &[]).await.body["message"],
        "Invalid API key"
    );
}

#[tokio::test]
async fn a_keyset_walk_sees_every_lead_once_across_ties_and_inserts() {
    let (data, server, key) = secret_server(2_500).await;
    let late = Utc
        .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("a date");
    data.set_now(Some(late));
    let inserted = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let slot = inserted.clone();
    data.on_leads_request(2, move |d| {
        let id = d.insert_lead("Novo Lead", Some("novo@example.com"), None, "whatsapp");
        *slot.lock().expect("the slot") = id;
    });
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<(String, String)> = None;
    let mut tie_across_pages = false;
    loop {
        let filter = match &cursor {
            None => String::new(),
            Some((x, y)) => format!("&or=(created_at.gt.{x},and(created_at.eq.{x},id.gt.{y}))"),
        };
        let q = format!(
            "/rest/v1/leads?select=id,created_at&order=created_at.asc,id.asc&limit=1000{filter}"
        );
        let a = get(&server, &key, &q, &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let Some(last) = a.rows().last() else { break };
        let last_at = last["created_at"].as_str().expect("a timestamp").to_owned();
        if let (Some((x, _)), Some(first)) = (&cursor, a.rows().first()) {
            tie_across_pages |= first["created_at"].as_str() == Some(&x.replace("%2B", "+"));
        }
        cursor = Some((
            last_at.replace('+', "%2B"),
            last["id"].as_str().expect("an id").to_owned(),
        ));
        seen.extend(ids(&a));
    }
    assert_eq!(seen.len(), 2_501);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 2_501, "no lead twice");
    let expected: Vec<String> = data.leads().into_iter().map(|l| l.id).collect();
    assert_eq!(seen, expected, "every lead, in keyset order");
    assert_eq!(seen.last(), Some(&*inserted.lock().expect("the slot")));
    assert!(
        tie_across_pages,
        "a page boundary fell inside the bulk import"
    );
    assert_eq!(data.leads_requests(), 4, "three pages and the empty one");
}

#[tokio::test]
async fn incremental_reads_by_updated_at() {
    let (data, server, key) = secret_server(300).await;
    let high = data
        .leads()
        .iter()
        .map(|l| l.updated_at)
        .max()
        .expect("leads");
    let q = |since: &str| {
        format!(
            "/rest/v1/leads?select=id,updated_at&updated_at=gt.{since}&order=updated_at.asc,id.asc"
        )
    };
    assert!(get(&server, &key, &q(&url_ts(high)), &[])
        .await
        .rows()
        .is_empty());

    let later = Utc
        .with_ymd_and_hms(2026, 2, 1, 12, 0, 0)
        .single()
        .expect("a date")
        + chrono::Duration::microseconds(120_000);
    data.set_now(Some(later));
    let changed: Vec<String> = data.leads().iter().take(3).map(|l| l.id.clone()).collect();
    for id in &changed {
        assert!(data.update_lead(id, |l| l.status = "contacted".into()));
    }
    let a = get(&server, &key, &q(&url_ts(high)), &[]).await;
    let mut expected = changed.clone();
    expected.sort();
    assert_eq!(ids(&a), expected);
    assert_eq!(a.rows()[0]["updated_at"], "2026-02-01T12:00:00.12+00:00");

    // The same instant written with another offset selects the same rows.
    let sao_paulo = "2026-02-01T08:59:59-03:00";
    assert_eq!(ids(&get(&server, &key, &q(sao_paulo), &[]).await), expected);
    // An unencoded '+' reaches Postgres as a space: invalid input.
    let raw_plus = format_timestamp(high);
    let a = get(&server, &key, &q(&raw_plus), &[]).await;
    assert_eq!((a.status, a.body["code"].as_str()), (400, Some("22007")));
}

#[tokio::test]
async fn counts_give_206_until_one_page_holds_everything_and_416_past_the_end() {
    let (data, server, key) = secret_server(2_500).await;
    let exact = [("Prefer", "count=exact")];
    let all = "/rest/v1/leads?select=id&order=created_at,id";

    let a = get(&server, &key, &format!("{all}&limit=1000&offset=0"), &exact).await;
    assert_eq!((a.status, a.header("content-range")), (206, "0-999/2500"));
    assert_eq!(a.header("preference-applied"), "count=exact");
    assert_eq!(a.rows().len(), 1000);
    // PostgREST answers 206 whenever the page holds fewer rows than the total, the last page too.
    let a = get(
        &server,
        &key,
        &format!("{all}&limit=1000&offset=2000"),
        &exact,
    )
    .await;
    assert_eq!(
        (a.status, a.header("content-range")),
        (206, "2000-2499/2500")
    );
    assert_eq!(a.rows().len(), 500);
    // A page holding every matching row is a plain 200.
    let few = data.leads().iter().filter(|l| l.source == "evento").count();
    assert!(few > 0 && few < 1000);
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?source=eq.evento&limit=1000",
        &exact,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-range"), format!("0-{}/{few}", few - 1));

    // At the end: an empty page; past it: 416.
    let a = get(&server, &key, &format!("{all}&offset=2500"), &exact).await;
    assert_eq!(
        (a.status, a.header("content-range"), a.text.as_str()),
        (206, "*/2500", "[]")
    );
    let a = get(
        &server,
        &key,
        &format!("{all}&offset=2600&limit=10"),
        &exact,
    )
    .await;
    assert_eq!(a.status, 416);
    assert_eq!(a.header("content-range"), "*/2500");
    assert_eq!(
        a.body,
        serde_json::json!({"code":"PGRST103","details":"An offset of 2600 was requested, but there are only 2500 rows.","hint":null,"message":"Requested range not satisfiable"})
    );
    // Without a count nothing is known to be missing.
    let a = get(&server, &key, &format!("{all}&offset=2600"), &[]).await;
    assert_eq!(
        (a.status, a.header("content-range"), a.text.as_str()),
        (200, "*/*", "[]")
    );
    let a = get(&server, &key, "/rest/v1/leads?source=eq.nowhere", &exact).await;
    assert_eq!((a.status, a.header("content-range")), (200, "*/0"));

    // The Range header (GET only), and HEAD for the count alone.
    let a = get(
        &server,
        &key,
        all,
        &[("Range-Unit", "items"), ("Range", "10-19"), exact[0]],
    )
    .await;
    assert_eq!(
        (a.status, a.header("content-range"), a.rows().len()),
        (206, "10-19/2500", 10)
    );
    let head = [("apikey", key.as_str()), exact[0], ("Range", "0-9")];
    let a = send(&server, "HEAD", all, &head).await;
    assert_eq!(
        (a.status, a.header("content-range"), a.text.as_str()),
        (206, "0-999/2500", "")
    );
}

#[tokio::test]
async fn every_answer_is_capped_at_max_rows() {
    let (data, server, key) = secret_server(2_500).await;
    let a = get(&server, &key, "/rest/v1/leads?select=id", &[]).await;
    assert_eq!(
        (a.rows().len(), a.header("content-range")),
        (1000, "0-999/*")
    );
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?select=id&limit=2000",
        &[("Prefer", "count=exact")],
    )
    .await;
    assert_eq!(
        (a.status, a.rows().len(), a.header("content-range")),
        (206, 1000, "0-999/2500")
    );
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?select=id",
        &[("Range", "0-1499")],
    )
    .await;
    assert_eq!(a.rows().len(), 1000);
    data.set_max_rows(Some(300));
    let a = get(&server, &key, "/rest/v1/leads?select=id&offset=100", &[]).await;
    assert_eq!(
        (a.rows().len(), a.header("content-range")),
        (300, "100-399/*")
    );
    data.set_max_rows(None);
    assert_eq!(
        get(&server, &key, "/rest/v1/leads?select=id", &[])
            .await
            .rows()
            .len(),
        2_500
    );
}
