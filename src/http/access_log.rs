//! The access log and each request's span: tracing-actix-web's `TracingLogger` with a
//! `RootSpanBuilder` of ours, which also counts the request for `/metrics`.
//!
//! As a request arrives: its id (`request_id::RequestId`, the caller's `X-Request-Id` when
//! plausible), the span `HTTP request` (request_id, method, path) that every log line of the
//! request is written in, and the time. When its response's head is ready: one line at
//! `info`, `HTTP request served` (request_id, method, route, path, status, latency_ms), and
//! the request counted by route pattern and status (`Meters::record_request`). So the latency
//! ends at the head: a stream (the ticket feed) has its line when it starts.
//!
//! The line's target is this module, `ticketing::http::access_log`, and the span's
//! `ticketing::http`: `RUST_LOG=info,ticketing::http::access_log=warn` turns the access log
//! off and keeps request ids on every other line. tracing-actix-web also puts a UUID of its
//! own (`tracing_actix_web::RequestId`) in every request's extensions: it is not the shop's
//! id; extract `request_id::RequestId` instead.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{HttpMessage, web};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use super::AppState;
use super::request_id::RequestId;

/// The route label of a request no route matched (a 404): one label for every such path,
/// whatever a client asks for.
pub const UNMATCHED: &str = "unmatched";

/// The `RootSpanBuilder` of `TracingLogger<AccessLog>`.
pub struct AccessLog;

/// When the request arrived, in its extensions from arrival to response.
#[derive(Clone, Copy)]
struct Arrival(Instant);

impl RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = RequestId::from_headers(request.headers());
        let span = tracing::info_span!(
            target: "ticketing::http",
            "HTTP request",
            request_id = %id,
            method = %request.method(),
            path = %request.path(),
        );
        let mut extensions = request.extensions_mut();
        extensions.insert(id);
        extensions.insert(Arrival(Instant::now()));
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        match outcome {
            Ok(response) => served(response),
            // Handlers' errors arrive as responses; an error from a middleware has no request
            // left to read, so its line is written in the span, which names the request.
            Err(error) => tracing::info!(
                parent: &span,
                status = error.as_response_error().status_code().as_u16(),
                "HTTP request served"
            ),
        }
    }
}

/// Writes the access line and counts the request.
fn served<B>(response: &ServiceResponse<B>) {
    let request = response.request();
    let (id, took) = {
        let extensions = request.extensions();
        let id = extensions.get::<RequestId>().cloned();
        let took = extensions
            .get::<Arrival>()
            .map_or(Duration::ZERO, |Arrival(at)| at.elapsed());
        (id, took)
    };
    // After routing this is a lookup of the matched resource; only a path no route matched
    // is searched for again (and found in none).
    let route = request
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let status = response.status().as_u16();
    // No parent: every field is on the line itself, so it is not repeated as span context.
    tracing::info!(
        parent: None,
        request_id = %id.as_ref().map_or("", RequestId::as_str),
        method = %request.method(),
        route = %route,
        path = %request.path(),
        status,
        latency_ms = took.as_micros() as f64 / 1000.0,
        "HTTP request served"
    );
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        state
            .meters
            .record_request(request.method().as_str(), route, status, took);
    }
}
