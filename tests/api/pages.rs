//! The page's files as served: the HTML, its style and every ES module it imports, each under
//! the strict Content-Security-Policy, with nothing inline for the policy to block. Walking
//! the imports from the page catches a module left out of `src/http/pages.rs`'s table.

use std::collections::BTreeSet;

use crate::helpers::{spawn_app, spawn_app_with};

const POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

/// The `./name.js` modules a module imports.
fn imports(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|line| line.starts_with("import "))
        .filter_map(|line| line.split("from \"./").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn the_page_and_every_module_it_imports_are_served_under_the_strict_policy() {
    // Arrange
    let app = spawn_app().await;
    let client = app.client();

    // Act: the page, its style, then every module reachable from its entry point.
    let page = app.get(&client, "/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-security-policy"], POLICY);
    let html = page.text().await.expect("the page");
    let style = app.get(&client, "/app.css").await;
    assert_eq!(style.status(), 200);
    assert_eq!(style.headers()["content-security-policy"], POLICY);

    let mut pending = vec!["main.js".to_owned()];
    let mut served = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !served.insert(name.clone()) {
            continue;
        }
        let response = app.get(&client, &format!("/js/{name}")).await;
        // Assert: each module is there, as JavaScript, under the same policy.
        assert_eq!(response.status(), 200, "/js/{name} is served");
        assert_eq!(
            response.headers()["content-type"],
            "text/javascript; charset=utf-8",
            "/js/{name}"
        );
        assert_eq!(response.headers()["content-security-policy"], POLICY);
        let source = response.text().await.expect("a module");
        pending.extend(imports(&source));
    }

    // Assert: the page loads its entry point as a module, and has no inline script or style
    // (the policy would block it).
    assert!(html.contains(r#"<script type="module" src="/js/main.js"></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "one script, by src");
    assert!(!html.contains("style="), "no inline style");
    assert!(!html.contains("<style"), "no style element");
    assert!(served.len() > 5, "the modules were walked: {served:?}");
}

#[actix_web::test]
async fn the_page_s_files_answer_head_with_their_headers_and_no_body() {
    // Arrange
    let app = spawn_app().await;
    let client = app.client();

    for path in ["/", "/js/main.js", "/app.css"] {
        // Act
        let response = client.head(app.url(path)).send().await.expect("request");

        // Assert
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers().contains_key("content-security-policy"),
            "{path} carries the policy"
        );
        assert!(
            response.bytes().await.expect("a body").is_empty(),
            "{path}: no body"
        );
    }
}

#[actix_web::test]
async fn a_module_the_page_does_not_have_is_404() {
    // Arrange
    let app = spawn_app().await;
    let client = app.client();

    for path in ["/js/nothing.js", "/js/..%2Fapp.css", "/js/"] {
        // Act
        let response = app.get(&client, path).await;

        // Assert
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[actix_web::test]
async fn with_a_publishable_key_the_policy_lets_in_stripes_origins_and_no_other() {
    // Arrange: a shop whose page takes cards with Stripe.js.
    let app = spawn_app_with(|config| {
        config.stripe_publishable_key = Some("pk_test_page".into());
    })
    .await;
    let client = app.client();

    for path in ["/", "/app.css", "/js/main.js", "/js/authenticate.js"] {
        // Act
        let response = app.get(&client, path).await;

        // Assert: the strict policy plus exactly Stripe's script, frame and API origins.
        assert_eq!(response.status(), 200, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .expect("an ASCII policy");
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        assert_eq!(
            directives,
            [
                "default-src 'self'",
                "frame-ancestors 'none'",
                "script-src 'self' https://js.stripe.com",
                "frame-src 'self' https://js.stripe.com https://hooks.stripe.com",
                "connect-src 'self' https://api.stripe.com",
            ],
            "{path}"
        );
    }
}
