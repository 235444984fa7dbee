//! The order actor: cancel, expire and pay one order, one message at a time.
//!
//! Like the ticket actor it decides and commits synchronously. Cancel and expire then keep
//! the actor exclusive (`AtomicResponse`) while they await durability and the ticket's
//! release, so a second cancel cannot answer 204 before the ticket is for sale again
//! ("effects are visible when the reply arrives"). The order actor may wait on a ticket
//! actor; a ticket actor never waits on an order actor, so there is no cycle to deadlock.
//!
//! Lifecycle: activated by `Registry<OrderActor>`, passivated when idle.

use actix::prelude::*;

use super::Actors;
use super::error::EntityError;
use super::registry::{Entity, Life};
use crate::domain::events::Event;
use crate::domain::ids::{OrderId, UserId};
use crate::domain::order::{self, Order, OrderCommand};
use crate::store::{Commit, Known, Store, StoreError};

pub struct OrderActor {
    pub(super) order: Order,
    pub(super) actors: Actors,
    pub(super) life: Life<OrderActor>,
    /// Set while a call to the payment gateway for this order is out (`actors/payments.rs`):
    /// one call at a time per order. The call holds the actor busy, so a passivation cannot
    /// forget the flag while it is set.
    pub(super) paying: std::rc::Rc<std::cell::Cell<bool>>,
}

impl OrderActor {
    pub fn new(order: Order, actors: Actors, life: Life<OrderActor>) -> OrderActor {
        OrderActor {
            order,
            actors,
            life,
            paying: Default::default(),
        }
    }

    /// Decides, commits and applies one command synchronously. `Ok(None)`: nothing changed.
    pub(super) fn execute(
        &mut self,
        command: OrderCommand,
        ctx: &mut Context<Self>,
    ) -> Result<Option<(Event, Commit)>, EntityError> {
        self.life.touch();
        let Some(event) = order::decide(&self.order, command)? else {
            return Ok(None);
        };
        let commit = self
            .actors
            .store
            .commit(&event, Known::Order(&self.order))
            .inspect_err(|_| {
                self.life.leave_registry();
                ctx.stop();
            })?;
        if let Some(next) = order::evolve(Some(self.order.clone()), &event) {
            self.order = next;
        }
        Ok(Some((event, commit)))
    }

    /// Awaits durability and the event's follow-up (releasing or selling the ticket) with the
    /// actor held exclusive, then answers with the order as it now is.
    pub(super) fn complete_with_follow_up(
        &self,
        event: &Event,
        commit: Commit,
    ) -> AtomicResponse<Self, Result<Order, EntityError>> {
        let actors = self.actors.clone();
        let order = self.order.clone();
        let follow_up = event.follow_up();
        let busy = self.life.busy();
        AtomicResponse::new(Box::pin(
            async move {
                actors.store.durable().await?;
                if let Some(follow_up) = follow_up {
                    actors.follow_up(follow_up).await?;
                }
                commit.finish();
                drop(busy);
                Ok(order)
            }
            .into_actor(self),
        ))
    }

    pub(super) fn answer(
        &self,
        result: Result<Order, EntityError>,
    ) -> AtomicResponse<Self, Result<Order, EntityError>> {
        AtomicResponse::new(Box::pin(actix::fut::ready(result)))
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.life.start(ctx);
    }
}

impl Entity for OrderActor {
    type Id = OrderId;
    type State = Order;
    const KIND: &'static str = "order";

    fn load(store: &Store, id: OrderId) -> Result<Option<Order>, StoreError> {
        store.order(id)
    }

    fn life(&mut self) -> &mut Life<Self> {
        &mut self.life
    }
}

/// The buyer cancels (idempotent; 409 once paid or while a payment is in flight).
#[derive(Message, Clone)]
#[rtype(result = "Result<Order, EntityError>")]
pub struct CancelOrder {
    pub by: UserId,
}

impl Handler<CancelOrder> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, EntityError>>;

    #[tracing::instrument(name = "Cancelling an order", skip_all, fields(order_id = %self.order.id, user_id = %msg.by))]
    fn handle(&mut self, msg: CancelOrder, ctx: &mut Context<Self>) -> Self::Result {
        match self.execute(OrderCommand::Cancel { by: msg.by }, ctx) {
            Ok(Some((event, commit))) => self.complete_with_follow_up(&event, commit),
            Ok(None) => self.answer(Ok(self.order.clone())),
            Err(error) => self.answer(Err(error)),
        }
    }
}

/// The hold supervisor found the order's deadline passed. A no-op unless the order is still
/// `created` and due.
#[derive(Message, Clone)]
#[rtype(result = "Result<Order, EntityError>")]
pub struct ExpireOrder;

impl Handler<ExpireOrder> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, EntityError>>;

    #[tracing::instrument(name = "Expiring a hold", skip_all, fields(order_id = %self.order.id))]
    fn handle(&mut self, _: ExpireOrder, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.actors.settings.clock.now();
        match self.execute(OrderCommand::Expire { now }, ctx) {
            Ok(Some((event, commit))) => {
                let lag = now.millis().saturating_sub(self.order.expires_at.millis());
                self.actors.expiry_lag.record(lag);
                self.complete_with_follow_up(&event, commit)
            }
            Ok(None) => self.answer(Ok(self.order.clone())),
            Err(error) => self.answer(Err(error)),
        }
    }
}
