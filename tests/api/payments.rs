//! POST /api/payments and GET /api/payments/:id end to end (DESIGN §4, §5, §7 races 3, 5,
//! 6): the real app on a random port, the real async-stripe client, the fake Stripe server.
//!
//! May depend on the `helpers` harness and the `fake_stripe` test support only; every
//! precondition is built through the HTTP API. The shared arrangement for the other payment
//! modules (`payments_recovery`, `payments_webhooks`) lives at the top of this file.

use std::time::Duration;

use reqwest::{Client, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use ticketing::config::Config;

use crate::fake_stripe::{FakeStripe, RecordedRequest};
use crate::helpers::{TestApp, errors_of, eventually, expires_at, spawn_app_with};

pub const STRIPE_KEY: &str = "sk_test_fake_secret";
pub const WEBHOOK_SECRET: &str = "whsec_test_payments";
pub const EXPIRED: &str = "ticketing_events_committed_total{event=\"OrderExpired\"}";

/// Starts the app with the real Stripe client pointed at `fake` and webhooks on; `configure`
/// then adjusts timeouts, attempts, holds and the settler's period for the test at hand.
pub async fn stripe_app(fake: &FakeStripe, configure: impl FnOnce(&mut Config)) -> TestApp {
    let base = fake.base_url();
    spawn_app_with(move |config| {
        config.stripe_secret_key = Some(SecretString::from(STRIPE_KEY));
        config.stripe_api_base = Some(base);
        config.stripe_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
        configure(config);
    })
    .await
}

/// A seller's ticket and a buyer's order for it, made through the API.
pub struct Purchase {
    pub seller: Client,
    pub buyer: Client,
    pub ticket_id: String,
    pub order_id: String,
}

/// Lists a ticket at `price` as a fresh seller and reserves it as a fresh buyer.
pub async fn purchase(app: &TestApp, price: Value) -> Purchase {
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket = app
        .listed_ticket_json(&seller, "Cup final, row 12", price)
        .await;
    let ticket_id = ticket["id"].as_str().expect("ticket id").to_owned();
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    Purchase {
        seller,
        buyer,
        ticket_id,
        order_id,
    }
}

pub async fn order_status(app: &TestApp, client: &Client, order_id: &str) -> String {
    app.order_json(client, order_id).await["status"]
        .as_str()
        .expect("an order has a status")
        .to_owned()
}

/// Polls until the order has `status`; answers whether it got there within `timeout`.
pub async fn reaches_status(
    app: &TestApp,
    client: &Client,
    order_id: &str,
    status: &str,
    timeout: Duration,
) -> bool {
    eventually(timeout, || async move {
        order_status(app, client, order_id).await == status
    })
    .await
}

/// Polls until the purchase's order is cancelled and its ticket no longer names it: when
/// background work (the hold supervisor) ends an order, the ticket's release follows the
/// order's cancellation by a moment, and no request waits for it.
pub async fn reaches_end(app: &TestApp, purchase: &Purchase, timeout: Duration) -> bool {
    eventually(timeout, || async move {
        order_status(app, &purchase.buyer, &purchase.order_id).await == "cancelled"
            && app
                .ticket_json(&purchase.ticket_id)
                .await
                .get("orderId")
                .is_none()
    })
    .await
}

/// Moves the app's clock to the deadline of the purchase's hold.
pub async fn run_out_hold(app: &TestApp, purchase: &Purchase) {
    let order = app.order_json(&purchase.buyer, &purchase.order_id).await;
    app.advance_to(expires_at(&order));
}

/// A payment of an order that has ended is refused: 409 "Order is cancelled", Stripe was
/// never asked, and the ticket is still for sale.
pub async fn assert_refused_as_cancelled(
    app: &TestApp,
    fake: &FakeStripe,
    purchase: &Purchase,
    response: Response,
) {
    assert_eq!(response.status(), 409);
    assert_eq!(
        errors_of(response).await,
        vec![("Order is cancelled".to_owned(), None)]
    );
    assert!(fake.requests().await.is_empty(), "Stripe was not asked");
    assert_for_sale(app, &purchase.ticket_id).await;
}

/// Sold to `order_id`: the ticket names its order, is not listed, cannot be edited by its
/// seller and cannot be ordered by anyone else.
pub async fn assert_sold(app: &TestApp, purchase: &Purchase, order_id: &str) {
    let ticket = app.ticket_json(&purchase.ticket_id).await;
    assert_eq!(ticket["orderId"], order_id, "the ticket names its order");
    assert!(
        !app.listed_ids().await.contains(&json!(purchase.ticket_id)),
        "a sold ticket is not listed"
    );
    let edit = app
        .update_ticket(
            &purchase.seller,
            &purchase.ticket_id,
            &json!({"title": "Resold", "price": 1000}),
        )
        .await;
    assert_eq!(edit.status(), 409, "the seller cannot edit a sold ticket");
    let (someone, _) = app.user().await;
    let again = app.reserve(&someone, &purchase.ticket_id).await;
    assert_eq!(again.status(), 409, "nobody else can order a sold ticket");
    assert_eq!(
        errors_of(again).await,
        vec![("Ticket is already reserved".to_owned(), None)]
    );
}

/// For sale again: listed, naming no order, and another buyer can reserve it.
pub async fn assert_for_sale(app: &TestApp, ticket_id: &str) {
    let ticket = app.ticket_json(ticket_id).await;
    assert_eq!(
        ticket.get("orderId"),
        None,
        "a ticket for sale names no order"
    );
    assert!(
        app.listed_ids().await.contains(&json!(ticket_id)),
        "the ticket is listed again"
    );
}

/// Our payment ids: 24 lowercase hex characters.
pub fn is_our_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The create-PaymentIntent requests the fake received (retries and replays included).
pub async fn intent_creations(fake: &FakeStripe) -> Vec<RecordedRequest> {
    fake.requests()
        .await
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .collect()
}

/// Stripe's id of the first PaymentIntent it was asked for, and our charge id, which the
/// request carried in its metadata.
pub async fn first_intent(fake: &FakeStripe) -> (String, String) {
    let intent_id = fake.intent_ids()[0].clone();
    let charge_id = intent_creations(fake).await[0]
        .field("metadata[charge_id]")
        .expect("the charge id is in the metadata")
        .to_owned();
    (intent_id, charge_id)
}

/// The `id` of a 201 or 202 payment answer.
pub async fn payment_id(response: reqwest::Response, expected_status: u16) -> String {
    assert_eq!(response.status(), expected_status, "payment answer status");
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("a payment id").to_owned()
}

#[actix_web::test]
async fn a_payment_charges_the_price_in_cents_completes_the_order_and_sells_the_ticket() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(19.99)).await;

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;

    // Assert: 201 with our own id and nothing else.
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body, json!({"id": id}), "the answer is just the payment id");
    assert!(is_our_id(&id), "24 lowercase hex: {id}");
    assert_ne!(id, purchase.order_id, "the payment id is not the order id");
    let intents = fake.intent_ids();
    assert_eq!(intents.len(), 1, "one charge at Stripe");
    assert_ne!(id, intents[0], "our id, not Stripe's");

    // Assert: exactly one request, with exactly this form.
    let requests = fake.requests().await;
    assert_eq!(requests.len(), 1, "no retries: {requests:?}");
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/payment_intents")
    );
    let mut form = sent.form.clone();
    form.sort();
    let mut expected: Vec<(String, String)> = [
        ("amount", "1999"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("metadata[order_id]", purchase.order_id.as_str()),
        ("metadata[charge_id]", id.as_str()),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][token]", "tok_visa"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(form, expected, "the exact form body");
    let key = sent.idempotency_key.as_deref().unwrap_or_default();
    assert!(
        key.contains(&purchase.order_id),
        "the idempotency key names the order: {key:?}"
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {STRIPE_KEY}").as_str())
    );

    // Assert: the order, the ticket and the charge record.
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
    assert_eq!(
        app.payment_json(&purchase.buyer, &id).await,
        json!({
            "id": id,
            "orderId": purchase.order_id,
            "status": "completed",
            "amount": 19.99,
            "stripeId": intents[0],
        })
    );
}

