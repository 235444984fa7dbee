//! Every main page at desktop (1280 px) and phone (360 px) width: axe-core finds no serious
//! or critical violation, the header keeps to two rows and nothing scrolls sideways, and
//! focus lands on each page's heading. The same walk photographs the pages: the PNGs go to
//! the target directory, or to docs/screenshots/ (shown in the README) when
//! UPDATE_SCREENSHOTS=1 is set. Also: the countdown is a timer announced at 5 minutes and 1
//! minute.

use std::path::PathBuf;

use serde_json::json;

use crate::helpers::PASSWORD;
use crate::kit::{Browser, Driver, buyer_on_a_listed_ticket, spawn_shop};

const WIDTHS: [(u32, &str); 2] = [(1280, "desktop"), (360, "phone")];

fn screenshot_dir() -> PathBuf {
    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).expect("a screenshot directory");
    dir
}

/// Checks the page now shown at both widths, and photographs it as `name`.
async fn check_page(browser: &Browser, name: &str) {
    for (width, label) in WIDTHS {
        browser.resize(width).await;
        let violations = browser.serious_violations().await;
        assert!(
            violations.is_empty(),
            "{name} at {width} px: serious accessibility violations:\n{}",
            violations.join("\n")
        );
        let rows = browser
            .js(
                "return new Set([...document.querySelectorAll('header .brand, header nav li')]
                   .map((e) => Math.round(e.getBoundingClientRect().top))).size",
                vec![],
            )
            .await;
        assert!(
            rows.as_u64().is_some_and(|r| r <= 2),
            "{name} at {width} px: the header takes {rows} rows"
        );
        let sideways = browser
            .js(
                "return document.documentElement.scrollWidth > window.innerWidth",
                vec![],
            )
            .await;
        assert_eq!(
            sideways,
            json!(false),
            "{name} at {width} px scrolls sideways"
        );
        let png = browser.screenshot().await;
        std::fs::write(screenshot_dir().join(format!("{name}-{label}.png")), png)
            .expect("write a screenshot");
    }
    browser.resize(1280).await;
}

#[actix_web::test]
async fn every_main_page_passes_axe_at_desktop_and_phone_width() {
    // Arrange: a seller's tickets in every state, through the API; a buyer holding one.
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let seller_api = app.client();
    app.signup(&seller_api, "seller@example.com", PASSWORD)
        .await;
    let mut ids = Vec::new();
    for (title, price) in [
        ("Cup final, row 12", "19.99"),
        ("Jazz night, table for two", "64"),
        ("Derby, north stand", "30"),
        ("Opera, balcony seat 4", "120"),
        ("Season opener, standing", "12.50"),
    ] {
        ids.push(
            app.listed_ticket_json(&seller_api, title, json!(price))
                .await["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    let response = seller_api
        .delete(app.url(&format!("/api/tickets/{}", ids[3])))
        .send()
        .await
        .expect("withdraw");
    assert_eq!(response.status(), 204, "withdrawn");

    let driver = Driver::start();
    let buyer = Browser::open(&driver, &app.address).await;
    let seller = Browser::open(&driver, &app.address).await;

    // Signed out: the forms.
    buyer.goto("/signin").await;
    buyer.wait_page("Sign in").await;
    check_page(&buyer, "signin").await;
    buyer.goto("/signup").await;
    buyer.wait_page("Sign up").await;
    check_page(&buyer, "signup").await;

    // The buyer: listing, a ticket, an order paid and one held, my orders.
    buyer.sign_up("buyer@example.com").await;
    buyer.goto(&format!("/tickets/{}", ids[1])).await;
    buyer.wait_page("Jazz night").await;
    buyer.press("Buy").await;
    buyer.wait_page("Order: Jazz night").await;
    buyer.press("Pay").await;
    buyer.wait_text(".order-status", "Paid").await;
    buyer.goto("/").await;
    buyer.wait_page("Tickets for sale").await;
    buyer.wait_for("[data-live='on']").await;
    check_page(&buyer, "listing").await;
    buyer.goto(&format!("/tickets/{}", ids[0])).await;
    buyer.wait_page("Cup final, row 12").await;
    buyer.wait_for("button.primary").await;
    check_page(&buyer, "ticket").await;
    buyer.press("Buy").await;
    buyer.wait_page("Order: Cup final, row 12").await;
    buyer.wait_text("[role='timer']", "left to pay").await;
    check_page(&buyer, "order").await;
    buyer.goto("/orders").await;
    buyer.wait_page("My orders").await;
    buyer.wait_for("li[data-order-id]").await;
    check_page(&buyer, "my-orders").await;

    // The seller: my tickets (for sale, held, sold, withdrawn), editing, selling, account.
    seller.sign_in("seller@example.com", PASSWORD).await;
    seller.goto("/my-tickets").await;
    seller.wait_page("My tickets").await;
    seller.wait_for("li[data-status='withdrawn']").await;
    check_page(&seller, "my-tickets").await;
    seller.goto(&format!("/tickets/{}", ids[2])).await;
    seller.wait_page("Derby, north stand").await;
    seller.press("Edit").await;
    seller.wait_for("form input[name='title']").await;
    check_page(&seller, "ticket-edit").await;
    seller.goto("/sell").await;
    seller.wait_page("Sell a ticket").await;
    check_page(&seller, "sell").await;
    seller.goto("/account").await;
    seller.wait_page("Account").await;
    check_page(&seller, "account").await;

    // Last, as it holds a ticket the seller's pages above show for sale: the offline
    // gateway's authentication step.
    buyer.goto(&format!("/tickets/{}", ids[4])).await;
    buyer.wait_page("Season opener, standing").await;
    buyer.press("Buy").await;
    buyer.wait_page("Order: Season opener, standing").await;
    buyer
        .choose("Test card", "Visa ending 3184 (needs authentication)")
        .await;
    buyer.press("Pay").await;
    buyer
        .wait_text("section.authentication h2", "Authenticate your payment")
        .await;
    check_page(&buyer, "authentication").await;

    buyer.close().await;
    seller.close().await;
}

#[actix_web::test]
async fn the_countdown_is_a_timer_announced_at_five_minutes_and_one_minute_not_every_second() {
    // A hold 6 s longer than each mark, so the mark comes soon, but after the page is up
    // even on a busy machine.
    for (hold_secs, mark, words) in [
        (306, "5:0", "5 minutes left to pay."),
        (66, "1:0", "1 minute left to pay."),
    ] {
        // Arrange: a ticket for sale and a buyer on its page.
        let app = spawn_shop(|config| config.hold_secs = hold_secs).await;
        let driver = Driver::start();
        let (buyer, _) = buyer_on_a_listed_ticket(&app, &driver).await;

        // Act: buy.
        buyer.press("Buy").await;
        buyer.wait_text("[role='timer']", mark).await;
        let before = buyer
            .js(
                "return document.querySelector('[aria-live=polite]').textContent",
                vec![],
            )
            .await;

        // Assert: silent before the mark, then one announcement as the timer passes it; the
        // timer itself is never read out.
        assert_eq!(before, json!(""), "nothing announced before {words:?}");
        buyer.wait_text("[aria-live='polite']", words).await;
        let timer_live = buyer
            .js(
                "return document.querySelector('[role=timer]').getAttribute('aria-live')",
                vec![],
            )
            .await;
        assert_eq!(
            timer_live,
            json!(null),
            "the timer stays silent (role=timer)"
        );
        buyer.close().await;
    }
}
