//! The offline test gateway: what the binary uses without a Stripe key, so that a
//! self-hoster gets a working shop with no external service (DESIGN §1, §5).
//!
//! May depend only on the parent module's types and the standard library: no network, no
//! clock, no state. Ids are derived from the idempotency key, so asking again with the same
//! key gives the same answer and the same id, across restarts too, with nothing stored.
//!
//! It understands Stripe's test tokens: `tok_visa` and `pm_card_visa` pay,
//! `tok_chargeDeclined` and `pm_card_chargeDeclined` are declined,
//! `pm_card_authenticationRequired` asks for the buyer's authentication (3-D Secure), and
//! anything else is declined with a message naming the tokens it knows. Where Stripe.js
//! would show the bank's authentication page, this gateway has a step of its own
//! (`simulate_authentication`, behind `POST /api/payments/:id/authenticate`): the buyer
//! passes or fails it. Being stateless, it answers a repeated charge of such a payment with
//! the request for authentication again, whatever the buyer did since; the order, which
//! the first answer settled, is not moved by that.

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::{CancelRequest, ChargeRequest, GatewayError, PaymentGateway, RefundRequest};
use domain::charge::ChargeOutcome;

const SUCCEEDING_TOKENS: [&str; 2] = ["tok_visa", "pm_card_visa"];
const DECLINED_TOKENS: [&str; 2] = ["tok_chargeDeclined", "pm_card_chargeDeclined"];
const AUTHENTICATION_TOKENS: [&str; 1] = ["pm_card_authenticationRequired"];
/// Stripe's wording when a buyer fails the bank's authentication.
const AUTHENTICATION_FAILED: &str = "We are unable to authenticate your payment method. \
                                     Please choose a different payment method and try again.";
const ABANDONED: &str = "The payment was abandoned: its authentication was never completed.";
const INTENT_PREFIX: &str = "pi_test_";
const NEVER_MADE: &str = "The payment was never made.";
const REFUND_PREFIX: &str = "re_test_";

/// A gateway that takes no real money. Stateless, so cloning or sharing it is free.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestGateway;

impl TestGateway {
    /// The gateway; it has no settings.
    pub fn new() -> Self {
        Self
    }

    /// The answer `charge` gives, without the future: the whole decision is pure.
    pub fn decide(request: &ChargeRequest) -> ChargeOutcome {
        let token = request.token.as_str();
        if SUCCEEDING_TOKENS.contains(&token) {
            ChargeOutcome::Succeeded {
                intent_id: derived_id(INTENT_PREFIX, &request.idempotency_key),
            }
        } else if AUTHENTICATION_TOKENS.contains(&token) {
            let intent_id = derived_id(INTENT_PREFIX, &request.idempotency_key);
            // Stripe's client secrets are the intent id, `_secret_`, and a random part;
            // here the random part is derived too, so a repeated charge gives the same one.
            let secret = derived_id("", &format!("secret-{}", request.idempotency_key));
            ChargeOutcome::ActionRequired {
                client_secret: format!("{intent_id}_secret_{secret}"),
                intent_id,
            }
        } else if DECLINED_TOKENS.contains(&token) {
            // No intent id: nothing exists that could ever be refunded.
            ChargeOutcome::Declined {
                intent_id: None,
                message: "Your card was declined.".to_owned(),
            }
        } else {
            ChargeOutcome::Declined {
                intent_id: None,
                message: "Unknown payment token for the test gateway (no real payments are taken \
                          here): use tok_visa or pm_card_visa to pay, tok_chargeDeclined or \
                          pm_card_chargeDeclined to be declined, pm_card_authenticationRequired \
                          to be asked for 3-D Secure authentication."
                    .to_owned(),
            }
        }
    }
}

impl PaymentGateway for TestGateway {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome> {
        let outcome = Self::decide(&request);
        async move { outcome }.boxed()
    }

