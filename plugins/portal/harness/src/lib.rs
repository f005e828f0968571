//! The portal connector's host side: [`fake`], a fake sales portal (Supabase's PostgREST, the
//! `leads` table); [`setup`], both fakes (the Zoho one from `zoho-harness`) and the connector's
//! entry wired together, for the tests and the demo; and [`demo`], its part in
//! `cargo run -p connector-demo`. Its integration tests are in `tests/`.

pub mod demo;
pub mod fake;
pub mod setup;
