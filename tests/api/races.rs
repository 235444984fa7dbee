//! Concurrency over HTTP (DESIGN §7.1): many buyers racing for the same tickets, and a storm
//! of orders, cancels and edits on a few tickets, audited afterwards through the API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Client;
use serde_json::{Value, json};

use crate::audit::one_live_order_per_ticket;
use crate::helpers::{TestApp, spawn_app};

const ORDERS_CREATED: &str = "ticketing_events_committed_total{event=\"OrderCreated\"}";

#[actix_web::test]
async fn buyers_racing_for_the_same_ticket_get_exactly_one_201_and_409s_for_the_rest() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let buyers = app.users(200).await;
    let ticket = app.listed_ticket(&seller).await;
    // Act: 200 buyers, one ticket, all at once.
    let statuses = race(
        &app,
        buyers.iter().map(|(client, _)| (client, ticket.as_str())),
    )
    .await;
    // Assert
    assert_eq!(
        tally(&statuses),
        HashMap::from([(201, 1), (409, 199)]),
        "one ticket"
    );
    let winner = winner_of(&app, &buyers, &ticket).await;
    assert_eq!(app.ticket_json(&ticket).await["orderId"], winner.as_str());

    // Arrange: 20 tickets, 50 of the same buyers on each, every request at once.
    let tickets: Vec<String> =
        futures::future::join_all((0..20).map(|_| app.listed_ticket(&seller))).await;
    let attempts: Vec<(&Client, &str)> = tickets
        .iter()
        .enumerate()
        .flat_map(|(t, ticket)| {
            (0..50)
                .map(move |k| (t * 50 + k) % 200)
                .map(|b| (&buyers[b].0, ticket.as_str()))
        })
        .collect();
    // Act
    let statuses = race(&app, attempts.iter().copied()).await;
    // Assert
    assert_eq!(
        tally(&statuses),
        HashMap::from([(201, 20), (409, 980)]),
        "20 tickets"
    );
    for (t, ticket) in tickets.iter().enumerate() {
        let wins = statuses[t * 50..(t + 1) * 50]
            .iter()
            .filter(|s| **s == 201)
            .count();
        assert_eq!(wins, 1, "ticket {t} ({ticket}) has one winner");
    }
    let seen = one_live_order_per_ticket(
        &app,
        &buyers.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        &tickets,
    )
    .await;
    assert_eq!(seen.orders.len(), 21, "one order per ticket, nothing more");
    assert_eq!(app.metric(ORDERS_CREATED).await, 21);
}

#[actix_web::test]
async fn a_storm_of_orders_cancels_and_edits_leaves_every_ticket_with_at_most_one_live_order() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let buyers: Vec<Client> = app.users(12).await.into_iter().map(|(c, _)| c).collect();
    let tickets: Vec<String> =
        futures::future::join_all((0..3).map(|_| app.listed_ticket(&seller))).await;
    let until = Instant::now() + Duration::from_secs(3);
    // Act
    let buyer_work = buyers
        .iter()
        .map(|buyer| storm_buyer(&app, buyer, &tickets, until));
    let (journals, edits) = futures::future::join(
        futures::future::join_all(buyer_work),
        storm_seller(&app, &seller, &tickets, until),
    )
    .await;
    // Assert
    let seen = one_live_order_per_ticket(&app, &buyers, &tickets).await;
    let mut created = 0;
    let mut cancelled_per_ticket: HashMap<&str, u64> = HashMap::new();
    for journal in &journals {
        for (order_id, ticket_id, cancelled) in journal {
            created += 1;
            let order = &seen.orders[order_id];
            let status = order["status"].as_str().expect("status");
            assert_eq!(
                status == "cancelled",
                *cancelled,
                "order {order_id} is {status}"
            );
            if *cancelled {
                *cancelled_per_ticket.entry(ticket_id.as_str()).or_default() += 1;
            }
        }
    }
    assert_eq!(
        seen.orders.len(),
        created,
        "every order is one that got a 201"
    );
    assert!(created > 50, "the storm made {created} orders");
    for ticket_id in &tickets {
        // Every reservation, release and edit adds 1: an order held its ticket once and, if
        // cancelled, released it once.
        let cancelled = cancelled_per_ticket
            .get(ticket_id.as_str())
            .copied()
            .unwrap_or(0);
        let live = u64::from(seen.live.contains_key(ticket_id));
        let expected = edits[ticket_id] + 2 * cancelled + live;
        assert_eq!(
            seen.tickets[ticket_id]["version"], expected,
            "ticket {ticket_id}'s version"
        );
    }
    assert!(
        edits.values().sum::<u64>() > 0,
        "some edits landed between holds"
    );
}