#[actix_web::test]
async fn every_price_is_charged_as_its_exact_number_of_cents() {
    // Arrange: prices whose float product with 100 is not a whole number (race 8).
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let cases = [
        (json!(0.5), "50", 0.5, "the lowest price"),
        (json!(1.1), "110", 1.1, "1.1 * 100 = 110.00000000000001"),
        (json!(4.35), "435", 4.35, "4.35 * 100 = 434.99999999999994"),
        (json!(19.99), "1999", 19.99, "the usual example"),
        (json!("20.00"), "2000", 20.0, "a numeric string"),
        (json!(999999.99), "99999999", 999999.99, "the highest price"),
    ];

    for (price, cents, shown, why) in cases {
        let purchase = purchase(&app, price).await;

        // Act
        let response = app
            .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await;

        // Assert
        let id = payment_id(response, 201).await;
        let sent = intent_creations(&fake)
            .await
            .pop()
            .expect("a charge was asked for");
        assert_eq!(sent.field("amount"), Some(cents), "{why}");
        assert_eq!(
            app.payment_json(&purchase.buyer, &id).await["amount"],
            shown,
            "{why}"
        );
    }
}

#[actix_web::test]
async fn a_declined_card_answers_402_cancels_the_order_and_frees_the_ticket_at_once() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(25)).await;

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_chargeDeclined")
        .await;

    // Assert: checked right after the 402, with no polling: the effect is already visible.
    assert_eq!(response.status(), 402);
    assert_eq!(
        errors_of(response).await,
        vec![("Your card was declined.".to_owned(), None)]
    );
    assert_for_sale(&app, &purchase.ticket_id).await;
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "cancelled"
    );
    assert_eq!(fake.charges_created(), 0);
    let (next_buyer, _) = app.user().await;
    assert_eq!(
        app.reserve(&next_buyer, &purchase.ticket_id).await.status(),
        201,
        "someone else can buy it now"
    );
}

