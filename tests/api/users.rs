//! /api/users and the things every route shares: sessions, the envelope, body limits.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, PASSWORD, errors_of, spawn_app};

#[actix_web::test]
async fn signup_creates_the_account_and_sets_an_http_only_session_cookie() {
    // Arrange
    let app = spawn_app().await;
    let client = app.client();
    // Act
    let response = app.signup(&client, "  Alice@Example.COM ", PASSWORD).await;
    // Assert
    assert_eq!(response.status(), 201);
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in ["session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure only with --cookie-secure"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["id"].as_str().expect("id").len(), 24);
    let current = app.current_user(&client).await;
    assert_eq!(current["currentUser"]["email"], "alice@example.com");
    assert_eq!(current["currentUser"]["id"], body["id"]);
    let (iat, exp) = (
        current["currentUser"]["iat"].as_u64(),
        current["currentUser"]["exp"].as_u64(),
    );
    assert_eq!(
        exp.zip(iat).map(|(e, i)| e - i),
        Some(7 * 24 * 3600),
        "seconds, 7 days"
    );
}

#[actix_web::test]
async fn the_cookie_is_secure_when_configured() {
    let app = crate::helpers::spawn_app_with(|c| c.cookie_secure = true).await;
    let response = app.signup(&app.client(), "s@example.com", PASSWORD).await;
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[actix_web::test]
async fn an_email_is_one_account_whatever_its_letter_case() {
    let app = spawn_app().await;
    assert_eq!(
        app.signup(&app.client(), "bob@example.com", PASSWORD)
            .await
            .status(),
        201
    );
    let response = app
        .signup(&app.client(), " BOB@Example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        errors_of(response).await,
        vec![("Email in use".to_owned(), None)]
    );
}

#[actix_web::test]
async fn invalid_signups_name_every_bad_field_and_store_nothing() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), vec!["email", "password"], "empty body"),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            vec!["email"],
            "bad email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            vec!["password"],
            "short password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            vec!["password"],
            "long password",
        ),
        (
            json!({"email": 42, "password": true}),
            vec!["email", "password"],
            "wrong types",
        ),
        (
            json!({"email": null, "password": ["a"]}),
            vec!["email", "password"],
            "null and array",
        ),
    ];
    for (body, fields, why) in cases {
        let response = app.post(&app.client(), "/api/users/signup", &body).await;
        assert_eq!(response.status(), 400, "{why}");
        let got: Vec<_> = errors_of(response)
            .await
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        let want: Vec<_> = fields.iter().map(|f| Some((*f).to_owned())).collect();
        assert_eq!(got, want, "{why}");
    }
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"UserCreated\"}")
            .await,
        0
    );
}

#[actix_web::test]
async fn a_body_that_is_not_a_json_object_is_refused_as_a_whole() {
    let app = spawn_app().await;
    for body in [
        json!([]),
        json!(["a@example.com", PASSWORD]),
        json!("x"),
        json!(null),
    ] {
        let response = app.post(&app.client(), "/api/users/signup", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            errors_of(response).await,
            vec![("Request body must be a JSON object".to_owned(), None)],
            "{body}"
        );
    }
}

