use connector_host::manifest::Manifest;
use connector_host::runner::Runner;
use connector_host::runtime::CacheOutcome;
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_unchanged_plugins_from_the_compile_cache() {
    let db = TestDb::sqlite().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(
        &path,
        manifest(
            &db,
            "[connectors.kit]\nplugin = {plugin:testkit}\ntables = [\"kit_items\"]\n",
        ),
    )
    .unwrap();
    let env = FakeEnv::default();

    let (m, s) = Manifest::load(&path, &env).unwrap();
    let cold = Runner::start(m, s).await.unwrap();
    assert_eq!(
        cold.cache_outcomes(),
        vec![("kit".to_owned(), CacheOutcome::Miss)]
    );
    cold.shutdown().await;

    let (m, s) = Manifest::load(&path, &env).unwrap();
    let warm = Runner::start(m, s).await.unwrap();
    assert_eq!(
        warm.cache_outcomes(),
        vec![("kit".to_owned(), CacheOutcome::Hit)]
    );
    assert_eq!(warm.connectors()["kit"].info.name, "testkit");
    warm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_component_is_refused_with_its_name() {
    let db = TestDb::sqlite().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not wasm at all").unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(
        &path,
        manifest(
            &db,
            &format!(
                "[connectors.bogus]\nplugin = {:?}\n",
                bogus.display().to_string()
            ),
        ),
    )
    .unwrap();
    let (m, s) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    let err = Runner::start(m, s)
        .await
        .err()
        .expect("a bogus plugin must not load");
    let text = format!("{err:#}");
    assert!(
        text.contains("connectors.bogus.plugin: cannot compile plugin"),
        "{text}"
    );
    assert!(text.contains("bogus.wasm"), "{text}");
}
