//! `connector-host new NAME`: writes a connector crate that builds on its own, anywhere — the
//! guest SDK as a dependency, `.cargo/config.toml` for `wasm32-wasip2`, the release profile,
//! one table with its migration for each backend, a manifest entry, a unit test and a README.
//! Nothing in it refers to this repository but the SDK's path.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where this host's guest SDK sits, when it runs from a checkout of its repository.
pub fn bundled_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().unwrap_or(sdk))
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The crate's directory.
    pub dir: PathBuf,
    /// The `.wasm` a release build produces, relative to `dir`.
    pub wasm: String,
}

/// Writes connector `name` into `parent/name`, depending on the SDK at `sdk`.
pub fn write(name: &str, parent: &Path, sdk: &Path) -> Result<Scaffold> {
    let valid = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        bail!(
            "connector name {name:?}: expected lower-case letters, digits, _ and -, starting with a \
             letter, at most 40 characters (e.g. \"hubspot-deals\")"
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            dir.display()
        );
    }
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the guest SDK at {} cannot be found", sdk.display()))?;
    let ident = name.replace('-', "_");
    let table = format!("{ident}_greetings");
    let type_name: String = ident
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let wasm = format!("target/wasm32-wasip2/release/{ident}.wasm");
    let fill = |text: &str| {
        text.replace("{name}", name)
            .replace("{table}", &table)
            .replace("{Type}", &type_name)
            .replace("{wasm}", &wasm)
            .replace("{sdk}", &sdk.display().to_string().replace('\\', "/"))
    };
    let files: [(&str, &str); 8] = [
        ("Cargo.toml", CARGO_TOML),
        (".cargo/config.toml", CARGO_CONFIG),
        ("src/lib.rs", LIB_RS),
        ("migrations/sqlite/0001_greetings.sql", SQLITE_MIGRATION),
        ("migrations/postgres/0001_greetings.sql", POSTGRES_MIGRATION),
        ("connector.toml", CONNECTOR_TOML),
        ("README.md", README),
        (".gitignore", "/target\n"),
    ];
    for (file, template) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, fill(template))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Scaffold { dir, wasm })
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
connector-sdk = { path = "{sdk}" }

# Small, self-contained components: what the host loads.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = "debuginfo"

# A workspace of its own, wherever it lives.
[workspace]
"#;

const CARGO_CONFIG: &str = r#"# Connectors are WebAssembly components: `cargo build` targets wasm32-wasip2 (a build for it is
# already a component). Install the target once with `rustup target add wasm32-wasip2`.
[build]
target = "wasm32-wasip2"
"#;

const LIB_RS: &str = r#"//! The {name} connector: each run writes a numbered greeting into `{table}`, keeping its count
//! in state, so the row and the count become durable together. Replace `run` with your sync.

use connector_sdk::db;
use connector_sdk::{config, log, state, Connector, Error, Info, RunContext, RunSummary};

struct {Type};

impl Connector for {Type} {
    fn describe() -> Info {
        Info::new("{name}", env!("CARGO_PKG_VERSION"), "writes a numbered greeting per run")
            .setting("greeting", "the text stored with each row (default \"hello\")")
            .table("{table}")
            .job("greet")
            .migration(
                1,
                "{table}",
                include_str!("../migrations/sqlite/0001_greetings.sql"),
                include_str!("../migrations/postgres/0001_greetings.sql"),
            )
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        let greeting: String = config::get_or("greeting", "hello".to_owned())?;
        let n: i64 = state::get_json("n")?.unwrap_or(0) + 1;
        db::execute(
            "INSERT INTO {table} (n, greeting, job) VALUES ($1, $2, $3)",
            &[n.into(), greeting.as_str().into(), ctx.job.as_str().into()],
        )?;
        // Committed together with the row: a failed run leaves neither.
        state::set_json("n", &n)?;
        log::info("greeted", &[("n", &n.to_string())]);
        Ok(RunSummary::new(summary(&greeting, n)).counter("rows_written", 1))
    }
}

/// The run's one-line summary.
fn summary(greeting: &str, n: i64) -> String {
    format!("{greeting} #{n}")
}

connector_sdk::export_connector!({Type});

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_numbers_the_greeting() {
        assert_eq!(super::summary("hi", 3), "hi #3");
    }
}
"#;

const SQLITE_MIGRATION: &str = r#"-- One row per greeting. Timestamps are RFC 3339 text in DATETIME columns.
CREATE TABLE {table} (
    n        INTEGER PRIMARY KEY,
    greeting TEXT NOT NULL,
    job      TEXT NOT NULL,
    at       DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
"#;

const POSTGRES_MIGRATION: &str = r#"-- One row per greeting.
CREATE TABLE {table} (
    n        BIGINT PRIMARY KEY,
    greeting TEXT NOT NULL,
    job      TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
"#;

const CONNECTOR_TOML: &str = r#"# The {name} connector's manifest entry: copy it into your connectors.toml and make `plugin`
# point at the built .wasm (relative to the manifest).
[connectors.{name}]
plugin = "{wasm}"
tables = ["{table}"]
timeout = "1m"
settings = { greeting = "hello" }

[connectors.{name}.schedules.greet]
cron = "0 */5 * * * *"                # every five minutes
job = "greet"
"#;

const README: &str = r#"# {name}

A connector for connector-host: a WebAssembly component built on its guest SDK. Each run writes
a numbered greeting into `{table}`.

```sh
rustup target add wasm32-wasip2       # once
cargo build --release                 # {wasm}
connector-host inspect {wasm}         # what it asks for: tables, settings, migrations, SHA-256
cargo test --target "$(rustc -vV | sed -n 's/host: //p')"   # its unit tests, natively
```

Then add `connector.toml`'s entry to your manifest and `connector-host validate`, `run {name}`,
or `serve`. Its table comes with it: `migrations/` holds one SQL file per backend per version,
listed in `describe()`; the host applies them at start. Never edit a released migration; add
the next version.
"#;
