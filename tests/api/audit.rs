//! The marketplace's invariants after concurrent or crashing work, judged by the load
//! tester's audit (`loadtest::audit::check`), so these tests and `ticketing loadtest` hold
//! the shop to one set of rules: no ticket held or sold twice, and each held ticket naming
//! its one live order.
//!
//! May depend on the `helpers` harness and the `loadtest` crate's audit. It reads through
//! HTTP only (every buyer's orders, every ticket, the listing), so it holds for the
//! in-process app and a child process alike, and keeps the whole bodies for the tests' own
//! assertions. It adds what the load tester's audit does not look at: every order has a
//! status the API documents, and a ticket is listed exactly when no order holds it.

use std::collections::{BTreeSet, HashMap};

use loadtest::audit::{Observed, check};
use loadtest::client::{OrderView, TicketView, is_live};
use loadtest::ledger::Facts;
use reqwest::Client;
use serde_json::Value;

use crate::helpers::TestApp;

/// Every order of the given buyers and every given ticket, as the API shows them now.
pub struct Seen {
    /// Order id -> order.
    pub orders: HashMap<String, Value>,
    /// Ticket id -> ticket.
    pub tickets: HashMap<String, Value>,
    /// Ticket id -> the id of its one live order, if it has one.
    pub live: HashMap<String, String>,
}

/// Asserts that every ticket has at most one live order (created, awaiting:payment or
/// complete), that a ticket's `orderId` is exactly that order's id, that every order has a
/// documented status, and that a given ticket is in the listing exactly when no order
/// holds it. Answers what it saw.
pub async fn one_live_order_per_ticket(
    app: &TestApp,
    buyers: &[Client],
    tickets: &[String],
) -> Seen {
    let mut orders = HashMap::new();
    let mut observed = Observed::default();
    for (index, buyer) in buyers.iter().enumerate() {
        for order in app.orders_json(buyer).await {
            let view: OrderView = serde_json::from_value(order.clone()).expect("an order");
            observed.orders.push((index, view));
            let id = order["id"].as_str().expect("an order id").to_owned();
            orders.insert(id, order);
        }
    }
    for (id, order) in &orders {
        let status = order["status"].as_str().expect("a status");
        assert!(
            ["created", "awaiting:payment", "complete", "cancelled"].contains(&status),
            "order {id} has status {status}"
        );
    }
    // As the load tester does, read every ticket ordered as well as the given ones, so no
    // ticket with orders escapes the rules.
    let ordered = observed.orders.iter().map(|(_, o)| o.ticket.id.clone());
    let involved: BTreeSet<String> = tickets.iter().cloned().chain(ordered).collect();
    let mut bodies = HashMap::new();
    for id in involved {
        let ticket = app.ticket_json(&id).await;
        let view: TicketView = serde_json::from_value(ticket.clone()).expect("a ticket");
        observed.tickets.insert(id.clone(), Some(view));
        bodies.insert(id, ticket);
    }
    // No acknowledgements: the callers hold the shop to their own; here only the rules.
    let findings = check(&Facts::default(), &observed, buyers.len());
    let violations: Vec<String> = findings.violations.iter().map(|v| v.to_string()).collect();
    assert!(
        findings.passed,
        "the audit failed:\n{}",
        violations.join("\n")
    );

    let live: HashMap<String, String> = observed
        .orders
        .iter()
        .filter(|(_, order)| is_live(&order.status))
        .map(|(_, order)| (order.ticket.id.clone(), order.id.clone()))
        .collect();
    let listing = app.listing(1000).await;
    let listed: BTreeSet<&str> = listing
        .iter()
        .map(|t| t["id"].as_str().expect("an id"))
        .collect();
    for id in tickets {
        assert_eq!(
            listed.contains(id.as_str()),
            bodies[id].get("orderId").is_none(),
            "ticket {id} is listed exactly when it is free"
        );
    }
    let tickets = tickets
        .iter()
        .map(|id| (id.clone(), bodies[id].clone()))
        .collect();
    Seen {
        orders,
        tickets,
        live,
    }
}
