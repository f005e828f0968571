//! Checks `[server]` and the per-connector keys the HTTP server reads: `trigger` (the bearer
//! token of manual runs) and `webhook` (how webhook callers are authenticated).

use std::net::SocketAddr;
use std::time::Duration;

use super::auth::{is_header_name, Use};
use super::raw::{Field, RawServer, RawTrigger, RawWebhook};
use super::validate::{join, Check, MIB};
use super::{SecretRef, ServerConfig, WebhookAuth, WebhookConfig};

/// Where `serve` listens unless told otherwise: loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Check<'_> {
    pub(super) fn server(&mut self, raw: Field<RawServer>) -> ServerConfig {
        let expected = "a table like { listen = \"127.0.0.1:8080\", grace = \"30s\" }";
        let server = self.take(raw, "server", expected).unwrap_or_default();
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse().expect("a valid address");
        let expected = "an address like \"127.0.0.1:8080\" or \"0.0.0.0:8080\"";
        let listen = match self.take(server.listen, "server.listen", expected) {
            None => default_listen,
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(addr) => addr,
                Err(_) => {
                    let why = format!("expected {expected}, found {text:?}");
                    self.problem("server.listen", why);
                    default_listen
                }
            },
        };
        let max_body = self.size(server.max_body, "server.max_body", MIB, (1024, 64 * MIB));
        let grace = self.duration(
            server.grace,
            "server.grace",
            Duration::from_secs(30),
            (Duration::ZERO, Duration::from_secs(3600)),
        );
        let watch = self.take(server.watch, "server.watch", "true or false");
        let admin_token = server.admin_token.is_set().then(|| {
            self.secret_ref(
                server.admin_token,
                "server.admin_token",
                "server.admin_token",
                Use::Authenticator,
            )
        });
        ServerConfig {
            listen,
            max_body,
            grace,
            watch: watch.unwrap_or(true),
            admin_token,
        }
    }

    pub(super) fn trigger(&mut self, raw: Field<RawTrigger>, at: &str) -> Option<SecretRef> {
        let expected = "a table like { token = \"RUN_TOKEN\" }";
        let trigger = self.take(raw, at, expected)?;
        let token_at = join(at, "token");
        if !trigger.token.is_set() {
            self.problem(
                &token_at,
                "expected the name of the variable holding the token",
            );
            return None;
        }
        Some(self.secret_ref(trigger.token, &token_at, at, Use::Authenticator))
    }

    pub(super) fn webhook(
        &mut self,
        raw: Field<RawWebhook>,
        at: &str,
        server_max_body: u64,
    ) -> Option<WebhookConfig> {
        let expected = "a table like { auth = \"hmac\", secret = \"HOOK_SECRET\", \
                        header = \"X-Signature\" }";
        let hook = self.take(raw, at, expected)?;
        let auth_at = join(at, "auth");
        let kinds = "none, bearer, basic or hmac";
        let kind = self.require(hook.auth, &auth_at, kinds);
        let secret_at = join(at, "secret");
        let unused = |cx: &mut Self, set: bool, key: &str, kind: &str| {
            if set {
                cx.problem(
                    &join(at, key),
                    format_args!("is not used by auth = {kind:?}"),
                );
            }
        };
        let auth = match kind.as_deref() {
            None => return None,
            Some("none") => {
                unused(self, hook.secret.is_set(), "secret", "none");
                unused(self, hook.username.is_set(), "username", "none");
                unused(self, hook.header.is_set(), "header", "none");
                unused(self, hook.prefix.is_set(), "prefix", "none");
                WebhookAuth::None
            }
            Some("bearer") => {
                unused(self, hook.username.is_set(), "username", "bearer");
                unused(self, hook.header.is_set(), "header", "bearer");
                unused(self, hook.prefix.is_set(), "prefix", "bearer");
                let secret = self.required_secret(hook.secret, &secret_at, at);
                WebhookAuth::Bearer { secret }
            }
            Some("basic") => {
                unused(self, hook.header.is_set(), "header", "basic");
                unused(self, hook.prefix.is_set(), "prefix", "basic");
                let user_at = join(at, "username");
                let username = if hook.username.is_set() {
                    self.secret_ref(hook.username, &user_at, at, Use::BasicUser)
                } else {
                    self.problem(
                        &user_at,
                        "expected the name of the variable holding the user name",
                    );
                    SecretRef { env: String::new() }
                };
                let password = self.required_secret(hook.secret, &secret_at, at);
                WebhookAuth::Basic { username, password }
            }
            Some("hmac") => {
                unused(self, hook.username.is_set(), "username", "hmac");
                let secret = self.required_secret(hook.secret, &secret_at, at);
                let header_at = join(at, "header");
                let header = self
                    .take(
                        hook.header,
                        &header_at,
                        "a header name like \"X-Signature\"",
                    )
                    .unwrap_or_else(|| "x-signature".to_owned());
                if !is_header_name(&header) {
                    self.problem(
                        &header_at,
                        format_args!(
                            "expected a header name like \"X-Signature\", found {header:?}"
                        ),
                    );
                }
                let prefix = self
                    .take(hook.prefix, &join(at, "prefix"), "text like \"sha256=\"")
                    .unwrap_or_default();
                WebhookAuth::Hmac {
                    secret,
                    header: header.to_ascii_lowercase(),
                    prefix,
                }
            }
            Some(other) => {
                self.problem(&auth_at, format_args!("expected {kinds}, found {other:?}"));
                return None;
            }
        };
        let max_body = self.size(
            hook.max_body,
            &join(at, "max_body"),
            server_max_body,
            (1, server_max_body),
        );
        Some(WebhookConfig { auth, max_body })
    }

    fn required_secret(&mut self, field: Field<String>, at: &str, profile_at: &str) -> SecretRef {
        if !field.is_set() {
            self.problem(at, "expected the name of the variable holding the secret");
            return SecretRef { env: String::new() };
        }
        self.secret_ref(field, at, profile_at, Use::Authenticator)
    }
}
