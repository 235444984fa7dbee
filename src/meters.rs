//! The shop's metrics: one Prometheus recorder per app, what every series means (its
//! `# HELP`), the buckets of each histogram, and the text `GET /metrics` answers.
//!
//! It may use `actors` (the `Vitals` read at each scrape) and the `metrics` crates; the store,
//! the actors and `http` record into the handles it hands out. One recorder per app rather
//! than the `metrics` macros' process-global one: the tests run many apps in one process,
//! and each must count only its own requests and events.
//!
//! A series gets its value one of two ways. What happens too often to keep a count of
//! elsewhere (each request, each flush, each expired hold) is recorded where it happens, into
//! handles registered once. Figures the shop keeps anyway (events committed, live actors,
//! pending holds, ...) are copied in at each scrape, so they cost nothing between scrapes;
//! pending holds is a count the deadline index keeps, never a walk of it.
//!
//! Lifecycle: built by `Application::build` before the store opens (the flusher records into
//! it); `upkeep` runs on an app arbiter until the app stops.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::actors::Vitals;

/// Bounds of the group-commit flush histogram, in seconds: an fsync here takes well under a
/// millisecond (docs/BENCHMARKS.md), so the buckets start at 25 µs.
const FLUSH_BUCKETS: [f64; 18] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bounds of the request latency histogram, in seconds: a read is answered in tens of
/// microseconds, a durable write in a millisecond or more, a password hash in tens.
const REQUEST_BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bounds of the hold expiry lag histogram, in seconds (deadlines are kept in milliseconds).
const EXPIRY_LAG_BUCKETS: [f64; 15] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const BUILD_INFO: &str = "ticketing_build_info";
const HTTP_REQUESTS: &str = "ticketing_http_requests_total";
const HTTP_DURATION: &str = "ticketing_http_request_duration_seconds";
const FLUSH_SECONDS: &str = "ticketing_store_flush_seconds";
const EXPIRY_LAG_SECONDS: &str = "ticketing_hold_expiry_lag_seconds";
const LIVE_ACTORS: &str = "ticketing_live_actors";
const EVENTS_COMMITTED: &str = "ticketing_events_committed_total";
const TICKET_CHANGES: &str = "ticketing_ticket_changes_total";
const FLUSHES: &str = "ticketing_store_flushes_total";
const DURABLE_WAITS: &str = "ticketing_store_durable_waits_total";
const PENDING_HOLDS: &str = "ticketing_pending_holds";
const REPLAYED: &str = "ticketing_replayed_events_at_start";
const READY: &str = "ticketing_ready";
const HASHES_RUNNING: &str = "ticketing_password_hashes_running";
const FOR_THE_OPERATOR: &str = "ticketing_payments_for_the_operator";
const UNPERSISTED: &str = "ticketing_store_unpersisted_changes";
const PERSISTED_GENERATIONS: &str = "ticketing_store_persisted_generations_total";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every series of the shop's own, with its `# HELP` text: one table, so that none goes
/// without one (the `process_*` series describe themselves). docs/OPERATIONS.md lists the
/// same.
const SERIES: [(&str, Kind, &str); 17] = [
    (
        BUILD_INFO,
        Kind::Gauge,
        "Always 1; the version label names the running release.",
    ),
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by method, route pattern (\"unmatched\" for no route) and status.",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Seconds from a request's arrival to its response's head, by method and route pattern.",
    ),
    (
        FLUSH_SECONDS,
        Kind::Histogram,
        "Seconds each group-commit flush took; every acknowledged write waits for one.",
    ),
    (
        EXPIRY_LAG_SECONDS,
        Kind::Histogram,
        "Seconds from a hold's deadline to the commit of its OrderExpired.",
    ),
    (
        LIVE_ACTORS,
        Kind::Gauge,
        "Entity actors in memory, by kind; they passivate after --actor-idle-ms idle.",
    ),
    (
        EVENTS_COMMITTED,
        Kind::Counter,
        "Journal events committed since the process started, by event.",
    ),
    (
        TICKET_CHANGES,
        Kind::Counter,
        "TicketUpdated events told apart: a seller's edit, a hold ended, a sale.",
    ),
    (FLUSHES, Kind::Counter, "Group-commit flushes."),
    (
        DURABLE_WAITS,
        Kind::Counter,
        "Commits the group-commit flushes made durable (waits / flushes is the batch size).",
    ),
    (
        PENDING_HOLDS,
        Kind::Gauge,
        "Orders holding a ticket until their deadline.",
    ),
    (
        REPLAYED,
        Kind::Gauge,
        "Journal events the start-up replay applied (0 after a clean stop).",
    ),
    (
        READY,
        Kind::Gauge,
        "1 once start-up has replayed the journal, as /readyz.",
    ),
    (
        HASHES_RUNNING,
        Kind::Gauge,
        "Password hashes in progress (signups, signins, password changes).",
    ),
    (
        FOR_THE_OPERATOR,
        Kind::Gauge,
        "Payments whose outcome the shop could not settle by itself; the log names each.",
    ),
    (
        UNPERSISTED,
        Kind::Gauge,
        "Snapshot changes committed to the journal but not yet written behind it.",
    ),
    (
        PERSISTED_GENERATIONS,
        Kind::Counter,
        "Batches the persister has written behind the journal.",
    ),
];

