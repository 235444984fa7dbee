//! GET /api/tickets/events: ticket changes as server-sent events (DESIGN §4), so a page
//! shows the listing live.
//!
//! `?ids=ID1,ID2,…` (at most `MAX_IDS`) asks for the changes of those tickets only, and
//! `&listings=new` for new listings too (a ticket's first version); with neither, every
//! change comes (the unfiltered stream). A filtered reader is fed by `ticket_dispatch`,
//! which pushes each change only to the readers that want it; the catch-up is filtered the
//! same way. `&after=N` resumes after journal position N like `Last-Event-ID` (an
//! EventSource sends that header only on its own reconnects; a page that reopens the feed
//! for other tickets passes the last id it saw this way); the later of the two wins.
//!
//! Each change is one `ticket` event, `{id, title, price, version, available}`, whose `id:`
//! is the journal position of the change. A client that reconnects with `Last-Event-ID`
//! first gets every ticket changed since, as it is now (read from the journal a page of
//! events at a time, so a reader far behind holds one page), then the live feed; changes the
//! catch-up already showed are skipped. The live feed is bounded: a reader that falls too
//! far behind is disconnected and catches up the same way, so no reader can make the shop
//! hold more for it. Streams end when the shop stops.
//!
//! Cost (docs/BENCHMARKS.md, "The live ticket feed"): on the unfiltered stream every change
//! goes to every reader, so the bytes sent grow with changes × readers, on the
//! reservations' core; a filtered reader costs only the changes it asked for.
//!
//! Changes are sent as they commit, a moment before the flush that makes them durable.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, Envelope, FieldError};
use super::ticket_dispatch::{Dispatcher, Ended, Interest, Subscription};
use super::tickets::price_number;
use crate::actors::Services;
use crate::actors::queries::FeedPage;
use crate::sync::lock;
use domain::ids::TicketId;
use domain::ticket::Ticket;

/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a reader lets changes gather before it writes them, in one chunk: a reader
/// wakes at most this often however fast tickets change.
const GATHER: Duration = Duration::from_millis(100);
/// The most one write carries (the rest waits in the shared feed): what a reader whose
/// socket is full holds of its own.
const MAX_CHUNK: usize = 64 * 1024;
/// Changes the shared feed keeps for a slow reader before ending its stream.
const FEED_ROOM: usize = 8192;
/// The most tickets one filtered reader may name: a page's worth, with room.
pub const MAX_IDS: usize = 100;

/// The data of one `ticket` event: the ticket as it is after the change.
#[derive(Serialize, ToSchema)]
pub struct TicketNews<'a> {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    title: &'a str,
    /// In the shop's currency, at most two decimals.
    price: f64,
    version: u64,
    /// Whether it is for sale: neither held, sold nor withdrawn.
    available: bool,
}

pub(super) fn frame(position: u64, ticket: &Ticket) -> Bytes {
    let news = TicketNews {
        id: ticket.id.to_string(),
        title: ticket.title.as_str(),
        price: price_number(ticket.price),
        version: ticket.version.get(),
        available: ticket.is_for_sale(),
    };
    let data = serde_json::to_string(&news).unwrap_or_default();
    Bytes::from(format!("id: {position}\nevent: ticket\ndata: {data}\n\n"))
}

/// The feed every reader shares: each change is rendered once, by one task, however many
/// read it. The task runs only while someone reads, so a shop nobody watches pays nothing
/// for the feed (the store sends changes only while it has a subscriber).
#[derive(Clone)]
pub struct TicketFeed {
    inner: Arc<FeedInner>,
    filtered: Dispatcher,
}

struct FeedInner {
    rendered: broadcast::Sender<(u64, Bytes)>,
    /// Whether the rendering task runs; changed only with this lock held.
    running: Mutex<bool>,
    services: Services,
    stopping: watch::Receiver<bool>,
}

impl TicketFeed {
    pub fn new(services: Services, stopping: watch::Receiver<bool>) -> TicketFeed {
        let source = services.clone();
        TicketFeed {
            filtered: Dispatcher::new(move || source.ticket_feed(), stopping.clone()),
            inner: Arc::new(FeedInner {
                rendered: broadcast::channel(FEED_ROOM).0,
                running: Mutex::new(false),
                services,
                stopping,
            }),
        }
    }

