//! `ticketing loadtest` end to end: against a real app its audit passes, in-process through
//! `loadtest::run` and as the real binary; against a fake shop that sells one
//! ticket twice its audit fails and the binary exits non-zero.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Parser;
use loadtest::LoadtestArgs;
use loadtest::audit::Violation;
use loadtest::stats::Kind;
use loadtest::{EXIT_AUDIT_FAILED, run};
use serde_json::{Value, json};
use ticketing::config::{Cli, Command};

use crate::helpers::spawn_app;

/// The flags as the command line would give them, parsed by the real parser.
pub fn loadtest_args(url: &str, flags: &[&str]) -> LoadtestArgs {
    let argv = ["ticketing", "loadtest", "--url", url, "--json"]
        .into_iter()
        .chain(flags.iter().copied());
    match Cli::try_parse_from(argv).expect("the flags parse").command {
        Some(Command::Loadtest(args)) => *args,
        _ => panic!("`loadtest` parses as the loadtest command"),
    }
}

/// Runs the real binary's `loadtest` and answers its exit code and stdout.
async fn loadtest_binary(url: &str, flags: &[&str]) -> (Option<i32>, String) {
    let args = ["loadtest", "--url", url, "--json"];
    let (code, stdout, _) = ticketing_binary(&args, flags).await;
    (code, stdout)
}

/// Runs the real binary with `args` then `flags`, and answers its exit code, stdout and
/// stderr.
pub async fn ticketing_binary(args: &[&str], flags: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(args)
        .args(flags)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the load test finishes within a minute")
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.code().is_some(),
        "exited by itself; stderr: {stderr}"
    );
    (output.status.code(), stdout, stderr)
}

#[actix_web::test]
async fn a_race_of_ten_buyers_on_each_of_three_tickets_has_one_winner_each_and_passes_the_audit() {
    // Arrange
    let app = spawn_app().await;
    let args = loadtest_args(
        &app.address,
        &[
            "--scenario",
            "race",
            "--tickets",
            "3",
            "--concurrency",
            "10",
        ],
    );
    // Act
    let report = run(&args).await.expect("the load test runs");
    // Assert
    assert!(report.passed(), "{:#?}", report.audit.findings.violations);
    let reserve = &report.run.phase.kinds[&Kind::Reserve];
    assert_eq!(reserve.count, 30);
    assert_eq!(
        reserve.statuses.get("201"),
        Some(&3),
        "{:?}",
        reserve.statuses
    );
    assert_eq!(
        reserve.statuses.get("409"),
        Some(&27),
        "{:?}",
        reserve.statuses
    );
    let won = report.audit.findings.race_won_once.expect("a race tally");
    assert_eq!((won.ok, won.of), (3, 3));
    assert_eq!(
        report.setup.kinds[&Kind::Signup].count,
        11,
        "a seller and ten buyers"
    );
    assert_eq!(report.audit.findings.live_orders, 3);
}

#[actix_web::test]
async fn a_marketplace_run_of_a_hundred_requests_passes_the_audit() {
    // Arrange
    let app = spawn_app().await;
    let args = loadtest_args(
        &app.address,
        &[
            "--users",
            "4",
            "--tickets",
            "12",
            "--concurrency",
            "4",
            "--requests",
            "100",
        ],
    );
    // Act
    let report = run(&args).await.expect("the load test runs");
    // Assert
    assert!(report.passed(), "{:#?}", report.audit.findings.violations);
    assert_eq!(report.run.phase.requests, 100);
    let kinds = &report.run.phase.kinds;
    assert!(
        kinds.contains_key(&Kind::ListTickets) && kinds.contains_key(&Kind::Reserve),
        "browsing and buying in the mix: {:?}",
        kinds.keys().collect::<Vec<_>>()
    );
    let errors: u64 = kinds
        .values()
        .flat_map(|k| k.statuses.iter())
        .filter(|(status, _)| status.starts_with('5') || status.as_str() == "error")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(errors, 0, "no server error or lost request");
    let findings = &report.audit.findings;
    assert_eq!(findings.reserved_present.ok, findings.reserved_present.of);
    assert_eq!(findings.paid_complete.ok, findings.paid_complete.of);
}

#[actix_web::test]
async fn the_binary_exits_zero_and_prints_a_json_report_when_the_audit_passes() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let (code, stdout) = loadtest_binary(
        &app.address,
        &["--scenario", "race", "--tickets", "2", "--concurrency", "4"],
    )
    .await;
    // Assert
    assert_eq!(code, Some(0), "stdout: {stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON report");
    assert_eq!(report["audit"]["passed"], true);
    assert_eq!(report["run"]["kinds"]["reserve"]["count"], 8);
    assert!(report["run"]["kinds"]["reserve"]["latency_ms"]["p99.9"].is_number());
}

