//! What the simulated users do: the purchase race and the marketplace mix.
//!
//! A scenario turns one step of the driver into one API call and writes every
//! acknowledgement into the ledger for the audit. It uses `client`, `ledger` and `stats`;
//! no server internals.
//!
//! The marketplace mix, per step (one request each):
//!
//! | action  | share | request                                  |
//! |---------|-------|------------------------------------------|
//! | browse  | 40 %  | GET /api/tickets?limit=20 (half the time after a random cursor) |
//! | view    | 28 %  | GET /api/tickets/:id                     |
//! | sell    |  8 %  | POST /api/tickets                        |
//! | reserve | 12 %  | POST /api/orders for a ticket seen while browsing |
//! | pay     |  8 %  | POST /api/payments with tok_visa         |
//! | cancel  |  4 %  | DELETE /api/orders/:id                   |
//!
//! Browsing and viewing dominate, as in any shop; two in three reservations are paid and
//! one in three is cancelled, and sellers list about as many tickets as buyers pay for, so
//! a long run does not sell out. An action the user cannot do yet falls back: pay or cancel
//! with no order held reserves, and reserve with nothing seen for sale browses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rand::Rng;
use rand::seq::IndexedRandom;
use tokio::sync::Semaphore;

use super::client::{Api, Session, TicketView};
use super::ledger::Ledger;

/// The card token the offline test gateway (and Stripe's test mode) accepts.
pub const CARD_TOKEN: &str = "tok_visa";

/// Tickets per page when browsing.
const PAGE: u32 = 20;

/// The purchase race: for each ticket, `buyers.len()` reservations sent together.
pub struct Race {
    /// Records into the run's recorder.
    pub api: Api,
    pub ledger: Arc<Ledger>,
    /// The tickets raced for, one round each.
    pub tickets: Vec<String>,
    /// The buyers of every ticket, with their index among all users.
    pub buyers: Vec<(usize, Session)>,
}

impl Race {
    /// Step `seq` is buyer `seq % buyers` ordering ticket `seq / buyers`.
    pub async fn step(self: Arc<Self>, seq: u64, intended: Instant) {
        let per_ticket = self.buyers.len().max(1) as u64;
        let (Ok(ticket), Ok(buyer)) = (
            usize::try_from(seq / per_ticket),
            usize::try_from(seq % per_ticket),
        ) else {
            return;
        };
        let (Some(ticket_id), Some((user, session))) =
            (self.tickets.get(ticket), self.buyers.get(buyer))
        else {
            return;
        };
        let reply = self.api.reserve(session, ticket_id, intended).await;
        match &reply.body {
            Some(order) => {
                self.ledger.reserved(&order.id, ticket_id, *user);
                self.ledger.race_answer(ticket_id, Some(&order.id), false);
            }
            None => self
                .ledger
                .race_answer(ticket_id, None, reply.answer.is(409)),
        }
    }
}

/// One simulated marketplace user and what they remember between steps.
pub struct Shopper {
    /// Index among all users (the ledger names buyers by it).
    pub index: usize,
    pub session: Session,
    /// Tickets of others seen for sale on the last page browsed.
    seen: Vec<String>,
    /// Orders this user holds and has neither paid nor cancelled.
    holds: Vec<String>,
}

impl Shopper {
    /// User number `index`, remembering nothing yet.
    pub fn new(index: usize, session: Session) -> Shopper {
        Shopper {
            index,
            session,
            seen: Vec::new(),
            holds: Vec::new(),
        }
    }
}

/// One marketplace action; each is one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Browse,
    View,
    Sell,
    Reserve,
    Pay,
    Cancel,
}

/// The mix, in percent (see the module comment).
pub const MIX: [(Action, u32); 6] = [
    (Action::Browse, 40),
    (Action::View, 28),
    (Action::Sell, 8),
    (Action::Reserve, 12),
    (Action::Pay, 8),
    (Action::Cancel, 4),
];

/// The action for a roll in 0..100, after the fallbacks for what the shopper cannot do.
pub fn choose(roll: u32, holds_an_order: bool, has_seen_tickets: bool) -> Action {
    let mut left = roll;
    let wanted = MIX
        .iter()
        .find(|(_, share)| {
            let hit = left < *share;
            left = left.saturating_sub(*share);
            hit
        })
        .map_or(Action::Browse, |(action, _)| *action);
    let wanted = match wanted {
        Action::Pay | Action::Cancel if !holds_an_order => Action::Reserve,
        other => other,
    };
    match wanted {
        Action::Reserve | Action::View if !has_seen_tickets => Action::Browse,
        other => other,
    }
}

/// The marketplace: shoppers taken from a pool (one step per shopper at a time, as a
/// person does one thing at a time), and every ticket id known to the run.
pub struct Marketplace {
    api: Api,
    ledger: Arc<Ledger>,
    shoppers: Pool<Shopper>,
    /// Every ticket listed during the run, for random cursors.
    catalogue: Mutex<Vec<String>>,
}

impl Marketplace {
    /// A marketplace of `shoppers` who start out knowing of `tickets`.
    pub fn new(
        api: Api,
        ledger: Arc<Ledger>,
        shoppers: Vec<Shopper>,
        tickets: Vec<String>,
    ) -> Marketplace {
        Marketplace {
            api,
            ledger,
            shoppers: Pool::new(shoppers),
            catalogue: Mutex::new(tickets),
        }
    }

