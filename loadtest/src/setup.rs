//! Before the load: sign up the users and have the sellers list the tickets.
//!
//! Signups cost the server a password hash each (argon2, tens of milliseconds of CPU), so
//! they go out a few at a time and each session is kept for the whole run. A setup request
//! that fails is fatal: a run on half its users would measure something else; one refused
//! with 429 says how to lift the shop's rate limits. Uses `client` and `ledger` only.

use std::time::Instant;

use anyhow::bail;
use futures::{StreamExt, TryStreamExt, stream};
use indicatif::ProgressBar;
use rand::Rng;

use super::client::{Api, Reply, Session};
use super::ledger::Ledger;

/// Why a setup request failed, with the way out when the shop's rate limits refused it.
fn failure<T>(what: String, reply: &Reply<T>) -> anyhow::Error {
    if reply.answer.is(429) {
        anyhow::anyhow!(
            "{what}: 429 Too Many Requests: the shop's rate limits refused the load test's \
             setup; start the shop with --limits off (TICKETING_LIMITS=off) to load it"
        )
    } else {
        anyhow::anyhow!("{what}: {}", reply.describe())
    }
}

/// Signups in flight at once: enough to keep a few cores hashing, few enough not to queue
/// behind one another for long.
pub const SIGNUP_CONCURRENCY: usize = 8;

/// The password of every load-test user.
const PASSWORD: &str = "load-test-password";

/// Signs up `count` users with fresh emails (a random run id keeps runs apart on the same
/// shop), `concurrency` at a time, in index order.
pub async fn sign_up(
    api: &Api,
    count: usize,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Session>> {
    let run: u32 = rand::rng().random();
    stream::iter(0..count)
        .map(|index| async move {
            let email = format!("loadtest-{run:08x}-{index}@example.com");
            let reply = api.signup(&email, PASSWORD, Instant::now()).await;
            progress.inc(1);
            match reply.body {
                Some(session) => Ok(session),
                None => Err(failure(format!("Failed to sign up {email}"), &reply)),
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Lists `count` tickets, round-robin over `sellers`, `concurrency` at a time. Answers the
/// ticket ids in listing order; each is also in the ledger.
pub async fn list_tickets(
    api: &Api,
    sellers: &[Session],
    count: usize,
    concurrency: usize,
    ledger: &Ledger,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<String>> {
    if sellers.is_empty() {
        bail!("No seller to list tickets");
    }
    stream::iter(0..count)
        .map(|index| async move {
            let seller = &sellers[index % sellers.len()];
            let cents = 1_000 + (index as u64 % 90) * 100;
            let title = format!("Load test ticket {index}");
            let reply = api
                .create_ticket(seller, &title, cents, Instant::now())
                .await;
            progress.inc(1);
            match reply.body {
                Some(ticket) => {
                    ledger.ticket_created(&ticket.id);
                    Ok(ticket.id)
                }
                None => Err(failure(
                    format!("Failed to list ticket {index} as {}", seller.email),
                    &reply,
                )),
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}
