//! POST /api/payments/webhook end to end: Stripe's late answers about a payment, signed with
//! the configured secret, settle the order exactly as the payment call would have; anything
//! not signed, not fresh or not exactly what was signed changes nothing (DESIGN §5).
//!
//! May depend on the `helpers` harness, the `fake_stripe` test support and the shared
//! payment arrangement in `payments`. Signature checking itself is tested in `webhook`; here
//! it is the whole route: status codes, the order, the ticket, the charge record.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_stripe::{FakeStripe, now, payment_intent_json, signed_webhook, webhook_event};
use crate::helpers::{TestApp, errors_of, eventually};
use crate::payments::{
    Purchase, WEBHOOK_SECRET, assert_for_sale, assert_sold, first_intent, order_status, payment_id,
    purchase, stripe_app,
};

/// A `payment_intent.*` event about `intent_id`, whose metadata names our order and charge
/// as the Stripe gateway put them there.
pub fn payment_event(
    event_id: &str,
    event_type: &str,
    intent_id: &str,
    status: &str,
    order_id: &str,
    charge_id: &str,
) -> Value {
    let intent = payment_intent_json(
        intent_id,
        2000,
        "usd",
        status,
        &[("order_id", order_id), ("charge_id", charge_id)],
    );
    webhook_event(event_id, event_type, intent)
}

/// `event` as Stripe delivers it now: (raw body, Stripe-Signature header).
pub fn signed(event: &Value) -> (String, String) {
    signed_webhook(event, WEBHOOK_SECRET, None)
}

/// Every `ticketing_events_committed_total` line, sorted (a scrape lists the events in no
/// fixed order): equal before and after means nothing was committed in between.
pub async fn committed_events(app: &TestApp) -> Vec<String> {
    let mut lines: Vec<String> = app
        .metrics_text()
        .await
        .lines()
        .filter(|line| line.starts_with("ticketing_events_committed_total"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// An order whose payment Stripe is still processing: the answer was 202 and the order is
/// awaiting payment. Returns the purchase, our charge id and Stripe's intent id.
async fn awaiting_payment(app: &TestApp, fake: &FakeStripe) -> (Purchase, String, String) {
    fake.intent_status("processing");
    let purchase = purchase(app, json!(20)).await;
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "pm_card_visa")
        .await;
    let charge_id = payment_id(response, 202).await;
    assert_eq!(
        order_status(app, &purchase.buyer, &purchase.order_id).await,
        "awaiting:payment"
    );
    let intent_id = fake.intent_ids()[0].clone();
    (purchase, charge_id, intent_id)
}

/// Webhooks must never be settled behind the test's back by the periodic settler.
fn settler_asleep(config: &mut ticketing::config::Config) {
    config.payment_retry_ms = 600_000;
}

#[actix_web::test]
async fn a_signed_late_confirmation_completes_an_order_awaiting_payment() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    fake.set_intent_status(&intent_id, "succeeded");
    let requests_before = fake.requests().await.len();
    let (body, signature) = signed(&payment_event(
        "evt_late_success",
        "payment_intent.succeeded",
        &intent_id,
        "succeeded",
        &purchase.order_id,
        &charge_id,
    ));

    // Act
    let response = app.webhook(&body, Some(&signature)).await;

    // Assert: the effect is visible when the 200 arrives.
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"received": true})
    );
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
    assert_eq!(
        app.payment_json(&purchase.buyer, &charge_id).await,
        json!({
            "id": charge_id,
            "orderId": purchase.order_id,
            "status": "completed",
            "amount": 20.0,
            "stripeId": intent_id,
        })
    );
    assert_eq!(
        fake.requests().await.len(),
        requests_before,
        "Stripe was not asked"
    );
    assert_eq!(fake.charges_created(), 1);
    assert!(fake.refunds().is_empty());
}

