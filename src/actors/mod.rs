//! The actor layer: ticket and order actors behind registries, the hold supervisor, and the
//! account service.
//!
//! It may use `domain`, `store` and the payment gateway; it knows nothing of HTTP. A command
//! arrives as one message to one entity actor, which applies a domain rule, commits the
//! event through the store, and replies once the commit is durable (`entity.rs`). Reads that
//! need no serialising (listings, snapshots) go straight to the store's projections
//! (`queries.rs`), which show every committed change.

pub mod accounts;
pub mod entity;
pub mod error;
pub mod holds;
pub mod order;
pub mod passwords;
pub mod paying;
pub mod queries;
pub mod registry;
pub mod ticket;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_rt::ArbiterHandle;

use crate::clock::IdGenerator;
use crate::gateway::PaymentGateway;
use crate::store::Store;
use domain::events::FollowUp;
use domain::ids::{OrderId, TicketId, UserId};
use domain::order::Order;
use domain::ticket::Ticket;
use entity::EntityActor;
use error::EntityError;
use holds::HoldWake;
use order::{CancelOrder, OrderActor};
use paying::{PayOrder, PaymentStatus};
use registry::Registry;
use ticket::{MarkTicketSold, ReleaseTicket, TicketActor, UpdateTicket, WithdrawTicket};

/// Settings the actors read.
pub struct Settings {
    /// How long a reservation holds a ticket.
    pub hold_secs: u64,
    /// How long an idle actor lives before it passivates.
    pub idle_after: Duration,
    /// Tickets one buyer may hold at once (0: no cap).
    pub max_holds_per_buyer: u32,
    /// Past this age a charge of unknown outcome is looked up, never asked for again.
    pub payment_max_age_secs: u64,
    /// How long past its hold's deadline a payment may wait on the buyer's authentication
    /// before the hold supervisor abandons it.
    pub authentication_grace_secs: u64,
    /// The app's time (`clock::Clock`): deadlines, expiries, the age of charges.
    pub clock: crate::clock::Clock,
}

/// The shop's services: what an actor or a handler may reach. The HTTP layer sees only the
/// methods (commands go to one actor each, reads go to the projections, `vitals` feeds
/// `/metrics`); the fields are for the actors in this module. Cheap to clone; every actor
/// holds one.
#[derive(Clone)]
pub struct Services {
    pub(super) store: Store,
    pub(super) tickets: Registry<TicketActor>,
    pub(super) orders: Registry<OrderActor>,
    pub(super) holds: Arc<HoldWake>,
    /// How late holds end: from each hold's deadline to its `OrderExpired` commit, recorded
    /// by order actors as they expire them (`/metrics`, and the hold benchmark). A handle of
    /// the app's `Meters`.
    pub(super) expiry_lag: metrics::Histogram,
    pub(super) ids: Arc<IdGenerator>,
    pub(super) settings: Arc<Settings>,
    /// Stripe, or the offline test gateway.
    pub(super) gateway: Arc<dyn PaymentGateway>,
    /// Orders whose payment could not be settled even by looking it up once it was too old
    /// to ask again: a person must look (`/metrics`, and the log names each). Kept by the
    /// `PaymentSettler`.
    pub(super) payments_for_the_operator: Arc<AtomicUsize>,
}

impl Services {
    /// Builds the registries, spreading actors over `arbiters`; expired holds record their
    /// lag in `expiry_lag`.
    pub fn new(
        store: Store,
        ids: Arc<IdGenerator>,
        settings: Settings,
        gateway: Arc<dyn PaymentGateway>,
        arbiters: Vec<ArbiterHandle>,
        expiry_lag: metrics::Histogram,
    ) -> Services {
        let services = Services {
            tickets: Registry::new(store.clone(), arbiters.clone(), settings.idle_after),
            orders: Registry::new(store.clone(), arbiters, settings.idle_after),
            store,
            holds: holds::new_wake(),
            expiry_lag,
            ids,
            settings: Arc::new(settings),
            gateway,
            payments_for_the_operator: Arc::default(),
        };
        let for_tickets = services.clone();
        services.tickets.set_factory(move |_, ticket, passivation| {
            TicketActor::new(ticket, for_tickets.clone(), passivation)
        });
        let for_orders = services.clone();
        services.orders.set_factory(move |_, order, passivation| {
            OrderActor::new(order, for_orders.clone(), passivation)
        });
        services
    }

    /// Does the work an event implies in another entity (idempotent).
    pub async fn follow_up(&self, follow_up: FollowUp) -> Result<(), EntityError> {
        match follow_up {
            FollowUp::Release {
                ticket_id,
                order_id,
            } => {
                self.tickets
                    .ask(ticket_id, ReleaseTicket { order_id })
                    .await
            }
            FollowUp::MarkSold {
                ticket_id,
                order_id,
            } => {
                self.tickets
                    .ask(ticket_id, MarkTicketSold { order_id })
                    .await
            }
        }
    }

    // ----- commands, one actor each -----

    /// The owner edits a ticket.
    pub async fn update_ticket(
        &self,
        id: TicketId,
        update: UpdateTicket,
    ) -> Result<Ticket, EntityError> {
        self.tickets.ask(id, update).await
    }

    /// The owner withdraws a free ticket from sale.
    pub async fn withdraw_ticket(&self, id: TicketId, by: UserId) -> Result<(), EntityError> {
        self.tickets.ask(id, WithdrawTicket { by }).await
    }

    /// The buyer cancels an order.
    pub async fn cancel_order(&self, id: OrderId, by: UserId) -> Result<Order, EntityError> {
        self.orders.ask(id, CancelOrder { by }).await
    }

    /// The buyer pays for an order.
    pub async fn pay(&self, id: OrderId, pay: PayOrder) -> Result<PaymentStatus, EntityError> {
        self.orders.ask(id, pay).await
    }

    // ----- for /healthz and /metrics -----

    /// The store answers reads and no flush has failed (`/healthz`).
    pub fn is_healthy(&self) -> bool {
        self.store.is_healthy()
    }

    /// The figures `/metrics` shows, read now.
    pub fn vitals(&self) -> Vitals {
        Vitals {
            live_actors: [
                (TicketActor::KIND, self.tickets.live()),
                (OrderActor::KIND, self.orders.live()),
            ],
            committed: self.store.committed_counts(),
            ticket_changes: self.store.ticket_change_counts(),
            flush_stats: self.store.flush_stats(),
            pending_holds: self.store.projections().pending_holds(),
            unpersisted_changes: self.store.unpersisted_changes(),
            persisted_generations: self.store.persisted_generations(),
            payments_for_the_operator: self.payments_for_the_operator.load(Ordering::Relaxed),
        }
    }

    /// Breaks the reference cycles through the registries so the store can close.
    pub fn shutdown(&self) {
        self.tickets.shutdown();
        self.orders.shutdown();
    }
}

/// What `/metrics` shows of the services, read at one moment (the histograms are recorded
/// into `Meters` as things happen).
pub struct Vitals {
    pub live_actors: [(&'static str, usize); 2],
    /// Events committed since the process started, by tag.
    pub committed: Vec<(&'static str, u64)>,
    /// `TicketUpdated`s among them, by what they were: edited, released, sold.
    pub ticket_changes: Vec<(&'static str, u64)>,
    /// (group-commit flushes, durability waits they answered).
    pub flush_stats: (u64, u64),
    pub pending_holds: u64,
    pub unpersisted_changes: usize,
    pub persisted_generations: u64,
    pub payments_for_the_operator: usize,
}
