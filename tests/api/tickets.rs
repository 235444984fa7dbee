//! /api/tickets over HTTP: listing a ticket, validation, the listing and its paging, showing
//! one ticket, and editing it (owner only, not while held, versions and If-Match).

use reqwest::header::ETAG;
use serde_json::{Value, json};

use crate::helpers::{error_fields, errors_of, next_link, spawn_app, unknown_id};

const TICKETS_CREATED: &str = "ticketing_events_committed_total{event=\"TicketCreated\"}";
const TICKETS_UPDATED: &str = "ticketing_events_committed_total{event=\"TicketUpdated\"}";

#[actix_web::test]
async fn listing_a_ticket_answers_201_with_the_trimmed_title_the_exact_price_and_version_0() {
    // Arrange
    let app = spawn_app().await;
    let (seller, seller_id) = app.user().await;
    // Act
    let response = app
        .create_ticket(&seller, "  Concert in the park \n", json!(19.99))
        .await;
    // Assert
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()[ETAG], "\"0\"");
    let text = response.text().await.expect("text");
    assert!(
        text.contains("\"price\":19.99"),
        "19.99 is printed exactly: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 24);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        body,
        json!({"id": id, "title": "Concert in the park", "price": 19.99, "userId": seller_id, "version": 0}),
        "no orderId while for sale"
    );
    let shown = app.ticket(&id).await;
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()[ETAG], "\"0\"");
    assert_eq!(shown.json::<Value>().await.expect("json"), body);
}

#[actix_web::test]
async fn titles_and_prices_at_the_edges_of_the_rules_are_accepted() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let cases = [
        (
            json!("x"),
            json!(20),
            "x".to_owned(),
            20.0,
            "one-character title",
        ),
        (
            json!("a".repeat(200)),
            json!(20),
            "a".repeat(200),
            20.0,
            "200 characters",
        ),
        (
            json!("é".repeat(200)),
            json!(20),
            "é".repeat(200),
            20.0,
            "200 two-byte characters",
        ),
        (
            json!("🎫".repeat(200)),
            json!(20),
            "🎫".repeat(200),
            20.0,
            "200 four-byte characters",
        ),
        (
            json!(format!("  {}  ", "b".repeat(200))),
            json!(20),
            "b".repeat(200),
            20.0,
            "200 characters once trimmed",
        ),
        (
            json!("Gig"),
            json!(0.5),
            "Gig".to_owned(),
            0.5,
            "the lowest price",
        ),
        (
            json!("Gig"),
            json!(999999.99),
            "Gig".to_owned(),
            999999.99,
            "the highest price",
        ),
        (
            json!("Gig"),
            json!("20.00"),
            "Gig".to_owned(),
            20.0,
            "a numeric string",
        ),
        (
            json!("Gig"),
            json!(" 7.5 "),
            "Gig".to_owned(),
            7.5,
            "a numeric string with spaces",
        ),
        (json!("Gig"), json!(19.99), "Gig".to_owned(), 19.99, "19.99"),
    ];
    for (title, price, stored_title, stored_price, why) in &cases {
        // Act
        let response = app
            .post(
                &seller,
                "/api/tickets",
                &json!({"title": title, "price": price}),
            )
            .await;
        // Assert
        assert_eq!(response.status(), 201, "{why}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["title"], stored_title.as_str(), "{why}");
        assert_eq!(body["price"].as_f64(), Some(*stored_price), "{why}");
        let shown = app.ticket_json(body["id"].as_str().expect("id")).await;
        assert_eq!(shown, body, "{why}: stored as answered");
    }
    assert_eq!(app.metric(TICKETS_CREATED).await, cases.len() as u64);
}

