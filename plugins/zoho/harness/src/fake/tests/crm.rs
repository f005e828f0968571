//! CRM records: Get Records' checks and answers, paging with `page` then `page_token` past
//! 2,000 records, `If-Modified-Since`, upsert (insert, update, mixed `207`) and deleted records.

use super::super::Module;
use super::{j, t0, Harness};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn ids(a: &super::Answer) -> Vec<String> {
    a.json["data"]
        .as_array()
        .expect("a data list")
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn get_records_validates_its_query_and_answers_only_the_requested_fields() {
    let h = Harness::start().await;
    let a = h.crm_get("/crm/v8/Products").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json["code"], "REQUIRED_PARAM_MISSING");
    assert_eq!(a.json["details"], json!({ "param_name": "fields" }));
    let a = h.crm_get("/crm/v8/Products?fields=Product_Name").await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (204, ""),
        "empty module: 204, empty body"
    );
    h.data.generate_products(30, 1);
    let a = h
        .crm_get("/crm/v8/Products?fields=Product_Name,Unit_Price&per_page=5")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let first = a.json["data"][0].as_object().expect("a record");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["Product_Name", "Unit_Price", "id"]);
    let info = &a.json["info"];
    assert_eq!(
        (
            &info["count"],
            &info["per_page"],
            &info["page"],
            &info["more_records"]
        ),
        (&json!(5), &json!(5), &json!(1), &json!(true))
    );
    assert_eq!(
        (&info["sort_by"], &info["sort_order"]),
        (&json!("id"), &json!("desc"))
    );
    let got = ids(&a);
    let mut sorted = got.clone();
    sorted.sort_by_key(|id| std::cmp::Reverse(id.parse::<u64>().unwrap_or(0)));
    assert_eq!(got, sorted, "newest id first by default");

    let a = h.crm_get("/crm/v8/Products?fields=Product_Name,Nope").await;
    assert_eq!(
        (a.status, &a.json["code"], &a.json["details"]["api_name"]),
        (400, &json!("INVALID_DATA"), &json!("Nope"))
    );
    let many = vec!["Product_Name"; 51].join(",");
    let a = h.crm_get(&format!("/crm/v8/Products?fields={many}")).await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!("LIMIT_EXCEEDED")));
    let a = h
        .crm_get("/crm/v8/Products?fields=Product_Name&per_page=201")
        .await;
    assert_eq!(
        (a.status, &a.json["details"]["param_name"]),
        (400, &json!("per_page"))
    );
    let a = h
        .crm_get("/crm/v8/Products?fields=Product_Name&sort_by=Product_Name")
        .await;
    assert_eq!(
        (a.status, &a.json["details"]["param_name"]),
        (400, &json!("sort_by"))
    );
    let a = h.crm_get("/crm/v8/Deals?fields=Deal_Name").await;
    let invalid_module = j(
        r#"{"code":"INVALID_MODULE","details":{"resource_path_index":0},"message":"the module name given seems to be invalid","status":"error"}"#,
    );
    assert_eq!((a.status, &a.json), (400, &invalid_module));
    let a = h
        .crm_get("/crm/v8/Products?fields=Product_Name&page=4&per_page=10")
        .await;
    assert_eq!(a.status, 204, "a page past the end is empty");
}

#[tokio::test]
async fn pages_reach_2000_records_then_page_tokens_reach_the_rest() {
    let mut h = Harness::start().await;
    h.data.generate_leads(2500, 42);
    let base = "/crm/v8/Leads?fields=Last_Name,Email&per_page=200&sort_by=id&sort_order=asc";
    let mut seen = Vec::new();
    let mut token = None;
    for page in 1..=10 {
        let a = h.crm_get(&format!("{base}&page={page}")).await;
        assert_eq!(a.status, 200, "page {page}: {}", a.text);
        assert_eq!(a.json["info"]["page"], page);
        seen.extend(ids(&a));
        token = a.json["info"]["next_page_token"]
            .as_str()
            .map(str::to_owned);
    }
    let a = h.crm_get(&format!("{base}&page=11")).await;
    let limit = j(
        r#"{"code":"DISCRETE_PAGINATION_LIMIT_EXCEEDED","details":{"limit":2000},"message":"You can only get the first 2000 records without using page_token param","status":"error"}"#,
    );
    assert_eq!((a.status, &a.json), (400, &limit));
    let token = token.expect("page 10 hands out a page token");
    // A token is bound to its query, and cannot be mixed with `page`.
    let a = h
        .crm_get(&format!("/crm/v8/Leads?fields=Last_Name&per_page=200&sort_by=id&sort_order=asc&page_token={token}"))
        .await;
    assert_eq!(
        (a.status, &a.json["code"]),
        (400, &json!("TOKEN_BOUND_DATA_MISMATCH"))
    );
    let a = h
        .crm_get(&format!("{base}&page=11&page_token={token}"))
        .await;
    assert_eq!(
        (a.status, &a.json["code"]),
        (400, &json!("AMBIGUITY_DURING_PROCESSING"))
    );
    let mut next = Some(token.clone());
    while let Some(t) = next {
        let a = h.crm_get(&format!("{base}&page_token={t}")).await;
        assert_eq!(a.status, 200, "{}", a.text);
        seen.extend(ids(&a));
        let info = &a.json["info"];
        next = info["next_page_token"].as_str().map(str::to_owned);
        assert_eq!(info["more_records"], json!(next.is_some()));
        assert_eq!(info["page_token_expiry"].is_null(), next.is_none());
    }
    assert_eq!(seen.len(), 2500);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        2500,
        "no record twice"
    );
    let numbers: Vec<u64> = seen.iter().map(|s| s.parse().unwrap_or(0)).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "ascending ids throughout"
    );
    // A day later the token has expired.
    h.data.set_now(Some(t0() + chrono::Duration::hours(25)));
    h.token = h.data.grant_access_token();
    let a = h.crm_get(&format!("{base}&page_token={token}")).await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!("EXPIRED_VALUE")));
}

