//! Compatibility: every data directory an earlier release wrote still opens and shows what
//! it showed then (DESIGN §3, docs/STORAGE.md "What a release promises to open").
//!
//! `tests/fixtures/<name>/data` is a data directory written by an earlier release, and
//! `view.json` what that release's API answered over it (made by
//! `tests/fixtures/make_fixture.py`). Each test opens a copy with this build and compares
//! every recorded answer: an answer may gain fields, never lose or change one. Keep every
//! fixture forever; add one per new format version.

use std::path::{Path, PathBuf};

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// Every fixture, oldest first.
const FIXTURES: [&str; 4] = ["v1", "v2", "v3", "v4"];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn view_of(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir(name).join("view.json")).expect("view.json");
    serde_json::from_str(&text).expect("view.json is JSON")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("the fixture") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

/// The app on a copy of the fixture's data directory, with the JWT secret the release
/// generated there (so the recorded session tokens stay valid).
async fn open_fixture(name: &str) -> TestApp {
    let data = fixture_dir(name).join("data");
    spawn_app_with(|config| {
        copy_dir(&data, &config.data_dir);
        config.jwt_secret = None;
        config.hold_secs = 100 * 365 * 24 * 3600;
    })
    .await
}

/// `expected` holds in `actual`: every field it names is there with an equal value, and
/// arrays have the same length with each element holding. `at` names the place for the
/// failure message.
fn assert_holds(actual: &Value, expected: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(fields), Value::Object(got)) => {
            for (key, value) in fields {
                let found = got
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}: field {key} is missing in {actual}"));
                assert_holds(found, value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(items), Value::Array(got)) => {
            assert_eq!(items.len(), got.len(), "{at}: {actual} against {expected}");
            for (i, (item, found)) in items.iter().zip(got).enumerate() {
                assert_holds(found, item, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{at}"),
    }
}

/// Asks every route the fixture recorded, as the user it was asked as, and compares.
async fn assert_shows_its_view(app: &TestApp, view: &Value, when: &str) {
    let client = Client::new();
    for route in view["routes"].as_array().expect("routes") {
        let path = route["path"].as_str().expect("a path");
        let token = match route["as"].as_str() {
            Some("signed_out") => view["signed_out_token"].as_str(),
            Some(name) => view["tokens"][name].as_str(),
            None => None,
        };
        let mut request = client.get(app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let at = format!("{when}: GET {path} as {}", route["as"]);
        assert_eq!(
            response.status().as_u16(),
            route["status"].as_u64().expect("a status") as u16,
            "{at}"
        );
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_holds(&body, &route["body"], &at);
    }
}

#[actix_web::test]
async fn every_fixture_shows_its_recorded_view_when_opened_reopened_and_rebuilt() {
    for name in FIXTURES {
        // Arrange
        let view = view_of(name);
        // Act: open as written by the old release.
        let mut app = open_fixture(name).await;
        // Assert
        assert_shows_its_view(&app, &view, &format!("{name}, opened")).await;

        // Act: reopen after this build has run on it.
        app.restart().await;
        assert_shows_its_view(&app, &view, &format!("{name}, reopened")).await;

        // Act: every projection rebuilt from the old journal alone.
        app.restart_with(|config| config.rebuild_projections = true)
            .await;
        assert_shows_its_view(&app, &view, &format!("{name}, rebuilt")).await;
        app.stop().await;
    }
}

#[actix_web::test]
async fn an_upgraded_shop_signs_in_sells_and_ends_holds_written_by_the_old_release() {
    for name in FIXTURES {
        // Arrange
        let view = view_of(name);
        let mut app = open_fixture(name).await;
        let ids = &view["ids"];
        let password = view["password"].as_str().expect("the password");
        let bob = app.client();
        let signed_in = app.signin(&bob, "bob@fixture.example", password).await;
        assert_eq!(signed_in.status().as_u16(), 200, "{name}: bob signs in");
        // A password changed under the old release (its `UserUpdated`) is the one that works.
        let changed = view["changed_passwords"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (email, new_password) in &changed {
            let new_password = new_password.as_str().expect("a password");
            let with_new = app.signin(&app.client(), email, new_password).await;
            assert_eq!(
                with_new.status().as_u16(),
                200,
                "{name}: {email}, new password"
            );
            let with_old = app.signin(&app.client(), email, password).await;
            assert_eq!(
                with_old.status().as_u16(),
                400,
                "{name}: {email}, old password"
            );
        }
        let carol = Client::new();
        let carol_token = view["tokens"]["carol"].as_str().expect("carol's token");
        let edited = ids["tickets"]["t1"].as_str().expect("t1");
        let pending = ids["orders"]["pending"]
            .as_str()
            .expect("the pending order");
        let held = ids["tickets"]["t6"].as_str().expect("t6");

        // Act: a new order on a ticket the old release listed and edited, paid.
        let order = app.reserved_order(&bob, edited).await;
        let paid = app.pay(&bob, &order, "tok_visa").await;
        // ... and the hold the old release placed, cancelled by its buyer.
        let cancelled = carol
            .delete(app.url(&format!("/api/orders/{pending}")))
            .bearer_auth(carol_token)
            .send()
            .await
            .expect("request");

        // Assert
        assert_eq!(paid.status().as_u16(), 201, "{name}: the payment");
        assert_eq!(cancelled.status().as_u16(), 204, "{name}: the cancel");
        app.restart().await;
        let sold = app.ticket_json(edited).await;
        assert_eq!(
            sold["version"],
            json!(4),
            "{name}: edited twice, held, sold"
        );
        assert_eq!(sold["orderId"], json!(order), "{name}");
        let freed = app.ticket_json(held).await;
        assert_eq!(freed.get("orderId"), None, "{name}: the old hold ended");
        let listed: Vec<Value> = app.listed_ids().await;
        assert!(listed.contains(&json!(held)), "{name}: {listed:?}");
        assert!(!listed.contains(&json!(edited)), "{name}: {listed:?}");
        app.stop().await;
    }
}
