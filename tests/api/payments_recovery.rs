//! Payments without a clean answer, end to end: Stripe timing out (the order waits, its hold
//! does not run out, and the settler or a restart settles it with the same idempotency key,
//! so never a second charge), and money that arrives for an order that can no longer
//! complete (refunded, and the refund recorded). DESIGN §5 and §7 races 5 and 6.
//!
//! May depend on the `helpers` harness, the `fake_stripe` test support and the shared
//! arrangement in `payments` and `payments_webhooks`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_stripe::FakeStripe;
use crate::helpers::{TestApp, errors_of, eventually, spawn_process};
use crate::payments::{
    EXPIRED, Purchase, STRIPE_KEY, assert_for_sale, assert_sold, first_intent, intent_creations,
    order_status, payment_id, purchase, reaches_status, run_out_hold, stripe_app,
};
use crate::payments_webhooks::{payment_event, signed};

/// Longer than any test waits: the fake finishes the work at once, then answers this late.
const STRIPE_HANGS: Duration = Duration::from_secs(30);

/// One key across every attempt to create the charge, and one charge made.
async fn assert_one_charge_under_one_key(fake: &FakeStripe) {
    let attempts = intent_creations(fake).await;
    assert!(!attempts.is_empty(), "Stripe was asked");
    let key = attempts[0].idempotency_key.clone();
    assert!(key.is_some(), "an idempotency key is sent");
    assert!(
        attempts
            .iter()
            .all(|attempt| attempt.idempotency_key == key),
        "one key throughout: {:?}",
        attempts
            .iter()
            .map(|a| a.idempotency_key.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(fake.charges_created(), 1, "one charge at Stripe");
}

/// The order was settled as complete within 15 s through one charge under one key, its
/// ticket is sold, and its payment record names Stripe's intent.
async fn assert_settled_complete(
    app: &TestApp,
    fake: &FakeStripe,
    purchase: &Purchase,
    charge_id: &str,
    why: &str,
) {
    assert!(
        reaches_status(
            app,
            &purchase.buyer,
            &purchase.order_id,
            "complete",
            Duration::from_secs(15)
        )
        .await,
        "{why}"
    );
    assert_one_charge_under_one_key(fake).await;
    assert_sold(app, purchase, &purchase.order_id).await;
    let record = app.payment_json(&purchase.buyer, charge_id).await;
    assert_eq!(record["status"], "completed");
    assert_eq!(record["stripeId"], fake.intent_ids()[0].as_str());
}

#[actix_web::test]
async fn a_stripe_timeout_leaves_the_order_awaiting_payment_until_the_settler_settles_it() {
    // Arrange: Stripe makes the charge but answers too late for a 200 ms timeout, twice;
    // the settler asks again every 300 ms. Another order, with the same deadline, is left
    // unpaid.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |config| {
        config.stripe_timeout_ms = 200;
        config.stripe_attempts = 2;
        config.payment_retry_ms = 300;
    })
    .await;
    let purchase = purchase(&app, json!(20)).await;
    let unpaid = self::purchase(&app, json!(20)).await;
    fake.delay(STRIPE_HANGS);

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;

    // Assert: 202, the order waits, and it cannot be cancelled.
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    let charge_id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body, json!({"id": charge_id, "status": "awaiting:payment"}));
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "awaiting:payment"
    );
    let cancel = app.cancel(&purchase.buyer, &purchase.order_id).await;
    assert_eq!(cancel.status(), 409, "DELETE while a payment is in flight");
    assert_eq!(
        errors_of(cancel).await,
        vec![("A payment for this order is in progress".to_owned(), None)]
    );
    let record = app.payment_json(&purchase.buyer, &charge_id).await;
    assert_eq!(record["status"], "created");

    // Assert: the hold does not run out under the payment, even past its deadline. The
    // unpaid hold expiring shows the supervisor has been past that deadline.
    run_out_hold(&app, &purchase).await;
    assert!(
        reaches_status(
            &app,
            &unpaid.buyer,
            &unpaid.order_id,
            "cancelled",
            Duration::from_secs(10)
        )
        .await,
        "the unpaid hold expires"
    );
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "awaiting:payment",
        "still waiting for Stripe's answer, not expired"
    );
    assert_eq!(app.metric(EXPIRED).await, 1, "only the unpaid hold expired");
    let ticket = app.ticket_json(&purchase.ticket_id).await;
    assert_eq!(ticket["orderId"], purchase.order_id.as_str(), "still held");

    // Act: Stripe answers again.
    fake.delay(Duration::ZERO);

    // Assert: the settler completes it, without a second charge.
    assert_settled_complete(
        &app,
        &fake,
        &purchase,
        &charge_id,
        "the settler settles the payment",
    )
    .await;
}

