//! Latency histograms and status counts per kind of request, and their summaries.
//!
//! Pure bookkeeping: callers pass the latency they measured, so nothing here reads a clock
//! or knows HTTP. It may use hdrhistogram and serde, and nothing of the server.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A kind of request, as the report groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// POST /api/users/signup
    Signup,
    /// POST /api/tickets
    CreateTicket,
    /// GET /api/tickets
    ListTickets,
    /// GET /api/tickets/:id
    ShowTicket,
    /// POST /api/orders
    Reserve,
    /// POST /api/payments
    Pay,
    /// DELETE /api/orders/:id
    Cancel,
    /// GET /api/orders
    ListOrders,
}

impl Kind {
    /// The name the human summary shows.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Signup => "signup",
            Kind::CreateTicket => "create ticket",
            Kind::ListTickets => "list tickets",
            Kind::ShowTicket => "show ticket",
            Kind::Reserve => "reserve",
            Kind::Pay => "pay",
            Kind::Cancel => "cancel",
            Kind::ListOrders => "list orders",
        }
    }
}

/// What came back for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status, with a body of the promised shape when it is the success status.
    Status(u16),
    /// The success status, but a body the API does not promise (not JSON, missing fields).
    Invalid(u16),
    /// No answer: connection refused or reset, or the request timed out.
    Error,
}

impl Answer {
    /// The key the status counts use: "201", "201 invalid body", "error".
    pub fn key(self) -> String {
        match self {
            Answer::Status(code) => code.to_string(),
            Answer::Invalid(code) => format!("{code} invalid body"),
            Answer::Error => "error".to_owned(),
        }
    }

    /// Whether this is exactly the status `code`.
    pub fn is(self, code: u16) -> bool {
        self == Answer::Status(code)
    }
}

/// Latencies are recorded in microseconds, from 1 µs to one hour, at 3 significant digits.
const LOWEST_MICROS: u64 = 1;
const HIGHEST_MICROS: u64 = 3_600_000_000;
const DIGITS: u8 = 3;

struct KindStats {
    latency: Histogram<u64>,
    statuses: BTreeMap<String, u64>,
}

impl KindStats {
    fn new() -> KindStats {
        KindStats {
            latency: Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, DIGITS)
                .expect("1 µs to 1 h at 3 significant digits are valid histogram bounds"),
            statuses: BTreeMap::new(),
        }
    }
}

/// Collects every request of one phase (setup, run or audit). Shared by all the tasks of
/// that phase; the lock is held only to add one value.
#[derive(Default)]
pub struct Recorder {
    kinds: Mutex<BTreeMap<Kind, KindStats>>,
}

impl Recorder {
    /// An empty recorder, one per phase, shared by that phase's tasks through an `Arc`.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Adds one request: its kind, what came back, and how long it took from its intended
    /// send time to the last byte of the answer.
    pub fn record(&self, kind: Kind, answer: Answer, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // A panic while recording cannot leave a histogram half-updated, so a poisoned
        // lock still guards consistent data.
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = kinds.entry(kind).or_insert_with(KindStats::new);
        stats.latency.saturating_record(micros.max(LOWEST_MICROS));
        *stats.statuses.entry(answer.key()).or_insert(0) += 1;
    }

    /// The summary of everything recorded, over a phase that lasted `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> PhaseSummary {
        let kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let kinds: BTreeMap<Kind, KindSummary> = kinds
            .iter()
            .map(|(kind, stats)| (*kind, KindSummary::of(stats)))
            .collect();
        let requests = kinds.values().map(|k| k.count).sum();
        let secs = elapsed.as_secs_f64();
        PhaseSummary {
            elapsed_secs: secs,
            requests,
            throughput_rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            kinds,
        }
    }
}

/// One phase: how long it took, how many requests, and each kind's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    pub elapsed_secs: f64,
    pub requests: u64,
    /// Requests answered (or failed) per second over the phase.
    pub throughput_rps: f64,
    pub kinds: BTreeMap<Kind, KindSummary>,
}

/// One kind of request within a phase.
#[derive(Clone, Debug, Serialize)]
pub struct KindSummary {
    pub count: u64,
    /// How many of each answer: "200", "409", "201 invalid body", "error".
    pub statuses: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
}

/// Latency percentiles in milliseconds (histogram resolution: 3 significant digits).
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl KindSummary {
    fn of(stats: &KindStats) -> KindSummary {
        let h = &stats.latency;
        let ms = |micros: u64| micros as f64 / 1000.0;
        KindSummary {
            count: h.len(),
            statuses: stats.statuses.clone(),
            latency_ms: Percentiles {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                p99_9: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_statuses_and_orders_percentiles_per_kind() {
        let recorder = Recorder::new();
        for ms in 1..=1000u64 {
            let answer = if ms % 10 == 0 {
                Answer::Status(409)
            } else {
                Answer::Status(201)
            };
            recorder.record(Kind::Reserve, answer, Duration::from_millis(ms));
        }
        recorder.record(Kind::Pay, Answer::Error, Duration::from_secs(30));

        let summary = recorder.summary(Duration::from_secs(2));

        assert_eq!(summary.requests, 1001);
        assert!((summary.throughput_rps - 500.5).abs() < 1e-9);
        let reserve = &summary.kinds[&Kind::Reserve];
        assert_eq!(reserve.count, 1000);
        assert_eq!(reserve.statuses["201"], 900);
        assert_eq!(reserve.statuses["409"], 100);
        let p = &reserve.latency_ms;
        assert!((p.p50 - 500.0).abs() <= 1.0, "p50 {}", p.p50);
        assert!((p.p99 - 990.0).abs() <= 1.0, "p99 {}", p.p99);
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p99_9 && p.p99_9 <= p.max);
        assert_eq!(summary.kinds[&Kind::Pay].statuses["error"], 1);
    }

    #[test]
    fn the_json_names_kinds_and_percentiles_as_documented() {
        let recorder = Recorder::new();
        recorder.record(
            Kind::CreateTicket,
            Answer::Invalid(201),
            Duration::from_millis(3),
        );
        let json = serde_json::to_value(recorder.summary(Duration::from_secs(1)))
            .expect("a summary serialises");
        let kind = &json["kinds"]["create_ticket"];
        assert_eq!(kind["statuses"]["201 invalid body"], 1);
        assert!(kind["latency_ms"]["p99.9"].as_f64().is_some());
    }
}
