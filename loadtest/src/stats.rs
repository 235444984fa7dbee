//! Latency histograms and status counts per kind of request, and their summaries: over a
//! whole phase, and (through `timeline`) per interval of it.
//!
//! Bookkeeping: callers pass when a request was meant to go out and when its answer
//! arrived, so nothing here times a request or knows HTTP (only `Recorder::new` reads the
//! clock, to start a phase now). It may use hdrhistogram, serde and `timeline`, and
//! nothing of the server.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::timeline::{Timeline, TimelineBuilder};

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
    /// Every kind, in the report's order.
    pub const ALL: [Kind; 8] = [
        Kind::Signup,
        Kind::CreateTicket,
        Kind::ListTickets,
        Kind::ShowTicket,
        Kind::Reserve,
        Kind::Pay,
        Kind::Cancel,
        Kind::ListOrders,
    ];

    /// The name in JSON, CSV, interval-log tags and thresholds: `reserve`, `create_ticket`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Signup => "signup",
            Kind::CreateTicket => "create_ticket",
            Kind::ListTickets => "list_tickets",
            Kind::ShowTicket => "show_ticket",
            Kind::Reserve => "reserve",
            Kind::Pay => "pay",
            Kind::Cancel => "cancel",
            Kind::ListOrders => "list_orders",
        }
    }

    /// The kind called `name` (see `name`).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// Whether it counts as an error in the error rate: no answer, a server fault (5xx), or
    /// a success status whose body breaks the API's promise. Refusals the API promises (409,
    /// 404, 402, ...) are answers, not errors; 429 is counted on its own.
    pub fn is_error(self) -> bool {
        match self {
            Answer::Status(code) => code >= 500,
            Answer::Invalid(_) | Answer::Error => true,
        }
    }

    /// The form used in interval-log tags, which allow no spaces: "201", "201-invalid",
    /// "error".
    pub fn tag(self) -> String {
        match self {
            Answer::Status(code) => code.to_string(),
            Answer::Invalid(code) => format!("{code}-invalid"),
            Answer::Error => "error".to_owned(),
        }
    }

    /// The answer whose `tag` is `text`.
    pub fn from_tag(text: &str) -> Option<Answer> {
        if text == "error" {
            return Some(Answer::Error);
        }
        match text.strip_suffix("-invalid") {
            Some(code) => code.parse().ok().map(Answer::Invalid),
            None => text.parse().ok().map(Answer::Status),
        }
    }
}

/// A latency in whole microseconds, as the histograms hold it (at least 1).
pub fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(LOWEST_MICROS)
}

/// Latencies are recorded in microseconds, from 1 µs to one hour, at 3 significant digits.
const LOWEST_MICROS: u64 = 1;
const HIGHEST_MICROS: u64 = 3_600_000_000;
pub const DIGITS: u8 = 3;

/// A latency histogram with the bounds every phase total uses.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, DIGITS)
        .expect("1 µs to 1 h at 3 significant digits are valid histogram bounds")
}

/// Records `count` values of `value`: an auto-resizing histogram grows to hold it, a fixed
/// one records its highest value instead. (`saturating_record` alone would clamp an
/// auto-resizing histogram to its current size rather than grow it.)
pub fn record_n(target: &mut Histogram<u64>, value: u64, count: u64) {
    if target.record_n(value, count).is_err() {
        target.saturating_record_n(value, count);
    }
}

/// Adds every value of `source` to `target`, as `record_n` records them.
pub fn add_into(target: &mut Histogram<u64>, source: &Histogram<u64>) {
    for value in source.iter_recorded() {
        record_n(target, value.value_iterated_to(), value.count_at_value());
    }
}

/// One kind's requests over a whole phase: every latency, and how many of each answer.
#[derive(Clone, Debug)]
pub struct KindStats {
    pub latency: Histogram<u64>,
    pub answers: BTreeMap<Answer, u64>,
}

