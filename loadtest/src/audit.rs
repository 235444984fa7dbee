//! The audit: read the end state back over the API and hold it to what the server
//! acknowledged during the run.
//!
//! `read_back` does the HTTP (every user's GET /api/orders, then GET /api/tickets/:id for
//! every ticket involved); `check` is a pure function of the ledger's facts and what was
//! read, so its rules are unit-tested without a server. Uses `client` and `ledger` only.
//! The server's API tests judge their end states with the same `check`
//! (tests/api/audit.rs), so a rule changed here changes there too.
//!
//! The audit assumes the shop is quiet while it reads (the run is over, no other clients,
//! no hold running out between reading an order and reading its ticket).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use anyhow::bail;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use super::client::{Api, OrderView, Session, TicketView, is_live};
use super::ledger::Facts;
use super::stats::Answer;

/// The end state as the API shows it.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Every user's orders: (user index, order).
    pub orders: Vec<(usize, OrderView)>,
    /// Every ticket involved, by id; `None` when it answered 404.
    pub tickets: BTreeMap<String, Option<TicketView>>,
}

/// Reads every user's orders, then every ticket created or ordered, `concurrency` at a time.
/// A read that fails (other than a ticket's 404, which `check` judges) is a fatal error: an
/// audit that cannot read cannot pass.
pub async fn read_back(
    api: &Api,
    users: &[Session],
    facts: &Facts,
    concurrency: usize,
) -> anyhow::Result<Observed> {
    let per_user: Vec<Vec<(usize, OrderView)>> = stream::iter(users.iter().enumerate())
        .map(|(index, user)| async move {
            let reply = api.list_orders(user, Instant::now()).await;
            let Some(orders) = reply.body else {
                bail!(
                    "Failed to read the orders of {} for the audit: {}",
                    user.email,
                    reply.describe()
                );
            };
            Ok::<_, anyhow::Error>(orders.into_iter().map(|o| (index, o)).collect())
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let orders: Vec<(usize, OrderView)> = per_user.into_iter().flatten().collect();

    let ids: BTreeSet<&str> = facts
        .tickets
        .iter()
        .map(String::as_str)
        .chain(orders.iter().map(|(_, o)| o.ticket.id.as_str()))
        .collect();
    let tickets = stream::iter(ids)
        .map(|id| async move {
            let reply = api.show_ticket(id, Instant::now()).await;
            if reply.answer == Answer::Status(404) {
                return Ok((id.to_owned(), None));
            }
            match reply.body {
                Some(ticket) => Ok((id.to_owned(), Some(ticket))),
                None => bail!(
                    "Failed to read ticket {id} for the audit: {}",
                    reply.describe()
                ),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(Observed { orders, tickets })
}

/// A way the end state contradicts the rules or what the server acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// Two or more live orders (created, awaiting:payment, complete) for one ticket: held
    /// or sold twice.
    TicketHeldTwice {
        ticket_id: String,
        orders: Vec<String>,
    },
    /// A ticket whose `orderId` is not its one live order.
    TicketOrderMismatch {
        ticket_id: String,
        live_order: String,
        ticket_order: Option<String>,
    },
    /// A ticket held by an order that is no longer live, or by no order any user has.
    TicketHeldByDeadOrder {
        ticket_id: String,
        order_id: String,
        status: Option<String>,
    },
    /// A ticket created with a 201 that now answers 404.
    TicketLost { ticket_id: String },
    /// An order created with a 201 that is not in its buyer's orders (or names another
    /// ticket).
    ReservedOrderMissing { order_id: String, ticket_id: String },
    /// An order paid with a 201 that is not complete.
    PaidOrderNotComplete {
        order_id: String,
        status: Option<String>,
    },
    /// An order cancelled with a 204 that is not cancelled.
    CancelledOrderNotCancelled {
        order_id: String,
        status: Option<String>,
    },
    /// Race: more than one buyer was told they got the ticket.
    RaceWonTwice {
        ticket_id: String,
        orders: Vec<String>,
    },
    /// Race: every buyer got a definite answer and all were refused.
    RaceWonByNobody { ticket_id: String, refused: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = |s: &Option<String>| s.clone().unwrap_or_else(|| "missing".to_owned());
        match self {
            Violation::TicketHeldTwice { ticket_id, orders } => write!(
                f,
                "ticket {ticket_id} is held or sold twice: live orders {}",
                orders.join(", ")
            ),
            Violation::TicketOrderMismatch {
                ticket_id,
                live_order,
                ticket_order,
            } => write!(
                f,
                "ticket {ticket_id} names order {} but its live order is {live_order}",
                ticket_order.as_deref().unwrap_or("none")
            ),
            Violation::TicketHeldByDeadOrder {
                ticket_id,
                order_id,
                status: Some(s),
            } => write!(
                f,
                "ticket {ticket_id} is held by order {order_id}, which is {s}"
            ),
            Violation::TicketHeldByDeadOrder {
                ticket_id,
                order_id,
                status: None,
            } => write!(
                f,
                "ticket {ticket_id} is held by order {order_id}, which no load-test user has"
            ),
            Violation::TicketLost { ticket_id } => {
                write!(f, "ticket {ticket_id} was created (201) but answers 404")
            }
            Violation::ReservedOrderMissing {
                order_id,
                ticket_id,
            } => write!(
                f,
                "order {order_id} for ticket {ticket_id} was created (201) but is not in its buyer's orders"
            ),
            Violation::PaidOrderNotComplete {
                order_id,
                status: s,
            } => write!(f, "order {order_id} was paid (201) but is {}", status(s)),
            Violation::CancelledOrderNotCancelled {
                order_id,
                status: s,
            } => write!(
                f,
                "order {order_id} was cancelled (204) but is {}",
                status(s)
            ),
            Violation::RaceWonTwice { ticket_id, orders } => write!(
                f,
                "race: {} buyers were given ticket {ticket_id}: orders {}",
                orders.len(),
                orders.join(", ")
            ),
            Violation::RaceWonByNobody { ticket_id, refused } => write!(
                f,
                "race: all {refused} buyers of ticket {ticket_id} were refused, and none won"
            ),
        }
    }
}

/// `ok` of `of` acknowledgements held up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub ok: u64,
    pub of: u64,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.of += 1;
        self.ok += u64::from(ok);
    }
}

/// The audit's verdict and what it looked at.
#[derive(Clone, Debug, Serialize)]
pub struct Findings {
    /// No violation.
    pub passed: bool,
    /// Users whose GET /api/orders was read.
    pub users_read: u64,
    pub orders_read: u64,
    /// Orders created, awaiting:payment or complete.
    pub live_orders: u64,
    /// Tickets read back: every one created, and every one ordered.
    pub tickets_checked: u64,
    /// Orders created (201) that are in their buyer's orders.
    pub reserved_present: Tally,
    /// Orders paid (201) that are complete.
    pub paid_complete: Tally,
    /// Orders cancelled (204) that are cancelled.
    pub cancelled_cancelled: Tally,
    /// Race only: tickets won by exactly one buyer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race_won_once: Option<Tally>,
    pub violations: Vec<Violation>,
}

/// Holds the end state to the rules and to the acknowledgements.
pub fn check(facts: &Facts, observed: &Observed, users: usize) -> Findings {
    let mut violations = Vec::new();
    let orders: BTreeMap<&str, (usize, &OrderView)> = observed
        .orders
        .iter()
        .map(|(user, order)| (order.id.as_str(), (*user, order)))
        .collect();
    let status_of = |id: &str| orders.get(id).map(|(_, o)| o.status.clone());

    // No ticket held or sold twice; each held ticket names its one live order.
    let mut live: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, order) in orders.values() {
        if order.is_live() {
            live.entry(order.ticket.id.as_str())
                .or_default()
                .push(order.id.as_str());
        }
    }
    for (ticket_id, ticket) in &observed.tickets {
        let Some(ticket) = ticket else {
            violations.push(Violation::TicketLost {
                ticket_id: ticket_id.clone(),
            });
            continue;
        };
        let live_orders = live.get(ticket_id.as_str()).map_or(&[][..], Vec::as_slice);
        match live_orders {
            [] => {
                if let Some(order_id) = &ticket.order_id {
                    violations.push(Violation::TicketHeldByDeadOrder {
                        ticket_id: ticket_id.clone(),
                        order_id: order_id.clone(),
                        status: status_of(order_id),
                    });
                }
            }
            [one] => {
                if ticket.order_id.as_deref() != Some(*one) {
                    violations.push(Violation::TicketOrderMismatch {
                        ticket_id: ticket_id.clone(),
                        live_order: (*one).to_owned(),
                        ticket_order: ticket.order_id.clone(),
                    });
                }
            }
            several => violations.push(Violation::TicketHeldTwice {
                ticket_id: ticket_id.clone(),
                orders: several.iter().map(|o| (*o).to_owned()).collect(),
            }),
        }
    }

    // Every acknowledgement is reflected in the end state.
    let mut reserved_present = Tally::default();
    for reserved in &facts.reserved {
        let present = orders
            .get(reserved.order_id.as_str())
            .is_some_and(|(user, o)| *user == reserved.user && o.ticket.id == reserved.ticket_id);
        reserved_present.add(present);
        if !present {
            violations.push(Violation::ReservedOrderMissing {
                order_id: reserved.order_id.clone(),
                ticket_id: reserved.ticket_id.clone(),
            });
        }
    }
    let mut paid_complete = Tally::default();
    for order_id in &facts.paid {
        let status = status_of(order_id);
        let complete = status.as_deref() == Some("complete");
        paid_complete.add(complete);
        if !complete {
            violations.push(Violation::PaidOrderNotComplete {
                order_id: order_id.clone(),
                status,
            });
        }
    }
    let mut cancelled_cancelled = Tally::default();
    for order_id in &facts.cancelled {
        let status = status_of(order_id);
        let cancelled = status.as_deref() == Some("cancelled");
        cancelled_cancelled.add(cancelled);
        if !cancelled {
            violations.push(Violation::CancelledOrderNotCancelled {
                order_id: order_id.clone(),
                status,
            });
        }
    }

    // The race: exactly one winner per ticket whenever every buyer got a definite answer.
    let race_won_once = (!facts.race.is_empty()).then(|| {
        let mut won_once = Tally::default();
        for (ticket_id, tally) in &facts.race {
            won_once.add(tally.winners.len() == 1);
            if tally.winners.len() > 1 {
                violations.push(Violation::RaceWonTwice {
                    ticket_id: ticket_id.clone(),
                    orders: tally.winners.clone(),
                });
            } else if tally.winners.is_empty() && tally.undecided == 0 {
                violations.push(Violation::RaceWonByNobody {
                    ticket_id: ticket_id.clone(),
                    refused: tally.refused,
                });
            }
        }
        won_once
    });

    Findings {
        passed: violations.is_empty(),
        users_read: users as u64,
        orders_read: orders.len() as u64,
        live_orders: orders.values().filter(|(_, o)| is_live(&o.status)).count() as u64,
        tickets_checked: observed.tickets.len() as u64,
        reserved_present,
        paid_complete,
        cancelled_cancelled,
        race_won_once,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::OrderTicketView;
    use crate::ledger::{RaceTally, Reserved};

    fn order(id: &str, ticket: &str, status: &str) -> OrderView {
        OrderView {
            id: id.to_owned(),
            status: status.to_owned(),
            ticket: OrderTicketView {
                id: ticket.to_owned(),
            },
        }
    }

    fn ticket(id: &str, order: Option<&str>) -> (String, Option<TicketView>) {
        let view = TicketView {
            id: id.to_owned(),
            user_id: "seller".to_owned(),
            order_id: order.map(str::to_owned),
        };
        (id.to_owned(), Some(view))
    }

    fn reserved(order_id: &str, ticket_id: &str, user: usize) -> Reserved {
        Reserved {
            order_id: order_id.to_owned(),
            ticket_id: ticket_id.to_owned(),
            user,
        }
    }

    /// One sold ticket, one cancelled order on another, as a healthy run leaves them.
    fn healthy() -> (Facts, Observed) {
        let facts = Facts {
            tickets: vec!["t1".into(), "t2".into()],
            reserved: vec![reserved("o1", "t1", 0), reserved("o2", "t2", 1)],
            paid: vec!["o1".into()],
            cancelled: vec!["o2".into()],
            race: BTreeMap::new(),
        };
        let observed = Observed {
            orders: vec![
                (0, order("o1", "t1", "complete")),
                (1, order("o2", "t2", "cancelled")),
            ],
            tickets: [ticket("t1", Some("o1")), ticket("t2", None)].into(),
        };
        (facts, observed)
    }

    #[test]
    fn a_consistent_end_state_passes() {
        let (facts, observed) = healthy();
        let findings = check(&facts, &observed, 2);
        assert!(findings.passed, "{:?}", findings.violations);
        assert_eq!(findings.reserved_present, Tally { ok: 2, of: 2 });
        assert_eq!(findings.paid_complete, Tally { ok: 1, of: 1 });
        assert_eq!(findings.live_orders, 1);
    }

    #[test]
    fn two_live_orders_for_one_ticket_are_a_double_sale() {
        let (facts, mut observed) = healthy();
        observed.orders.push((1, order("o3", "t1", "created")));
        let findings = check(&facts, &observed, 2);
        assert!(!findings.passed);
        assert_eq!(
            findings.violations,
            vec![Violation::TicketHeldTwice {
                ticket_id: "t1".into(),
                orders: vec!["o1".into(), "o3".into()],
            }]
        );
    }

    #[test]
    fn every_contradiction_of_an_acknowledgement_is_named() {
        type Spoil = Box<dyn Fn(&mut Facts, &mut Observed)>;
        let cases: Vec<(&str, Spoil, Violation)> = vec![
            (
                "a held ticket naming another order",
                Box::new(|_, o| {
                    o.tickets.insert("t1".into(), ticket("t1", Some("ox")).1);
                }),
                Violation::TicketOrderMismatch {
                    ticket_id: "t1".into(),
                    live_order: "o1".into(),
                    ticket_order: Some("ox".into()),
                },
            ),
            (
                "a ticket still held by its cancelled order",
                Box::new(|_, o| {
                    o.tickets.insert("t2".into(), ticket("t2", Some("o2")).1);
                }),
                Violation::TicketHeldByDeadOrder {
                    ticket_id: "t2".into(),
                    order_id: "o2".into(),
                    status: Some("cancelled".into()),
                },
            ),
            (
                "a created ticket that is gone",
                Box::new(|_, o| {
                    o.tickets.insert("t2".into(), None);
                }),
                Violation::TicketLost {
                    ticket_id: "t2".into(),
                },
            ),
            (
                "an acknowledged order that is missing",
                Box::new(|f, _| f.reserved.push(reserved("o9", "t2", 1))),
                Violation::ReservedOrderMissing {
                    order_id: "o9".into(),
                    ticket_id: "t2".into(),
                },
            ),
            (
                "a paid order that is not complete",
                Box::new(|f, _| f.paid.push("o2".into())),
                Violation::PaidOrderNotComplete {
                    order_id: "o2".into(),
                    status: Some("cancelled".into()),
                },
            ),
            (
                "a cancelled order that is not cancelled",
                Box::new(|f, _| f.cancelled.push("o1".into())),
                Violation::CancelledOrderNotCancelled {
                    order_id: "o1".into(),
                    status: Some("complete".into()),
                },
            ),
            (
                "a race ticket given to two buyers",
                Box::new(|f, _| {
                    f.race.insert(
                        "t1".into(),
                        RaceTally {
                            winners: vec!["o1".into(), "o5".into()],
                            refused: 8,
                            undecided: 0,
                        },
                    );
                }),
                Violation::RaceWonTwice {
                    ticket_id: "t1".into(),
                    orders: vec!["o1".into(), "o5".into()],
                },
            ),
            (
                "a race ticket refused to everyone",
                Box::new(|f, _| {
                    f.race.insert(
                        "t2".into(),
                        RaceTally {
                            winners: vec![],
                            refused: 10,
                            undecided: 0,
                        },
                    );
                }),
                Violation::RaceWonByNobody {
                    ticket_id: "t2".into(),
                    refused: 10,
                },
            ),
        ];
        for (why, spoil, expected) in cases {
            let (mut facts, mut observed) = healthy();
            spoil(&mut facts, &mut observed);
            let findings = check(&facts, &observed, 2);
            assert_eq!(findings.violations, vec![expected], "{why}");
            assert!(!findings.passed, "{why}");
        }
    }

    #[test]
    fn a_race_ticket_with_unanswered_buyers_may_have_no_known_winner() {
        let (mut facts, observed) = healthy();
        facts.race.insert(
            "t2".into(),
            RaceTally {
                winners: vec![],
                refused: 7,
                undecided: 3,
            },
        );
        let findings = check(&facts, &observed, 2);
        assert!(findings.passed, "{:?}", findings.violations);
        assert_eq!(findings.race_won_once, Some(Tally { ok: 0, of: 1 }));
    }
}