#[actix_web::test]
async fn paying_a_paid_order_again_answers_the_same_id_and_charges_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    let first = payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        201,
    )
    .await;

    // Act: the same token again, then another card.
    let again = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;
    let other_card = app
        .pay(&purchase.buyer, &purchase.order_id, "pm_card_visa")
        .await;

    // Assert
    assert_eq!(payment_id(again, 201).await, first);
    assert_eq!(payment_id(other_card, 201).await, first);
    assert_eq!(fake.requests().await.len(), 1, "Stripe was asked once");
    assert_eq!(fake.charges_created(), 1);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
}

#[actix_web::test]
async fn two_simultaneous_payments_of_one_order_charge_once() {
    // Arrange: Stripe takes half a second, so the second request meets the first in flight.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    fake.delay(Duration::from_millis(500));

    // Act
    let (first, second) = tokio::join!(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa"),
        app.pay(&purchase.buyer, &purchase.order_id, "pm_card_visa"),
    );

    // Assert: one is paid; the other is told a payment is in progress (or, had it come
    // second, the same id). Either way Stripe charged once.
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert!(
        statuses == [201, 409] || statuses == [201, 201],
        "statuses: {statuses:?}"
    );
    assert_eq!(fake.charges_created(), 1, "one charge at Stripe");
    assert_eq!(
        intent_creations(&fake).await.len(),
        1,
        "Stripe was asked once"
    );
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
}

#[actix_web::test]
async fn paying_a_cancelled_order_is_a_conflict_and_charges_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    assert_eq!(
        app.cancel(&purchase.buyer, &purchase.order_id)
            .await
            .status(),
        204
    );

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;

    // Assert
    assert_refused_as_cancelled(&app, &fake, &purchase, response).await;
}

