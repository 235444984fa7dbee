//! The order actor: cancel, expire and pay one order, one message at a time.
//!
//! An order is born in the ticket actor (`ticket.rs`: one `OrderCreated` creates it and holds
//! the ticket); from its first message on, this actor owns it. Like the ticket actor it
//! decides and commits synchronously (`entity.rs`). Cancel and expire answer only once the
//! ticket is released (`reply_after_follow_up`), so a second cancel cannot answer 204 before
//! the ticket is for sale again. The order actor may wait on a ticket actor; a ticket actor
//! never waits on an order actor, so there is no cycle to deadlock. Paying is in
//! `paying.rs`.
//!
//! Lifecycle: activated by `Registry<OrderActor>`, passivated when idle.

use actix::prelude::*;

use super::Services;
use super::entity::EntityActor;
use super::error::EntityError;
use super::registry::Passivation;
use crate::store::{PriorState, Store, StoreError};
use domain::events::Event;
use domain::ids::{OrderId, UserId};
use domain::order::{self, Order, OrderCommand};

pub struct OrderActor {
    pub(super) order: Order,
    pub(super) services: Services,
    pub(super) passivation: Passivation<OrderActor>,
    /// Set while a call to the payment gateway for this order is out (`paying.rs`): one
    /// call at a time per order. The call holds the actor busy, so a passivation cannot
    /// forget the flag while it is set.
    pub(super) paying: std::rc::Rc<std::cell::Cell<bool>>,
}

impl OrderActor {
    pub fn new(
        order: Order,
        services: Services,
        passivation: Passivation<OrderActor>,
    ) -> OrderActor {
        OrderActor {
            order,
            services,
            passivation,
            paying: Default::default(),
        }
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.passivation.start(ctx);
    }
}

impl EntityActor for OrderActor {
    type Id = OrderId;
    type State = Order;
    const KIND: &'static str = "order";

    fn load(store: &Store, id: OrderId) -> Result<Option<Order>, StoreError> {
        store.projections().order(id)
    }

    fn evolve(state: Option<Order>, event: &Event) -> Option<Order> {
        order::evolve(state, event)
    }

    fn prior(state: &Order) -> PriorState<'_> {
        PriorState::Order(state)
    }

    fn state(&self) -> &Order {
        &self.order
    }

    fn state_mut(&mut self) -> &mut Order {
        &mut self.order
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
        let decision = order::decide(&self.order, OrderCommand::Cancel { by: msg.by });
        let change = self.commit(decision, ctx);
        self.reply_after_follow_up(change, Order::clone)
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
        let now = self.services.settings.clock.now();
        let change = self.commit(
            order::decide(&self.order, OrderCommand::Expire { now }),
            ctx,
        );
        if matches!(change, Ok(super::entity::Change::Committed { .. })) {
            let lag_ms = now.millis().saturating_sub(self.order.expires_at.millis());
            self.services.expiry_lag.record(lag_ms as f64 / 1000.0);
        }
        self.reply_after_follow_up(change, Order::clone)
    }
}
