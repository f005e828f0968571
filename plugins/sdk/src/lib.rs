//! The guest SDK for connector-host plugins: a small, documented API over the `connector` WIT
//! world, so that writing a connector never needs the raw `wit-bindgen` bindings.
//!
//! A connector is a type implementing [`Connector`], exported with [`export_connector!`]:
//!
//! ```ignore
//! use connector_sdk::{Connector, Error, Info, RunContext, RunSummary};
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn describe() -> Info {
//!         Info::new("hello", env!("CARGO_PKG_VERSION"), "says hello")
//!     }
//!     fn run(ctx: RunContext) -> Result<RunSummary, Error> {
//!         connector_sdk::log::info("hello", &[("job", &ctx.job)]);
//!         Ok(RunSummary::new("said hello"))
//!     }
//! }
//!
//! connector_sdk::export_connector!(Hello);
//! ```
//!
//! Every host call is bounded by the host's limits (see the host README, "Limits"); a call past
//! one answers [`Error::TooLarge`] or [`Error::Invalid`] rather than trapping.

#![warn(missing_docs)]

// Lets the generated bindings name this crate by its public path from inside it too.
extern crate self as connector_sdk;

pub mod config;
pub mod db;
pub mod http;
pub mod log;
pub mod queue;
pub mod state;
pub mod time;

mod types;

#[doc(hidden)]
pub mod bindings {
    //! The raw bindings, generated from `wit/` in this crate. Not part of the SDK API.
    #![allow(missing_docs, clippy::too_many_arguments)]
    wit_bindgen::generate!({
        path: "wit",
        world: "connector",
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "connector_sdk::bindings",
        runtime_path: "connector_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    //! Re-exports the export macro needs; not part of the SDK's API.
    pub use wit_bindgen;
}

pub use types::*;

/// What a connector implements. The host calls these through the component's exports.
///
/// Only [`Connector::describe`] and [`Connector::run`] are required; the webhook and job
/// handlers answer "unsupported" until a connector overrides them.
pub trait Connector {
    /// Describes the connector: name, version, the settings, auth profiles and tables it uses.
    fn describe() -> Info;

    /// One run: scheduled, manual, catch-up or retry. Returning `Err` fails the run; writes since
    /// the last [`state::checkpoint`] are rolled back.
    fn run(ctx: RunContext) -> Result<RunSummary, Error>;

    /// An inbound webhook the host has already authenticated.
    fn handle_webhook(event: Webhook) -> Result<WebhookReply, Error> {
        let _ = event;
        Err(Error::Unsupported(
            "this connector takes no webhooks".into(),
        ))
    }

    /// One queued job. [`JobError::Retry`] asks for another attempt per the queue's back-off;
    /// [`JobError::Permanent`] fails the job at once.
    fn handle_job(job: Job) -> Result<(), JobError> {
        Err(JobError::Permanent(format!(
            "this connector handles no jobs (got kind {:?})",
            job.kind
        )))
    }
}

/// Exports a [`Connector`] implementation as the component's `connector` world.
///
/// Use it once per plugin crate, at the crate root: `connector_sdk::export_connector!(MyConnector);`
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[doc(hidden)]
        pub struct __ConnectorSdkExport;

        impl $crate::bindings::Guest for __ConnectorSdkExport {
            fn describe() -> $crate::Info {
                <$connector as $crate::Connector>::describe()
            }
            fn run(context: $crate::RunContext) -> Result<$crate::RunSummary, $crate::Error> {
                <$connector as $crate::Connector>::run(context)
            }
            fn handle_webhook(
                event: $crate::Webhook,
            ) -> Result<$crate::WebhookReply, $crate::Error> {
                <$connector as $crate::Connector>::handle_webhook(event)
            }
            fn handle_job(job: $crate::Job) -> Result<(), $crate::JobError> {
                <$connector as $crate::Connector>::handle_job(job)
            }
        }

        $crate::bindings::__export_connector_world!(__ConnectorSdkExport with_types_in $crate::bindings);
    };
}
