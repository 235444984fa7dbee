//! The on-sale: the tickets of an event are listed before the start; at the start, the
//! buyers arrive within the ramp, each reads what is for sale, tries those tickets in random
//! order until one holds or every one is taken, and pays for the one it holds.
//!
//! Each buyer is one step of the open-loop driver (its arrival is the step's intended time), so
//! buyers keep arriving on schedule however the shop copes, and a buyer's first request counts its
//! latency from the moment it arrived. A buyer reads the first page of the listing (GET
//! /api/tickets?limit=100), tries the event's tickets on it in random order, reads the listing
//! again when every one was refused, and leaves when the listing has none of the event's tickets
//! left or after as many attempts as there are tickets. Uses `client`, `ledger` and `stats`; the
//! figures it returns are computed here and nowhere else.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::client::{Api, Session};
use super::ledger::Ledger;
use super::scenario::CARD_TOKEN;
use super::stats::{Percentiles, latency_histogram, micros};

/// Tickets one listing read asks for: the first page of what is for sale, as an event page
/// shows it. Everyone sees the same oldest tickets first and goes for them, which is the
/// contention of a real on-sale (and keeps each read small while thousands arrive).
const PAGE: u64 = 100;

/// The window in which the peak rate of holds is counted: short, because a popular sale
/// sells out within a second.
const PEAK_WINDOW: Duration = Duration::from_millis(100);

/// The scenario's shared state: the buyers, the event's tickets, and what happened.
pub struct OnSale {
    api: Api,
    ledger: std::sync::Arc<Ledger>,
    /// The buyers, with their index among all users (the seller is user 0).
    buyers: Vec<(usize, Session)>,
    tickets: HashSet<String>,
    outcome: Mutex<Outcome>,
}

/// What the buyers met, gathered as they go.
struct Outcome {
    first_arrival: Option<Instant>,
    /// When each hold's 201 arrived.
    holds_at: Vec<Instant>,
    /// Latency of the reservations that answered 201.
    hold_latency: Histogram<u64>,
    /// From a buyer's arrival to its hold's 201.
    time_to_hold: Histogram<u64>,
    paid: u64,
    /// Buyers who left with nothing because the listing had no ticket left.
    sold_out_to: u64,
    /// Buyers who left with nothing after as many attempts as there are tickets, or whose
    /// listing read failed.
    gave_up: u64,
}

/// How a buyer's visit ended.
enum Visit {
    Held { order: String, at: Instant },
    SoldOut,
    GaveUp,
}

impl OnSale {
    /// An on-sale of `tickets` to `buyers`.
    pub fn new(
        api: Api,
        ledger: std::sync::Arc<Ledger>,
        buyers: Vec<(usize, Session)>,
        tickets: Vec<String>,
    ) -> OnSale {
        OnSale {
            api,
            ledger,
            buyers,
            tickets: tickets.into_iter().collect(),
            outcome: Mutex::new(Outcome {
                first_arrival: None,
                holds_at: Vec::new(),
                hold_latency: latency_histogram(),
                time_to_hold: latency_histogram(),
                paid: 0,
                sold_out_to: 0,
                gave_up: 0,
            }),
        }
    }

    /// The page size of a listing read.
    fn page(&self) -> u32 {
        page(self.tickets.len())
    }

