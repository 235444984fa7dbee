//! Per-request tracing: a request id, a span around the request, and safe 5xx bodies.
//!
//! Every response carries `x-request-id`. Any 5xx body (but a deliberate 503 with
//! Retry-After) is replaced by the generic envelope naming that id, so no internal detail can
//! reach a client whatever produced the error; the cause is in the logs under the same id.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::error::{Envelope, FieldError};

pub async fn trace_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!(
        "HTTP request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
        status = tracing::field::Empty,
    );
    let response = next.call(req).instrument(span.clone()).await?;
    let status = response.status();
    span.record("status", status.as_u16());
    // A deliberate 503 with Retry-After (starting up, too busy) keeps its own body: it
    // says what to do, and carries nothing internal.
    let deliberate = status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key("retry-after");
    let mut response = if status.is_server_error() && !deliberate {
        let body = Envelope {
            errors: vec![FieldError {
                message: format!("Internal server error (request id {request_id})"),
                field: None,
            }],
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (req, mut res) = response.into_parts();
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ServiceResponse::new(req, res.set_body(BoxBody::new(bytes)))
    } else {
        response.map_into_boxed_body()
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
