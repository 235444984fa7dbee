//! The offline test gateway: what the binary uses without a Stripe key, so that a
//! self-hoster gets a working shop with no external service (DESIGN §1, §5).
//!
//! May depend only on the parent module's types and the standard library: no network, no
//! clock, no state. Ids are derived from the idempotency key, so asking again with the same
//! key gives the same answer and the same id, across restarts too, with nothing stored.
//!
//! It understands Stripe's test tokens: `tok_visa` and `pm_card_visa` pay,
//! `tok_chargeDeclined` and `pm_card_chargeDeclined` are declined, anything else is
//! declined with a message naming the tokens it knows.

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::{ChargeRequest, GatewayError, PaymentGateway, RefundRequest};
use domain::charge::ChargeOutcome;

const SUCCEEDING_TOKENS: [&str; 2] = ["tok_visa", "pm_card_visa"];
const DECLINED_TOKENS: [&str; 2] = ["tok_chargeDeclined", "pm_card_chargeDeclined"];
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
                          pm_card_chargeDeclined to be declined."
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
    fn fnv1a_128_matches_its_published_test_vector() {
        // FNV-1a 128 of "a", from the FNV reference test suite.
        assert_eq!(derived_id("", "a"), "d228cb696f1a8caf78912b704e4a8964");
    }
}
