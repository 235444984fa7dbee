//! /api/orders over HTTP: reserving a ticket, the refusals, a buyer's orders, showing and
//! cancelling one, and the versions each change adds to the order and its ticket.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, error_fields, errors_of, expires_at, spawn_app, spawn_app_with, unknown_id,
};

#[actix_web::test]
async fn ordering_a_ticket_holds_it_and_answers_201_created_with_a_deadline_one_hold_from_now() {
    // Arrange
    let app = spawn_app_with(|c| c.hold_secs = 900).await;
    let (seller, _) = app.user().await;
    let (buyer, buyer_id) = app.user().await;
    let ticket = app.listed_ticket_json(&seller, "Opera", json!(19.99)).await;
    let ticket_id = ticket["id"].as_str().expect("id");
    // Act
    let response = app.reserve(&buyer, ticket_id).await;
    // Assert
    assert_eq!(response.status(), 201);
    let order: Value = response.json().await.expect("json");
    let order_id = order["id"].as_str().expect("id").to_owned();
    assert_eq!(order_id.len(), 24);
    let expires = order["expiresAt"].as_str().expect("expiresAt");
    assert!(expires.ends_with('Z'), "UTC: {expires}");
    assert_eq!(
        expires_at(&order),
        app.now() + chrono::Duration::seconds(900),
        "one hold from the app's now"
    );
    assert_eq!(
        order,
        json!({
            "id": order_id,
            "status": "created",
            "userId": buyer_id,
            "expiresAt": expires,
            "ticket": {"id": ticket_id, "title": "Opera", "price": 19.99, "version": 1},
            "version": 0,
        })
    );
    let held = app.ticket_json(ticket_id).await;
    assert_eq!(held["orderId"], order_id.as_str());
    assert_eq!(held["version"], 1);
    assert_eq!(app.order_json(&buyer, &order_id).await, order);
}

#[actix_web::test]
async fn an_order_for_a_missing_or_malformed_ticket_is_refused_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let real = app.listed_ticket(&seller).await;
    let unknown = unknown_id(&real);
    let cases = [
        (
            json!({"ticketId": unknown}),
            404,
            None,
            "a well-formed unknown id",
        ),
        (json!({}), 400, Some("ticketId"), "no ticketId"),
        (json!({"ticketId": null}), 400, Some("ticketId"), "null"),
        (json!({"ticketId": 42}), 400, Some("ticketId"), "a number"),
        (
            json!({"ticketId": "abc"}),
            400,
            Some("ticketId"),
            "too short",
        ),
        (
            json!({"ticketId": real.to_uppercase()}),
            400,
            Some("ticketId"),
            "upper-case hex",
        ),
        (
            json!({"ticketId": format!("{real}0")}),
            400,
            Some("ticketId"),
            "25 characters",
        ),
        (
            json!({"ticketId": "x".repeat(24)}),
            400,
            Some("ticketId"),
            "not hex",
        ),
    ];
    for (body, status, field, why) in cases {
        // Act
        let response = app.post(&buyer, "/api/orders", &body).await;
        // Assert
        assert_eq!(response.status().as_u16(), status, "{why}");
        assert_eq!(
            error_fields(response).await,
            vec![field.map(str::to_owned)],
            "{why}"
        );
    }
    let ticket = app.ticket_json(&real).await;
    assert!(ticket.get("orderId").is_none(), "still for sale: {ticket}");
    assert_eq!(app.orders_json(&buyer).await, Vec::<Value>::new());
}

#[actix_web::test]
async fn a_held_ticket_cannot_be_ordered_again_by_anyone_and_a_seller_cannot_order_their_own() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (holder, _) = app.user().await;
    let (other, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let own = app.reserve(&seller, &ticket_id).await;
    let order_id = app.reserved_order(&holder, &ticket_id).await;
    // Act
    let cases = [
        (app.reserve(&other, &ticket_id).await, "another buyer"),
        (
            app.reserve(&holder, &ticket_id).await,
            "the buyer who holds it",
        ),
    ];
    // Assert
    assert_eq!(own.status(), 400, "one's own ticket");
    assert_eq!(
        errors_of(own).await,
        vec![("You cannot order your own ticket".to_owned(), None)]
    );
    for (response, why) in cases {
        assert_eq!(response.status(), 409, "{why}");
        assert_eq!(
            errors_of(response).await,
            vec![("Ticket is already reserved".to_owned(), None)],
            "{why}"
        );
    }
    let ticket = app.ticket_json(&ticket_id).await;
    assert_eq!(ticket["orderId"], order_id.as_str());
    assert_eq!(ticket["version"], 1, "refusals change nothing");
    assert_eq!(app.orders_json(&holder).await.len(), 1);
    assert_eq!(app.orders_json(&other).await.len(), 0);
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"OrderCreated\"}")
            .await,
        1
    );
}

