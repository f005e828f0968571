//! The HTTP side of the fake Ploomes: routes, the `User-Key` check, OData query options, and
//! answers rendered with the selected fields.

use super::filter::{self, Entity, Expr, Val};
use super::{dates, Contact, Deal, Hook, PloomesData};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use std::collections::{BTreeMap, HashMap};

/// The most rows one answer carries (Ploomes' documented per-page limit).
pub const MAX_TOP: usize = 300;

/// The fake Ploomes routes over `data`.
pub fn router(data: PloomesData) -> Router {
    Router::new()
        .route("/Deals", get(deals))
        .route("/Contacts", get(contacts))
        .route("/Account", get(account))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "No HTTP resource was found that matches the request URI.",
            )
        })
        .with_state(data)
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// An OData error answer.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": { "code": "", "message": message } });
    json(status, body.to_string())
}

fn key_ok(data: &PloomesData, headers: &HeaderMap) -> bool {
    let got = headers.get("user-key").and_then(|v| v.to_str().ok());
    got.is_some_and(|k| k == data.lock().api_key)
}

fn forbidden() -> Response<Body> {
    error(
        StatusCode::FORBIDDEN,
        "Authorization has been denied for this request: invalid or missing User-Key.",
    )
}

/// The query options of a list request.
struct Options {
    select: Option<Vec<String>>,
    filter: Option<Expr>,
    orderby: Vec<(String, bool)>,
    top: usize,
    skip: usize,
}

fn options(q: &HashMap<String, String>, fields: &[&str], entity: &str) -> Result<Options, String> {
    let check = |f: &str| -> Result<String, String> {
        if fields.contains(&f) {
            Ok(f.to_owned())
        } else {
            Err(format!(
                "Could not find a property named '{f}' on type 'Ploomes.API.Models.{entity}'."
            ))
        }
    };
    let select = match q.get("$select") {
        None => None,
        Some(s) => Some(
            s.split(',')
                .map(|f| check(f.trim()))
                .collect::<Result<_, _>>()?,
        ),
    };
    let filter = q.get("$filter").map(|f| filter::parse(f)).transpose()?;
    let mut orderby = Vec::new();
    if let Some(o) = q.get("$orderby") {
        for part in o.split(',') {
            let mut words = part.split_whitespace();
            let field = check(words.next().unwrap_or(""))?;
            let desc = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => return Err(format!("unknown sort direction '{other}'")),
            };
            orderby.push((field, desc));
        }
    }
    let number = |name: &str, default: usize| -> Result<usize, String> {
        q.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("{name} must be a non-negative integer, found '{v}'"))
        })
    };
    Ok(Options {
        select,
        filter,
        orderby,
        top: number("$top", MAX_TOP)?.min(MAX_TOP),
        skip: number("$skip", 0)?,
    })
}

const DEAL_FIELDS: &[&str] = &[
    "Id",
    "Title",
    "ContactId",
    "Amount",
    "StatusId",
    "PipelineId",
    "StageId",
    "OwnerId",
    "CreateDate",
    "FinishDate",
    "LastUpdateDate",
];
const CONTACT_FIELDS: &[&str] = &["Id", "Name", "CNPJ", "LastUpdateDate"];

struct DealRow<'a> {
    deal: &'a Deal,
    contacts: &'a BTreeMap<i64, Contact>,
}

impl Entity for DealRow<'_> {
    fn property(&self, path: &str) -> Result<Val, String> {
        let d = self.deal;
        Ok(match path {
            "Id" => Val::Int(d.id),
            "Title" => Val::Str(d.title.clone()),
            "ContactId" => d.contact_id.map_or(Val::Null, Val::Int),
            "Amount" => d.amount.map_or(Val::Null, Val::Num),
            "StatusId" => Val::Int(d.status_id),
            "PipelineId" => Val::Int(d.pipeline_id),
            "StageId" => Val::Int(d.stage_id),
            "OwnerId" => Val::Int(d.owner_id),
            "CreateDate" => Val::Date(d.create_date),
            "FinishDate" => d.finish_date.map_or(Val::Null, Val::Date),
            "LastUpdateDate" => Val::Date(d.last_update_date),
            other => match other.strip_prefix("Contact/") {
                Some(field) => match d.contact_id.and_then(|id| self.contacts.get(&id)) {
                    Some(c) => ContactRow(c).property(field)?,
                    None => Val::Null,
                },
                None => {
                    return Err(format!(
                    "Could not find a property named '{other}' on type 'Ploomes.API.Models.Deal'."
                ))
                }
            },
        })
    }

    fn tags(&self, path: &str) -> Result<Vec<i64>, String> {
        match path {
            "Tags" => Ok(Vec::new()),
            "Contact/Tags" => Ok(self
                .deal
                .contact_id
                .and_then(|id| self.contacts.get(&id))
                .map(|c| c.tag_ids.clone())
                .unwrap_or_default()),
            other => Err(format!("'{other}' is not a collection on type 'Deal'.")),
        }
    }
}

struct ContactRow<'a>(&'a Contact);

impl Entity for ContactRow<'_> {
    fn property(&self, path: &str) -> Result<Val, String> {
        let c = self.0;
        Ok(match path {
            "Id" => Val::Int(c.id),
            "Name" => Val::Str(c.name.clone()),
            "CNPJ" => c.cnpj.clone().map_or(Val::Null, Val::Str),
            "LastUpdateDate" => Val::Date(c.last_update_date),
            other => {
                return Err(format!(
                "Could not find a property named '{other}' on type 'Ploomes.API.Models.Contact'."
            ))
            }
        })
    }

    fn tags(&self, path: &str) -> Result<Vec<i64>, String> {
        match path {
            "Tags" => Ok(self.0.tag_ids.clone()),
            other => Err(format!("'{other}' is not a collection on type 'Contact'.")),
        }
    }
}

