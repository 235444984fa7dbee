//! The ticket actor: the one place a ticket's state changes.
//!
//! Every change of a ticket is a message to its actor, decided and committed without an
//! `.await` (`entity.rs`), so two buyers racing for a ticket are two messages in one mailbox
//! and the second sees the first's hold. A reservation is ONE `OrderCreated` event: it
//! creates the order and puts the hold on the ticket at once, which is why orders are born
//! here and not in `order.rs` (the order actor takes over from the order's first message).
//!
//! Lifecycle: activated by `Registry<TicketActor>` on the first message, passivated when
//! idle; holds a clone of `Services`.

use actix::prelude::*;

use super::Services;
use super::entity::{EntityActor, refuse};
use super::error::EntityError;
use super::registry::Passivation;
use crate::store::{PriorState, Store, StoreError};
use domain::events::Event;
use domain::ids::{OrderId, TicketId, UserId};
use domain::money::Price;
use domain::order::{self, Order};
use domain::ticket::{self, Ticket, TicketCommand, Title};
use domain::version::Version;

pub struct TicketActor {
    ticket: Ticket,
    services: Services,
    passivation: Passivation<TicketActor>,
}

impl TicketActor {
    pub fn new(
        ticket: Ticket,
        services: Services,
        passivation: Passivation<TicketActor>,
    ) -> TicketActor {
        TicketActor {
            ticket,
            services,
            passivation,
        }
    }
}

impl Actor for TicketActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.passivation.start(ctx);
    }
}

impl EntityActor for TicketActor {
    type Id = TicketId;
    type State = Ticket;
    const KIND: &'static str = "ticket";

    fn load(store: &Store, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        store.projections().ticket(id)
    }

    fn evolve(state: Option<Ticket>, event: &Event) -> Option<Ticket> {
        ticket::evolve(state, event)
    }

    fn prior(state: &Ticket) -> PriorState<'_> {
        PriorState::Ticket(state)
    }

    fn state(&self) -> &Ticket {
        &self.ticket
    }

    fn state_mut(&mut self) -> &mut Ticket {
        &mut self.ticket
    }

    fn services(&self) -> &Services {
        &self.services
    }

    fn passivation(&mut self) -> &mut Passivation<Self> {
        &mut self.passivation
    }

    fn passivation_ref(&self) -> &Passivation<Self> {
        &self.passivation
    }
}

/// The owner edits title and price (409 while held or sold; 412 on a stale If-Match).
#[derive(Message, Clone)]
#[rtype(result = "Result<Ticket, EntityError>")]
pub struct UpdateTicket {
    pub by: UserId,
    pub title: Title,
    pub price: Price,
    pub expected: Option<Version>,
}

impl Handler<UpdateTicket> for TicketActor {
    type Result = ResponseFuture<Result<Ticket, EntityError>>;

    #[tracing::instrument(name = "Updating a ticket", skip_all, fields(ticket_id = %self.ticket.id, user_id = %msg.by))]
    fn handle(&mut self, msg: UpdateTicket, ctx: &mut Context<Self>) -> Self::Result {
        let command = TicketCommand::Update {
            by: msg.by,
            title: msg.title,
            price: msg.price,
            expected: msg.expected,
        };
        let change = self.commit(ticket::decide(&self.ticket, command), ctx);
        self.reply(change, Ticket::clone)
    }
}

/// A buyer reserves the ticket: one `OrderCreated` creates the order and places the hold.
#[derive(Message, Clone)]
#[rtype(result = "Result<Order, EntityError>")]
pub struct Reserve {
    pub buyer: UserId,
}

impl Handler<Reserve> for TicketActor {
    type Result = ResponseFuture<Result<Order, EntityError>>;

    #[tracing::instrument(name = "Reserving a ticket", skip_all, fields(ticket_id = %self.ticket.id, user_id = %msg.buyer))]
    fn handle(&mut self, msg: Reserve, ctx: &mut Context<Self>) -> Self::Result {
        let settings = &self.services.settings;
        let reservation = ticket::Reservation {
            order_id: OrderId::new(self.services.ids.next()),
            buyer: msg.buyer,
            expires_at: settings.clock.now().plus_secs(settings.hold_secs),
        };
        let created = match ticket::reserve(&self.ticket, reservation) {
            Ok(created) => created,
            Err(refused) => return refuse(refused.into()),
        };
        let placed = order::placed(&created);
        let deadline = created.expires_at;
        let change = self.commit(Ok(Some(Event::OrderCreated(created))), ctx);
        if change.is_ok() {
            self.services.holds.hold_placed(deadline);
        }
        self.reply(change, move |_| placed)
    }
}

