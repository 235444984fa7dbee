//! Hostile and careless clients (DESIGN §8): slow bodies and headers, cross-origin writes on the
//! session cookie, the headers that stop browsers misreading answers, the Bearer scheme's letter
//! case, titles that hide what they say, paged orders, and the password change that signs out every
//! other session.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, errors_of, next_link, spawn_app, spawn_app_with};

/// The host:port the app listens on.
fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends on `stream` until it closes or `limit` passes.
fn read_answer(stream: &mut TcpStream, limit: Duration) -> String {
    stream
        .set_read_timeout(Some(limit))
        .expect("a read timeout");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn a_body_sent_too_slowly_gets_408_within_the_limit_while_others_are_served() {
    // Arrange
    let app = spawn_app_with(|c| c.body_timeout_ms = 1_000).await;
    let address = authority(&app);
    // Act: a body promised at 40 bytes, sent a byte every 300 ms.
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&address).expect("connect");
        let head = format!(
            "POST /api/users/signin HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).expect("send the head");
        let mut writer = stream.try_clone().expect("a second handle");
        let dribble = std::thread::spawn(move || {
            for _ in 0..39 {
                std::thread::sleep(Duration::from_millis(300));
                if writer.write_all(b" ").is_err() {
                    return;
                }
            }
        });
        let answer = read_answer(&mut stream, Duration::from_secs(10));
        drop(dribble);
        answer
    });
    let health = app.get(&app.client(), "/healthz").await;
    let answer = tokio::task::spawn_blocking(move || slow.join().expect("the slow client"))
        .await
        .expect("joined");
    // Assert
    assert_eq!(health.status(), 200, "others are served meanwhile");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
}

#[actix_web::test]
async fn headers_sent_too_slowly_get_408() {
    // Arrange
    let app = spawn_app_with(|c| c.header_timeout_ms = 500).await;
    let address = authority(&app);
    // Act: the request line, and then nothing.
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .expect("send part of the head");
        read_answer(&mut stream, Duration::from_secs(5))
    })
    .await
    .expect("joined");
    // Assert
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[actix_web::test]
async fn cookie_writes_from_a_foreign_origin_get_403_and_bearer_or_same_origin_ones_do_not() {
    // Arrange
    let app = spawn_app().await;
    let (client, _) = app.user().await;
    let token = {
        let response = app
            .signup(&Client::new(), "bearer@example.com", PASSWORD)
            .await;
        response
            .cookies()
            .find(|c| c.name() == "session")
            .expect("a session cookie")
            .value()
            .to_owned()
    };
    let ticket = json!({"title": "A concert", "price": 20});
    let own_origin = app.address.clone();
    // Act and assert
    let foreign = client
        .post(app.url("/api/tickets"))
        .header("origin", "https://evil.example")
        .json(&ticket)
        .send()
        .await
        .expect("request");
    assert_eq!(foreign.status(), 403);
    assert_eq!(errors_of(foreign).await.len(), 1, "the envelope");
    let sibling_signout = client
        .post(app.url("/api/users/signout"))
        .header("origin", "https://shop.example.attacker.example")
        .send()
        .await
        .expect("request");
    assert_eq!(
        sibling_signout.status(),
        403,
        "a foreign page cannot sign the user out"
    );
    assert!(
        app.current_user(&client).await["currentUser"].is_object(),
        "still signed in"
    );
    let same = client
        .post(app.url("/api/tickets"))
        .header("origin", &own_origin)
        .json(&ticket)
        .send()
        .await
        .expect("request");
    assert_eq!(same.status(), 201, "the shop's own page");
    let without = app.create_ticket(&client, "A concert", json!(20)).await;
    assert_eq!(
        without.status(),
        201,
        "no Origin: not a browser's cross-site request"
    );
    let bearer = Client::new()
        .post(app.url("/api/tickets"))
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .json(&ticket)
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), 201, "Bearer requests are not affected");
}

#[actix_web::test]
async fn json_answers_carry_nosniff_and_signed_in_ones_no_store() {
    // Arrange
    let app = spawn_app().await;
    let (client, _) = app.user().await;
    // Act
    let public = app.tickets("").await;
    let private = app.get(&client, "/api/users/currentuser").await;
    // Assert
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    assert_eq!(
        header(&public, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&public, "cache-control"), None);
    assert_eq!(
        header(&private, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&private, "cache-control").as_deref(),
        Some("no-store")
    );
}

