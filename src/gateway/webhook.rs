//! Stripe webhooks: checks a delivery's signature and freshness, and reduces the event to
//! what the order actor cares about (a payment succeeded or failed, for which order).
//!
//! May depend on async-stripe-webhook and the standard library. It knows nothing of HTTP:
//! the handler passes the raw body exactly as received (the signature covers its bytes, so
//! it must not be parsed and re-serialised first) and the `Stripe-Signature` header.

use stripe_webhook::{EventObject, Webhook};

/// A verified event, reduced to what the shop acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Stripe's event id (`evt_...`); Stripe may deliver the same event more than once, so
    /// consumers deduplicate by it or act idempotently.
    pub id: String,
    pub kind: WebhookKind,
}

/// The events the shop acts on; the ids come from the metadata `charge` put on the intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// `payment_intent.succeeded`.
    PaymentSucceeded {
        intent_id: String,
        order_id: Option<String>,
        charge_id: Option<String>,
    },
    /// `payment_intent.payment_failed` (a decline, or a failed authentication) or
    /// `payment_intent.canceled`: no money was taken.
    PaymentFailed {
        intent_id: String,
        order_id: Option<String>,
        charge_id: Option<String>,
    },
    /// Any other event type, named as Stripe names it (`charge.refunded`, ...).
    Other(String),
}

/// Why a delivery was refused. All of them mean "do not act on this body".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// With an empty secret anyone could sign, so nothing is accepted.
    #[error("no webhook signing secret is configured")]
    MissingSecret,
    #[error("the Stripe-Signature header is malformed")]
    MalformedHeader,
    /// Wrong secret, or a body that is not the one Stripe signed.
    #[error("the webhook signature does not match")]
    BadSignature,
    /// Signed more than 300 s from now: possibly a replay.
    #[error("the webhook signature timestamp {timestamp} is outside the 300 s tolerance")]
    StaleTimestamp { timestamp: i64 },
    #[error("the webhook body is not a Stripe event: {0}")]
    MalformedPayload(String),
}

/// Verifies a delivery (HMAC-SHA256 over `timestamp.body`, 300 s tolerance, as
/// `stripe_webhook::Webhook::construct_event` does) and reduces the event.
pub fn verify(
    raw_body: &str,
    signature_header: &str,
    secret: &str,
) -> Result<WebhookEvent, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::MissingSecret);
    }
    let event =
        Webhook::construct_event(raw_body, signature_header, secret).map_err(|err| match err {
            stripe_webhook::WebhookError::BadHeader(_) => WebhookError::MalformedHeader,
            stripe_webhook::WebhookError::BadTimestamp(timestamp) => {
                WebhookError::StaleTimestamp { timestamp }
            }
            stripe_webhook::WebhookError::BadParse(message) => {
                WebhookError::MalformedPayload(message)
            }
            // BadKey cannot happen with HMAC (any key length works); treat it as a mismatch.
            stripe_webhook::WebhookError::BadSignature | stripe_webhook::WebhookError::BadKey => {
                WebhookError::BadSignature
            }
        })?;
    let metadata_ids = |intent: &stripe_core::PaymentIntent| {
        (
            intent.id.to_string(),
            intent.metadata.get("order_id").cloned(),
            intent.metadata.get("charge_id").cloned(),
        )
    };
    let kind = match &event.data.object {
        EventObject::PaymentIntentSucceeded(intent) => {
            let (intent_id, order_id, charge_id) = metadata_ids(intent);
            WebhookKind::PaymentSucceeded {
                intent_id,
                order_id,
                charge_id,
            }
        }
        EventObject::PaymentIntentPaymentFailed(intent)
        | EventObject::PaymentIntentCanceled(intent) => {
            let (intent_id, order_id, charge_id) = metadata_ids(intent);
            WebhookKind::PaymentFailed {
                intent_id,
                order_id,
                charge_id,
            }
        }
        _ => WebhookKind::Other(event.type_.as_str().to_owned()),
    };
    Ok(WebhookEvent {
        id: event.id.to_string(),
        kind,
    })
}
