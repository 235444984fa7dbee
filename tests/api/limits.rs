//! The limits of a public shop (DESIGN §8): rates per client address, failed signins per
//! account, the hold cap per buyer, the bounded password-hashing queue, and `--limits off`.
//!
//! Each test turns the limits on (the harness starts shops with them off) and sets only the
//! one it is about, so the others cannot be what answered.

use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};
use ticketing::config::{Config, Switch};

use crate::helpers::{PASSWORD, TestApp, eventually, spawn_app_with};

/// The limits on, each one off (0) unless the test sets it.
fn only(configure: impl FnOnce(&mut Config)) -> impl FnOnce(&mut Config) {
    move |config| {
        config.limits = Switch::On;
        config.signups_per_minute = 0;
        config.signins_per_minute = 0;
        config.password_changes_per_minute = 0;
        config.failed_signins_per_hour = 0;
        config.max_holds_per_buyer = 0;
        config.hash_queue = 10_000;
        configure(config);
    }
}

/// Asserts a 429 in the envelope with a whole number of seconds in Retry-After.
async fn assert_too_many(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 429, "{what}");
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in whole seconds"));
    assert!(retry_after >= 1, "{what}: wait at least a second");
    let body: Value = response.json().await.expect("an envelope");
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(message.contains("try again"), "{what}: {message}");
}

async fn signup_as(app: &TestApp, email: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    signup_owned(app, email.to_owned(), forwarded_for).await
}

async fn signup_owned(
    app: &TestApp,
    email: String,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = Client::new()
        .post(app.url("/api/users/signup"))
        .json(&json!({"email": email, "password": PASSWORD}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("request")
}

#[actix_web::test]
async fn signups_past_the_limit_from_one_address_get_429_with_retry_after() {
    // Arrange
    let app = spawn_app_with(only(|c| c.signups_per_minute = 3)).await;
    for n in 0..3 {
        let response = signup_as(&app, &format!("u{n}@example.com"), None).await;
        assert_eq!(response.status(), 201, "signup {n} is within the limit");
    }
    // Act
    let refused = signup_as(&app, "u3@example.com", None).await;
    // Assert
    assert_too_many(refused, "the fourth signup in a minute").await;
    let fresh = Client::new();
    let signin = app.signin(&fresh, "u3@example.com", PASSWORD).await;
    assert_eq!(signin.status(), 400, "the refused signup created nothing");
}

#[actix_web::test]
async fn signins_and_password_changes_past_their_limits_get_429() {
    // Arrange
    let app = spawn_app_with(only(|c| {
        c.signins_per_minute = 2;
        c.password_changes_per_minute = 1;
    }))
    .await;
    let (client, _) = app.user().await;
    let email = app.current_user(&client).await["currentUser"]["email"]
        .as_str()
        .expect("an email")
        .to_owned();
    for n in 0..2 {
        let response = app.signin(&Client::new(), &email, PASSWORD).await;
        assert_eq!(response.status(), 200, "signin {n}");
    }
    // Act and assert
    assert_too_many(
        app.signin(&Client::new(), &email, PASSWORD).await,
        "the third signin",
    )
    .await;
    let change = |new: &'static str| {
        let body = json!({"currentPassword": PASSWORD, "newPassword": new});
        let request = client.post(app.url("/api/users/password")).json(&body);
        async move { request.send().await.expect("request") }
    };
    assert_eq!(change("a new password 1").await.status(), 200);
    assert_too_many(change("a new password 2").await, "the second change").await;
}

#[actix_web::test]
async fn an_account_with_too_many_failed_signins_refuses_even_the_right_password() {
    // Arrange
    let app = spawn_app_with(only(|c| c.failed_signins_per_hour = 3)).await;
    let (_, _) = app.user().await;
    let email = "locked@example.com";
    assert_eq!(signup_as(&app, email, None).await.status(), 201);
    assert_eq!(
        signup_as(&app, "other@example.com", None).await.status(),
        201
    );
    // Act: the failures spend the account's allowance.
    let mut refused = None;
    for _ in 0..6 {
        let response = app.signin(&Client::new(), email, "a wrong password").await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 400, "a wrong password");
    }
    // Assert
    assert_too_many(
        refused.expect("locked after the failures"),
        "a locked account",
    )
    .await;
    assert_too_many(
        app.signin(&Client::new(), email, PASSWORD).await,
        "the right password on a locked account",
    )
    .await;
    let other = app
        .signin(&Client::new(), "other@example.com", PASSWORD)
        .await;
    assert_eq!(other.status(), 200, "another account is not locked");
}

#[actix_web::test]
async fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
    // Arrange: no proxy trusted; X-Forwarded-For is the client's say-so.
    let app = spawn_app_with(only(|c| c.signups_per_minute = 1)).await;
    assert_eq!(
        signup_as(&app, "a@example.com", Some("10.0.0.1"))
            .await
            .status(),
        201
    );
    // Act and assert: another claimed address is still the same peer.
    assert_too_many(
        signup_as(&app, "b@example.com", Some("10.0.0.2")).await,
        "an untrusted forwarded address",
    )
    .await;

    // Arrange: 127.0.0.1 is a trusted proxy; each forwarded client has its own allowance.
    let app = spawn_app_with(only(|c| {
        c.signups_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    }))
    .await;
    // Act and assert
    assert_eq!(
        signup_as(&app, "a@example.com", Some("10.0.0.1"))
            .await
            .status(),
        201
    );
    assert_eq!(
        signup_as(&app, "b@example.com", Some("10.0.0.2"))
            .await
            .status(),
        201
    );
    assert_too_many(
        signup_as(&app, "c@example.com", Some("10.0.0.1")).await,
        "the same forwarded client again",
    )
    .await;
}

