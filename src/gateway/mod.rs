//! The payment-gateway boundary: what the order actor may ask of a payment provider, and the
//! start-up choice between Stripe and the offline test gateway (DESIGN §5).
//!
//! May depend on async-stripe (only in `stripe` and `webhook`), tokio's timer, secrecy,
//! tracing, the standard library, and `domain` for what a charge came to
//! (`ChargeOutcome`). Must not depend on `store`, `actors` or `http`: the order actor
//! depends on this module, never the other way round, so amounts and ids cross the boundary
//! as plain integers and strings.
//!
//! The contract every gateway keeps: a charge is identified by its idempotency key. Asking
//! again with the same key never charges again and answers with the outcome of the first
//! attempt, which is how the caller settles an `ChargeOutcome::Unknown` later, after a
//! restart too.

pub mod stripe;
pub mod test_gateway;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret as _, SecretString};

use domain::charge::ChargeOutcome;

/// One payment attempt for one order, as the order actor asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The amount in the smallest currency unit (cents for usd).
    pub amount_cents: u64,
    /// What the buyer sent: a card token (`tok_visa`) or a PaymentMethod id (`pm_card_visa`).
    pub token: String,
    /// Derived by the caller from the order id and the token, and the same on every retry
    /// and after a restart: it is what makes a repeated charge harmless. At most 255
    /// characters (Stripe's limit).
    pub idempotency_key: String,
    /// Our order id (24 hex), stored in the PaymentIntent's metadata so that a webhook or a
    /// person in the Stripe dashboard can find the order.
    pub order_id: String,
    /// Our charge id (24 hex), stored in the metadata for the same reason.
    pub charge_id: String,
}

/// Giving back the money of a succeeded charge, for an order that could not be completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// The intent id a `ChargeOutcome::Succeeded` named.
    pub intent_id: String,
    /// The same on every retry, so that a refund is made at most once.
    pub idempotency_key: String,
}

/// Giving up on a payment that waits on the buyer's authentication (3-D Secure) past its
/// deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The intent an `ChargeOutcome::ActionRequired` named.
    pub intent_id: String,
    /// The same on every retry, so that asking again is harmless.
    pub idempotency_key: String,
}

/// Why a refund did not come back with a refund id.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The provider answered and refused (no such payment, already refunded, ...): asking
    /// again will not change that. `code` is the provider's machine-readable reason, for
    /// example Stripe's `charge_already_refunded`.
    #[error("the payment provider refused the request: {message}")]
    Rejected {
        message: String,
        code: Option<String>,
    },
    /// No definite answer after bounded retries: the refund may or may not have been made.
    /// Asking again with the same idempotency key is safe and settles it.
    #[error("no definite answer from the payment provider: {reason}")]
    Unavailable { reason: String },
    /// The provider created the refund but it failed or was canceled.
    #[error("refund {refund_id} ended as {status}")]
    RefundFailed { refund_id: String, status: String },
    /// The request could not be sent as given (for example an idempotency key that is
    /// empty or longer than 255 characters): a bug in the caller.
    #[error("invalid payment request: {0}")]
    InvalidRequest(String),
}

