//! Orders: a buyer's hold on one ticket, its payment, and how it ends.
//!
//! created --pay--> awaiting:payment --succeeded--> complete
//!    |                    |--declined--> cancelled
//!    |                    `--authentication requested--> awaiting:payment (abandon_at set)
//!    |                                                      |--succeeded--> complete
//!    |                                                      `--failed, or abandoned--> cancelled
//!    `--cancel / hold runs out--> cancelled
//!
//! A hold never runs out under a payment in flight: expiry only ends `created` orders, and
//! an order awaiting payment is settled by the payment's outcome (DESIGN §5). The one
//! exception is a payment waiting on the buyer's authentication (3-D Secure): that wait
//! has a deadline, the hold's plus a grace period, past which the shop cancels the payment
//! at the provider and the order ends (`authentication_abandoned`).

use super::charge::ChargeOutcome;
use super::error::DomainError;
use super::events::{
    AuthenticationRequested, ChargeCreated, ChargeFailed, Event, OrderCancelled, OrderCompleted,
    OrderCreated, OrderExpired,
};
use super::ids::{ChargeId, OrderId, TicketId, UserId};
use super::money::Price;
use super::ticket::Title;
use super::time::Timestamp;
use super::version::Version;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    Created,
    AwaitingPayment,
    Complete,
    Cancelled,
}

impl OrderStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "created",
            OrderStatus::AwaitingPayment => "awaiting:payment",
            OrderStatus::Complete => "complete",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// A live order holds its ticket.
    pub fn is_live(self) -> bool {
        !matches!(self, OrderStatus::Cancelled)
    }
}

/// The ticket as it was when the order reserved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketSummary {
    pub id: TicketId,
    pub title: Title,
    pub price: Price,
    /// The ticket's version right after the reservation.
    pub version: Version,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub buyer: UserId,
    pub ticket: TicketSummary,
    pub status: OrderStatus,
    /// When the hold runs out unless the order is paid first.
    pub expires_at: Timestamp,
    pub version: Version,
    /// The payment attempt, once one was started.
    pub charge_id: Option<ChargeId>,
    /// Set once the payment waits on the buyer's authentication: when the shop abandons it
    /// if the provider has not confirmed it by then (the hold's deadline plus a grace).
    pub abandon_at: Option<Timestamp>,
}

impl Order {
    /// The deadline the hold supervisor must act on, if any: a `created` order's hold runs
    /// out at `expires_at`; a payment waiting on the buyer's authentication is abandoned at
    /// `abandon_at`. Any other order has none (a payment in flight is never expired).
    pub fn deadline(&self) -> Option<Timestamp> {
        match self.status {
            OrderStatus::Created => Some(self.expires_at),
            OrderStatus::AwaitingPayment => self.abandon_at,
            OrderStatus::Complete | OrderStatus::Cancelled => None,
        }
    }
}

/// Whether the payment of `order` waited on the buyer's authentication past its deadline:
/// then the shop cancels the payment at the provider and settles the order with what that
/// says (usually a decline; a success that beat the cancellation completes it).
pub fn authentication_abandoned(order: &Order, now: Timestamp) -> bool {
    order.status == OrderStatus::AwaitingPayment && order.abandon_at.is_some_and(|at| now >= at)
}

/// What may be asked of an order.
#[derive(Clone, Debug)]
pub enum OrderCommand {
    /// The buyer cancels.
    Cancel { by: UserId },
    /// The hold supervisor found the deadline passed.
    Expire { now: Timestamp },
    /// The buyer starts paying; the charge is recorded before the gateway is called.
    BeginPayment {
        by: UserId,
        charge_id: ChargeId,
        token: String,
        now: Timestamp,
    },
    /// The provider answered for the payment in flight (an unknown outcome changes
    /// nothing: it is asked again later). A request for the buyer's authentication gives
    /// the payment `grace_secs` past the hold's deadline before it is abandoned.
    SettlePayment {
        charge_id: ChargeId,
        outcome: ChargeOutcome,
        grace_secs: u64,
    },
}

