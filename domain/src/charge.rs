//! Charges: the record of one payment attempt for one order (DESIGN §5).
//!
//! A charge is written by the order's events (`ChargeCreated`, `AuthenticationRequested`,
//! `OrderCompleted`, `ChargeFailed`) and by `ChargeRefunded`; it has no commands of its own, because every
//! decision about it is the order's.

use super::events::{ChargeRefunded, Event};
use super::ids::{ChargeId, OrderId};
use super::money::Price;
use super::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeStatus {
    Created,
    Failed,
    Completed,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Created => "created",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Completed => "completed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub id: ChargeId,
    pub order_id: OrderId,
    pub status: ChargeStatus,
    pub amount: Price,
    /// The PaymentIntent id, once the gateway named one.
    pub stripe_id: Option<String>,
    /// Set when money taken for an order that could not complete was given back.
    pub stripe_refund_id: Option<String>,
    /// The buyer's card token, to repeat the exact request when settling an unknown outcome.
    pub token: String,
}

impl Charge {
    /// The key that makes every attempt for this charge one payment at the provider.
    pub fn idempotency_key(&self) -> String {
        format!("ticketing-{}-{}", self.order_id, self.token)
    }

    /// The key that makes every attempt to cancel this charge's abandoned payment one
    /// cancellation.
    pub fn cancel_key(&self) -> String {
        format!("ticketing-cancel-{}", self.id)
    }

    /// The key that makes every refund attempt for this charge one refund.
    pub fn refund_key(&self) -> String {
        format!("ticketing-refund-{}", self.id)
    }
}

/// What a buyer pays with: a card token (`tok_visa`) or a PaymentMethod id, as the client
/// sent it, trimmed. The gateway judges whether it is good; this only refuses what no
/// provider could accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardToken(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token must be a card token")]
pub struct InvalidCardToken;

impl CardToken {
    pub const MAX_LEN: usize = 255;

    pub fn parse(text: &str) -> Result<CardToken, InvalidCardToken> {
        let trimmed = text.trim();
        if trimmed.is_empty() || text.len() > Self::MAX_LEN {
            return Err(InvalidCardToken);
        }
        Ok(CardToken(trimmed.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What became of a charge, as the payment provider reported it: from the payment call,
/// a later lookup or a webhook. Only `Succeeded` means money was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money was taken; `intent_id` is the provider's id for the payment.
    Succeeded { intent_id: String },
    /// The payment definitely failed (card declined, token refused, request rejected): no
    /// money was taken, and asking again with the same key gives the same answer.
    /// `message` is fit to show to the buyer.
    Declined {
        intent_id: Option<String>,
        message: String,
    },
    /// The provider wants the buyer to authenticate the payment (3-D Secure, SCA) before it
    /// takes the money: nothing is taken yet, and the page completes it with
    /// `client_secret`. Not a decline: the payment is still in flight, and ends when the
    /// provider confirms it (webhook, or the shop asking) or when the shop abandons it.
    ActionRequired {
        intent_id: String,
        client_secret: String,
    },
    /// No definite answer after bounded retries (timeouts, 5xx, connection failures, a
    /// payment still processing). Money may or may not have been taken: the caller must not
    /// guess, and settles it later by charging again with the same idempotency key.
    Unknown { reason: String },
}

/// Whether the payment of an unknown outcome may be asked for again with the same request,
/// or is too old for that: the provider remembers an idempotency key only so long (Stripe:
/// 24 hours), and asking past it could create a second payment. Past `max_age_secs`, the
/// charge is looked up instead, never created again.
pub fn may_ask_again(charge: &Charge, now: Timestamp, max_age_secs: u64) -> bool {
    now < charge.id.created_at().plus_secs(max_age_secs)
}

/// Recording a refund made for this charge; `None` when one is already recorded.
pub fn record_refund(charge: &Charge, stripe_id: String, refund_id: String) -> Option<Event> {
    if charge.stripe_refund_id.is_some() {
        return None;
    }
    Some(Event::ChargeRefunded(ChargeRefunded {
        charge_id: charge.id,
        order_id: charge.order_id,
        stripe_id,
        refund_id,
    }))
}

/// Applies an event to a charge record. Only a `created` charge moves to an outcome, and a
/// refund is recorded once, so replaying an event twice changes nothing.
pub fn evolve(state: Option<Charge>, event: &Event) -> Option<Charge> {
    match (state, event) {
        (None, Event::ChargeCreated(e)) => Some(Charge {
            id: e.charge_id,
            order_id: e.order_id,
            status: ChargeStatus::Created,
            amount: e.amount,
            stripe_id: None,
            stripe_refund_id: None,
            token: e.token.clone(),
        }),
        (Some(c), Event::OrderCompleted(e)) if c.status == ChargeStatus::Created => Some(Charge {
            status: ChargeStatus::Completed,
            stripe_id: Some(e.stripe_id.clone()),
            ..c
        }),
        (Some(c), Event::AuthenticationRequested(e)) if c.status == ChargeStatus::Created => {
            Some(Charge {
                stripe_id: Some(e.stripe_id.clone()),
                ..c
            })
        }
        (Some(c), Event::ChargeFailed(e)) if c.status == ChargeStatus::Created => Some(Charge {
            status: ChargeStatus::Failed,
            stripe_id: e.stripe_id.clone().or(c.stripe_id.clone()),
            ..c
        }),
        (Some(c), Event::ChargeRefunded(e)) if c.stripe_refund_id.is_none() => Some(Charge {
            stripe_id: Some(e.stripe_id.clone()),
            stripe_refund_id: Some(e.refund_id.clone()),
            ..c
        }),
        (state, _) => state,
    }
}
