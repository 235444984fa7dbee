//! The crash soak (DESIGN §1 "nothing acknowledged is lost, even under kill -9"): the real
//! binary under mixed load, SIGKILLed at a random moment, restarted on the same data
//! directory, and audited, again and again.
//!
//! Every write the shop acknowledged goes into a ledger: accounts (with their sessions),
//! tickets, reservations, payments and cancellations. After each restart the audit checks
//! that every one of them is there, that no ticket has two live orders and each held ticket
//! names its order, and that every hold placed before the kill still runs out (the test
//! waits for all of them, with 4-second holds, before it audits).
//!
//! `cargo test` runs 3 kills with the test build of the binary. The full soak, documented in
//! docs/BENCHMARKS.md, is `bench/soak.sh` (20 kills, the release binary):
//! `SOAK_KILLS=20 SOAK_BIN=target/release/ticketing cargo test --test api soak -- --nocapture`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::Client;
use serde_json::{Value, json};

use crate::audit::one_live_order_per_ticket;
use crate::helpers::{ChildApp, JWT_SECRET, PASSWORD, eventually, free_port};

/// What the shop acknowledged.
#[derive(Default)]
struct Ledger {
    /// Email -> session token.
    users: HashMap<String, String>,
    tickets: Vec<String>,
    /// Order id -> (buyer's email, ticket id).
    orders: HashMap<String, (String, String)>,
    paid: HashSet<String>,
    cancelled: HashSet<String>,
}

fn start(dir: &std::path::Path) -> ChildApp {
    let port = free_port();
    let binary =
        std::env::var("SOAK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ticketing").to_owned());
    let child = std::process::Command::new(binary)
        .env("TICKETING_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKETING_DATA_DIR", dir)
        .env("JWT_KEY", JWT_SECRET)
        .env("TICKETING_HOLD_SECS", "4")
        .env("TICKETING_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    ChildApp {
        child,
        address: format!("http://127.0.0.1:{port}"),
    }
}