#[tokio::test]
async fn if_modified_since_returns_only_later_changes() {
    let mut h = Harness::start().await;
    h.data.generate_products(50, 9);
    let changed = h.data.crm_products()[7]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    h.data.set_now(Some(t0() + chrono::Duration::hours(2)));
    assert!(h
        .data
        .update_crm_record(Module::Products, &changed, json!({ "Unit_Price": 99.5 })));
    h.token = h.data.grant_access_token();
    let added = h.data.insert_crm_record(
        Module::Products,
        json!({ "Product_Name": "New", "Product_Code": "NEW-1" }),
    );
    let path =
        "/crm/v8/Products?fields=Unit_Price,Modified_Time&sort_by=Modified_Time&sort_order=asc";
    for since in [
        "2026-01-01T01:00:00+00:00",
        "2026-01-01T06:30:00+05:30",
        "Thu, 01 Jan 2026 01:00:00 GMT",
    ] {
        let a = h.crm_get_with(path, &[("If-Modified-Since", since)]).await;
        assert_eq!(a.status, 200, "{since}: {}", a.text);
        assert_eq!(ids(&a), [changed.clone(), added.clone()], "{since}");
        assert_eq!(
            a.json["data"][0]["Modified_Time"],
            "2026-01-01T02:00:00+00:00"
        );
    }
    let a = h
        .crm_get_with(path, &[("If-Modified-Since", "2026-01-01T02:00:00+00:00")])
        .await;
    assert_eq!(a.status, 204, "strictly after");
    let a = h.crm_get_with(path, &[("If-Modified-Since", "soon")]).await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn upsert_inserts_then_updates_by_product_code_and_mixes_results_with_207() {
    let h = Harness::start().await;
    let body = json!({
        "data": [
            { "Product_Name": "Reserve Cabernet 750ml", "Product_Code": "CAB-750", "Unit_Price": 45.0 },
            { "Product_Name": "Estate Merlot 750ml", "Product_Code": "MER-750", "Unit_Price": 30 },
        ],
        "duplicate_check_fields": ["Product_Code"],
    });
    let a = h.upsert("Products", &body.to_string()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    for item in a.json["data"].as_array().expect("results") {
        assert_eq!(
            (&item["code"], &item["action"], &item["duplicate_field"]),
            (&json!("SUCCESS"), &json!("insert"), &Value::Null)
        );
        assert_eq!(item["message"], "record added");
        assert_eq!(item["details"]["Created_Time"], "2026-01-01T00:00:00+00:00");
    }
    let cab_id = a.json["data"][0]["details"]["id"].clone();
    h.data
        .fail_crm_upsert_for("BAD-1", "DUPLICATE_DATA", "duplicate data");
    h.data.advance_clock(Duration::from_secs(60));
    let body = json!({
        "data": [
            { "Product_Code": "CAB-750", "Unit_Price": 47.5 },
            { "Product_Code": "NONAME" },
            { "Product_Name": "Odd", "Product_Code": "ODD-1", "Unit_Price": "cheap" },
            { "Product_Name": "Extra", "Product_Code": "EXT-1", "Colour": "red" },
            { "Product_Name": "Scripted", "Product_Code": "BAD-1" },
        ],
        "duplicate_check_fields": ["Product_Code"],
    });
    let a = h.upsert("Products", &body.to_string()).await;
    assert_eq!(a.status, 207, "{}", a.text);
    let r = &a.json["data"];
    assert_eq!(
        (&r[0]["action"], &r[0]["duplicate_field"], &r[0]["message"]),
        (
            &json!("update"),
            &json!("Product_Code"),
            &json!("record updated")
        )
    );
    assert_eq!(r[0]["details"]["id"], cab_id);
    assert_eq!(
        r[0]["details"]["Modified_Time"],
        "2026-01-01T00:01:00+00:00"
    );
    assert_eq!(
        r[1],
        j(
            r#"{"code":"MANDATORY_NOT_FOUND","details":{"api_name":"Product_Name","json_path":"$.data[1].Product_Name"},"message":"required field not found","status":"error"}"#
        )
    );
    assert_eq!(
        (
            &r[2]["code"],
            &r[2]["details"]["api_name"],
            &r[2]["details"]["expected_data_type"]
        ),
        (
            &json!("INVALID_DATA"),
            &json!("Unit_Price"),
            &json!("currency")
        )
    );
    assert_eq!(
        (&r[3]["code"], &r[3]["details"]["api_name"]),
        (&json!("INVALID_DATA"), &json!("Colour"))
    );
    assert_eq!(
        (&r[4]["code"], &r[4]["message"], &r[4]["status"]),
        (
            &json!("DUPLICATE_DATA"),
            &json!("duplicate data"),
            &json!("error")
        )
    );
    let cab = h.data.crm_product_by_code("CAB-750").expect("the product");
    assert_eq!(
        (&cab["Unit_Price"], &cab["Product_Name"]),
        (&json!(47.5), &json!("Reserve Cabernet 750ml"))
    );
    assert_eq!(
        h.data.crm_count(Module::Products),
        2,
        "no failed record was stored"
    );

    let a = h
        .upsert("Products", r#"{"data":[{"Product_Code":"X"}]}"#)
        .await;
    assert_eq!(
        (a.status, &a.json["data"][0]["code"]),
        (400, &json!("MANDATORY_NOT_FOUND"))
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "Product_Name": format!("P{i}") }))
        .collect();
    let a = h
        .upsert("Products", &json!({ "data": many }).to_string())
        .await;
    assert_eq!(
        (a.status, &a.json["data"][0]["code"]),
        (400, &json!("LIMIT_EXCEEDED"))
    );
    let a = h.upsert("Products", r#"{"data":[{"Product_Name":"#).await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!("INVALID_DATA")));
    let a = h
        .upsert(
            "Products",
            r#"{"data":[{"Product_Name":"A"}],"duplicate_check_fields":["Nope"]}"#,
        )
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!("INVALID_DATA")));
    // Leads: Last_Name is mandatory, Email is the default duplicate check.
    let lead = r#"{"data":[{"Last_Name":"Dias","Email":"a@example.com","Portal_Lead_Id":"PL-1"}]}"#;
    assert_eq!(
        h.upsert("Leads", lead).await.json["data"][0]["action"],
        "insert"
    );
    let again = h
        .upsert(
            "Leads",
            r#"{"data":[{"Email":"A@example.com","Company":"Adega"}]}"#,
        )
        .await;
    assert_eq!(
        (
            &again.json["data"][0]["action"],
            &again.json["data"][0]["duplicate_field"]
        ),
        (&json!("update"), &json!("Email"))
    );
}

