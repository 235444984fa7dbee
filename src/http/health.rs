//! GET /healthz, GET /readyz and GET /metrics: liveness, readiness and a few gauges, no
//! session needed; and the gate that answers 503 to the API until start-up has finished.

use std::fmt::Write;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;
use crate::histogram::Histogram;
use crate::readiness::{Readiness, Stage};

/// How long a client should wait before asking a starting shop again.
const RETRY_AFTER_SECS: &str = "1";

/// 200 with the shop's version (load test reports name the build they measured), or 503
/// when the store has failed.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.services.is_healthy() {
        HttpResponse::Ok()
            .json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"errors": [{"message": "Store unavailable"}]}))
    }
}

/// 200 once start-up has replayed the journal, 503 until then.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.is_ready() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
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

/// Prometheus text format: live actors by kind, events committed by tag, ticket changes
/// (the one `TicketUpdated` kind told apart as edits, releases and sales), group-commit
/// flushes and the durability waits they answered, pending holds, how many journal events
/// the start-up replay applied, how late holds ended, and how long flushes took.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let vitals = state.services.vitals();
    let replayed = match state.readiness.stage() {
        Stage::Ready { replayed } => replayed,
        Stage::Starting | Stage::Failed(_) => 0,
    };
    let mut text = String::new();
    let _ = writeln!(text, "# TYPE ticketing_live_actors gauge");
    for (kind, live) in vitals.live_actors {
        let _ = writeln!(text, "ticketing_live_actors{{kind=\"{kind}\"}} {live}");
    }
    let _ = writeln!(text, "# TYPE ticketing_events_committed_total counter");
    for (tag, count) in vitals.committed {
        let _ = writeln!(
            text,
            "ticketing_events_committed_total{{event=\"{tag}\"}} {count}"
        );
    }
    let _ = writeln!(text, "# TYPE ticketing_ticket_changes_total counter");
    for (change, count) in vitals.ticket_changes {
        let _ = writeln!(
            text,
            "ticketing_ticket_changes_total{{change=\"{change}\"}} {count}"
        );
    }
    let (flushes, waits) = vitals.flush_stats;
    let values: [(&str, &str, u64); 9] = [
        ("ticketing_store_flushes_total", "counter", flushes),
        ("ticketing_store_durable_waits_total", "counter", waits),
        ("ticketing_pending_holds", "gauge", vitals.pending_holds),
        ("ticketing_replayed_events_at_start", "gauge", replayed),
        (
            "ticketing_ready",
            "gauge",
            u64::from(state.readiness.is_ready()),
        ),
        (
            "ticketing_password_hashes_running",
            "gauge",
            state.accounts.hashes_running() as u64,
        ),
        (
            "ticketing_payments_for_the_operator",
            "gauge",
            vitals.payments_for_the_operator as u64,
        ),
        (
            "ticketing_store_unpersisted_changes",
            "gauge",
            vitals.unpersisted_changes as u64,
        ),
        (
            "ticketing_store_persisted_generations_total",
            "counter",
            vitals.persisted_generations,
        ),
    ];
    for (name, kind, value) in values {
        let _ = writeln!(text, "# TYPE {name} {kind}");
        let _ = writeln!(text, "{name} {value}");
    }
    histogram(&mut text, "ticketing_hold_expiry_lag_ms", vitals.expiry_lag);
    histogram(&mut text, "ticketing_store_flush_ms", vitals.flush_ms);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// Writes one histogram in the Prometheus text format.
fn histogram(text: &mut String, name: &str, histogram: &Histogram) {
    let _ = writeln!(text, "# TYPE {name} histogram");
    let (buckets, sum) = histogram.snapshot();
    let count = buckets.last().map_or(0, |(_, count)| *count);
    for (bound, cumulative) in buckets {
        let le = bound.map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
        let _ = writeln!(text, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(text, "{name}_sum {sum}");
    let _ = writeln!(text, "{name}_count {count}");
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
