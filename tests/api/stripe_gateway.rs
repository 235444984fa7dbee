//! The payment gateways, black-box: the real async-stripe client against the fake Stripe
//! server, and the offline test gateway.
//!
//! May depend on `ticketing::gateway` and the `fake_stripe` test support only.

use std::sync::Arc;
use std::time::Duration;

use domain::charge::ChargeOutcome;
use secrecy::SecretString;
use ticketing::gateway::{
    ChargeRequest, GatewayConfig, GatewayError, PaymentGateway, RefundRequest, from_config,
};

use crate::fake_stripe::FakeStripe;

const SECRET_KEY: &str = "sk_test_fake_secret";
const ORDER_ID: &str = "0123456789abcdef01234567";
const CHARGE_ID: &str = "89abcdef0123456789abcdef";

/// A Stripe gateway on the fake with a generous timeout.
fn stripe_gateway(fake: &FakeStripe, max_attempts: u32) -> Arc<dyn PaymentGateway> {
    stripe_gateway_with_timeout(fake, Duration::from_secs(5), max_attempts)
}

fn stripe_gateway_with_timeout(
    fake: &FakeStripe,
    timeout: Duration,
    max_attempts: u32,
) -> Arc<dyn PaymentGateway> {
    from_config(&GatewayConfig {
        secret_key: Some(SecretString::from(SECRET_KEY)),
        api_base: Some(fake.base_url()),
        currency: "usd".to_owned(),
        timeout,
        max_attempts,
    })
    .expect("a Stripe gateway with a test key and a local base URL")
}

/// 19.99 in cents, as the order actor will ask for it.
fn charge_request(token: &str) -> ChargeRequest {
    ChargeRequest {
        amount_cents: 1999,
        token: token.to_owned(),
        idempotency_key: format!("charge-{ORDER_ID}-{token}"),
        order_id: ORDER_ID.to_owned(),
        charge_id: CHARGE_ID.to_owned(),
    }
}

fn succeeded_intent(outcome: &ChargeOutcome) -> String {
    match outcome {
        ChargeOutcome::Succeeded { intent_id } => intent_id.clone(),
        other => panic!("expected the charge to succeed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_card_token_charge_sends_cents_confirmed_with_metadata_key_and_bearer_auth() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("tok_visa")).await;

    // Assert
    assert_eq!(succeeded_intent(&outcome), fake.intent_ids()[0]);
    let requests = fake.requests().await;
    assert_eq!(requests.len(), 1, "one request, no retries: {requests:?}");
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/payment_intents")
    );
    for (field, expected) in [
        ("amount", "1999"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("metadata[order_id]", ORDER_ID),
        ("metadata[charge_id]", CHARGE_ID),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][token]", "tok_visa"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
    ] {
        assert_eq!(
            sent.field(field),
            Some(expected),
            "form field {field} in {:?}",
            sent.form
        );
    }
    assert_eq!(
        sent.field("payment_method"),
        None,
        "a card token is not a PaymentMethod"
    );
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(format!("charge-{ORDER_ID}-tok_visa").as_str())
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert!(
        sent.stripe_version
            .as_deref()
            .is_some_and(|version| !version.is_empty()),
        "the client pins a Stripe API version"
    );
    assert_eq!(fake.charges_created(), 1);
}

// Under actix's runtime, as the app's own tests run: the fake and the client work there too.
#[actix_web::test]
async fn a_payment_method_id_is_sent_as_the_payment_method() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("pm_card_visa")).await;

    // Assert
    succeeded_intent(&outcome);
    let sent = &fake.requests().await[0];
    assert_eq!(sent.field("payment_method"), Some("pm_card_visa"));
    assert_eq!(sent.field("payment_method_data[type]"), None);
}

#[tokio::test]
async fn a_declined_card_is_declined_with_stripes_message_and_charges_nothing() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("tok_chargeDeclined")).await;

    // Assert
    assert_eq!(
        outcome,
        ChargeOutcome::Declined {
            intent_id: None,
            message: "Your card was declined.".to_owned()
        }
    );
    assert_eq!(
        fake.requests().await.len(),
        1,
        "a decline is final: no retry"
    );
    assert_eq!(fake.charges_created(), 0);
}