/// How often histogram samples are folded into their buckets when nobody scrapes: the
/// recorder queues each sample until then (8 bytes each), so without this a shop nobody
/// scrapes would grow by its request rate.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What a scrape reads besides the services' vitals.
pub struct Scrape {
    pub vitals: Vitals,
    /// Start-up has replayed the journal.
    pub ready: bool,
    /// Events that replay applied (0 until it has finished).
    pub replayed: u64,
    pub password_hashes_running: usize,
}

/// The app's recorder and the handles recorded into on hot paths. Cheap to clone.
#[derive(Clone)]
pub struct Meters {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Reads /proc/self at each scrape into the standard `process_*` series.
    process: metrics_process::Collector,
    flush_seconds: Histogram,
    hold_expiry_lag_seconds: Histogram,
}

impl Meters {
    pub fn new() -> Meters {
        let recorder = with_buckets(PrometheusBuilder::new()).build_recorder();
        for (name, kind, help) in SERIES {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            let (name, help) = (KeyName::from_const_str(name), help.into());
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, help),
                Kind::Gauge => recorder.describe_gauge(name, unit, help),
                Kind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
        let process = metrics_process::Collector::default();
        metrics::with_local_recorder(&recorder, || process.describe());
        gauge(
            &recorder,
            BUILD_INFO,
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
        let flush_seconds = histogram(&recorder, FLUSH_SECONDS, Vec::new());
        let hold_expiry_lag_seconds = histogram(&recorder, EXPIRY_LAG_SECONDS, Vec::new());
        Meters {
            inner: Arc::new(Inner {
                handle: recorder.handle(),
                recorder,
                process,
                flush_seconds,
                hold_expiry_lag_seconds,
            }),
        }
    }

    /// Where the store's flusher records how long each flush took.
    pub fn flush_seconds(&self) -> Histogram {
        self.inner.flush_seconds.clone()
    }

    /// Where order actors record how late each hold ended.
    pub fn hold_expiry_lag_seconds(&self) -> Histogram {
        self.inner.hold_expiry_lag_seconds.clone()
    }

    /// Counts one answered request and its latency. `route` is the route pattern, or
    /// "unmatched": never the concrete path, which would make a series per ticket.
    pub fn record_request(&self, method: &str, route: String, status: u16, took: Duration) {
        let method = Label::new("method", bounded_method(method));
        let route = Label::new("route", route);
        let recorder = &self.inner.recorder;
        histogram(recorder, HTTP_DURATION, vec![method.clone(), route.clone()]).record(took);
        let status = Label::new("status", status.to_string());
        counter(recorder, HTTP_REQUESTS, vec![method, route, status]).increment(1);
    }

    /// Copies the figures kept elsewhere into their series and renders every series in the
    /// Prometheus text format.
    pub fn render(&self, scrape: &Scrape) -> String {
        let recorder = &self.inner.recorder;
        let vitals = &scrape.vitals;
        for (kind, live) in vitals.live_actors {
            gauge(recorder, LIVE_ACTORS, vec![Label::new("kind", kind)]).set(live as f64);
        }
        for (tag, count) in &vitals.committed {
            counter(recorder, EVENTS_COMMITTED, vec![Label::new("event", *tag)]).absolute(*count);
        }
        for (change, count) in &vitals.ticket_changes {
            counter(
                recorder,
                TICKET_CHANGES,
                vec![Label::new("change", *change)],
            )
            .absolute(*count);
        }
        let (flushes, waits) = vitals.flush_stats;
        counter(recorder, FLUSHES, Vec::new()).absolute(flushes);
        counter(recorder, DURABLE_WAITS, Vec::new()).absolute(waits);
        counter(recorder, PERSISTED_GENERATIONS, Vec::new()).absolute(vitals.persisted_generations);
        let gauges = [
            (PENDING_HOLDS, vitals.pending_holds as f64),
            (REPLAYED, scrape.replayed as f64),
            (READY, f64::from(u8::from(scrape.ready))),
            (HASHES_RUNNING, scrape.password_hashes_running as f64),
            (FOR_THE_OPERATOR, vitals.payments_for_the_operator as f64),
            (UNPERSISTED, vitals.unpersisted_changes as f64),
        ];
        for (name, value) in gauges {
            gauge(recorder, name, Vec::new()).set(value);
        }
        metrics::with_local_recorder(recorder, || self.inner.process.collect());
        self.inner.handle.render()
    }

    /// Folds queued histogram samples into their buckets every few seconds, for as long as
    /// the arbiter it runs on lives.
    pub async fn upkeep(self) {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            self.inner.handle.run_upkeep();
        }
    }
}