#[actix_web::test]
async fn a_buyer_sees_only_their_own_orders_oldest_first_each_with_its_ticket() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, buyer_id) = app.user().await;
    let (other, _) = app.user().await;
    let mut expected = Vec::new();
    for (title, price) in [("one", 10), ("two", 20), ("three", 30)] {
        let ticket = app.listed_ticket_json(&seller, title, json!(price)).await;
        let order_id = app
            .reserved_order(&buyer, ticket["id"].as_str().expect("id"))
            .await;
        expected.push((order_id, ticket));
    }
    let theirs = app.listed_ticket(&seller).await;
    app.reserved_order(&other, &theirs).await;
    assert_eq!(app.cancel(&buyer, &expected[1].0).await.status(), 204);
    // Act
    let orders = app.orders_json(&buyer).await;
    // Assert
    assert_eq!(orders.len(), 3, "{orders:?}");
    for ((order_id, ticket), order) in expected.iter().zip(&orders) {
        assert_eq!(order["id"], order_id.as_str());
        assert_eq!(order["userId"], buyer_id.as_str());
        assert_eq!(order["ticket"]["id"], ticket["id"]);
        assert_eq!(order["ticket"]["title"], ticket["title"]);
        assert_eq!(order["ticket"]["price"], ticket["price"]);
        assert_eq!(order["ticket"]["version"], 1);
        assert_eq!(order, &app.order_json(&buyer, order_id).await);
    }
    let statuses: Vec<_> = orders.iter().map(|o| o["status"].clone()).collect();
    assert_eq!(
        statuses,
        vec![json!("created"), json!("cancelled"), json!("created")]
    );
}

#[actix_web::test]
async fn an_order_is_shown_only_to_its_buyer_and_unknown_or_malformed_ids_are_404() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    let unknown = unknown_id(&order_id);
    // Act
    let cases = [
        (
            app.order(&stranger, &order_id).await,
            403,
            "another buyer's order",
        ),
        (
            app.order(&seller, &order_id).await,
            403,
            "the seller of its ticket",
        ),
        (
            app.order(&buyer, &unknown).await,
            404,
            "a well-formed unknown id",
        ),
        (app.order(&buyer, "abc").await, 404, "too short"),
        (
            app.order(&buyer, &order_id.to_uppercase()).await,
            404,
            "upper-case hex",
        ),
        (app.order(&buyer, &ticket_id).await, 404, "a ticket's id"),
    ];
    for (response, status, why) in cases {
        // Assert
        assert_eq!(response.status().as_u16(), status, "{why}");
        let message = if status == 403 {
            "Not authorized"
        } else {
            "Not found"
        };
        assert_eq!(
            errors_of(response).await,
            vec![(message.to_owned(), None)],
            "{why}"
        );
    }
    assert_eq!(app.order(&buyer, &order_id).await.status(), 200);
}

#[actix_web::test]
async fn cancelling_frees_the_ticket_by_the_time_the_204_arrives_and_cancelling_again_is_204() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (next_buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    // Act
    let response = app.cancel(&buyer, &order_id).await;
    // Assert
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().await.expect("body"), "", "no content");
    let ticket = app.ticket_json(&ticket_id).await;
    assert!(ticket.get("orderId").is_none(), "free at once: {ticket}");
    assert_eq!(ticket["version"], 2, "reserved, then released");
    let listed = app.listed_ids().await;
    assert_eq!(listed, vec![json!(ticket_id)]);
    let order = app.order_json(&buyer, &order_id).await;
    assert_eq!(
        (order["status"].clone(), order["version"].clone()),
        (json!("cancelled"), json!(1))
    );

    assert_eq!(app.cancel(&buyer, &order_id).await.status(), 204, "again");
    assert_eq!(
        app.order_json(&buyer, &order_id).await["version"],
        1,
        "a repeat changes nothing"
    );
    let next = app.reserved_order(&next_buyer, &ticket_id).await;
    assert_eq!(app.ticket_json(&ticket_id).await["orderId"], next.as_str());
}

