//! The Stripe gateway: a charge is one confirmed PaymentIntent, a refund one Refund, each sent
//! with the caller's idempotency key and retried with that same key.
//!
//! May depend on async-stripe (`stripe`, `stripe_core`, `stripe_types`), tokio's timer, rand
//! (retry jitter) and the parent module's types. Must not depend on the rest of the crate.
//!
//! How answers map to outcomes, and why:
//! - status `succeeded` is the only success;
//! - `requires_payment_method` or `canceled`, a `card_error` (402) or any other definite
//!   4xx means Stripe decided and no money moved: Declined;
//! - timeouts, connection failures, unreadable answers, 409, 424, 429 and 5xx say
//!   nothing about whether the intent was confirmed: they are retried with the same key
//!   (Stripe then replays the first completed answer instead of charging again) and, when
//!   the attempts run out, reported as Unknown;
//! - an `idempotency_error` (the key was first used with other parameters) is Unknown, not
//!   Declined: that first request may have charged;
//! - 401/403 (Stripe refuses our key) is Declined, since nothing was charged, with a message
//!   of our own that blames the shop rather than the card;
//! - any other status (`processing`, `requires_action`) is re-read with a GET, because a
//!   repeated create replays the first, stale answer; still `requires_action` (3-D Secure)
//!   is ActionRequired, with the client secret the page completes it with; anything else
//!   not final is Unknown.
//!
//! A payment abandoned in `requires_action` is cancelled (`cancel`); a cancel Stripe
//! refuses because the intent has moved on is answered by a fresh read of the intent.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use stripe::{
    ApiErrors, ApiErrorsType, IdempotencyKey, RequestStrategy, StripeError, StripeRequest as _,
};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CancelPaymentIntentCancellationReason, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods,
    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects, RetrievePaymentIntent,
    SearchPaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_core::{PaymentIntent, PaymentIntentStatus};
use stripe_types::Currency;

use super::{
    CancelRequest, ChargeRequest, ConfigError, GatewayConfig, GatewayError, PaymentGateway,
    RefundRequest,
};
use domain::charge::ChargeOutcome;

const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// The first pause between attempts; it doubles per attempt up to `MAX_BACKOFF`. Short,
/// because a buyer is waiting on the answer.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Shown to the buyer when Stripe refuses our own credentials: the buyer's card is not at
/// fault, and Stripe's message would echo part of the key.
const CREDENTIALS_REFUSED: &str =
    "The payment service refused this shop's credentials; no payment was taken.";

/// Talks to Stripe (or the fake Stripe in tests). Cheap to clone: the client and settings
/// sit behind one `Arc` that every in-flight charge shares.
#[derive(Clone, Debug)]
pub struct StripeGateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: stripe::Client,
    currency: Currency,
    max_attempts: u32,
    /// For `describe`: the base URL as requests will use it, and test or live mode.
    api_base: String,
    mode: &'static str,
}

impl StripeGateway {
    /// Builds the client. Fails on settings that could only break every payment later: an
    /// empty or publishable key, an unknown currency, a non-http base URL, a zero timeout.
    pub fn new(secret_key: &str, config: &GatewayConfig) -> Result<Self, ConfigError> {
        let secret_key = secret_key.trim();
        if secret_key.is_empty() {
            return Err(ConfigError::EmptySecretKey);
        }
        if secret_key.starts_with("pk_") {
            return Err(ConfigError::PublishableKey);
        }
        let currency = parse_currency(&config.currency)?;
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let api_base = normalise_api_base(config.api_base.as_deref())?;
        let client = stripe::ClientBuilder::new(secret_key)
            .url(api_base.clone())
            .timeout(config.timeout)
            .build()
            .map_err(|err| ConfigError::Client(err.to_string()))?;
        let mode = if secret_key.starts_with("sk_test_") || secret_key.starts_with("rk_test_") {
            "test mode"
        } else if secret_key.starts_with("sk_live_") || secret_key.starts_with("rk_live_") {
            "live mode"
        } else {
            "unrecognised key type"
        };
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                currency,
                // Zero attempts would never ask Stripe at all; one is the least that means
                // anything.
                max_attempts: config.max_attempts.max(1),
                api_base,
                mode,
            }),
        })
    }
}

