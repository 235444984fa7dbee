//! The indexes: which tickets are for sale, each seller's tickets, each buyer's orders, the
//! hold deadlines, the payments in flight, who owns each email. All in memory.
//!
//! An index is a function of the snapshots, so instead of being persisted (a sled key per
//! entry, each costing a node split on the commit path) it is rebuilt from the snapshots when
//! the store opens and kept up to date by `Projections::apply`, which hands every snapshot
//! change to `Indexes::update` as (old, new). Nothing here is ever written to disk, so a
//! crash cannot leave an index out of step with its snapshots.
//!
//! Memory per entry (docs/ARCHITECTURE.md, "Memory"): a ticket 12 bytes in its seller's list
//! and, while for sale, 12 more in a B-tree; an order 12 bytes in its buyer's list, a pending
//! hold 20 bytes in a B-tree, a payment in flight 12 bytes, an account its email and 12 bytes
//! in a hash map, a buyer with unpaid holds 16 bytes.

use std::collections::{BTreeSet, HashMap};

use domain::ids::{OrderId, TicketId, UserId};
use domain::order::{Order, OrderStatus};
use domain::ticket::Ticket;
use domain::time::Timestamp;
use domain::user::User;

#[derive(Default)]
pub(crate) struct Indexes {
    /// Tickets for sale, oldest first (ids sort by creation time).
    listing: BTreeSet<TicketId>,
    /// Each buyer's orders, oldest first.
    buyer_orders: HashMap<UserId, Vec<OrderId>>,
    /// Each seller's tickets in every state, oldest first.
    seller_tickets: HashMap<UserId, Vec<TicketId>>,
    /// Holds that run out unless paid first, and payments abandoned unless the buyer
    /// authenticates them first, soonest first.
    deadlines: BTreeSet<(Timestamp, OrderId)>,
    /// Orders whose payment outcome is not yet known.
    awaiting_payment: BTreeSet<OrderId>,
    /// Each buyer's unpaid holds (created or awaiting payment); absent means none.
    holds_of: HashMap<UserId, u32>,
    /// Reservations under way that have claimed a place among their buyer's holds
    /// (`claim_hold`), by the ticket they are for. The reservation's `OrderCreated` turns
    /// its claim into a hold in one step, so the count is never one too many or too few.
    hold_claims: HashMap<UserId, Vec<TicketId>>,
    /// Normalised email -> account.
    emails: HashMap<String, UserId>,
    /// Emails claimed by signups in progress (not yet committed). Kept with `emails` under
    /// one lock so that claiming checks both at once; lost with the process, like the
    /// signups they belong to.
    claims: HashMap<String, UserId>,
}

impl Indexes {
    /// Moves a ticket's entries from what `old` implied to what `new` implies.
    pub(crate) fn ticket_changed(&mut self, old: Option<&Ticket>, new: &Ticket) {
        if old.is_none() {
            insert_in_order(self.seller_tickets.entry(new.owner).or_default(), new.id);
        }
        let listed = |t: &Ticket| t.is_for_sale();
        if old.map(listed) != Some(listed(new)) {
            if listed(new) {
                self.listing.insert(new.id);
            } else {
                self.listing.remove(&new.id);
            }
        }
    }

    pub(crate) fn order_changed(&mut self, old: Option<&Order>, new: &Order) {
        if old.is_none() {
            self.release_hold(new.buyer, new.ticket.id);
            insert_in_order(self.buyer_orders.entry(new.buyer).or_default(), new.id);
        }
        let old_deadline = old.and_then(Order::deadline);
        if old.is_none() || old_deadline != new.deadline() {
            if let Some(at) = old_deadline {
                self.deadlines.remove(&(at, new.id));
            }
            if let Some(at) = new.deadline() {
                self.deadlines.insert((at, new.id));
            }
        }
        let unpaid = |o: &Order| o.status.holds_unpaid();
        if old.map(unpaid) != Some(unpaid(new)) && (unpaid(new) || old.is_some()) {
            adjust(&mut self.holds_of, new.buyer, unpaid(new));
        }
        let awaiting = |o: &Order| o.status == OrderStatus::AwaitingPayment;
        if old.map(awaiting) != Some(awaiting(new)) {
            if awaiting(new) {
                self.awaiting_payment.insert(new.id);
            } else {
                self.awaiting_payment.remove(&new.id);
            }
        }
    }

