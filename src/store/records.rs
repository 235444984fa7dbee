//! The store's own record types: what is on disk, field by field, and how each converts to
//! and from the domain's types.
//!
//! Nothing here derives from `domain`: a field added to `Ticket` changes nothing on disk
//! until a record version here says so (docs/STORAGE.md, "Adding a field or an event
//! kind"). Every record type is named with its layout version (`TicketV1`); a reader that
//! meets an older version upgrades it to the newest before converting, and the newest
//! converts to the domain type. bincode is positional, so a layout is frozen once released:
//! a change is a new struct with the next version, never an edit of an old one.
//!
//! Version 1 of every record is the layout the first release wrote with serde derives on the
//! domain types (ids as 12 bytes, newtypes as their inner value, enums as variant indexes),
//! so the same structs read both that release's records and this one's.

use serde::{Deserialize, Serialize};

use domain::charge::{Charge, ChargeStatus};
use domain::events::{self as ev, Event, EventKind};
use domain::ids::{ChargeId, OrderId, RawId, TicketId, UserId};
use domain::money::Price;
use domain::order::{Order, OrderStatus, TicketSummary};
use domain::ticket::{Ticket, Title};
use domain::time::Timestamp;
use domain::user::{Email, User};
use domain::version::Version;

/// What a record is. The code is persisted in every record's header: never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    UserCreated = 1,
    TicketCreated = 2,
    TicketUpdated = 3,
    OrderCreated = 4,
    OrderCancelled = 5,
    OrderExpired = 6,
    OrderCompleted = 7,
    ChargeCreated = 8,
    ChargeFailed = 9,
    ChargeRefunded = 10,
    UserUpdated = 11,
    TicketWithdrawn = 12,
    AuthenticationRequested = 13,
    UserDisabled = 14,
    UserEnabled = 15,
    User = 64,
    Ticket = 65,
    Order = 66,
    Charge = 67,
    Session = 69,
    Counter = 70,
}

impl RecordKind {
    const ALL: [RecordKind; 21] = [
        RecordKind::UserCreated,
        RecordKind::TicketCreated,
        RecordKind::TicketUpdated,
        RecordKind::OrderCreated,
        RecordKind::OrderCancelled,
        RecordKind::OrderExpired,
        RecordKind::OrderCompleted,
        RecordKind::ChargeCreated,
        RecordKind::ChargeFailed,
        RecordKind::ChargeRefunded,
        RecordKind::UserUpdated,
        RecordKind::TicketWithdrawn,
        RecordKind::AuthenticationRequested,
        RecordKind::UserDisabled,
        RecordKind::UserEnabled,
        RecordKind::User,
        RecordKind::Ticket,
        RecordKind::Order,
        RecordKind::Charge,
        RecordKind::Session,
        RecordKind::Counter,
    ];

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<RecordKind> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The layout version this release writes for the kind.
    pub(crate) fn current_version(self) -> u8 {
        match self {
            // Version 2 added `withdrawn` (format 3).
            RecordKind::Ticket => 2,
            // Version 2 added `abandon_at` (format 4).
            RecordKind::Order => 2,
            // Version 2 added `disabled` (format 5).
            RecordKind::User => 2,
            _ => 1,
        }
    }

    /// The record kind of an event kind. Exhaustive, so a new event kind cannot be committed
    /// before it has a record here.
    pub(crate) fn of_event(kind: EventKind) -> RecordKind {
        match kind {
            EventKind::UserCreated => RecordKind::UserCreated,
            EventKind::TicketCreated => RecordKind::TicketCreated,
            EventKind::TicketUpdated => RecordKind::TicketUpdated,
            EventKind::OrderCreated => RecordKind::OrderCreated,
            EventKind::OrderCancelled => RecordKind::OrderCancelled,
            EventKind::OrderExpired => RecordKind::OrderExpired,
            EventKind::OrderCompleted => RecordKind::OrderCompleted,
            EventKind::ChargeCreated => RecordKind::ChargeCreated,
            EventKind::ChargeFailed => RecordKind::ChargeFailed,
            EventKind::ChargeRefunded => RecordKind::ChargeRefunded,
            EventKind::UserUpdated => RecordKind::UserUpdated,
            EventKind::TicketWithdrawn => RecordKind::TicketWithdrawn,
            EventKind::AuthenticationRequested => RecordKind::AuthenticationRequested,
            EventKind::UserDisabled => RecordKind::UserDisabled,
            EventKind::UserEnabled => RecordKind::UserEnabled,
        }
    }