#[actix_web::test]
async fn an_order_left_awaiting_payment_is_settled_after_a_restart_with_one_charge() {
    // Arrange: Stripe times out once; the periodic settler is too slow to matter, so only
    // the settling pass at start-up can complete the order.
    let fake = FakeStripe::start().await;
    let mut app = stripe_app(&fake, |config| {
        config.stripe_timeout_ms = 200;
        config.stripe_attempts = 1;
        config.payment_retry_ms = 600_000;
    })
    .await;
    let purchase = purchase(&app, json!(20)).await;
    fake.delay(STRIPE_HANGS);
    let charge_id = payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        202,
    )
    .await;
    fake.delay(Duration::ZERO);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "awaiting:payment"
    );

    // Act
    app.restart_with(|_| {}).await;

    // Assert
    assert_settled_complete(&app, &fake, &purchase, &charge_id, "settled at start-up").await;
}

#[actix_web::test]
async fn a_success_reported_after_a_decline_is_refunded_once_and_the_refund_recorded() {
    // Arrange: Stripe declines (the intent needs another payment method): 402, the order is
    // cancelled and the ticket for sale again. Later the same intent succeeds after all.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    fake.intent_status("requires_payment_method");
    let purchase = purchase(&app, json!(20)).await;
    let declined = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;
    assert_eq!(declined.status(), 402);
    assert_for_sale(&app, &purchase.ticket_id).await;
    let (intent_id, charge_id) = first_intent(&fake).await;
    fake.set_intent_status(&intent_id, "succeeded");
    let success = |event_id: &str| {
        signed(&payment_event(
            event_id,
            "payment_intent.succeeded",
            &intent_id,
            "succeeded",
            &purchase.order_id,
            &charge_id,
        ))
    };
    let (body, signature) = success("evt_success_after_decline");

    // Act
    let response = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(response.status(), 200);
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "refunded: {refunds:?}");
    assert_eq!(refunds[0].payment_intent, intent_id);
    assert_eq!(refunds[0].amount, 2000, "in full");
    let record = app.payment_json(&purchase.buyer, &charge_id).await;
    assert_eq!(record["stripeRefundId"], refunds[0].id.as_str());
    assert_eq!(record["stripeId"], intent_id.as_str());
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "cancelled",
        "the order stays cancelled"
    );
    assert_for_sale(&app, &purchase.ticket_id).await;

    // Another report of the same success (a new event id) refunds nothing more.
    let (body, signature) = success("evt_success_reported_again");
    assert_eq!(app.webhook(&body, Some(&signature)).await.status(), 200);
    assert_eq!(fake.refunds().len(), 1, "refunded once");
}

#[actix_web::test]
async fn a_refund_stripe_cannot_make_yet_is_made_when_the_webhook_is_delivered_again() {
    // Arrange: a declined order whose intent later succeeds, as above, and a Stripe that
    // fails the first refund attempt.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |config| config.stripe_attempts = 1).await;
    fake.intent_status("requires_payment_method");
    let purchase = purchase(&app, json!(20)).await;
    assert_eq!(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await
            .status(),
        402
    );
    let (intent_id, charge_id) = first_intent(&fake).await;
    fake.set_intent_status(&intent_id, "succeeded");
    let (body, signature) = signed(&payment_event(
        "evt_refund_retried",
        "payment_intent.succeeded",
        &intent_id,
        "succeeded",
        &purchase.order_id,
        &charge_id,
    ));
    fake.fail_next(1).await;
    let first = app.webhook(&body, Some(&signature)).await;
    assert!(
        first.status().is_server_error(),
        "Stripe must deliver it again: {}",
        first.status()
    );
    assert!(fake.refunds().is_empty());

    // Act: Stripe redelivers the same event.
    let again = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(again.status(), 200);
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "refunded: {refunds:?}");
    assert_eq!(refunds[0].payment_intent, intent_id);
    let record = app.payment_json(&purchase.buyer, &charge_id).await;
    assert_eq!(record["stripeRefundId"], refunds[0].id.as_str());
}

