//! Snapshot tests of error messages: every `NAME.toml` in `tests/manifests/` is loaded with a
//! fixed environment and its error text compared with `NAME.expected`.
//!
//! The manifests' directory is written as `$DIR` so that snapshots do not depend on where the
//! repository lives. Run with `UPDATE_EXPECT=1` to rewrite the `.expected` files instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Manifest;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/manifests");

/// Near misses on purpose: `PLOOME_API_KEY` is set, `PLOOMES_API_KEY` is not.
fn fake_env() -> BTreeMap<String, String> {
    [
        ("PLOOME_API_KEY", "fake-ploomes"),
        ("C7_USER", "fake-user"),
        ("C7_PASS", "fake-pass"),
        ("ZOHO_CLIENT_ID", "fake-id"),
        ("ZOHO_CLIENT_SECRET", "fake-secret"),
        ("ZOHO_REFRESH_TOKEN", "fake-refresh"),
        ("EMPTY_TOKEN", ""),
        ("ALERT_URL", "not a url"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    cases.sort();
    cases
}

fn outcome(path: &Path, dir: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let shown = match Manifest::parse(&text, path, &fake_env()) {
        Ok(_) => "loaded without problems".to_string(),
        Err(error) => error.to_string(),
    };
    shown.replace(&dir.display().to_string(), "$DIR")
}

#[test]
fn bad_manifests_report_the_expected_errors() {
    let dir = std::fs::canonicalize(CASES).expect("tests/manifests exists");
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let cases = cases(&dir);
    assert!(
        cases.len() >= 15,
        "only {} cases in {}",
        cases.len(),
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let actual = outcome(case, &dir);
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, format!("{actual}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != actual {
            let name = case
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            failures.push(format!(
                "{name}\n--- expected\n{}\n--- actual\n{actual}",
                expected.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ (UPDATE_EXPECT=1 rewrites them):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