#[tokio::test]
async fn decline_all_declines_even_a_good_card() {
    // Arrange
    let fake = FakeStripe::start().await;
    fake.decline_all().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("pm_card_visa")).await;

    // Assert
    assert!(
        matches!(outcome, ChargeOutcome::Declined { .. }),
        "got {outcome:?}"
    );
}

#[tokio::test]
async fn a_token_stripe_does_not_know_is_declined_with_stripes_message() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("bogus_token")).await;

    // Assert
    match outcome {
        ChargeOutcome::Declined { message, .. } => {
            assert!(
                message.contains("No such PaymentMethod"),
                "message: {message}"
            )
        }
        other => panic!("expected a decline, got {other:?}"),
    }
    assert_eq!(fake.requests().await.len(), 1, "a 4xx is final: no retry");
}

#[tokio::test]
async fn a_token_that_could_inject_form_fields_is_declined_without_asking_stripe() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("tok_visa&amount=1")).await;

    // Assert
    assert!(
        matches!(
            outcome,
            ChargeOutcome::Declined {
                intent_id: None,
                ..
            }
        ),
        "got {outcome:?}"
    );
    assert!(fake.requests().await.is_empty());
}

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_key_and_charges_once() {
    // Arrange
    let fake = FakeStripe::start().await;
    fake.fail_next(1).await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let outcome = gateway.charge(charge_request("tok_visa")).await;

    // Assert
    succeeded_intent(&outcome);
    let requests = fake.requests().await;
    assert_eq!(requests.len(), 2, "one failure, one retry: {requests:?}");
    assert!(requests[0].idempotency_key.is_some());
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key);
    assert_eq!(fake.charges_created(), 1);
}

#[tokio::test]
async fn server_errors_past_the_attempt_limit_are_unknown_until_settled_with_the_same_key() {
    // Arrange
    let fake = FakeStripe::start().await;
    fake.fail_next(2).await;
    let gateway = stripe_gateway(&fake, 2);

    // Act
    let first = gateway.charge(charge_request("tok_visa")).await;
    let settled = gateway.charge(charge_request("tok_visa")).await;

    // Assert
    assert!(
        matches!(first, ChargeOutcome::Unknown { .. }),
        "got {first:?}"
    );
    succeeded_intent(&settled);
    assert_eq!(
        fake.requests().await.len(),
        3,
        "two attempts, then one to settle"
    );
    assert_eq!(fake.charges_created(), 1);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unknown() {
    // Arrange: a port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port();
    let gateway = from_config(&GatewayConfig {
        secret_key: Some(SecretString::from(SECRET_KEY)),
        api_base: Some(format!("http://127.0.0.1:{port}/")),
        max_attempts: 2,
        ..GatewayConfig::default()
    })
    .expect("a Stripe gateway");

    // Act
    let outcome = gateway.charge(charge_request("tok_visa")).await;

    // Assert
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "got {outcome:?}"
    );
}

#[tokio::test]
async fn a_key_reused_with_other_parameters_is_unknown_not_declined() {
    // Arrange: the first request with this key charged 19.99.
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);
    succeeded_intent(&gateway.charge(charge_request("tok_visa")).await);

    // Act
    let outcome = gateway
        .charge(ChargeRequest {
            amount_cents: 2500,
            ..charge_request("tok_visa")
        })
        .await;

    // Assert
    assert!(
        matches!(&outcome, ChargeOutcome::Unknown { reason } if reason.contains("idempotency")),
        "got {outcome:?}"
    );
    assert_eq!(fake.requests().await.len(), 2, "a conflict is not retried");
    assert_eq!(fake.charges_created(), 1);
}

