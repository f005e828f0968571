//! Error answers: PostgREST's `{code,details,hint,message}` (its own `PGRST…` codes and the
//! Postgres SQLSTATEs it passes on, with its status mapping) and the gateway's `{message,hint}`.

use super::filter::ParseFailure;
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use serde::Serialize;

/// An error answer, ready to render.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) body: String,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

/// PostgREST's error body. Fields in alphabetical order, as PostgREST (aeson) writes them.
#[derive(Serialize)]
struct PgrstBody<'a> {
    code: &'a str,
    details: Option<&'a str>,
    hint: Option<&'a str>,
    message: &'a str,
}

/// The API gateway's error body (message first, as Supabase sends it).
#[derive(Serialize)]
struct GatewayBody<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

impl ApiError {
    /// A PostgREST error; it also carries `Proxy-Status: PostgREST; error=CODE` like PostgREST's.
    pub(super) fn pgrst(
        status: StatusCode,
        code: &str,
        message: &str,
        details: Option<&str>,
        hint: Option<&str>,
    ) -> Self {
        let body = PgrstBody {
            code,
            details,
            hint,
            message,
        };
        let mut headers = Vec::new();
        if let Ok(v) = HeaderValue::from_str(&format!("PostgREST; error={code}")) {
            headers.push((HeaderName::from_static("proxy-status"), v));
        }
        ApiError {
            status,
            body: serde_json::to_string(&body).unwrap_or_default(),
            headers,
        }
    }

    /// A Postgres error passed on by PostgREST, with the status PostgREST maps its SQLSTATE to.
    pub(super) fn postgres(code: &str, message: &str, hint: Option<&str>) -> Self {
        let status = match code {
            "42883" | "42P01" => StatusCode::NOT_FOUND,
            "23503" | "23505" => StatusCode::CONFLICT,
            c if c.starts_with("08") || c.starts_with("53") => StatusCode::SERVICE_UNAVAILABLE,
            c if c.starts_with("28") => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::pgrst(status, code, message, None, hint)
    }

    /// `42703`: Postgres does not know the column.
    pub(super) fn undefined_column(column: &str) -> Self {
        Self::postgres(
            "42703",
            &format!("column leads.{column} does not exist"),
            None,
        )
    }

    /// `PGRST100`: a query parameter PostgREST's parser rejects.
    pub(super) fn parse(what: &str, input: &str, column: usize, details: &str) -> Self {
        let message = format!("\"failed to parse {what} ({input})\" (line 1, column {column})");
        Self::pgrst(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            &message,
            Some(details),
            None,
        )
    }

    /// `PGRST100` from a parser failure in the parameter `what` (`filter`, `order`, …).
    pub(super) fn from_parse(what: &str, input: &str, f: &ParseFailure) -> Self {
        Self::parse(what, input, f.column, &f.details())
    }

    /// `PGRST108`: a path names a resource that is not embedded (this table embeds nothing).
    pub(super) fn not_embedded(resource: &str) -> Self {
        Self::pgrst(
            StatusCode::BAD_REQUEST,
            "PGRST108",
            &format!("'{resource}' is not an embedded resource in this request"),
            None,
            Some(&format!(
                "Verify that '{resource}' is included in the 'select' query parameter."
            )),
        )
    }

    /// `PGRST103`: a range PostgREST cannot serve (416).
    pub(super) fn range(details: &str) -> Self {
        Self::pgrst(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            "Requested range not satisfiable",
            Some(details),
            None,
        )
    }

    /// Something valid for PostgREST that this fake does not implement: a `501` with a code no
    /// real server sends, so a test can never mistake it for a real answer.
    pub(super) fn unsupported(what: &str) -> Self {
        Self::pgrst(
            StatusCode::NOT_IMPLEMENTED,
            "FAKE501",
            &format!("{what} is not implemented by the fake PostgREST"),
            None,
            None,
        )
    }

    /// A `401` from the API gateway in front of PostgREST.
    pub(super) fn gateway(message: &str, hint: Option<&str>) -> Self {
        let body = GatewayBody { message, hint };
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: serde_json::to_string(&body).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the answer.
    pub(super) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    /// The HTTP answer.
    pub(super) fn into_response(self) -> Response<Body> {
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (name, value) in self.headers {
            res.headers_mut().insert(name, value);
        }
        res
    }
}
