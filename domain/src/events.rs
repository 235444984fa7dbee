//! The event catalogue: every state change the marketplace can make, past tense.
//!
//! One event is one commit (DESIGN §3): it is appended to the journal as a single record,
//! and every snapshot and index is derived from the journal by the `evolve` functions.
//! Events carry resulting values (prices, deadlines, versions) so that replay is assignment.
//! The kinds are listed once, in `catalogue!` below: `Event`, `EventKind` and the persisted
//! tags all come from that list. Tags are persisted: never rename one. How an event is laid
//! out on disk is the store's business (`store::records`), not a derive here.

use super::ids::{ChargeId, OrderId, TicketId, UserId};
use super::money::Price;
use super::ticket::Title;
use super::time::Timestamp;
use super::user::Email;
use super::version::Version;

/// Builds `Event` (one variant per kind, holding the struct of the same name) and
/// `EventKind` from one list of names.
macro_rules! catalogue {
    ($($kind:ident),+ $(,)?) => {
        /// One state change of the marketplace.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Event {
            $($kind($kind)),+
        }

        /// The kind of an event, without its data: for counting, logging and storage.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($kind),+
        }

        impl EventKind {
            /// Every kind, in catalogue order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),+];

            /// The persisted name of the kind.
            pub fn tag(self) -> &'static str {
                match self {
                    $(EventKind::$kind => stringify!($kind)),+
                }
            }

            /// The kind a persisted tag names.
            pub fn from_tag(tag: &str) -> Option<EventKind> {
                EventKind::ALL.iter().copied().find(|kind| kind.tag() == tag)
            }
        }

        impl Event {
            pub fn kind(&self) -> EventKind {
                match self {
                    $(Event::$kind(_) => EventKind::$kind),+
                }
            }
        }
    };
}

catalogue!(
    UserCreated,
    TicketCreated,
    TicketUpdated,
    OrderCreated,
    OrderCancelled,
    OrderExpired,
    OrderCompleted,
    ChargeCreated,
    ChargeFailed,
    ChargeRefunded,
    UserUpdated,
    TicketWithdrawn,
    AuthenticationRequested,
    UserDisabled,
    UserEnabled,
);

/// An account was registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCreated {
    pub user_id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub version: Version,
}

/// An account changed (its password): carries the whole result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserUpdated {
    pub user_id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub version: Version,
}

/// An operator disabled an account (`ticketing admin users disable`): it can no longer sign
/// in, and its sessions were revoked with the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDisabled {
    pub user_id: UserId,
    pub version: Version,
}

/// An operator enabled a disabled account again (`ticketing admin users enable`): it may
/// sign in again; the sessions revoked when it was disabled stay revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEnabled {
    pub user_id: UserId,
    pub version: Version,
}

/// A ticket was listed for sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketCreated {
    pub ticket_id: TicketId,
    pub owner: UserId,
    pub title: Title,
    pub price: Price,
    pub version: Version,
}

/// A ticket changed: edited, released by its order, or sold. Carries the whole result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketUpdated {
    pub ticket_id: TicketId,
    pub title: Title,
    pub price: Price,
    pub order_id: Option<OrderId>,
    pub sold: bool,
    pub version: Version,
}

/// The seller withdrew a ticket from sale: from now on it is gone (not listed, not
/// orderable, 404 to read), and stays only in its seller's own list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketWithdrawn {
    pub ticket_id: TicketId,
    pub version: Version,
}

/// A buyer reserved a ticket: creates the order and puts the hold on the ticket at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCreated {
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub buyer: UserId,
    pub title: Title,
    pub price: Price,
    /// The ticket's version after the hold was placed.
    pub ticket_version: Version,
    pub expires_at: Timestamp,
    /// The order's version (always the initial one).
    pub version: Version,
}

/// The buyer cancelled an unpaid order. Follow-up: the ticket is released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub version: Version,
}

/// The hold ran out unpaid. Follow-up: the ticket is released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderExpired {
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub version: Version,
}

/// The payment succeeded: order complete, charge completed. Follow-up: ticket sold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCompleted {
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub charge_id: ChargeId,
    pub stripe_id: String,
    pub version: Version,
}