/// The order rules. `Ok(None)`: accepted, nothing changes (cancelling a cancelled order,
/// expiring one that is paid or not yet due, settling a payment already settled).
pub fn decide(order: &Order, command: OrderCommand) -> Result<Option<Event>, DomainError> {
    let next = order.version.next();
    match command {
        OrderCommand::Cancel { by } => {
            if by != order.buyer {
                return Err(DomainError::NotOwner);
            }
            match order.status {
                OrderStatus::Created => Ok(Some(Event::OrderCancelled(OrderCancelled {
                    order_id: order.id,
                    ticket_id: order.ticket.id,
                    version: next,
                }))),
                OrderStatus::Cancelled => Ok(None),
                OrderStatus::AwaitingPayment => Err(DomainError::PaymentInFlight),
                OrderStatus::Complete => Err(DomainError::OrderPaid),
            }
        }
        OrderCommand::Expire { now } => {
            if order.status != OrderStatus::Created || now < order.expires_at {
                return Ok(None);
            }
            Ok(Some(Event::OrderExpired(OrderExpired {
                order_id: order.id,
                ticket_id: order.ticket.id,
                version: next,
            })))
        }
        OrderCommand::BeginPayment {
            by,
            charge_id,
            token,
            now,
        } => {
            if by != order.buyer {
                return Err(DomainError::NotOwner);
            }
            match order.status {
                OrderStatus::Created if now >= order.expires_at => Err(DomainError::OrderCancelled),
                OrderStatus::Created => Ok(Some(Event::ChargeCreated(ChargeCreated {
                    charge_id,
                    order_id: order.id,
                    amount: order.ticket.price,
                    token,
                    order_version: next,
                }))),
                OrderStatus::AwaitingPayment => Err(DomainError::PaymentInFlight),
                // Paid already: the caller answers with the existing charge, charging nothing.
                OrderStatus::Complete => Ok(None),
                OrderStatus::Cancelled => Err(DomainError::OrderCancelled),
            }
        }
        OrderCommand::SettlePayment {
            charge_id,
            outcome,
            grace_secs,
        } => {
            if order.status != OrderStatus::AwaitingPayment || order.charge_id != Some(charge_id) {
                return Ok(None);
            }
            Ok(match outcome {
                ChargeOutcome::Succeeded { intent_id } => {
                    Some(Event::OrderCompleted(OrderCompleted {
                        order_id: order.id,
                        ticket_id: order.ticket.id,
                        charge_id,
                        stripe_id: intent_id,
                        version: next,
                    }))
                }
                ChargeOutcome::Declined { intent_id, .. } => {
                    Some(Event::ChargeFailed(ChargeFailed {
                        order_id: order.id,
                        ticket_id: order.ticket.id,
                        charge_id,
                        stripe_id: intent_id,
                        version: next,
                    }))
                }
                // Asked once; the provider repeating it (a settling pass, a replayed answer)
                // changes nothing, and above all does not move the deadline.
                ChargeOutcome::ActionRequired { .. } if order.abandon_at.is_some() => None,
                ChargeOutcome::ActionRequired { intent_id, .. } => {
                    Some(Event::AuthenticationRequested(AuthenticationRequested {
                        charge_id,
                        order_id: order.id,
                        stripe_id: intent_id,
                        abandon_at: order.expires_at.plus_secs(grace_secs),
                        version: next,
                    }))
                }
                ChargeOutcome::Unknown { .. } => None,
            })
        }
    }
}

/// Whether a payment by `by` for `order` resumes the one already waiting on the buyer's
/// authentication (a reloaded page asking again) rather than starting one: the buyer is
/// then given the client secret again, which the shop does not keep, by asking the
/// provider with the same key; nothing new is charged.
pub fn resumes_authentication(order: &Order, by: UserId) -> bool {
    by == order.buyer && order.status == OrderStatus::AwaitingPayment && order.abandon_at.is_some()
}

