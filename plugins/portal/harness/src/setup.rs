//! The portal connector against its two fakes, as its tests and the demo set it up: a fake
//! sales portal (PostgREST) and a fake Zoho (from `zoho-harness`), the entry pointed at both,
//! and the environment its auth profiles and trigger name.

use crate::fake::{router, ApiKey, PortalData};
use connector_tests::entry;
use fake_upstreams::FakeServer;
use zoho_harness::setup::FakeZoho;

/// The manual trigger's bearer token (not a secret: the fakes live only as long as their test).
pub const RUN_TOKEN: &str = "portal-run-token-0001";

/// A running fake portal and fake Zoho.
pub struct FakePortal {
    /// The portal's leads table, to script and inspect.
    pub data: PortalData,
    /// The PostgREST server, with its request log.
    pub server: FakeServer,
    /// The fake Zoho, whose Leads module is the other source.
    pub zoho: FakeZoho,
}

impl FakePortal {
    /// Starts both fakes: the portal holding `leads` and taking `key`, Zoho empty.
    pub async fn start(leads: Vec<crate::fake::Lead>, key: ApiKey) -> FakePortal {
        let data = PortalData::from_leads(leads, key);
        let server = FakeServer::start(router(data.clone())).await;
        FakePortal {
            data,
            server,
            zoho: FakeZoho::start().await,
        }
    }

    /// The environment variables `connector.toml` names.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.zoho.env();
        env.push((
            "PORTAL_SERVICE_KEY".into(),
            self.data.key().as_str().to_owned(),
        ));
        env.push(("PORTAL_RUN_TOKEN".into(), RUN_TOKEN.into()));
        env
    }

    /// Points connector `name` of `entry` (a parsed `connector.toml`) at both fakes; a legacy
    /// key gets the `Authorization: Bearer` header it needs.
    pub fn point(&self, entry: &mut toml::Table, name: &str) {
        let c = entry::table(entry, &["connectors", name]);
        let base = self.server.base_url();
        entry::table(c, &["http"]).insert(
            "allow".into(),
            toml::Value::Array(vec![base.clone().into()]),
        );
        self.zoho.point_profile(c);
        if matches!(self.data.key(), ApiKey::Legacy(_)) {
            entry::table(c, &["auth", "portal", "headers"])
                .insert("Authorization".into(), "Bearer {secret}".into());
        }
        let settings = entry::table(c, &["settings"]);
        settings.insert("portal_url".into(), format!("{base}/rest/v1").into());
        settings.insert("zoho_api_url".into(), self.zoho.server.base_url().into());
    }
}

/// A lead id as the portal writes them (a version-4 UUID), from `rng`.
pub fn uuid(rng: &mut crate::fake::Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// How `populate` spread its people over the two sources.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    /// In both, each knowing the other's id.
    pub linked: usize,
    /// Only in the portal (not copied to Zoho yet).
    pub portal_only: usize,
    /// Only in Zoho (entered by sales).
    pub zoho_only: usize,
    /// In both without each other's id, the e-mail written differently (merged by e-mail).
    pub unlinked: usize,
}

impl Population {
    /// The distinct people: the leads a complete sync must end with.
    pub fn people(&self) -> usize {
        self.linked + self.portal_only + self.zoho_only + self.unlinked
    }
}

/// Fills both fakes with `n` people as a real deployment has them: most in both sources and
/// linked both ways, some only in one, some in both with only the e-mail in common.
pub fn populate(fake: &FakePortal, n: usize, seed: u64) -> Population {
    use zoho_harness::fake::Module;
    let mut rng = crate::fake::Rng::new(seed);
    let first = [
        "Ana", "Bruno", "Carla", "Diego", "Elena", "Fabio", "Gina", "Hugo", "Iris", "Joao",
    ];
    let last = [
        "Souza",
        "Lima",
        "Borg",
        "Camilleri",
        "Vella",
        "Grech",
        "Farrugia",
        "Zammit",
    ];
    let sources = ["landing-page", "whatsapp", "referral", "fair"];
    let base = fake.data.now() - chrono::Duration::days(30);
    let mut made = Population::default();
    for i in 0..n {
        let f = first[rng.next_u64() as usize % first.len()];
        let l = last[rng.next_u64() as usize % last.len()];
        let email = format!("{}.{}.{i}@example.com", f.to_lowercase(), l.to_lowercase());
        let phone = format!("+3567{:07}", rng.next_u64() % 10_000_000);
        let source = sources[rng.next_u64() as usize % sources.len()];
        let kind = rng.next_u64() % 100;
        let created = base + chrono::Duration::seconds(i as i64 * 7);
        let pid = uuid(&mut rng);
        let zoho = |portal_id: Option<&str>, email: &str| {
            let mut record = serde_json::json!({
                "First_Name": f, "Last_Name": l, "Email": email, "Phone": phone,
                "Lead_Source": source, "Lead_Status": "Not Contacted",
            });
            if let Some(p) = portal_id {
                record["Portal_Lead_Id"] = p.into();
            }
            fake.zoho.data.insert_crm_record(Module::Leads, record)
        };
        let portal = |zoho_id: Option<String>, email: String| crate::fake::Lead {
            id: pid.clone(),
            name: format!("{f} {l}"),
            email: Some(email),
            phone: Some(phone.clone()),
            source: source.into(),
            status: "new".into(),
            zoho_lead_id: zoho_id,
            created_at: created,
            updated_at: created,
        };
        match kind {
            0..70 => {
                let zid = zoho(Some(&pid), &email);
                fake.data.put_lead(portal(Some(zid), email));
                made.linked += 1;
            }
            70..85 => {
                fake.data.put_lead(portal(None, email));
                made.portal_only += 1;
            }
            85..95 => {
                zoho(None, &email);
                made.zoho_only += 1;
            }
            _ => {
                zoho(None, &format!("  {}  ", email.to_uppercase()));
                fake.data.put_lead(portal(None, email));
                made.unlinked += 1;
            }
        }
    }
    made
}
