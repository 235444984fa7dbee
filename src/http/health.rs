//! GET /healthz, GET /readyz and GET /metrics: liveness, readiness and the metrics, no
//! session needed; and the gate that answers 503 to the API until start-up has finished.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::Envelope;
use crate::meters::Scrape;
use crate::readiness::{Readiness, Stage};

/// How long a client should wait before asking a starting shop again.
const RETRY_AFTER_SECS: &str = "1";

/// Liveness: whether the store answers.
///
/// 200 with the shop's version (load test reports name the build they measured), or 503
/// when the store has failed. No session needed.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, description = "The store has failed", body = Envelope),
    )
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.services.is_healthy() {
        HttpResponse::Ok().json(Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
        })
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"errors": [{"message": "Store unavailable"}]}))
    }
}

/// Readiness: whether start-up has finished.
///
/// 200 once start-up has replayed the journal, 503 until then. No session needed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Started", body = Ready),
        (status = 503, description = "Still starting", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready() {
        HttpResponse::Ok().json(Ready { status: "ready" })
    } else {
        starting()
    }
}

fn starting() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("retry-after", RETRY_AFTER_SECS))
        .json(serde_json::json!({"errors": [{"message": "The shop is starting; try again in a moment"}]}))
}

/// Answers 503 to every `/api/` request until start-up has finished: before the replay the
/// projections are not yet complete, so an answer could be wrong.
pub async fn until_ready(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ready = req
        .app_data::<web::Data<Readiness>>()
        .is_none_or(|readiness| readiness.is_ready());
    if ready || !req.path().starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let (req, _) = req.into_parts();
    Ok(ServiceResponse::new(req, starting()))
}

/// The metrics, in Prometheus's text format.
///
/// Every series the shop keeps, with the figures counted elsewhere (actors, events,
/// flushes, holds, start-up) read at the scrape. Served on the public address, unless
/// `--metrics-addr` gives the metrics an address of their own (then only there).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Every series", body = String,
            content_type = "text/plain; version=0.0.4"),
    )
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let replayed = match state.readiness.stage() {
        Stage::Ready { replayed } => replayed,
        Stage::Starting | Stage::Failed(_) => 0,
    };
    let scrape = Scrape {
        vitals: state.services.vitals(),
        ready: state.readiness.is_ready(),
        replayed,
        password_hashes_running: state.accounts.hashes_running(),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.meters.render(&scrape))
}

/// `/healthz`'s answer while the store answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// "ok".
    #[schema(example = "ok")]
    status: &'static str,
    /// The shop's version.
    version: &'static str,
}

/// `/readyz`'s answer once start-up has finished.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// "ready".
    #[schema(example = "ready")]
    status: &'static str,
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test, web};

    use super::*;

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn the_api_and_readyz_answer_503_until_start_up_ends_and_healthz_answers_throughout() {
        // Arrange
        let readiness = Readiness::new();
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(until_ready))
                .app_data(web::Data::new(readiness.clone()))
                .route("/readyz", web::get().to(readyz))
                .route("/api/tickets", web::get().to(ok))
                .route("/healthz", web::get().to(ok)),
        )
        .await;
        let status = |path: &'static str| {
            let app = &app;
            async move {
                let response =
                    test::call_service(app, test::TestRequest::get().uri(path).to_request()).await;
                let retry = response.headers().get("retry-after").cloned();
                (response.status().as_u16(), retry)
            }
        };
        // Act and assert: starting.
        assert_eq!(status("/api/tickets").await.0, 503);
        assert_eq!(
            status("/readyz").await,
            (503, Some("1".parse().expect("a header")))
        );
        assert_eq!(status("/healthz").await.0, 200);
        // Ready.
        readiness.set_ready(3);
        assert_eq!(status("/api/tickets").await.0, 200);
        assert_eq!(status("/readyz").await.0, 200);
    }
}