impl PaymentGateway for StripeGateway {
    fn charge(&self, request: ChargeRequest) -> BoxFuture<'static, ChargeOutcome> {
        let inner = Arc::clone(&self.inner);
        async move { inner.charge(request).await }.boxed()
    }

    fn refund(&self, request: RefundRequest) -> BoxFuture<'static, Result<String, GatewayError>> {
        let inner = Arc::clone(&self.inner);
        async move { inner.refund(request).await }.boxed()
    }

    fn find(&self, order_id: String) -> BoxFuture<'static, ChargeOutcome> {
        let inner = Arc::clone(&self.inner);
        async move { inner.find(&order_id).await }.boxed()
    }

    fn cancel(&self, request: CancelRequest) -> BoxFuture<'static, ChargeOutcome> {
        let inner = Arc::clone(&self.inner);
        async move { inner.cancel(request).await }.boxed()
    }

    fn describe(&self) -> String {
        format!("Stripe at {} ({})", self.inner.api_base, self.inner.mode)
    }
}

impl Inner {
    #[tracing::instrument(
        name = "Charging a card through Stripe",
        skip_all,
        fields(order_id = %request.order_id, charge_id = %request.charge_id, amount = request.amount_cents)
    )]
    async fn charge(&self, request: ChargeRequest) -> ChargeOutcome {
        let outcome = self.charge_inner(&request).await;
        match &outcome {
            ChargeOutcome::Succeeded { intent_id } => {
                tracing::info!(%intent_id, "charge succeeded")
            }
            ChargeOutcome::Declined { intent_id, message } => {
                tracing::info!(?intent_id, %message, "charge declined")
            }
            ChargeOutcome::ActionRequired { intent_id, .. } => {
                tracing::info!(%intent_id, "charge waits on the buyer's authentication")
            }
            ChargeOutcome::Unknown { reason } => {
                tracing::warn!(%reason, "charge outcome unknown; it must be settled with the same key")
            }
        }
        outcome
    }

    async fn charge_inner(&self, request: &ChargeRequest) -> ChargeOutcome {
        // Checks that need no network: each means Stripe was never asked, so nothing was
        // charged and Declined is the truth.
        let key = match IdempotencyKey::new(&request.idempotency_key) {
            Ok(key) => key,
            Err(err) => {
                tracing::error!(error = %err, "the caller built an unusable idempotency key");
                return declined(
                    None,
                    "The payment could not be attempted; no payment was taken.",
                );
            }
        };
        if !is_plausible_token(&request.token) {
            return declined(None, "The payment token is not valid.");
        }
        let Ok(amount) = i64::try_from(request.amount_cents) else {
            return declined(None, "The amount is too large.");
        };

        let create = self.create_intent_request(amount, request);
        let created = with_retries(self.max_attempts, || {
            let mut form = create.build();
            if let Some(body) = form.body.as_mut() {
                append_card_token(body, &request.token);
            }
            form.customize::<PaymentIntent>()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&self.client)
        })
        .await;

        let intent = match created {
            Ok(intent) => intent,
            Err(Failure::Definite { error, status }) => return declined_by_stripe(&error, status),
            Err(Failure::Indefinite { reason }) => return ChargeOutcome::Unknown { reason },
        };
        if let Some(outcome) = final_outcome(&intent) {
            return outcome;
        }

        // Not final yet. A create repeated with the same key replays its first answer, so
        // only a fresh read can tell whether a processing payment has finished since.
        let retrieve = RetrievePaymentIntent::new(intent.id.clone());
        let current = with_retries(self.max_attempts, || {
            retrieve.customize().send(&self.client)
        })
        .await;
        match current {
            Ok(current) => final_outcome(&current)
                .or_else(|| action_required(&current))
                .unwrap_or_else(|| ChargeOutcome::Unknown {
                    reason: format!(
                        "payment intent {} is {}",
                        current.id,
                        current.status.as_str()
                    ),
                }),
            Err(failure) => ChargeOutcome::Unknown {
                reason: format!(
                    "payment intent {} was {} and could not be re-read: {}",
                    intent.id,
                    intent.status.as_str(),
                    failure.describe()
                ),
            },
        }
    }

    /// The typed part of the create request. The card token, which the typed builder
    /// cannot express, is appended to the form by `append_card_token`.
    fn create_intent_request(&self, amount: i64, request: &ChargeRequest) -> CreatePaymentIntent {
        let metadata = HashMap::from([
            ("order_id".to_owned(), request.order_id.clone()),
            ("charge_id".to_owned(), request.charge_id.clone()),
        ]);
        // Never a redirect: the server confirms at once and has no page to send a buyer back
        // to, so redirect-based methods (which would make confirm demand a return_url) are
        // switched off. A card that needs 3-D Secure is not one of them: it stops in
        // requires_action, and the page completes it in place with Stripe.js and the client
        // secret (DESIGN §5), so `error_on_requires_action` is deliberately not sent.
        let mut automatic = CreatePaymentIntentAutomaticPaymentMethods::new(true);
        automatic.allow_redirects =
            Some(CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never);
        let create = CreatePaymentIntent::new(amount, self.currency.clone())
            .confirm(true)
            .automatic_payment_methods(automatic)
            .metadata(metadata);
        if is_card_token(&request.token) {
            create
        } else {
            create.payment_method(request.token.clone())
        }
    }

    /// Searches the PaymentIntents whose metadata names the order (every charge we create
    /// carries it). One that succeeded settles the order; none succeeded and none in
    /// progress (or none at all) means no money was taken.
    #[tracing::instrument(name = "Looking an order's payments up at Stripe", skip_all, fields(%order_id))]
    async fn find(&self, order_id: &str) -> ChargeOutcome {
        // Our ids are 24 hex digits, so the query needs no escaping.
        let search = SearchPaymentIntent::new(format!("metadata['order_id']:'{order_id}'"));
        let found = with_retries(self.max_attempts, || search.customize().send(&self.client)).await;
        let intents = match found {
            Ok(list) => list.data,
            Err(failure) => {
                return ChargeOutcome::Unknown {
                    reason: format!("the search failed: {}", failure.describe()),
                };
            }
        };
        let outcomes: Vec<Option<ChargeOutcome>> = intents.iter().map(final_outcome).collect();
        if let Some(paid) = outcomes
            .iter()
            .flatten()
            .find(|o| matches!(o, ChargeOutcome::Succeeded { .. }))
        {
            return paid.clone();
        }
        if outcomes.iter().any(Option::is_none) {
            return ChargeOutcome::Unknown {
                reason: "a payment for the order is still in progress at Stripe".to_owned(),
            };
        }
        let intent_id = intents.first().map(|intent| intent.id.to_string());
        declined(intent_id, "The payment was not completed.".to_owned())
    }

    #[tracing::instrument(name = "Cancelling an abandoned payment at Stripe", skip_all, fields(intent_id = %request.intent_id))]
    async fn cancel(&self, request: CancelRequest) -> ChargeOutcome {
        let key = match IdempotencyKey::new(&request.idempotency_key) {
            Ok(key) => key,
            Err(err) => {
                // Nothing was sent, so nothing is known of the intent: say so, not declined.
                tracing::error!(error = %err, "the caller built an unusable idempotency key");
                return ChargeOutcome::Unknown {
                    reason: format!("unusable idempotency key: {err}"),
                };
            }
        };
        let cancel = CancelPaymentIntent::new(request.intent_id.clone())
            .cancellation_reason(CancelPaymentIntentCancellationReason::Abandoned);
        let cancelled = with_retries(self.max_attempts, || {
            cancel
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&self.client)
        })
        .await;
        let intent = match cancelled {
            Ok(intent) => intent,
            // Refused: usually because the intent is no longer cancellable (the buyer's
            // authentication completed, or it failed, a moment ago). Only a fresh read says
            // which.
            Err(Failure::Definite { error, status }) => {
                tracing::info!(status, message = ?error.message, "Stripe refused the cancellation; reading the intent");
                let retrieve = RetrievePaymentIntent::new(request.intent_id.clone());
                match with_retries(self.max_attempts, || {
                    retrieve.customize().send(&self.client)
                })
                .await
                {
                    Ok(intent) => intent,
                    Err(failure) => {
                        return ChargeOutcome::Unknown {
                            reason: format!(
                                "the cancellation was refused and the intent could not be read: {}",
                                failure.describe()
                            ),
                        };
                    }
                }
            }
            Err(Failure::Indefinite { reason }) => return ChargeOutcome::Unknown { reason },
        };
        final_outcome(&intent).unwrap_or_else(|| ChargeOutcome::Unknown {
            reason: format!(
                "payment intent {} is {} after the cancellation",
                intent.id,
                intent.status.as_str()
            ),
        })
    }

    #[tracing::instrument(name = "Refunding a payment through Stripe", skip_all, fields(intent_id = %request.intent_id))]
    async fn refund(&self, request: RefundRequest) -> Result<String, GatewayError> {
        let key = IdempotencyKey::new(&request.idempotency_key)
            .map_err(|err| GatewayError::InvalidRequest(err.to_string()))?;
        let create = CreateRefund::new().payment_intent(request.intent_id.clone());
        let result = with_retries(self.max_attempts, || {
            create
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key.clone()))
                .send(&self.client)
        })
        .await;
        match result {
            Ok(refund) => match refund.status.as_deref() {
                // `pending` and `requires_action` finish on Stripe's side without us.
                Some(status @ ("failed" | "canceled")) => {
                    tracing::warn!(refund_id = %refund.id, status, "refund did not go through");
                    Err(GatewayError::RefundFailed {
                        refund_id: refund.id.to_string(),
                        status: status.to_owned(),
                    })
                }
                _ => {
                    tracing::info!(refund_id = %refund.id, "refund created");
                    Ok(refund.id.to_string())
                }
            },
            Err(Failure::Definite { error, status }) => Err(GatewayError::Rejected {
                message: if matches!(status, 401 | 403) {
                    CREDENTIALS_REFUSED.to_owned()
                } else {
                    error
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("refused with HTTP {status}"))
                },
                code: error.code.as_ref().map(|code| code.as_str().to_owned()),
            }),
            Err(Failure::Indefinite { reason }) => Err(GatewayError::Unavailable { reason }),
        }
    }
}

