//! The load tester's kit against a started shop: the HTML report, the CSV timeline, the
//! interval log and `loadtest merge`, thresholds and exit code 3, the on-sale scenario,
//! the warm-up, HTTPS through rustls, and a clear stop when the shop's rate limits refuse
//! the setup.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use loadtest::stats::Kind;
use loadtest::{EXIT_THRESHOLD_BROKEN, run, write_files};
use scraper::{Html, Selector};
use serde_json::Value;

use crate::helpers::spawn_app;
use crate::loadtest::{loadtest_args, ticketing_binary};

/// A small marketplace: two users, two requests in flight.
const SMALL_MARKET: [&str; 6] = ["--users", "2", "--concurrency", "2", "--tickets", "4"];

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[actix_web::test]
async fn the_html_report_is_one_page_with_its_charts_settings_and_verdict() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = path(dir.path(), "report.html");
    let mut flags = SMALL_MARKET.to_vec();
    flags.extend(["--requests", "60", "--report", &file]);
    let args = loadtest_args(&app.address, &flags);
    // Act
    let report = run(&args).await.expect("the load test runs");
    write_files(&args, &report).expect("the files are written");
    // Assert
    let html = std::fs::read_to_string(&file).expect("the report exists");
    let page = Html::parse_document(&html);
    assert!(page.errors.is_empty(), "the page parses: {:?}", page.errors);
    let select = |css: &str| Selector::parse(css).expect("a valid selector");
    let count = |css: &str| page.select(&select(css)).count();
    assert_eq!(
        count("figure#chart-throughput > svg"),
        1,
        "throughput over time"
    );
    assert_eq!(
        count("figure#chart-spectrum > svg"),
        1,
        "the percentile spectrum"
    );
    assert_eq!(
        count("figure[id^=chart-latency-] > svg"),
        report.run.phase.kinds.len(),
        "latency over time for each kind of request"
    );
    let headings: Vec<String> = page
        .select(&select("h2"))
        .map(|h| h.text().collect())
        .collect();
    for heading in ["Verdicts", "Settings", "Throughput", "Latency over time"] {
        assert!(
            headings.iter().any(|h| h == heading),
            "{heading} in {headings:?}"
        );
    }
    let settings: String = page
        .select(&select("table"))
        .flat_map(|t| t.text())
        .collect();
    assert!(
        settings.contains("shop version") && settings.contains(env!("CARGO_PKG_VERSION")),
        "{settings}"
    );
    let verdict: String = page
        .select(&select("li.passed"))
        .flat_map(|t| t.text())
        .collect();
    assert!(verdict.contains("audit passed"), "{verdict}");
    assert_eq!(
        count("script, link, img, [src]"),
        0,
        "self-contained: nothing to fetch"
    );
}

#[actix_web::test]
async fn the_timeseries_has_one_row_per_second_for_each_kind_of_request() {
    // Arrange
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a directory");
    let file = path(dir.path(), "run.csv");
    let mut flags = SMALL_MARKET.to_vec();
    flags.extend(["--duration", "2.5", "--timeseries", &file]);
    let args = loadtest_args(&app.address, &flags);
    // Act
    let report = run(&args).await.expect("the load test runs");
    write_files(&args, &report).expect("the files are written");
    // Assert
    let csv = std::fs::read_to_string(&file).expect("the CSV exists");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    assert_eq!(&header[..3], ["time_s", "kind", "count"]);
    assert_eq!(
        &header[header.len() - 4..],
        ["p50_ms", "p90_ms", "p99_ms", "max_ms"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut seconds: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    seconds.dedup();
    assert_eq!(seconds, ["0.000", "1.000", "2.000"], "{csv}");
    let kinds = report.run.phase.kinds.len();
    assert_eq!(
        rows.len(),
        seconds.len() * kinds,
        "one row per second and kind: {csv}"
    );
    for second in &seconds {
        let mut names: Vec<&str> = rows
            .iter()
            .filter(|r| r[0] == *second)
            .map(|r| r[1])
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), kinds, "each kind once at {second}");
    }
    let counted: u64 = rows
        .iter()
        .map(|r| r[2].parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(counted, report.run.phase.requests);
}

/// Every interval of the log at `file`, read with hdrhistogram alone: (tag, histogram).
fn read_log(file: &str) -> Vec<(String, Histogram<u64>)> {
    let text = std::fs::read(file).expect("the log exists");
    IntervalLogIterator::new(&text)
        .map(|entry| entry.expect("a well-formed log entry"))
        .filter_map(|entry| match entry {
            LogEntry::Interval(h) => Some(h),
            _ => None,
        })
        .map(|h| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .expect("base64");
            let histogram = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .expect("a histogram");
            let tag = h.tag().map(|t| t.as_str().to_owned()).unwrap_or_default();
            (tag, histogram)
        })
        .collect()
}

