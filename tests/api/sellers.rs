//! Sellers (DESIGN §4): withdrawing a ticket (DELETE /api/tickets/:id), the seller's own
//! list in every state (GET /api/users/me/tickets), and what the page is told about the
//! shop (GET /api/config).

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, errors_of, next_link, spawn_app, spawn_app_with};

async fn withdraw(app: &TestApp, client: &Client, id: &str) -> reqwest::Response {
    client
        .delete(app.url(&format!("/api/tickets/{id}")))
        .send()
        .await
        .expect("request")
}

/// The seller's own tickets, every page, as (id, status).
async fn my_tickets(app: &TestApp, client: &Client, limit: usize) -> Vec<(String, String)> {
    let mut path = format!("/api/users/me/tickets?limit={limit}");
    let mut mine = Vec::new();
    loop {
        let response = app.get(client, &path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let next = next_link(&response);
        let page: Vec<Value> = response.json().await.expect("json");
        assert!(page.len() <= limit, "{path}: a page of at most {limit}");
        mine.extend(page.iter().map(|t| {
            let field = |name: &str| t[name].as_str().expect(name).to_owned();
            (field("id"), field("status"))
        }));
        match next {
            Some(next) => path = next,
            None => return mine,
        }
    }
}

#[actix_web::test]
async fn the_owner_withdraws_a_free_ticket_and_it_is_gone_for_everyone() {
    // Arrange
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    let kept = app.listed_ticket(&seller).await;

    // Act
    let response = withdraw(&app, &seller, &id).await;

    // Assert
    assert_eq!(response.status(), 204);
    assert_eq!(app.ticket(&id).await.status(), 404, "GET is 404");
    let listed = app.listed_ids().await;
    assert_eq!(listed, vec![json!(kept)], "only the kept ticket is listed");
    assert_eq!(
        app.reserve(&buyer, &id).await.status(),
        404,
        "orders are 404"
    );
    let edit = json!({"title": "Back on sale", "price": 10});
    assert_eq!(app.update_ticket(&seller, &id, &edit).await.status(), 404);
    assert_eq!(withdraw(&app, &seller, &id).await.status(), 404, "again");
    let events = "ticketing_events_committed_total{event=\"TicketWithdrawn\"}";
    assert_eq!(app.metric(events).await, 1, "one event, for the first");

    // ... and it stays gone after a restart (replay) and a rebuild from the journal.
    app.restart().await;
    assert_eq!(app.ticket(&id).await.status(), 404, "after a restart");
    app.restart_with(|config| config.rebuild_projections = true)
        .await;
    assert_eq!(app.ticket(&id).await.status(), 404, "after a rebuild");
    assert_eq!(app.listed_ids().await, vec![json!(kept)]);
    let mine = my_tickets(&app, &seller, 100).await;
    assert_eq!(
        mine,
        vec![
            (id.clone(), "withdrawn".to_owned()),
            (kept, "for sale".to_owned())
        ]
    );
}

#[actix_web::test]
async fn only_the_owner_may_withdraw_and_never_a_held_or_sold_ticket() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let free = app.listed_ticket(&seller).await;
    let held = app.listed_ticket(&seller).await;
    let sold = app.listed_ticket(&seller).await;
    app.reserved_order(&buyer, &held).await;
    let order = app.reserved_order(&buyer, &sold).await;
    assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status(), 201);

    // Act
    let by_other = withdraw(&app, &buyer, &free).await;
    let anonymous = withdraw(&app, &app.client(), &free).await;
    let of_held = withdraw(&app, &seller, &held).await;
    let of_sold = withdraw(&app, &seller, &sold).await;
    let malformed = withdraw(&app, &seller, "not-an-id").await;

    // Assert
    assert_eq!(by_other.status(), 403);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(malformed.status(), 404);
    for (response, what) in [(of_held, "held"), (of_sold, "sold")] {
        assert_eq!(response.status(), 409, "{what}");
        assert_eq!(
            errors_of(response).await,
            vec![("Cannot withdraw a reserved ticket".to_owned(), None)],
            "{what}"
        );
    }
    let events = "ticketing_events_committed_total{event=\"TicketWithdrawn\"}";
    assert_eq!(app.metric(events).await, 0, "nothing was withdrawn");
    assert_eq!(app.ticket(&free).await.status(), 200);
}

#[actix_web::test]
async fn my_tickets_shows_every_state_oldest_first_paged_and_nobody_elses() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.listed_ticket(&seller).await);
    }
    let _others = app.listed_ticket(&buyer).await;
    app.reserved_order(&buyer, &ids[1]).await;
    let order = app.reserved_order(&buyer, &ids[2]).await;
    assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status(), 201);
    assert_eq!(withdraw(&app, &seller, &ids[3]).await.status(), 204);

    // Act
    let mine = my_tickets(&app, &seller, 2).await;
    let whole = app.get(&seller, "/api/users/me/tickets").await;

    // Assert
    let statuses = ["for sale", "held", "sold", "withdrawn", "for sale"];
    let expected: Vec<_> = ids
        .iter()
        .cloned()
        .zip(statuses.map(str::to_owned))
        .collect();
    assert_eq!(mine, expected, "three pages of at most two, oldest first");
    let whole: Vec<Value> = whole.json().await.expect("json");
    assert!(
        whole[1]["orderId"].is_string(),
        "a held ticket names its order"
    );
    assert_eq!(whole[0].get("orderId"), None);
    assert_eq!(
        app.get(&app.client(), "/api/users/me/tickets")
            .await
            .status(),
        401
    );
    let bad = app.get(&seller, "/api/users/me/tickets?limit=0").await;
    assert_eq!(bad.status(), 400);
}

#[actix_web::test]
async fn the_page_is_told_the_currency_the_hold_and_the_publishable_key() {
    // Arrange
    let plain = spawn_app().await;
    let with_stripe = spawn_app_with(|config| {
        config.currency = "eur".to_owned();
        config.hold_secs = 120;
        config.stripe_publishable_key = Some("pk_test_page".to_owned());
    })
    .await;

    // Act
    let plain_config: Value = plain
        .get(&plain.client(), "/api/config")
        .await
        .json()
        .await
        .expect("json");
    let stripe_config: Value = with_stripe
        .get(&with_stripe.client(), "/api/config")
        .await
        .json()
        .await
        .expect("json");

    // Assert
    assert_eq!(plain_config, json!({"currency": "USD", "holdSeconds": 60}));
    assert_eq!(
        stripe_config,
        json!({"currency": "EUR", "holdSeconds": 120, "stripePublishableKey": "pk_test_page"})
    );
}
