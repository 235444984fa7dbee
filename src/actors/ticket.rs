//! The ticket actor: the one place a ticket's state changes.
//!
//! Every mutation of a ticket is a message to its actor, handled to completion without an
//! `.await`: decide, commit (journal append + projections), update memory. Only then does
//! the reply future await durability, so two buyers racing for a ticket are two messages in
//! one mailbox and the second sees the first's hold. A reservation is ONE `OrderCreated`
//! event, which creates the order and holds the ticket at once.
//!
//! Lifecycle: activated by `Registry<TicketActor>` on the first message, passivated when
//! idle; holds a clone of `Actors` (store, registries, hold supervisor's wake-up).

use actix::prelude::*;

use super::Actors;
use super::error::EntityError;
use super::registry::{Entity, Life};
use crate::domain::events::Event;
use crate::domain::ids::{OrderId, TicketId, UserId};
use crate::domain::money::Price;
use crate::domain::order::{self, Order};
use crate::domain::ticket::{self, Ticket, TicketCommand, Title};
use crate::domain::version::Version;
use crate::store::{Commit, Known, Store, StoreError};

pub struct TicketActor {
    ticket: Ticket,
    actors: Actors,
    life: Life<TicketActor>,
}

impl TicketActor {
    pub fn new(ticket: Ticket, actors: Actors, life: Life<TicketActor>) -> TicketActor {
        TicketActor {
            ticket,
            actors,
            life,
        }
    }

    /// Decides, commits and applies one command synchronously. `Ok(None)`: nothing changed.
    fn execute(
        &mut self,
        command: TicketCommand,
        ctx: &mut Context<Self>,
    ) -> Result<Option<(Event, Commit)>, EntityError> {
        self.life.touch();
        let Some(event) = ticket::decide(&self.ticket, command)? else {
            return Ok(None);
        };
        let commit = self
            .actors
            .store
            .commit(&event, Known::Ticket(&self.ticket))
            .inspect_err(|_| {
                // The journal may hold the event while memory does not: start afresh from the
                // store at the next message rather than answer from doubtful state.
                self.life.leave_registry();
                ctx.stop();
            })?;
        if let Some(next) = ticket::evolve(Some(self.ticket.clone()), &event) {
            self.ticket = next;
        }
        Ok(Some((event, commit)))
    }

    /// The reply future for a committed change: finish the commit, await durability, answer.
    fn reply<T: 'static>(
        &self,
        commit: Commit,
        value: T,
    ) -> ResponseFuture<Result<T, EntityError>> {
        commit.finish();
        let busy = self.life.busy();
        let store = self.actors.store.clone();
        Box::pin(async move {
            store.durable().await?;
            drop(busy);
            Ok(value)
        })
    }
}

impl Actor for TicketActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.life.start(ctx);
    }
}

impl Entity for TicketActor {
    type Id = TicketId;
    type State = Ticket;
    const KIND: &'static str = "ticket";

    fn load(store: &Store, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        store.ticket(id)
    }

    fn life(&mut self) -> &mut Life<Self> {
        &mut self.life
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
        match self.execute(command, ctx) {
            Ok(Some((_, commit))) => self.reply(commit, self.ticket.clone()),
            Ok(None) => Box::pin(std::future::ready(Ok(self.ticket.clone()))),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
}

/// A buyer reserves the ticket: creates the order and places the hold in one event.
#[derive(Message, Clone)]
#[rtype(result = "Result<Order, EntityError>")]
pub struct ReserveTicket {
    pub buyer: UserId,
}

impl Handler<ReserveTicket> for TicketActor {
    type Result = ResponseFuture<Result<Order, EntityError>>;

    #[tracing::instrument(name = "Reserving a ticket", skip_all, fields(ticket_id = %self.ticket.id, user_id = %msg.buyer))]
    fn handle(&mut self, msg: ReserveTicket, ctx: &mut Context<Self>) -> Self::Result {
        let expires_at = self
            .actors
            .settings
            .clock
            .now()
            .plus_secs(self.actors.settings.hold_secs);
        let command = TicketCommand::Reserve {
            order_id: OrderId::new(self.actors.ids.next()),
            buyer: msg.buyer,
            expires_at,
        };
        match self.execute(command, ctx) {
            Ok(Some((event, commit))) => match order::evolve(None, &event) {
                Some(order) => {
                    self.actors.holds.hold_placed(expires_at);
                    self.reply(commit, order)
                }
                None => {
                    commit.finish();
                    Box::pin(std::future::ready(Err(EntityError::NotFound)))
                }
            },
            // Reserving always changes a ticket it accepts; an accepted no-op cannot happen.
            Ok(None) => Box::pin(std::future::ready(Err(EntityError::NotFound))),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
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
        match self.execute(
            TicketCommand::Release {
                order_id: msg.order_id,
            },
            ctx,
        ) {
            Ok(Some((_, commit))) => self.reply(commit, ()),
            Ok(None) => Box::pin(std::future::ready(Ok(()))),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
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
        match self.execute(
            TicketCommand::MarkSold {
                order_id: msg.order_id,
            },
            ctx,
        ) {
            Ok(Some((_, commit))) => self.reply(commit, ()),
            Ok(None) => Box::pin(std::future::ready(Ok(()))),
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }
}

/// Reserves `ticket_id` for `buyer`, within the cap on how many tickets one buyer may hold
/// at once: a place among the buyer's holds is claimed first, so that concurrent
/// reservations by one buyer cannot overshoot the cap together; the reservation's commit
/// makes it a hold, and a reservation that fails (or whose request is dropped) gives it
/// back.
pub async fn reserve(
    actors: &Actors,
    ticket_id: TicketId,
    buyer: UserId,
) -> Result<Order, EntityError> {
    let cap = actors.settings.max_holds_per_buyer;
    let mut refused = None;
    let claimed = actors.store.claim_hold(buyer, ticket_id, |held| {
        refused = order::may_hold_another(held, cap).err();
        refused.is_none()
    });
    if !claimed {
        return Err(refused.map_or(EntityError::Unavailable, EntityError::from));
    }
    let _place = HoldPlace {
        store: &actors.store,
        buyer,
        ticket_id,
    };
    actors.tickets.ask(ticket_id, ReserveTicket { buyer }).await
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

/// Lists a new ticket. A fresh id cannot be contended, so creation needs no actor: it
/// commits directly, and the ticket's actor is activated by its first later message.
pub async fn create_ticket(
    actors: &Actors,
    owner: UserId,
    title: Title,
    price: Price,
) -> Result<Ticket, EntityError> {
    let event = ticket::create(TicketId::new(actors.ids.next()), owner, title, price);
    actors.store.commit(&event, Known::Nothing)?.finish();
    actors.store.durable().await?;
    ticket::evolve(None, &event).ok_or(EntityError::NotFound)
}
