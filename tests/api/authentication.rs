//! Payments that need the buyer's authentication (3-D Secure, DESIGN §5): answered 202 with
//! the client secret, completed when Stripe confirms (webhook, or the shop asking again),
//! cancelled when the authentication fails, and abandoned at the hold's deadline plus the
//! grace period; and the offline gateway's own authentication step.
//!
//! May depend on the `helpers` harness, the `fake_stripe` test support and the shared
//! arrangements in `payments` and `payments_webhooks`. Deadlines pass on the app's manual
//! clock and the hold supervisor is stepped (`expire_due`); nothing sleeps them out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_stripe::FakeStripe;
use crate::helpers::{TestApp, errors_of, expires_at, spawn_app};
use crate::payments::{
    Purchase, assert_for_sale, assert_sold, first_intent, order_status, payment_id, purchase,
    reaches_end, reaches_status, stripe_app,
};
use crate::payments_webhooks::{payment_event, signed};

/// Stripe's test card that always asks for 3-D Secure.
const NEEDS_AUTHENTICATION: &str = "pm_card_authenticationRequired";

/// The grace these tests give an authentication past the hold's deadline.
const GRACE_SECS: u64 = 120;

/// How long background work (a settling pass, a follow-up) may take to show.
const SETTLES_WITHIN: Duration = Duration::from_secs(10);

/// A shop on the fake Stripe, a sale, and its payment answered 202 `requires_action`:
/// (fake, app, sale, our payment id, Stripe's intent id).
async fn a_payment_waiting_on_authentication(
    retry_ms: u64,
) -> (FakeStripe, TestApp, Purchase, String, String) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |c| {
        c.stripe_attempts = 1;
        c.payment_retry_ms = retry_ms;
        c.authentication_grace_secs = GRACE_SECS;
    })
    .await;
    let sale = purchase(&app, json!(20)).await;
    let answer = app
        .pay(&sale.buyer, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;
    let id = payment_id(answer, 202).await;
    let (intent_id, _) = first_intent(&fake).await;
    (fake, app, sale, id, intent_id)
}

/// The buyer's authentication ends and the intent's status becomes `status` ("succeeded",
/// or "requires_payment_method" for a failed check); Stripe reports it by a signed webhook,
/// delivered here. Answers the delivery's status code.
async fn stripe_reports(
    app: &TestApp,
    fake: &FakeStripe,
    sale: &Purchase,
    id: &str,
    intent_id: &str,
    status: &str,
) -> u16 {
    fake.set_intent_status(intent_id, status);
    let event_type = if status == "succeeded" {
        "payment_intent.succeeded"
    } else {
        "payment_intent.payment_failed"
    };
    let event = payment_event(
        &format!("evt_{status}"),
        event_type,
        intent_id,
        status,
        &sale.order_id,
        id,
    );
    let (body, signature) = signed(&event);
    app.webhook(&body, Some(&signature)).await.status().as_u16()
}

/// An hour: a settler that never asks again within a test.
const NEVER_ASKS: u64 = 3_600_000;

async fn charge_status(app: &TestApp, sale: &Purchase, id: &str) -> Value {
    app.payment_json(&sale.buyer, id).await["status"].clone()
}

/// The requests the fake received to cancel `intent_id`.
async fn cancellations(fake: &FakeStripe, intent_id: &str) -> usize {
    let path = format!("/v1/payment_intents/{intent_id}/cancel");
    fake.requests()
        .await
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .count()
}

