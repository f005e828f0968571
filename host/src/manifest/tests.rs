//! Happy-path and behaviour tests of the whole loader; the error texts themselves are pinned by
//! the UI cases in `ui_tests.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A fresh directory with empty plugin files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, plugins: &[&str]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("manifest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        for plugin in plugins {
            std::fs::write(dir.join("plugins").join(plugin), b"\0asm").unwrap();
        }
        Scratch(std::fs::canonicalize(dir).unwrap())
    }

    fn manifest(&self) -> PathBuf {
        self.0.join(DEFAULT_MANIFEST)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const COMPLETE: &str = r#"
[database]
url = "sqlite://data/connectors.db?mode=rwc"

[runtime]
cache_dir = "cache"
pooling = false
max_instances = 16

[rate_limits]
ploomes = "120/min"
zoho = { quota = "90/min", max_concurrency = 4 }
commerce7 = "100/minute"

[connectors.ploomes]
plugin = "plugins/ploomes.wasm"
tables = ["sales", "customer_sales"]
settings = { client_tag_id = 40006184, page_size = 300, since = 2024-01-31T00:00:00Z, tags = ["a", 1.5, true], nested = { day = 2024-01-31 } }
timeout = "30m"
memory = "512MiB"
http = { allow = ["https://public-api2.ploomes.com"], rate_limit = "ploomes", timeout = "45s", max_response = "20MiB" }
auth.ploomes = { header = "User-Key", secret = "PLOOMES_API_KEY" }

[connectors.zoho]
plugin = "./plugins/zoho.wasm"
tables = ["products"]
http.allow = ["https://www.zohoapis.eu", "http://127.0.0.1:8080/"]
http.rate_limit = "zoho"
auth.crm = { oauth2 = { client_id = "ZOHO_CLIENT_ID", client_secret = "ZOHO_CLIENT_SECRET", refresh_token = "ZOHO_REFRESH_TOKEN", data_center = "eu" } }
auth.local = { oauth2 = { client_id = "ZOHO_CLIENT_ID", client_secret = "ZOHO_CLIENT_SECRET", refresh_token = "ZOHO_REFRESH_TOKEN", token_url = "http://127.0.0.1:8080/oauth/v2/token", cooldown = "1m" } }

[connectors.commerce7]
plugin = "plugins/commerce7.wasm"
memory = "64MiB"
auth.c7 = { basic = { username = "C7_USER", password = "C7_PASS" }, headers = { tenant = "acme" } }
auth.bearer = { header = "Authorization", value = "Bearer {secret}", secret = "C7_TOKEN" }

[connectors.portal]
plugin = "plugins/portal.wasm"
tables = ["leads", "sync_metadata"]
http = { allow = ["https://portal.example.com:8443"] }
auth.portal = { headers = { apikey = "{secret}", Authorization = "Bearer {secret}" }, secret = "PORTAL_KEY" }
"#;

fn complete_env() -> BTreeMap<String, String> {
    env(&[
        ("PLOOMES_API_KEY", "ploomes-key"),
        ("ZOHO_CLIENT_ID", "zoho-id"),
        ("ZOHO_CLIENT_SECRET", "zoho-secret"),
        ("ZOHO_REFRESH_TOKEN", "zoho-refresh"),
        ("C7_USER", "c7-user"),
        ("C7_PASS", "c7-pass"),
        ("C7_TOKEN", "c7-token"),
        ("PORTAL_KEY", "portal-key"),
    ])
}

fn secret(env: &str) -> SecretRef {
    SecretRef {
        env: env.to_string(),
    }
}

fn origin(scheme: &str, host: &str, port: u16) -> Origin {
    let (scheme, host) = (scheme.to_string(), host.to_string());
    Origin { scheme, host, port }
}

fn template(text: &str, env: &str) -> SecretTemplate {
    SecretTemplate {
        template: text.to_string(),
        secret: secret(env),
    }
}

#[test]
fn a_complete_manifest_loads_with_every_key() {
    let dir = Scratch::new(
        "complete",
        &["ploomes.wasm", "zoho.wasm", "commerce7.wasm", "portal.wasm"],
    );
    std::fs::write(dir.manifest(), COMPLETE).unwrap();
    let (manifest, secrets) = Manifest::load(&dir.manifest(), &complete_env()).unwrap();
    let base = &dir.0;

    assert_eq!(manifest.path, dir.manifest());
    assert_eq!(manifest.base_dir, *base);
    let db = format!(
        "sqlite://{}?mode=rwc",
        base.join("data/connectors.db").display()
    );
    assert_eq!(manifest.database_url, db);
    let runtime = RuntimeConfig {
        cache_dir: base.join("cache"),
        pooling: false,
        max_instances: 16,
        run_lease: Duration::from_secs(30),
        queue_workers: 2,
    };
    assert_eq!(manifest.runtime, runtime);

    let minute = Duration::from_secs(60);
    let pool = |name: &str, requests, max_concurrency| RateLimit {
        name: name.to_string(),
        requests,
        per: minute,
        max_concurrency,
    };
    let pools = [
        ("commerce7", 100, None),
        ("ploomes", 120, None),
        ("zoho", 90, Some(4)),
    ];
    let expected: BTreeMap<_, _> = pools.map(|(n, r, c)| (n.to_string(), pool(n, r, c))).into();
    assert_eq!(manifest.rate_limits, expected);

    let ploomes = &manifest.connectors["ploomes"];
    assert_eq!(ploomes.name, "ploomes");
    assert_eq!(ploomes.plugin, base.join("plugins/ploomes.wasm"));
    assert_eq!(ploomes.tables, ["sales", "customer_sales"]);
    let settings = serde_json::json!({
        "client_tag_id": 40006184, "page_size": 300, "since": "2024-01-31T00:00:00Z",
        "tags": ["a", 1.5, true], "nested": { "day": "2024-01-31" },
    });
    assert_eq!(
        serde_json::Value::Object(ploomes.settings.clone()),
        settings
    );
    assert_eq!(ploomes.timeout, 30 * minute);
    assert_eq!(ploomes.memory_limit, 512 << 20);
    let http = HttpConfig {
        allow: vec![origin("https", "public-api2.ploomes.com", 443)],
        rate_limits: vec!["ploomes".into()],
        extra_rate_limits: Vec::new(),
        timeout: Duration::from_secs(45),
        max_response_bytes: 20 << 20,
        retries: 3,
        max_wait: Duration::from_secs(60),
    };
    assert_eq!(ploomes.http, http);
    let user_key = AuthProfile::Headers {
        headers: vec![("User-Key".into(), template("{secret}", "PLOOMES_API_KEY"))],
    };
    assert_eq!(
        ploomes.auth,
        BTreeMap::from([("ploomes".to_string(), user_key)])
    );

    let zoho = &manifest.connectors["zoho"];
    assert_eq!(zoho.plugin, base.join("plugins/zoho.wasm"));
    let allow = [
        origin("https", "www.zohoapis.eu", 443),
        origin("http", "127.0.0.1", 8080),
    ];
    assert_eq!(zoho.http.allow, allow);
    assert_eq!(zoho.http.rate_limits, ["zoho"]);
    let oauth = |token_url: &str, api_url: Option<&str>, cooldown| AuthProfile::OAuth2 {
        token_url: token_url.to_string(),
        api_url: api_url.map(str::to_string),
        // The scheme is explicit: a data centre does not imply Zoho's.
        scheme: "Bearer".into(),
        client_id: secret("ZOHO_CLIENT_ID"),
        client_secret: secret("ZOHO_CLIENT_SECRET"),
        refresh_token: secret("ZOHO_REFRESH_TOKEN"),
        cooldown,
    };
    let crm = oauth(
        "https://accounts.zoho.eu/oauth/v2/token",
        Some("https://www.zohoapis.eu"),
        5 * minute,
    );
    let local = oauth("http://127.0.0.1:8080/oauth/v2/token", None, minute);
    assert_eq!(
        zoho.auth,
        BTreeMap::from([("crm".into(), crm), ("local".into(), local)])
    );

    let c7 = &manifest.connectors["commerce7"];
    assert!(c7.tables.is_empty() && c7.settings.is_empty() && c7.http.allow.is_empty());
    assert_eq!((c7.timeout, c7.memory_limit), (15 * minute, 64 << 20));
    let defaults = HttpConfig {
        allow: vec![],
        rate_limits: Vec::new(),
        extra_rate_limits: Vec::new(),
        timeout: Duration::from_secs(30),
        max_response_bytes: 10 << 20,
        retries: 3,
        max_wait: Duration::from_secs(60),
    };
    assert_eq!(c7.http, defaults);
    let basic = AuthProfile::Basic {
        username: secret("C7_USER"),
        password: secret("C7_PASS"),
        headers: vec![("tenant".into(), "acme".into())],
    };
    let bearer = AuthProfile::Headers {
        headers: vec![(
            "Authorization".into(),
            template("Bearer {secret}", "C7_TOKEN"),
        )],
    };
    assert_eq!(
        c7.auth,
        BTreeMap::from([("bearer".into(), bearer), ("c7".into(), basic)])
    );

    let portal = &manifest.connectors["portal"];
    assert_eq!(
        portal.http.allow,
        [origin("https", "portal.example.com", 8443)]
    );
    let both = vec![
        (
            "Authorization".into(),
            template("Bearer {secret}", "PORTAL_KEY"),
        ),
        ("apikey".into(), template("{secret}", "PORTAL_KEY")),
    ];
    assert_eq!(
        portal.auth["portal"],
        AuthProfile::Headers { headers: both }
    );

    let mut values: Vec<&str> = secrets.values().collect();
    values.sort();
    let mut expected: Vec<String> = complete_env().into_values().collect();
    expected.sort();
    assert_eq!(values, expected);
    assert_eq!(secrets.get(&secret("C7_PASS")), Some("c7-pass"));
    assert_eq!(secrets.get(&secret("UNRELATED")), None);
}

#[test]
fn an_empty_manifest_is_valid_with_defaults() {
    let path = Path::new("/srv/sync/connectors.toml");
    let (manifest, secrets) = Manifest::parse("", path, &env(&[])).unwrap();
    assert_eq!(manifest.base_dir, Path::new("/srv/sync"));
    assert_eq!(manifest.database_url, "sqlite:///srv/sync/connectors.db");
    let runtime = RuntimeConfig {
        cache_dir: "/srv/sync/.connector-cache".into(),
        pooling: true,
        max_instances: 100,
        run_lease: Duration::from_secs(30),
        queue_workers: 2,
    };
    assert_eq!(manifest.runtime, runtime);
    assert!(manifest.connectors.is_empty() && manifest.rate_limits.is_empty());
    assert_eq!(secrets.values().count(), 0);
}

#[test]
fn a_relative_manifest_path_gets_an_absolute_base_dir() {
    let (manifest, _) = Manifest::parse("", Path::new(DEFAULT_MANIFEST), &env(&[])).unwrap();
    assert_eq!(manifest.base_dir, std::env::current_dir().unwrap());
    assert_eq!(manifest.path, Path::new(DEFAULT_MANIFEST));
}

#[test]
fn database_url_comes_from_the_environment_first() {
    let path = Path::new("/srv/connectors.toml");
    let text = "database.url = \"sqlite:///var/lib/c.db\"";
    let url = |vars: &[(&str, &str)]| {
        Manifest::parse(text, path, &env(vars))
            .unwrap()
            .0
            .database_url
    };
    assert_eq!(url(&[]), "sqlite:///var/lib/c.db");
    assert_eq!(url(&[("DATABASE_URL", "")]), "sqlite:///var/lib/c.db");
    let pg = "postgres://sync:pw@db.internal/connectors";
    assert_eq!(url(&[("DATABASE_URL", pg)]), pg);
    assert_eq!(
        url(&[("DATABASE_URL", "sqlite:local.db")]),
        "sqlite:///srv/local.db"
    );
    assert_eq!(
        url(&[("DATABASE_URL", "sqlite::memory:")]),
        "sqlite::memory:"
    );
}

#[test]
fn debug_output_hides_database_and_secret_values() {
    let path = Path::new("/srv/connectors.toml");
    let url = "postgres://sync:hunter2@db/connectors?sslmode=require&password=hunter3";
    let (manifest, secrets) = Manifest::parse("", path, &env(&[("DATABASE_URL", url)])).unwrap();
    let shown = format!("{manifest:?} {secrets:?}");
    assert!(!shown.contains("hunter"), "{shown}");
    assert!(
        shown.contains("postgres://sync:***@db/connectors?sslmode=require&password=***"),
        "{shown}"
    );
}

#[test]
fn errors_never_contain_secret_values() {
    let text = r#"
[connectors.x]
plugin = "missing.wasm"
auth.a = { header = "Authorization", value = "Bearer sk_live_123456", secret = "TOKEN" }
auth.b = { header = "User-Key", secret = "sk_live_123456" }
auth.c = { basic = { username = "USER", password = "PASS" } }
auth.d = { header = "X-Key", secret = "NEWLINE" }
"#;
    let vars = env(&[
        ("TOKEN", "sk_live_999"),
        ("USER", "me:sk_live_999"),
        ("PASS", ""),
        ("NEWLINE", "sk_live\n999"),
    ]);
    let error = Manifest::parse(text, Path::new("/srv/connectors.toml"), &vars).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("sk_live"), "{shown}");
    let ManifestError::Invalid { problems, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(problems.len(), 6, "{problems:#?}");
}

#[test]
fn a_missing_file_is_a_read_error() {
    let path = Path::new("/nonexistent/connectors.toml");
    let error = Manifest::load(path, &env(&[])).unwrap_err();
    assert!(matches!(&error, ManifestError::Read { path: p, .. } if p == path));
    assert!(
        error
            .to_string()
            .starts_with("cannot read /nonexistent/connectors.toml: "),
        "{error}"
    );
}

#[test]
fn problems_are_counted_in_the_message() {
    let one = ManifestError::Invalid {
        path: "m.toml".into(),
        problems: vec!["a".into()],
    };
    assert_eq!(one.to_string(), "manifest m.toml has 1 problem:\n  - a");
    let two = ManifestError::Invalid {
        path: "m.toml".into(),
        problems: vec!["a".into(), "b".into()],
    };
    assert_eq!(
        two.to_string(),
        "manifest m.toml has 2 problems:\n  - a\n  - b"
    );
}

#[test]
fn origins_display_without_default_ports() {
    assert_eq!(origin("https", "a.com", 443).to_string(), "https://a.com");
    assert_eq!(origin("http", "a.com", 443).to_string(), "http://a.com:443");
    assert_eq!(
        origin("http", "[::1]", 8080).to_string(),
        "http://[::1]:8080"
    );
}
