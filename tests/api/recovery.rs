//! State that outlives its actors and its process: passivation, a graceful restart, a SIGKILL
//! in the middle of a burst, and a rebuild of every projection from the journal. Each test
//! compares what the API shows before and after, and then keeps using the entities.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::ETAG;
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::audit::one_live_order_per_ticket;
use crate::helpers::{ChildApp, PASSWORD, TestApp, eventually, spawn_app_with, spawn_process};

const LIVE_TICKETS: &str = "ticketing_live_actors{kind=\"ticket\"}";
const LIVE_ORDERS: &str = "ticketing_live_actors{kind=\"order\"}";

#[actix_web::test]
async fn idle_actors_passivate_and_come_back_with_their_stored_state() {
    // Arrange
    let app = spawn_app_with(|c| c.actor_idle_ms = 1000).await;
    let world = World::build(&app).await;
    let live = (
        app.metric(LIVE_TICKETS).await,
        app.metric(LIVE_ORDERS).await,
    );
    assert!(
        live.0 > 0 && live.1 > 0,
        "the work activated actors: {live:?}"
    );
    let before = view(&app, &world.clients(), &world.tickets()).await;
    // Act
    let passivated = eventually(Duration::from_secs(10), || async {
        app.metric(LIVE_TICKETS).await == 0 && app.metric(LIVE_ORDERS).await == 0
    })
    .await;
    // Assert
    assert!(passivated, "every idle actor stopped");
    assert_eq!(view(&app, &world.clients(), &world.tickets()).await, before);
    world.resume(&app).await;
}