/// An order that ended unpaid lets go of the ticket (a no-op unless it holds it).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), EntityError>")]
pub struct ReleaseTicket {
    pub order_id: OrderId,
}

impl Handler<ReleaseTicket> for TicketActor {
    type Result = ResponseFuture<Result<(), EntityError>>;

    #[tracing::instrument(name = "Releasing a ticket", skip_all, fields(ticket_id = %self.ticket.id, order_id = %msg.order_id))]
    fn handle(&mut self, msg: ReleaseTicket, ctx: &mut Context<Self>) -> Self::Result {
        let command = TicketCommand::Release {
            order_id: msg.order_id,
        };
        let change = self.commit(ticket::decide(&self.ticket, command), ctx);
        self.reply(change, |_| ())
    }
}

/// The owner takes a free ticket off sale for good (409 while held or sold).
#[derive(Message, Clone)]
#[rtype(result = "Result<(), EntityError>")]
pub struct WithdrawTicket {
    pub by: UserId,
}

impl Handler<WithdrawTicket> for TicketActor {
    type Result = ResponseFuture<Result<(), EntityError>>;

    #[tracing::instrument(name = "Withdrawing a ticket", skip_all, fields(ticket_id = %self.ticket.id, user_id = %msg.by))]
    fn handle(&mut self, msg: WithdrawTicket, ctx: &mut Context<Self>) -> Self::Result {
        let command = TicketCommand::Withdraw { by: msg.by };
        let change = self.commit(ticket::decide(&self.ticket, command), ctx);
        self.reply(change, |_| ())
    }
}

/// The holding order was paid: the ticket is sold for good.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), EntityError>")]
pub struct MarkTicketSold {
    pub order_id: OrderId,
}

impl Handler<MarkTicketSold> for TicketActor {
    type Result = ResponseFuture<Result<(), EntityError>>;

    #[tracing::instrument(name = "Marking a ticket sold", skip_all, fields(ticket_id = %self.ticket.id, order_id = %msg.order_id))]
    fn handle(&mut self, msg: MarkTicketSold, ctx: &mut Context<Self>) -> Self::Result {
        let command = TicketCommand::MarkSold {
            order_id: msg.order_id,
        };
        let change = self.commit(ticket::decide(&self.ticket, command), ctx);
        self.reply(change, |_| ())
    }
}

impl Services {
    /// Lists a new ticket. A fresh id cannot be contended, so creation needs no actor: it
    /// commits directly, and the ticket's actor is activated by its first later message.
    pub async fn create_ticket(
        &self,
        owner: UserId,
        title: Title,
        price: Price,
    ) -> Result<Ticket, EntityError> {
        let created = ticket::created(TicketId::new(self.ids.next()), owner, title, price);
        let listed = ticket::listed(&created);
        self.store
            .commit(&Event::TicketCreated(created), PriorState::Unknown)?
            .finish();
        self.store.durable().await?;
        Ok(listed)
    }

    /// Reserves `ticket_id` for `buyer`, within the cap on how many tickets one buyer may
    /// hold at once: a place among the buyer's holds is claimed first, so that concurrent
    /// reservations by one buyer cannot overshoot the cap together; the reservation's commit
    /// makes it a hold, and a reservation that fails (or whose request is dropped) gives it
    /// back.
    pub async fn reserve(&self, ticket_id: TicketId, buyer: UserId) -> Result<Order, EntityError> {
        let cap = self.settings.max_holds_per_buyer;
        let mut refused = None;
        let claimed = self.store.claim_hold(buyer, ticket_id, |held| {
            refused = order::may_hold_another(held, cap).err();
            refused.is_none()
        });
        if let Some(refused) = refused.filter(|_| !claimed) {
            return Err(refused.into());
        }
        let _place = HoldPlace {
            store: &self.store,
            buyer,
            ticket_id,
        };
        self.tickets.ask(ticket_id, Reserve { buyer }).await
    }
}

/// Gives a claimed place among a buyer's holds back when dropped, unless the reservation
/// committed (its `OrderCreated` has already made it a hold).
struct HoldPlace<'a> {
    store: &'a Store,
    buyer: UserId,
    ticket_id: TicketId,
}

impl Drop for HoldPlace<'_> {
    fn drop(&mut self) {
        self.store.release_hold(self.buyer, self.ticket_id);
    }
}
