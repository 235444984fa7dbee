//! The live ticket feed, GET /api/tickets/events (DESIGN §4): every change to any ticket as
//! a server-sent event whose id is its journal position, resumable with `Last-Event-ID`,
//! and ended when the shop stops.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// How long a test waits for the next event before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// One `ticket` event: its id (journal position) and its data.
#[derive(Debug)]
struct News {
    position: u64,
    ticket: Value,
}

/// A reader of the feed that parses server-sent events as they arrive.
struct Feed {
    body: BoxStream<'static, reqwest::Result<actix_web::web::Bytes>>,
    buffer: String,
}

impl Feed {
    async fn open(app: &TestApp, last_event_id: Option<u64>) -> Feed {
        Feed::open_query(app, "", last_event_id).await
    }

    /// The feed with a query (`ids=…&listings=new&after=…`), as a page opens it.
    async fn open_query(app: &TestApp, query: &str, last_event_id: Option<u64>) -> Feed {
        let mut request = Client::new().get(app.url(&format!("/api/tickets/events{query}")));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the feed answers");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().expect("ASCII"),
            "text/event-stream"
        );
        Feed {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next `ticket` event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<News> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut position = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        position = Some(id.parse().expect("a numeric id"));
                    } else if let Some(text) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(text).expect("JSON data"));
                    } else if let Some(kind) = line.strip_prefix("event: ") {
                        assert_eq!(kind, "ticket");
                    }
                }
                if let (Some(position), Some(ticket)) = (position, data) {
                    return Some(News { position, ticket });
                }
                continue; // a keep-alive comment
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next())
                .await
                .expect("an event within the patience");
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes.expect("bytes")).expect("UTF-8")),
                None => return None,
            }
        }
    }

    async fn expect(&mut self) -> News {
        self.next().await.expect("the stream goes on")
    }
}

#[actix_web::test]
async fn every_change_to_a_ticket_arrives_live_in_journal_order() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut feed = Feed::open(&app, None).await;

    // Act: listed, held, released, edited, withdrawn.
    let id = app.listed_ticket(&seller).await;
    let order = app.reserved_order(&buyer, &id).await;
    assert_eq!(app.cancel(&buyer, &order).await.status(), 204);
    let edit = json!({"title": "Front row", "price": 35});
    assert_eq!(app.update_ticket(&seller, &id, &edit).await.status(), 200);
    let withdrawn = seller
        .delete(app.url(&format!("/api/tickets/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(withdrawn.status(), 204);

    // Assert
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(feed.expect().await);
    }
    let states: Vec<_> = seen
        .iter()
        .map(|n| (n.ticket["version"].clone(), n.ticket["available"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (json!(0), json!(true)),
            (json!(1), json!(false)),
            (json!(2), json!(true)),
            (json!(3), json!(true)),
            (json!(4), json!(false)),
        ]
    );
    assert!(seen.iter().all(|n| n.ticket["id"] == json!(id)));
    assert_eq!(seen[3].ticket["title"], "Front row");
    assert_eq!(seen[3].ticket["price"], json!(35.0));
    let positions: Vec<u64> = seen.iter().map(|n| n.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions rise: {positions:?}"
    );
}

#[actix_web::test]
async fn a_reader_that_reconnects_with_last_event_id_catches_up_then_follows() {
    // Arrange: a reader sees the first listing, then goes away.
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut feed = Feed::open(&app, None).await;
    let first = app.listed_ticket(&seller).await;
    let last_seen = feed.expect().await.position;
    drop(feed);
    // While it is away: the first ticket is held, twice edited is another, a third listed.
    let second = app.listed_ticket(&seller).await;
    let edit = json!({"title": "Edited once", "price": 21});
    assert_eq!(
        app.update_ticket(&seller, &second, &edit).await.status(),
        200
    );
    let edit = json!({"title": "Edited twice", "price": 22});
    assert_eq!(
        app.update_ticket(&seller, &second, &edit).await.status(),
        200
    );
    app.reserved_order(&buyer, &first).await;
    let third = app.listed_ticket(&seller).await;

    // Act
    let mut feed = Feed::open(&app, Some(last_seen)).await;
    let caught_up = [
        feed.expect().await,
        feed.expect().await,
        feed.expect().await,
    ];
    let fourth = app.listed_ticket(&seller).await;
    let live = feed.expect().await;

    // Assert: each changed ticket once, as it is now, in the order of its last change.
    let got: Vec<_> = caught_up
        .iter()
        .map(|n| {
            (
                n.ticket["id"].clone(),
                n.ticket["version"].clone(),
                n.ticket["available"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(second), json!(2), json!(true)),
            (json!(first), json!(1), json!(false)),
            (json!(third), json!(0), json!(true)),
        ]
    );
    assert_eq!(caught_up[0].ticket["title"], "Edited twice");
    assert!(caught_up.iter().all(|n| n.position > last_seen));
    assert_eq!(live.ticket["id"], json!(fourth), "then the live feed");
    assert!(live.position > caught_up[2].position);
}

#[actix_web::test]
async fn a_stopping_shop_ends_its_streams_instead_of_waiting_for_them() {
    // Arrange
    let mut app = spawn_app().await;
    let mut feed = Feed::open(&app, None).await;

    // Act
    let started = std::time::Instant::now();
    app.stop().await;

    // Assert: the graceful stop would wait 30 s for a stream that never ends.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        started.elapsed()
    );
    assert!(feed.next().await.is_none(), "the stream ended");
}

#[actix_web::test]
async fn a_filtered_reader_gets_the_changes_of_its_tickets_only() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let mine = app.listed_ticket(&seller).await;
    let other = app.listed_ticket(&seller).await;
    let mut feed = Feed::open_query(&app, &format!("?ids={mine}"), None).await;

    // Act: the other ticket changes first, then mine; a new listing is not asked for.
    let edit = json!({"title": "Not yours", "price": 11});
    assert_eq!(
        app.update_ticket(&seller, &other, &edit).await.status(),
        200
    );
    app.listed_ticket(&seller).await;
    let edit = json!({"title": "Yours", "price": 12});
    assert_eq!(app.update_ticket(&seller, &mine, &edit).await.status(), 200);

    // Assert
    let news = feed.expect().await;
    assert_eq!(news.ticket["id"], json!(mine));
    assert_eq!(news.ticket["title"], "Yours");
}

#[actix_web::test]
async fn a_reader_of_new_listings_gets_them_but_not_their_later_changes() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let mine = app.listed_ticket(&seller).await;
    let mut feed = Feed::open_query(&app, &format!("?ids={mine}&listings=new"), None).await;

    // Act
    let fresh = app.listed_ticket(&seller).await;
    let edit = json!({"title": "Changed", "price": 13});
    assert_eq!(
        app.update_ticket(&seller, &fresh, &edit).await.status(),
        200
    );
    assert_eq!(app.update_ticket(&seller, &mine, &edit).await.status(), 200);

    // Assert: the listing, then (skipping the new one's edit) my ticket's edit.
    let listed = feed.expect().await;
    assert_eq!(listed.ticket["id"], json!(fresh));
    assert_eq!(listed.ticket["version"], json!(0));
    assert_eq!(feed.expect().await.ticket["id"], json!(mine));
}