#[actix_web::test]
async fn a_message_that_meets_a_passivating_actor_still_succeeds() {
    // Arrange: actors stop after 1 ms idle, so they stop between almost any two requests.
    let app = spawn_app_with(|c| c.actor_idle_ms = 1).await;
    let (seller, _) = app.user().await;
    let buyers: Vec<Client> = app.users(4).await.into_iter().map(|(c, _)| c).collect();
    let edited: Vec<String> =
        futures::future::join_all((0..30).map(|_| app.listed_ticket(&seller))).await;
    let contended = app.listed_ticket(&seller).await;
    // Act: edits in a row, each naming the version the last one answered.
    let mut passivations_seen = 0;
    for version in 0..100 {
        let body = json!({"title": format!("Edit {version}"), "price": 20});
        let response = app
            .update_ticket_if_match(&seller, &edited[0], &format!("\"{version}\""), &body)
            .await;
        assert_eq!(response.status(), 200, "edit {version}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["version"], version + 1, "edit {version}");
        if app.metric(LIVE_TICKETS).await == 0 {
            passivations_seen += 1;
        }
    }
    // Act: for two seconds, concurrent edits of ten tickets while buyers reserve and cancel
    // an eleventh, so activations and passivations interleave with messages in flight.
    let until = Instant::now() + Duration::from_secs(3);
    let editors = (0..32).map(|_| hammer_edits(&app, &seller, &edited, until));
    let churn = buyers.iter().map(|buyer| {
        let (app, contended) = (&app, &contended);
        async move {
            let mut cancelled = 0u64;
            while Instant::now() < until {
                let response = app.reserve(buyer, contended).await;
                match response.status().as_u16() {
                    201 => {}
                    409 => continue,
                    other => panic!("reserving answered {other}"),
                }
                let order: Value = response.json().await.expect("json");
                let id = order["id"].as_str().expect("id");
                assert_eq!(app.cancel(buyer, id).await.status(), 204, "cancel {id}");
                cancelled += 1;
            }
            cancelled
        }
    });
    let (edits, cancels) = futures::future::join(
        futures::future::join_all(editors),
        futures::future::join_all(churn),
    )
    .await;
    // Assert
    assert!(passivations_seen > 0, "actors passivated between the edits");
    let cancelled: u64 = cancels.iter().sum();
    assert!(cancelled > 0, "some reservations won: {cancels:?}");
    let mut all = edited.clone();
    all.push(contended.clone());
    let seen = one_live_order_per_ticket(&app, &buyers, &all).await;
    assert!(seen.live.is_empty(), "every order was cancelled");
    assert_eq!(seen.orders.len() as u64, cancelled);
    assert_eq!(
        seen.tickets[&contended]["version"],
        2 * cancelled,
        "reserve and release, each once"
    );
    for (i, ticket) in edited.iter().enumerate() {
        let landed: u64 = edits.iter().map(|per_ticket| per_ticket[i]).sum();
        let expected = landed + if i == 0 { 100 } else { 0 };
        assert_eq!(
            seen.tickets[ticket]["version"], expected,
            "ticket {i}: no edit lost"
        );
    }
}

/// Edits random tickets of `tickets` until `until`; every edit must land. Answers how many
/// landed on each ticket.
async fn hammer_edits(
    app: &TestApp,
    seller: &Client,
    tickets: &[String],
    until: Instant,
) -> Vec<u64> {
    let mut landed = vec![0; tickets.len()];
    while Instant::now() < until {
        let i = rand::rng().random_range(0..tickets.len());
        let body = json!({"title": "Hammered", "price": 20});
        let response = app.update_ticket(seller, &tickets[i], &body).await;
        assert_eq!(response.status(), 200, "edit of ticket {i}");
        landed[i] += 1;
    }
    landed
}

#[actix_web::test]
async fn everything_survives_a_restart_versions_included() {
    // Arrange
    let mut app = spawn_app_with(|_| {}).await;
    let world = World::build(&app).await;
    let before = view(&app, &world.clients(), &world.tickets()).await;
    // Act
    app.restart().await;
    // Assert
    assert_eq!(view(&app, &world.clients(), &world.tickets()).await, before);
    world.resume(&app).await;
}

#[actix_web::test]
async fn replaying_the_journal_into_empty_projections_rebuilds_identical_state() {
    // Arrange
    let mut app = spawn_app_with(|_| {}).await;
    let world = World::build(&app).await;
    let before = view(&app, &world.clients(), &world.tickets()).await;
    let journal = events_committed(&app).await;
    // Act
    app.restart_with(|c| c.rebuild_projections = true).await;
    // Assert
    assert_eq!(
        app.metric("ticketing_replayed_events_at_start").await,
        journal,
        "the rebuild replayed the whole journal"
    );
    assert_eq!(view(&app, &world.clients(), &world.tickets()).await, before);
    let email = app.current_user(&world.buyer_a).await["currentUser"]["email"].clone();
    let signin = app
        .signin(&app.client(), email.as_str().expect("email"), PASSWORD)
        .await;
    assert_eq!(signin.status(), 200, "accounts are rebuilt too");
    world.resume(&app).await;
}

#[actix_web::test]
async fn a_sigkill_in_the_middle_of_a_burst_loses_nothing_that_was_acknowledged() {
    // Arrange
    let dir = tempfile::tempdir().expect("a data directory");
    let child = spawn_process(dir.path(), &[]);
    child.wait_ready().await;
    let app = child.api();
    let (seller, _) = app.user().await;
    let buyers: Vec<Client> = app.users(10).await.into_iter().map(|(c, _)| c).collect();
    let tickets: Vec<String> =
        futures::future::join_all((0..8).map(|_| app.listed_ticket(&seller))).await;
    let log = RefCell::new(Log {
        server: Some(child),
        ..Log::default()
    });
    // Act: buyers reserve and cancel until the server dies under them, killed the moment
    // the 150th reservation is acknowledged, with other requests in flight.
    let burst = buyers
        .iter()
        .map(|buyer| burst_buyer(&app, buyer, &tickets, &log));
    let ended =
        tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(burst)).await;
    assert!(ended.is_ok(), "the burst reached its kill point");
    let restarted = spawn_process(dir.path(), &[]);
    restarted.wait_ready().await;
    let app = restarted.api();
    // Assert
    let log = log.into_inner();
    assert!(
        log.cancelled.len() > 10,
        "{} cancellations",
        log.cancelled.len()
    );
    let seen = one_live_order_per_ticket(&app, &buyers, &tickets).await;
    for (order_id, ticket_id) in &log.reserved {
        let order = seen
            .orders
            .get(order_id)
            .unwrap_or_else(|| panic!("the acknowledged order {order_id} is gone"));
        assert_eq!(
            order["ticket"]["id"],
            ticket_id.as_str(),
            "order {order_id}"
        );
    }
    for order_id in &log.cancelled {
        assert_eq!(
            seen.orders[order_id]["status"], "cancelled",
            "order {order_id}"
        );
        let ticket_id = seen.orders[order_id]["ticket"]["id"].as_str().expect("id");
        if let Some(holder) = seen.live.get(ticket_id) {
            assert!(
                holder > order_id,
                "{ticket_id} is held by {holder}, older than the cancelled {order_id}"
            );
        }
    }
    for ticket_id in &tickets {
        // Every order held its ticket once and every cancelled one released it: a release
        // lost in the crash would show as a missing version (and a ticket still held).
        let orders = seen
            .orders
            .values()
            .filter(|o| o["ticket"]["id"] == ticket_id.as_str());
        let cancelled = orders.filter(|o| o["status"] == "cancelled").count() as u64;
        let live = u64::from(seen.live.contains_key(ticket_id));
        assert_eq!(
            seen.tickets[ticket_id]["version"],
            2 * cancelled + live,
            "ticket {ticket_id}"
        );
    }

    // Arrange: the same data, projections rebuilt from the journal alone.
    let before = view(&app, &buyers, &tickets).await;
    restarted.kill();
    // Act
    let rebuilt = spawn_process(dir.path(), &[("TICKETING_REBUILD_PROJECTIONS", "true")]);
    rebuilt.wait_ready().await;
    // Assert
    assert_eq!(view(&rebuilt.api(), &buyers, &tickets).await, before);
}