#[actix_web::test]
async fn invalid_tickets_name_every_bad_field_and_store_nothing() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let good_title = json!("A concert");
    let good_price = json!(20);
    let bad_titles = [
        (json!(""), "empty title"),
        (json!("   \t\n "), "only whitespace"),
        (json!("a".repeat(201)), "201 characters"),
        (json!("é".repeat(201)), "201 two-byte characters"),
        (json!(42), "a number"),
        (json!(null), "null"),
        (json!(["a"]), "an array"),
    ];
    let bad_prices = [
        (json!(0.49), "below 0.50"),
        (json!(0), "zero"),
        (json!(-5), "negative"),
        (json!("-5"), "negative string"),
        (json!(1000000), "above 999999.99"),
        (json!(999999.995), "three decimals at the top"),
        (json!(19.999), "three decimals"),
        (json!("19.999"), "three decimals as a string"),
        (json!("abc"), "not a number"),
        (json!(""), "empty string"),
        (json!("12,50"), "a decimal comma"),
        (json!("1e2"), "an exponent"),
        (json!("20."), "a trailing point"),
        (json!(true), "a boolean"),
        (json!(null), "null"),
        (json!({"amount": 20}), "an object"),
    ];
    let mut cases: Vec<(Value, Vec<&str>, String)> = Vec::new();
    for (title, why) in &bad_titles {
        cases.push((
            json!({"title": title, "price": good_price}),
            vec!["title"],
            format!("title: {why}"),
        ));
    }
    for (price, why) in &bad_prices {
        cases.push((
            json!({"title": good_title, "price": price}),
            vec!["price"],
            format!("price: {why}"),
        ));
    }
    cases.push((json!({}), vec!["title", "price"], "empty body".to_owned()));
    cases.push((json!({"price": 20}), vec!["title"], "no title".to_owned()));
    cases.push((json!({"title": "x"}), vec!["price"], "no price".to_owned()));
    cases.push((
        json!({"title": "", "price": 0.1}),
        vec!["title", "price"],
        "both bad".to_owned(),
    ));
    for (body, fields, why) in cases {
        // Act
        let response = app.post(&seller, "/api/tickets", &body).await;
        // Assert
        assert_eq!(response.status(), 400, "{why}");
        assert_eq!(error_fields(response).await, named(&fields), "{why}");
    }
    assert_eq!(app.metric(TICKETS_CREATED).await, 0, "nothing was stored");
    assert_eq!(app.listing(1000).await, Vec::<Value>::new());
}

#[actix_web::test]
async fn every_ticket_and_order_route_that_needs_a_session_answers_401_when_signed_out() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let ticket_id = app.listed_ticket(&seller).await;
    let (buyer, _) = app.user().await;
    let order_id = app.reserved_order(&buyer, &ticket_id).await;
    let signed_out = app.client();
    let ticket_body = json!({"title": "Mine now", "price": 1});
    // Act
    let cases = [
        (
            app.post(&signed_out, "/api/tickets", &ticket_body).await,
            "POST /api/tickets",
        ),
        (
            app.update_ticket(&signed_out, &ticket_id, &ticket_body)
                .await,
            "PUT /api/tickets/:id",
        ),
        (
            app.reserve(&signed_out, &ticket_id).await,
            "POST /api/orders",
        ),
        (app.orders(&signed_out).await, "GET /api/orders"),
        (
            app.order(&signed_out, &order_id).await,
            "GET /api/orders/:id",
        ),
        (
            app.cancel(&signed_out, &order_id).await,
            "DELETE /api/orders/:id",
        ),
    ];
    for (response, why) in cases {
        // Assert
        assert_eq!(response.status(), 401, "{why}");
        assert_eq!(
            errors_of(response).await,
            vec![("Not signed in".to_owned(), None)],
            "{why}"
        );
    }
    let ticket = app.ticket_json(&ticket_id).await;
    assert_eq!(
        (ticket["title"].clone(), ticket["version"].clone()),
        (json!("A concert"), json!(1))
    );
    assert_eq!(app.order_json(&buyer, &order_id).await["status"], "created");
}

