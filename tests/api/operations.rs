//! Operating the shop: `/metrics` moved to an address of its own (`--metrics-addr`), so
//! that the public address need not show it.

use std::net::SocketAddr;

use crate::helpers::{free_port, spawn_app, spawn_app_with};

#[actix_web::test]
async fn metrics_are_public_by_default() {
    let app = spawn_app().await;
    let response = app.get(&app.client(), "/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(text.contains("ticketing_ready 1"), "{text}");
}

#[actix_web::test]
async fn metrics_on_their_own_address_are_gone_from_the_public_one() {
    // Arrange
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut app = spawn_app_with(|config| config.metrics_addr = Some(metrics_addr)).await;
    let (seller, _) = app.user().await;
    app.listed_ticket(&seller).await;

    // Act
    let public = app.get(&app.client(), "/metrics").await;
    let private = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("the metrics address answers");
    let api_there = reqwest::get(format!("http://{metrics_addr}/api/tickets"))
        .await
        .expect("the metrics address answers");

    // Assert
    assert_eq!(public.status(), 404, "not on the public address");
    assert_eq!(private.status(), 200);
    let text = private.text().await.expect("text");
    let created = "ticketing_events_committed_total{event=\"TicketCreated\"} 1";
    assert!(text.contains(created), "the same shop's figures: {text}");
    assert_eq!(api_there.status(), 404, "only /metrics there");
    assert_eq!(app.get(&app.client(), "/healthz").await.status(), 200);

    // A stop releases the metrics address too: the shop restarts on the same one.
    app.restart().await;
    let again = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .expect("the metrics address answers after a restart");
    assert_eq!(again.status(), 200);
}