impl KindStats {
    pub fn new() -> KindStats {
        KindStats {
            latency: latency_histogram(),
            answers: BTreeMap::new(),
        }
    }

    /// Adds `count` answers of one kind whose latencies are `latency` (a histogram read back
    /// from an interval log, when merging).
    pub fn add(&mut self, answer: Answer, latency: &Histogram<u64>) {
        add_into(&mut self.latency, latency);
        *self.answers.entry(answer).or_insert(0) += latency.len();
    }
}

impl Default for KindStats {
    fn default() -> Self {
        KindStats::new()
    }
}

/// Every kind's requests over a whole phase.
pub type Totals = BTreeMap<Kind, KindStats>;

/// Collects every request of one phase (setup, run or audit): the phase's totals, and the
/// timeline of its intervals. Shared by all the tasks of that phase; the lock is held only
/// to add one value (and, once per interval, to summarise the interval that ended).
pub struct Recorder {
    /// Requests meant to go out before this are the warm-up: counted, and left out of every
    /// figure.
    measured_from: Instant,
    state: Mutex<State>,
}

struct State {
    totals: Totals,
    timeline: TimelineBuilder,
    warmup: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder whose timeline starts now in one-second intervals; one per phase,
    /// shared by that phase's tasks through an `Arc`.
    pub fn new() -> Recorder {
        Recorder::starting(Instant::now(), Duration::from_secs(1), Duration::ZERO)
    }

    /// A recorder whose timeline starts at `origin` in intervals of `interval`, and which
    /// leaves out requests meant to go out in the first `warmup` after `origin`.
    pub fn starting(origin: Instant, interval: Duration, warmup: Duration) -> Recorder {
        Recorder {
            measured_from: origin + warmup,
            state: Mutex::new(State {
                totals: Totals::new(),
                timeline: TimelineBuilder::new(origin, interval),
                warmup: 0,
            }),
        }
    }

    /// Adds one request: its kind, what came back, when it was meant to go out, and when
    /// the last byte of the answer arrived. Latency runs from the first to the second.
    pub fn record(&self, kind: Kind, answer: Answer, intended: Instant, finished: Instant) {
        let micros = micros(finished.saturating_duration_since(intended));
        // A panic while recording cannot leave a histogram half-updated, so a poisoned
        // lock still guards consistent data.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if intended < self.measured_from {
            state.warmup += 1;
            return;
        }
        let stats = state.totals.entry(kind).or_default();
        stats.latency.saturating_record(micros);
        *stats.answers.entry(answer).or_insert(0) += 1;
        state.timeline.record(kind, answer, finished, micros);
    }

    /// The summary of everything recorded, over a phase whose measured part lasted
    /// `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> PhaseSummary {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        PhaseSummary::of(&state.totals, elapsed, state.warmup)
    }

    /// The totals per kind (for the report's percentile spectrum) and the timeline, with
    /// every interval closed.
    pub fn finish(&self) -> (Totals, Timeline) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let timeline = state.timeline.finish();
        (state.totals.clone(), timeline)
    }
}

/// One phase: how long it took, how many requests, and each kind's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    /// The measured time: the phase less its warm-up.
    pub elapsed_secs: f64,
    pub requests: u64,
    /// Requests answered (or failed) per second over the phase.
    pub throughput_rps: f64,
    /// Requests of the warm-up, left out of every other figure.
    #[serde(skip_serializing_if = "is_zero")]
    pub warmup_requests: u64,
    pub kinds: BTreeMap<Kind, KindSummary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PhaseSummary {
    /// The summary of `totals` over a measured time of `elapsed`.
    pub fn of(totals: &Totals, elapsed: Duration, warmup_requests: u64) -> PhaseSummary {
        let kinds: BTreeMap<Kind, KindSummary> = totals
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
            warmup_requests,
            kinds,
        }
    }

    /// How many answers of all kinds were `status`.
    pub fn count_of(&self, status: u16) -> u64 {
        self.kinds
            .values()
            .filter_map(|k| k.statuses.get(&status.to_string()))
            .sum()
    }
}

