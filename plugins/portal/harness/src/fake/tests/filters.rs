//! Filter, order and select semantics over HTTP, checked against the same question asked of
//! [`PortalData::leads`](super::PortalData::leads) in Rust.

use super::super::data::bulk_import_at;
use super::super::Lead;
use super::{format_timestamp, get, ids, secret_server};

fn expect(leads: &[Lead], keep: impl Fn(&Lead) -> bool) -> Vec<String> {
    let mut out: Vec<String> = leads
        .iter()
        .filter(|l| keep(l))
        .map(|l| l.id.clone())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn filters_follow_sql_semantics() {
    let (data, server, key) = secret_server(400).await;
    let leads = data.leads();
    let q = |filter: &str| format!("/rest/v1/leads?select=id&order=id.asc&{filter}");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("status=eq.new", expect(&leads, |l| l.status == "new")),
        // neq and not.eq skip NULLs, as SQL does.
        (
            "zoho_lead_id=neq.x",
            expect(&leads, |l| l.zoho_lead_id.is_some()),
        ),
        ("email=not.eq.x", expect(&leads, |l| l.email.is_some())),
        ("email=is.null", expect(&leads, |l| l.email.is_none())),
        ("phone=not.is.null", expect(&leads, |l| l.phone.is_some())),
        (
            "source=in.(whatsapp,evento)",
            expect(&leads, |l| l.source == "whatsapp" || l.source == "evento"),
        ),
        (
            "source=not.in.(whatsapp,evento)",
            expect(&leads, |l| l.source != "whatsapp" && l.source != "evento"),
        ),
        (
            "email=ilike.*@GMAIL.COM",
            expect(&leads, |l| {
                l.email
                    .as_deref()
                    .is_some_and(|e| e.ends_with("@gmail.com"))
            }),
        ),
        (
            "name=like.Ana *",
            expect(&leads, |l| l.name.starts_with("Ana ")),
        ),
        (
            "or=(email.is.null,and(status.eq.lost,phone.is.null))",
            expect(&leads, |l| {
                l.email.is_none() || (l.status == "lost" && l.phone.is_none())
            }),
        ),
        (
            "not.or=(status.eq.new,status.eq.lost)",
            expect(&leads, |l| l.status != "new" && l.status != "lost"),
        ),
        (
            "created_at=gte.2025-03-10T14:30:00Z&created_at=lt.2025-03-10T14:30:00.000001Z",
            expect(&leads, |l| l.created_at == bulk_import_at()),
        ),
        (
            "zoho_lead_id=isdistinct.x",
            expect(&leads, |l| l.zoho_lead_id.as_deref() != Some("x")),
        ),
    ];
    for (filter, expected) in cases {
        let a = get(&server, &key, &q(filter), &[]).await;
        assert_eq!(a.status, 200, "{filter}: {}", a.text);
        assert_eq!(ids(&a), expected, "{filter}");
    }
    // Uuids read in any case; comparisons on them follow uuid order.
    let first = &leads[0].id;
    let a = get(
        &server,
        &key,
        &q(&format!("id=eq.{}", first.to_uppercase())),
        &[],
    )
    .await;
    assert_eq!(ids(&a), vec![first.clone()]);
    let a = get(&server, &key, &q(&format!("id=gt.{first}")), &[]).await;
    assert_eq!(ids(&a), expect(&leads, |l| l.id > *first));
}

#[tokio::test]
async fn order_select_and_rendering_match_postgrest() {
    let (data, server, key) = secret_server(60).await;
    // desc puts NULLs first unless told otherwise.
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?select=email&order=email.desc",
        &[],
    )
    .await;
    assert!(a.rows()[0]["email"].is_null());
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?select=email&order=email.desc.nullslast",
        &[],
    )
    .await;
    assert!(a.rows().last().is_some_and(|r| r["email"].is_null()));
    assert!(!a.rows()[0]["email"].is_null());

    // Keys in select order, aliases, and json_agg's separator between rows.
    let a = get(
        &server,
        &key,
        "/rest/v1/leads?select=created_at,lead_id:id&order=created_at&limit=2",
        &[],
    )
    .await;
    let l = &data.leads()[..2];
    let row = |l: &Lead| {
        format!(
            "{{\"created_at\":\"{}\",\"lead_id\":\"{}\"}}",
            format_timestamp(l.created_at),
            l.id
        )
    };
    assert_eq!(a.text, format!("[{}, \n {}]", row(&l[0]), row(&l[1])));
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    assert!(a
        .header("content-location")
        .starts_with("/leads?limit=2&order=created_at&select="));

    // select=* gives every column in table order.
    let a = get(&server, &key, "/rest/v1/leads?limit=1", &[]).await;
    let keys: Vec<&String> = a.rows()[0].as_object().expect("an object").keys().collect();
    assert_eq!(keys.len(), 9);
    assert!(a.text.starts_with("[{\"id\":"));
    assert!(a.text.contains("\"updated_at\":"));

    // One object on request, 406 when the result is not exactly one row.
    let object = [("Accept", "application/vnd.pgrst.object+json")];
    let one = format!("/rest/v1/leads?select=id&id=eq.{}", l[0].id);
    let a = get(&server, &key, &one, &object).await;
    assert_eq!(
        (a.status, a.body["id"].as_str()),
        (200, Some(l[0].id.as_str()))
    );
    let a = get(&server, &key, "/rest/v1/leads?select=id", &object).await;
    assert_eq!((a.status, a.body["code"].as_str()), (406, Some("PGRST116")));
    assert_eq!(a.body["details"], "The result contains 60 rows");
}