    /// Claims a place for one more hold of `buyer`, for `ticket`, if `allowed` says the
    /// holds they have and the reservations already under way leave room. The reservation's
    /// commit turns the claim into a hold; `release_hold` gives back one that did not
    /// commit (a no-op for one that did).
    pub(crate) fn claim_hold(
        &mut self,
        buyer: UserId,
        ticket: TicketId,
        allowed: impl FnOnce(u32) -> bool,
    ) -> bool {
        let claims = self.hold_claims.get(&buyer).map_or(0, Vec::len);
        let held = self.holds_of.get(&buyer).copied().unwrap_or(0);
        if !allowed(held + u32::try_from(claims).unwrap_or(u32::MAX)) {
            return false;
        }
        self.hold_claims.entry(buyer).or_default().push(ticket);
        true
    }

    pub(crate) fn release_hold(&mut self, buyer: UserId, ticket: TicketId) {
        if let Some(claims) = self.hold_claims.get_mut(&buyer) {
            if let Some(at) = claims.iter().position(|t| *t == ticket) {
                claims.swap_remove(at);
            }
            if claims.is_empty() {
                self.hold_claims.remove(&buyer);
            }
        }
    }

    pub(crate) fn user_changed(&mut self, new: &User) {
        self.claims.remove(new.email.as_str());
        self.emails.insert(new.email.as_str().to_owned(), new.id);
    }

    /// Claims `email` for a signup by `user`; false when an account or another signup in
    /// progress has it.
    pub(crate) fn claim(&mut self, email: &str, user: UserId) -> bool {
        if self.emails.contains_key(email) || self.claims.contains_key(email) {
            return false;
        }
        self.claims.insert(email.to_owned(), user);
        true
    }

    /// Gives `user`'s claim on `email` back (a signup that failed before its commit).
    pub(crate) fn release_claim(&mut self, email: &str, user: UserId) {
        if self.claims.get(email) == Some(&user) {
            self.claims.remove(email);
        }
    }

    /// Up to `limit` tickets for sale after `after`, oldest first.
    pub(crate) fn listed_after(&self, after: Option<TicketId>, limit: usize) -> Vec<TicketId> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.listing
            .range((lower, Bound::Unbounded))
            .take(limit)
            .copied()
            .collect()
    }

    /// Up to `limit` of a buyer's orders after `after`, oldest first.
    pub(crate) fn orders_of(
        &self,
        buyer: UserId,
        after: Option<OrderId>,
        limit: usize,
    ) -> Vec<OrderId> {
        page(self.buyer_orders.get(&buyer), after, limit)
    }

    /// Up to `limit` of a seller's tickets after `after`, oldest first, in every state.
    pub(crate) fn tickets_of(
        &self,
        seller: UserId,
        after: Option<TicketId>,
        limit: usize,
    ) -> Vec<TicketId> {
        page(self.seller_tickets.get(&seller), after, limit)
    }

    /// Up to `limit` orders whose deadline is at or before `now`, soonest first.
    pub(crate) fn due(&self, now: Timestamp, limit: usize) -> Vec<OrderId> {
        self.deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .take(limit)
            .map(|(_, id)| *id)
            .collect()
    }

    pub(crate) fn earliest_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    pub(crate) fn pending_holds(&self) -> usize {
        self.deadlines.len()
    }

    pub(crate) fn awaiting_payment(&self) -> Vec<OrderId> {
        self.awaiting_payment.iter().copied().collect()
    }

    pub(crate) fn owner_of(&self, email: &str) -> Option<UserId> {
        self.emails.get(email).copied()
    }
}

/// Entities arrive in commit order, which two threads may make differ slightly from id
/// order: insert in place (almost always at the end), once.
fn insert_in_order<Id: Ord + Copy>(ids: &mut Vec<Id>, id: Id) {
    let at = ids.partition_point(|known| *known < id);
    if ids.get(at) != Some(&id) {
        ids.insert(at, id);
    }
}

/// Up to `limit` ids after `after` from an ordered list.
fn page<Id: Ord + Copy>(ids: Option<&Vec<Id>>, after: Option<Id>, limit: usize) -> Vec<Id> {
    let Some(ids) = ids else {
        return Vec::new();
    };
    let from = after.map_or(0, |after| ids.partition_point(|id| *id <= after));
    ids[from..].iter().take(limit).copied().collect()
}

