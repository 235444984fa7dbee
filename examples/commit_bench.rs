//! The storage share of a reservation: how fast the store alone commits `OrderCreated`
//! events, with no HTTP, actors or network in the way (docs/BENCHMARKS.md, "What bounds
//! reservations").
//!
//! Lists N tickets on a fresh store, then reserves each once, C at a time, in one of four
//! modes: `store` commits each `OrderCreated` as its ticket actor would, from C tasks on one
//! thread (as one HTTP worker runs its actors), each awaiting the group commit;
//! `store-read-back` does the same but lets the projections read the ticket back;
//! `sled-six-writes` has sled alone do the reservation's six writes (journal, ticket,
//! listing, order, buyer's orders, deadline) and `sled-journal-only` only the journal
//! insert, both flushed once per C reservations. Prints reservations per second and this
//! process's CPU time per reservation as JSON. Each mode runs in its own process, so
//! `bench/bench.py storage` alternates them round by round, pinned to one core:
//!
//!     taskset -c 1 cargo run --release --example commit_bench -- store 100000 256

use std::time::Instant;

use domain::events::Event;
use domain::ids::{OrderId, TicketId, UserId};
use domain::money::Price;
use domain::ticket::{self, Ticket, Title};
use ticketing::clock::{self, IdGenerator};
use ticketing::store::{PriorState, Store};

// The server's allocator: sled allocates on every write, so the figures depend on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODES: &str = "store | store-read-back | sled-six-writes | sled-journal-only";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || anyhow::anyhow!("usage: commit_bench {MODES} [TICKETS] [CONCURRENCY]");
    let mode = args.next().ok_or_else(usage)?;
    let tickets: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(256), |a| a.parse())?;
    let ids = IdGenerator::new(clock::Clock::system());
    match mode.as_str() {
        "store" => store(&ids, tickets, concurrency, true),
        "store-read-back" => store(&ids, tickets, concurrency, false),
        "sled-six-writes" => sled_alone(&ids, tickets, concurrency, true),
        "sled-journal-only" => sled_alone(&ids, tickets, concurrency, false),
        _ => Err(usage()),
    }
}

/// Our store, reservations committed as the ticket actor commits them (`known`: with the
/// ticket it holds) from `concurrency` tasks on one thread, each awaiting the group commit.
fn store(ids: &IdGenerator, tickets: usize, concurrency: usize, known: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("db"), 32 * 1024 * 1024)?;
    let reservations = reservations(ids, tickets, |event| {
        store.commit(event, PriorState::Unknown)?.finish();
        Ok(())
    })?;
    runtime.block_on(store.durable())?;
    store.settle();
    report(tickets, || {
        let committed =
            runtime.block_on(in_tasks(&reservations, concurrency, |(event, ticket)| {
                let store = store.clone();
                async move {
                    let known = if known {
                        PriorState::Ticket(&ticket)
                    } else {
                        PriorState::Unknown
                    };
                    store.commit(&event, known)?.finish();
                    store.durable().await?;
                    Ok(())
                }
            }));
        // The projections written behind the journal are part of the cost.
        store.settle();
        committed
    })
}

/// sled alone doing a reservation's six writes (journal, ticket, listing, order, buyer's
/// orders, deadline), or with `projections` false only the journal insert, flushed once per
/// `concurrency` reservations as the group commit would.
fn sled_alone(
    ids: &IdGenerator,
    tickets: usize,
    concurrency: usize,
    projections: bool,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(32 * 1024 * 1024)
        .open()?;
    let tree = |name: &str| db.open_tree(name);
    let (events, tickets_tree, listing) = (tree("events")?, tree("tickets")?, tree("listing")?);
    let (orders, user_orders, deadlines) =
        (tree("orders")?, tree("user_orders")?, tree("deadlines")?);
    let reservations = reservations(ids, tickets, |event| {
        if let Event::TicketCreated(created) = event {
            let id = created.ticket_id.as_bytes();
            tickets_tree.insert(id, record(TICKET_BYTES))?;
            listing.insert(id, &[])?;
        }
        Ok(())
    })?;
    db.flush()?;
    report(tickets, || {
        for batch in reservations.chunks(concurrency) {
            for (event, _) in batch {
                events.insert(db.generate_id()?.to_be_bytes(), record(EVENT_BYTES))?;
                let Event::OrderCreated(created) = event else {
                    continue;
                };
                if projections {
                    let id = created.ticket_id.as_bytes();
                    tickets_tree.insert(id, record(TICKET_BYTES))?;
                    listing.remove(id)?;
                    let order_id = created.order_id.as_bytes();
                    orders.insert(order_id, record(ORDER_BYTES))?;
                    user_orders.insert(
                        [created.buyer.as_bytes().as_slice(), order_id].concat(),
                        &[],
                    )?;
                    let deadline = created.expires_at.millis().to_be_bytes();
                    deadlines.insert([deadline.as_slice(), order_id].concat(), &[])?;
                }
            }
            db.flush()?;
        }
        Ok(())
    })
}

/// Lists `count` tickets through `list` (given each `TicketCreated`), and returns for each
/// the reservation its ticket actor would commit, with the ticket as that actor holds it.
fn reservations(
    ids: &IdGenerator,
    count: usize,
    mut list: impl FnMut(&Event) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<(Event, Ticket)>> {
    let (seller, buyer) = (UserId::new(ids.next()), UserId::new(ids.next()));
    (0..count)
        .map(|_| {
            let created = ticket::create(
                TicketId::new(ids.next()),
                seller,
                Title::parse("Bench gig").expect("a valid title"),
                Price::from_cents(2000).expect("a valid price"),
            );
            list(&created)?;
            let ticket = ticket::evolve(None, &created).expect("a created ticket");
            let command = ticket::Reservation {
                order_id: OrderId::new(ids.next()),
                buyer,
                expires_at: clock::Clock::system().now().plus_secs(900),
            };
            let event = Event::OrderCreated(ticket::reserve(&ticket, command)?);
            Ok((event, ticket))
        })
        .collect()
}

/// Sizes of the store's records for this benchmark's ticket, order and reservation event
/// (header and bincode body), so that sled alone writes as many bytes as the store does.
const TICKET_BYTES: usize = 46;
const ORDER_BYTES: usize = 71;
const EVENT_BYTES: usize = 70;

/// A value of `len` bytes: sled's cost depends on the size, not the content.
fn record(len: usize) -> Vec<u8> {
    vec![7; len]
}

/// Runs `work` on every item from `concurrency` tasks on the current thread.
async fn in_tasks<T, F, Fut>(items: &[T], concurrency: usize, work: F) -> anyhow::Result<()>
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use futures::StreamExt;
    futures::stream::iter(items.iter().cloned().map(work))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Times `run` (the reservations only, not the listing) and prints one line of JSON.
fn report(count: usize, run: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let (cpu_before, started) = (cpu_seconds()?, Instant::now());
    run()?;
    let (cpu, wall) = (cpu_seconds()? - cpu_before, started.elapsed().as_secs_f64());
    println!(
        "{{\"per_second\": {:.0}, \"cpu_us\": {:.1}}}",
        count as f64 / wall,
        cpu * 1e6 / count as f64
    );
    Ok(())
}

/// This process's user + system CPU time, every thread included (sled's and the flusher's).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/self/stat"))?
            .parse()?)
    };
    // utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
