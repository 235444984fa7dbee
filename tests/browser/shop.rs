//! Buying, in three browsers at once: a seller lists, a buyer buys and pays, a third user
//! watches the listing change without reloading; a hold that runs out; a wrong password.

use crate::kit::{Browser, Driver, buyer_on_a_listed_ticket, row, spawn_shop};

#[actix_web::test]
async fn a_ticket_bought_in_one_browser_shows_sold_to_its_seller_and_leaves_a_watchers_listing() {
    // Arrange: a watcher on the listing before anything is for sale.
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let driver = Driver::start();
    let (seller, buyer, watcher) = (
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
    );
    watcher.goto("/").await;
    watcher.wait_page("Tickets for sale").await;
    watcher.wait_for("[data-live='on']").await;

    // Act: the seller lists; the watcher sees it arrive.
    seller.sign_up("seller@example.com").await;
    let ticket = seller.sell("Cup final, row 12", "19.99").await;
    watcher.wait_text(&row(&ticket), "Cup final, row 12").await;
    watcher.wait_text(&row(&ticket), "$19.99").await;

    // The seller is not offered Buy on their own ticket.
    seller.wait_for("button.danger").await;
    let buy_buttons = seller
        .js("return [...document.querySelectorAll('button')].filter(b => b.textContent === 'Buy').length", vec![])
        .await;
    assert_eq!(buy_buttons, 0, "no Buy on one's own ticket");

    // Act: the buyer opens the ticket from a deep link, buys and pays with the test card.
    buyer.sign_up("buyer@example.com").await;
    buyer.goto(&format!("/tickets/{ticket}")).await;
    buyer.wait_page("Cup final, row 12").await;
    buyer.press("Buy").await;
    buyer.wait_page("Order: Cup final, row 12").await;
    buyer.wait_text("[role='timer']", "left to pay").await;
    buyer
        .choose("Test card", "Visa ending 4242 (succeeds)")
        .await;
    buyer.press("Pay").await;

    // Assert: paid for the buyer, gone from the watcher's listing (no reload), sold for the
    // seller.
    buyer
        .wait_text(".order-status[data-state='paid']", "Paid")
        .await;
    watcher.wait_gone(&row(&ticket)).await;
    watcher.wait_text("h1", "Tickets for sale").await;
    seller.goto("/my-tickets").await;
    seller.wait_page("My tickets").await;
    seller
        .wait_text(&format!("{}[data-status='sold']", row(&ticket)), "Sold")
        .await;
    buyer.follow("All my orders").await;
    buyer.wait_page("My orders").await;
    buyer.wait_text("li[data-order-id]", "Paid").await;

    for browser in [seller, buyer, watcher] {
        browser.close().await;
    }
}

#[actix_web::test]
async fn a_hold_that_runs_out_shows_expired_and_the_ticket_returns_to_the_listing() {
    // Arrange: 2 s holds on the real clock; a ticket listed; a watcher on the listing.
    let app = spawn_shop(|config| config.hold_secs = 2).await;
    let driver = Driver::start();
    let (seller, buyer, watcher) = (
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
    );
    seller.sign_up("seller@example.com").await;
    let ticket = seller.sell("Quarter final, block C", "45").await;
    watcher.goto("/").await;
    watcher.wait_for("[data-live='on']").await;
    watcher.wait_for(&row(&ticket)).await;
    buyer.sign_up("buyer@example.com").await;
    buyer.goto(&format!("/tickets/{ticket}")).await;
    buyer.wait_page("Quarter final, block C").await;

    // Act: buy, and let the 2 s hold run out unpaid.
    buyer.press("Buy").await;
    buyer.wait_page("Order: Quarter final, block C").await;

    // Assert: the order page says expired as the server does, without Pay; the ticket is
    // back on the watcher's listing (no reload) and on sale for the seller.
    buyer
        .wait_text(".order-status[data-state='expired']", "Expired")
        .await;
    let pay_shown = buyer
        .js(
            "return !document.querySelector('.order-controls').hidden",
            vec![],
        )
        .await;
    assert_eq!(pay_shown, false, "no Pay after the hold ended");
    watcher.wait_for(&row(&ticket)).await;
    seller.goto("/my-tickets").await;
    seller
        .wait_text(
            &format!("{}[data-status='for sale']", row(&ticket)),
            "For sale",
        )
        .await;

    for browser in [seller, buyer, watcher] {
        browser.close().await;
    }
}