    /// A receiver of every change from now on, rendered; starts the rendering task (already
    /// subscribed to the store when this returns) if it is not running.
    fn subscribe(&self) -> broadcast::Receiver<(u64, Bytes)> {
        let mut running = lock(&self.inner.running);
        let receiver = self.inner.rendered.subscribe();
        if !*running {
            *running = true;
            let changes = self.inner.services.ticket_feed();
            actix_rt::spawn(self.clone().render(changes));
        }
        receiver
    }

    async fn render(self, mut changes: broadcast::Receiver<(u64, Ticket)>) {
        let mut stopping = self.inner.stopping.clone();
        loop {
            let change = tokio::select! {
                _ = stopping.changed() => break,
                change = changes.recv() => change,
            };
            let mut running = lock(&self.inner.running);
            if self.inner.rendered.receiver_count() == 0 {
                *running = false;
                return;
            }
            drop(running);
            match change {
                Ok((position, ticket)) => {
                    let _ = self
                        .inner
                        .rendered
                        .send((position, frame(position, &ticket)));
                }
                // Changes were lost to this task: every reader must catch up from the
                // journal, so end every stream (each reconnects with its Last-Event-ID).
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    tracing::warn!("The ticket feed fell behind; its readers reconnect");
                    running = lock(&self.inner.running);
                    *running = false;
                    drop(running);
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        *lock(&self.inner.running) = false;
    }
}

/// Journal events a catch-up reads per page: what one reader may hold of it at a time.
const CATCH_UP_PAGE: usize = 1024;

/// Loads the catch-up page after a journal position (`Services::ticket_changes_after`).
type PageLoader =
    Box<dyn Fn(u64) -> futures::future::BoxFuture<'static, Result<FeedPage, ApiError>> + Send>;

/// A reconnected reader's way through the journal, one page at a time.
struct CatchUp {
    page: VecDeque<(u64, Ticket)>,
    /// A filtered reader's interest: the rest of each page is skipped.
    interest: Option<Interest>,
    /// The last journal position read so far: shown in full once `page` is empty.
    read_to: u64,
    load: PageLoader,
}

/// Where a reader's live changes come from: the shared feed of every change, or its own
/// queue of the changes it asked for.
enum Live {
    Every(broadcast::Receiver<(u64, Bytes)>),
    Chosen(Subscription),
}

impl Live {
    /// The next change; `None` when the stream must end (lagged, or ended by the feed).
    async fn recv(&mut self) -> Option<(u64, Bytes)> {
        match self {
            Live::Every(feed) => feed.recv().await.ok(),
            Live::Chosen(queue) => queue.recv().await,
        }
    }

    /// A change already waiting: `Ok(None)` if none, `Err(Ended)` when the stream must end.
    fn try_recv(&mut self) -> Result<Option<(u64, Bytes)>, Ended> {
        match self {
            Live::Every(feed) => match feed.try_recv() {
                Ok(change) => Ok(Some(change)),
                Err(broadcast::error::TryRecvError::Empty) => Ok(None),
                Err(
                    broadcast::error::TryRecvError::Lagged(_)
                    | broadcast::error::TryRecvError::Closed,
                ) => Err(Ended),
            },
            Live::Chosen(queue) => queue.try_recv(),
        }
    }
}

/// One reader's stream: the catch-up first, then the live feed after `seen`.
struct Reader {
    catch_up: Option<CatchUp>,
    live: Live,
    /// The last journal position this reader was sent.
    seen: u64,
    stopping: watch::Receiver<bool>,
}

impl Reader {
    /// The next bytes to send, or `None` to end the stream (the shop stops, or this reader
    /// lagged: it reconnects and catches up from the journal).
    async fn next(&mut self) -> Option<Bytes> {
        while let Some(catch_up) = &mut self.catch_up {
            if let Some((position, ticket)) = catch_up.page.pop_front() {
                self.seen = self.seen.max(position);
                return Some(frame(position, &ticket));
            }
            // Everything up to `read_to` has been shown: the live feed need not repeat it.
            self.seen = self.seen.max(catch_up.read_to);
            match (catch_up.load)(catch_up.read_to).await {
                Ok(FeedPage {
                    changes,
                    listed,
                    read_to: Some(read_to),
                }) => {
                    catch_up.page = match &catch_up.interest {
                        None => changes.into(),
                        Some(interest) => {
                            let listed: HashSet<TicketId> = listed.into_iter().collect();
                            changes
                                .into_iter()
                                .filter(|(_, ticket)| {
                                    interest.wants(ticket, listed.contains(&ticket.id))
                                })
                                .collect()
                        }
                    };
                    catch_up.read_to = read_to;
                }
                Ok(FeedPage { read_to: None, .. }) => self.catch_up = None,
                Err(error) => {
                    tracing::warn!(%error, "A ticket feed reader's catch-up failed");
                    return None;
                }
            }
        }
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            let first = tokio::select! {
                _ = self.stopping.changed() => return None,
                received = self.live.recv() => received,
                () = tokio::time::sleep(KEEP_ALIVE) => return Some(Bytes::from_static(b": keep-alive\n\n")),
            };
            let mut chunk = Vec::new();
            if !self.take(first, &mut chunk) {
                return None;
            }
            // Let the changes of the next moment join this one: one write, one wake-up.
            tokio::time::sleep(GATHER).await;
            while chunk.len() < MAX_CHUNK {
                match self.live.try_recv() {
                    Ok(None) => break,
                    Ok(Some(change)) => {
                        if !self.take(Some(change), &mut chunk) {
                            return None;
                        }
                    }
                    Err(Ended) => return None,
                }
            }
            if !chunk.is_empty() {
                return Some(Bytes::from(chunk));
            }
        }
    }

    /// Adds a received change to `chunk` unless this reader has seen it; false when the
    /// stream must end (lagged, or the feed closed).
    fn take(&mut self, received: Option<(u64, Bytes)>, chunk: &mut Vec<u8>) -> bool {
        match received {
            Some((position, _)) if position <= self.seen => true,
            Some((position, bytes)) => {
                self.seen = position;
                chunk.extend_from_slice(&bytes);
                true
            }
            None => false,
        }
    }
}

/// The query of GET /api/tickets/events, as sent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Only these tickets' changes: at most 100 ticket ids, separated by commas.
    ids: Option<String>,
    /// "new": new listings too (a ticket's first version).
    #[param(example = "new")]
    listings: Option<String>,
    /// Resume after this event id, as `Last-Event-ID` does (the later of the two wins).
    #[param(value_type = Option<u64>)]
    after: Option<String>,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError {
        message: message.to_string(),
        field: Some(field.to_string()),
    }])
}

