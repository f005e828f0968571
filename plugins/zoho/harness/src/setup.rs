//! The zoho connector against a fake Zoho, as its tests and the demo set it up: the fake given
//! the OAuth client and Billing product that `connector.toml` expects, the entry pointed at it,
//! and service packages generated and written into `service_packages` (the table another
//! application owns in a real deployment).

use crate::fake::{router, Rng, ZohoData, DEFAULT_BILLING_ORG_ID};
use connector_host::store::Store;
use connector_tests::entry;
use fake_upstreams::FakeServer;

/// The OAuth client the fake knows (not secrets: the fake lives only as long as its test).
pub const CLIENT_ID: &str = "1000.FAKECLIENT0001";
/// The client's secret.
pub const CLIENT_SECRET: &str = "fake-zoho-client-secret-0001";
/// The refresh token the fake issues access tokens for.
pub const REFRESH_TOKEN: &str = "1000.fake-refresh-token.0001";

/// A running fake Zoho.
pub struct FakeZoho {
    /// The fake's state, to script and inspect.
    pub data: ZohoData,
    /// The server, with its request log.
    pub server: FakeServer,
    /// The Billing product the plans belong to.
    pub product_id: String,
}

impl FakeZoho {
    /// Starts a fake Zoho serving accounts, CRM and Billing on one loopback port, its token
    /// answers naming that port as the `api_domain`.
    pub async fn start() -> FakeZoho {
        let data = ZohoData::new();
        data.add_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN);
        let product_id = data.add_billing_product("Service packages");
        let server = FakeServer::start(router(data.clone())).await;
        data.set_api_domain(&server.base_url());
        FakeZoho {
            data,
            server,
            product_id,
        }
    }

    /// The environment variables `connector.toml`'s auth profile names.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("ZOHO_CLIENT_ID", CLIENT_ID),
            ("ZOHO_CLIENT_SECRET", CLIENT_SECRET),
            ("ZOHO_REFRESH_TOKEN", REFRESH_TOKEN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Points connector `name` of `entry` (a parsed `connector.toml`) at this fake: its origin
    /// allowed, the auth profile's accounts and API URLs overridden (instead of a data centre),
    /// and the settings' API origin and Billing ids.
    pub fn point(&self, entry: &mut toml::Table, name: &str) {
        let c = entry::table(entry, &["connectors", name]);
        entry::table(c, &["http"]).insert("allow".into(), toml::Value::Array(Vec::new()));
        self.point_profile(c);
        let settings = entry::table(c, &["settings"]);
        settings.insert("api_url".into(), self.server.base_url().into());
        settings.insert("billing_org_id".into(), DEFAULT_BILLING_ORG_ID.into());
        settings.insert("billing_product_id".into(), self.product_id.clone().into());
    }

    /// Points `connector`'s `zoho` OAuth2 profile at this fake (accounts and API URLs instead of
    /// a data centre) and adds the fake's origin to its `http.allow` — for any connector that
    /// reads Zoho with the same credentials (the portal connector does).
    pub fn point_profile(&self, connector: &mut toml::Table) {
        let base = self.server.base_url();
        let allow = entry::table(connector, &["http"])
            .entry("allow")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let Some(list) = allow.as_array_mut() {
            list.push(base.clone().into());
        }
        let oauth = entry::table(connector, &["auth", "zoho", "oauth2"]);
        oauth.remove("data_center");
        oauth.insert(
            "token_url".into(),
            self.server.url("/oauth/v2/token").into(),
        );
        oauth.insert("api_url".into(), base.into());
    }
}

/// One row of `service_packages`.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: f64,
    /// `monthly` or `yearly`.
    pub interval: String,
    /// `active` or `inactive`.
    pub status: String,
    pub category: Option<String>,
}

/// `n` deterministic packages (`PKG-0001`, …): a mix of intervals, prices to the cent, some
/// inactive, some without a description.
pub fn packages(n: usize, seed: u64) -> Vec<Package> {
    let mut rng = Rng::new(seed);
    let tiers = ["Bronze", "Silver", "Gold", "Platinum", "Reserve"];
    let kinds = ["Support", "Hosting", "Club", "Consulting"];
    (1..=n)
        .map(|i| {
            let tier = tiers[rng.below(tiers.len() as u64) as usize];
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            let yearly = rng.below(4) == 0;
            let cents = 900 + rng.below(60_000);
            Package {
                sku: format!("PKG-{i:04}"),
                name: format!("{tier} {kind}"),
                description: (rng.below(5) != 0)
                    .then(|| format!("{tier} {kind} package, tier {i}")),
                price: cents as f64 / 100.0 * if yearly { 10.0 } else { 1.0 },
                interval: if yearly { "yearly" } else { "monthly" }.into(),
                status: if rng.below(10) == 0 {
                    "inactive"
                } else {
                    "active"
                }
                .into(),
                category: Some(kind.to_owned()),
            }
        })
        .collect()
}

/// SQL text for a value.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("NULL".into(), quote)
}

/// The `INSERT` that writes `packages` with `updated_at` (RFC 3339), or replaces them when their
/// SKU is there already, as the owning application would.
pub fn upsert_sql(packages: &[Package], updated_at: &str) -> String {
    let rows: Vec<String> = packages
        .iter()
        .map(|p| {
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {})",
                quote(&p.sku),
                quote(&p.name),
                opt(&p.description),
                p.price,
                quote(&p.interval),
                quote(&p.status),
                opt(&p.category),
                quote(updated_at)
            )
        })
        .collect();
    format!(
        "INSERT INTO service_packages (sku, name, description, price, billing_interval, status, category, updated_at) \
         VALUES {} ON CONFLICT (sku) DO UPDATE SET name = excluded.name, description = excluded.description, \
         price = excluded.price, billing_interval = excluded.billing_interval, status = excluded.status, \
         category = excluded.category, updated_at = excluded.updated_at",
        rows.join(", ")
    )
}

/// Writes `packages` into `service_packages` of `store`, stamped now.
pub async fn seed(store: &Store, packages: &[Package]) -> anyhow::Result<()> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let sql = upsert_sql(packages, &now);
    store.execute_sql(&sql).await?;
    Ok(())
}