#[actix_web::test]
async fn a_filtered_reader_that_resumes_catches_up_on_its_tickets_only() {
    // Arrange: a reader of one ticket sees one change and goes away.
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mine = app.listed_ticket(&seller).await;
    let other = app.listed_ticket(&seller).await;
    let query = format!("?ids={mine}&listings=new");
    let mut feed = Feed::open_query(&app, &query, None).await;
    let edit = json!({"title": "Seen", "price": 14});
    assert_eq!(app.update_ticket(&seller, &mine, &edit).await.status(), 200);
    let last_seen = feed.expect().await.position;
    drop(feed);
    // While it is away: the other ticket is held, mine edited, one listed and then edited.
    app.reserved_order(&buyer, &other).await;
    let edit = json!({"title": "Missed", "price": 15});
    assert_eq!(app.update_ticket(&seller, &mine, &edit).await.status(), 200);
    let fresh = app.listed_ticket(&seller).await;
    assert_eq!(
        app.update_ticket(&seller, &fresh, &edit).await.status(),
        200
    );

    for resumed in [
        Feed::open_query(&app, &query, Some(last_seen)).await,
        Feed::open_query(&app, &format!("{query}&after={last_seen}"), None).await,
    ] {
        let mut resumed = resumed;
        // Act
        let caught_up = [resumed.expect().await, resumed.expect().await];

        // Assert: mine as it is now, and the listing (as it is now), not the other ticket.
        let ids: Vec<_> = caught_up.iter().map(|n| n.ticket["id"].clone()).collect();
        assert_eq!(ids, vec![json!(mine), json!(fresh)]);
        assert_eq!(caught_up[0].ticket["title"], "Missed");
        assert!(caught_up.iter().all(|n| n.position > last_seen));
    }
}

#[actix_web::test]
async fn bad_or_too_many_ids_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    let too_many = (0..101).map(|_| id.clone()).collect::<Vec<_>>().join(",");
    // The limit counts the ids sent (listing 101 distinct tickets would only slow the test).
    for (query, field) in [
        ("?ids=nonsense".to_string(), "ids"),
        (format!("?ids={id},x"), "ids"),
        (format!("?ids={too_many}"), "ids"),
        (format!("?ids={id}&listings=old"), "listings"),
        (format!("?ids={id}&after=yesterday"), "after"),
    ] {
        let response = Client::new()
            .get(app.url(&format!("/api/tickets/events{query}")))
            .send()
            .await
            .expect("the feed answers");
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["field"], json!(field), "{query}: {body}");
    }
}
