//! Billing: the organization header, plan create / duplicate / read / update / list, input
//! checks, products, and scripted per-plan failures.

use super::super::Plan;
use super::{j, Harness};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn plans_are_created_once_updated_and_listed() {
    let h = Harness::start().await;
    let product = h.data.add_billing_product("Wine Club");
    let body = json!({
        "plan_code": "club-gold-monthly", "name": "Gold Club", "recurring_price": 49.0,
        "interval": 1, "interval_unit": "months", "product_id": product,
    })
    .to_string();
    let a = h
        .billing(Method::POST, "/billing/v1/plans", Some(&body))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        (&a.json["code"], &a.json["message"]),
        (&json!(0), &json!("The plan has been created."))
    );
    let plan = &a.json["plan"];
    assert_eq!(
        (&plan["plan_code"], &plan["status"], &plan["billing_cycles"]),
        (&json!("club-gold-monthly"), &json!("active"), &json!(-1))
    );
    assert_eq!(plan["created_time"], "2026-01-01T00:00:00+0000");
    let a = h
        .billing(Method::POST, "/billing/v1/plans", Some(&body))
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(1001)));
    assert!(a.json["message"]
        .as_str()
        .is_some_and(|m| m.contains("club-gold-monthly")));

    h.data.advance_clock(Duration::from_secs(120));
    let update = r#"{"recurring_price":52.5,"description":"Two bottles a month"}"#;
    let a = h
        .billing(
            Method::PUT,
            "/billing/v1/plans/club-gold-monthly",
            Some(update),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["message"], "Plan details have been updated.");
    assert_eq!(
        (
            &a.json["plan"]["recurring_price"],
            &a.json["plan"]["updated_time"]
        ),
        (&json!(52.5), &json!("2026-01-01T00:02:00+0000"))
    );
    let stored = h.data.billing_plan("club-gold-monthly").expect("the plan");
    assert_eq!(
        (stored.recurring_price, stored.description.as_str()),
        (52.5, "Two bottles a month")
    );
    let a = h
        .billing(Method::GET, "/billing/v1/plans/club-gold-monthly", None)
        .await;
    assert_eq!(
        (a.status, &a.json["plan"]["name"]),
        (200, &json!("Gold Club"))
    );
    let a = h.billing(Method::GET, "/billing/v1/plans/nope", None).await;
    assert_eq!((a.status, &a.json["code"]), (404, &json!(1002)));
    let a = h
        .billing(Method::PUT, "/billing/v1/plans/nope", Some(update))
        .await;
    assert_eq!(a.status, 404);

    h.data
        .add_billing_plan(Plan::monthly("club-silver", &product, "Silver Club", 29.0));
    let a = h
        .billing(Method::GET, "/billing/v1/plans?per_page=1", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["plans"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        a.json["plans"][0]["plan_code"], "club-silver",
        "newest first"
    );
    assert_eq!(
        (
            &a.json["page_context"]["has_more_page"],
            &a.json["page_context"]["per_page"]
        ),
        (&json!(true), &json!(1))
    );
    let a = h
        .billing(Method::GET, "/billing/v1/plans?page=2&per_page=1", None)
        .await;
    assert_eq!(
        (
            &a.json["plans"][0]["plan_code"],
            &a.json["page_context"]["has_more_page"]
        ),
        (&json!("club-gold-monthly"), &json!(false))
    );
    let a = h
        .billing(Method::GET, "/billing/v1/plans?per_page=500", None)
        .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn plan_input_is_checked_and_the_organization_is_required() {
    let h = Harness::start().await;
    let product = h.data.add_billing_product("Wine Club");
    let plan = |extra: serde_json::Value| {
        let mut body = json!({ "plan_code": "p1", "name": "P1", "recurring_price": 10, "product_id": product });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body.to_string()
    };
    for (extra, member) in [
        (json!({ "recurring_price": -1 }), "recurring_price"),
        (json!({ "interval": 0 }), "interval"),
        (json!({ "interval_unit": "weeks" }), "interval_unit"),
        (json!({ "name": "" }), "name"),
    ] {
        let a = h
            .billing(Method::POST, "/billing/v1/plans", Some(&plan(extra)))
            .await;
        assert_eq!(
            (a.status, &a.json["code"]),
            (400, &json!(2)),
            "{member}: {}",
            a.text
        );
        assert_eq!(
            a.json["message"],
            format!("Invalid value passed for {member}")
        );
    }
    let a = h
        .billing(
            Method::POST,
            "/billing/v1/plans",
            Some(&plan(json!({ "product_id": "1" }))),
        )
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(1002)));
    let a = h
        .billing(Method::POST, "/billing/v1/plans", Some("{not json"))
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(1038)));
    assert!(h.data.billing_plans().is_empty());

    let auth = h.bearer();
    let a = h
        .send(Method::GET, "/billing/v1/plans", Some(&auth), &[], None)
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(6041)));
    assert!(a.json["message"].is_string());
    let wrong = [("X-com-zoho-subscriptions-organizationid", "999")];
    let a = h
        .send(Method::GET, "/billing/v1/plans", Some(&auth), &wrong, None)
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(6041)));
}

#[tokio::test]
async fn products_and_scripted_plan_failures() {
    let h = Harness::start().await;
    let a = h
        .billing(
            Method::POST,
            "/billing/v1/products",
            Some(r#"{"name":"Wine Club"}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let product = a.json["product"]["product_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let a = h
        .billing(
            Method::POST,
            "/billing/v1/products",
            Some(r#"{"description":"no name"}"#),
        )
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(2)));
    h.data
        .add_billing_plan(Plan::monthly("club-red", &product, "Red Club", 39.0));
    let a = h.billing(Method::GET, "/billing/v1/products", None).await;
    assert_eq!(a.json["products"][0]["plans_count"], 1);
    assert_eq!(a.json["page_context"]["page"], 1);

    h.data
        .fail_billing_for("club-red", 500, 9999, "Internal error");
    let a = h
        .billing(
            Method::PUT,
            "/billing/v1/plans/club-red",
            Some(r#"{"recurring_price":1}"#),
        )
        .await;
    assert_eq!(
        (a.status, &a.json),
        (500, &j(r#"{"code":9999,"message":"Internal error"}"#))
    );
    h.data
        .fail_billing_for("club-new", 400, 100_501, "Plan code is reserved");
    let body = json!({ "plan_code": "club-new", "name": "N", "recurring_price": 5, "product_id": product });
    let a = h
        .billing(Method::POST, "/billing/v1/plans", Some(&body.to_string()))
        .await;
    assert_eq!((a.status, &a.json["code"]), (400, &json!(100_501)));
    h.data.clear_billing_failures();
    let a = h
        .billing(Method::POST, "/billing/v1/plans", Some(&body.to_string()))
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(
        h.data.billing_plan("club-red").map(|p| p.recurring_price),
        Some(39.0)
    );
}
