//! Holds run out (issue 4, DESIGN §7.7): an unpaid order is cancelled when the app's clock
//! reaches its deadline and not a millisecond before, across a restart and a SIGKILL too; a
//! cancelled one never expires; and ten thousand holds each expire exactly once.
//!
//! The in-process tests move the app's manual clock (`TestApp::advance_to`) and let the hold
//! supervisor wake on it as it wakes on the system clock in production; they wait only for
//! the effect of work already due. The SIGKILL test runs the binary, on the system clock,
//! with one-second holds.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, expires_at, spawn_app, spawn_process};

const ORDERS_EXPIRED: &str = "ticketing_events_committed_total{event=\"OrderExpired\"}";
const TICKETS_RELEASED: &str = "ticketing_ticket_changes_total{change=\"released\"}";
const PENDING_HOLDS: &str = "ticketing_pending_holds";

#[actix_web::test]
async fn an_unpaid_hold_ends_at_its_deadline_and_the_ticket_sells_again() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (next_buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order = reserve(&app, &buyer, &ticket_id).await;
    // Act: the clock stops a millisecond short of the deadline, then reaches it.
    app.advance_to(order.deadline - chrono::Duration::milliseconds(1));
    let due_before = app.expire_due().await;
    let status_before = app.order_json(&buyer, &order.id).await["status"].clone();
    app.advance_to(order.deadline);
    let ended = wait_ended(&app, &buyer, &order).await;
    // Assert
    assert_eq!(due_before, 0, "nothing is due before the deadline");
    assert_eq!(status_before, "created");
    assert!(ended, "the hold ended within a second of its deadline");
    let expired = app.order_json(&buyer, &order.id).await;
    assert_eq!(
        (expired["status"].clone(), expired["version"].clone()),
        (json!("cancelled"), json!(1))
    );
    let ticket = app.ticket_json(&ticket_id).await;
    assert!(ticket.get("orderId").is_none(), "{ticket}");
    assert_eq!(ticket["version"], 2, "reserved, then released");
    let listed = app.listed_ids().await;
    assert_eq!(listed, vec![json!(ticket_id)]);
    let next = app.reserved_order(&next_buyer, &ticket_id).await;
    assert_eq!(
        app.cancel(&buyer, &order.id).await.status(),
        204,
        "cancelling an expired order"
    );
    assert_eq!(
        app.ticket_json(&ticket_id).await["orderId"],
        next.as_str(),
        "not freed by it"
    );
    assert_eq!(app.metric(ORDERS_EXPIRED).await, 1);
}

#[actix_web::test]
async fn a_hold_cancelled_by_its_buyer_before_its_deadline_never_expires() {
    // Arrange: two holds with one deadline; the buyer cancels one.
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let cancelled_ticket = app.listed_ticket(&seller).await;
    let control_ticket = app.listed_ticket(&seller).await;
    let cancelled = reserve(&app, &buyer, &cancelled_ticket).await;
    let control = reserve(&app, &buyer, &control_ticket).await;
    assert_eq!(
        cancelled.deadline, control.deadline,
        "the clock stood still"
    );
    assert_eq!(app.cancel(&buyer, &cancelled.id).await.status(), 204);
    // Act: the deadline comes; the control running out shows the supervisor's pass over
    // that deadline is done.
    app.advance_to(cancelled.deadline);
    let ended = wait_ended(&app, &buyer, &control).await;
    // Assert
    assert!(ended, "the control hold ended within a second");
    assert_eq!(app.expire_due().await, 0, "nothing is left to expire");
    assert_eq!(
        app.metric(ORDERS_EXPIRED).await,
        1,
        "only the control expired"
    );
    assert_eq!(
        app.order_json(&buyer, &cancelled.id).await["version"],
        1,
        "one change: the cancel"
    );
    assert_eq!(
        app.ticket_json(&cancelled_ticket).await["version"],
        2,
        "reserved, released"
    );
    assert_eq!(app.metric(PENDING_HOLDS).await, 0);
}

#[actix_web::test]
async fn pending_holds_still_expire_at_their_deadline_after_a_restart() {
    // Arrange
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order = reserve(&app, &buyer, &ticket_id).await;
    // Act
    app.restart().await;
    // Assert: the restarted supervisor found the hold and ends it when its deadline comes.
    assert_eq!(
        app.metric(PENDING_HOLDS).await,
        1,
        "the hold was still pending at start"
    );
    assert_eq!(app.expire_due().await, 0, "nothing is due yet");
    app.advance_to(order.deadline);
    let ended = wait_ended(&app, &buyer, &order).await;
    assert!(ended, "the hold ended within a second of its deadline");
    assert!(app.ticket_json(&ticket_id).await.get("orderId").is_none());
    assert_eq!(app.metric(ORDERS_EXPIRED).await, 1);
}

