//! The marketplace's invariants, checked over the API after concurrent or crashing work.
//!
//! It reads only through HTTP (every buyer's orders, every ticket), so it holds for the
//! in-process app and for a child process alike.

use std::collections::HashMap;

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
/// complete), that a ticket's `orderId` is exactly that order's id, and that a ticket is in
/// the listing exactly when no order holds it. Answers what it saw.
pub async fn one_live_order_per_ticket(
    app: &TestApp,
    buyers: &[Client],
    tickets: &[String],
) -> Seen {
    let mut orders = HashMap::new();
    for buyer in buyers {
        for order in app.orders_json(buyer).await {
            let id = order["id"].as_str().expect("an order id").to_owned();
            orders.insert(id, order);
        }
    }
    let mut live: HashMap<String, String> = HashMap::new();
    for (id, order) in &orders {
        let status = order["status"].as_str().expect("a status");
        assert!(
            ["created", "awaiting:payment", "complete", "cancelled"].contains(&status),
            "order {id} has status {status}"
        );
        if status != "cancelled" {
            let ticket = order["ticket"]["id"]
                .as_str()
                .expect("a ticket id")
                .to_owned();
            if let Some(other) = live.insert(ticket.clone(), id.clone()) {
                panic!("ticket {ticket} has two live orders: {other} and {id}");
            }
        }
    }
    let listed: Vec<String> = app
        .listing(1000)
        .await
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect();
    let mut seen = HashMap::new();
    for id in tickets {
        let ticket = app.ticket_json(id).await;
        let holder = ticket.get("orderId").and_then(Value::as_str);
        assert_eq!(
            holder,
            live.get(id).map(String::as_str),
            "ticket {id}'s orderId is its live order"
        );
        assert_eq!(
            listed.contains(id),
            holder.is_none(),
            "ticket {id} is listed exactly when it is free"
        );
        seen.insert(id.clone(), ticket);
    }
    Seen {
        orders,
        tickets: seen,
        live,
    }
}
