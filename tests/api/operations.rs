//! Operating the shop: what `/metrics` shows (every series described, requests by route
//! pattern and status, times in seconds, the build and the process), `/metrics` moved to an
//! address of its own (`--metrics-addr`) so that the public address need not show it, and the
//! access log (one line per request, under the caller's `X-Request-Id` when it sends one).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    eventually, expires_at, free_port, spawn_app, spawn_app_with, spawn_process_logging, unknown_id,
};

#[actix_web::test]
async fn metrics_are_public_by_default() {
    let app = spawn_app().await;
    let response = app.get(&app.client(), "/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(text.contains("ticketing_ready 1"), "{text}");
}

#[actix_web::test]
async fn metrics_on_their_own_address_are_gone_from_the_public_one() {
    // Arrange
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut app = spawn_app_with(|config| config.metrics_addr = Some(metrics_addr)).await;
    let (seller, _) = app.user().await;
    app.listed_ticket(&seller).await;

    // Act
    let public = app.get(&app.client(), "/metrics").await;
    let private = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("the metrics address answers");
    let api_there = reqwest::get(format!("http://{metrics_addr}/api/tickets"))
        .await
        .expect("the metrics address answers");

    // Assert
    assert_eq!(public.status(), 404, "not on the public address");
    assert_eq!(private.status(), 200);
    let text = private.text().await.expect("text");
    let created = "ticketing_events_committed_total{event=\"TicketCreated\"} 1";
    assert!(text.contains(created), "the same shop's figures: {text}");
    assert_eq!(api_there.status(), 404, "only /metrics there");
    assert_eq!(app.get(&app.client(), "/healthz").await.status(), 200);

    // A stop releases the metrics address too: the shop restarts on the same one.
    app.restart().await;
    let again = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("the metrics address answers after a restart");
    assert_eq!(again.status(), 200);
}

#[actix_web::test]
async fn every_series_has_a_help_and_a_type_line() {
    // Arrange: some of everything (requests, events, flushes).
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    assert_eq!(app.ticket(&ticket_id).await.status(), 200);
    assert_eq!(app.get(&app.client(), "/nowhere").await.status(), 404);

    // Act
    let text = app.metrics_text().await;

    // Assert
    let described = |keyword: &str| -> BTreeMap<String, String> {
        let prefix = format!("# {keyword} ");
        let lines = text.lines().filter_map(|line| line.strip_prefix(&prefix));
        let pairs = lines.filter_map(|rest| rest.split_once(' '));
        pairs
            .map(|(name, rest)| (name.to_owned(), rest.to_owned()))
            .collect()
    };
    let (helps, types) = (described("HELP"), described("TYPE"));
    let names: BTreeSet<String> = samples(&text).into_iter().map(|s| s.name).collect();
    for name in &names {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| name.strip_suffix(suffix))
            .find(|base| types.get(*base).is_some_and(|kind| kind == "histogram"))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE for {name}:\n{text}");
        let help = helps.get(family);
        assert!(
            help.is_some_and(|h| !h.is_empty()),
            "no # HELP for {name}:\n{text}"
        );
    }
    for expected in [
        "ticketing_http_requests_total",
        "ticketing_http_request_duration_seconds_count",
        "ticketing_store_flush_seconds_bucket",
        "ticketing_build_info",
        "ticketing_pending_holds",
        "process_resident_memory_bytes",
    ] {
        assert!(names.contains(expected), "{expected} is shown:\n{text}");
    }
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_and_status_and_every_unknown_path_by_one_label() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;

    // Act: two reads of the ticket, one of a ticket that does not exist, two unknown paths.
    for _ in 0..2 {
        assert_eq!(app.ticket(&ticket_id).await.status(), 200);
    }
    assert_eq!(app.ticket(&unknown_id(&ticket_id)).await.status(), 404);
    for path in ["/no/such/page", "/another-unknown-page"] {
        assert_eq!(app.get(&app.client(), path).await.status(), 404);
    }
    let text = app.metrics_text().await;

    // Assert
    let requests = |method: &str, route: &str, status: &str| {
        let labels = [("method", method), ("route", route), ("status", status)];
        value(&text, "ticketing_http_requests_total", &labels)
    };
    let ticket_route = "/api/tickets/{id}";
    assert_eq!(requests("GET", ticket_route, "200"), Some(2.0), "{text}");
    assert_eq!(requests("GET", ticket_route, "404"), Some(1.0), "{text}");
    assert_eq!(requests("POST", "/api/tickets", "201"), Some(1.0), "{text}");
    assert_eq!(requests("GET", "unmatched", "404"), Some(2.0), "{text}");
    let timed = [("method", "GET"), ("route", ticket_route)];
    assert_eq!(
        value(
            &text,
            "ticketing_http_request_duration_seconds_count",
            &timed
        ),
        Some(3.0),
        "every request's latency is in the histogram: {text}"
    );
    for concrete in [ticket_id.as_str(), "/no/such/page", "/another-unknown-page"] {
        assert!(
            !text.contains(concrete),
            "{concrete} is not a label:\n{text}"
        );
    }
}