/// A payment provider, as the order actor sees it. Implementations are cheap to share
/// behind an `Arc` and return `'static` futures, so the actor can await them outside its
/// handler without borrowing the gateway.
pub trait PaymentGateway: Send + Sync + 'static {
    /// Creates and confirms a PaymentIntent. Calling it again with the same idempotency key
    /// must return the same outcome without charging again: that is how an Unknown outcome
    /// is settled later (after a restart too).
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome>;

    /// Refunds a succeeded charge in full and answers with the refund id. Calling it again
    /// with the same idempotency key refunds at most once.
    fn refund(&self, request: RefundRequest) -> BoxFuture<'static, Result<String, GatewayError>>;

    /// What became of the charges made for `order_id` (our order id, which every charge
    /// carries in its metadata), without creating anything: `Succeeded` if one took the
    /// money, `Declined` if none did and none is still in progress (including when none was
    /// ever made), `Unknown` otherwise. Used instead of `charge` once a charge is too old for
    /// the provider to still recognise its idempotency key (Stripe: 24 hours), when asking
    /// again could create a second payment.
    fn find(&self, order_id: String) -> BoxFuture<'static, ChargeOutcome>;

    /// Cancels a payment that waits on the buyer's authentication, because the buyer never
    /// completed it, and answers what became of the payment: `Declined` once it is
    /// cancelled (or if it had failed already), `Succeeded` if the authentication completed
    /// before the cancellation arrived, `Unknown` without a definite answer (asking again
    /// with the same key is harmless).
    fn cancel(&self, request: CancelRequest) -> BoxFuture<'static, ChargeOutcome>;

    /// Whether this gateway simulates the buyer's authentication itself (the offline test
    /// gateway) rather than leaving it to the provider's page (Stripe.js).
    fn simulates_authentication(&self) -> bool {
        false
    }

    /// The simulated authentication of a payment that asked for one: what it comes to when
    /// the buyer passes it (`passed`) or fails it. `None` from a gateway that does not
    /// simulate authentication, or for an intent it did not make.
    fn simulate_authentication(&self, _intent_id: &str, _passed: bool) -> Option<ChargeOutcome> {
        None
    }

    /// For the start-up log, e.g. "Stripe at https://api.stripe.com/ (test mode)" or
    /// "offline test gateway (test mode: no real payments)".
    fn describe(&self) -> String;
}

/// How to reach the payment provider; built by `config` from flags and environment.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Stripe's secret key. Absent: the offline test gateway is used.
    pub secret_key: Option<SecretString>,
    /// Where Stripe's API lives; absent means `https://api.stripe.com/`. Tests point it at
    /// the fake Stripe server.
    pub api_base: Option<String>,
    /// ISO currency code in lower case, "usd" by default.
    pub currency: String,
    /// How long one HTTP attempt may take before it counts as failed. The async Stripe
    /// client has no timeout of its own.
    pub timeout: Duration,
    /// How many HTTP attempts one charge or refund may make before its outcome is Unknown.
    pub max_attempts: u32,
}

impl Default for GatewayConfig {
    /// The offline test gateway, with the values a Stripe gateway would use if given a key.
    fn default() -> Self {
        Self {
            secret_key: None,
            api_base: None,
            currency: "usd".to_owned(),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
        }
    }
}

/// Why a gateway could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An empty key is far more likely a broken deployment than a wish for test payments,
    /// so it is refused rather than silently treated as "no key".
    #[error("the Stripe secret key is empty")]
    EmptySecretKey,
    #[error(
        "the Stripe key is a publishable key (pk_...); the server needs the secret key (sk_... or rk_...)"
    )]
    PublishableKey,
    #[error("unknown currency {0:?}: expected an ISO 4217 code such as \"usd\"")]
    UnknownCurrency(String),
    #[error("the Stripe API base {0:?} is not an http(s) URL")]
    InvalidApiBase(String),
    #[error("the payment timeout must be greater than zero")]
    ZeroTimeout,
    #[error("the Stripe client could not be built: {0}")]
    Client(String),
}

/// Builds the gateway the configuration asks for: Stripe when a secret key is given, the
/// offline test gateway otherwise.
pub fn from_config(config: &GatewayConfig) -> anyhow::Result<Arc<dyn PaymentGateway>> {
    match &config.secret_key {
        Some(secret) => {
            let gateway = stripe::StripeGateway::new(secret.expose_secret(), config)
                .context("Failed to configure the Stripe payment gateway")?;
            Ok(Arc::new(gateway))
        }
        None => {
            if let Some(base) = &config.api_base {
                // Someone meant to reach a Stripe (or a fake one) but forgot the key: say so,
                // because every payment will now be a test payment.
                tracing::warn!(
                    api_base = %base,
                    "a Stripe API base is configured without a secret key; using the offline test gateway"
                );
            }
            Ok(Arc::new(test_gateway::TestGateway::new()))
        }
    }
}
