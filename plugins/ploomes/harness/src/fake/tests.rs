//! The fake Ploomes over HTTP: the key check, query options, keyset paging and mutations.

use super::{router, Generate, PloomesData};
use fake_upstreams::FakeServer;
use serde_json::Value;

const KEY: &str = "k-1";

async fn get(server: &FakeServer, path_and_query: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(server.url(path_and_query));
    if let Some(k) = key {
        req = req.header("User-Key", k);
    }
    let res = req.send().await.expect("response");
    let status = res.status().as_u16();
    let body = res.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn ids(doc: &Value) -> Vec<i64> {
    doc["value"]
        .as_array()
        .expect("a value list")
        .iter()
        .map(|d| d["Id"].as_i64().expect("an id"))
        .collect()
}

#[tokio::test]
async fn keys_fields_and_page_limits() {
    let data = PloomesData::generate(&Generate::small(), KEY);
    let server = FakeServer::start(router(data)).await;
    assert_eq!(get(&server, "/Deals", None).await.0, 403);
    assert_eq!(get(&server, "/Contacts", Some("wrong")).await.0, 403);
    let (status, doc) = get(&server, "/Deals?$select=Id,Nope", Some(KEY)).await;
    assert_eq!(status, 400);
    assert!(doc["error"]["message"].as_str().unwrap().contains("Nope"));
    let (status, doc) = get(&server, "/Deals?$top=1000&$select=Id,Amount", Some(KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&doc).len(), 300, "at most 300 rows an answer");
    assert_eq!(
        doc["value"][0].as_object().unwrap().len(),
        2,
        "only the selected fields"
    );
    let (_, doc) = get(&server, "/Contacts?$filter=Id%20eq%20-1", Some(KEY)).await;
    assert!(ids(&doc).is_empty());
}

#[tokio::test]
async fn a_keyset_walk_sees_every_deal_once_despite_ties_and_changes() {
    let data = PloomesData::generate(&Generate::small(), KEY);
    let server = FakeServer::start(router(data.clone())).await;
    let first = data.deals()[0].id;
    data.on_deals_request(2, move |d| {
        d.update_deal(first, |x| x.title = "changed".into());
    });
    let mut seen = Vec::new();
    let mut filter = String::new();
    loop {
        let q =
            format!("/Deals?$select=Id,LastUpdateDate&$orderby=LastUpdateDate,Id&$top=300{filter}");
        let (status, doc) = get(&server, &q, Some(KEY)).await;
        assert_eq!(status, 200, "{doc}");
        let page = doc["value"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        let (date, id) = (
            last["LastUpdateDate"].as_str().unwrap(),
            last["Id"].as_i64().unwrap(),
        );
        filter = format!(
            "&$filter=LastUpdateDate%20gt%20{d}%20or%20(LastUpdateDate%20eq%20{d}%20and%20Id%20gt%20{id})",
            d = date.replace('+', "%2B")
        );
        seen.extend(ids(&doc));
    }
    // 1,200 deals, and the changed one again at the end, in its new version.
    assert_eq!(seen.len(), 1201);
    assert_eq!(seen.last(), Some(&first));
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 1200);
    assert_eq!(data.served_deals().len(), 1201);
}