#[actix_web::test]
async fn a_hold_that_ran_out_while_the_server_was_killed_ends_within_a_second_of_the_next_start() {
    // Arrange: a child on the system clock, so its one-second deadline is waited out.
    let dir = tempfile::tempdir().expect("a data directory");
    let child = spawn_process(dir.path(), &[("TICKETING_HOLD_SECS", "1")]);
    child.wait_ready().await;
    let app = child.api();
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order = reserve(&app, &buyer, &ticket_id).await;
    child.kill();
    let passed = eventually(Duration::from_secs(5), || async {
        Utc::now() > order.deadline
    })
    .await;
    assert!(passed, "the deadline passed while the server was down");
    // Act
    let restarted = spawn_process(dir.path(), &[("TICKETING_HOLD_SECS", "1")]);
    restarted.wait_ready().await;
    let started = Instant::now();
    let app = restarted.api();
    // Assert
    let ended = eventually(Duration::from_secs(1), || hold_ended(&app, &buyer, &order)).await;
    assert!(ended, "ended within a second of the server answering");
    assert!(started.elapsed() <= Duration::from_secs(1));
    let (other, _) = app.user().await;
    assert_eq!(app.reserve(&other, &ticket_id).await.status(), 201);
}

#[actix_web::test]
async fn ten_thousand_holds_each_expire_exactly_once() {
    // Arrange: a few sellers list 10,000 tickets. The cost is the 20,000 requests and
    // 10,000 expiries of a debug build.
    const HOLDS: usize = 10_000;
    const WAVES: usize = 10;
    let app = spawn_app().await;
    let users = app.users(6).await;
    let (sellers, buyers) = users.split_at(2);
    let listings = (0..HOLDS).map(|i| {
        let (app, seller) = (&app, &sellers[i % sellers.len()].0);
        async move {
            let response = app
                .create_ticket(seller, &format!("Seat {i}"), json!(15))
                .await;
            assert_eq!(response.status(), 201, "seat {i}");
            let ticket: Value = response.json().await.expect("json");
            ticket["id"].as_str().expect("id").to_owned()
        }
    });
    let tickets: Vec<String> = futures::stream::iter(listings).buffered(32).collect().await;
    // Act: a few buyers hold every ticket in ten waves, the clock moving a fifth of a hold
    // after each, so from the sixth wave on the holds of earlier waves run out while new
    // holds keep waking the supervisor. Then the clock passes the last deadline.
    let hold = Duration::from_secs(60);
    for (wave, batch) in tickets.chunks(HOLDS / WAVES).enumerate() {
        let reservations = batch.iter().enumerate().map(|(i, ticket)| {
            let (app, buyer) = (&app, &buyers[i % buyers.len()].0);
            async move {
                let response = app.reserve(buyer, ticket).await;
                assert_eq!(response.status(), 201, "wave {wave}, hold {i}");
            }
        });
        let placed = futures::stream::iter(reservations).buffer_unordered(32);
        placed.collect::<Vec<()>>().await;
        app.advance(hold / 5);
    }
    app.advance(hold);
    // A hold leaves the deadline index when its order expires, a moment before its ticket
    // is released: wait for both counts.
    let expired = eventually(Duration::from_secs(60), || async {
        app.metric(ORDERS_EXPIRED).await >= HOLDS as u64
            && app.metric(TICKETS_RELEASED).await >= HOLDS as u64
    })
    .await;
    // Assert
    assert!(expired, "every hold ran out and released its ticket");
    assert_eq!(
        app.metric(ORDERS_EXPIRED).await,
        HOLDS as u64,
        "each hold expired once"
    );
    assert_eq!(
        app.metric(TICKETS_RELEASED).await,
        HOLDS as u64,
        "each ticket released once"
    );
    assert_eq!(app.metric(PENDING_HOLDS).await, 0);
    let mut orders = 0;
    for (buyer, _) in buyers {
        for order in app.orders_json(buyer).await {
            assert_eq!(
                (order["status"].clone(), order["version"].clone()),
                (json!("cancelled"), json!(1)),
                "{order}"
            );
            orders += 1;
        }
    }
    assert_eq!(orders, HOLDS);
    let listing = app.listing(1000).await;
    assert_eq!(listing.len(), HOLDS, "every ticket is for sale again");
    assert!(
        listing
            .iter()
            .all(|t| t["version"] == 2 && t.get("orderId").is_none())
    );
}

/// An order as the test needs it: its id, its ticket and its deadline.
struct Held {
    id: String,
    ticket_id: String,
    deadline: DateTime<Utc>,
}

async fn reserve(app: &TestApp, buyer: &Client, ticket_id: &str) -> Held {
    let response = app.reserve(buyer, ticket_id).await;
    assert_eq!(response.status(), 201, "reserve {ticket_id}");
    let order: Value = response.json().await.expect("json");
    assert_eq!(order["status"], "created");
    Held {
        id: order["id"].as_str().expect("id").to_owned(),
        ticket_id: ticket_id.to_owned(),
        deadline: expires_at(&order),
    }
}

/// Waits until a hold that is due has ended; answers whether it did within a second of
/// the call, as a hold must end within a second of its deadline.
async fn wait_ended(app: &TestApp, buyer: &Client, held: &Held) -> bool {
    eventually(Duration::from_secs(1), || hold_ended(app, buyer, held)).await
}

/// The order is cancelled and its ticket no longer names it (the release follows the
/// expiry by a moment).
async fn hold_ended(app: &TestApp, buyer: &Client, held: &Held) -> bool {
    app.order_json(buyer, &held.id).await["status"] == "cancelled"
        && app
            .ticket_json(&held.ticket_id)
            .await
            .get("orderId")
            .is_none()
}