impl Default for Meters {
    fn default() -> Self {
        Meters::new()
    }
}

fn with_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    [
        (FLUSH_SECONDS, &FLUSH_BUCKETS[..]),
        (HTTP_DURATION, &REQUEST_BUCKETS[..]),
        (EXPIRY_LAG_SECONDS, &EXPIRY_LAG_BUCKETS[..]),
    ]
    .into_iter()
    .fold(builder, |builder, (name, buckets)| {
        let matcher = Matcher::Full(name.to_owned());
        // Only an empty bucket list is refused, and none of these is empty.
        match builder.set_buckets_for_metric(matcher, buckets) {
            Ok(builder) => builder,
            Err(error) => unreachable!("the buckets of {name}: {error}"),
        }
    })
}

/// The method as a label: the standard ones as they are, anything else as "other", so that a
/// client inventing methods cannot add series.
fn bounded_method(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// Registration metadata; the Prometheus recorder ignores it.
const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key(name: &'static str, labels: Vec<Label>) -> Key {
    Key::from_parts(name, labels)
}

fn counter(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Counter {
    recorder.register_counter(&key(name, labels), &METADATA)
}

fn gauge(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&key(name, labels), &METADATA)
}

fn histogram(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Histogram {
    recorder.register_histogram(&key(name, labels), &METADATA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_label_is_one_of_the_standard_methods_or_other() {
        let cases = [
            ("GET", "GET", "a standard method stays"),
            ("PATCH", "PATCH", "so does a rarer one"),
            ("BREW", "other", "an invented method would add series"),
            ("get", "other", "methods are case-sensitive"),
        ];
        for (method, label, why) in cases {
            assert_eq!(bounded_method(method), label, "{method}: {why}");
        }
    }
}