/// Why a request ended without a usable answer.
enum Failure {
    /// Stripe answered and refused; repeating the request would get the same answer.
    Definite { error: Box<ApiErrors>, status: u16 },
    /// Nothing definite was learnt: the request may or may not have taken effect.
    Indefinite { reason: String },
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Definite { error, status } => format!(
                "HTTP {status}: {}",
                error.message.as_deref().unwrap_or(error.type_.as_str())
            ),
            Failure::Indefinite { reason } => reason.clone(),
        }
    }
}

/// What one failed attempt means for the next.
enum Verdict {
    Retry(String),
    Stop(Failure),
}

fn judge(err: StripeError) -> Verdict {
    match err {
        StripeError::Stripe(error, status) => {
            // Stripe's transient statuses: 409 (a request with this key is still running,
            // or a lock timed out), 424 (a dependency failed), 429 (rate limited), 5xx.
            if matches!(status, 409 | 424 | 429) || status >= 500 {
                Verdict::Retry(format!("Stripe answered HTTP {status}"))
            } else if error.type_ == ApiErrorsType::IdempotencyError {
                // The key was first used with other parameters: that first request may have
                // charged, so this is not a decline.
                Verdict::Stop(Failure::Indefinite {
                    reason: format!(
                        "idempotency conflict: {}",
                        error
                            .message
                            .as_deref()
                            .unwrap_or("key reused with other parameters")
                    ),
                })
            } else {
                Verdict::Stop(Failure::Definite { error, status })
            }
        }
        StripeError::Timeout => Verdict::Retry("timed out waiting for Stripe".to_owned()),
        StripeError::ClientError(message) => {
            Verdict::Retry(format!("could not reach Stripe: {message}"))
        }
        // An answer we cannot read may be a charge that happened (a 200 we failed to parse)
        // or a proxy's HTML error page; either way a retry with the same key is safe.
        StripeError::JSONDeserialize(message) => {
            Verdict::Retry(format!("unreadable answer from Stripe: {message}"))
        }
        StripeError::ConfigError(message) => Verdict::Stop(Failure::Indefinite {
            reason: format!("Stripe client misconfigured: {message}"),
        }),
    }
}