#[actix_web::test]
async fn a_confirmation_that_overtakes_a_slow_charge_call_completes_the_order_once() {
    // Arrange: Stripe makes the charge at once but answers the call two seconds later; its
    // webhook arrives first.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let purchase = purchase(&app, json!(20)).await;
    fake.delay(Duration::from_secs(2));
    let paying = app.pay(&purchase.buyer, &purchase.order_id, "tok_visa");
    let confirming = async {
        let charged = eventually(Duration::from_secs(10), || async {
            fake.charges_created() > 0
        })
        .await;
        assert!(charged, "Stripe made the charge");
        let (intent_id, charge_id) = first_intent(&fake).await;
        let (body, signature) = signed(&payment_event(
            "evt_overtaking",
            "payment_intent.succeeded",
            &intent_id,
            "succeeded",
            &purchase.order_id,
            &charge_id,
        ));
        let status = app.webhook(&body, Some(&signature)).await.status();
        let order = order_status(&app, &purchase.buyer, &purchase.order_id).await;
        (status, order, charge_id)
    };

    // Act
    let (response, (webhook_status, status_after_webhook, charge_id)) =
        tokio::join!(paying, confirming);

    // Assert: the webhook completed the order; the call's own answer then agrees with it.
    assert_eq!(webhook_status, 200);
    assert_eq!(status_after_webhook, "complete");
    assert_eq!(payment_id(response, 201).await, charge_id);
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"OrderCompleted\"}")
            .await,
        1
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
    assert_eq!(fake.charges_created(), 1);
    assert!(
        fake.refunds().is_empty(),
        "a completed order keeps its money"
    );
}

#[actix_web::test]
async fn a_signed_late_failure_cancels_an_awaiting_order_and_frees_the_ticket() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    fake.set_intent_status(&intent_id, "requires_payment_method");
    let (body, signature) = signed(&payment_event(
        "evt_late_failure",
        "payment_intent.payment_failed",
        &intent_id,
        "requires_payment_method",
        &purchase.order_id,
        &charge_id,
    ));

    // Act
    let response = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "cancelled"
    );
    assert_for_sale(&app, &purchase.ticket_id).await;
    let record = app.payment_json(&purchase.buyer, &charge_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["stripeId"], intent_id.as_str());
    assert!(
        fake.refunds().is_empty(),
        "nothing was taken, nothing to refund"
    );
}

#[actix_web::test]
async fn a_failure_report_arriving_after_the_success_leaves_the_order_paid() {
    // Arrange: Stripe does not promise to deliver events in order; this order is paid.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let purchase = purchase(&app, json!(20)).await;
    let charge_id = payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        201,
    )
    .await;
    let intent_id = fake.intent_ids()[0].clone();
    let (body, signature) = signed(&payment_event(
        "evt_failure_out_of_order",
        "payment_intent.payment_failed",
        &intent_id,
        "requires_payment_method",
        &purchase.order_id,
        &charge_id,
    ));

    // Act
    let response = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
    assert_eq!(
        app.payment_json(&purchase.buyer, &charge_id).await["status"],
        "completed"
    );
}

#[actix_web::test]
async fn webhooks_that_are_tampered_stale_unsigned_or_too_large_are_refused_and_change_nothing() {
    // Arrange: every refused delivery below would complete the order if it were accepted.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    let success = payment_event(
        "evt_success",
        "payment_intent.succeeded",
        &intent_id,
        "succeeded",
        &purchase.order_id,
        &charge_id,
    );
    let failure = payment_event(
        "evt_failure",
        "payment_intent.payment_failed",
        &intent_id,
        "requires_payment_method",
        &purchase.order_id,
        &charge_id,
    );
    let (failure_body, failure_signature) = signed(&failure);
    let turned_into_success = failure_body
        .replace("payment_intent.payment_failed", "payment_intent.succeeded")
        .replace("requires_payment_method", "succeeded");
    assert_ne!(turned_into_success, failure_body, "the tampering took");
    let (stale_body, stale_signature) = signed_webhook(&success, WEBHOOK_SECRET, Some(now() - 600));
    let (foreign_body, foreign_signature) = signed_webhook(&success, "whsec_someone_else", None);
    let (success_body, success_signature) = signed(&success);
    let cases = [
        (
            turned_into_success.as_str(),
            Some(failure_signature.as_str()),
            "a failure rewritten into a success after signing",
        ),
        (
            stale_body.as_str(),
            Some(stale_signature.as_str()),
            "signed ten minutes ago",
        ),
        (
            foreign_body.as_str(),
            Some(foreign_signature.as_str()),
            "signed with another secret",
        ),
        (success_body.as_str(), None, "no Stripe-Signature header"),
        (
            success_body.as_str(),
            Some("t=0,v1=deadbeef"),
            "a made-up signature",
        ),
    ];
    let events_before = committed_events(&app).await;

    for (body, signature, why) in cases {
        // Act
        let response = app.webhook(body, signature).await;

        // Assert
        assert_eq!(response.status(), 400, "{why}");
        errors_of(response).await;
        assert_eq!(
            order_status(&app, &purchase.buyer, &purchase.order_id).await,
            "awaiting:payment",
            "{why}"
        );
    }
    // A body past the 64 KiB limit is refused in the envelope, before its signature is read.
    let oversized = format!("{success_body}{}", " ".repeat(64 * 1024));
    let response = app.webhook(&oversized, Some(&success_signature)).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        errors_of(response).await,
        vec![("Request body is too large".to_owned(), None)]
    );
    assert_eq!(
        committed_events(&app).await,
        events_before,
        "nothing committed"
    );
    let ticket = app.ticket_json(&purchase.ticket_id).await;
    assert_eq!(ticket["orderId"], purchase.order_id.as_str(), "still held");

    // The same success, delivered as signed, is accepted: the refusals were the signature's.
    let accepted = app.webhook(&success_body, Some(&success_signature)).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
}