/// Whether the buyer's answer to an authentication may settle the payment `charge_id` of
/// `order` (the offline gateway's simulated step): only the buyer's, and only while that
/// payment waits on it. `Ok(false)`: the order is paid already, and the answer changes
/// nothing.
pub fn authentication_pending(
    order: &Order,
    by: UserId,
    charge_id: ChargeId,
) -> Result<bool, DomainError> {
    if by != order.buyer {
        return Err(DomainError::NotOwner);
    }
    match order.status {
        OrderStatus::AwaitingPayment
            if order.abandon_at.is_some() && order.charge_id == Some(charge_id) =>
        {
            Ok(true)
        }
        OrderStatus::Complete => Ok(false),
        OrderStatus::Cancelled => Err(DomainError::OrderCancelled),
        // A payment in flight that asked for no authentication (or a charge that is not
        // this order's current one): nothing for the buyer to answer.
        OrderStatus::AwaitingPayment | OrderStatus::Created => Err(DomainError::PaymentInFlight),
    }
}

/// Whether a buyer who holds `held` tickets (unpaid, or with a payment in flight) may hold
/// another, when one buyer may hold at most `cap` at once (0: no cap). Keeps one account
/// from holding every ticket for sale (DESIGN §8).
pub fn may_hold_another(held: u32, cap: u32) -> Result<(), DomainError> {
    if cap == 0 || held < cap {
        Ok(())
    } else {
        Err(DomainError::TooManyHolds(cap))
    }
}

impl OrderStatus {
    /// Whether an order in this status holds its ticket for a buyer who has not paid yet.
    pub fn holds_unpaid(self) -> bool {
        matches!(self, OrderStatus::Created | OrderStatus::AwaitingPayment)
    }
}

/// A success reported for an order that can no longer be completed: the money must go back.
pub fn needs_refund(order: &Order, charge_id: ChargeId, outcome: &ChargeOutcome) -> bool {
    matches!(outcome, ChargeOutcome::Succeeded { .. })
        && order.status == OrderStatus::Cancelled
        && order.charge_id == Some(charge_id)
}

/// An operator's refund (`ticketing admin refund`) is for a paid order only: its charge is
/// the one to give back. The order stays complete and its ticket sold; the charge records
/// the refund.
pub fn refundable(order: &Order) -> Result<ChargeId, DomainError> {
    match (order.status, order.charge_id) {
        (OrderStatus::Complete, Some(charge_id)) => Ok(charge_id),
        _ => Err(DomainError::OrderNotPaid),
    }
}

/// The order a reservation creates.
pub fn placed(e: &OrderCreated) -> Order {
    Order {
        id: e.order_id,
        buyer: e.buyer,
        ticket: TicketSummary {
            id: e.ticket_id,
            title: e.title.clone(),
            price: e.price,
            version: e.ticket_version,
        },
        status: OrderStatus::Created,
        expires_at: e.expires_at,
        version: e.version,
        charge_id: None,
        abandon_at: None,
    }
}

/// Applies an event to an order snapshot (assignment; already-seen versions are skipped).
pub fn evolve(state: Option<Order>, event: &Event) -> Option<Order> {
    let status_change = |order: Order, version: Version, status: OrderStatus| {
        if version > order.version {
            Order {
                status,
                version,
                ..order
            }
        } else {
            order
        }
    };
    match (state, event) {
        (None, Event::OrderCreated(e)) => Some(placed(e)),
        (Some(o), Event::OrderCancelled(e)) => {
            Some(status_change(o, e.version, OrderStatus::Cancelled))
        }
        (Some(o), Event::OrderExpired(e)) => {
            Some(status_change(o, e.version, OrderStatus::Cancelled))
        }
        (Some(o), Event::ChargeFailed(e)) => {
            Some(status_change(o, e.version, OrderStatus::Cancelled))
        }
        (Some(o), Event::OrderCompleted(e)) => {
            Some(status_change(o, e.version, OrderStatus::Complete))
        }
        (Some(o), Event::ChargeCreated(e)) if e.order_version > o.version => Some(Order {
            status: OrderStatus::AwaitingPayment,
            version: e.order_version,
            charge_id: Some(e.charge_id),
            ..o
        }),
        (Some(o), Event::AuthenticationRequested(e)) if e.version > o.version => Some(Order {
            abandon_at: Some(e.abandon_at),
            version: e.version,
            ..o
        }),
        (state, _) => state,
    }
}