    /// One request by the next free shopper.
    pub async fn step(self: Arc<Self>, seq: u64, intended: Instant) {
        let Some(mut shopper) = self.shoppers.take().await else {
            return;
        };
        let roll = rand::rng().random_range(0..100);
        let action = choose(roll, !shopper.holds.is_empty(), !shopper.seen.is_empty());
        self.perform(&mut shopper, action, seq, intended).await;
        self.shoppers.put(shopper);
    }

    async fn perform(&self, shopper: &mut Shopper, action: Action, seq: u64, intended: Instant) {
        let api = &self.api;
        match action {
            Action::Browse => {
                let cursor = self.random_cursor();
                let reply = api.list_tickets(cursor.as_deref(), PAGE, intended).await;
                if let Some(page) = reply.body {
                    shopper.seen = for_sale_by_others(page, &shopper.session.id);
                }
            }
            Action::View => {
                // Bound first: the thread-local generator must not live across the await.
                let id = shopper.seen.choose(&mut rand::rng()).cloned();
                if let Some(id) = id {
                    api.show_ticket(&id, intended).await;
                }
            }
            Action::Sell => {
                let cents = rand::rng().random_range(500..=20_000);
                let title = format!("Load test ticket {seq}");
                let reply = api
                    .create_ticket(&shopper.session, &title, cents, intended)
                    .await;
                if let Some(ticket) = reply.body {
                    self.ledger.ticket_created(&ticket.id);
                    self.catalogue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(ticket.id);
                }
            }
            Action::Reserve => {
                let Some(ticket_id) = take_random(&mut shopper.seen) else {
                    return;
                };
                let reply = api.reserve(&shopper.session, &ticket_id, intended).await;
                if let Some(order) = reply.body {
                    self.ledger.reserved(&order.id, &ticket_id, shopper.index);
                    shopper.holds.push(order.id);
                }
            }
            Action::Pay => {
                let Some(order_id) = take_random(&mut shopper.holds) else {
                    return;
                };
                let reply = api
                    .pay(&shopper.session, &order_id, CARD_TOKEN, intended)
                    .await;
                if reply.body.is_some() {
                    self.ledger.paid(&order_id);
                }
            }
            Action::Cancel => {
                let Some(order_id) = take_random(&mut shopper.holds) else {
                    return;
                };
                let reply = api.cancel(&shopper.session, &order_id, intended).await;
                if reply.body.is_some() {
                    self.ledger.cancelled(&order_id);
                }
            }
        }
    }

    /// Half the time none (the first page), else a random known ticket.
    fn random_cursor(&self) -> Option<String> {
        let mut rng = rand::rng();
        if rng.random_bool(0.5) {
            return None;
        }
        let catalogue = self
            .catalogue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        catalogue.choose(&mut rng).cloned()
    }
}

fn for_sale_by_others(page: Vec<TicketView>, me: &str) -> Vec<String> {
    page.into_iter()
        .filter(|t| t.user_id != me && t.order_id.is_none())
        .map(|t| t.id)
        .collect()
}

fn take_random(items: &mut Vec<String>) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let index = rand::rng().random_range(0..items.len());
    Some(items.swap_remove(index))
}

/// A pool of values each used by one task at a time: `take` waits for a free one.
struct Pool<T> {
    free: Mutex<VecDeque<T>>,
    available: Semaphore,
}

impl<T> Pool<T> {
    fn new(items: Vec<T>) -> Pool<T> {
        let count = items.len();
        Pool {
            free: Mutex::new(items.into()),
            available: Semaphore::new(count),
        }
    }

    /// The longest-idle value; `None` only if the pool was closed, which never happens.
    async fn take(&self) -> Option<T> {
        self.available.acquire().await.ok()?.forget();
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn put(&self, item: T) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(item);
        self.available.add_permits(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_adds_up_to_one_hundred_percent() {
        assert_eq!(MIX.iter().map(|(_, share)| share).sum::<u32>(), 100);
    }

    #[test]
    fn every_roll_picks_the_action_of_its_share() {
        let all = |roll| choose(roll, true, true);
        let counted = |action| (0..100).filter(|r| all(*r) == action).count() as u32;
        for (action, share) in MIX {
            assert_eq!(counted(action), share, "{action:?}");
        }
    }

    #[test]
    fn actions_a_shopper_cannot_do_fall_back_to_reserving_or_browsing() {
        let cases = [
            // (roll, holds an order, has seen tickets, expected, why)
            (
                90,
                false,
                true,
                Action::Reserve,
                "pay without an order reserves",
            ),
            (
                98,
                false,
                true,
                Action::Reserve,
                "cancel without an order reserves",
            ),
            (
                90,
                false,
                false,
                Action::Browse,
                "and with nothing seen, browses",
            ),
            (
                80,
                true,
                false,
                Action::Browse,
                "reserve with nothing seen browses",
            ),
            (
                50,
                true,
                false,
                Action::Browse,
                "view with nothing seen browses",
            ),
            (90, true, false, Action::Pay, "pay needs no browsing"),
        ];
        for (roll, holds, seen, expected, why) in cases {
            assert_eq!(choose(roll, holds, seen), expected, "{why}");
        }
    }

    #[test]
    fn a_page_keeps_only_tickets_of_others_that_are_for_sale() {
        let ticket = |id: &str, owner: &str, order: Option<&str>| TicketView {
            id: id.to_owned(),
            user_id: owner.to_owned(),
            order_id: order.map(str::to_owned),
        };
        let page = vec![
            ticket("a", "me", None),
            ticket("b", "you", None),
            ticket("c", "you", Some("o")),
        ];
        assert_eq!(for_sale_by_others(page, "me"), vec!["b".to_owned()]);
    }
}