    pub(crate) fn event_kind(self) -> Option<EventKind> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|kind| RecordKind::of_event(*kind) == self)
    }
}

/// An id as stored: its 12 bytes.
type Id = [u8; 12];

/// Why a stored record could not become a domain value.
pub(crate) type Invalid = String;

fn user_id(bytes: Id) -> UserId {
    UserId::new(RawId::from_array(bytes))
}

fn ticket_id(bytes: Id) -> TicketId {
    TicketId::new(RawId::from_array(bytes))
}

fn order_id(bytes: Id) -> OrderId {
    OrderId::new(RawId::from_array(bytes))
}

fn charge_id(bytes: Id) -> ChargeId {
    ChargeId::new(RawId::from_array(bytes))
}

fn price(cents: u64) -> Result<Price, Invalid> {
    Price::from_cents(cents).map_err(|_| format!("price of {cents} cents is out of range"))
}

// ----- events, layout version 1 -----

#[derive(Serialize, Deserialize)]
pub(crate) struct UserCreatedV1 {
    user_id: Id,
    email: String,
    password_hash: String,
    version: u64,
}

/// `UserUpdated` has the same fields as `UserCreated`.
type UserUpdatedV1 = UserCreatedV1;

#[derive(Serialize, Deserialize)]
pub(crate) struct TicketCreatedV1 {
    ticket_id: Id,
    owner: Id,
    title: String,
    price: u64,
    version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TicketUpdatedV1 {
    ticket_id: Id,
    title: String,
    price: u64,
    order_id: Option<Id>,
    sold: bool,
    version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TicketWithdrawnV1 {
    ticket_id: Id,
    version: u64,
}

/// Format 5: an operator disabled an account.
#[derive(Serialize, Deserialize)]
pub(crate) struct UserDisabledV1 {
    user_id: Id,
    version: u64,
}

/// Format 5: `UserEnabled` has the same fields as `UserDisabled`.
pub(crate) type UserEnabledV1 = UserDisabledV1;

#[derive(Serialize, Deserialize)]
pub(crate) struct OrderCreatedV1 {
    order_id: Id,
    ticket_id: Id,
    buyer: Id,
    title: String,
    price: u64,
    ticket_version: u64,
    expires_at: u64,
    version: u64,
}

/// `OrderCancelled` and `OrderExpired` share this layout.
#[derive(Serialize, Deserialize)]
pub(crate) struct OrderEndedV1 {
    order_id: Id,
    ticket_id: Id,
    version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct OrderCompletedV1 {
    order_id: Id,
    ticket_id: Id,
    charge_id: Id,
    stripe_id: String,
    version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ChargeCreatedV1 {
    charge_id: Id,
    order_id: Id,
    amount: u64,
    token: String,
    order_version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ChargeFailedV1 {
    charge_id: Id,
    order_id: Id,
    ticket_id: Id,
    stripe_id: Option<String>,
    version: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ChargeRefundedV1 {
    charge_id: Id,
    order_id: Id,
    stripe_id: String,
    refund_id: String,
}

/// Format 4: the provider asked for the buyer's authentication.
#[derive(Serialize, Deserialize)]
pub(crate) struct AuthenticationRequestedV1 {
    charge_id: Id,
    order_id: Id,
    stripe_id: String,
    abandon_at: u64,
    version: u64,
}

/// An event as the journal stores it, in the newest layout of its kind.
pub(crate) enum EventRecord {
    UserCreated(UserCreatedV1),
    UserUpdated(UserUpdatedV1),
    TicketCreated(TicketCreatedV1),
    TicketUpdated(TicketUpdatedV1),
    OrderCreated(OrderCreatedV1),
    OrderCancelled(OrderEndedV1),
    OrderExpired(OrderEndedV1),
    OrderCompleted(OrderCompletedV1),
    ChargeCreated(ChargeCreatedV1),
    ChargeFailed(ChargeFailedV1),
    ChargeRefunded(ChargeRefundedV1),
    TicketWithdrawn(TicketWithdrawnV1),
    AuthenticationRequested(AuthenticationRequestedV1),
    UserDisabled(UserDisabledV1),
    UserEnabled(UserEnabledV1),
}

impl EventRecord {
    pub(crate) fn from_event(event: &Event) -> EventRecord {
        match event {
            Event::UserCreated(e) => EventRecord::UserCreated(UserCreatedV1 {
                user_id: *e.user_id.as_bytes(),
                email: e.email.as_str().to_owned(),
                password_hash: e.password_hash.clone(),
                version: e.version.get(),
            }),
            Event::UserUpdated(e) => EventRecord::UserUpdated(UserUpdatedV1 {
                user_id: *e.user_id.as_bytes(),
                email: e.email.as_str().to_owned(),
                password_hash: e.password_hash.clone(),
                version: e.version.get(),
            }),
            Event::TicketCreated(e) => EventRecord::TicketCreated(TicketCreatedV1 {
                ticket_id: *e.ticket_id.as_bytes(),
                owner: *e.owner.as_bytes(),
                title: e.title.as_str().to_owned(),
                price: e.price.cents(),
                version: e.version.get(),
            }),
            Event::TicketUpdated(e) => EventRecord::TicketUpdated(TicketUpdatedV1 {
                ticket_id: *e.ticket_id.as_bytes(),
                title: e.title.as_str().to_owned(),
                price: e.price.cents(),
                order_id: e.order_id.map(|o| *o.as_bytes()),
                sold: e.sold,
                version: e.version.get(),
            }),
            Event::OrderCreated(e) => EventRecord::OrderCreated(OrderCreatedV1 {
                order_id: *e.order_id.as_bytes(),
                ticket_id: *e.ticket_id.as_bytes(),
                buyer: *e.buyer.as_bytes(),
                title: e.title.as_str().to_owned(),
                price: e.price.cents(),
                ticket_version: e.ticket_version.get(),
                expires_at: e.expires_at.millis(),
                version: e.version.get(),
            }),
            Event::OrderCancelled(e) => EventRecord::OrderCancelled(OrderEndedV1 {
                order_id: *e.order_id.as_bytes(),
                ticket_id: *e.ticket_id.as_bytes(),
                version: e.version.get(),
            }),
            Event::OrderExpired(e) => EventRecord::OrderExpired(OrderEndedV1 {
                order_id: *e.order_id.as_bytes(),
                ticket_id: *e.ticket_id.as_bytes(),
                version: e.version.get(),
            }),
            Event::OrderCompleted(e) => EventRecord::OrderCompleted(OrderCompletedV1 {
                order_id: *e.order_id.as_bytes(),
                ticket_id: *e.ticket_id.as_bytes(),
                charge_id: *e.charge_id.as_bytes(),
                stripe_id: e.stripe_id.clone(),
                version: e.version.get(),
            }),
            Event::ChargeCreated(e) => EventRecord::ChargeCreated(ChargeCreatedV1 {
                charge_id: *e.charge_id.as_bytes(),
                order_id: *e.order_id.as_bytes(),
                amount: e.amount.cents(),
                token: e.token.clone(),
                order_version: e.order_version.get(),
            }),
            Event::ChargeFailed(e) => EventRecord::ChargeFailed(ChargeFailedV1 {
                charge_id: *e.charge_id.as_bytes(),
                order_id: *e.order_id.as_bytes(),
                ticket_id: *e.ticket_id.as_bytes(),
                stripe_id: e.stripe_id.clone(),
                version: e.version.get(),
            }),
            Event::ChargeRefunded(e) => EventRecord::ChargeRefunded(ChargeRefundedV1 {
                charge_id: *e.charge_id.as_bytes(),
                order_id: *e.order_id.as_bytes(),
                stripe_id: e.stripe_id.clone(),
                refund_id: e.refund_id.clone(),
            }),
            Event::UserDisabled(e) => EventRecord::UserDisabled(UserDisabledV1 {
                user_id: *e.user_id.as_bytes(),
                version: e.version.get(),
            }),
            Event::UserEnabled(e) => EventRecord::UserEnabled(UserEnabledV1 {
                user_id: *e.user_id.as_bytes(),
                version: e.version.get(),
            }),
            Event::TicketWithdrawn(e) => EventRecord::TicketWithdrawn(TicketWithdrawnV1 {
                ticket_id: *e.ticket_id.as_bytes(),
                version: e.version.get(),
            }),
            Event::AuthenticationRequested(e) => {
                EventRecord::AuthenticationRequested(AuthenticationRequestedV1 {
                    charge_id: *e.charge_id.as_bytes(),
                    order_id: *e.order_id.as_bytes(),
                    stripe_id: e.stripe_id.clone(),
                    abandon_at: e.abandon_at.millis(),
                    version: e.version.get(),
                })
            }
        }
    }

    pub(crate) fn into_event(self) -> Result<Event, Invalid> {
        Ok(match self {
            EventRecord::UserCreated(r) => Event::UserCreated(ev::UserCreated {
                user_id: user_id(r.user_id),
                email: Email::restore(r.email),
                password_hash: r.password_hash,
                version: Version::new(r.version),
            }),
            EventRecord::UserUpdated(r) => Event::UserUpdated(ev::UserUpdated {
                user_id: user_id(r.user_id),
                email: Email::restore(r.email),
                password_hash: r.password_hash,
                version: Version::new(r.version),
            }),
            EventRecord::TicketCreated(r) => Event::TicketCreated(ev::TicketCreated {
                ticket_id: ticket_id(r.ticket_id),
                owner: user_id(r.owner),
                title: Title::restore(r.title),
                price: price(r.price)?,
                version: Version::new(r.version),
            }),
            EventRecord::TicketUpdated(r) => Event::TicketUpdated(ev::TicketUpdated {
                ticket_id: ticket_id(r.ticket_id),
                title: Title::restore(r.title),
                price: price(r.price)?,
                order_id: r.order_id.map(order_id),
                sold: r.sold,
                version: Version::new(r.version),
            }),
            EventRecord::OrderCreated(r) => Event::OrderCreated(ev::OrderCreated {
                order_id: order_id(r.order_id),
                ticket_id: ticket_id(r.ticket_id),
                buyer: user_id(r.buyer),
                title: Title::restore(r.title),
                price: price(r.price)?,
                ticket_version: Version::new(r.ticket_version),
                expires_at: Timestamp::from_millis(r.expires_at),
                version: Version::new(r.version),
            }),
            EventRecord::OrderCancelled(r) => Event::OrderCancelled(ev::OrderCancelled {
                order_id: order_id(r.order_id),
                ticket_id: ticket_id(r.ticket_id),
                version: Version::new(r.version),
            }),
            EventRecord::OrderExpired(r) => Event::OrderExpired(ev::OrderExpired {
                order_id: order_id(r.order_id),
                ticket_id: ticket_id(r.ticket_id),
                version: Version::new(r.version),
            }),
            EventRecord::OrderCompleted(r) => Event::OrderCompleted(ev::OrderCompleted {
                order_id: order_id(r.order_id),
                ticket_id: ticket_id(r.ticket_id),
                charge_id: charge_id(r.charge_id),
                stripe_id: r.stripe_id,
                version: Version::new(r.version),
            }),
            EventRecord::ChargeCreated(r) => Event::ChargeCreated(ev::ChargeCreated {
                charge_id: charge_id(r.charge_id),
                order_id: order_id(r.order_id),
                amount: price(r.amount)?,
                token: r.token,
                order_version: Version::new(r.order_version),
            }),
            EventRecord::ChargeFailed(r) => Event::ChargeFailed(ev::ChargeFailed {
                charge_id: charge_id(r.charge_id),
                order_id: order_id(r.order_id),
                ticket_id: ticket_id(r.ticket_id),
                stripe_id: r.stripe_id,
                version: Version::new(r.version),
            }),
            EventRecord::ChargeRefunded(r) => Event::ChargeRefunded(ev::ChargeRefunded {
                charge_id: charge_id(r.charge_id),
                order_id: order_id(r.order_id),
                stripe_id: r.stripe_id,
                refund_id: r.refund_id,
            }),
            EventRecord::UserDisabled(r) => Event::UserDisabled(ev::UserDisabled {
                user_id: user_id(r.user_id),
                version: Version::new(r.version),
            }),
            EventRecord::UserEnabled(r) => Event::UserEnabled(ev::UserEnabled {
                user_id: user_id(r.user_id),
                version: Version::new(r.version),
            }),
            EventRecord::TicketWithdrawn(r) => Event::TicketWithdrawn(ev::TicketWithdrawn {
                ticket_id: ticket_id(r.ticket_id),
                version: Version::new(r.version),
            }),
            EventRecord::AuthenticationRequested(r) => {
                Event::AuthenticationRequested(ev::AuthenticationRequested {
                    charge_id: charge_id(r.charge_id),
                    order_id: order_id(r.order_id),
                    stripe_id: r.stripe_id,
                    abandon_at: Timestamp::from_millis(r.abandon_at),
                    version: Version::new(r.version),
                })
            }
        })
    }
}

// ----- snapshots and index values, layout version 1 -----

#[derive(Serialize, Deserialize)]
pub(crate) struct UserV1 {
    id: Id,
    email: String,
    password_hash: String,
    version: u64,
}

/// Layout 1 as format 4 wrote it, for the codec's upgrade test.
#[cfg(test)]
impl From<&User> for UserV1 {
    fn from(user: &User) -> UserV1 {
        let v2 = UserV2::from_user(user);
        UserV1 {
            id: v2.id,
            email: v2.email,
            password_hash: v2.password_hash,
            version: v2.version,
        }
    }
}

/// An account written before format 5 was never disabled.
impl From<UserV1> for UserV2 {
    fn from(v1: UserV1) -> UserV2 {
        UserV2 {
            id: v1.id,
            email: v1.email,
            password_hash: v1.password_hash,
            version: v1.version,
            disabled: false,
        }
    }
}

/// Layout version 2 (format 5): `UserV1` and `disabled`.
#[derive(Serialize, Deserialize)]
pub(crate) struct UserV2 {
    id: Id,
    email: String,
    password_hash: String,
    version: u64,
    disabled: bool,
}

impl UserV2 {
    pub(crate) fn from_user(user: &User) -> UserV2 {
        UserV2 {
            id: *user.id.as_bytes(),
            email: user.email.as_str().to_owned(),
            password_hash: user.password_hash.clone(),
            version: user.version.get(),
            disabled: user.disabled,
        }
    }

    pub(crate) fn into_user(self) -> Result<User, Invalid> {
        Ok(User {
            id: user_id(self.id),
            email: Email::restore(self.email),
            password_hash: self.password_hash,
            version: Version::new(self.version),
            disabled: self.disabled,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TicketV1 {
    id: Id,
    owner: Id,
    title: String,
    price: u64,
    version: u64,
    order_id: Option<Id>,
    sold: bool,
}

/// A ticket written before withdrawal existed was never withdrawn.
impl From<TicketV1> for TicketV2 {
    fn from(v1: TicketV1) -> TicketV2 {
        TicketV2 {
            id: v1.id,
            owner: v1.owner,
            title: v1.title,
            price: v1.price,
            version: v1.version,
            order_id: v1.order_id,
            sold: v1.sold,
            withdrawn: false,
        }
    }
}

/// Layout version 2 (format 3): `TicketV1` and `withdrawn`.
#[derive(Serialize, Deserialize)]
pub(crate) struct TicketV2 {
    id: Id,
    owner: Id,
    title: String,
    price: u64,
    version: u64,
    order_id: Option<Id>,
    sold: bool,
    withdrawn: bool,
}

impl TicketV2 {
    pub(crate) fn from_ticket(ticket: &Ticket) -> TicketV2 {
        TicketV2 {
            id: *ticket.id.as_bytes(),
            owner: *ticket.owner.as_bytes(),
            title: ticket.title.as_str().to_owned(),
            price: ticket.price.cents(),
            version: ticket.version.get(),
            order_id: ticket.order_id.map(|o| *o.as_bytes()),
            sold: ticket.sold,
            withdrawn: ticket.withdrawn,
        }
    }

    pub(crate) fn into_ticket(self) -> Result<Ticket, Invalid> {
        Ok(Ticket {
            id: ticket_id(self.id),
            owner: user_id(self.owner),
            title: Title::restore(self.title),
            price: price(self.price)?,
            version: Version::new(self.version),
            order_id: self.order_id.map(order_id),
            sold: self.sold,
            withdrawn: self.withdrawn,
        })
    }
}

/// The variant order is the persisted index: append only.
#[derive(Serialize, Deserialize)]
enum OrderStatusV1 {
    Created,
    AwaitingPayment,
    Complete,
    Cancelled,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct OrderV1 {
    id: Id,
    buyer: Id,
    ticket_id: Id,
    ticket_title: String,
    ticket_price: u64,
    ticket_version: u64,
    status: OrderStatusV1,
    expires_at: u64,
    version: u64,
    charge_id: Option<Id>,
}

/// Layout 1 as format 3 wrote it, for the codec's upgrade test.
#[cfg(test)]
impl From<&Order> for OrderV1 {
    fn from(order: &Order) -> OrderV1 {
        let v2 = OrderV2::from_order(order);
        OrderV1 {
            id: v2.id,
            buyer: v2.buyer,
            ticket_id: v2.ticket_id,
            ticket_title: v2.ticket_title,
            ticket_price: v2.ticket_price,
            ticket_version: v2.ticket_version,
            status: v2.status,
            expires_at: v2.expires_at,
            version: v2.version,
            charge_id: v2.charge_id,
        }
    }
}

/// An order written before format 4 never waited on an authentication.
impl From<OrderV1> for OrderV2 {
    fn from(v1: OrderV1) -> OrderV2 {
        OrderV2 {
            id: v1.id,
            buyer: v1.buyer,
            ticket_id: v1.ticket_id,
            ticket_title: v1.ticket_title,
            ticket_price: v1.ticket_price,
            ticket_version: v1.ticket_version,
            status: v1.status,
            expires_at: v1.expires_at,
            version: v1.version,
            charge_id: v1.charge_id,
            abandon_at: None,
        }
    }
}

/// Layout version 2 (format 4): `OrderV1` and `abandon_at`.
#[derive(Serialize, Deserialize)]
pub(crate) struct OrderV2 {
    id: Id,
    buyer: Id,
    ticket_id: Id,
    ticket_title: String,
    ticket_price: u64,
    ticket_version: u64,
    status: OrderStatusV1,
    expires_at: u64,
    version: u64,
    charge_id: Option<Id>,
    abandon_at: Option<u64>,
}

impl OrderV2 {
    pub(crate) fn from_order(order: &Order) -> OrderV2 {
        OrderV2 {
            id: *order.id.as_bytes(),
            buyer: *order.buyer.as_bytes(),
            ticket_id: *order.ticket.id.as_bytes(),
            ticket_title: order.ticket.title.as_str().to_owned(),
            ticket_price: order.ticket.price.cents(),
            ticket_version: order.ticket.version.get(),
            status: match order.status {
                OrderStatus::Created => OrderStatusV1::Created,
                OrderStatus::AwaitingPayment => OrderStatusV1::AwaitingPayment,
                OrderStatus::Complete => OrderStatusV1::Complete,
                OrderStatus::Cancelled => OrderStatusV1::Cancelled,
            },
            expires_at: order.expires_at.millis(),
            version: order.version.get(),
            charge_id: order.charge_id.map(|c| *c.as_bytes()),
            abandon_at: order.abandon_at.map(Timestamp::millis),
        }
    }

    pub(crate) fn into_order(self) -> Result<Order, Invalid> {
        Ok(Order {
            id: order_id(self.id),
            buyer: user_id(self.buyer),
            ticket: TicketSummary {
                id: ticket_id(self.ticket_id),
                title: Title::restore(self.ticket_title),
                price: price(self.ticket_price)?,
                version: Version::new(self.ticket_version),
            },
            status: match self.status {
                OrderStatusV1::Created => OrderStatus::Created,
                OrderStatusV1::AwaitingPayment => OrderStatus::AwaitingPayment,
                OrderStatusV1::Complete => OrderStatus::Complete,
                OrderStatusV1::Cancelled => OrderStatus::Cancelled,
            },
            expires_at: Timestamp::from_millis(self.expires_at),
            version: Version::new(self.version),
            charge_id: self.charge_id.map(charge_id),
            abandon_at: self.abandon_at.map(Timestamp::from_millis),
        })
    }
}

/// The variant order is the persisted index: append only.
#[derive(Serialize, Deserialize)]
enum ChargeStatusV1 {
    Created,
    Failed,
    Completed,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ChargeV1 {
    id: Id,
    order_id: Id,
    status: ChargeStatusV1,
    amount: u64,
    stripe_id: Option<String>,
    stripe_refund_id: Option<String>,
    token: String,
}

impl ChargeV1 {
    pub(crate) fn from_charge(charge: &Charge) -> ChargeV1 {
        ChargeV1 {
            id: *charge.id.as_bytes(),
            order_id: *charge.order_id.as_bytes(),
            status: match charge.status {
                ChargeStatus::Created => ChargeStatusV1::Created,
                ChargeStatus::Failed => ChargeStatusV1::Failed,
                ChargeStatus::Completed => ChargeStatusV1::Completed,
            },
            amount: charge.amount.cents(),
            stripe_id: charge.stripe_id.clone(),
            stripe_refund_id: charge.stripe_refund_id.clone(),
            token: charge.token.clone(),
        }
    }

    pub(crate) fn into_charge(self) -> Result<Charge, Invalid> {
        Ok(Charge {
            id: charge_id(self.id),
            order_id: order_id(self.order_id),
            status: match self.status {
                ChargeStatusV1::Created => ChargeStatus::Created,
                ChargeStatusV1::Failed => ChargeStatus::Failed,
                ChargeStatusV1::Completed => ChargeStatus::Completed,
            },
            amount: price(self.amount)?,
            stripe_id: self.stripe_id,
            stripe_refund_id: self.stripe_refund_id,
            token: self.token,
        })
    }
}

/// A signed-in session, kept until signout or expiry.
#[derive(Serialize, Deserialize)]
pub(crate) struct SessionV1 {
    pub(crate) user_id: Id,
    pub(crate) expires_at: u64,
}

impl SessionV1 {
    pub(crate) fn user(&self) -> UserId {
        user_id(self.user_id)
    }
}
