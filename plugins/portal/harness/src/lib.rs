//! The portal connector's host side: [`fake`], its fake upstream for tests and the demo.

pub mod fake;
