//! Tests of the fake-upstream toolkit, driven from the client side with reqwest.

mod faults;
mod log_routes;
mod quota;

use std::time::Duration;

/// A client that ignores proxies, does not follow redirects and gives up after `timeout`.
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .expect("reqwest client")
}

/// A client with a 5 s timeout.
fn default_client() -> reqwest::Client {
    client(Duration::from_secs(5))
}

/// The server handle can be shared with other tasks and threads.
#[test]
fn server_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<super::FakeServer>();
    assert_send_sync::<super::Recorded>();
}
