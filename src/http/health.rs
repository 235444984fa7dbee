//! GET /healthz and GET /metrics: liveness and a few gauges, no session needed.

use std::fmt::Write;

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::histogram::Histogram;

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.actors.store.is_healthy() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"errors": [{"message": "Store unavailable"}]}))
    }
}

/// Prometheus text format: live actors by kind, events committed by tag, group-commit
/// flushes and the durability waits they answered, pending holds, how
/// many journal events the start-up replay applied, how late holds ended, and how long
/// flushes took.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = String::new();
    let _ = writeln!(text, "# TYPE ticketing_live_actors gauge");
    for (kind, live) in state.actors.live_actors() {
        let _ = writeln!(text, "ticketing_live_actors{{kind=\"{kind}\"}} {live}");
    }
    let _ = writeln!(text, "# TYPE ticketing_events_committed_total counter");
    for (tag, count) in state.actors.store.committed_counts() {
        let _ = writeln!(
            text,
            "ticketing_events_committed_total{{event=\"{tag}\"}} {count}"
        );
    }
    let (flushes, waits) = state.actors.store.flush_stats();
    let _ = writeln!(text, "# TYPE ticketing_store_flushes_total counter");
    let _ = writeln!(text, "ticketing_store_flushes_total {flushes}");
    let _ = writeln!(text, "# TYPE ticketing_store_durable_waits_total counter");
    let _ = writeln!(text, "ticketing_store_durable_waits_total {waits}");
    let _ = writeln!(text, "# TYPE ticketing_pending_holds gauge");
    let _ = writeln!(
        text,
        "ticketing_pending_holds {}",
        state.actors.store.pending_holds()
    );
    let _ = writeln!(text, "# TYPE ticketing_replayed_events_at_start gauge");
    let _ = writeln!(
        text,
        "ticketing_replayed_events_at_start {}",
        state.replayed_at_start
    );
    histogram(
        &mut text,
        "ticketing_hold_expiry_lag_ms",
        &state.actors.expiry_lag,
    );
    histogram(
        &mut text,
        "ticketing_store_flush_ms",
        state.actors.store.flush_ms(),
    );
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