#[actix_web::test]
async fn only_the_buyer_may_cancel_an_order() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    let unknown = unknown_id(&order_id);
    // Act
    let cases = [
        (app.cancel(&stranger, &order_id).await, 403, "another buyer"),
        (app.cancel(&seller, &order_id).await, 403, "the seller"),
        (
            app.cancel(&buyer, &unknown).await,
            404,
            "a well-formed unknown id",
        ),
        (app.cancel(&buyer, "not-an-id").await, 404, "a malformed id"),
    ];
    for (response, status, why) in cases {
        // Assert
        assert_eq!(response.status().as_u16(), status, "{why}");
        errors_of(response).await;
    }
    let order = app.order_json(&buyer, &order_id).await;
    assert_eq!(
        (order["status"].clone(), order["version"].clone()),
        (json!("created"), json!(0))
    );
    assert_eq!(
        app.ticket_json(&ticket_id).await["orderId"],
        order_id.as_str()
    );
}

#[actix_web::test]
async fn an_old_cancellation_never_frees_a_newer_buyers_hold() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (first, _) = app.user().await;
    let (second, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let old = app.reserved_order(&first, &ticket_id).await;
    assert_eq!(app.cancel(&first, &old).await.status(), 204);
    let new = app.reserved_order(&second, &ticket_id).await;
    // Act
    let repeat = app.cancel(&first, &old).await;
    // Assert
    assert_eq!(repeat.status(), 204);
    let ticket = app.ticket_json(&ticket_id).await;
    assert_eq!(ticket["orderId"], new.as_str(), "still the second buyer's");
    assert_eq!(ticket["version"], 3, "reserve, release, reserve");
    assert_eq!(app.reserve(&first, &ticket_id).await.status(), 409);
}

#[actix_web::test]
async fn versions_start_at_0_and_every_change_adds_exactly_1() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let edit = json!({"title": "Edited", "price": 25});
    let mut versions = vec![("listed", version_of(&app, &ticket_id).await)];
    // Act
    assert_eq!(
        app.update_ticket(&seller, &ticket_id, &edit).await.status(),
        200
    );
    versions.push(("edited", version_of(&app, &ticket_id).await));
    let first = app.reserved_order(&buyer, &ticket_id).await;
    versions.push(("reserved", version_of(&app, &ticket_id).await));
    assert_eq!(app.cancel(&buyer, &first).await.status(), 204);
    versions.push(("released", version_of(&app, &ticket_id).await));
    assert_eq!(
        app.update_ticket(&seller, &ticket_id, &edit).await.status(),
        200
    );
    versions.push(("edited again", version_of(&app, &ticket_id).await));
    let second = app.reserved_order(&buyer, &ticket_id).await;
    versions.push(("reserved again", version_of(&app, &ticket_id).await));
    // Assert
    let expected: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, (step, _))| (*step, i as u64))
        .collect();
    assert_eq!(versions, expected);
    let first = app.order_json(&buyer, &first).await;
    let second = app.order_json(&buyer, &second).await;
    assert_eq!(
        (first["version"].clone(), first["ticket"]["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        (
            second["version"].clone(),
            second["ticket"]["version"].clone()
        ),
        (json!(0), json!(5))
    );
    // A refused change adds nothing.
    assert_eq!(
        app.update_ticket(&seller, &ticket_id, &edit).await.status(),
        409
    );
    assert_eq!(app.reserve(&buyer, &ticket_id).await.status(), 409);
    assert_eq!(version_of(&app, &ticket_id).await, 5);
}

async fn version_of(app: &TestApp, ticket_id: &str) -> u64 {
    app.ticket_json(ticket_id).await["version"]
        .as_u64()
        .expect("a version")
}