#[actix_web::test]
async fn interval_logs_read_back_with_hdrhistogram_and_merge_into_one_report() {
    // Arrange: two load generators racing on the same shop, each writing its own log.
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("a directory");
    let logs = [path(dir.path(), "a.hdr"), path(dir.path(), "b.hdr")];
    for log in &logs {
        let flags = [
            "--scenario",
            "race",
            "--tickets",
            "2",
            "--concurrency",
            "4",
            "--hdr-log",
            log,
        ];
        let args = loadtest_args(&app.address, &flags);
        let report = run(&args).await.expect("the load test runs");
        write_files(&args, &report).expect("the files are written");
    }
    let merged_report = path(dir.path(), "merged.html");
    // Act
    let intervals = read_log(&logs[0]);
    let (code, stdout, stderr) = ticketing_binary(
        &["loadtest", "merge", &logs[0], &logs[1]],
        &["--json", "--report", &merged_report],
    )
    .await;
    // Assert
    let reserved: u64 = intervals
        .iter()
        .filter(|(tag, _)| tag.starts_with("reserve:"))
        .map(|(_, h)| h.len())
        .sum();
    assert_eq!(
        reserved,
        8,
        "2 tickets × 4 buyers: {:?}",
        intervals.iter().map(|i| &i.0).collect::<Vec<_>>()
    );
    let won: u64 = intervals
        .iter()
        .filter(|(tag, _)| tag == "reserve:201")
        .map(|(_, h)| h.len())
        .sum();
    assert_eq!(won, 2, "one winner per ticket, tagged by answer");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let merged: Value = serde_json::from_str(&stdout).expect("one JSON summary");
    assert_eq!(merged["run"]["kinds"]["reserve"]["count"], 16, "{merged}");
    assert_eq!(merged["run"]["kinds"]["reserve"]["statuses"]["201"], 4);
    assert_eq!(merged["sources"].as_array().map(Vec::len), Some(2));
    let html = std::fs::read_to_string(&merged_report).expect("the merged report exists");
    assert!(html.contains("id=\"chart-spectrum\""));
}