#[tokio::test]
async fn a_stripe_slower_than_the_timeout_is_unknown_and_settles_later_without_a_second_charge() {
    // Arrange: the fake creates the charge, then answers too late for a 300 ms timeout.
    let fake = FakeStripe::start().await;
    fake.delay(Duration::from_secs(5));
    let gateway = stripe_gateway_with_timeout(&fake, Duration::from_millis(300), 2);

    // Act
    let while_slow = gateway.charge(charge_request("tok_visa")).await;
    fake.delay(Duration::ZERO);
    let settled = gateway.charge(charge_request("tok_visa")).await;

    // Assert
    match while_slow {
        ChargeOutcome::Unknown { reason } => {
            assert!(reason.contains("timed out"), "reason: {reason}")
        }
        other => panic!("expected Unknown while Stripe is slow, got {other:?}"),
    }
    assert_eq!(succeeded_intent(&settled), fake.intent_ids()[0]);
    assert_eq!(
        fake.charges_created(),
        1,
        "the settling call replays the first charge"
    );
    let keys: Vec<_> = fake
        .requests()
        .await
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|key| *key == keys[0]),
        "one key throughout: {keys:?}"
    );
}

#[tokio::test]
async fn a_processing_payment_is_unknown_until_stripe_finishes_it() {
    // Arrange
    let fake = FakeStripe::start().await;
    fake.intent_status("processing");
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let while_processing = gateway.charge(charge_request("pm_card_visa")).await;
    let intent_id = fake.intent_ids()[0].clone();
    fake.set_intent_status(&intent_id, "succeeded");
    let settled = gateway.charge(charge_request("pm_card_visa")).await;

    // Assert
    assert!(
        matches!(&while_processing, ChargeOutcome::Unknown { reason } if reason.contains("processing")),
        "got {while_processing:?}"
    );
    assert_eq!(succeeded_intent(&settled), intent_id);
    let calls: Vec<_> = fake
        .requests()
        .await
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let read = format!("GET /v1/payment_intents/{intent_id}");
    assert_eq!(
        calls,
        [
            "POST /v1/payment_intents",
            read.as_str(),
            "POST /v1/payment_intents",
            read.as_str()
        ],
        "the replayed create is stale, so the intent is re-read"
    );
    assert_eq!(fake.charges_created(), 1);
}

#[tokio::test]
async fn a_refund_is_recorded_and_its_id_returned_once_per_key() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);
    let intent_id = succeeded_intent(&gateway.charge(charge_request("tok_visa")).await);
    let refund = RefundRequest {
        intent_id: intent_id.clone(),
        idempotency_key: format!("refund-{ORDER_ID}"),
    };

    // Act
    let first = gateway.refund(refund.clone()).await;
    let again = gateway.refund(refund).await;

    // Assert
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "the same key refunds once: {refunds:?}");
    assert_eq!(refunds[0].payment_intent, intent_id);
    assert_eq!(refunds[0].amount, 1999);
    assert_eq!(first.as_deref().ok(), Some(refunds[0].id.as_str()));
    assert_eq!(again.as_deref().ok(), Some(refunds[0].id.as_str()));
    let sent = &fake.requests().await[1];
    assert_eq!(sent.path, "/v1/refunds");
    assert_eq!(sent.field("payment_intent"), Some(intent_id.as_str()));
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(format!("refund-{ORDER_ID}").as_str())
    );
}

