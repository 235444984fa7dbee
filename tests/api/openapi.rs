//! GET /api/openapi.json against the app that serves it: the document is OpenAPI 3.1, every
//! operation it describes answers on the real app (not 405, not the unknown-route 404) with
//! a status the document lists for it, and every route of the route table is in it.
//!
//! The unit tests in `src/http/openapi.rs` compare the document with the route table; these
//! check both against what actix-web actually serves, through HTTP. May depend on the
//! `helpers` harness and the app's public `http::served_routes`.

use std::collections::BTreeSet;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, errors_of, spawn_app_with};

/// A well-formed id that names nothing, for every `{id}` in a path.
const UNKNOWN_ID: &str = "0123456789abcdef01234567";

/// The unknown-route answer's message (`ApiError::NoSuchRoute`), unlike a route's own 404.
const NO_SUCH_ROUTE: &str = "No such route";

/// The app with every optional route on: the webhook is off (404) without a secret. The
/// offline gateway (the default) keeps the simulated authentication route on.
async fn app_with_every_route() -> TestApp {
    spawn_app_with(|config| {
        config.stripe_webhook_secret = Some(SecretString::from("whsec_openapi_test"));
    })
    .await
}

async fn document(app: &TestApp) -> Value {
    let response = app.get(&app.client(), "/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "served as JSON"
    );
    response.json().await.expect("the document is JSON")
}

/// Every (method, path) the document describes, with the statuses it lists for each.
fn operations(document: &Value) -> Vec<(Method, String, BTreeSet<String>)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes())
                .unwrap_or_else(|_| panic!("{method} {path} names a method"));
            let statuses = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .cloned()
                .collect();
            found.push((method, path.clone(), statuses));
        }
    }
    found
}

/// `path` with its parameters filled: an unknown id, a module the page has.
fn concrete(path: &str) -> String {
    path.replace("{id}", UNKNOWN_ID)
        .replace("{name}", "main.js")
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_and_names_the_shop() {
    // Arrange
    let app = app_with_every_route().await;

    // Act
    let document = document(&app).await;

    // Assert
    let version = document["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1"), "{version}");
    assert_eq!(document["info"]["title"], "ticketing");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[actix_web::test]
async fn every_route_the_app_serves_is_described() {
    // Arrange
    let app = app_with_every_route().await;
    let document = document(&app).await;

    // Act
    let described: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method.to_string(), path))
        .collect();

    // Assert
    let undescribed: Vec<_> = ticketing::http::served_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .filter(|route| !described.contains(route))
        .collect();
    assert!(undescribed.is_empty(), "not described: {undescribed:?}");
}

#[actix_web::test]
async fn every_described_operation_answers_with_a_status_the_document_lists() {
    // Arrange
    let app = app_with_every_route().await;
    let document = document(&app).await;
    let operations = operations(&document);
    let client = app.client();
    // The check below is worth something only if an unknown route and a wrong method are
    // told apart from a route's own answers.
    let nowhere = app.get(&client, "/api/nowhere").await;
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        errors_of(nowhere).await,
        vec![(NO_SUCH_ROUTE.to_owned(), None)]
    );
    let wrong_method = client
        .patch(app.url("/api/tickets"))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_method.status(), 405);

    for (method, path, statuses) in operations {
        // Act: signed out, with an empty JSON object for a body.
        let url = app.url(&concrete(&path));
        let mut request = client.request(method.clone(), url);
        if method == Method::POST || method == Method::PUT {
            request = request.json(&json!({}));
        }
        let response = request.send().await.expect("request");

        // Assert
        let route = format!("{method} {path}");
        let status = response.status();
        assert_ne!(status, 405, "{route}: the method is not served");
        assert!(
            statuses.contains(status.as_str()),
            "{route}: answered {status}, but the document lists only {statuses:?}"
        );
        if path == "/api/tickets/events" {
            // A stream that never ends: the head is the answer; dropping it hangs up.
            assert_eq!(
                response.headers()["content-type"],
                "text/event-stream",
                "{route}"
            );
            continue;
        }
        if status == 404 && method != Method::HEAD {
            let errors = errors_of(response).await;
            assert_ne!(
                errors,
                vec![(NO_SUCH_ROUTE.to_owned(), None)],
                "{route}: no route answered"
            );
        }
    }
}
