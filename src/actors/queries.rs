//! Reads: snapshots and listings straight from the projections.
//!
//! Reads need no actor: the projections show every committed change (the overlay before
//! sled, and the indexes in memory), so a read sees every change that was answered. Scans
//! run on the blocking pool so a long listing never stalls an arbiter.

use super::Services;
use super::error::EntityError;
use domain::ids::{OrderId, TicketId, UserId};
use domain::order::Order;
use domain::ticket::Ticket;

/// One page of the ticket feed's catch-up: tickets as they are now, each with the journal
/// position of its last change in the page, oldest first; and the last position the page
/// read, `None` at the end of the journal.
pub struct FeedPage {
    pub changes: Vec<(u64, Ticket)>,
    /// The tickets listed within the page (for a reader of new listings).
    pub listed: Vec<TicketId>,
    pub read_to: Option<u64>,
}

impl Services {
    /// A ticket anyone may read: a withdrawn one is gone (its seller still sees it in
    /// `tickets_of`).
    pub fn ticket(&self, id: TicketId) -> Result<Ticket, EntityError> {
        self.store
            .projections()
            .ticket(id)?
            .filter(|t| !t.withdrawn)
            .ok_or(EntityError::NotFound)
    }

    pub fn order(&self, id: OrderId) -> Result<Order, EntityError> {
        self.store
            .projections()
            .order(id)?
            .ok_or(EntityError::NotFound)
    }

    /// Up to `limit` tickets for sale listed after `after`, oldest first.
    pub async fn tickets_for_sale(
        &self,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, EntityError> {
        let store = self.store.clone();
        blocking(move || store.projections().tickets_for_sale(after, limit)).await
    }

    /// Up to `limit` of a seller's own tickets listed after `after`, oldest first, in every
    /// state.
    pub async fn tickets_of(
        &self,
        seller: UserId,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, EntityError> {
        let store = self.store.clone();
        blocking(move || store.projections().tickets_of(seller, after, limit)).await
    }

    /// Every ticket change from now on, each with its journal position (the live feed).
    pub fn ticket_feed(&self) -> tokio::sync::broadcast::Receiver<(u64, Ticket)> {
        self.store.subscribe_ticket_changes()
    }

    /// One page of a feed reader's catch-up from the journal (`Store::ticket_changes_after`).
    pub async fn ticket_changes_after(
        &self,
        after: u64,
        events: usize,
    ) -> Result<FeedPage, EntityError> {
        let store = self.store.clone();
        let (changes, listed, read_to) =
            blocking(move || store.ticket_changes_after(after, events)).await?;
        Ok(FeedPage {
            changes,
            listed,
            read_to,
        })
    }

    /// Up to `limit` of a buyer's orders placed after `after`, oldest first.
    pub async fn orders_of(
        &self,
        buyer: UserId,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, EntityError> {
        let store = self.store.clone();
        blocking(move || store.projections().orders_of(buyer, after, limit)).await
    }
}

async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, EntityError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|_| EntityError::Unavailable)?
        .map_err(EntityError::from)
}