/// Runs `attempt` up to `max_attempts` times, pausing with a growing, jittered backoff
/// between attempts. Every attempt must carry the same idempotency key: that is what makes
/// a retry of a request that may have taken effect safe.
async fn with_retries<T, F, Fut>(max_attempts: u32, mut attempt: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StripeError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        let reason = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => match judge(err) {
                Verdict::Stop(failure) => return Err(failure),
                Verdict::Retry(reason) => reason,
            },
        };
        if tries >= max_attempts {
            return Err(Failure::Indefinite {
                reason: format!("{reason} (after {tries} attempts)"),
            });
        }
        tracing::debug!(attempt = tries, %reason, "retrying a Stripe request with the same idempotency key");
        tokio::time::sleep(backoff(tries)).await;
    }
}

/// The pause after attempt `tries` (1-based): doubling from `FIRST_BACKOFF`, capped, plus up
/// to half again at random so that many charges failing together do not retry in step.
fn backoff(tries: u32) -> Duration {
    let exponent = tries.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    let jitter_ms = rand::random_range(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter_ms)
}

/// The outcome an intent's status settles, or None while it is still in progress.
fn final_outcome(intent: &PaymentIntent) -> Option<ChargeOutcome> {
    match intent.status {
        PaymentIntentStatus::Succeeded => Some(ChargeOutcome::Succeeded {
            intent_id: intent.id.to_string(),
        }),
        PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::Canceled => {
            let message = intent
                .last_payment_error
                .as_ref()
                .and_then(|error| error.message.clone())
                .unwrap_or_else(|| "The payment was not completed.".to_owned());
            Some(declined(Some(intent.id.to_string()), message))
        }
        _ => None,
    }
}