/// One kind of request within a phase.
#[derive(Clone, Debug, Serialize)]
pub struct KindSummary {
    pub count: u64,
    /// How many of each answer: "200", "409", "201 invalid body", "error".
    pub statuses: BTreeMap<String, u64>,
    /// Answers that count as errors (`Answer::is_error`), over `count`.
    pub errors: u64,
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
        KindSummary {
            count: stats.latency.len(),
            statuses: stats
                .answers
                .iter()
                .map(|(answer, n)| (answer.key(), *n))
                .collect(),
            errors: stats
                .answers
                .iter()
                .filter(|(answer, _)| answer.is_error())
                .map(|(_, n)| n)
                .sum(),
            latency_ms: Percentiles::of(&stats.latency),
        }
    }
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The latency at each percentile of `h` (the HdrHistogram percentile spectrum), as
/// (percentile, milliseconds) points: five per halving of what lies above the percentile,
/// up to the maximum.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(5)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_statuses_and_orders_percentiles_per_kind() {
        let recorder = Recorder::new();
        let t0 = Instant::now();
        for ms in 1..=1000u64 {
            let answer = if ms % 10 == 0 {
                Answer::Status(409)
            } else {
                Answer::Status(201)
            };
            recorder.record(Kind::Reserve, answer, t0, t0 + Duration::from_millis(ms));
        }
        recorder.record(Kind::Pay, Answer::Error, t0, t0 + Duration::from_secs(30));

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
        assert_eq!(summary.kinds[&Kind::Pay].errors, 1);
        assert_eq!(reserve.errors, 0, "a 409 is an answer, not an error");
    }

    #[test]
    fn requests_meant_for_the_warmup_are_counted_apart_from_every_figure() {
        let t0 = Instant::now();
        let recorder = Recorder::starting(t0, Duration::from_secs(1), Duration::from_secs(2));
        let ms = Duration::from_millis;
        recorder.record(Kind::Reserve, Answer::Status(201), t0, t0 + ms(3000));
        recorder.record(
            Kind::Reserve,
            Answer::Status(201),
            t0 + ms(1999),
            t0 + ms(2001),
        );
        recorder.record(
            Kind::Reserve,
            Answer::Status(201),
            t0 + ms(2000),
            t0 + ms(2005),
        );
        let summary = recorder.summary(Duration::from_secs(1));
        assert_eq!(summary.requests, 1);
        assert_eq!(summary.warmup_requests, 2);
        let (totals, timeline) = recorder.finish();
        assert_eq!(totals[&Kind::Reserve].latency.len(), 1);
        assert_eq!(timeline.rows.len(), 1, "{:?}", timeline.rows);
        assert_eq!(timeline.rows[0].index, 2);
    }

    #[test]
    fn answers_round_trip_through_their_tags() {
        for answer in [Answer::Status(201), Answer::Invalid(200), Answer::Error] {
            assert_eq!(Answer::from_tag(&answer.tag()), Some(answer));
            assert!(!answer.tag().contains(' '), "tags allow no spaces");
        }
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
    }

    #[test]
    fn the_json_names_kinds_and_percentiles_as_documented() {
        let recorder = Recorder::new();
        let t0 = Instant::now();
        recorder.record(
            Kind::CreateTicket,
            Answer::Invalid(201),
            t0,
            t0 + Duration::from_millis(3),
        );
        let json = serde_json::to_value(recorder.summary(Duration::from_secs(1)))
            .expect("a summary serialises");
        let kind = &json["kinds"]["create_ticket"];
        assert_eq!(kind["statuses"]["201 invalid body"], 1);
        assert!(kind["latency_ms"]["p99.9"].as_f64().is_some());
    }
}
