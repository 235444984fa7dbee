//! Tickets: listing, editing, and the hold an order places on one.
//!
//! A ticket is for sale while no order holds it. Reserving puts an order's id on it (one
//! `OrderCreated` event, which also creates the order); releasing takes the id off again,
//! but only for the order that holds it (DESIGN §7.4); a paid order marks it sold for good.

use std::fmt;

use super::error::DomainError;
use super::events::{Event, OrderCreated, TicketCreated, TicketUpdated, TicketWithdrawn};
use super::ids::{OrderId, TicketId, UserId};
use super::money::Price;
use super::time::Timestamp;
use super::version::Version;

/// A ticket's title: 1 to 200 Unicode characters after trimming, stored trimmed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Title(String);

/// Why a title was refused; the message is what the API shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTitle {
    #[error("Title must be between 1 and 200 characters")]
    Length,
    /// Control characters break the pages and logs that show a title; direction overrides
    /// and invisible characters make one title look like another (or reorder what follows
    /// it on screen).
    #[error("Title must not contain control, direction-changing or invisible characters")]
    Characters,
}

impl Title {
    pub fn parse(text: &str) -> Result<Title, InvalidTitle> {
        let trimmed = text.trim();
        let length = trimmed.chars().count();
        if !(1..=200).contains(&length) {
            return Err(InvalidTitle::Length);
        }
        if trimmed.chars().any(is_hidden_or_control) {
            return Err(InvalidTitle::Characters);
        }
        Ok(Title(trimmed.to_owned()))
    }

    /// A title as it was accepted earlier and stored. Rules added since (a shorter limit,
    /// characters refused) apply to new input only: they must never make a stored ticket
    /// unreadable. Only the store calls this.
    pub fn restore(stored: String) -> Title {
        Title(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Control characters, the bidirectional overrides, embeddings and isolates, and the
/// zero-width and invisible formatting characters (the zero-width joiner too, though emoji
/// sequences use it: one title must not pass for another). Variation selectors stay allowed,
/// since emoji need them.
fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

impl fmt::Debug for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A listed ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub owner: UserId,
    pub title: Title,
    pub price: Price,
    pub version: Version,
    /// The order holding the ticket, while held and after it is sold.
    pub order_id: Option<OrderId>,
    /// Set when the holding order is paid; a sold ticket is never released.
    pub sold: bool,
    /// Set when the seller withdrew it; a withdrawn ticket takes no command again.
    pub withdrawn: bool,
}

impl Ticket {
    /// For sale: shown in the listing and open to orders.
    pub fn is_for_sale(&self) -> bool {
        self.order_id.is_none() && !self.sold && !self.withdrawn
    }

    /// Where the ticket stands, as its seller's list shows it.
    pub fn status(&self) -> TicketStatus {
        if self.withdrawn {
            TicketStatus::Withdrawn
        } else if self.sold {
            TicketStatus::Sold
        } else if self.order_id.is_some() {
            TicketStatus::Held
        } else {
            TicketStatus::ForSale
        }
    }
}

/// Where a ticket stands (DESIGN §4, GET /api/users/me/tickets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    ForSale,
    Held,
    Sold,
    Withdrawn,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::ForSale => "for sale",
            TicketStatus::Held => "held",
            TicketStatus::Sold => "sold",
            TicketStatus::Withdrawn => "withdrawn",
        }
    }
}

/// Listing a ticket. A fresh id has no prior state to contend with, so creation always
/// succeeds once its inputs are parsed.
pub fn created(id: TicketId, owner: UserId, title: Title, price: Price) -> TicketCreated {
    TicketCreated {
        ticket_id: id,
        owner,
        title,
        price,
        version: Version::INITIAL,
    }
}

/// The ticket a listing creates.
pub fn listed(e: &TicketCreated) -> Ticket {
    Ticket {
        id: e.ticket_id,
        owner: e.owner,
        title: e.title.clone(),
        price: e.price,
        version: e.version,
        order_id: None,
        sold: false,
        withdrawn: false,
    }
}

/// `created`, as an event (for tests and tools that build journals).
pub fn create(id: TicketId, owner: UserId, title: Title, price: Price) -> Event {
    Event::TicketCreated(created(id, owner, title, price))
}

/// What may be asked of an existing ticket.
#[derive(Clone, Debug)]
pub enum TicketCommand {
    Update {
        by: UserId,
        title: Title,
        price: Price,
        /// The version the client last saw (If-Match), if it named one.
        expected: Option<Version>,
    },
    Release {
        order_id: OrderId,
    },
    MarkSold {
        order_id: OrderId,
    },
    /// The seller takes the ticket off sale for good.
    Withdraw {
        by: UserId,
    },
}

/// A buyer's attempt to reserve a ticket: the new order's id and the hold's deadline are
/// made by the caller (ids and time are not the domain's).
#[derive(Clone, Debug)]
pub struct Reservation {
    pub order_id: OrderId,
    pub buyer: UserId,
    pub expires_at: Timestamp,
}