#[tokio::test]
async fn deleted_records_list_newest_first_and_become_permanent_when_purged() {
    let h = Harness::start().await;
    h.data.generate_leads(5, 3);
    let leads = h.data.crm_leads();
    let (first, second) = (
        leads[0]["id"].as_str().expect("id"),
        leads[1]["id"].as_str().expect("id"),
    );
    assert!(h.data.delete_crm_record(Module::Leads, first));
    h.data.advance_clock(Duration::from_secs(1800));
    assert!(h.data.delete_crm_record(Module::Leads, second));
    assert!(
        !h.data.delete_crm_record(Module::Leads, second),
        "already gone"
    );
    assert_eq!(h.data.crm_count(Module::Leads), 3);
    let a = h.crm_get("/crm/v8/Leads/deleted?type=recycle").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(ids(&a), [second, first]);
    let item = &a.json["data"][0];
    assert_eq!(
        (&item["type"], &item["deleted_time"]),
        (&json!("recycle"), &json!("2026-01-01T00:30:00+00:00"))
    );
    assert_eq!(item["deleted_by"]["name"], "Patricia Boyle");
    assert!(item["display_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(
        a.json["info"],
        json!({ "per_page": 200, "count": 2, "page": 1, "more_records": false })
    );
    let a = h
        .crm_get_with(
            "/crm/v8/Leads/deleted",
            &[("If-Modified-Since", "2026-01-01T00:15:00+00:00")],
        )
        .await;
    assert_eq!(ids(&a), [second]);
    h.data.purge_crm_recycle_bin(Module::Leads);
    assert_eq!(
        h.crm_get("/crm/v8/Leads/deleted?type=recycle").await.status,
        204
    );
    let a = h
        .crm_get("/crm/v8/Leads/deleted?type=permanent&per_page=1")
        .await;
    assert_eq!(a.json["data"][0]["display_name"], Value::Null);
    assert_eq!(a.json["info"]["more_records"], true);
    let a = h.crm_get("/crm/v8/Leads/deleted?type=bin").await;
    assert_eq!(
        (a.status, &a.json["data"][0]["code"]),
        (400, &json!("PATTERN_NOT_MATCHED"))
    );
}