#[actix_web::test]
async fn flushes_and_hold_lags_are_timed_in_seconds_with_sub_millisecond_buckets() {
    // Arrange: a write (a flush) and a hold that ends exactly at its deadline.
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    let deadline = expires_at(&app.order_json(&buyer, &order_id).await);

    // Act
    app.advance_to(deadline);
    app.expire_due().await;
    let app_ref = &app;
    let lag_recorded = eventually(Duration::from_secs(5), move || async move {
        let text = app_ref.metrics_text().await;
        value(&text, "ticketing_hold_expiry_lag_seconds_count", &[]) == Some(1.0)
    })
    .await;
    let text = app.metrics_text().await;

    // Assert
    assert!(lag_recorded, "the expired hold's lag is recorded:\n{text}");
    let flush_buckets: Vec<f64> = samples(&text)
        .into_iter()
        .filter(|s| s.name == "ticketing_store_flush_seconds_bucket")
        .filter_map(|s| s.labels.get("le").and_then(|le| le.parse().ok()))
        .collect();
    let below_a_millisecond = flush_buckets.iter().filter(|le| **le < 0.001).count();
    assert!(
        below_a_millisecond >= 3,
        "sub-millisecond flush buckets: {flush_buckets:?}"
    );
    let flushes = value(&text, "ticketing_store_flush_seconds_count", &[]);
    assert!(flushes.is_some_and(|n| n >= 1.0), "{text}");
    let on_time = [("le", "0.001")];
    assert_eq!(
        value(&text, "ticketing_hold_expiry_lag_seconds_bucket", &on_time),
        Some(1.0),
        "the clock stood at the deadline, so the lag is under a millisecond: {text}"
    );
    assert!(
        !text.contains("_ms"),
        "no series is in milliseconds any more:\n{text}"
    );
}

#[actix_web::test]
async fn build_info_names_the_running_version_and_the_process_is_measured() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let text = app.metrics_text().await;

    // Assert
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(
        value(&text, "ticketing_build_info", &version),
        Some(1.0),
        "{text}"
    );
    for (series, why) in [
        ("process_resident_memory_bytes", "memory"),
        ("process_open_fds", "open files, the listener's among them"),
        ("process_start_time_seconds", "when it started"),
        ("process_threads", "threads"),
    ] {
        let measured = value(&text, series, &[]);
        assert!(
            measured.is_some_and(|v| v > 0.0),
            "{series} ({why}):\n{text}"
        );
    }
    assert!(
        value(&text, "process_cpu_seconds_total", &[]).is_some(),
        "{text}"
    );
}

#[actix_web::test]
async fn the_pending_holds_gauge_follows_holds_as_they_are_placed_cancelled_and_expired() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (first, second) = (
        app.listed_ticket(&seller).await,
        app.listed_ticket(&seller).await,
    );
    let app_ref = &app;
    let pending = move || async move {
        let text = app_ref.metrics_text().await;
        value(&text, "ticketing_pending_holds", &[])
    };
    assert_eq!(pending().await, Some(0.0));

    // Act and assert: two placed, one cancelled, one expired.
    let cancelled = app.reserved_order(&buyer, &first).await;
    let expiring = app.reserved_order(&buyer, &second).await;
    assert_eq!(pending().await, Some(2.0));
    assert_eq!(app.cancel(&buyer, &cancelled).await.status(), 204);
    assert_eq!(pending().await, Some(1.0));
    app.advance_to(expires_at(&app.order_json(&buyer, &expiring).await));
    app.expire_due().await;
    let none_left = eventually(Duration::from_secs(5), move || async move {
        pending().await == Some(0.0)
    })
    .await;
    assert!(none_left, "the expired hold is no longer pending");
}

