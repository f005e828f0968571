//! The ploomes connector's host side: [`fake`], a fake Ploomes API (generated data, the OData
//! subset the connector uses, quotas and faults from `fake-upstreams`), and [`demo`], its part
//! in `cargo run -p connector-demo`. Its integration tests are in `tests/`, its benchmark in
//! `benches/`.

pub mod demo;
pub mod fake;
