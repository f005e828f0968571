//! The README's first command, `cargo run -p connector-demo`, as a user runs it: every connector
//! against its fake on a fresh SQLite database, ending with the runs and each report.

use std::process::Command;

#[test]
fn the_demo_runs_every_connector_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_connector-demo"))
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for connector in connector_tests::entry::all() {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(connector.as_str())),
            "no run of {connector} in the table:\n{stdout}"
        );
    }
    assert!(stdout.contains("top customers by revenue"), "{stdout}");
    assert!(stdout.contains("zoho after the retry"), "{stdout}");
    assert!(dir.path().join("connectors.toml").is_file());
    assert!(dir.path().join("demo.db").is_file());
}
