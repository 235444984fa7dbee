//! The hold supervisor: ends unpaid holds at their deadline, and payments left waiting on
//! the buyer's authentication (3-D Secure) at theirs.
//!
//! The deadline index in the store is the timer queue (DESIGN §3 "Timers are data"): the
//! supervisor sleeps until the earliest deadline in it, sends `ExpireOrder` to each due
//! order's actor (`AbandonPayment` to one whose payment waits on an authentication: its
//! deadline is the hold's plus `--authentication-grace-secs`), and plans again. A reservation with an earlier deadline than the one
//! planned wakes it through `HoldWake`. No timer lives only in memory, so a million pending
//! holds cost one index entry each, and holds that ran out while the process was down are
//! found by the first look at start-up.
//!
//! Lifecycle: started once by `lib.rs`; waits until start-up has replayed the journal, then
//! runs until its arbiter stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use tokio::sync::Notify;

use super::Services;
use super::error::EntityError;
use super::order::ExpireOrder;
use super::paying::AbandonPayment;
use crate::readiness::Readiness;
use domain::order::OrderStatus;
use domain::time::Timestamp;

/// Due holds read from the index per pass.
const BATCH: usize = 4096;
/// Expiries in flight at once.
const CONCURRENCY: usize = 128;
/// Pause after a pass that could expire nothing (a failing store or actor), so a broken
/// entry cannot spin the supervisor.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How reservations tell the supervisor about a deadline earlier than the one it sleeps to.
pub struct HoldWake {
    /// The deadline the supervisor is sleeping until, in milliseconds (`u64::MAX`: none).
    next: AtomicU64,
    notify: Notify,
}

impl HoldWake {
    /// Called after a reservation's deadline is in the index.
    pub fn hold_placed(&self, deadline: Timestamp) {
        if deadline.millis() < self.next.fetch_min(deadline.millis(), Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }
}

/// The supervisor actor. Holds a clone of `Services` for the store and the order registry.
pub struct HoldSupervisor {
    services: Services,
    readiness: Readiness,
}

impl HoldSupervisor {
    pub fn new(services: Services, readiness: Readiness) -> HoldSupervisor {
        HoldSupervisor {
            services,
            readiness,
        }
    }
}

impl Actor for HoldSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (services, readiness) = (self.services.clone(), self.readiness.clone());
        let after_start_up = async move {
            // The deadline index is complete only once the replay has run.
            if readiness.wait().await.is_ok() {
                watch(services).await;
            }
        };
        ctx.spawn(after_start_up.into_actor(self));
    }
}

/// Runs one "expire what is due" pass now; answers how many holds it ended.
#[derive(Message)]
#[rtype(result = "Result<usize, EntityError>")]
pub struct ExpireDue;

impl Handler<ExpireDue> for HoldSupervisor {
    type Result = ResponseFuture<Result<usize, EntityError>>;

    fn handle(&mut self, _: ExpireDue, _: &mut Context<Self>) -> Self::Result {
        let services = self.services.clone();
        Box::pin(async move {
            let now = services.settings.clock.now();
            expire_due(&services, now).await
        })
    }
}

async fn watch(services: Services) {
    let wake = services.holds.clone();
    loop {
        // Reset before reading the index: a reservation placed after this point lowers
        // `next` and notifies, one placed before it is already in the index.
        wake.next.store(u64::MAX, Ordering::Release);
        let earliest = services.store.projections().earliest_deadline();
        let now = services.settings.clock.now();
        match earliest {
            Some(deadline) if deadline <= now => match expire_due(&services, now).await {
                Ok(0) | Err(_) => tokio::time::sleep(RETRY_AFTER).await,
                Ok(_) => {}
            },
            Some(deadline) => {
                wake.next.fetch_min(deadline.millis(), Ordering::AcqRel);
                tokio::select! {
                    _ = services.settings.clock.sleep_until(deadline) => {}
                    _ = wake.notify.notified() => {}
                }
            }
            None => wake.notify.notified().await,
        }
    }
}

/// Expires every hold due at `now` (up to one batch), and abandons every payment whose
/// authentication is overdue; answers how many orders it ended.
pub async fn expire_due(services: &Services, now: Timestamp) -> Result<usize, EntityError> {
    let due = services.store.projections().due_holds(now, BATCH);
    let outcomes: Vec<_> = futures::stream::iter(due)
        .map(|order_id| {
            let services = services.clone();
            async move {
                // The snapshot only picks the message; the order actor decides on its own
                // state, so an order that changed since gets a no-op.
                let paying = matches!(
                    services.store.projections().order(order_id),
                    Ok(Some(order)) if order.status == OrderStatus::AwaitingPayment
                );
                let outcome = if paying {
                    services.orders.ask(order_id, AbandonPayment).await
                } else {
                    services.orders.ask(order_id, ExpireOrder).await
                };
                (order_id, outcome)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut ended = 0;
    for (order_id, outcome) in outcomes {
        match outcome {
            Ok(order) if order.status == OrderStatus::Cancelled => ended += 1,
            Ok(_) => {}
            Err(error) => tracing::error!(%order_id, ?error, "Failed to expire a hold"),
        }
    }
    if ended > 0 {
        tracing::info!(ended, "Expired holds");
    }
    Ok(ended)
}

/// A shared wake-up for a new supervisor.
pub fn new_wake() -> Arc<HoldWake> {
    Arc::new(HoldWake {
        next: AtomicU64::new(u64::MAX),
        notify: Notify::new(),
    })
}