#[tokio::test]
async fn a_refund_stripe_refuses_is_rejected_with_its_code() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 3);

    // Act
    let result = gateway
        .refund(RefundRequest {
            intent_id: "pi_nobody_made".to_owned(),
            idempotency_key: "refund-nothing".to_owned(),
        })
        .await;

    // Assert
    match result {
        Err(GatewayError::Rejected { code, .. }) => {
            assert_eq!(code.as_deref(), Some("resource_missing"))
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refund_without_a_definite_answer_is_unavailable() {
    // Arrange
    let fake = FakeStripe::start().await;
    let gateway = stripe_gateway(&fake, 1);
    let intent_id = succeeded_intent(&gateway.charge(charge_request("tok_visa")).await);
    fake.fail_next(1).await;

    // Act
    let result = gateway
        .refund(RefundRequest {
            intent_id,
            idempotency_key: "refund-later".to_owned(),
        })
        .await;

    // Assert
    assert!(
        matches!(result, Err(GatewayError::Unavailable { .. })),
        "got {result:?}"
    );
    assert!(fake.refunds().is_empty());
}

#[test]
fn the_gateway_is_chosen_and_checked_from_the_configuration() {
    let offline = from_config(&GatewayConfig::default()).expect("no key: offline gateway");
    assert!(
        offline.describe().contains("offline test gateway"),
        "{}",
        offline.describe()
    );

    let with_key = |key: &str| GatewayConfig {
        secret_key: Some(SecretString::from(key)),
        api_base: Some("http://127.0.0.1:9/stripe".to_owned()),
        ..GatewayConfig::default()
    };
    let stripe = from_config(&with_key(SECRET_KEY)).expect("a test key");
    assert_eq!(
        stripe.describe(),
        "Stripe at http://127.0.0.1:9/stripe/ (test mode)"
    );

    for (config, why) in [
        (with_key(""), "an empty key"),
        (with_key("pk_test_123"), "a publishable key"),
        (
            GatewayConfig {
                currency: "dollars".to_owned(),
                ..with_key(SECRET_KEY)
            },
            "an unknown currency",
        ),
        (
            GatewayConfig {
                api_base: Some("api.stripe.com".to_owned()),
                ..with_key(SECRET_KEY)
            },
            "a base URL without a scheme",
        ),
        (
            GatewayConfig {
                timeout: Duration::ZERO,
                ..with_key(SECRET_KEY)
            },
            "a zero timeout",
        ),
    ] {
        assert!(from_config(&config).is_err(), "{why} must be refused");
    }
}

/// The offline gateway the binary uses without a Stripe key.
mod offline {
    use super::*;
    use ticketing::gateway::test_gateway::TestGateway;

    #[tokio::test]
    async fn the_succeeding_test_tokens_succeed_with_an_id_derived_from_the_key() {
        for token in ["tok_visa", "pm_card_visa"] {
            let outcome = TestGateway::new().charge(charge_request(token)).await;
            let intent_id = succeeded_intent(&outcome);
            assert!(intent_id.starts_with("pi_test_"), "{token}: {intent_id}");
        }
    }

    #[tokio::test]
    async fn the_declining_test_tokens_are_declined() {
        for token in ["tok_chargeDeclined", "pm_card_chargeDeclined"] {
            let outcome = TestGateway::new().charge(charge_request(token)).await;
            assert_eq!(
                outcome,
                ChargeOutcome::Declined {
                    intent_id: None,
                    message: "Your card was declined.".to_owned()
                },
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn any_other_token_is_declined_with_a_message_naming_the_known_tokens() {
        let outcome = TestGateway::new()
            .charge(charge_request("tok_mystery"))
            .await;
        match outcome {
            ChargeOutcome::Declined { message, .. } => {
                assert!(message.contains("tok_visa"), "message: {message}")
            }
            other => panic!("expected a decline, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_same_key_gives_the_same_intent_and_another_key_another() {
        let gateway = TestGateway::new();
        let first = gateway.charge(charge_request("tok_visa")).await;
        let again = gateway.charge(charge_request("tok_visa")).await;
        let other = gateway
            .charge(ChargeRequest {
                idempotency_key: "another-order".to_owned(),
                ..charge_request("tok_visa")
            })
            .await;
        assert_eq!(first, again);
        assert_ne!(succeeded_intent(&first), succeeded_intent(&other));
    }

    #[tokio::test]
    async fn refunds_are_deterministic_and_only_for_its_own_intents() {
        let gateway = TestGateway::new();
        let intent_id = succeeded_intent(&gateway.charge(charge_request("tok_visa")).await);
        let refund = RefundRequest {
            intent_id,
            idempotency_key: "refund-1".to_owned(),
        };
        let first = gateway.refund(refund.clone()).await.expect("a refund");
        let again = gateway.refund(refund).await.expect("the same refund");
        assert!(first.starts_with("re_test_"), "{first}");
        assert_eq!(first, again);

        let foreign = gateway
            .refund(RefundRequest {
                intent_id: "pi_real_stripe".to_owned(),
                idempotency_key: "refund-2".to_owned(),
            })
            .await;
        assert!(
            matches!(foreign, Err(GatewayError::Rejected { .. })),
            "got {foreign:?}"
        );
    }
}
