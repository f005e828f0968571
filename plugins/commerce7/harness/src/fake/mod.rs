//! A fake Commerce7 API for the commerce7 connector's tests and the demo.
//!
//! [`Commerce7Data`] holds one or more tenants' clubs, customers, club memberships and orders
//! (generated reproducibly by [`generate`], or built by a test) and lets a test change them,
//! move the clock, and script failures. [`router`] serves, under `/v1/`:
//!
//! - `GET /club`, `GET /club/{id}`;
//! - `GET|POST /club-membership`, `GET|PUT|DELETE /club-membership/{id}` (create and cancel
//!   with Commerce7's validation: `422 validationError` bodies);
//! - `GET /customer`, `GET /customer/{id}` (order information derived from orders, `clubs[]`
//!   from active memberships);
//! - `GET /order`, `GET /order/{id}` (filters `orderPaidDate=gte:ISO`, `updatedAt=…`).
//!
//! Lists answer page mode (`page`, `limit` 1..=50, `{"<plural>":[…],"total":N}`) or cursor mode
//! (`cursor=start`, then the returned `cursor` until it is null). Every request needs HTTP Basic
//! `app_id:secret` and a `tenant` header the data knows ([`Commerce7Data::set_credentials`]);
//! each tenant gets 100 requests a sliding minute, cursor mode exempt (switch with
//! [`Commerce7Data::set_rate_limit`]). Errors are `{"statusCode","type","message","errors"}`.
//! Transport faults (resets, hangs, malformed JSON) come from [`fake_upstreams::FakeServer`];
//! membership failures from [`Commerce7Data::fail_next`] and [`Commerce7Data::fail_for_customer`].
//!
//! Where the documentation is silent the fake chooses, and says so here:
//! - a missing or unknown `tenant` answers 401 like bad credentials;
//! - the 429 body is `{"statusCode":429,"type":"tooManyRequests","message":"Too many
//!   requests","errors":[]}` without `Retry-After` (both unconfirmed; see [`RateLimit`]);
//! - field validation answers 422 with [`VALIDATION_MESSAGE`] and `errors[]`, a broken rule
//!   (already an active member, already cancelled) 422 *without* `errors`, as the real API was
//!   seen to answer other rule errors;
//! - lists are ordered by `updatedAt`, then `id`; a cursor page holding the last row answers
//!   `"cursor": null`; unknown query parameters are ignored;
//! - POST answers 200, DELETE 200 with the deleted record;
//! - orders and membership changes stamp the customer's `updatedAt`.
//!
//! ```no_run
//! # async fn demo() {
//! use commerce7_harness::fake::{router, Commerce7Data};
//! use fake_upstreams::FakeServer;
//! let data = Commerce7Data::generate("example-tenant", 7, 300, 3);
//! let server = FakeServer::start(router(data.clone())).await;
//! // GET {server.base_url()}/v1/customer?cursor=start with Basic auth and `tenant: example-tenant`
//! # }
//! ```

mod auth;
mod data;
mod error;
mod generate;
mod memberships;
mod query;
mod quota;
mod routes;
mod store;
mod table;
mod tenant;
mod webhooks;

#[cfg(test)]
mod tests;

pub use data::{
    format_date, parse_date, Channel, Club, ClubType, Contact, Customer, DeliveryMethod,
    Membership, MembershipStatus, Order, OrderItem, PaymentStatus,
};
pub use error::VALIDATION_MESSAGE;
pub use generate::{generate, Dataset, Rng};
pub use query::MAX_LIMIT;
pub use quota::{RateLimit, DEEP_PAGE};
pub use routes::router;
pub use store::{Commerce7Data, DEFAULT_APP_ID, DEFAULT_SECRET};
pub use webhooks::{
    order_webhook_body, post_webhook, send_webhook, send_webhook_without_auth, webhook_body,
    WEBHOOK_USER,
};