/// A payment waiting on the buyer's authentication, with the secret the page completes it
/// with; None for any other status, or an intent that came without its secret.
fn action_required(intent: &PaymentIntent) -> Option<ChargeOutcome> {
    match (&intent.status, &intent.client_secret) {
        (PaymentIntentStatus::RequiresAction, Some(secret)) => {
            Some(ChargeOutcome::ActionRequired {
                intent_id: intent.id.to_string(),
                client_secret: secret.clone(),
            })
        }
        _ => None,
    }
}

/// Stripe refused the create: a card error or a definite 4xx. Real Stripe names the failed
/// intent inside a card error; the id is kept when it does.
fn declined_by_stripe(error: &ApiErrors, status: u16) -> ChargeOutcome {
    let intent_id = error
        .payment_intent
        .as_ref()
        .map(|intent| intent.id.to_string());
    if matches!(status, 401 | 403) {
        tracing::error!(status, "Stripe refused the secret key");
        return declined(intent_id, CREDENTIALS_REFUSED);
    }
    let message = error.message.clone().unwrap_or_else(|| match error.type_ {
        ApiErrorsType::CardError => "Your card was declined.".to_owned(),
        _ => "The payment was refused.".to_owned(),
    });
    declined(intent_id, message)
}

fn declined(intent_id: Option<String>, message: impl Into<String>) -> ChargeOutcome {
    ChargeOutcome::Declined {
        intent_id,
        message: message.into(),
    }
}