    fn with<R>(&self, change: impl FnOnce(&mut Outcome) -> R) -> R {
        // Each change is a few additions; a panic elsewhere cannot leave them torn.
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut outcome)
    }

    /// Buyer `seq` arrives at `arrived`, shops, and pays for what it holds.
    pub async fn step(self: std::sync::Arc<Self>, seq: u64, arrived: Instant) {
        let Some((user, session)) = usize::try_from(seq).ok().and_then(|i| self.buyers.get(i))
        else {
            return;
        };
        self.with(|o| {
            o.first_arrival = Some(o.first_arrival.map_or(arrived, |first| first.min(arrived)));
        });
        match self.shop(*user, session, arrived).await {
            Visit::Held { order, at } => {
                let reply = self.api.pay(session, &order, CARD_TOKEN, at).await;
                if reply.body.is_some() {
                    self.ledger.paid(&order);
                    self.with(|o| o.paid += 1);
                }
            }
            Visit::SoldOut => self.with(|o| o.sold_out_to += 1),
            Visit::GaveUp => self.with(|o| o.gave_up += 1),
        }
    }

    async fn shop(&self, user: usize, session: &Session, arrived: Instant) -> Visit {
        let mut sent = arrived;
        let mut attempts = 0;
        let limit = self.page();
        loop {
            let page = self.api.list_tickets(None, limit, sent).await;
            sent = Instant::now();
            let Some(page) = page.body else {
                return Visit::GaveUp;
            };
            let mut for_sale: Vec<String> = page
                .into_iter()
                .filter(|t| t.order_id.is_none() && self.tickets.contains(&t.id))
                .map(|t| t.id)
                .collect();
            if for_sale.is_empty() {
                return Visit::SoldOut;
            }
            for_sale.shuffle(&mut rand::rng());
            for ticket in for_sale {
                if attempts >= self.tickets.len() {
                    return Visit::GaveUp;
                }
                attempts += 1;
                let reply = self.api.reserve(session, &ticket, sent).await;
                let answered = Instant::now();
                if let Some(order) = reply.body {
                    self.ledger.reserved(&order.id, &ticket, user);
                    self.with(|o| {
                        o.holds_at.push(answered);
                        o.hold_latency.saturating_record(micros(answered - sent));
                        o.time_to_hold.saturating_record(micros(answered - arrived));
                    });
                    return Visit::Held {
                        order: order.id,
                        at: answered,
                    };
                }
                sent = answered;
            }
        }
    }

    /// The sale's figures, once every buyer has finished.
    pub fn summary(&self) -> OnSaleSummary {
        self.with(|o| {
            let buyers = self.buyers.len() as u64;
            let tickets = self.tickets.len() as u64;
            let served = o.holds_at.len() as u64;
            let mut holds = o.holds_at.clone();
            holds.sort_unstable();
            let since_start = |at: Instant| {
                o.first_arrival.map_or(0.0, |first| {
                    at.saturating_duration_since(first).as_secs_f64()
                })
            };
            OnSaleSummary {
                buyers,
                tickets,
                served,
                paid: o.paid,
                sold_out_to: o.sold_out_to,
                gave_up: o.gave_up,
                served_share: if buyers == 0 {
                    0.0
                } else {
                    served as f64 / buyers as f64
                },
                sold_out: served >= tickets,
                last_hold_secs: holds.last().map(|at| since_start(*at)),
                peak_holds_per_sec: peak_rate(&holds, PEAK_WINDOW),
                hold_latency_ms: Percentiles::of(&o.hold_latency),
                time_to_hold_ms: Percentiles::of(&o.time_to_hold),
            }
        })
    }
}

/// The page size of a listing read for an on-sale of `tickets`.
fn page(tickets: usize) -> u32 {
    u32::try_from(tickets.min(PAGE as usize)).unwrap_or(u32::MAX)
}

/// Before the start: the buyers read the listing's first page, so the event's `tickets`
/// must be on it (a fresh shop, or one whose older tickets are all sold).
pub async fn check_listing(api: &Api, tickets: &[String]) -> anyhow::Result<()> {
    let reply = api
        .list_tickets(None, page(tickets.len()), Instant::now())
        .await;
    let Some(listed) = reply.body else {
        anyhow::bail!(
            "Failed to read the listing before the on-sale: {}",
            reply.describe()
        );
    };
    if !listed.iter().any(|t| tickets.contains(&t.id)) {
        anyhow::bail!(
            "The on-sale's tickets are not on the first page of GET /api/tickets: other \
             tickets for sale come first. Run the on-sale against a fresh shop."
        );
    }
    Ok(())
}

/// The most events in any window of `window` among `sorted`, as a rate per second.
fn peak_rate(sorted: &[Instant], window: Duration) -> f64 {
    let mut start = 0;
    let mut most = 0;
    for (end, at) in sorted.iter().enumerate() {
        while at.saturating_duration_since(sorted[start]) >= window {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most as f64 / window.as_secs_f64()
}

/// The on-sale's figures.
#[derive(Clone, Debug, Serialize)]
pub struct OnSaleSummary {
    pub buyers: u64,
    pub tickets: u64,
    /// Buyers who got a hold (a 201 to POST /api/orders); each buyer holds at most one.
    pub served: u64,
    /// Holds paid for (201 to POST /api/payments).
    pub paid: u64,
    /// Buyers who found nothing left for sale.
    pub sold_out_to: u64,
    /// Buyers who left with nothing otherwise: a failed listing, or too many refusals.
    pub gave_up: u64,
    /// `served` over `buyers`.
    pub served_share: f64,
    /// Whether every ticket was held.
    pub sold_out: bool,
    /// From the first buyer's arrival to the last hold's 201: the time to sell out when
    /// `sold_out`.
    pub last_hold_secs: Option<f64>,
    /// Holds per second in the busiest 100 ms.
    pub peak_holds_per_sec: f64,
    /// Latency of the reservations that answered 201.
    pub hold_latency_ms: Percentiles,
    /// From a buyer's arrival to its hold: its listing reads and refused attempts included.
    pub time_to_hold_ms: Percentiles,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rate_counts_the_busiest_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = [at(0), at(10), at(500), at(520), at(540), at(599), at(700)];
        let peak = peak_rate(&times, Duration::from_millis(100));
        assert!(
            (peak - 40.0).abs() < 1e-9,
            "four holds within 100 ms: {peak}"
        );
        assert_eq!(peak_rate(&[], Duration::from_millis(100)), 0.0);
    }
}