#[actix_web::test]
async fn each_request_writes_one_access_line_under_the_callers_request_id_when_it_sends_one() {
    // Arrange: the binary, logging JSON lines at info to a file.
    let (data, logs) = (tempfile::tempdir(), tempfile::tempdir());
    let (data, logs) = (data.expect("a data dir"), logs.expect("a log dir"));
    let log_path = logs.path().join("log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let env = [("RUST_LOG", "info"), ("TICKETING_LOG_JSON", "true")];
    let server = spawn_process_logging(data.path(), &env, log);
    server.wait_ready().await;
    let client = reqwest::Client::new();
    let get = |path: &str, id: Option<&str>| {
        let mut request = client.get(format!("{}{path}", server.address));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        async move { request.send().await.expect("the server answers") }
    };

    // Act
    let healthz = get("/healthz", Some("probe-42.a_b")).await;
    let ticket = get("/api/tickets/0123456789abcdef01234567", Some("lb-7f3a")).await;
    let unknown = get("/no/such/page", None).await;
    let forged = get("/healthz", Some("x\" status=200")).await;
    let status = server.terminate().await;

    // Assert
    assert!(status.success(), "exit status: {status}");
    let header = |response: &reqwest::Response| {
        let id = response
            .headers()
            .get("x-request-id")
            .expect("x-request-id");
        id.to_str().expect("ASCII").to_owned()
    };
    assert_eq!(
        header(&healthz),
        "probe-42.a_b",
        "the caller's id is echoed"
    );
    assert_eq!(header(&ticket), "lb-7f3a");
    let (generated, replaced) = (header(&unknown), header(&forged));
    assert_eq!(generated.len(), 16, "no id sent: one is made up");
    assert_ne!(replaced, "x\" status=200", "an implausible id is replaced");
    let text = std::fs::read_to_string(&log_path).expect("the log");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON log lines"))
        .filter(|line: &Value| line["fields"]["message"] == "HTTP request served")
        .collect();
    assert_eq!(
        lines.len(),
        4 + ready_polls(&text),
        "one line per request:\n{text}"
    );
    let cases = [
        ("probe-42.a_b", "/healthz", "/healthz", 200),
        (
            "lb-7f3a",
            "/api/tickets/{id}",
            "/api/tickets/0123456789abcdef01234567",
            404,
        ),
        (generated.as_str(), "unmatched", "/no/such/page", 404),
        (replaced.as_str(), "/healthz", "/healthz", 200),
    ];
    for (id, route, path, status) in cases {
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|line| line["fields"]["request_id"] == id)
            .collect();
        assert_eq!(mine.len(), 1, "one line for request {id}:\n{text}");
        let line = mine[0];
        assert_eq!(line["level"], "INFO", "{line}");
        let fields = &line["fields"];
        assert_eq!(fields["method"], "GET", "{line}");
        assert_eq!(fields["route"], route, "{line}");
        assert_eq!(fields["path"], path, "{line}");
        assert_eq!(fields["status"], status, "{line}");
        assert!(
            fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
    }
}

/// The access lines of `ChildApp::wait_ready`'s polls of /readyz, which the test did not
/// send itself.
fn ready_polls(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("HTTP request served") && line.contains("\"/readyz\""))
        .count()
}

/// One sample line of the Prometheus text format.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Every sample line of a scrape (label values here never hold `",`).
fn samples(text: &str) -> Vec<Sample> {
    let lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    lines
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let value = value.parse().expect("a number");
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("closed labels");
                    let pairs = inner.split("\",").filter_map(|pair| pair.split_once("=\""));
                    let labels = pairs
                        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
                        .collect();
                    (name, labels)
                }
            };
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples(text)
        .into_iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
        .map(|s| s.value)
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} names one sample: {found:?}"
    );
    found.first().copied()
}