/// One worker's load until the server dies under it: list, browse, reserve, pay and cancel
/// in a mix, as one account. Records each acknowledged write.
async fn work(base: String, email: String, token: String, ledger: Arc<Mutex<Ledger>>) {
    let http = Client::new();
    let mut mine: Vec<String> = Vec::new();
    loop {
        let roll = rand::rng().random_range(0..100);
        let result = if roll < 20 {
            let title = format!("Soak {}", rand::rng().random::<u32>());
            http.post(format!("{base}/api/tickets"))
                .bearer_auth(&token)
                .json(&json!({"title": title, "price": 12}))
                .send()
                .await
                .map(|response| (response, "list"))
        } else if roll < 50 {
            let ticket = {
                let ledger = ledger.lock().expect("the ledger");
                (!ledger.tickets.is_empty()).then(|| {
                    ledger.tickets[rand::rng().random_range(0..ledger.tickets.len())].clone()
                })
            };
            let Some(ticket) = ticket else { continue };
            http.post(format!("{base}/api/orders"))
                .bearer_auth(&token)
                .json(&json!({"ticketId": ticket}))
                .send()
                .await
                .map(|response| (response, "reserve"))
        } else if roll < 80 && !mine.is_empty() {
            let order = mine.swap_remove(rand::rng().random_range(0..mine.len()));
            let request = if roll < 65 {
                http.post(format!("{base}/api/payments"))
                    .json(&json!({"orderId": order, "token": "tok_visa"}))
            } else {
                http.delete(format!("{base}/api/orders/{order}"))
            };
            let response = request.bearer_auth(&token).send().await;
            match response {
                Ok(response) if response.status() == 201 => {
                    ledger.lock().expect("the ledger").paid.insert(order);
                }
                Ok(response) if response.status() == 204 => {
                    ledger.lock().expect("the ledger").cancelled.insert(order);
                }
                Ok(_) => {}
                Err(_) => return,
            }
            continue;
        } else {
            http.get(format!("{base}/api/tickets?limit=20"))
                .send()
                .await
                .map(|response| (response, "browse"))
        };
        let Ok((response, kind)) = result else {
            return;
        };
        if response.status() != 201 {
            continue;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let mut ledger = ledger.lock().expect("the ledger");
        match kind {
            "list" => ledger.tickets.push(id),
            "reserve" => {
                let ticket = body["ticket"]["id"].as_str().unwrap_or_default().to_owned();
                ledger.orders.insert(id.clone(), (email.clone(), ticket));
                mine.push(id);
            }
            _ => {}
        }
    }
}

async fn signup(base: &str, email: &str) -> Option<String> {
    let response = Client::new()
        .post(format!("{base}/api/users/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    (response.status() == 201).then(|| {
        response
            .cookies()
            .find(|c| c.name() == "session")
            .map(|c| c.value().to_owned())
    })?
}

/// A client that sends `token` as Bearer on every request.
fn as_user(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header"),
    );
    Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// Everything the ledger holds is there, every hold placed before the kill has run out, no
/// ticket has two live orders.
async fn audit(server: &ChildApp, ledger: &Ledger, round: usize) {
    let app = server.api();
    let buyers: Vec<Client> = ledger.users.values().map(|token| as_user(token)).collect();
    // Every hold runs out (4 s holds): wait until no order is still `created`.
    let expired = eventually(Duration::from_secs(30), || async {
        for buyer in &buyers {
            if app
                .orders_json(buyer)
                .await
                .iter()
                .any(|o| o["status"] == "created")
            {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        expired,
        "round {round}: every hold ran out after the restart"
    );
    for (email, token) in &ledger.users {
        let current = app.current_user(&as_user(token)).await;
        assert_eq!(
            current["currentUser"]["email"],
            email.as_str(),
            "round {round}: {email}'s session"
        );
    }
    let seen = one_live_order_per_ticket(&app, &buyers, &ledger.tickets).await;
    assert_eq!(
        seen.tickets.len(),
        ledger.tickets.len(),
        "round {round}: every ticket"
    );
    for (order_id, (_, ticket_id)) in &ledger.orders {
        let order = seen
            .orders
            .get(order_id)
            .unwrap_or_else(|| panic!("round {round}: the acknowledged order {order_id} is gone"));
        assert_eq!(
            order["ticket"]["id"],
            ticket_id.as_str(),
            "round {round}: {order_id}"
        );
    }
    for order_id in &ledger.paid {
        assert_eq!(
            seen.orders[order_id]["status"], "complete",
            "round {round}: paid {order_id}"
        );
    }
    for order_id in &ledger.cancelled {
        assert_eq!(
            seen.orders[order_id]["status"], "cancelled",
            "round {round}: cancelled {order_id}"
        );
    }
}

#[actix_web::test]
async fn soak_acknowledged_writes_survive_repeated_sigkills_and_every_hold_still_runs_out() {
    let kills: usize = std::env::var("SOAK_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("a data directory");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = start(dir.path());
    server.wait_ready().await;
    for round in 1..=kills {
        // A few new accounts each round, then the load.
        for n in 0..3 {
            let email = format!("soak-{round}-{n}@example.com");
            if let Some(token) = signup(&server.address, &email).await {
                ledger
                    .lock()
                    .expect("the ledger")
                    .users
                    .insert(email, token);
            }
        }
        let workers: Vec<_> = ledger
            .lock()
            .expect("the ledger")
            .users
            .iter()
            .map(|(email, token)| {
                actix_rt::spawn(work(
                    server.address.clone(),
                    email.clone(),
                    token.clone(),
                    ledger.clone(),
                ))
            })
            .collect();
        let running = Duration::from_millis(rand::rng().random_range(500..2_000));
        tokio::time::sleep(running).await;
        server.kill();
        for worker in workers {
            let _ = worker.await;
        }
        server = start(dir.path());
        server.wait_ready().await;
        let snapshot = {
            let ledger = ledger.lock().expect("the ledger");
            Ledger {
                users: ledger.users.clone(),
                tickets: ledger.tickets.clone(),
                orders: ledger.orders.clone(),
                paid: ledger.paid.clone(),
                cancelled: ledger.cancelled.clone(),
            }
        };
        audit(&server, &snapshot, round).await;
        println!(
            "soak round {round}/{kills}: killed after {running:?}; {} accounts, {} tickets, {} orders ({} paid, {} cancelled) all there",
            snapshot.users.len(),
            snapshot.tickets.len(),
            snapshot.orders.len(),
            snapshot.paid.len(),
            snapshot.cancelled.len()
        );
    }
}