#[actix_web::test]
async fn paying_an_order_whose_hold_expired_is_a_conflict_and_charges_nothing() {
    // Arrange: a hold left to run out.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    run_out_hold(&app, &purchase).await;
    assert!(
        reaches_status(
            &app,
            &purchase.buyer,
            &purchase.order_id,
            "cancelled",
            Duration::from_secs(10)
        )
        .await,
        "the hold expires"
    );

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;

    // Assert
    assert_refused_as_cancelled(&app, &fake, &purchase, response).await;
}

#[actix_web::test]
async fn paying_someone_elses_order_is_forbidden_and_changes_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    let (stranger, _) = app.user().await;

    // Act
    let response = app.pay(&stranger, &purchase.order_id, "tok_visa").await;

    // Assert
    assert_eq!(response.status(), 403);
    errors_of(response).await;
    assert!(fake.requests().await.is_empty(), "Stripe was not asked");
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "created"
    );
}

#[actix_web::test]
async fn bad_payment_requests_are_refused_with_the_envelope_and_charge_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    let order = purchase.order_id.as_str();
    let signed_out = app.client();
    let unknown = "ffffffffffffffffffffffff";
    let bad_order = ("orderId must be a valid order id", Some("orderId"));
    let bad_token = ("token must be a card token", Some("token"));
    let cases = [
        (
            &purchase.buyer,
            json!({"orderId": unknown, "token": "tok_visa"}),
            404,
            vec![("Not found", None)],
            "an order that does not exist",
        ),
        (
            &purchase.buyer,
            json!({"orderId": purchase.ticket_id, "token": "tok_visa"}),
            404,
            vec![("Not found", None)],
            "a well-formed id of something else (a ticket)",
        ),
        (
            &purchase.buyer,
            json!({"orderId": "not-an-id", "token": "tok_visa"}),
            400,
            vec![bad_order],
            "a malformed order id",
        ),
        (
            &purchase.buyer,
            json!({"orderId": order.to_uppercase(), "token": "tok_visa"}),
            400,
            vec![bad_order],
            "an order id in upper case",
        ),
        (
            &purchase.buyer,
            json!({"orderId": 12, "token": "tok_visa"}),
            400,
            vec![bad_order],
            "an order id that is a number",
        ),
        (
            &purchase.buyer,
            json!({"orderId": order}),
            400,
            vec![bad_token],
            "no token",
        ),
        (
            &purchase.buyer,
            json!({"orderId": order, "token": "   "}),
            400,
            vec![bad_token],
            "a blank token",
        ),
        (
            &purchase.buyer,
            json!({}),
            400,
            vec![bad_order, bad_token],
            "an empty body names both fields",
        ),
        (
            &signed_out,
            json!({"orderId": order, "token": "tok_visa"}),
            401,
            vec![("Not signed in", None)],
            "signed out",
        ),
    ];

    for (client, body, status, errors, why) in cases {
        // Act
        let response = app.post(client, "/api/payments", &body).await;

        // Assert
        assert_eq!(response.status(), status, "{why}");
        let expected: Vec<_> = errors
            .iter()
            .map(|(message, field)| ((*message).to_owned(), field.map(str::to_owned)))
            .collect();
        assert_eq!(errors_of(response).await, expected, "{why}");
    }
    assert!(fake.requests().await.is_empty(), "Stripe was never asked");
    assert_eq!(
        order_status(&app, &purchase.buyer, order).await,
        "created",
        "the order is untouched"
    );
}

#[actix_web::test]
async fn a_paid_order_cannot_be_cancelled_and_its_ticket_stays_sold() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        201,
    )
    .await;

    // Act
    let response = app.cancel(&purchase.buyer, &purchase.order_id).await;

    // Assert
    assert_eq!(response.status(), 409);
    assert_eq!(
        errors_of(response).await,
        vec![("Cannot cancel a paid order".to_owned(), None)]
    );
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
}