#[actix_web::test]
async fn the_bearer_scheme_is_matched_in_any_letter_case() {
    // Arrange
    let app = spawn_app().await;
    let response = app
        .signup(&Client::new(), "case@example.com", PASSWORD)
        .await;
    let token = response
        .cookies()
        .find(|c| c.name() == "session")
        .expect("a session cookie")
        .value()
        .to_owned();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        // Act
        let current: Value = Client::new()
            .get(app.url("/api/users/currentuser"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        // Assert
        assert_eq!(
            current["currentUser"]["email"], "case@example.com",
            "{scheme}"
        );
    }
}

#[actix_web::test]
async fn titles_that_hide_or_reorder_what_they_say_are_refused_on_the_title_field() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let cases = [
        ("Cup final\u{0000}", "a NUL"),
        ("Cup\u{0007} final", "a bell"),
        ("Cup\nfinal", "a line break"),
        ("Cup final \u{202E}lanif", "a right-to-left override"),
        ("\u{2066}Cup final\u{2069}", "an isolate"),
        ("Cup\u{200B}final", "a zero-width space"),
        ("Cup final\u{200D}", "a zero-width joiner"),
        ("\u{FEFF}Cup final", "a byte order mark"),
        ("Cup\u{2060}final", "a word joiner"),
    ];
    for (title, why) in cases {
        // Act
        let response = app.create_ticket(&seller, title, json!(20)).await;
        // Assert
        assert_eq!(response.status(), 400, "{why}");
        let errors = errors_of(response).await;
        assert_eq!(errors.len(), 1, "{why}");
        assert_eq!(errors[0].1.as_deref(), Some("title"), "{why}");
        assert!(errors[0].0.contains("invisible"), "{why}: {}", errors[0].0);
    }
    assert!(app.listed_ids().await.is_empty(), "nothing was listed");
    let fine = app
        .create_ticket(&seller, "Résumé ✓ 東京 🎸", json!(20))
        .await;
    assert_eq!(
        fine.status(),
        201,
        "letters of any script and emoji are fine"
    );
}

#[actix_web::test]
async fn orders_are_paged_and_following_the_links_reaches_every_one_once() {
    // Arrange
    let app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut placed = Vec::new();
    for _ in 0..7 {
        let ticket = app.listed_ticket(&seller).await;
        placed.push(app.reserved_order(&buyer, &ticket).await);
    }
    // Act
    let mut path = "/api/orders?limit=3".to_owned();
    let mut pages = Vec::new();
    loop {
        let response = app.get(&buyer, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        let next = next_link(&response);
        let page: Vec<Value> = response.json().await.expect("json");
        pages.push(page.len());
        for order in page {
            pages_seen(&mut placed, &order);
        }
        match next {
            Some(next) => path = next,
            None => break,
        }
    }
    // Assert
    assert_eq!(pages, vec![3, 3, 1]);
    assert!(
        placed.is_empty(),
        "every order came, in order: {placed:?} left"
    );
    for bad in [
        "/api/orders?limit=0",
        "/api/orders?limit=1001",
        "/api/orders?cursor=nope",
    ] {
        let response = app.get(&buyer, bad).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

/// Checks `order` is the next of `expected` (oldest first) and takes it off.
fn pages_seen(expected: &mut Vec<String>, order: &Value) {
    assert_eq!(
        order["id"].as_str(),
        expected.first().map(String::as_str),
        "the next order, once"
    );
    expected.remove(0);
}

#[actix_web::test]
async fn changing_the_password_signs_out_every_other_session_and_the_new_one_works() {
    // Arrange: one account, two sessions.
    let app = spawn_app().await;
    let here = app.client();
    assert_eq!(
        app.signup(&here, "change@example.com", PASSWORD)
            .await
            .status(),
        201
    );
    let elsewhere = app.client();
    assert_eq!(
        app.signin(&elsewhere, "change@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    // Act: a wrong current password first, then the right one.
    let wrong = app
        .post(
            &here,
            "/api/users/password",
            &json!({"currentPassword": "not my password", "newPassword": "a brand new password"}),
        )
        .await;
    let changed = app
        .post(
            &here,
            "/api/users/password",
            &json!({"currentPassword": PASSWORD, "newPassword": "a brand new password"}),
        )
        .await;
    // Assert
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        errors_of(wrong).await[0].1.as_deref(),
        Some("currentPassword")
    );
    assert_eq!(changed.status(), 200);
    assert!(
        app.current_user(&here).await["currentUser"].is_object(),
        "this session stays"
    );
    assert!(
        app.current_user(&elsewhere).await["currentUser"].is_null(),
        "the other is out"
    );
    let old = app
        .signin(&Client::new(), "change@example.com", PASSWORD)
        .await;
    assert_eq!(old.status(), 400, "the old password no longer works");
    let new = app
        .signin(&Client::new(), "change@example.com", "a brand new password")
        .await;
    assert_eq!(new.status(), 200);
    let mut app = app;
    app.restart().await;
    let after = app
        .signin(&Client::new(), "change@example.com", "a brand new password")
        .await;
    assert_eq!(after.status(), 200, "the change survives a restart");
}