#[actix_web::test]
async fn the_listing_shows_only_tickets_for_sale_oldest_first() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut ids = Vec::new();
    for title in ["first", "second", "third", "fourth"] {
        ids.push(app.listed_ticket_json(&seller, title, json!(10)).await["id"].clone());
    }
    let held = app
        .reserved_order(&buyer, ids[1].as_str().expect("id"))
        .await;
    // Act
    let listing = app.listing(100).await;
    // Assert
    let titles: Vec<_> = listing.iter().map(|t| t["title"].clone()).collect();
    assert_eq!(
        titles,
        vec![json!("first"), json!("third"), json!("fourth")]
    );
    assert!(
        listing.iter().all(|t| t.get("orderId").is_none()),
        "{listing:?}"
    );
    // Once the hold ends, the ticket is back in its original place.
    assert_eq!(app.cancel(&buyer, &held).await.status(), 204);
    let listed = app.listed_ids().await;
    assert_eq!(listed, ids);
}

#[actix_web::test]
async fn paging_follows_the_link_header_to_the_end_without_gaps_or_repeats() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            app.listed_ticket_json(&seller, &format!("ticket {i}"), json!(5))
                .await["id"]
                .clone(),
        );
    }
    // Act
    let mut pages = Vec::new();
    let mut path = Some("/api/tickets?limit=10".to_owned());
    while let Some(current) = path {
        let response = app
            .tickets(current.trim_start_matches("/api/tickets"))
            .await;
        assert_eq!(response.status(), 200, "{current}");
        path = next_link(&response);
        let page: Vec<Value> = response.json().await.expect("json");
        if let Some(next) = &path {
            let last = page.last().expect("a full page")["id"]
                .as_str()
                .expect("id")
                .to_owned();
            assert_eq!(
                next,
                &format!("/api/tickets?limit=10&cursor={last}"),
                "the cursor is the last id shown"
            );
        }
        pages.push(page);
        assert!(pages.len() <= 3, "the pages end");
    }
    // Assert
    let sizes: Vec<_> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    let seen: Vec<_> = pages.iter().flatten().map(|t| t["id"].clone()).collect();
    assert_eq!(seen, ids, "every ticket once, oldest first");
}

#[actix_web::test]
async fn the_listing_pages_by_100_by_default_and_accepts_up_to_1000() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let listings = (0..101).map(|i| {
        let (app, seller) = (&app, &seller);
        async move {
            app.listed_ticket_json(seller, &format!("t{i}"), json!(1))
                .await
        }
    });
    futures::future::join_all(listings).await;
    // Act
    let default = app.tickets("").await;
    let widest = app.tickets("?limit=1000").await;
    let exact = app.tickets("?limit=101").await;
    // Assert
    assert_eq!(default.status(), 200);
    let next = next_link(&default).expect("more follow the first 100");
    assert!(next.starts_with("/api/tickets?limit=100&cursor="), "{next}");
    assert_eq!(default.json::<Vec<Value>>().await.expect("json").len(), 100);
    assert!(next_link(&widest).is_none(), "a short page is the last");
    assert_eq!(widest.json::<Vec<Value>>().await.expect("json").len(), 101);
    // A full page may be the last one; the next page is then empty and has no link.
    let after = next_link(&exact).expect("a full page links on");
    assert_eq!(exact.json::<Vec<Value>>().await.expect("json").len(), 101);
    let empty = app.tickets(after.trim_start_matches("/api/tickets")).await;
    assert!(next_link(&empty).is_none());
    assert_eq!(
        empty.json::<Vec<Value>>().await.expect("json"),
        Vec::<Value>::new()
    );
}