#[actix_web::test]
async fn a_card_that_needs_authentication_is_answered_202_with_its_client_secret_and_the_order_waits()
 {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |c| c.payment_retry_ms = NEVER_ASKS).await;
    let sale = purchase(&app, json!(20)).await;

    // Act
    let answer = app
        .pay(&sale.buyer, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;

    // Assert: 202 with our id, the status and Stripe's client secret for the page.
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.expect("json");
    let id = body["id"].as_str().expect("our payment id").to_owned();
    let (intent_id, charge_id) = first_intent(&fake).await;
    assert_eq!(id, charge_id);
    assert_eq!(
        body,
        json!({
            "id": id,
            "status": "requires_action",
            "clientSecret": format!("{intent_id}_secret_fake"),
        })
    );
    let creation = &fake.requests().await[0];
    assert_eq!(creation.field("payment_method"), Some(NEEDS_AUTHENTICATION));
    assert_eq!(
        creation.field("error_on_requires_action"),
        None,
        "Stripe must not turn the authentication into an error"
    );
    // The order waits with its ticket held, and the charge is still open.
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
    assert_eq!(
        app.ticket_json(&sale.ticket_id).await["orderId"],
        json!(sale.order_id)
    );
    assert_eq!(
        app.payment_json(&sale.buyer, &id).await,
        json!({
            "id": id,
            "orderId": sale.order_id,
            "status": "created",
            "amount": 20.0,
            "stripeId": intent_id,
        })
    );
    // The hold's own deadline does not end it: the buyer has the grace period too.
    let order = app.order_json(&sale.buyer, &sale.order_id).await;
    app.advance_to(expires_at(&order));
    app.expire_due().await;
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
    assert_eq!(cancellations(&fake, &intent_id).await, 0);
}

#[actix_web::test]
async fn paying_again_while_the_authentication_waits_gives_the_same_client_secret_and_charges_nothing()
 {
    // Arrange: the buyer's page was reloaded and lost the secret.
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;

    // Act
    let again = app
        .pay(&sale.buyer, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;

    // Assert
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        json!({
            "id": id,
            "status": "requires_action",
            "clientSecret": format!("{intent_id}_secret_fake"),
        })
    );
    assert_eq!(fake.charges_created(), 1, "no second PaymentIntent");
    let (stranger, _) = app.user().await;
    let theirs = app
        .pay(&stranger, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;
    assert_eq!(theirs.status(), 403, "only the buyer gets the secret");
    // Once the buyer has authenticated, paying again is answered as paid.
    fake.set_intent_status(&intent_id, "succeeded");
    let paid = app
        .pay(&sale.buyer, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;
    assert_eq!(payment_id(paid, 201).await, id);
    assert_sold(&app, &sale, &sale.order_id).await;
}

#[actix_web::test]
async fn an_authenticated_payment_completes_its_order_when_stripe_s_webhook_confirms_it() {
    // Arrange
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;

    // Act
    let delivered = stripe_reports(&app, &fake, &sale, &id, &intent_id, "succeeded").await;

    // Assert
    assert_eq!(delivered, 200);
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "complete"
    );
    assert_sold(&app, &sale, &sale.order_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "completed");
}

#[actix_web::test]
async fn an_authenticated_payment_completes_its_order_when_the_shop_asks_stripe_again() {
    // Arrange: the settler asks about payments in flight every 50 ms (backing off).
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(50).await;
    let asked = crate::helpers::eventually(SETTLES_WITHIN, || async {
        let path = format!("/v1/payment_intents/{intent_id}");
        fake.requests()
            .await
            .iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count()
            >= 2
    })
    .await;
    assert!(asked, "the shop asks Stripe about the payment again");
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment",
        "still waiting on the buyer, asking changes nothing"
    );

    // Act: the buyer authenticates in the browser; no webhook comes.
    fake.set_intent_status(&intent_id, "succeeded");

    // Assert
    assert!(
        reaches_status(
            &app,
            &sale.buyer,
            &sale.order_id,
            "complete",
            SETTLES_WITHIN
        )
        .await,
        "the next time the shop asks, the order completes"
    );
    assert_sold(&app, &sale, &sale.order_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "completed");
    assert_eq!(fake.charges_created(), 1, "asking again charged nothing");
}

#[actix_web::test]
async fn a_failed_authentication_cancels_the_order_and_frees_the_ticket() {
    // Arrange
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;

    // Act: the buyer fails the bank's check; Stripe says so by webhook.
    let delivered = stripe_reports(
        &app,
        &fake,
        &sale,
        &id,
        &intent_id,
        "requires_payment_method",
    )
    .await;

    // Assert: as a decline does.
    assert_eq!(delivered, 200);
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "cancelled"
    );
    assert_for_sale(&app, &sale.ticket_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "failed");
}