/// A payment attempt began: the order awaits payment, the charge is recorded as created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeCreated {
    pub charge_id: ChargeId,
    pub order_id: OrderId,
    pub amount: Price,
    /// The buyer's single-use card token, kept so an unknown outcome can be settled by
    /// asking again with exactly the same request.
    pub token: String,
    pub order_version: Version,
}

/// The provider asked for the buyer's authentication (3-D Secure) before taking the money:
/// the order stays awaiting payment, now with a deadline of its own (`abandon_at`, the
/// hold's deadline plus a grace period) past which the shop abandons the payment; the
/// charge learns its intent id. The client secret is not recorded: it is handed to the
/// buyer once and is not the shop's to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticationRequested {
    pub charge_id: ChargeId,
    pub order_id: OrderId,
    pub stripe_id: String,
    pub abandon_at: Timestamp,
    pub version: Version,
}

/// The payment was declined: charge failed, order cancelled. Follow-up: ticket released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeFailed {
    pub charge_id: ChargeId,
    pub order_id: OrderId,
    pub ticket_id: TicketId,
    pub stripe_id: Option<String>,
    pub version: Version,
}

/// Money taken for an order that could not be completed was given back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRefunded {
    pub charge_id: ChargeId,
    pub order_id: OrderId,
    pub stripe_id: String,
    pub refund_id: String,
}

/// Work one entity's change causes in another, done right after the commit and re-driven
/// by the start-up replay; doing it twice changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowUp {
    Release {
        ticket_id: TicketId,
        order_id: OrderId,
    },
    MarkSold {
        ticket_id: TicketId,
        order_id: OrderId,
    },
}

impl Event {
    /// The persisted name of the event's kind.
    pub fn tag(&self) -> &'static str {
        self.kind().tag()
    }

    /// The user whose snapshot this event changes, if any.
    pub fn changes_user(&self) -> Option<UserId> {
        match self {
            Event::UserCreated(e) => Some(e.user_id),
            Event::UserUpdated(e) => Some(e.user_id),
            Event::UserDisabled(e) => Some(e.user_id),
            Event::UserEnabled(e) => Some(e.user_id),
            _ => None,
        }
    }

    /// The ticket whose snapshot this event changes, if any.
    pub fn changes_ticket(&self) -> Option<TicketId> {
        match self {
            Event::TicketCreated(e) => Some(e.ticket_id),
            Event::TicketUpdated(e) => Some(e.ticket_id),
            Event::TicketWithdrawn(e) => Some(e.ticket_id),
            Event::OrderCreated(e) => Some(e.ticket_id),
            _ => None,
        }
    }

    /// The order whose snapshot this event changes, if any.
    pub fn changes_order(&self) -> Option<OrderId> {
        match self {
            Event::OrderCreated(e) => Some(e.order_id),
            Event::OrderCancelled(e) => Some(e.order_id),
            Event::OrderExpired(e) => Some(e.order_id),
            Event::OrderCompleted(e) => Some(e.order_id),
            Event::ChargeCreated(e) => Some(e.order_id),
            Event::ChargeFailed(e) => Some(e.order_id),
            Event::AuthenticationRequested(e) => Some(e.order_id),
            _ => None,
        }
    }

    /// The charge whose record this event changes, if any.
    pub fn changes_charge(&self) -> Option<ChargeId> {
        match self {
            Event::ChargeCreated(e) => Some(e.charge_id),
            Event::ChargeFailed(e) => Some(e.charge_id),
            Event::AuthenticationRequested(e) => Some(e.charge_id),
            Event::OrderCompleted(e) => Some(e.charge_id),
            Event::ChargeRefunded(e) => Some(e.charge_id),
            _ => None,
        }
    }

    /// The work this event implies in another entity.
    pub fn follow_up(&self) -> Option<FollowUp> {
        match self {
            Event::OrderCancelled(OrderCancelled {
                order_id,
                ticket_id,
                ..
            })
            | Event::OrderExpired(OrderExpired {
                order_id,
                ticket_id,
                ..
            })
            | Event::ChargeFailed(ChargeFailed {
                order_id,
                ticket_id,
                ..
            }) => Some(FollowUp::Release {
                ticket_id: *ticket_id,
                order_id: *order_id,
            }),
            Event::OrderCompleted(e) => Some(FollowUp::MarkSold {
                ticket_id: e.ticket_id,
                order_id: e.order_id,
            }),
            _ => None,
        }
    }
}