impl FeedQuery {
    /// What the reader asked for: `None` for every change.
    fn interest(&self) -> Result<Option<Interest>, ApiError> {
        let listings = match self.listings.as_deref() {
            None => false,
            Some("new") => true,
            Some(_) => return Err(invalid("listings", "listings must be \"new\"")),
        };
        let Some(ids) = &self.ids else {
            return Ok(listings.then(|| Interest {
                ids: HashSet::new(),
                listings,
            }));
        };
        // Counted as sent, before parsing: a long list is refused without more work.
        let ids: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .collect();
        if ids.len() > MAX_IDS {
            return Err(invalid(
                "ids",
                &format!("at most {MAX_IDS} ticket ids at once"),
            ));
        }
        let ids = ids
            .into_iter()
            .map(TicketId::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| invalid("ids", "ids must be ticket ids separated by commas"))?;
        Ok(Some(Interest { ids, listings }))
    }

    fn after(&self) -> Result<Option<u64>, ApiError> {
        self.after
            .as_deref()
            .map(|text| text.trim().parse::<u64>())
            .transpose()
            .map_err(|_| invalid("after", "after must be an event id"))
    }
}

/// Ticket changes, live, as server-sent events.
///
/// One `ticket` event per change to a ticket (created, edited, held, released, sold,
/// withdrawn); its data is a `TicketNews` as JSON and its `id:` the change's journal
/// position. With `Last-Event-ID` (or `after`), every ticket changed since comes first, as
/// it is now. `ids` and `listings` narrow the stream; with neither, every change comes. A
/// reader that falls too far behind is disconnected and resumes with `Last-Event-ID`.
#[utoipa::path(
    get,
    path = "/api/tickets/events",
    tag = "tickets",
    operation_id = "ticketEvents",
    params(
        FeedQuery,
        ("last-event-id" = Option<u64>, Header, nullable = false,
            description = "The last event id seen: resume after it"),
    ),
    responses(
        (status = 200, description = "The stream, until the shop stops", body = String,
            content_type = "text/event-stream"),
        (status = 400, description = "Bad ids, listings or after", body = Envelope),
    )
)]
pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let interest = query.interest()?;
    let header = req
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    // The header is the later on an EventSource's own reconnect: `after` is where it began.
    let resume_after = header.max(query.after()?);
    // Subscribe before reading the journal, so nothing committed in between is missed.
    let live = match &interest {
        None => Live::Every(state.ticket_feed.subscribe()),
        Some(interest) => Live::Chosen(state.ticket_feed.filtered.subscribe(interest.clone())),
    };
    let catch_up = resume_after.map(|after| {
        let services = state.services.clone();
        let load: PageLoader = Box::new(move |after| {
            let services = services.clone();
            Box::pin(async move {
                let page = services.ticket_changes_after(after, CATCH_UP_PAGE).await?;
                Ok(page)
            })
        });
        CatchUp {
            page: VecDeque::new(),
            interest,
            read_to: after,
            load,
        }
    });
    let reader = Reader {
        seen: resume_after.unwrap_or(0),
        catch_up,
        live,
        stopping: state.stopping.clone(),
    };
    let body = futures::stream::unfold(reader, |mut reader| async move {
        let bytes = reader.next().await?;
        Some((Ok::<_, actix_web::Error>(bytes), reader))
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::{RawId, TicketId, UserId};
    use domain::money::Price;
    use domain::ticket::{self, Title};

    fn ticket(n: u64) -> Ticket {
        ticket::listed(&ticket::created(
            TicketId::new(RawId::from_parts(10, n)),
            UserId::new(RawId::from_parts(1, 1)),
            Title::parse("Gig").expect("a title"),
            Price::from_cents(2000).expect("a price"),
        ))
    }

    fn reader(
        catch_up: Vec<(u64, Ticket)>,
        seen: u64,
        room: usize,
    ) -> (Reader, broadcast::Sender<(u64, Bytes)>, watch::Sender<bool>) {
        let (feed, live) = broadcast::channel(room);
        let (stop, stopping) = watch::channel(false);
        // The catch-up as one page, then the end of the journal.
        let read_to = catch_up.last().map_or(seen, |(position, _)| *position);
        let page = std::sync::Mutex::new(Some(catch_up));
        let load: PageLoader = Box::new(move |_| {
            let page = lock(&page).take();
            Box::pin(async move {
                Ok(match page {
                    Some(changes) => FeedPage {
                        changes,
                        listed: Vec::new(),
                        read_to: Some(read_to),
                    },
                    None => FeedPage {
                        changes: Vec::new(),
                        listed: Vec::new(),
                        read_to: None,
                    },
                })
            })
        });
        let reader = Reader {
            catch_up: Some(CatchUp {
                page: VecDeque::new(),
                interest: None,
                read_to: seen,
                load,
            }),
            live: Live::Every(live),
            seen,
            stopping,
        };
        (reader, feed, stop)
    }

    fn position_of(bytes: &Bytes) -> u64 {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        let id = text.lines().next().and_then(|l| l.strip_prefix("id: "));
        id.expect("an id line").parse().expect("a number")
    }

    #[tokio::test]
    async fn the_catch_up_comes_first_and_the_live_feed_skips_what_it_showed() {
        let (mut reader, feed, _stop) = reader(vec![(5, ticket(1)), (7, ticket(2))], 3, 8);
        for position in [6, 7, 8] {
            feed.send((position, frame(position, &ticket(3))))
                .expect("a receiver");
        }
        let mut positions = Vec::new();
        for _ in 0..3 {
            positions.push(position_of(&reader.next().await.expect("more")));
        }
        assert_eq!(positions, vec![5, 7, 8]);
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_the_feed_is_ended_to_catch_up_from_the_journal() {
        let (mut reader, feed, _stop) = reader(Vec::new(), 0, 2);
        for position in 1..=5 {
            feed.send((position, frame(position, &ticket(position))))
                .expect("a receiver");
        }
        assert_eq!(reader.next().await, None, "lagged: ended, not buffered");
    }

    #[tokio::test]
    async fn a_stopping_shop_ends_the_stream() {
        let (mut reader, _feed, stop) = reader(Vec::new(), 0, 2);
        stop.send(true).expect("a receiver");
        assert_eq!(reader.next().await, None);
    }
}
