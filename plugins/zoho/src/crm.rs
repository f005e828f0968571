//! Zoho CRM: packages upserted into the Products module by `Product_Code`, up to a batch per
//! call (`POST /crm/v8/Products/upsert`, at most 100 records). Zoho answers per record — `200`
//! when all succeed, `207` when some do, `400` when none do — in a `data[]` array in request
//! order; each package gets its own result.

use crate::catalogue::Package;
use crate::client::{error_item, Client, Failure};
use connector_sdk::http::Request;
use serde_json::{json, Value};

/// Zoho's ceiling of records per upsert.
pub const MAX_RECORDS: usize = 100;

/// A push that succeeded: the remote id and what Zoho did (`insert`, `update`, `create`).
#[derive(Debug, Clone)]
pub struct Pushed {
    pub remote_id: Option<String>,
    pub action: String,
}

/// The result of one push.
pub type Outcome = Result<Pushed, Failure>;

/// The Products record for `p`.
pub fn record(p: &Package) -> Value {
    let mut r = json!({
        "Product_Code": p.sku,
        "Product_Name": p.name,
        "Unit_Price": p.price,
        "Product_Active": p.active,
    });
    if let Some(description) = &p.description {
        r["Description"] = json!(description);
    }
    if let Some(category) = &p.category {
        r["Product_Category"] = json!(category);
    }
    r
}

/// Upserts `packages` (at most [`MAX_RECORDS`]) in one call; one outcome per package, in order.
pub fn upsert(client: &mut Client<'_>, pool: Option<&str>, packages: &[&Package]) -> Vec<Outcome> {
    assert!(packages.len() <= MAX_RECORDS, "batch_size is capped at 100");
    let body = json!({
        "data": packages.iter().map(|p| record(p)).collect::<Vec<_>>(),
        "duplicate_check_fields": ["Product_Code"],
    });
    let all = |f: Failure| packages.iter().map(|_| Err(f.clone())).collect();
    let mut request = match Request::post(client.url("/crm/v8/Products/upsert")).json(&body) {
        Ok(r) => r.idempotent(true),
        Err(e) => return all(Failure::internal(e)),
    };
    if let Some(pool) = pool {
        request = request.rate_limit(pool);
    }
    let response = match client.send(request) {
        Ok(r) => r,
        Err(f) => return all(f),
    };
    let items: Option<Vec<Value>> = matches!(response.status, 200 | 201 | 207 | 400)
        .then(|| serde_json::from_slice::<Value>(&response.body).ok())
        .flatten()
        .and_then(|doc| doc.get("data").and_then(Value::as_array).cloned())
        .filter(|items| items.len() == packages.len());
    let Some(items) = items else {
        return all(Failure::answer(&response, "POST /crm/v8/Products/upsert"));
    };
    items
        .iter()
        .map(|item| {
            if item.get("status").and_then(Value::as_str) == Some("success") {
                Ok(Pushed {
                    remote_id: item
                        .pointer("/details/id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    action: item
                        .get("action")
                        .and_then(Value::as_str)
                        .unwrap_or("upsert")
                        .to_owned(),
                })
            } else {
                let (code, message) = error_item(item);
                Err(Failure::zoho(code, message, response.status))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_becomes_a_products_record() {
        let p = Package {
            sku: "GOLD-M".into(),
            name: "Gold".into(),
            description: None,
            price: 49.5,
            interval: "monthly".into(),
            active: false,
            category: Some("Clubs".into()),
            updated_at: 0,
        };
        assert_eq!(
            record(&p),
            json!({"Product_Code": "GOLD-M", "Product_Name": "Gold", "Unit_Price": 49.5,
                   "Product_Active": false, "Product_Category": "Clubs"})
        );
    }
}