#[actix_web::test]
async fn a_stripe_server_error_is_retried_with_the_same_key_and_charges_once() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    fake.fail_next(1).await;

    // Act
    let response = app
        .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
        .await;

    // Assert
    payment_id(response, 201).await;
    let attempts = intent_creations(&fake).await;
    assert_eq!(attempts.len(), 2, "one 500, one retry");
    assert!(attempts[0].idempotency_key.is_some());
    assert_eq!(attempts[0].idempotency_key, attempts[1].idempotency_key);
    assert_eq!(fake.charges_created(), 1);
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
}

#[actix_web::test]
async fn a_hold_that_runs_out_during_a_slow_payment_does_not_cancel_it() {
    // Arrange: Stripe answering in three seconds, and an unpaid order with the same deadline
    // whose expiry shows that the hold supervisor has been past the paid order's deadline.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    let unpaid = self::purchase(&app, json!(20)).await;
    fake.delay(Duration::from_secs(3));

    // Act: once Stripe has the charge, and while its answer is on the way, the deadline
    // comes.
    let answered = std::cell::Cell::new(false);
    let paying = async {
        let response = app
            .pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await;
        answered.set(true);
        response
    };
    let meanwhile = async {
        let charged = eventually(Duration::from_secs(10), || async {
            fake.charges_created() > 0
        })
        .await;
        run_out_hold(&app, &purchase).await;
        let expired = reaches_status(
            &app,
            &unpaid.buyer,
            &unpaid.order_id,
            "cancelled",
            Duration::from_secs(10),
        )
        .await;
        (charged, expired, answered.get())
    };
    let (response, (charged, unpaid_expired, answered_by_then)) = tokio::join!(paying, meanwhile);

    // Assert
    assert!(charged, "Stripe made the charge");
    assert!(
        unpaid_expired,
        "the unpaid hold with the same deadline expires"
    );
    assert!(!answered_by_then, "the payment was still in flight then");
    payment_id(response, 201).await;
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_eq!(app.metric(EXPIRED).await, 1, "only the unpaid hold expired");
    assert_sold(&app, &purchase, &purchase.order_id).await;
    for (change, count) in [("sold", 1), ("released", 1), ("edited", 0)] {
        let series = format!("ticketing_ticket_changes_total{{change=\"{change}\"}}");
        assert_eq!(app.metric(&series).await, count, "tickets {change}");
    }
    assert_eq!(fake.charges_created(), 1);
}

#[actix_web::test]
async fn a_slow_payment_completes_even_when_the_order_actor_is_passivated_meanwhile() {
    // Arrange: order actors idle for 50 ms are stopped; Stripe takes a second.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |config| config.actor_idle_ms = 50).await;
    let purchase = purchase(&app, json!(20)).await;
    fake.delay(Duration::from_secs(1));

    // Act
    let (response, passivated) = tokio::join!(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa"),
        eventually(Duration::from_secs(5), || async {
            fake.charges_created() > 0
                && app.metric("ticketing_live_actors{kind=\"order\"}").await == 0
        }),
    );

    // Assert
    assert!(passivated, "no order actor was alive while Stripe was slow");
    payment_id(response, 201).await;
    assert_eq!(
        order_status(&app, &purchase.buyer, &purchase.order_id).await,
        "complete"
    );
    assert_sold(&app, &purchase, &purchase.order_id).await;
    assert_eq!(fake.charges_created(), 1);
}