#[actix_web::test]
async fn a_slow_success_that_lands_after_the_order_was_cancelled_is_refunded() {
    // Arrange: Stripe takes two seconds to answer the charge; meanwhile a (signed) failure
    // report cancels the order and another buyer takes the ticket.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |config| config.payment_retry_ms = 600_000).await;
    let purchase = purchase(&app, json!(20)).await;
    let (next_buyer, _) = app.user().await;
    fake.delay(Duration::from_secs(2));
    let paying = app.pay(&purchase.buyer, &purchase.order_id, "tok_visa");
    let meanwhile = async {
        let charge_made = eventually(Duration::from_secs(10), || async {
            !fake.intent_ids().is_empty()
        })
        .await;
        assert!(charge_made, "Stripe has the charge");
        let (intent_id, charge_id) = first_intent(&fake).await;
        let (body, signature) = signed(&payment_event(
            "evt_failed_meanwhile",
            "payment_intent.payment_failed",
            &intent_id,
            "requires_payment_method",
            &purchase.order_id,
            &charge_id,
        ));
        assert_eq!(app.webhook(&body, Some(&signature)).await.status(), 200);
        assert_eq!(
            order_status(&app, &purchase.buyer, &purchase.order_id).await,
            "cancelled"
        );
        let next_order = app.reserved_order(&next_buyer, &purchase.ticket_id).await;
        fake.delay(Duration::ZERO);
        (intent_id, charge_id, next_order)
    };

    // Act
    let (response, (intent_id, charge_id, next_order)) = tokio::join!(paying, meanwhile);

    // Assert: the buyer is told the order is cancelled, and gets the money back.
    assert_eq!(response.status(), 409);
    assert_eq!(
        errors_of(response).await,
        vec![("Order is cancelled".to_owned(), None)]
    );
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "refunded: {refunds:?}");
    assert_eq!(refunds[0].payment_intent, intent_id);
    let record = app.payment_json(&purchase.buyer, &charge_id).await;
    assert_eq!(record["stripeRefundId"], refunds[0].id.as_str());
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "cancelled"
    );
    let ticket = app.ticket_json(&purchase.ticket_id).await;
    assert_eq!(
        ticket["orderId"],
        next_order.as_str(),
        "the late success did not take the ticket from its new buyer"
    );
}

#[actix_web::test]
async fn a_payment_cut_short_by_kill_9_is_settled_at_the_next_start_with_one_charge() {
    // Arrange: the real binary, with Stripe making the charge and then not answering.
    let fake = FakeStripe::start().await;
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let base = fake.base_url();
    let env = [
        ("STRIPE_SECRET_KEY", STRIPE_KEY),
        ("STRIPE_API_BASE", base.as_str()),
        ("TICKETING_STRIPE_TIMEOUT_MS", "60000"),
        ("TICKETING_PAYMENT_RETRY_MS", "600000"),
    ];
    let child = spawn_process(data_dir.path(), &env);
    child.wait_ready().await;
    let app = child.api();
    let purchase = purchase(&app, json!(20)).await;
    fake.delay(STRIPE_HANGS);

    // Act: SIGKILL once Stripe has made the charge, while the buyer still waits.
    let answered = tokio::select! {
        response = app.pay(&purchase.buyer, &purchase.order_id, "tok_visa") => Some(response.status()),
        charged = eventually(Duration::from_secs(15), || async { fake.charges_created() > 0 }) => {
            assert!(charged, "Stripe made the charge");
            None
        }
    };
    child.kill();
    assert_eq!(
        answered, None,
        "the payment was still in flight when killed"
    );
    fake.delay(Duration::ZERO);
    let child = spawn_process(data_dir.path(), &env);
    child.wait_ready().await;
    let app = child.api();

    // Assert: the charge recorded before Stripe was called is settled, once.
    let settled = reaches_status(
        &app,
        &purchase.buyer,
        &purchase.order_id,
        "complete",
        Duration::from_secs(15),
    )
    .await;
    let charges = fake.charges_created();
    let attempts = intent_creations(&fake).await;
    child.kill();
    assert!(settled, "settled at start-up");
    assert_eq!(charges, 1, "one charge at Stripe");
    assert!(
        attempts.len() >= 2
            && attempts
                .iter()
                .all(|a| a.idempotency_key == attempts[0].idempotency_key),
        "asked again under the same key: {attempts:?}"
    );
}
