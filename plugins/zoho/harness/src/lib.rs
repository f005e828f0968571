//! The zoho connector's host side: [`fake`], a fake Zoho (Accounts, CRM, Billing) with Zoho's
//! shapes and limits; [`setup`], the fake and the connector's entry wired together with
//! generated service packages (for the tests and the demo); and [`demo`], its part in
//! `cargo run -p connector-demo`. Its integration tests are in `tests/`.

pub mod demo;
pub mod fake;
pub mod setup;

/// The operators' queries, as the connector's README gives them (its ```sql blocks, in order):
/// status counts per system, recent errors per product, rate-limit hits. The tests run them on
/// both backends, so the README cannot drift from the tables.
pub static OPERATOR_QUERIES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../../README.md")
            .split("```sql\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .map(str::trim)
            .collect()
    });