#[actix_web::test]
async fn a_wrong_password_is_announced_in_the_alert_region_and_the_right_one_changes_it() {
    // Arrange: an account.
    let app = spawn_shop(|_| {}).await;
    let client = app.client();
    app.signup(&client, "me@example.com", crate::helpers::PASSWORD)
        .await;
    let driver = Driver::start();
    let browser = Browser::open(&driver, &app.address).await;

    // Act: sign in with the wrong password.
    browser.goto("/signin").await;
    browser.wait_page("Sign in").await;
    browser.fill("Email", "me@example.com").await;
    browser.fill("Password", "not my password").await;
    browser.press("Sign in").await;

    // Assert: the error is in the form's alert region; then the right one signs in.
    browser
        .wait_text("form [role='alert']", "Invalid credentials")
        .await;
    browser.fill("Password", crate::helpers::PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for("nav a[href='#/account']").await;

    // And on the account page, a wrong current password is announced the same way.
    browser.goto("/account").await;
    browser.wait_page("Account").await;
    browser.fill("Current password", "not my password").await;
    browser
        .fill("New password (8 characters or more)", "a new long password")
        .await;
    browser.press("Change password").await;
    browser
        .wait_text("form [role='alert']", "Current password is incorrect")
        .await;

    // The right one changes it; signing out and in again takes the new one.
    browser
        .fill("Current password", crate::helpers::PASSWORD)
        .await;
    browser
        .fill("New password (8 characters or more)", "a new long password")
        .await;
    browser.press("Change password").await;
    browser
        .wait_text("form [role='status']", "Password changed")
        .await;
    browser.press("Sign out").await;
    browser.wait_for("nav a[href='#/signin']").await;
    browser
        .sign_in("me@example.com", "a new long password")
        .await;

    browser.close().await;
}

#[actix_web::test]
async fn a_buyer_can_buy_and_pay_with_the_keyboard_alone() {
    // Arrange: a ticket for sale; the buyer on its page (signed up through the page).
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let driver = Driver::start();
    let (buyer, _) = buyer_on_a_listed_ticket(&app, &driver).await;

    // Act: Tab to Buy, Enter; on the order page, Tab to Pay, Enter.
    buyer.tab_to("Buy").await;
    buyer.enter().await;
    buyer.wait_text("[role='timer']", "left to pay").await;
    buyer.tab_to("Pay").await;
    buyer.enter().await;

    // Assert: paid.
    buyer
        .wait_text(".order-status[data-state='paid']", "Paid")
        .await;
    buyer.close().await;
}

#[actix_web::test]
async fn my_orders_show_more_follows_the_next_link() {
    // Arrange: a buyer with 21 orders, one more than a page.
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let (seller, buyer_api) = (app.client(), app.client());
    app.signup(&seller, "seller@example.com", crate::helpers::PASSWORD)
        .await;
    app.signup(&buyer_api, "buyer@example.com", crate::helpers::PASSWORD)
        .await;
    for _ in 0..21 {
        let ticket = app.listed_ticket(&seller).await;
        app.reserved_order(&buyer_api, &ticket).await;
    }
    let driver = Driver::start();
    let buyer = Browser::open(&driver, &app.address).await;
    buyer.goto("/signin").await;
    buyer.fill("Email", "buyer@example.com").await;
    buyer.fill("Password", crate::helpers::PASSWORD).await;
    buyer.press("Sign in").await;
    buyer.wait_for("nav a[href='#/account']").await;

    // Act: my orders, then the next page.
    buyer.follow("My orders").await;
    buyer.wait_page("My orders").await;
    let count = "return document.querySelectorAll('li[data-order-id]').length";
    buyer
        .until("the first page of 20", || async {
            buyer.js(count, vec![]).await == serde_json::json!(20)
        })
        .await;
    buyer.press("Show more").await;

    // Assert: the 21st, and no more to show.
    buyer
        .until("all 21 orders", || async {
            buyer.js(count, vec![]).await == serde_json::json!(21)
        })
        .await;
    buyer
        .until("no Show more", || async {
            buyer
                .js("return [...document.querySelectorAll('button')].some(b => b.textContent === 'Show more')", vec![])
                .await
                == serde_json::json!(false)
        })
        .await;
    buyer.close().await;
}

#[actix_web::test]
async fn an_order_cancelled_elsewhere_or_declined_shows_at_once() {
    // Arrange: a buyer (known to the API too) with an order open in the browser.
    let app = spawn_shop(|config| config.hold_secs = 900).await;
    let (seller, buyer_api) = (app.client(), app.client());
    app.signup(&seller, "seller@example.com", crate::helpers::PASSWORD)
        .await;
    app.signup(&buyer_api, "buyer@example.com", crate::helpers::PASSWORD)
        .await;
    let first = app.listed_ticket(&seller).await;
    let order = app.reserved_order(&buyer_api, &first).await;
    let driver = Driver::start();
    let buyer = Browser::open(&driver, &app.address).await;
    buyer.goto("/signin").await;
    buyer.fill("Email", "buyer@example.com").await;
    buyer.fill("Password", crate::helpers::PASSWORD).await;
    buyer.press("Sign in").await;
    buyer.wait_for("nav a[href='#/account']").await;
    buyer.goto(&format!("/orders/{order}")).await;
    buyer.wait_text("[role='timer']", "left to pay").await;

    // Act: the order is cancelled elsewhere (another tab, here the API).
    let cancelled = app.cancel(&buyer_api, &order).await;
    assert_eq!(cancelled.status(), 204);

    // Assert: the open page says so without a reload, and offers no Pay.
    buyer
        .wait_text(".order-status[data-state='cancelled']", "cancelled")
        .await;
    buyer
        .until("Pay hidden", || async {
            buyer
                .js(
                    "return document.querySelector('.order-controls').hidden",
                    vec![],
                )
                .await
                == serde_json::json!(true)
        })
        .await;

    // Act: a new order paid with the declined test card.
    let second = app.listed_ticket(&seller).await;
    buyer.goto(&format!("/tickets/{second}")).await;
    buyer.press("Buy").await;
    buyer.wait_text("[role='timer']", "left to pay").await;
    buyer
        .choose("Test card", "Visa ending 0002 (declined)")
        .await;
    buyer.press("Pay").await;

    // Assert: the decline is in the alert region, and the order shows cancelled.
    buyer.wait_text("[role='alert']", "declined").await;
    buyer
        .wait_text(".order-status[data-state='declined']", "declined")
        .await;
    buyer.close().await;
}