/// Adds one to, or takes one from, a count kept only while it is above zero.
fn adjust(counts: &mut HashMap<UserId, u32>, user: UserId, up: bool) {
    if up {
        *counts.entry(user).or_default() += 1;
    } else if let Some(count) = counts.get_mut(&user) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::RawId;
    use domain::money::Price;
    use domain::order::TicketSummary;
    use domain::ticket::Title;
    use domain::version::Version;

    fn ticket(n: u64) -> Ticket {
        Ticket {
            id: TicketId::new(RawId::from_parts(10, n)),
            owner: UserId::new(RawId::from_parts(1, 1)),
            title: Title::parse("Gig").expect("valid"),
            price: Price::from_cents(2000).expect("valid"),
            version: Version::INITIAL,
            order_id: None,
            sold: false,
            withdrawn: false,
        }
    }

    fn order(n: u64, buyer: u64, status: OrderStatus) -> Order {
        let t = ticket(n);
        Order {
            id: OrderId::new(RawId::from_parts(20, n)),
            buyer: UserId::new(RawId::from_parts(1, buyer)),
            ticket: TicketSummary {
                id: t.id,
                title: t.title,
                price: t.price,
                version: Version::new(1),
            },
            status,
            expires_at: Timestamp::from_millis(1_000 * n),
            version: Version::INITIAL,
            charge_id: None,
            abandon_at: None,
        }
    }

    #[test]
    fn a_ticket_leaves_the_listing_when_held_and_returns_when_released() {
        let mut indexes = Indexes::default();
        let free = ticket(1);
        indexes.ticket_changed(None, &free);
        indexes.ticket_changed(None, &ticket(2));
        assert_eq!(indexes.listed_after(None, 10).len(), 2);
        let held = Ticket {
            order_id: Some(OrderId::new(RawId::from_parts(20, 1))),
            ..free.clone()
        };
        indexes.ticket_changed(Some(&free), &held);
        assert_eq!(indexes.listed_after(None, 10), vec![ticket(2).id]);
        indexes.ticket_changed(Some(&held), &free);
        assert_eq!(indexes.listed_after(None, 10), vec![free.id, ticket(2).id]);
        assert_eq!(indexes.listed_after(Some(free.id), 10), vec![ticket(2).id]);
    }

    #[test]
    fn an_order_is_due_while_created_and_in_flight_while_awaiting_payment() {
        let mut indexes = Indexes::default();
        let created = order(2, 7, OrderStatus::Created);
        indexes.order_changed(None, &order(3, 7, OrderStatus::Created));
        indexes.order_changed(None, &created);
        assert_eq!(indexes.pending_holds(), 2);
        assert_eq!(indexes.earliest_deadline(), Some(created.expires_at));
        assert_eq!(
            indexes.due(Timestamp::from_millis(2_000), 10),
            vec![created.id]
        );
        let paying = Order {
            status: OrderStatus::AwaitingPayment,
            ..created.clone()
        };
        indexes.order_changed(Some(&created), &paying);
        assert_eq!(indexes.pending_holds(), 1);
        assert_eq!(indexes.awaiting_payment(), vec![created.id]);
        // Waiting on the buyer's authentication: due again, at the abandonment deadline.
        let authenticating = Order {
            abandon_at: Some(Timestamp::from_millis(2_500)),
            ..paying.clone()
        };
        indexes.order_changed(Some(&paying), &authenticating);
        assert_eq!(indexes.pending_holds(), 2);
        assert!(indexes.due(Timestamp::from_millis(2_499), 10).is_empty());
        assert_eq!(
            indexes.due(Timestamp::from_millis(2_500), 10),
            vec![created.id]
        );
        indexes.order_changed(Some(&authenticating), &paying);
        assert_eq!(indexes.pending_holds(), 1);
        let paid = Order {
            status: OrderStatus::Complete,
            ..created.clone()
        };
        indexes.order_changed(Some(&paying), &paid);
        assert!(indexes.awaiting_payment().is_empty());
        // The buyer's orders stay in id order whatever order they were added in.
        let buyer = created.buyer;
        let third = order(3, 7, OrderStatus::Created).id;
        assert_eq!(indexes.orders_of(buyer, None, 10), vec![created.id, third]);
        assert_eq!(indexes.orders_of(buyer, Some(created.id), 10), vec![third]);
        assert_eq!(indexes.orders_of(buyer, None, 1), vec![created.id]);
    }
}