#[actix_web::test]
async fn a_buyer_stops_at_the_hold_cap_and_may_hold_again_once_a_hold_ends() {
    // Arrange
    let app = spawn_app_with(only(|c| c.max_holds_per_buyer = 2)).await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        tickets.push(app.listed_ticket(&seller).await);
    }
    let first = app.reserved_order(&buyer, &tickets[0]).await;
    app.reserved_order(&buyer, &tickets[1]).await;
    // Act
    let refused = app.reserve(&buyer, &tickets[2]).await;
    // Assert
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.expect("an envelope");
    let message = body["errors"][0]["message"].as_str().expect("a message");
    assert!(message.contains("2 tickets"), "{message}");
    assert_eq!(app.ticket_json(&tickets[2]).await.get("orderId"), None);
    assert_eq!(app.cancel(&buyer, &first).await.status(), 204);
    assert_eq!(app.reserve(&buyer, &tickets[2]).await.status(), 201);
}

#[actix_web::test]
async fn concurrent_reservations_by_one_buyer_never_overshoot_the_cap() {
    // Arrange
    let app = spawn_app_with(only(|c| c.max_holds_per_buyer = 3)).await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let mut tickets = Vec::new();
    for _ in 0..12 {
        tickets.push(app.listed_ticket(&seller).await);
    }
    // Act
    let answers = futures::future::join_all(tickets.iter().map(|id| app.reserve(&buyer, id))).await;
    // Assert
    let won = answers.iter().filter(|r| r.status() == 201).count();
    let capped = answers.iter().filter(|r| r.status() == 409).count();
    assert_eq!((won, capped), (3, 9));
    assert_eq!(app.orders_json(&buyer).await.len(), 3);
}

#[actix_web::test]
async fn limits_off_lifts_every_limit_at_once() {
    // Arrange: strict limits, then --limits off.
    let app = spawn_app_with(|c| {
        c.limits = Switch::Off;
        c.signups_per_minute = 1;
        c.max_holds_per_buyer = 1;
        c.hash_queue = 0;
    })
    .await;
    // Act
    let signups = futures::future::join_all(
        (0..4).map(|n| signup_owned(&app, format!("free{n}@example.com"), None)),
    )
    .await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let first = app.listed_ticket(&seller).await;
    let second = app.listed_ticket(&seller).await;
    // Assert
    assert!(signups.iter().all(|r| r.status() == 201));
    assert_eq!(app.reserve(&buyer, &first).await.status(), 201);
    assert_eq!(app.reserve(&buyer, &second).await.status(), 201);
}

#[actix_web::test]
async fn signins_dropped_mid_hash_never_run_more_hashes_than_there_are_cores() {
    // Arrange: two workers (the harness's), so two hashes at most; no rate limit.
    let app = spawn_app_with(only(|_| {})).await;
    let impatient = Client::builder()
        .timeout(Duration::from_millis(5))
        .build()
        .expect("a client");
    let metrics = Client::new();
    let running = || async {
        let text = metrics
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        crate::helpers::metric_in(&text, "ticketing_password_hashes_running")
    };
    // Act: 60 signins, each abandoned a few milliseconds in.
    let flood = futures::future::join_all((0..60).map(|n| {
        impatient
            .post(app.url("/api/users/signin"))
            .json(&json!({"email": format!("nobody{n}@example.com"), "password": PASSWORD}))
            .send()
    }));
    let mut most = 0;
    let mut slowest_health = Duration::ZERO;
    let sampling = async {
        for _ in 0..40 {
            most = most.max(running().await);
            let asked = std::time::Instant::now();
            let health = metrics
                .get(app.url("/healthz"))
                .send()
                .await
                .expect("healthz");
            assert_eq!(health.status(), 200);
            slowest_health = slowest_health.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (answers, ()) = futures::join!(flood, sampling);
    // Assert
    assert!(
        answers.iter().all(Result::is_err),
        "every signin was abandoned"
    );
    assert!(most <= 2, "at most one hash per core ran at once: {most}");
    assert!(
        slowest_health < Duration::from_secs(1),
        "healthz took {slowest_health:?}"
    );
    let drained = eventually(Duration::from_secs(30), || async { running().await == 0 }).await;
    assert!(drained, "the abandoned hashes end");
}

#[actix_web::test]
async fn past_the_hash_queue_signins_get_503_with_retry_after() {
    // Arrange: one hash may wait beside the two running.
    let app = spawn_app_with(only(|c| c.hash_queue = 1)).await;
    // Act: many at once.
    let answers = futures::future::join_all((0..16).map(|n| {
        Client::new()
            .post(app.url("/api/users/signin"))
            .json(&json!({"email": format!("nobody{n}@example.com"), "password": PASSWORD}))
            .send()
    }))
    .await;
    // Assert
    let mut busy = 0;
    for answer in answers {
        let answer = answer.expect("an answer");
        match answer.status().as_u16() {
            400 => {}
            503 => {
                busy += 1;
                assert_eq!(
                    answer.headers().get("retry-after").map(|v| v.as_bytes()),
                    Some(&b"1"[..])
                );
                let body: Value = answer.json().await.expect("an envelope");
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("busy"))
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "some signins found the queue full");
}
