use connector_host::runner::RunRequest;
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::host::{start, FakeEnv};
use serde_json::Value;

/// Statements every backend must refuse: other tables reached every way SQL allows, DDL,
/// transaction control, several statements, and file, extension and catalogue access.
const ATTACKS: &[&str] = &[
    "SELECT * FROM runs",
    "SELECT * FROM RUNS",
    "SELECT * FROM \"runs\"",
    "SELECT * FROM kit_items, runs",
    "SELECT * FROM kit_items JOIN connector_state ON true",
    "SELECT (SELECT count(*) FROM runs)",
    "SELECT * FROM kit_items WHERE EXISTS (SELECT 1 FROM queue_jobs)",
    "SELECT id FROM kit_items UNION SELECT connector FROM runs",
    "WITH x AS (SELECT * FROM runs) SELECT * FROM x",
    "WITH runs AS (SELECT * FROM runs) SELECT * FROM runs",
    "INSERT INTO kit_items (id, n) SELECT connector, 1 FROM runs",
    "UPDATE kit_items SET label = (SELECT summary FROM runs LIMIT 1)",
    "DELETE FROM runs",
    "INSERT INTO kit_items (id, n) VALUES ('a', 1) RETURNING (SELECT count(*) FROM runs)",
    "INSERT INTO kit_items (id, n) VALUES ('a', 1) ON CONFLICT (id) DO UPDATE SET label = (SELECT summary FROM runs)",
    "SELECT * FROM sample_events",
    "SELECT * FROM kit_items; DROP TABLE kit_items",
    "DROP TABLE kit_items",
    "CREATE TABLE evil (a INTEGER)",
    "CREATE VIEW v AS SELECT * FROM runs",
    "ALTER TABLE kit_items ADD COLUMN x INTEGER",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "RELEASE SAVEPOINT s",
    "VACUUM",
    "SELECT * FROM other.kit_items",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_catalog.pg_tables",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT load_extension('/tmp/evil')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT query_to_xml('select * from runs', true, true, '')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT dblink('host=evil', 'select 1')",
    "SELECT current_setting('data_directory')",
    "not sql at all",
];

const SQLITE_ATTACKS: &[&str] = &[
    "PRAGMA table_info(runs)",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "SELECT * FROM pragma_table_info('runs')",
    "SELECT * FROM [runs]",
    "SELECT * FROM `runs`",
    "SELECT * FROM main.runs",
];

const POSTGRES_ATTACKS: &[&str] = &[
    "SET ROLE postgres",
    "RESET ALL",
    "SET search_path TO evil",
    "COPY kit_items TO '/tmp/x'",
    "COPY kit_items FROM PROGRAM 'id'",
    "SELECT * FROM public.runs",
    "SELECT * FROM \"KIT_ITEMS\"",
];

/// Legitimate queries that must pass.
const FINE: &[&str] = &[
    "SELECT * FROM kit_items",
    "SELECT * FROM \"kit_items\"",
    "SELECT k.id, count(*) FROM kit_items k JOIN kit_items j ON j.n = k.n GROUP BY k.id HAVING count(*) > 0",
    "WITH recent AS (SELECT * FROM kit_items WHERE n > 0) SELECT id FROM recent ORDER BY id LIMIT 5",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT sum(x) FROM c",
    "SELECT id FROM kit_items WHERE id IN (SELECT id FROM kit_items WHERE label IS NULL)",
    "INSERT INTO kit_items (id, n) VALUES ('fine', 1) ON CONFLICT (id) DO UPDATE SET n = excluded.n RETURNING id",
    "UPDATE kit_items SET n = n + 1 WHERE id = 'fine'",
    "DELETE FROM kit_items WHERE id = 'fine'",
];

fn script(statements: &[&str]) -> String {
    let list: Vec<String> = statements.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\nsettings = {{ statements = [{}] }}\n",
        list.join(", ")
    )
}

