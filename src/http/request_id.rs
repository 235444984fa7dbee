//! Request ids, and safe 5xx bodies.
//!
//! Every request has an id: the caller's `X-Request-Id` when it is a plausible one (a proxy
//! in front, or a client following its own calls), a fresh one otherwise. `access_log` picks
//! it as the request arrives and keeps it in the request's extensions, so the access line, the
//! request's span, the `x-request-id` response header and any 5xx body name the same id.
//!
//! Any 5xx body (but a deliberate 503 with Retry-After) is replaced by the generic envelope
//! naming that id, so no internal detail can reach a client whatever produced the error; the
//! cause is in the logs under the same id.

use std::fmt;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;

use super::error::{Envelope, FieldError};

/// The request and response header that carries the id.
const HEADER: &str = "x-request-id";

/// The longest incoming id kept.
const MAX_LEN: usize = 64;

/// One request's id, as the logs and the `x-request-id` header show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's `X-Request-Id` when it is 1 to 64 ASCII letters, digits, '-', '_' or
    /// '.'; otherwise a fresh id. Anything else is replaced rather than cleaned: the id goes
    /// into every log line of the request, and must not be able to forge one.
    pub fn from_headers(headers: &HeaderMap) -> RequestId {
        let incoming = headers
            .get(HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| plausible(id));
        match incoming {
            Some(id) => RequestId(id.to_owned()),
            None => RequestId::fresh(),
        }
    }

    /// A new random id: 16 hex digits.
    pub fn fresh() -> RequestId {
        RequestId(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn plausible(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Answers with the request's id in `x-request-id`, and a 5xx's body replaced by the
/// envelope naming the id.
pub async fn answer_with_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Set by `access_log` as the request arrived; a fresh one only where it does not run
    // (unit tests of this middleware alone).
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId::from_headers(req.headers()));
    let response = next.call(req).await?.map_into_boxed_body();
    let status = response.status();
    // A deliberate 503 with Retry-After (starting up, too busy) keeps its own body: it
    // says what to do, and carries nothing internal.
    let deliberate = status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key("retry-after");
    let mut response = if status.is_server_error() && !deliberate {
        let body = Envelope {
            errors: vec![FieldError {
                message: format!("{} (request id {request_id})", server_fault(status)),
                field: None,
            }],
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (req, mut res) = response.into_parts();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ServiceResponse::new(req, res.set_body(BoxBody::new(bytes)))
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}

/// What a 5xx body says, in the envelope's wording: a 503 stays an unavailability, every
/// other one is a fault.
fn server_fault(status: actix_web::http::StatusCode) -> &'static str {
    if status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        "Service unavailable"
    } else {
        "Internal server error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(id).expect("a header value");
        headers.insert(HeaderName::from_static(HEADER), value);
        headers
    }

    #[test]
    fn a_plausible_incoming_id_is_kept_and_anything_else_is_replaced() {
        let (longest, too_long) = ("a".repeat(64), "a".repeat(65));
        let kept = [
            ("0123456789abcdef", "our own shape"),
            ("6f1c2a1e-8a3b-4c2d-9e1f-0a1b2c3d4e5f", "a UUID"),
            ("lb.trace_42", "letters, digits, dots and underscores"),
            (longest.as_str(), "64 characters"),
        ];
        for (id, why) in kept {
            assert_eq!(RequestId::from_headers(&with_id(id)).as_str(), id, "{why}");
        }
        let replaced = [
            ("", "empty"),
            (too_long.as_str(), "longer than 64"),
            ("two words", "a space"),
            ("id\"quoted\"", "quotes could break a JSON log reader"),
            (
                "a=b",
                "an equals sign could forge a field in a text log line",
            ),
        ];
        for (id, why) in replaced {
            let got = RequestId::from_headers(&with_id(id));
            assert_ne!(got.as_str(), id, "{why}");
            assert!(plausible(got.as_str()), "the fresh id is plausible: {why}");
        }
        let fresh = RequestId::from_headers(&HeaderMap::new());
        assert_eq!(fresh.as_str().len(), 16, "no header: a fresh id");
    }
}
