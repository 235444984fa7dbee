//! The actor layer: ticket and order actors behind registries, the hold supervisor, and the
//! account service.
//!
//! It may use `domain` and `store`; it knows nothing of HTTP. A command arrives as one
//! message to one entity actor, which applies a domain rule, commits the event through the
//! store, and replies once the commit is durable. Reads that need no serialising (listings,
//! snapshots) go straight to the store's projections, which are written before every reply.

pub mod accounts;
pub mod error;
pub mod holds;
pub mod order;
pub mod passwords;
pub mod payments;
pub mod queries;
pub mod registry;
pub mod ticket;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use actix_rt::ArbiterHandle;

use crate::clock::IdGenerator;
use crate::domain::events::FollowUp;
use crate::histogram::Histogram;
use crate::payments::PaymentGateway;
use error::EntityError;
use holds::HoldWake;
use order::OrderActor;
use registry::Registry;
use ticket::{MarkTicketSold, ReleaseTicket, TicketActor};

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
    /// The app's time (`clock::Clock`): deadlines, expiries, the age of charges.
    pub clock: crate::clock::Clock,
}

/// Everything an actor may reach: the store, the registries, the hold supervisor's wake-up,
/// the id generator. Cheap to clone; every actor holds one.
#[derive(Clone)]
pub struct Actors {
    pub store: crate::store::Store,
    pub tickets: Registry<TicketActor>,
    pub orders: Registry<OrderActor>,
    pub holds: Arc<HoldWake>,
    /// How late holds end: from each hold's deadline to its `OrderExpired` commit, recorded
    /// by order actors as they expire them (`/metrics`, and the hold benchmark).
    pub expiry_lag: Arc<Histogram>,
    pub ids: Arc<IdGenerator>,
    pub settings: Arc<Settings>,
    /// Stripe, or the offline test gateway.
    pub payments: Arc<dyn PaymentGateway>,
    /// Orders whose payment could not be settled even by looking it up once it was too old
    /// to ask again: a person must look (`/metrics`, and the log names each). Kept by the
    /// `PaymentSettler`.
    pub payments_for_the_operator: Arc<std::sync::atomic::AtomicUsize>,
}

impl Actors {
    /// Builds the registries, spreading actors over `arbiters`.
    pub fn new(
        store: crate::store::Store,
        ids: Arc<IdGenerator>,
        settings: Settings,
        payments: Arc<dyn PaymentGateway>,
        arbiters: Vec<ArbiterHandle>,
    ) -> Actors {
        let actors = Actors {
            tickets: Registry::new(store.clone(), arbiters.clone(), settings.idle_after),
            orders: Registry::new(store.clone(), arbiters, settings.idle_after),
            store,
            holds: holds::new_wake(),
            expiry_lag: Arc::new(Histogram::new()),
            ids,
            settings: Arc::new(settings),
            payments,
            payments_for_the_operator: Arc::default(),
        };
        let for_tickets = actors.clone();
        actors.tickets.set_factory(move |_, ticket, life| {
            TicketActor::new(ticket, for_tickets.clone(), life)
        });
        let for_orders = actors.clone();
        actors
            .orders
            .set_factory(move |_, order, life| OrderActor::new(order, for_orders.clone(), life));
        actors
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

    /// Live actors by kind, for the metrics page.
    pub fn live_actors(&self) -> [(&'static str, usize); 2] {
        [
            ("ticket", self.tickets.live()),
            ("order", self.orders.live()),
        ]
    }

    /// Breaks the reference cycles through the registries so the store can close.
    pub fn shutdown(&self) {
        self.tickets.shutdown();
        self.orders.shutdown();
    }
}
