//! Settling payments of unknown outcome (DESIGN §5, §8): one gateway call per order at a
//! time, each order backing off on its own, and past the age at which Stripe forgets an
//! idempotency key, a lookup by the order id instead of a new PaymentIntent.
//!
//! A charge's age is read on the app's clock, which these tests move past the age; the
//! backoff between calls runs on real time, and the first test measures it as such.
//!
//! May depend on the `helpers` harness, the `fake_stripe` test support and the shared
//! arrangement in `payments`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::fake_stripe::FakeStripe;
use crate::helpers::{TestApp, eventually, metric_in};
use crate::payments::{
    Purchase, intent_creations, order_status, payment_id, purchase, reaches_status, stripe_app,
};

/// Longer than any test waits: the mock answers this late.
const STRIPE_HANGS: Duration = Duration::from_secs(60);

/// The age past which a charge is looked up instead of asked for again (an hour here; a
/// day less one hour in production, as Stripe keeps idempotency keys for a day).
const MAX_AGE_SECS: u64 = 3600;

/// How far the tests move the app's clock to make a charge too old.
const PAST_MAX_AGE: Duration = Duration::from_secs(MAX_AGE_SECS + 1);

#[actix_web::test]
async fn settling_against_a_stripe_that_never_answers_keeps_one_call_per_order_and_backs_off() {
    // Arrange: every call times out after 300 ms, and the settler looks every 50 ms. In front
    // of the fake, a mock notes when each call to create the charge arrives and answers
    // too late for any of them.
    let fake = FakeStripe::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = Arc::clone(&arrivals);
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(move |_: &Request| {
            noted.lock().expect("the arrivals").push(Instant::now());
            ResponseTemplate::new(200).set_delay(STRIPE_HANGS)
        })
        .with_priority(1)
        .mount(fake.server())
        .await;
    let app = stripe_app(&fake, |c| {
        c.stripe_timeout_ms = 300;
        c.stripe_attempts = 1;
        c.payment_retry_ms = 50;
    })
    .await;
    let sale = purchase(&app, serde_json::json!(20)).await;
    // Act: the buyer's call times out: the order waits, and the settler takes over.
    let answer = app.pay(&sale.buyer, &sale.order_id, "tok_visa").await;
    payment_id(answer, 202).await;
    // What is measured is the calls' spacing over a stretch of time, so the test lets
    // that time pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Assert: each call starts after the one before has timed out (one at a time), and far
    // fewer than one per look: pauses of 100, 200, 400, 800 ms... between 300 ms calls.
    let calls = arrivals.lock().expect("the arrivals").clone();
    let gaps: Vec<Duration> = calls
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .collect();
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_millis(290)),
        "one call at a time: {gaps:?}"
    );
    assert!(
        (2..=8).contains(&calls.len()),
        "{} calls in 3 s",
        calls.len()
    );
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
}

/// A shop on a fake Stripe that leaves every payment processing, and a sale whose payment
/// was answered 202: its outcome unknown, the charge young.
async fn a_processing_payment() -> (FakeStripe, TestApp, Purchase) {
    let fake = FakeStripe::start().await;
    fake.intent_status("processing");
    let app = stripe_app(&fake, |c| {
        c.stripe_attempts = 1;
        c.payment_retry_ms = 100;
        c.payment_max_age_secs = MAX_AGE_SECS;
    })
    .await;
    let sale = purchase(&app, serde_json::json!(20)).await;
    payment_id(app.pay(&sale.buyer, &sale.order_id, "tok_visa").await, 202).await;
    (fake, app, sale)
}

#[actix_web::test]
async fn a_payment_too_old_to_ask_again_is_looked_up_by_its_order_and_settled_from_what_stripe_says()
 {
    // Arrange: the payment is still processing when the buyer's call ends.
    let (fake, app, sale) = a_processing_payment().await;
    let intent = fake.intent_ids()[0].clone();
    // Act: the charge grows too old to ask for again; then Stripe finishes the payment.
    app.advance(PAST_MAX_AGE);
    let looked_up = eventually(Duration::from_secs(10), || async {
        fake.requests()
            .await
            .iter()
            .any(|r| r.path == "/v1/payment_intents/search")
    })
    .await;
    assert!(looked_up, "the settler looks the payment up");
    let creations_before = intent_creations(&fake).await.len();
    fake.set_intent_status(&intent, "succeeded");
    // Assert: the lookup settles it, and no new PaymentIntent was asked for past the age.
    assert!(
        reaches_status(
            &app,
            &sale.buyer,
            &sale.order_id,
            "complete",
            Duration::from_secs(10)
        )
        .await,
        "the order completes from what the lookup found"
    );
    assert_eq!(intent_creations(&fake).await.len(), creations_before);
    assert_eq!(fake.charges_created(), 1, "one PaymentIntent in all");
    let search = fake
        .requests()
        .await
        .into_iter()
        .find(|r| r.path == "/v1/payment_intents/search")
        .expect("a search");
    assert_eq!(
        search.field("query"),
        Some(format!("metadata['order_id']:'{}'", sale.order_id).as_str())
    );
}

#[actix_web::test]
async fn a_payment_the_lookup_cannot_settle_is_left_for_a_person_on_metrics() {
    // Arrange: processing forever.
    let (fake, app, sale) = a_processing_payment().await;
    // Act: the charge grows too old to ask for again.
    app.advance(PAST_MAX_AGE);
    // Assert
    let flagged = eventually(Duration::from_secs(10), || async {
        metric_in(
            &app.metrics_text().await,
            "ticketing_payments_for_the_operator",
        ) == 1
    })
    .await;
    assert!(flagged, "the order is counted for the operator");
    assert_eq!(fake.charges_created(), 1, "and never charged again");
    assert_eq!(
        order_status(&app, &sale.buyer, &sale.order_id).await,
        "awaiting:payment"
    );
}