#[actix_web::test]
async fn a_limit_outside_1_to_1000_or_a_malformed_cursor_is_a_400_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        ("?limit=0", "limit", "zero"),
        ("?limit=1001", "limit", "above 1000"),
        ("?limit=-1", "limit", "negative"),
        ("?limit=1.5", "limit", "fractional"),
        ("?limit=ten", "limit", "not a number"),
        ("?limit=", "limit", "empty"),
        ("?limit=99999999999999999999999", "limit", "huge"),
        ("?cursor=abc", "cursor", "short cursor"),
        (
            "?cursor=ABCDEF0123456789ABCDEF01",
            "cursor",
            "upper-case cursor",
        ),
        (
            "?limit=10&cursor=zzzzzzzzzzzzzzzzzzzzzzzz",
            "cursor",
            "non-hex cursor",
        ),
    ];
    for (query, field, why) in cases {
        // Act
        let response = app.tickets(query).await;
        // Assert
        assert_eq!(response.status(), 400, "{why}");
        assert_eq!(error_fields(response).await, named(&[field]), "{why}");
    }
    assert_eq!(app.tickets("?limit=1").await.status(), 200, "1 is allowed");
    assert_eq!(
        app.tickets("?limit=1000").await.status(),
        200,
        "1000 is allowed"
    );
}

#[actix_web::test]
async fn unknown_and_malformed_ticket_ids_are_404_for_reading_and_editing() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let real = app.listed_ticket(&seller).await;
    let unknown = unknown_id(&real);
    let cases = [
        (unknown, "well formed but unknown"),
        ("abc".to_owned(), "too short"),
        (format!("{real}0"), "25 characters"),
        (real.to_uppercase(), "upper-case hex"),
        ("g".repeat(24), "not hex"),
        ("%20".repeat(8), "spaces"),
    ];
    let edit = json!({"title": "Edited", "price": 30});
    for (id, why) in cases {
        // Act
        let shown = app.ticket(&id).await;
        let edited = app.update_ticket(&seller, &id, &edit).await;
        // Assert
        assert_eq!(shown.status(), 404, "GET: {why}");
        assert_eq!(
            errors_of(shown).await,
            vec![("Not found".to_owned(), None)],
            "GET: {why}"
        );
        assert_eq!(edited.status(), 404, "PUT: {why}");
    }
    assert_eq!(
        app.ticket_json(&real).await["version"],
        0,
        "the real ticket is untouched"
    );
}

#[actix_web::test]
async fn the_owner_edits_a_ticket_and_each_edit_adds_one_to_its_version_and_etag() {
    // Arrange
    let app = spawn_app().await;
    let (seller, seller_id) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    for (version, title, price) in [
        (1, "Front row", json!(35.5)),
        (2, "  Back row ", json!("12.00")),
    ] {
        // Act
        let response = app
            .update_ticket(&seller, &id, &json!({"title": title, "price": price}))
            .await;
        // Assert
        assert_eq!(response.status(), 200, "edit {version}");
        assert_eq!(response.headers()[ETAG], format!("\"{version}\"").as_str());
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["version"], version);
        assert_eq!(body["userId"], seller_id.as_str());
        let shown = app.ticket(&id).await;
        assert_eq!(shown.headers()[ETAG], format!("\"{version}\"").as_str());
        assert_eq!(shown.json::<Value>().await.expect("json"), body);
    }
    let ticket = app.ticket_json(&id).await;
    assert_eq!(
        (ticket["title"].clone(), ticket["price"].clone()),
        (json!("Back row"), json!(12.0))
    );
    for (change, count) in [("edited", 2), ("released", 0), ("sold", 0)] {
        let series = format!("ticketing_ticket_changes_total{{change=\"{change}\"}}");
        assert_eq!(app.metric(&series).await, count, "{change}");
    }
}

