//! Defences every request passes through: the cross-origin check for cookie sessions and the
//! headers that keep browsers from misreading answers (DESIGN §8).
//!
//! A browser sends the `session` cookie with every request to the shop, including forms
//! posted by another site (a sibling subdomain counts as same-site for SameSite=Lax), so a
//! cookie-authenticated POST, PUT or DELETE whose `Origin` is not the shop's own is refused
//! with 403. A request with `Authorization: Bearer` is not affected: another site cannot
//! make a browser send that header. The check stays on with `--limits off`.
//!
//! A body must arrive within `--body-timeout-ms` of the headers (actix-web times only the
//! headers): a client sending one byte every few seconds would otherwise hold a connection
//! forever. Past it, 408 and the connection is closed.

use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use futures::StreamExt;

use super::auth::{SESSION_COOKIE, bearer_token};
use super::error::ApiError;

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_foreign_cookie_write(&req) {
        let (req, _) = req.into_parts();
        let response = actix_web::ResponseError::error_response(&ApiError::ForeignOrigin);
        return Ok(ServiceResponse::new(req, response));
    }
    let authenticated =
        req.cookie(SESSION_COOKIE).is_some() || req.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // An answer about a signed-in user must not be kept by a shared cache or the browser's.
    if authenticated && response.status() != StatusCode::NOT_MODIFIED {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// A state-changing request that rides on the session cookie from another origin.
fn is_foreign_cookie_write(req: &ServiceRequest) -> bool {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE);
    if !writes || req.cookie(SESSION_COOKIE).is_none() || bearer_token(req.headers()).is_some() {
        return false;
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        // Browsers send Origin with every cross-origin POST, PUT and DELETE; a request
        // without one comes from a non-browser client or the shop's own page.
        return false;
    };
    let host = req.connection_info().host().to_owned();
    origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .is_none_or(|(_, authority)| !authority.eq_ignore_ascii_case(&host))
}

/// Gives the request's body until `timeout` from now to arrive; a late body ends in an I/O
/// error of kind `TimedOut`, which the extractors' error handlers answer with 408.
pub async fn body_timeout(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    timeout: Duration,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let payload = req.take_payload();
    let timed = futures::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => Some((Err(timed_out()), None)),
        }
    });
    let timed: std::pin::Pin<Box<dyn futures::Stream<Item = _>>> = Box::pin(timed);
    req.set_payload(Payload::from(timed));
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request body did not arrive in time",
    ))
}

/// Whether a body read failed because the body came too late.
pub fn is_body_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}