#[actix_web::test]
async fn a_completed_order_never_expires() {
    // Arrange: a hold paid at once, and one with the same deadline left unpaid.
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        201,
    )
    .await;
    let unpaid = self::purchase(&app, json!(20)).await;

    // Act: the deadline comes; once the unpaid order has expired, the supervisor has had
    // its chance at the paid one.
    run_out_hold(&app, &purchase).await;
    let unpaid_expired = reaches_status(
        &app,
        &unpaid.buyer,
        &unpaid.order_id,
        "cancelled",
        Duration::from_secs(10),
    )
    .await;

    // Assert
    assert!(unpaid_expired, "the unpaid hold expires");
    assert_eq!(app.expire_due().await, 0, "nothing is left to expire");
    let order = app.order_json(&purchase.buyer, &purchase.order_id).await;
    assert_eq!(order["status"], "complete");
    assert_eq!(app.metric(EXPIRED).await, 1, "only the unpaid hold expired");
    assert_sold(&app, &purchase, &purchase.order_id).await;
}

#[actix_web::test]
async fn a_payment_record_is_shown_only_to_the_buyer_of_its_order() {
    // Arrange
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake, |_| {}).await;
    let purchase = purchase(&app, json!(20)).await;
    let id = payment_id(
        app.pay(&purchase.buyer, &purchase.order_id, "tok_visa")
            .await,
        201,
    )
    .await;
    let (stranger, _) = app.user().await;

    for (client, path_id, status, why) in [
        (&purchase.buyer, id.as_str(), 200, "the buyer"),
        (&stranger, id.as_str(), 403, "another user"),
        (&purchase.seller, id.as_str(), 403, "the seller"),
        (&app.client(), id.as_str(), 401, "signed out"),
        (
            &purchase.buyer,
            "ffffffffffffffffffffffff",
            404,
            "no such payment",
        ),
        (&purchase.buyer, "not-an-id", 404, "a malformed id"),
        (
            &purchase.buyer,
            purchase.order_id.as_str(),
            404,
            "the order id is not a payment id",
        ),
    ] {
        // Act
        let response = app.payment(client, path_id).await;

        // Assert
        assert_eq!(response.status(), status, "{why}");
        if status != 200 {
            errors_of(response).await;
        }
    }
}

/// The offline test gateway the binary uses without a Stripe key, through the HTTP API.
mod offline {
    use super::*;
    use crate::helpers::spawn_app;

    #[actix_web::test]
    async fn the_succeeding_test_tokens_pay_and_complete_the_order() {
        // Arrange
        let app = spawn_app().await;

        for token in ["tok_visa", "pm_card_visa"] {
            let purchase = purchase(&app, json!(19.99)).await;

            // Act
            let response = app.pay(&purchase.buyer, &purchase.order_id, token).await;

            // Assert
            assert_eq!(response.status(), 201, "{token}");
            let id = payment_id(response, 201).await;
            assert!(is_our_id(&id), "{token}: {id}");
            assert_eq!(
                order_status(&app, &purchase.buyer, &purchase.order_id).await,
                "complete",
                "{token}"
            );
            assert_sold(&app, &purchase, &purchase.order_id).await;
            let record = app.payment_json(&purchase.buyer, &id).await;
            assert_eq!(record["status"], "completed", "{token}");
            assert_eq!(record["amount"], 19.99, "{token}");
            assert!(
                record["stripeId"].as_str().is_some_and(|s| !s.is_empty()),
                "{token}: {record}"
            );
        }
    }

    #[actix_web::test]
    async fn the_declining_test_tokens_answer_402_and_free_the_ticket() {
        // Arrange
        let app = spawn_app().await;

        for token in ["tok_chargeDeclined", "pm_card_chargeDeclined"] {
            let purchase = purchase(&app, json!(20)).await;

            // Act
            let response = app.pay(&purchase.buyer, &purchase.order_id, token).await;

            // Assert
            assert_eq!(response.status(), 402, "{token}");
            assert_eq!(
                errors_of(response).await,
                vec![("Your card was declined.".to_owned(), None)],
                "{token}"
            );
            assert_eq!(
                order_status(&app, &purchase.buyer, &purchase.order_id).await,
                "cancelled",
                "{token}"
            );
            assert_for_sale(&app, &purchase.ticket_id).await;
        }
    }
}