#[actix_web::test]
async fn an_edit_validates_like_a_listing_and_changes_nothing_when_refused() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    let cases = [
        (json!({}), vec!["title", "price"], "empty body"),
        (
            json!({"title": " ", "price": 20}),
            vec!["title"],
            "blank title",
        ),
        (
            json!({"title": "ok", "price": 0.499}),
            vec!["price"],
            "three decimals",
        ),
        (
            json!({"title": "ok", "price": 1_000_000}),
            vec!["price"],
            "too expensive",
        ),
    ];
    for (body, fields, why) in cases {
        // Act
        let response = app.update_ticket(&seller, &id, &body).await;
        // Assert
        assert_eq!(response.status(), 400, "{why}");
        assert_eq!(error_fields(response).await, named(&fields), "{why}");
    }
    assert_eq!(app.ticket_json(&id).await["version"], 0);
    assert_eq!(app.metric(TICKETS_UPDATED).await, 0);
}

#[actix_web::test]
async fn only_the_owner_may_edit_a_ticket() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    // Act
    let response = app
        .update_ticket(&stranger, &id, &json!({"title": "Stolen", "price": 1}))
        .await;
    // Assert
    assert_eq!(response.status(), 403);
    assert_eq!(
        errors_of(response).await,
        vec![("Not authorized".to_owned(), None)]
    );
    let ticket = app.ticket_json(&id).await;
    assert_eq!(
        (ticket["title"].clone(), ticket["version"].clone()),
        (json!("A concert"), json!(0))
    );
}

#[actix_web::test]
async fn a_held_ticket_cannot_be_edited_until_the_hold_ends() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    let order = app.reserved_order(&buyer, &id).await;
    let edit = json!({"title": "Cheaper", "price": 5});
    // Act
    let while_held = app.update_ticket(&seller, &id, &edit).await;
    // Assert
    assert_eq!(while_held.status(), 409);
    assert_eq!(
        errors_of(while_held).await,
        vec![("Cannot edit a reserved ticket".to_owned(), None)]
    );
    assert_eq!(
        app.order_json(&buyer, &order).await["ticket"]["price"],
        20.0,
        "the buyer's price stands"
    );
    assert_eq!(app.cancel(&buyer, &order).await.status(), 204);
    let after = app.update_ticket(&seller, &id, &edit).await;
    assert_eq!(after.status(), 200);
    assert_eq!(
        after.json::<Value>().await.expect("json")["version"],
        3,
        "reserve, release, edit"
    );
}

#[actix_web::test]
async fn a_stale_if_match_is_412_and_a_current_one_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let id = app.listed_ticket(&seller).await;
    let etag = app.ticket(&id).await.headers()[ETAG]
        .to_str()
        .expect("ascii")
        .to_owned();
    let edit = |title: &str| json!({"title": title, "price": 21});
    // Act
    let first = app
        .update_ticket_if_match(&seller, &id, &etag, &edit("First"))
        .await;
    let stale = app
        .update_ticket_if_match(&seller, &id, &etag, &edit("Stale"))
        .await;
    // Assert
    assert_eq!(first.status(), 200, "the version read is current");
    assert_eq!(stale.status(), 412, "version 0 is no longer current");
    assert_eq!(
        errors_of(stale).await,
        vec![("The ticket has changed since you read it".to_owned(), None)]
    );
    let cases = [
        ("\"1\"", 200, "current, quoted"),
        ("W/\"2\"", 200, "current, weak"),
        ("*", 200, "any version"),
        ("\"9\"", 412, "from the future"),
        ("not-a-version", 412, "malformed"),
    ];
    for (if_match, status, why) in cases {
        let response = app
            .update_ticket_if_match(&seller, &id, if_match, &edit(why))
            .await;
        assert_eq!(response.status().as_u16(), status, "{why}");
    }
    let ticket = app.ticket_json(&id).await;
    assert_eq!(
        (ticket["title"].clone(), ticket["version"].clone()),
        (json!("any version"), json!(4))
    );
}

/// The fields a validation error should name, in the form `error_fields` answers.
fn named(fields: &[&str]) -> Vec<Option<String>> {
    fields.iter().map(|f| Some((*f).to_owned())).collect()
}