#[actix_web::test]
async fn an_authentication_never_completed_is_cancelled_at_stripe_at_the_hold_s_deadline_plus_the_grace()
 {
    // Arrange
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;
    let order = app.order_json(&sale.buyer, &sale.order_id).await;
    let abandon_at = expires_at(&order) + chrono::Duration::seconds(GRACE_SECS as i64);
    app.advance_to(abandon_at - chrono::Duration::milliseconds(1));
    app.expire_due().await;
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment",
        "not a millisecond early"
    );
    assert_eq!(cancellations(&fake, &intent_id).await, 0);

    // Act
    app.advance_to(abandon_at);
    app.expire_due().await;

    // Assert: Stripe was asked to cancel the intent, as abandoned, and the ticket is free.
    assert!(
        reaches_end(&app, &sale, SETTLES_WITHIN).await,
        "the order ends and frees its ticket"
    );
    let path = format!("/v1/payment_intents/{intent_id}/cancel");
    let requests = fake.requests().await;
    let cancel = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == path)
        .expect("the shop cancelled the PaymentIntent");
    assert_eq!(cancel.field("cancellation_reason"), Some("abandoned"));
    assert!(cancel.idempotency_key.is_some(), "a retry cancels once");
    assert_for_sale(&app, &sale.ticket_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "failed");
    assert_eq!(
        fake.refunds(),
        vec![],
        "nothing was taken, nothing to refund"
    );
}

#[actix_web::test]
async fn an_abandonment_that_loses_the_race_to_the_buyer_s_authentication_completes_the_order() {
    // Arrange: the buyer authenticated at the last moment; the webhook has not come yet.
    let (fake, app, sale, id, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;
    fake.set_intent_status(&intent_id, "succeeded");
    let order = app.order_json(&sale.buyer, &sale.order_id).await;

    // Act: the deadline passes; Stripe refuses to cancel a succeeded payment.
    app.advance_to(expires_at(&order) + chrono::Duration::seconds(GRACE_SECS as i64));
    app.expire_due().await;

    // Assert: the buyer paid, so the buyer gets the ticket.
    assert!(
        reaches_status(
            &app,
            &sale.buyer,
            &sale.order_id,
            "complete",
            SETTLES_WITHIN
        )
        .await,
        "the order completes"
    );
    assert_eq!(cancellations(&fake, &intent_id).await, 1);
    assert_sold(&app, &sale, &sale.order_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "completed");
}

#[actix_web::test]
async fn a_payment_waiting_on_authentication_is_still_abandoned_at_its_deadline_after_a_restart() {
    // Arrange
    let (fake, mut app, sale, _, intent_id) = a_payment_waiting_on_authentication(NEVER_ASKS).await;
    let order = app.order_json(&sale.buyer, &sale.order_id).await;

    // Act: the deadline lives in the journal and the order's snapshot, not in memory.
    app.restart().await;
    app.advance_to(expires_at(&order) + chrono::Duration::seconds(GRACE_SECS as i64));
    app.expire_due().await;

    // Assert
    assert!(
        reaches_end(&app, &sale, SETTLES_WITHIN).await,
        "the order ends and frees its ticket"
    );
    assert_eq!(cancellations(&fake, &intent_id).await, 1);
    assert_for_sale(&app, &sale.ticket_id).await;
}

/// An offline shop (no Stripe key), a sale, and its payment answered `requires_action`.
async fn an_offline_payment_waiting_on_authentication() -> (TestApp, Purchase, String) {
    let app = spawn_app().await;
    let sale = purchase(&app, json!(20)).await;
    let answer = app
        .pay(&sale.buyer, &sale.order_id, NEEDS_AUTHENTICATION)
        .await;
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["status"], "requires_action");
    let secret = body["clientSecret"].as_str().expect("a client secret");
    assert!(
        secret.starts_with("pi_test_") && secret.contains("_secret_"),
        "shaped like Stripe's: {secret}"
    );
    let id = body["id"].as_str().expect("our payment id").to_owned();
    (app, sale, id)
}