fn write_val(out: &mut String, v: &Val) {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Num(f) => {
            out.push_str(&serde_json::Number::from_f64(*f).map_or("null".into(), |n| n.to_string()))
        }
        Val::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
        Val::Date(t) => {
            out.push('"');
            out.push_str(&dates::format(*t));
            out.push('"');
        }
    }
}

fn sort_key_cmp(a: &[Val], b: &[Val], desc: &[bool]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for ((x, y), d) in a.iter().zip(b).zip(desc) {
        let o = match (x, y) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Less,
            (_, Val::Null) => Ordering::Greater,
            (Val::Int(p), Val::Int(q)) | (Val::Date(p), Val::Date(q)) => p.cmp(q),
            (Val::Num(p), Val::Num(q)) => p.total_cmp(q),
            (Val::Str(p), Val::Str(q)) => p.cmp(q),
            (Val::Bool(p), Val::Bool(q)) => p.cmp(q),
            _ => Ordering::Equal,
        };
        let o = if *d { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Filters, sorts and pages `rows`, then writes the answer with the selected fields.
fn list<E: Entity>(
    rows: impl Iterator<Item = E>,
    o: &Options,
    all_fields: &[&str],
    entity: &str,
    presorted: bool,
    mut seen: impl FnMut(&E),
) -> Result<String, String> {
    let mut picked: Vec<E> = Vec::new();
    let need = o.skip + o.top;
    for row in rows {
        if let Some(f) = &o.filter {
            if !filter::eval(f, &row)? {
                continue;
            }
        }
        picked.push(row);
        if presorted && picked.len() >= need {
            break;
        }
    }
    if !presorted && !o.orderby.is_empty() {
        let fields: Vec<&str> = o.orderby.iter().map(|(f, _)| f.as_str()).collect();
        let desc: Vec<bool> = o.orderby.iter().map(|(_, d)| *d).collect();
        let mut keyed: Vec<(Vec<Val>, E)> = picked
            .into_iter()
            .map(|r| {
                let k = fields
                    .iter()
                    .map(|f| r.property(f))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((k, r))
            })
            .collect::<Result<_, String>>()?;
        keyed.sort_by(|a, b| sort_key_cmp(&a.0, &b.0, &desc));
        picked = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let fields: Vec<&str> = match &o.select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => all_fields.to_vec(),
    };
    let mut out = String::with_capacity(64 + o.top * 40 * fields.len());
    out.push_str(&format!(
        "{{\"@odata.context\":\"https://public-api2.ploomes.com/$metadata#{entity}\",\"value\":["
    ));
    for (i, row) in picked.iter().skip(o.skip).take(o.top).enumerate() {
        seen(row);
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        for (j, f) in fields.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(f);
            out.push_str("\":");
            write_val(&mut out, &row.property(f)?);
        }
        out.push('}');
    }
    out.push_str("]}");
    Ok(out)
}

async fn deals(
    State(data): State<PloomesData>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response<Body> {
    if !key_ok(&data, &headers) {
        return forbidden();
    }
    let due: Vec<Hook> = {
        let mut s = data.lock();
        s.deals_requests += 1;
        let n = s.deals_requests;
        let (due, rest): (Vec<_>, Vec<_>) = s.hooks.drain(..).partition(|(at, _)| *at <= n);
        s.hooks = rest;
        due.into_iter().map(|(_, h)| h).collect()
    };
    for hook in due {
        hook(&data);
    }
    let o = match options(&q, DEAL_FIELDS, "Deal") {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let mut s = data.lock();
    if let Some(status) = s.failing {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "An error has occurred.");
    }
    let keyset = o.orderby.len() == 2
        && o.orderby[0] == ("LastUpdateDate".to_owned(), false)
        && o.orderby[1] == ("Id".to_owned(), false);
    let store = &*s;
    let mut served = Vec::new();
    let answer = if keyset {
        let from = o
            .filter
            .as_ref()
            .and_then(|f| filter::date_lower_bound(f, "LastUpdateDate"))
            .unwrap_or(i64::MIN);
        let rows = store
            .order
            .range((from, i64::MIN)..)
            .map(|(_, id)| DealRow {
                deal: &store.deals[id],
                contacts: &store.contacts,
            });
        list(rows, &o, DEAL_FIELDS, "Deals", true, |r| {
            served.push((r.deal.id, r.deal.last_update_date))
        })
    } else {
        let rows = store.deals.values().map(|deal| DealRow {
            deal,
            contacts: &store.contacts,
        });
        list(rows, &o, DEAL_FIELDS, "Deals", o.orderby.is_empty(), |r| {
            served.push((r.deal.id, r.deal.last_update_date))
        })
    };
    s.served.extend(served);
    match answer {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn contacts(
    State(data): State<PloomesData>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response<Body> {
    if !key_ok(&data, &headers) {
        return forbidden();
    }
    let o = match options(&q, CONTACT_FIELDS, "Contact") {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let s = data.lock();
    let by_id = o.orderby.is_empty() || o.orderby == [("Id".to_owned(), false)];
    let rows = s.contacts.values().map(ContactRow);
    match list(rows, &o, CONTACT_FIELDS, "Contacts", by_id, |_| {}) {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn account(State(data): State<PloomesData>, headers: HeaderMap) -> Response<Body> {
    if !key_ok(&data, &headers) {
        return forbidden();
    }
    json(
        StatusCode::OK,
        r#"{"@odata.context":"https://public-api2.ploomes.com/$metadata#Account","value":[{"Id":1,"Name":"Fake Account"}]}"#.into(),
    )
}
