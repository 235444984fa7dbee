//! 3-D Secure in the page. With the offline gateway, the authentication-required test card
//! shows the page's own stand-in for the bank's check: completing it pays the order, failing
//! it cancels the order and the ticket is for sale again. With a publishable key the page
//! asks for Stripe.js instead, and only then; Stripe cannot be reached from the test
//! machines, so that path is checked as far as the request and the error it leaves.

use serde_json::json;

use crate::helpers::PASSWORD;
use crate::kit::{Browser, Driver, buyer_on_a_listed_ticket, row, spawn_shop};

const CARD: &str = "Visa ending 3184 (needs authentication)";
const STRIPE_SCRIPT: &str =
    "return document.querySelectorAll(\"script[src^='https://js.stripe.com/']\").length";

/// A seller's ticket through the API, and a signed-up buyer in the browser on its order page
/// with the authentication-required card paid: the step is showing.
async fn at_the_step(buyer: &Browser, app: &crate::helpers::TestApp, title: &str) -> String {
    let seller = app.client();
    app.signup(&seller, "seller@example.com", PASSWORD).await;
    let ticket = app.listed_ticket_json(&seller, title, json!("25")).await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    buyer.sign_up("buyer@example.com").await;
    buyer.goto(&format!("/tickets/{ticket}")).await;
    buyer.wait_page(title).await;
    buyer.press("Buy").await;
    buyer.wait_page(&format!("Order: {title}")).await;
    buyer.choose("Test card", CARD).await;
    buyer.press("Pay").await;
    buyer
        .wait_text("section.authentication h2", "Authenticate your payment")
        .await;
    ticket
}

#[actix_web::test]
async fn the_authentication_required_test_card_completes_through_its_step() {
    // Arrange
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let driver = Driver::start();
    let (buyer, seller) = (
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
    );

    // Act: pay with the card that needs authentication.
    let ticket = at_the_step(&buyer, &app, "Cup final, row 3").await;

    // Assert: the step has the focus, says it simulates the bank, and the order waits on it
    // with the pay form hidden; no Stripe.js without a key.
    let focused = buyer.js("return document.activeElement.id", vec![]).await;
    assert_eq!(
        focused,
        json!("authentication-heading"),
        "the step's heading has focus"
    );
    buyer
        .wait_text("section.authentication", "simulates the bank's check")
        .await;
    buyer
        .wait_for(".order-status[data-state='processing']")
        .await;
    assert_eq!(
        buyer
            .js(
                "return document.querySelector('.order-controls').hidden",
                vec![]
            )
            .await,
        json!(true),
        "no Pay while the authentication waits"
    );
    assert_eq!(
        buyer.js(STRIPE_SCRIPT, vec![]).await,
        json!(0),
        "no Stripe.js"
    );
    let violations = buyer.serious_violations().await;
    assert!(violations.is_empty(), "the step: {}", violations.join("\n"));

    // Act: complete it.
    buyer.press("Complete authentication").await;

    // Assert: paid, the step gone; sold in the seller's my tickets.
    buyer
        .wait_text(".order-status[data-state='paid']", "Paid")
        .await;
    buyer.wait_gone("section.authentication").await;
    seller.sign_in("seller@example.com", PASSWORD).await;
    seller.goto("/my-tickets").await;
    seller.wait_page("My tickets").await;
    seller
        .wait_text(&format!("{}[data-status='sold']", row(&ticket)), "Sold")
        .await;

    buyer.close().await;
    seller.close().await;
}

#[actix_web::test]
async fn a_reload_during_the_step_offers_to_continue_and_the_step_comes_back() {
    // Arrange: the buyer at the step.
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let driver = Driver::start();
    let buyer = Browser::open(&driver, &app.address).await;
    at_the_step(&buyer, &app, "Cup final, row 4").await;
    let route = buyer.js("return location.hash.slice(1)", vec![]).await;

    // Act: reload the order page, then continue.
    buyer.goto(route.as_str().expect("the order's route")).await;
    buyer
        .wait_for(".order-status[data-state='processing']")
        .await;
    buyer.press("Continue payment").await;

    // Assert: the step is back, and completing it pays the order.
    buyer
        .wait_text("section.authentication h2", "Authenticate your payment")
        .await;
    buyer.press("Complete authentication").await;
    buyer
        .wait_text(".order-status[data-state='paid']", "Paid")
        .await;

    buyer.close().await;
}

#[actix_web::test]
async fn a_failed_authentication_cancels_the_order_and_the_ticket_returns_to_the_listing() {
    // Arrange
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let driver = Driver::start();
    let (buyer, watcher) = (
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
    );
    let ticket = at_the_step(&buyer, &app, "Derby, east stand").await;

    // Act: fail it.
    buyer.press("Fail authentication").await;

    // Assert: the gateway's reason in the alert region, the order declined and cancelled,
    // the ticket for sale again.
    buyer
        .wait_text("[role='alert']", "unable to authenticate")
        .await;
    buyer
        .wait_text(".order-status[data-state='declined']", "declined")
        .await;
    buyer.wait_gone("section.authentication").await;
    watcher.goto("/").await;
    watcher.wait_page("Tickets for sale").await;
    watcher.wait_text(&row(&ticket), "Derby, east stand").await;

    buyer.close().await;
    watcher.close().await;
}

#[actix_web::test]
async fn with_a_publishable_key_the_order_page_asks_for_stripe_js_and_says_when_it_cannot_load() {
    // Arrange: a shop with a publishable key (the payments still go to the offline gateway,
    // which the page never reaches here). Stripe's origins are not reachable from the test
    // machines, so Stripe.js fails to load.
    let app = spawn_shop(|config| {
        config.hold_secs = 900;
        config.stripe_publishable_key = Some("pk_test_page".into());
    })
    .await;
    let driver = Driver::start();
    let (buyer, _) = buyer_on_a_listed_ticket(&app, &driver).await;

    // Act: open an order.
    buyer.press("Buy").await;

    // Assert: the page asked for Stripe.js, offers no test card, and says in the alert region
    // that the card form could not load (or, where Stripe is reachable, shows its card field).
    buyer
        .until("a request for Stripe.js", || async {
            buyer.js(STRIPE_SCRIPT, vec![]).await == json!(1)
                || buyer
                    .js(
                        "return !!document.querySelector('.stripe-card iframe')",
                        vec![],
                    )
                    .await
                    == json!(true)
        })
        .await;
    buyer.wait_text("[role='timer']", "left to pay").await;
    assert_eq!(
        buyer
            .js(
                "return !!document.querySelector(\"select[name='token']\")",
                vec![]
            )
            .await,
        json!(false),
        "no test cards with a key"
    );
    buyer
        .until("the error, or Stripe's field", || async {
            let alert = buyer
                .js(
                    "return document.querySelector(\"[role='alert']\").textContent",
                    vec![],
                )
                .await;
            alert
                .as_str()
                .is_some_and(|t| t.contains("could not be loaded"))
                || buyer
                    .js(
                        "return !!document.querySelector('.stripe-card iframe')",
                        vec![],
                    )
                    .await
                    == json!(true)
        })
        .await;

    buyer.close().await;
}