    /// The test gateway answers every charge at once, so no charge of an order awaiting
    /// payment was ever made here: nothing to find, no money taken.
    fn find(&self, _order_id: String) -> BoxFuture<'static, ChargeOutcome> {
        async move {
            ChargeOutcome::Declined {
                intent_id: None,
                message: NEVER_MADE.to_owned(),
            }
        }
        .boxed()
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'static, Result<String, GatewayError>> {
        let result = if request.idempotency_key.is_empty() {
            Err(GatewayError::InvalidRequest(
                "the idempotency key is empty".to_owned(),
            ))
        } else if request.intent_id.starts_with(INTENT_PREFIX) {
            Ok(derived_id(REFUND_PREFIX, &request.idempotency_key))
        } else {
            // Only intents this gateway made can have succeeded here; anything else would be
            // a bug upstream, so refuse the way Stripe refuses an unknown id.
            Err(GatewayError::Rejected {
                message: format!("No such payment_intent: '{}'", request.intent_id),
                code: Some("resource_missing".to_owned()),
            })
        };
        async move { result }.boxed()
    }

    /// Nothing is held at this gateway, so cancelling always succeeds; a payment whose
    /// simulated authentication passed first has completed its order, which the hold
    /// supervisor then no longer abandons.
    fn cancel(&self, request: CancelRequest) -> BoxFuture<'static, ChargeOutcome> {
        let outcome = ChargeOutcome::Declined {
            intent_id: Some(request.intent_id),
            message: ABANDONED.to_owned(),
        };
        async move { outcome }.boxed()
    }

    fn simulates_authentication(&self) -> bool {
        true
    }

    fn simulate_authentication(&self, intent_id: &str, passed: bool) -> Option<ChargeOutcome> {
        if !intent_id.starts_with(INTENT_PREFIX) {
            return None;
        }
        let intent_id = intent_id.to_owned();
        Some(if passed {
            ChargeOutcome::Succeeded { intent_id }
        } else {
            ChargeOutcome::Declined {
                intent_id: Some(intent_id),
                message: AUTHENTICATION_FAILED.to_owned(),
            }
        })
    }

    fn describe(&self) -> String {
        "offline test gateway (test mode: no real payments)".to_owned()
    }
}

/// `prefix` + 32 hex digits of FNV-1a (128-bit) of `key`. Written out rather than using
/// std's hasher because std does not promise stable output across releases, and these ids
/// are stored: a settled charge must get the same id after an upgrade too.
fn derived_id(prefix: &str, key: &str) -> String {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let hash = key.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    });
    format!("{prefix}{hash:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authentication_token_asks_for_authentication_the_same_way_every_time() {
        let request = ChargeRequest {
            amount_cents: 2000,
            token: "pm_card_authenticationRequired".to_owned(),
            idempotency_key: "ticketing-order-pm_card_authenticationRequired".to_owned(),
            order_id: "order".to_owned(),
            charge_id: "charge".to_owned(),
        };
        let ChargeOutcome::ActionRequired {
            intent_id,
            client_secret,
        } = TestGateway::decide(&request)
        else {
            panic!("authentication is asked for");
        };
        assert!(client_secret.starts_with(&format!("{intent_id}_secret_")));
        assert_eq!(
            TestGateway::decide(&request),
            ChargeOutcome::ActionRequired {
                intent_id: intent_id.clone(),
                client_secret
            },
            "a repeated charge gets the same answer"
        );
        let gateway = TestGateway::new();
        assert_eq!(
            gateway.simulate_authentication(&intent_id, true),
            Some(ChargeOutcome::Succeeded {
                intent_id: intent_id.clone()
            })
        );
        assert!(matches!(
            gateway.simulate_authentication(&intent_id, false),
            Some(ChargeOutcome::Declined { .. })
        ));
        assert_eq!(gateway.simulate_authentication("pi_other", true), None);
    }

    #[test]
    fn fnv1a_128_matches_its_published_test_vector() {
        // FNV-1a 128 of "a", from the FNV reference test suite.
        assert_eq!(derived_id("", "a"), "d228cb696f1a8caf78912b704e4a8964");
    }
}
