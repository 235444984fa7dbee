//! A seller's own ticket: edit its title and price, then withdraw it, while another user's
//! listing follows; prices in the shop's currency (here euros), never a hard-coded `$`.

use crate::kit::{Browser, Driver, row, spawn_shop};

#[actix_web::test]
async fn a_seller_edits_then_withdraws_a_ticket_and_the_listing_follows() {
    // Arrange: a shop in euros, a listed ticket, a watcher on the listing.
    let app = spawn_shop(|config| config.currency = "eur".into()).await;
    let driver = Driver::start();
    let (seller, watcher) = (
        Browser::open(&driver, &app.address).await,
        Browser::open(&driver, &app.address).await,
    );
    seller.sign_up("seller@example.com").await;
    let ticket = seller.sell("Derby, north stand", "30").await;
    seller.wait_text(".price", "€30.00").await;
    watcher.goto("/").await;
    watcher.wait_for("[data-live='on']").await;
    watcher.wait_text(&row(&ticket), "€30.00").await;

    // Act: edit the title and the price.
    seller.press("Edit").await;
    seller.fill("Title", "Derby, north stand, row 3").await;
    seller.fill("Price (EUR)", "32.50").await;
    seller.press("Save").await;

    // Assert: the seller's page and the watcher's listing both show the edit.
    seller.wait_text("h1", "Derby, north stand, row 3").await;
    seller.wait_text(".price", "€32.50").await;
    watcher
        .wait_text(&row(&ticket), "Derby, north stand, row 3")
        .await;
    watcher.wait_text(&row(&ticket), "€32.50").await;

    // Act: withdraw it (a confirmation first).
    seller.press("Withdraw").await;
    seller.press("Yes, withdraw it").await;

    // Assert: "withdrawn" in the seller's tickets; gone from the watcher's listing.
    seller.wait_page("My tickets").await;
    seller
        .wait_text(
            &format!("{}[data-status='withdrawn']", row(&ticket)),
            "Withdrawn",
        )
        .await;
    watcher.wait_gone(&row(&ticket)).await;

    seller.close().await;
    watcher.close().await;
}