/// Reserving: one event creates the order and holds the ticket, or the ticket refuses.
/// Always a change when accepted, so unlike `decide` it answers the event itself.
pub fn reserve(ticket: &Ticket, reservation: Reservation) -> Result<OrderCreated, DomainError> {
    if ticket.withdrawn {
        return Err(DomainError::TicketWithdrawn);
    }
    if reservation.buyer == ticket.owner {
        return Err(DomainError::OwnTicket);
    }
    if !ticket.is_for_sale() {
        return Err(DomainError::AlreadyReserved);
    }
    Ok(OrderCreated {
        order_id: reservation.order_id,
        ticket_id: ticket.id,
        buyer: reservation.buyer,
        title: ticket.title.clone(),
        price: ticket.price,
        ticket_version: ticket.version.next(),
        expires_at: reservation.expires_at,
        version: Version::INITIAL,
    })
}

/// The ticket rules. `Ok(None)` means the command is accepted and changes nothing (a
/// release by an order that no longer holds the ticket, a repeated mark-sold).
pub fn decide(ticket: &Ticket, command: TicketCommand) -> Result<Option<Event>, DomainError> {
    match command {
        TicketCommand::Update {
            by,
            title,
            price,
            expected,
        } => {
            if ticket.withdrawn {
                return Err(DomainError::TicketWithdrawn);
            }
            if by != ticket.owner {
                return Err(DomainError::NotOwner);
            }
            if expected.is_some_and(|v| v != ticket.version) {
                return Err(DomainError::VersionMismatch);
            }
            if !ticket.is_for_sale() {
                return Err(DomainError::TicketReserved);
            }
            Ok(Some(edited(ticket, title, price)))
        }
        TicketCommand::Release { order_id } => {
            if ticket.order_id != Some(order_id) || ticket.sold {
                return Ok(None);
            }
            Ok(Some(released(ticket)))
        }
        TicketCommand::MarkSold { order_id } => {
            if ticket.order_id != Some(order_id) {
                return Err(DomainError::NotHeldByOrder);
            }
            if ticket.sold {
                return Ok(None);
            }
            Ok(Some(sold(ticket, order_id)))
        }
        TicketCommand::Withdraw { by } => {
            if ticket.withdrawn {
                return Err(DomainError::TicketWithdrawn);
            }
            if by != ticket.owner {
                return Err(DomainError::NotOwner);
            }
            if !ticket.is_for_sale() {
                return Err(DomainError::WithdrawReserved);
            }
            Ok(Some(Event::TicketWithdrawn(TicketWithdrawn {
                ticket_id: ticket.id,
                version: ticket.version.next(),
            })))
        }
    }
}

// `TicketUpdated` carries the whole resulting ticket, whatever the change; these three
// name the change where it is made, and `TicketChange::of` tells them apart where it is read.

fn edited(ticket: &Ticket, title: Title, price: Price) -> Event {
    Event::TicketUpdated(TicketUpdated {
        ticket_id: ticket.id,
        title,
        price,
        order_id: None,
        sold: false,
        version: ticket.version.next(),
    })
}

fn released(ticket: &Ticket) -> Event {
    edited(ticket, ticket.title.clone(), ticket.price)
}

fn sold(ticket: &Ticket, order_id: OrderId) -> Event {
    Event::TicketUpdated(TicketUpdated {
        ticket_id: ticket.id,
        title: ticket.title.clone(),
        price: ticket.price,
        order_id: Some(order_id),
        sold: true,
        version: ticket.version.next(),
    })
}

/// What a `TicketUpdated` was. On disk it stays one event kind (data directories already
/// written hold it), but an edit, a released hold and a sale are different things to count
/// and to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketChange {
    /// The seller changed the title or price.
    Edited,
    /// A hold ended (cancelled or expired) and the ticket is for sale again.
    Released,
    /// The holding order was paid.
    Sold,
}

impl TicketChange {
    pub const ALL: [TicketChange; 3] = [
        TicketChange::Edited,
        TicketChange::Released,
        TicketChange::Sold,
    ];

    /// The change `event` made to `before`, the ticket as it was when the event applied.
    pub fn of(event: &TicketUpdated, before: &Ticket) -> TicketChange {
        if event.sold {
            TicketChange::Sold
        } else if before.order_id.is_some() {
            TicketChange::Released
        } else {
            TicketChange::Edited
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TicketChange::Edited => "edited",
            TicketChange::Released => "released",
            TicketChange::Sold => "sold",
        }
    }
}

/// Applies an event to a ticket snapshot. Events carry resulting values, so this is
/// assignment; an event at or below the snapshot's version is one it has already seen.
pub fn evolve(state: Option<Ticket>, event: &Event) -> Option<Ticket> {
    match (state, event) {
        (None, Event::TicketCreated(e)) => Some(listed(e)),
        (Some(t), Event::TicketUpdated(e)) if e.version > t.version => Some(Ticket {
            title: e.title.clone(),
            price: e.price,
            order_id: e.order_id,
            sold: e.sold,
            version: e.version,
            ..t
        }),
        (Some(t), Event::TicketWithdrawn(e)) if e.version > t.version => Some(Ticket {
            withdrawn: true,
            version: e.version,
            ..t
        }),
        (Some(t), Event::OrderCreated(e)) if e.ticket_version > t.version => Some(Ticket {
            order_id: Some(e.order_id),
            version: e.ticket_version,
            ..t
        }),
        (state, _) => state,
    }
}
