//! What the server told the load tester: every acknowledged ticket, reservation, payment and
//! cancellation, which the audit then holds the server to.
//!
//! Plain data behind one lock, written by the scenarios as answers arrive and read once by
//! the audit. No HTTP here.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// An order the server created for us (201 from POST /api/orders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub order_id: String,
    pub ticket_id: String,
    /// Index of the buyer among the signed-up users.
    pub user: usize,
}

/// How the buyers of one ticket in the race fared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RaceTally {
    /// Order ids of the 201 answers; exactly one is expected.
    pub winners: Vec<String>,
    /// 409 answers ("Ticket is already reserved").
    pub refused: u64,
    /// Anything else: errors, timeouts, 5xx. With any of these the winner may be unknown.
    pub undecided: u64,
}

/// Everything acknowledged during a run.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Tickets created (201 from POST /api/tickets), in setup or during the run.
    pub tickets: Vec<String>,
    pub reserved: Vec<Reserved>,
    /// Orders paid (201 from POST /api/payments).
    pub paid: Vec<String>,
    /// Orders cancelled (204 from DELETE /api/orders/:id).
    pub cancelled: Vec<String>,
    /// Per ticket, for the race scenario only.
    pub race: BTreeMap<String, RaceTally>,
}

/// The shared, append-only record of a run's acknowledgements.
#[derive(Default)]
pub struct Ledger {
    facts: Mutex<Facts>,
}

impl Ledger {
    /// An empty ledger; the run's scenarios and setup share it through an `Arc`.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    fn with<R>(&self, change: impl FnOnce(&mut Facts) -> R) -> R {
        // Every change is one push, so a panic elsewhere cannot leave the facts torn.
        let mut facts = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut facts)
    }

    /// A 201 from POST /api/tickets.
    pub fn ticket_created(&self, ticket_id: &str) {
        self.with(|f| f.tickets.push(ticket_id.to_owned()));
    }

    /// A 201 from POST /api/orders, by user number `user`.
    pub fn reserved(&self, order_id: &str, ticket_id: &str, user: usize) {
        self.with(|f| {
            f.reserved.push(Reserved {
                order_id: order_id.to_owned(),
                ticket_id: ticket_id.to_owned(),
                user,
            })
        });
    }

    /// A 201 from POST /api/payments.
    pub fn paid(&self, order_id: &str) {
        self.with(|f| f.paid.push(order_id.to_owned()));
    }

    /// A 204 from DELETE /api/orders/:id.
    pub fn cancelled(&self, order_id: &str) {
        self.with(|f| f.cancelled.push(order_id.to_owned()));
    }

    /// Opens the race's tally for a ticket, so a ticket nobody won still shows up.
    pub fn race_ticket(&self, ticket_id: &str) {
        self.with(|f| {
            f.race.entry(ticket_id.to_owned()).or_default();
        });
    }

    /// One buyer's answer in the race: `Some(order)` for a 201, `None` with `refused` for a
    /// 409, `None` otherwise.
    pub fn race_answer(&self, ticket_id: &str, won: Option<&str>, refused: bool) {
        self.with(|f| {
            let tally = f.race.entry(ticket_id.to_owned()).or_default();
            match won {
                Some(order_id) => tally.winners.push(order_id.to_owned()),
                None if refused => tally.refused += 1,
                None => tally.undecided += 1,
            }
        });
    }

    /// A copy of everything recorded so far.
    pub fn facts(&self) -> Facts {
        self.with(|f| f.clone())
    }
}