#[actix_web::test]
async fn the_offline_gateway_s_authentication_step_completes_the_payment_when_passed() {
    // Arrange
    let (app, sale, id) = an_offline_payment_waiting_on_authentication().await;
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );

    // Act
    let answer = app.authenticate(&sale.buyer, &id, "succeed").await;

    // Assert: answered as a payment is; a second answer changes nothing.
    assert_eq!(payment_id(answer, 201).await, id);
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "complete"
    );
    assert_sold(&app, &sale, &sale.order_id).await;
    let again = app.authenticate(&sale.buyer, &id, "fail").await;
    assert_eq!(payment_id(again, 201).await, id, "a paid order stays paid");
}

#[actix_web::test]
async fn the_offline_gateway_s_authentication_step_cancels_the_order_when_failed() {
    // Arrange
    let (app, sale, id) = an_offline_payment_waiting_on_authentication().await;

    // Act
    let answer = app.authenticate(&sale.buyer, &id, "fail").await;

    // Assert: 402 as a decline, the order cancelled, the ticket for sale again at once.
    assert_eq!(answer.status(), 402);
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "cancelled"
    );
    assert_for_sale(&app, &sale.ticket_id).await;
    assert_eq!(charge_status(&app, &sale, &id).await, "failed");
    let late = app.authenticate(&sale.buyer, &id, "succeed").await;
    assert_eq!(late.status(), 409, "a cancelled order cannot be paid");
}

#[actix_web::test]
async fn the_offline_gateway_abandons_an_authentication_never_completed() {
    // Arrange
    let (app, sale, id) = an_offline_payment_waiting_on_authentication().await;
    let order = app.order_json(&sale.buyer, &sale.order_id).await;

    // Act: the default grace is five minutes.
    app.advance_to(expires_at(&order) + chrono::Duration::seconds(300));
    app.expire_due().await;

    // Assert
    assert!(
        reaches_end(&app, &sale, SETTLES_WITHIN).await,
        "the order ends and frees its ticket"
    );
    assert_for_sale(&app, &sale.ticket_id).await;
    let late = app.authenticate(&sale.buyer, &id, "succeed").await;
    assert_eq!(late.status(), 409, "too late to authenticate");
}

#[actix_web::test]
async fn the_offline_authentication_step_is_only_for_the_order_s_buyer_and_a_known_outcome() {
    // Arrange
    let (app, sale, id) = an_offline_payment_waiting_on_authentication().await;
    let (stranger, _) = app.user().await;

    // Act / assert: each refusal changes nothing.
    let cases = [
        (
            app.authenticate(&stranger, &id, "succeed").await,
            403,
            "another user",
        ),
        (
            app.authenticate(&sale.seller, &id, "succeed").await,
            403,
            "the seller",
        ),
        (
            app.authenticate(&app.client(), &id, "succeed").await,
            401,
            "signed out",
        ),
        (
            app.authenticate(&sale.buyer, &id, "maybe").await,
            400,
            "an unknown outcome",
        ),
        (
            app.authenticate(&sale.buyer, "ffffffffffffffffffffffff", "succeed")
                .await,
            404,
            "no such payment",
        ),
    ];
    for (answer, status, why) in cases {
        assert_eq!(answer.status(), status, "{why}");
    }
    let bad = app.authenticate(&sale.buyer, &id, "maybe").await;
    assert_eq!(
        errors_of(bad).await,
        vec![(
            r#"outcome must be "succeed" or "fail""#.to_owned(),
            Some("outcome".to_owned())
        )]
    );
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
}

#[actix_web::test]
async fn the_offline_authentication_step_is_absent_when_stripe_takes_the_payments() {
    // Arrange
    let (_fake, app, sale, id, _) = a_payment_waiting_on_authentication(NEVER_ASKS).await;

    // Act
    let answer = app.authenticate(&sale.buyer, &id, "succeed").await;

    // Assert: Stripe.js authenticates with Stripe; the shop has no such step.
    assert_eq!(answer.status(), 404);
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
}