#[actix_web::test]
async fn signin_normalises_the_email_and_sets_the_cookie() {
    let app = spawn_app().await;
    app.signup(&app.client(), "carol@example.com", PASSWORD)
        .await;
    let client = app.client();
    let response = app.signin(&client, " CAROL@example.com ", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key(SET_COOKIE));
    assert_eq!(
        app.current_user(&client).await["currentUser"]["email"],
        "carol@example.com"
    );
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_are_answered_identically() {
    let app = spawn_app().await;
    app.signup(&app.client(), "dave@example.com", PASSWORD)
        .await;
    let unknown = app
        .signin(&app.client(), "nobody@example.com", PASSWORD)
        .await;
    let wrong = app
        .signin(&app.client(), "dave@example.com", "wrong password")
        .await;
    assert_eq!(
        (unknown.status(), wrong.status()),
        (
            reqwest::StatusCode::BAD_REQUEST,
            reqwest::StatusCode::BAD_REQUEST
        )
    );
    let (unknown, wrong) = (
        unknown.bytes().await.expect("body"),
        wrong.bytes().await.expect("body"),
    );
    assert_eq!(unknown, wrong, "byte-identical bodies");
    assert_eq!(
        &unknown[..],
        br#"{"errors":[{"message":"Invalid credentials"}]}"#
    );
}

#[actix_web::test]
async fn signin_validates_its_fields() {
    let app = spawn_app().await;
    let response = app
        .post(&app.client(), "/api/users/signin", &json!({}))
        .await;
    assert_eq!(response.status(), 400);
    let fields: Vec<_> = errors_of(response)
        .await
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    assert_eq!(
        fields,
        vec![Some("email".to_owned()), Some("password".to_owned())]
    );
}

#[actix_web::test]
async fn signout_revokes_the_session_even_for_a_replayed_token() {
    let app = spawn_app().await;
    let client = app.client();
    let response = app.signup(&client, "erin@example.com", PASSWORD).await;
    let token = session_token(&response);
    let other = app.client();
    app.signin(&other, "erin@example.com", PASSWORD).await;

    let response = app.signout(&client).await;
    assert_eq!(response.status(), 200);
    let cleared = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(response.json::<Value>().await.expect("json"), json!({}));

    assert_eq!(
        app.current_user(&client).await,
        json!({"currentUser": null})
    );
    let replayed = app
        .client()
        .get(app.url("/api/users/currentuser"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        replayed.json::<Value>().await.expect("json"),
        json!({"currentUser": null})
    );
    assert_eq!(
        app.current_user(&other).await["currentUser"]["email"],
        "erin@example.com",
        "only that session"
    );
}

#[actix_web::test]
async fn bearer_tokens_work_like_the_cookie() {
    let app = spawn_app().await;
    let response = app
        .signup(&app.client(), "frank@example.com", PASSWORD)
        .await;
    let token = session_token(&response);
    let bare = reqwest::Client::new();
    let with_bearer = |path: &str| {
        bare.get(app.url(path))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
    };
    let current: Value = with_bearer("/api/users/currentuser")
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(current["currentUser"]["email"], "frank@example.com");
    assert_eq!(
        with_bearer("/api/orders").await.expect("request").status(),
        200
    );
    assert_eq!(
        bare.get(app.url("/api/orders"))
            .send()
            .await
            .expect("request")
            .status(),
        401
    );
}

#[actix_web::test]
async fn expired_forged_and_garbage_tokens_count_as_signed_out() {
    let app = spawn_app().await;
    let response = app
        .signup(&app.client(), "gina@example.com", PASSWORD)
        .await;
    let live: Value = {
        let token = session_token(&response);
        let parts: Vec<&str> = token.split('.').collect();
        use base64_decode::decode;
        serde_json::from_slice(&decode(parts[1])).expect("claims")
    };
    let now = live["iat"].as_u64().expect("iat");
    let sign = |secret: &str, exp: u64| {
        let claims = json!({"sub": live["sub"], "email": live["email"], "sid": live["sid"], "iat": now, "exp": exp});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    };
    let cases = [
        (sign(JWT_SECRET, now - 10), "expired"),
        (
            sign("another secret entirely", now + 3600),
            "signed with another secret",
        ),
        ("not.a.token".to_owned(), "garbage"),
    ];
    // The well-signed, unexpired control token is accepted, so the others fail for their reason.
    let control = sign(JWT_SECRET, now + 3600);
    for (token, why) in std::iter::once((control, "control")).chain(cases) {
        let current: Value = reqwest::Client::new()
            .get(app.url("/api/users/currentuser"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let signed_in = !current["currentUser"].is_null();
        assert_eq!(signed_in, why == "control", "{why}: {current}");
    }
}

#[actix_web::test]
async fn fifty_concurrent_signups_with_one_email_make_exactly_one_account() {
    let app = spawn_app().await;
    let attempts = (0..50).map(|i| {
        let email = if i % 2 == 0 {
            "Race@Example.com"
        } else {
            "race@example.COM"
        };
        let client = app.client();
        let app = &app;
        async move { app.signup(&client, email, PASSWORD).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"UserCreated\"}")
            .await,
        1
    );
}

#[actix_web::test]
async fn accounts_and_sessions_survive_a_restart() {
    let mut app = spawn_app().await;
    let client = app.client();
    let response = app.signup(&client, "hana@example.com", PASSWORD).await;
    let token = session_token(&response);
    app.restart().await;
    assert_eq!(
        app.signin(&app.client(), "hana@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    let current: Value = reqwest::Client::new()
        .get(app.url("/api/users/currentuser"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(current["currentUser"]["email"], "hana@example.com");
}

#[actix_web::test]
async fn bad_requests_get_the_envelope_and_change_nothing() {
    let app = spawn_app().await;
    let raw = |method: reqwest::Method, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = reqwest::Client::new()
            .request(method, app.url(path))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        request.send()
    };
    let json = Some("application/json");
    let cases = [
        (
            raw(
                reqwest::Method::POST,
                "/api/users/signup",
                json,
                b"{\"email\":".to_vec(),
            )
            .await,
            400,
            "malformed JSON",
        ),
        (
            raw(
                reqwest::Method::POST,
                "/api/users/signup",
                json,
                b"[\"a@b.co\", \"password1\"]".to_vec(),
            )
            .await,
            400,
            "array",
        ),
        (
            raw(
                reqwest::Method::POST,
                "/api/users/signup",
                json,
                vec![b' '; 1024 * 1024],
            )
            .await,
            413,
            "1 MB body",
        ),
        (
            raw(
                reqwest::Method::POST,
                "/api/users/signup",
                Some("text/plain"),
                b"{}".to_vec(),
            )
            .await,
            415,
            "text/plain",
        ),
        (
            raw(
                reqwest::Method::POST,
                "/api/users/signup",
                None,
                b"{}".to_vec(),
            )
            .await,
            415,
            "no content type",
        ),
        (
            raw(reqwest::Method::GET, "/api/nothing-here", None, vec![]).await,
            404,
            "unknown route",
        ),
        (
            raw(reqwest::Method::DELETE, "/api/users/signup", None, vec![]).await,
            405,
            "wrong method",
        ),
        (
            raw(reqwest::Method::PATCH, "/api/tickets", json, b"{}".to_vec()).await,
            405,
            "wrong method on tickets",
        ),
    ];
    for (response, status, why) in cases {
        let response = response.expect("request");
        assert_eq!(response.status().as_u16(), status, "{why}");
        let text = response.text().await.expect("text");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{why}: not JSON: {text}"));
        assert!(body["errors"][0]["message"].is_string(), "{why}: {text}");
        assert!(!text.to_lowercase().contains("panic"), "{why}: {text}");
    }
    let charset = raw(
        reqwest::Method::POST,
        "/api/users/signup",
        Some("application/json; charset=utf-8"),
        br#"{"email":"ok@example.com","password":"password1"}"#.to_vec(),
    )
    .await
    .expect("request");
    assert_eq!(charset.status(), 201, "JSON with a charset is JSON");
    assert_eq!(
        app.metric("ticketing_events_committed_total{event=\"UserCreated\"}")
            .await,
        1
    );
}

#[actix_web::test]
async fn healthz_answers_without_a_session() {
    let app = spawn_app().await;
    let response = app.get(&app.client(), "/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
        "the version lets a load test name the build it measured"
    );
    assert!(
        app.get(&app.client(), "/healthz")
            .await
            .headers()
            .contains_key("x-request-id")
    );
}

#[actix_web::test]
async fn signup_answers_within_a_reasonable_time() {
    // Not a benchmark: a guard that hashing runs off the async threads and is optimised.
    let app = spawn_app().await;
    let started = std::time::Instant::now();
    app.signup(&app.client(), "quick@example.com", PASSWORD)
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn session_token(response: &reqwest::Response) -> String {
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
    cookie
        .strip_prefix("session=")
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// JWT segments are unpadded base64url; decoding by hand keeps a dependency out.
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes() {
            bits = (bits << 6) | u32::from(value(c));
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        out
    }
}