/// Sends every (buyer, ticket) order at once; answers the statuses in the same order.
async fn race<'a>(
    app: &TestApp,
    attempts: impl Iterator<Item = (&'a Client, &'a str)>,
) -> Vec<u16> {
    let requests = attempts
        .map(|(client, ticket)| async move { app.reserve(client, ticket).await.status().as_u16() });
    futures::future::join_all(requests).await
}

fn tally(statuses: &[u16]) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for status in statuses {
        *counts.entry(*status).or_default() += 1;
    }
    counts
}

/// The one order any of `buyers` holds on `ticket`.
async fn winner_of(app: &TestApp, buyers: &[(Client, String)], ticket: &str) -> String {
    let mut winners = Vec::new();
    for (client, _) in buyers {
        for order in app.orders_json(client).await {
            if order["ticket"]["id"] == ticket {
                winners.push(order["id"].as_str().expect("id").to_owned());
            }
        }
    }
    assert_eq!(winners.len(), 1, "orders for {ticket}: {winners:?}");
    winners.remove(0)
}

/// One buyer until `until`: reserves random tickets and cancels its holds at random.
/// Answers (order id, ticket id, whether it was cancelled with a 204) for every 201.
async fn storm_buyer(
    app: &TestApp,
    buyer: &Client,
    tickets: &[String],
    until: Instant,
) -> Vec<(String, String, bool)> {
    let mut journal: Vec<(String, String, bool)> = Vec::new();
    while Instant::now() < until {
        let holding: Vec<usize> = (0..journal.len()).filter(|i| !journal[*i].2).collect();
        let (cancel, pick) = {
            let mut rng = rand::rng();
            (
                !holding.is_empty() && rng.random_bool(0.6),
                rng.random_range(0..tickets.len().max(holding.len())),
            )
        };
        if cancel {
            let i = holding[pick % holding.len()];
            let response = app.cancel(buyer, &journal[i].0).await;
            assert_eq!(response.status(), 204, "cancel {}", journal[i].0);
            journal[i].2 = true;
        } else {
            let ticket = &tickets[pick % tickets.len()];
            let response = app.reserve(buyer, ticket).await;
            match response.status().as_u16() {
                201 => {
                    let order: Value = response.json().await.expect("json");
                    journal.push((
                        order["id"].as_str().expect("id").to_owned(),
                        ticket.clone(),
                        false,
                    ));
                }
                409 => {}
                other => panic!("reserving {ticket} answered {other}"),
            }
        }
    }
    journal
}

/// The seller until `until`: edits random tickets; answers the edits that landed per ticket.
async fn storm_seller(
    app: &TestApp,
    seller: &Client,
    tickets: &[String],
    until: Instant,
) -> HashMap<String, u64> {
    let mut landed: HashMap<String, u64> = tickets.iter().map(|t| (t.clone(), 0)).collect();
    while Instant::now() < until {
        let (pick, cents) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..tickets.len()),
                rng.random_range(50..10_000),
            )
        };
        let ticket = &tickets[pick];
        let body = json!({"title": format!("Edited to {cents}"), "price": format!("{}.{:02}", cents / 100, cents % 100)});
        let response = app.update_ticket(seller, ticket, &body).await;
        match response.status().as_u16() {
            200 => *landed.get_mut(ticket).expect("a known ticket") += 1,
            409 => {}
            other => panic!("editing {ticket} answered {other}"),
        }
    }
    landed
}
