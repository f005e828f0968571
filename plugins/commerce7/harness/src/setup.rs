//! The commerce7 connector against a fake Commerce7, as its tests and the demo set it up: a
//! tenant with two tier clubs and generated customers, the entry pointed at the fake (API URL,
//! tenant header, tiers' clubs), and the webhook credentials.

use crate::fake::{router, ClubType, Commerce7Data, DEFAULT_APP_ID, DEFAULT_SECRET};
use connector_tests::entry;
use fake_upstreams::FakeServer;

/// The tenant the fake serves.
pub const TENANT: &str = "example-winery";
/// The webhook's Basic credentials (not secrets: the fake lives only as long as its test).
pub const HOOK_USER: &str = "commerce7-webhook-user";
/// The webhook password (at least 16 bytes, as the host requires).
pub const HOOK_PASSWORD: &str = "fake-hook-password-0001";

/// A running fake Commerce7 with the two tier clubs the entry's settings name.
pub struct FakeCommerce7 {
    /// The fake's state, to script and inspect.
    pub data: Commerce7Data,
    /// The server, with its request log.
    pub server: FakeServer,
    /// The clubs of the tiers `silver` and `gold`.
    pub silver: String,
    pub gold: String,
}

impl FakeCommerce7 {
    /// Starts a fake with `customers` generated customers (and their orders and memberships)
    /// and the two tier clubs.
    pub async fn start(customers: usize) -> FakeCommerce7 {
        let data = Commerce7Data::generate(TENANT, 11, customers, 2);
        let silver = data.add_club("Silver Tier", ClubType::Traditional).id;
        let gold = data.add_club("Gold Tier", ClubType::Traditional).id;
        let server = FakeServer::start(router(data.clone())).await;
        FakeCommerce7 {
            data,
            server,
            silver,
            gold,
        }
    }

    /// The environment variables `connector.toml` names.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("C7_APP_ID", DEFAULT_APP_ID),
            ("C7_SECRET_KEY", DEFAULT_SECRET),
            ("C7_HOOK_USER", HOOK_USER),
            ("C7_HOOK_PASSWORD", HOOK_PASSWORD),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Points connector `name` of `entry` (a parsed `connector.toml`) at this fake: its origin
    /// allowed, the API URL, the tenant, and the tiers' clubs.
    pub fn point(&self, entry: &mut toml::Table, name: &str) {
        let base = self.server.base_url();
        let c = entry::table(entry, &["connectors", name]);
        entry::table(c, &["http"]).insert(
            "allow".into(),
            toml::Value::Array(vec![base.clone().into()]),
        );
        entry::table(c, &["auth", "commerce7", "headers"]).insert("tenant".into(), TENANT.into());
        let settings = entry::table(c, &["settings"]);
        settings.insert("api_url".into(), format!("{base}/v1").into());
        settings.insert("tenant".into(), TENANT.into());
        if let Some(toml::Value::Array(tiers)) = settings.get_mut("tiers") {
            for tier in tiers.iter_mut().filter_map(toml::Value::as_table_mut) {
                let club = match tier.get("name").and_then(toml::Value::as_str) {
                    Some("silver") => &self.silver,
                    Some("gold") => &self.gold,
                    _ => continue,
                };
                tier.insert("club_id".into(), club.clone().into());
            }
        }
    }
}