/// Card tokens (`tok_...`) are not PaymentMethods: Stripe takes them inside
/// `payment_method_data`, everything else (`pm_...`, and legacy `card_...`/`src_...`) as
/// `payment_method`.
fn is_card_token(token: &str) -> bool {
    token.starts_with("tok_")
}

/// Stripe ids are ASCII letters, digits and underscores. Anything else is refused before it
/// reaches a form body, where `&` or `=` would otherwise smuggle in parameters.
fn is_plausible_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 255
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// Adds `payment_method_data[type]=card&payment_method_data[card][token]=...` to a form
/// body. async-stripe's typed `CreatePaymentIntentPaymentMethodData` has no `card` member
/// (Stripe's spec hides it), but Stripe accepts a card token there: it is its documented way
/// to use tokens with PaymentIntents. The token was checked by `is_plausible_token`, so it
/// needs no escaping.
fn append_card_token(body: &mut String, token: &str) {
    if !is_card_token(token) {
        return;
    }
    if !body.is_empty() {
        body.push('&');
    }
    body.push_str("payment_method_data%5Btype%5D=card&payment_method_data%5Bcard%5D%5Btoken%5D=");
    body.push_str(token);
}

fn parse_currency(code: &str) -> Result<Currency, ConfigError> {
    let lower = code.trim().to_ascii_lowercase();
    match Currency::from_str(&lower) {
        Ok(Currency::Unknown(_)) | Err(_) => Err(ConfigError::UnknownCurrency(code.to_owned())),
        Ok(currency) => Ok(currency),
    }
}

/// Requests go to `{base}v1{path}`, so a base with a path needs its trailing slash; adding
/// it here saves a deployment from a silent 404 on every payment.
fn normalise_api_base(base: Option<&str>) -> Result<String, ConfigError> {
    let base = base.map(str::trim).unwrap_or(DEFAULT_API_BASE);
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ConfigError::InvalidApiBase(base.to_owned()));
    }
    let mut base = base.to_owned();
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_tokens_are_appended_percent_encoded_and_payment_methods_are_not() {
        let mut body = "amount=1999".to_owned();
        append_card_token(&mut body, "tok_visa");
        assert_eq!(
            body,
            "amount=1999&payment_method_data%5Btype%5D=card&payment_method_data%5Bcard%5D%5Btoken%5D=tok_visa"
        );
        let mut body = "amount=1999".to_owned();
        append_card_token(&mut body, "pm_card_visa");
        assert_eq!(body, "amount=1999");
    }

    #[test]
    fn tokens_that_could_inject_form_parameters_are_refused() {
        for (token, why) in [
            ("", "empty"),
            ("tok_visa&amount=1", "ampersand"),
            ("tok_visa=", "equals sign"),
            ("tok visa", "space"),
            ("tok_vísa", "non-ASCII"),
        ] {
            assert!(
                !is_plausible_token(token),
                "{why}: {token:?} should be refused"
            );
        }
        assert!(is_plausible_token("pm_card_chargeDeclined"));
    }

    #[test]
    fn api_base_gains_its_trailing_slash_and_must_be_http() {
        assert_eq!(
            normalise_api_base(None).ok().as_deref(),
            Some(DEFAULT_API_BASE)
        );
        assert_eq!(
            normalise_api_base(Some("http://127.0.0.1:9/stripe"))
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:9/stripe/")
        );
        assert!(matches!(
            normalise_api_base(Some("ftp://x")),
            Err(ConfigError::InvalidApiBase(_))
        ));
    }

    #[test]
    fn currency_must_be_known() {
        assert!(matches!(parse_currency("USD"), Ok(Currency::USD)));
        assert!(matches!(
            parse_currency("dollars"),
            Err(ConfigError::UnknownCurrency(_))
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(1) <= FIRST_BACKOFF * 3 / 2);
        assert!(backoff(2) >= FIRST_BACKOFF * 2);
        assert!(backoff(40) <= MAX_BACKOFF * 3 / 2);
    }
}