#[actix_web::test]
async fn a_threshold_the_run_cannot_meet_exits_3_and_names_it() {
    // Arrange
    let app = spawn_app().await;
    let flags = [
        "--scenario",
        "race",
        "--tickets",
        "2",
        "--concurrency",
        "4",
        "--threshold",
        "reserve.p99<1us",
        "--threshold",
        "errors<1%",
    ];
    // Act
    let (code, stdout, stderr) =
        ticketing_binary(&["loadtest", "--url", &app.address, "--json"], &flags).await;
    // Assert
    assert_eq!(
        code,
        Some(i32::from(EXIT_THRESHOLD_BROKEN)),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("threshold broken: reserve.p99<1us"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("errors<1%"),
        "a met threshold is not named: {stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).expect("one JSON report");
    assert_eq!(report["audit"]["passed"], true, "the audit still passed");
    let verdicts = report["thresholds"].as_array().expect("the verdicts");
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["passed"], false);
    assert_eq!(verdicts[1]["passed"], true);
}

#[actix_web::test]
async fn the_onsale_sells_each_ticket_once_and_its_figures_agree() {
    // Arrange: 24 buyers for 8 tickets, arriving within 200 ms.
    let app = spawn_app().await;
    let flags = [
        "--scenario",
        "onsale",
        "--buyers",
        "24",
        "--tickets",
        "8",
        "--ramp",
        "0.2",
        "--concurrency",
        "8",
    ];
    let args = loadtest_args(&app.address, &flags);
    // Act
    let report = run(&args).await.expect("the load test runs");
    // Assert
    assert!(report.passed(), "{:#?}", report.audit.findings.violations);
    let sale = report.onsale.as_ref().expect("the on-sale's figures");
    let reserve = &report.run.phase.kinds[&Kind::Reserve];
    let holds = reserve.statuses.get("201").copied().unwrap_or(0);
    assert_eq!(
        sale.served, holds,
        "buyers served = 201 answers: {:?}",
        reserve.statuses
    );
    assert!(
        sale.paid <= sale.tickets && sale.served <= sale.tickets,
        "{sale:?}"
    );
    assert!(
        sale.sold_out && sale.served == 8,
        "24 buyers take all 8: {sale:?}"
    );
    assert_eq!(
        sale.served + sale.sold_out_to + sale.gave_up,
        24,
        "every buyer is accounted for"
    );
    assert!((sale.served_share - 8.0 / 24.0).abs() < 1e-9);
    assert!(sale.last_hold_secs.is_some_and(|s| s > 0.0) && sale.peak_holds_per_sec > 0.0);
    assert!(sale.hold_latency_ms.p99 > 0.0);
    assert_eq!(report.audit.findings.paid_complete.ok, sale.paid);
    assert_eq!(
        report.setup.kinds[&Kind::Signup].count,
        25,
        "a seller and 24 buyers"
    );
}

#[actix_web::test]
async fn the_warmup_is_left_out_of_the_figures_and_the_timeline() {
    // Arrange
    let app = spawn_app().await;
    let mut flags = SMALL_MARKET.to_vec();
    flags.extend(["--warmup", "1", "--duration", "1"]);
    let args = loadtest_args(&app.address, &flags);
    // Act
    let report = run(&args).await.expect("the load test runs");
    // Assert
    let run = &report.run.phase;
    assert!(run.warmup_requests > 0 && run.requests > 0, "{run:?}");
    assert!(
        (0.9..2.0).contains(&run.elapsed_secs),
        "the measured second: {run:?}"
    );
    let first = report
        .detail
        .timeline
        .rows
        .first()
        .expect("a measured interval");
    assert!(
        first.index >= 1,
        "the timeline starts after the warm-up: {first:?}"
    );
    assert!(report.passed(), "{:#?}", report.audit.findings.violations);
}

/// A TLS front for the shop, as a reverse proxy would be, with a fresh self-signed
/// certificate for 127.0.0.1: answers the https URL and the certificate's PEM.
async fn tls_front(backend: &str) -> (String, String) {
    use tokio_rustls::rustls;
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("a self-signed certificate");
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("the certificate and key match");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("https://{}", listener.local_addr().expect("an address"));
    let backend = backend.trim_start_matches("http://").to_owned();
    actix_rt::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            actix_rt::spawn(async move {
                // A client that rejects the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut shop = tokio::net::TcpStream::connect(&backend)
                    .await
                    .expect("the shop");
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut shop).await;
            });
        }
    });
    (url, key.cert.pem())
}

#[actix_web::test]
async fn a_shop_behind_https_is_loaded_through_rustls_and_a_bad_certificate_is_an_error() {
    // Arrange
    let app = spawn_app().await;
    let (url, pem) = tls_front(&app.address).await;
    let dir = tempfile::tempdir().expect("a directory");
    let cacert = path(dir.path(), "shop.pem");
    std::fs::write(&cacert, pem).expect("the certificate is written");
    let race = ["--scenario", "race", "--tickets", "1", "--concurrency", "3"];
    let trusting: Vec<&str> = race
        .iter()
        .copied()
        .chain(["--cacert", cacert.as_str()])
        .collect();
    // Act
    let trusted = run(&loadtest_args(&url, &trusting)).await;
    let untrusted = run(&loadtest_args(&url, &race)).await;
    let plain_shop_over_tls = run(&loadtest_args(
        &app.address.replace("http:", "https:"),
        &race,
    ))
    .await;
    // Assert
    let report = trusted.expect("the load test runs over HTTPS");
    assert!(report.passed(), "{:#?}", report.audit.findings.violations);
    assert!(report.url.starts_with("https://"));
    let error = format!(
        "{:#}",
        untrusted.expect_err("an unknown certificate is refused")
    );
    assert!(error.contains("certificate"), "{error}");
    assert!(
        plain_shop_over_tls.is_err(),
        "a shop that speaks no TLS is an error"
    );
}

#[actix_web::test]
async fn a_setup_refused_by_rate_limits_stops_and_names_limits_off() {
    // Arrange: a shop that rate-limits every signup, as a public shop's defaults would.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/healthz",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/api/users/signup",
                web::post().to(|| async {
                    HttpResponse::TooManyRequests()
                        .insert_header(("retry-after", "60"))
                        .json(serde_json::json!({"errors": [{"message": "Too many requests"}]}))
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the fake shop listens")
    .run();
    let _handle = server.handle();
    actix_rt::spawn(server);
    // Act
    let result = run(&loadtest_args(&url, &SMALL_MARKET)).await;
    // Assert
    let error = format!("{:#}", result.expect_err("the setup fails"));
    assert!(
        error.contains("429") && error.contains("--limits off"),
        "{error}"
    );
}
