//! Stripe webhook verification: a signed, fresh delivery is reduced to the payment it
//! reports; anything tampered, stale or signed with another secret is refused.
//!
//! May depend on `ticketing::gateway::webhook` and the `fake_stripe` test support only.

use serde_json::Value;
use ticketing::gateway::webhook::{WebhookError, WebhookEvent, WebhookKind, verify};

use crate::fake_stripe::{now, payment_intent_json, signed_webhook, webhook_event};

const SECRET: &str = "whsec_test_secret";
const ORDER_ID: &str = "0123456789abcdef01234567";
const CHARGE_ID: &str = "89abcdef0123456789abcdef";

fn payment_event(event_type: &str, status: &str) -> Value {
    let intent = payment_intent_json(
        "pi_webhook_1",
        1999,
        "usd",
        status,
        &[("order_id", ORDER_ID), ("charge_id", CHARGE_ID)],
    );
    webhook_event("evt_webhook_1", event_type, intent)
}

#[test]
fn a_signed_payment_succeeded_event_names_the_intent_order_and_charge() {
    // Arrange
    let (body, header) = signed_webhook(
        &payment_event("payment_intent.succeeded", "succeeded"),
        SECRET,
        None,
    );

    // Act
    let event = verify(&body, &header, SECRET);

    // Assert
    assert_eq!(
        event,
        Ok(WebhookEvent {
            id: "evt_webhook_1".to_owned(),
            kind: WebhookKind::PaymentSucceeded {
                intent_id: "pi_webhook_1".to_owned(),
                order_id: Some(ORDER_ID.to_owned()),
                charge_id: Some(CHARGE_ID.to_owned()),
            },
        })
    );
}

#[test]
fn a_signed_payment_failed_event_is_a_failed_payment() {
    let (body, header) = signed_webhook(
        &payment_event("payment_intent.payment_failed", "requires_payment_method"),
        SECRET,
        None,
    );

    let event = verify(&body, &header, SECRET).expect("a valid delivery");

    assert_eq!(
        event.kind,
        WebhookKind::PaymentFailed {
            intent_id: "pi_webhook_1".to_owned(),
            order_id: Some(ORDER_ID.to_owned()),
            charge_id: Some(CHARGE_ID.to_owned()),
        }
    );
}

#[test]
fn other_event_types_are_named_but_not_interpreted() {
    let (body, header) = signed_webhook(
        &payment_event("payment_intent.created", "requires_payment_method"),
        SECRET,
        None,
    );

    let event = verify(&body, &header, SECRET).expect("a valid delivery");

    assert_eq!(
        event.kind,
        WebhookKind::Other("payment_intent.created".to_owned())
    );
}

#[test]
fn deliveries_that_are_not_exactly_what_stripe_signed_are_refused() {
    let event = payment_event("payment_intent.succeeded", "succeeded");
    let (body, header) = signed_webhook(&event, SECRET, None);
    let tampered = body.replace("1999", "1");
    let (stale_body, stale_header) = signed_webhook(&event, SECRET, Some(now() - 600));
    let (_, other_secret_header) = signed_webhook(&event, "whsec_someone_else", None);

    for (body, header, secret, expected, why) in [
        (
            tampered.as_str(),
            header.as_str(),
            SECRET,
            WebhookError::BadSignature,
            "tampered body",
        ),
        (
            stale_body.as_str(),
            stale_header.as_str(),
            SECRET,
            WebhookError::StaleTimestamp {
                timestamp: now() - 600,
            },
            "signed ten minutes ago",
        ),
        (
            body.as_str(),
            other_secret_header.as_str(),
            SECRET,
            WebhookError::BadSignature,
            "signed with another secret",
        ),
        (
            body.as_str(),
            header.as_str(),
            "whsec_wrong",
            WebhookError::BadSignature,
            "verified with the wrong secret",
        ),
        (
            body.as_str(),
            header.as_str(),
            "",
            WebhookError::MissingSecret,
            "no secret configured",
        ),
        (
            body.as_str(),
            "t=yesterday,v1=00",
            SECRET,
            WebhookError::MalformedHeader,
            "timestamp not a number",
        ),
        (
            body.as_str(),
            "",
            SECRET,
            WebhookError::BadSignature,
            "no signature at all",
        ),
    ] {
        let result = verify(body, header, secret);
        // The stale case's timestamp is compared loosely: `now()` may tick between calls.
        match (&result, &expected) {
            (
                Err(WebhookError::StaleTimestamp { timestamp }),
                WebhookError::StaleTimestamp { timestamp: wanted },
            ) => {
                assert!((timestamp - wanted).abs() <= 1, "{why}: {result:?}")
            }
            _ => assert_eq!(result, Err(expected), "{why}"),
        }
    }
}

#[test]
fn a_signed_body_that_is_not_an_event_is_malformed() {
    let (body, header) = signed_webhook(&serde_json::json!({"hello": "world"}), SECRET, None);

    let result = verify(&body, &header, SECRET);

    assert!(
        matches!(result, Err(WebhookError::MalformedPayload(_))),
        "got {result:?}"
    );
}
