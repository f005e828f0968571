//! The commerce7 connector's host side: [`fake`], a fake Commerce7 (API, quota, faults, webhook
//! sender); [`setup`], the fake and the connector's entry wired together (for the tests and
//! the demo); and [`demo`], its part in `cargo run -p connector-demo`. Its integration tests are
//! in `tests/`.

pub mod demo;
pub mod fake;
pub mod setup;