#[actix_web::test]
async fn a_webhook_delivered_twice_is_processed_once() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    fake.set_intent_status(&intent_id, "succeeded");
    let (body, signature) = signed(&payment_event(
        "evt_delivered_twice",
        "payment_intent.succeeded",
        &intent_id,
        "succeeded",
        &purchase.order_id,
        &charge_id,
    ));
    let first = app.webhook(&body, Some(&signature)).await;
    assert_eq!(first.status(), 200);
    let events_after_first = committed_events(&app).await;

    // Act
    let second = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(second.status(), 200, "a redelivery is acknowledged");
    assert_eq!(
        committed_events(&app).await,
        events_after_first,
        "the redelivery committed nothing"
    );
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"OrderCompleted\"}")
            .await,
        1
    );
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
}

#[actix_web::test]
async fn signed_events_the_shop_does_not_act_on_are_acknowledged_and_change_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, settler_asleep).await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    let unknown_order = "ffffffffffffffffffffffff";
    let cases = [
        (
            payment_event(
                "evt_created",
                "payment_intent.created",
                &intent_id,
                "succeeded",
                &purchase.order_id,
                &charge_id,
            ),
            "an event type the shop does not handle",
        ),
        (
            payment_event(
                "evt_other_order",
                "payment_intent.succeeded",
                "pi_someone_elses",
                "succeeded",
                unknown_order,
                &charge_id,
            ),
            "a success for an order this shop does not have",
        ),
        (
            webhook_event(
                "evt_no_metadata",
                "payment_intent.succeeded",
                payment_intent_json(&intent_id, 2000, "usd", "succeeded", &[]),
            ),
            "a success without our metadata",
        ),
    ];
    let events_before = committed_events(&app).await;

    for (event, why) in cases {
        let (body, signature) = signed(&event);

        // Act
        let response = app.webhook(&body, Some(&signature)).await;

        // Assert: 200, so that Stripe stops redelivering it.
        assert_eq!(response.status(), 200, "{why}");
        assert_eq!(
            order_status(&app, &purchase.buyer, &purchase.order_id).await,
            "awaiting:payment",
            "{why}"
        );
    }
    assert_eq!(
        committed_events(&app).await,
        events_before,
        "nothing committed"
    );
}

#[actix_web::test]
async fn the_webhook_route_is_off_without_a_signing_secret() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |config| {
        settler_asleep(config);
        config.stripe_webhook_secret = None;
    })
    .await;
    let (purchase, charge_id, intent_id) = awaiting_payment(&app, &fake).await;
    let (body, signature) = signed(&payment_event(
        "evt_nobody_listens",
        "payment_intent.succeeded",
        &intent_id,
        "succeeded",
        &purchase.order_id,
        &charge_id,
    ));

    // Act
    let response = app.webhook(&body, Some(&signature)).await;

    // Assert
    assert_eq!(response.status(), 404);
    errors_of(response).await;
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "awaiting:payment"
    );
}
