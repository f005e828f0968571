//! The fake Zoho over real loopback HTTP: a shared harness, then the Accounts, CRM and Billing
//! cases in `tests/`.

mod accounts;
mod billing;
mod crm;
mod limits;

use super::{router, ZohoData};
use chrono::{DateTime, Utc};
use fake_upstreams::FakeServer;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

const CLIENT_ID: &str = "1000.TESTCLIENT";
const CLIENT_SECRET: &str = "s3cret";
const REFRESH_TOKEN: &str = "1000.refresh.token";

/// 2026-01-01T00:00:00Z: the fixed "now" most cases start from.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid timestamp")
}

/// An answer: status, headers and the body as JSON (`Null` when empty or not JSON), plus the
/// raw body text.
struct Answer {
    status: u16,
    headers: HeaderMap,
    json: Value,
    text: String,
}

/// A running fake with one registered client, a fixed clock and a live access token.
struct Harness {
    data: ZohoData,
    server: FakeServer,
    client: reqwest::Client,
    token: String,
}

impl Harness {
    async fn start() -> Harness {
        let data = ZohoData::new();
        data.set_now(Some(t0()));
        data.add_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN);
        let server = FakeServer::start(router(data.clone())).await;
        data.set_api_domain(&server.base_url());
        let token = data.grant_access_token();
        Harness {
            data,
            server,
            client: reqwest::Client::new(),
            token,
        }
    }

    /// Sends a request; `auth` is the whole `Authorization` value, `body` JSON text.
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut req = self.client.request(method, self.server.url(path));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let res = req.send().await.expect("a response");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    fn bearer(&self) -> String {
        format!("Zoho-oauthtoken {}", self.token)
    }

    /// A CRM GET with the harness token.
    async fn crm_get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, Some(&self.bearer()), &[], None)
            .await
    }

    /// A CRM GET with the harness token and extra headers.
    async fn crm_get_with(&self, path: &str, extra: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, Some(&self.bearer()), extra, None)
            .await
    }

    /// A CRM upsert with the harness token.
    async fn upsert(&self, module: &str, body: &str) -> Answer {
        let path = format!("/crm/v8/{module}/upsert");
        self.send(Method::POST, &path, Some(&self.bearer()), &[], Some(body))
            .await
    }

    /// A Billing call with the harness token and the right organization.
    async fn billing(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let org = self.data.billing_org_id();
        let extra = [("X-com-zoho-subscriptions-organizationid", org.as_str())];
        self.send(method, path, Some(&self.bearer()), &extra, body)
            .await
    }
}

/// Parses a JSON literal used as an expected body.
fn j(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON in a test")
}