#[actix_web::test]
async fn the_audit_catches_a_ticket_sold_twice_and_the_binary_exits_non_zero() {
    // Arrange: a shop that grants every reservation, so both racing buyers get the ticket.
    let shop = FakeShop::start();
    let flags = ["--scenario", "race", "--tickets", "1", "--concurrency", "2"];
    // Act
    let report = run(&loadtest_args(&shop.address, &flags))
        .await
        .expect("the load test runs");
    let (code, stdout) = loadtest_binary(&shop.address, &flags).await;
    // Assert
    assert!(!report.passed());
    let violations = &report.audit.findings.violations;
    assert!(
        violations.iter().any(|v| matches!(
            v,
            Violation::TicketHeldTwice { orders, .. } if orders.len() == 2
        )),
        "a ticket held by two live orders: {violations:#?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| matches!(v, Violation::RaceWonTwice { .. })),
        "two buyers told they won: {violations:#?}"
    );
    assert_eq!(code, Some(i32::from(EXIT_AUDIT_FAILED)), "stdout: {stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON report");
    assert_eq!(report["audit"]["passed"], false);
    assert!(
        report["audit"]["violations"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|v| v["kind"] == "ticket_held_twice"),
        "{}",
        report["audit"]
    );
}

/// A shop with the classic check-then-insert race at its worst: every reservation is
/// granted, so a ticket can have any number of live orders. It answers just the endpoints
/// the load tester uses, with the API's shapes.
struct FakeShop {
    address: String,
    _server: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct FakeState {
    next: u64,
    /// (order id, buyer id, ticket id)
    orders: Vec<(String, String, String)>,
    /// (ticket id, seller id)
    tickets: Vec<(String, String)>,
}

impl FakeState {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:023x}", self.next)
    }
}

type Shared = web::Data<Arc<Mutex<FakeState>>>;

impl FakeShop {
    fn start() -> FakeShop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = format!("http://{}", listener.local_addr().expect("an address"));
        let state = web::Data::new(Arc::new(Mutex::new(FakeState::default())));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/api/users/signup", web::post().to(signup))
                .route("/api/tickets", web::post().to(create_ticket))
                .route("/api/tickets/{id}", web::get().to(show_ticket))
                .route("/api/orders", web::post().to(reserve))
                .route("/api/orders", web::get().to(orders))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the fake shop listens")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        FakeShop {
            address,
            _server: handle,
        }
    }
}

/// The fake's sessions are the user id itself.
fn user_of(req: &HttpRequest) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

async fn signup(state: Shared, body: web::Json<Value>) -> HttpResponse {
    let id = state.lock().expect("fake state").id("a");
    HttpResponse::Created()
        .insert_header(("set-cookie", format!("session={id}; Path=/; HttpOnly")))
        .json(json!({"id": id, "email": body["email"]}))
}

async fn create_ticket(state: Shared, req: HttpRequest) -> HttpResponse {
    let mut state = state.lock().expect("fake state");
    let id = state.id("b");
    let seller = user_of(&req);
    state.tickets.push((id.clone(), seller.clone()));
    HttpResponse::Created()
        .json(json!({"id": id, "title": "A ticket", "price": 20, "userId": seller, "version": 0}))
}

async fn show_ticket(state: Shared, path: web::Path<String>) -> HttpResponse {
    let state = state.lock().expect("fake state");
    let Some((id, seller)) = state.tickets.iter().find(|(id, _)| *id == *path) else {
        return HttpResponse::NotFound().json(json!({"errors": [{"message": "Not found"}]}));
    };
    let held_by = state.orders.iter().find(|(_, _, t)| t == id).map(|o| &o.0);
    HttpResponse::Ok().json(json!({
        "id": id, "title": "A ticket", "price": 20, "userId": seller, "version": 1,
        "orderId": held_by,
    }))
}

async fn reserve(state: Shared, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let mut state = state.lock().expect("fake state");
    let id = state.id("c");
    let ticket = body["ticketId"].as_str().unwrap_or_default().to_owned();
    state
        .orders
        .push((id.clone(), user_of(&req), ticket.clone()));
    HttpResponse::Created().json(order_json(&id, &user_of(&req), &ticket))
}

async fn orders(state: Shared, req: HttpRequest) -> HttpResponse {
    let user = user_of(&req);
    let state = state.lock().expect("fake state");
    let mine: Vec<Value> = state
        .orders
        .iter()
        .filter(|(_, buyer, _)| *buyer == user)
        .map(|(id, buyer, ticket)| order_json(id, buyer, ticket))
        .collect();
    HttpResponse::Ok().json(mine)
}

fn order_json(id: &str, buyer: &str, ticket: &str) -> Value {
    json!({
        "id": id, "status": "created", "userId": buyer,
        "expiresAt": "2030-01-01T00:00:00.000Z",
        "ticket": {"id": ticket, "title": "A ticket", "price": 20, "version": 1},
        "version": 0,
    })
}