/// A small marketplace with every kind of state a ticket and an order can be in.
struct World {
    seller: Client,
    buyer_a: Client,
    buyer_b: Client,
    /// Listed, never touched.
    untouched: String,
    /// Edited twice.
    edited: String,
    /// Held by buyer A's `held_order`.
    held: String,
    held_order: String,
    /// Held by A, cancelled by A, then held by B.
    resold: String,
    resold_old_order: String,
    /// Held by B, then cancelled: for sale again.
    released: String,
    /// Edited once, then held by B.
    edited_then_held: String,
}

impl World {
    async fn build(app: &TestApp) -> World {
        let (seller, _) = app.user().await;
        let (buyer_a, _) = app.user().await;
        let (buyer_b, _) = app.user().await;
        let untouched = app
            .listed_ticket_json(&seller, "Untouched", json!(10))
            .await;
        let edited = app.listed_ticket(&seller).await;
        for price in ["11.11", "22.22"] {
            let body = json!({"title": "Edited", "price": price});
            assert_eq!(
                app.update_ticket(&seller, &edited, &body).await.status(),
                200
            );
        }
        let held = app.listed_ticket(&seller).await;
        let held_order = app.reserved_order(&buyer_a, &held).await;
        let resold = app.listed_ticket(&seller).await;
        let resold_old_order = app.reserved_order(&buyer_a, &resold).await;
        assert_eq!(app.cancel(&buyer_a, &resold_old_order).await.status(), 204);
        app.reserved_order(&buyer_b, &resold).await;
        let released = app.listed_ticket(&seller).await;
        let released_order = app.reserved_order(&buyer_b, &released).await;
        let edited_then_held = app.listed_ticket(&seller).await;
        let body = json!({"title": "Edited once", "price": 19.99});
        assert_eq!(
            app.update_ticket(&seller, &edited_then_held, &body)
                .await
                .status(),
            200
        );
        app.reserved_order(&buyer_b, &edited_then_held).await;
        assert_eq!(app.cancel(&buyer_b, &released_order).await.status(), 204);
        World {
            seller,
            buyer_a,
            buyer_b,
            untouched: untouched["id"].as_str().expect("id").to_owned(),
            edited,
            held,
            held_order,
            resold,
            resold_old_order,
            released,
            edited_then_held,
        }
    }