async fn outcomes(db: &TestDb, statements: &[&str]) -> Vec<String> {
    let host = start(db, &script(statements), &FakeEnv::default())
        .await
        .unwrap();
    let req = RunRequest {
        job: Some("sql-script".into()),
        ..RunRequest::manual()
    };
    let o = host.runner.run("kit", req).await.unwrap();
    assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
    host.runner.shutdown().await;
    serde_json::from_str(o.summary.as_deref().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_check_refuses_every_attack_and_passes_honest_sql() {
    for db in TestDb::all("grant_attacks").await.unwrap() {
        let own: &[&str] = if db.backend == "sqlite" {
            SQLITE_ATTACKS
        } else {
            POSTGRES_ATTACKS
        };
        // Nesting past the parser's depth limit.
        let deep = format!(
            "SELECT * FROM kit_items WHERE n = {}1{}",
            "(".repeat(100),
            ")".repeat(100)
        );
        let attacks: Vec<&str> = ATTACKS
            .iter()
            .chain(own)
            .copied()
            .chain([deep.as_str()])
            .collect();
        assert!(attacks.len() >= 25);
        let got = outcomes(&db, &attacks).await;
        for (sql, outcome) in attacks.iter().zip(&got) {
            assert_eq!(outcome, "denied", "{}: {sql}", db.backend);
        }
        let got = outcomes(&db, FINE).await;
        for (sql, outcome) in FINE.iter().zip(&got) {
            assert_eq!(outcome, "ok", "{}: {sql}", db.backend);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_type_round_trips() {
    // Written by one INSERT, then by upserts (on PostgreSQL one array per column).
    let dbs = TestDb::all("roundtrip").await.unwrap();
    for (db, write) in dbs.iter().flat_map(|db| [(db, "execute"), (db, "upsert")]) {
        let text = format!(
            "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\n\
             settings = {{ write = \"{write}\" }}\n"
        );
        let host = start(db, &text, &FakeEnv::default()).await.unwrap();
        let req = RunRequest {
            job: Some("roundtrip".into()),
            ..RunRequest::manual()
        };
        let o = host.runner.run("kit", req).await.unwrap();
        assert_eq!(
            o.status,
            RunStatus::Succeeded,
            "{} {write}: {o:?}",
            db.backend
        );
        let back: Vec<Value> = serde_json::from_str(o.summary.as_deref().unwrap()).unwrap();
        let doc = serde_json::json!({"a": [1, 2, {"b": null}], "c": "é✓"});
        assert_eq!(back[0], serde_json::json!({ "text": "rt" }));
        assert_eq!(back[1], serde_json::json!({ "integer": i64::MAX }));
        assert_eq!(back[2], serde_json::json!({ "null": null }));
        assert_eq!(back[3], serde_json::json!({ "real": 1234.5 }));
        assert_eq!(back[4], serde_json::json!({ "boolean": true }));
        assert_eq!(back[5], serde_json::json!({ "blob": [0, 1, 2, 254, 255] }));
        // SQLite has no JSON column type: a JSON document comes back as its text.
        match db.backend {
            "sqlite" => {
                let text = back[6]["text"].as_str().unwrap();
                assert_eq!(serde_json::from_str::<Value>(text).unwrap(), doc);
            }
            _ => assert_eq!(back[6], serde_json::json!({ "json": doc })),
        }
        // Timestamps come back in UTC, RFC 3339, on both.
        assert_eq!(
            back[7],
            serde_json::json!({ "timestamp": "2025-07-10T19:22:31.250Z" })
        );
        // Text where a timestamp belongs: PostgreSQL refuses it and the error names the
        // column; SQLite, whose columns take any value, stores it.
        match (db.backend, write) {
            ("postgres", "upsert") => {
                let refused = back
                    .get(8)
                    .and_then(|r| r["refused"].as_str())
                    .unwrap_or_default();
                assert!(
                    refused.contains("Invalid") && refused.contains("column at"),
                    "{refused}"
                );
            }
            _ => assert_eq!(back.len(), 8, "{} {write}: {back:?}", db.backend),
        }
        if write == "upsert" {
            // The row of NULLs went in, and its NULLs stayed NULL.
            let nulls = connector_tests::db::scalar(
                &db.url,
                "SELECT count(*) FROM kit_items WHERE id = 'rt-nulls' AND n = 0 \
                 AND label IS NULL AND score IS NULL AND flag IS NULL AND data IS NULL \
                 AND doc IS NULL AND at IS NULL",
            )
            .await
            .unwrap();
            assert_eq!(nulls, 1, "{}", db.backend);
        }
        host.runner.shutdown().await;
    }
}

/// The same statement called with a NULL, then with an integer and a real in the same positions,
/// works on both backends (on PostgreSQL a NULL goes as an untyped parameter whose type the server
/// infers; plugin SQL is not cached as a named prepared statement, so that inference never carries
/// over to a later call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_does_not_pin_a_parameter_type_for_later_calls() {
    for db in TestDb::all("null_then_value").await.unwrap() {
        let sql = "INSERT INTO probe (id, small, amount) VALUES ($1, $2, $3)";
        let call = |id: i64, small: &str, amount: &str| {
            format!("{{ sql = {sql:?}, params = [{id}, {small}, {amount}] }}")
        };
        let text = format!(
            "[connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"probe\", \"kit_items\"]\n\
             settings = {{ calls = [{}, {}, {}] }}\n",
            call(1, "{}", "{}"),
            call(2, "7", "12.5"),
            call(3, "8", "3"),
        );
        let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
        let create = match db.backend {
            "sqlite" => "CREATE TABLE probe (id INTEGER PRIMARY KEY, small INTEGER, amount REAL)",
            _ => "CREATE TABLE probe (id BIGINT PRIMARY KEY, small INTEGER, amount NUMERIC)",
        };
        host.runner.store.execute_sql(create).await.unwrap();
        let req = RunRequest {
            job: Some("sql-calls".into()),
            ..RunRequest::manual()
        };
        let o = host.runner.run("kit", req).await.unwrap();
        assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
        let got: Vec<String> = serde_json::from_str(o.summary.as_deref().unwrap()).unwrap();
        assert_eq!(got, ["ok", "ok", "ok"], "{}", db.backend);
        host.runner.shutdown().await;
    }
}