    fn clients(&self) -> Vec<Client> {
        vec![
            self.seller.clone(),
            self.buyer_a.clone(),
            self.buyer_b.clone(),
        ]
    }

    fn tickets(&self) -> Vec<String> {
        [
            &self.untouched,
            &self.edited,
            &self.held,
            &self.resold,
            &self.released,
            &self.edited_then_held,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// Sends every kind of command to the entities: each answer shows that the actor that
    /// handled it started from the right state (version, hold, order status).
    async fn resume(&self, app: &TestApp) {
        let edit = json!({"title": "After", "price": 30});
        let response = app
            .update_ticket_if_match(&self.seller, &self.edited, "\"2\"", &edit)
            .await;
        assert_eq!(response.status(), 200, "the edited ticket is at version 2");
        assert_eq!(response.json::<Value>().await.expect("json")["version"], 3);
        let response = app
            .update_ticket(&self.seller, &self.edited_then_held, &edit)
            .await;
        assert_eq!(response.status(), 409, "the edited ticket is still held");
        for buyer in [&self.buyer_a, &self.buyer_b] {
            assert_eq!(
                app.reserve(buyer, &self.held).await.status(),
                409,
                "still held"
            );
        }
        assert_eq!(
            app.cancel(&self.buyer_a, &self.held_order).await.status(),
            204
        );
        let held = app.ticket_json(&self.held).await;
        assert_eq!(
            (held.get("orderId"), held["version"].clone()),
            (None, json!(2)),
            "released"
        );
        assert_eq!(
            app.cancel(&self.buyer_a, &self.resold_old_order)
                .await
                .status(),
            204
        );
        assert!(
            app.ticket_json(&self.resold).await["orderId"].is_string(),
            "still B's"
        );
        app.reserved_order(&self.buyer_a, &self.released).await;
        assert_eq!(app.ticket_json(&self.released).await["version"], 3);
        app.reserved_order(&self.buyer_b, &self.untouched).await;
        assert_eq!(app.ticket_json(&self.untouched).await["version"], 1);
    }
}

/// Everything the API shows about these users and tickets: the listing (paged), each
/// ticket with its ETag, each user's orders and each order on its own, the sessions, and
/// the pending holds.
async fn view(app: &TestApp, users: &[Client], tickets: &[String]) -> Value {
    let mut shown = Vec::new();
    for id in tickets {
        let response = app.ticket(id).await;
        assert_eq!(response.status(), 200, "ticket {id}");
        let etag = response.headers()[ETAG].to_str().expect("ascii").to_owned();
        shown.push(json!({"etag": etag, "body": response.json::<Value>().await.expect("json")}));
    }
    let mut orders = Vec::new();
    let mut each = Vec::new();
    let mut sessions = Vec::new();
    for user in users {
        let theirs = app.orders_json(user).await;
        for order in &theirs {
            each.push(
                app.order_json(user, order["id"].as_str().expect("id"))
                    .await,
            );
        }
        orders.push(theirs);
        sessions.push(app.current_user(user).await);
    }
    json!({
        "listing": app.listing(2).await,
        "tickets": shown,
        "orders": orders,
        "each order": each,
        "sessions": sessions,
        "pending holds": app.metric("ticketing_pending_holds").await,
    })
}

/// What the burst was told: orders answered 201 and orders answered 204 to a cancel. Holds
/// the server until the reservation that kills it.
#[derive(Default)]
struct Log {
    /// (order id, ticket id)
    reserved: Vec<(String, String)>,
    cancelled: Vec<String>,
    server: Option<ChildApp>,
}

/// The reservation after whose acknowledgment the server is killed.
const KILL_AT: usize = 150;

impl Log {
    fn reserved(&mut self, order_id: String, ticket_id: String) {
        self.reserved.push((order_id, ticket_id));
        if self.reserved.len() == KILL_AT {
            // At once, before anything else runs: a reply sent before its write was durable
            // would be lost.
            self.server.take().expect("the server is up").kill();
        }
    }
}

/// One buyer reserving random tickets and cancelling its holds at random until a request
/// fails to get an answer (the server was killed).
async fn burst_buyer(app: &TestApp, buyer: &Client, tickets: &[String], log: &RefCell<Log>) {
    let mut holding: Vec<String> = Vec::new();
    loop {
        let (cancel, pick) = {
            let mut rng = rand::rng();
            (
                !holding.is_empty() && rng.random_bool(0.5),
                rng.random_range(0..64usize),
            )
        };
        if cancel {
            let order_id = holding.swap_remove(pick % holding.len());
            let Ok(response) = try_cancel(app, buyer, &order_id).await else {
                return;
            };
            assert_eq!(response.status(), 204, "cancel {order_id}");
            log.borrow_mut().cancelled.push(order_id);
        } else {
            let ticket_id = &tickets[pick % tickets.len()];
            let Ok(response) = try_reserve(app, buyer, ticket_id).await else {
                return;
            };
            match response.status().as_u16() {
                201 => {}
                409 => continue,
                other => panic!("reserving {ticket_id} answered {other}"),
            }
            let Ok(order) = response.json::<Value>().await else {
                return;
            };
            let order_id = order["id"].as_str().expect("id").to_owned();
            holding.push(order_id.clone());
            log.borrow_mut().reserved(order_id, ticket_id.clone());
        }
    }
}

/// POST /api/orders that reports a failed connection instead of panicking (the server is
/// killed mid-request).
async fn try_reserve(app: &TestApp, buyer: &Client, ticket_id: &str) -> reqwest::Result<Response> {
    let request = buyer.post(app.url("/api/orders"));
    request.json(&json!({"ticketId": ticket_id})).send().await
}

/// DELETE /api/orders/:id that reports a failed connection instead of panicking.
async fn try_cancel(app: &TestApp, buyer: &Client, order_id: &str) -> reqwest::Result<Response> {
    buyer
        .delete(app.url(&format!("/api/orders/{order_id}")))
        .send()
        .await
}

/// Every event this process committed, all kinds together (from /metrics).
async fn events_committed(app: &TestApp) -> u64 {
    let text = app.metrics_text().await;
    let counts = text
        .lines()
        .filter(|line| line.starts_with("ticketing_events_committed_total{"))
        .map(|line| line.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()));
    counts.map(|count| count.expect("a count")).sum()
}

#[actix_web::test]
async fn every_acknowledged_write_waits_for_a_flush_and_concurrent_writes_share_one() {
    // Arrange
    let app = crate::helpers::spawn_app().await;
    let (seller, _) = app.user().await;
    // Read together: the persister flushes on its own too, between separate reads.
    let counts = |text: String| {
        (
            crate::helpers::metric_in(&text, "ticketing_store_flushes_total"),
            crate::helpers::metric_in(&text, "ticketing_store_durable_waits_total"),
            crate::helpers::metric_in(&text, "ticketing_store_flush_seconds_count"),
        )
    };
    let (flushes, waits, timed) = counts(app.metrics_text().await);
    // Act
    let titles: Vec<String> = (0..64).map(|n| format!("Gig {n}")).collect();
    let created = futures::future::join_all(
        titles
            .iter()
            .map(|title| app.create_ticket(&seller, title, json!(20))),
    )
    .await;
    // Assert
    assert!(created.iter().all(|r| r.status() == 201));
    let (flushes_after, waits_after, timed_after) = counts(app.metrics_text().await);
    let (flushes, waits, timed) = (
        flushes_after - flushes,
        waits_after - waits,
        timed_after - timed,
    );
    assert!(waits >= 64, "each 201 waited for durability: {waits} waits");
    assert_eq!(timed, flushes, "every flush's duration is in the histogram");
    assert!(
        (1..waits).contains(&flushes),
        "64 concurrent writes share flushes (group commit): {flushes} flushes for {waits} waits"
    );
}
