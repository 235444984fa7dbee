//! Backups through the real binary: `ticketing backup` of a shop serving reservations,
//! `ticketing restore` into a new directory, a shop started there answering as the original
//! did (sessions included); a damaged backup refused; `ticketing verify` passing on a
//! healthy directory and naming a damaged snapshot.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, eventually, spawn_app, spawn_process};

/// Runs the binary with `args`; its exit code and its stdout and stderr together.
async fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    crate::helpers::run_binary(args, None).await
}

async fn backup(data_dir: &Path, file: &Path) -> (Option<i32>, String) {
    run(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--to".as_ref(),
        file.as_os_str(),
    ])
    .await
}

async fn restore(file: &Path, data_dir: &Path) -> (Option<i32>, String) {
    run(&[
        "restore".as_ref(),
        "--from".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
    .await
}

async fn verify(data_dir: &Path) -> (Option<i32>, String) {
    run(&[
        "verify".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
    .await
}

/// A signed-up user: the client holding their session, their id and email.
struct Account {
    client: Client,
    id: String,
    email: String,
}

async fn account(app: &TestApp) -> Account {
    let client = app.client();
    let email = format!("backup-{:016x}@example.com", rand::random::<u64>());
    let response = app.signup(&client, &email, PASSWORD).await;
    assert_eq!(response.status(), 201, "signup of {email}");
    let body: Value = response.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_owned();
    Account { client, id, email }
}

/// Everything the API shows of the accounts, tickets, orders and payments given, each as its
/// owner sees it.
async fn view(
    app: &TestApp,
    accounts: &[Account],
    tickets: &[String],
    payments: &[(usize, String)],
) -> Value {
    let mut users = Vec::new();
    let mut orders = Vec::new();
    for account in accounts {
        users.push(app.current_user(&account.client).await);
        orders.push(json!(app.orders_json(&account.client).await));
    }
    let mut ticket_bodies = Vec::new();
    for id in tickets {
        ticket_bodies.push(app.ticket_json(id).await);
    }
    let mut payment_bodies = Vec::new();
    for (owner, id) in payments {
        payment_bodies.push(app.payment_json(&accounts[*owner].client, id).await);
    }
    json!({
        "users": users,
        "orders": orders,
        "tickets": ticket_bodies,
        "payments": payment_bodies,
    })
}

#[actix_web::test]
async fn a_backup_taken_under_reservation_load_restores_to_a_shop_that_answers_as_the_original_did()
{
    // Arrange: a running shop with sellers, buyers, tickets for sale, held, paid for and
    // released.
    let dir = tempfile::tempdir().expect("temp dir");
    let original = spawn_process(&dir.path().join("shop"), &[]);
    original.wait_ready().await;
    let app = original.api();
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(account(&app).await);
    }
    let mut tickets = Vec::new();
    for i in 0..8 {
        let seller = &accounts[i % 2].client;
        let body = app
            .listed_ticket_json(seller, &format!("Show {i}"), json!(10 + i))
            .await;
        tickets.push(body["id"].as_str().expect("id").to_owned());
    }
    let mut payments = Vec::new();
    for (i, ticket) in tickets.iter().enumerate().take(6) {
        let buyer = 2 + i % 2;
        let order = app.reserved_order(&accounts[buyer].client, ticket).await;
        match i % 3 {
            0 => {
                let response = app.pay(&accounts[buyer].client, &order, "tok_visa").await;
                assert_eq!(response.status(), 201, "payment of {order}");
                let body: Value = response.json().await.expect("json");
                payments.push((buyer, body["id"].as_str().expect("id").to_owned()));
            }
            1 => assert_eq!(
                app.cancel(&accounts[buyer].client, &order).await.status(),
                204
            ),
            _ => {}
        }
    }
    // The load: buyers of their own reserving tickets of their own, one after another.
    let load_seller = account(&app).await;
    let mut load_tickets = Vec::new();
    for i in 0..300 {
        let body = app
            .listed_ticket_json(&load_seller.client, &format!("Load {i}"), json!(5))
            .await;
        load_tickets.push(body["id"].as_str().expect("id").to_owned());
    }
    let before = view(&app, &accounts, &tickets, &payments).await;
    let backup_started = Arc::new(AtomicBool::new(false));
    let load_over = Arc::new(AtomicBool::new(false));
    // Reservations acknowledged, and those acknowledged after the backup began.
    let (reserved, reserved_during) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for chunk in load_tickets.chunks(75) {
        let buyer = account(&app).await;
        let (app, chunk) = (original.api(), chunk.to_vec());
        let (started, over) = (backup_started.clone(), load_over.clone());
        let (reserved, reserved_during) = (reserved.clone(), reserved_during.clone());
        load.push(tokio::spawn(async move {
            // (order, acknowledged before the backup began)
            let mut orders = Vec::new();
            for ticket in chunk {
                if over.load(Ordering::Acquire) {
                    break;
                }
                let order = app.reserved_order(&buyer.client, &ticket).await;
                let during = started.load(Ordering::Acquire);
                orders.push((order, !during));
                reserved.fetch_add(1, Ordering::Release);
                if during {
                    reserved_during.fetch_add(1, Ordering::Release);
                }
            }
            (buyer, orders)
        }));
    }
    // The load is under way (a fifteenth of it), however slow the machine is today.
    let under_way = eventually(Duration::from_secs(60), || async {
        reserved.load(Ordering::Acquire) >= 20
    })
    .await;
    assert!(under_way, "the load reserves");

    // Act: back up while the load runs, then let it run on until it has reserved after the
    // backup began, and stop it.
    let file = dir.path().join("shop.backup");
    backup_started.store(true, Ordering::Release);
    let (code, output) = backup(&dir.path().join("shop"), &file).await;
    assert_eq!(code, Some(0), "the backup succeeds: {output}");
    assert!(output.contains("running shop"), "{output}");
    let ran_on = eventually(Duration::from_secs(60), || async {
        reserved_during.load(Ordering::Acquire) >= 5
    })
    .await;
    assert!(ran_on, "the load reserves during and after the backup");
    load_over.store(true, Ordering::Release);
    let mut load_orders = Vec::new();
    for task in load {
        load_orders.push(task.await.expect("the load task"));
    }
    let restored_dir = dir.path().join("restored");
    let (code, output) = restore(&file, &restored_dir).await;
    assert_eq!(code, Some(0), "the restore succeeds: {output}");
    let restored = spawn_process(&restored_dir, &[]);
    restored.wait_ready().await;
    let copy = restored.api();

    // Assert: everything but the load is as it was, each user's session included.
    let after = view(&copy, &accounts, &tickets, &payments).await;
    for part in ["users", "orders", "tickets", "payments"] {
        assert_eq!(after[part], before[part], "{part} after the restore");
    }
    for account in &accounts {
        let response = copy.signin(&copy.client(), &account.email, PASSWORD).await;
        assert_eq!(response.status(), 200, "{} signs in", account.email);
        assert_eq!(
            copy.current_user(&account.client).await["currentUser"]["id"],
            json!(account.id),
            "the existing session of {} still works",
            account.email
        );
    }
    // Assert: every reservation acknowledged before the backup began is there, as the
    // original shows it; any later one is there whole or not at all.
    let (mut before_backup, mut present) = (0, 0);
    for (buyer, orders) in &load_orders {
        for (order, acknowledged_before) in orders {
            let in_original = app.order_json(&buyer.client, order).await;
            let response = copy.order(&buyer.client, order).await;
            if *acknowledged_before {
                before_backup += 1;
                assert_eq!(response.status(), 200, "order {order} acknowledged before");
            }
            if response.status() == 200 {
                present += 1;
                let body: Value = response.json().await.expect("json");
                assert_eq!(body, in_original, "order {order}");
                let ticket = copy
                    .ticket_json(in_original["ticket"]["id"].as_str().expect("id"))
                    .await;
                assert_eq!(ticket["orderId"], json!(order), "its ticket is held for it");
            } else {
                assert_eq!(response.status(), 404, "order {order} is whole or absent");
            }
        }
    }
    assert!(
        before_backup > 0,
        "some reservations came before the backup"
    );
    assert!(
        load_orders
            .iter()
            .any(|(_, o)| o.iter().any(|(_, before)| !before)),
        "some reservations ran during the backup"
    );
    assert!(present >= before_backup);
}

#[actix_web::test]
async fn a_damaged_or_truncated_backup_is_refused_with_a_clear_message_and_leaves_nothing() {
    // Arrange: a backup of a stopped shop, then two damaged copies of it.
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    for _ in 0..5 {
        app.listed_ticket(&seller).await;
    }
    app.stop().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("shop.backup");
    let (code, output) = backup(app.data_dir(), &file).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("stopped"), "{output}");
    let bytes = std::fs::read(&file).expect("the backup");
    // Inside a record's value (a ticket's title), so only the checksum can tell.
    let title = bytes
        .windows(9)
        .rposition(|w| w == b"A concert")
        .expect("a title in the backup");
    let mut flipped = bytes.clone();
    flipped[title + 2] ^= 0x01;
    let cases = [
        (flipped, "corrupt", "a flipped byte"),
        (bytes[..bytes.len() - 9].to_vec(), "truncated", "a cut copy"),
        (
            b"not a backup at all".to_vec(),
            "not a ticketing backup",
            "another file",
        ),
    ];
    for (i, (damaged, expected, why)) in cases.into_iter().enumerate() {
        let damaged_file = dir.path().join(format!("damaged-{i}.backup"));
        std::fs::write(&damaged_file, damaged).expect("write");
        let target = dir.path().join(format!("target-{i}"));

        // Act
        let (code, output) = restore(&damaged_file, &target).await;

        // Assert
        assert_eq!(code, Some(1), "{why} is refused: {output}");
        assert!(output.contains(expected), "{why}: {output}");
        assert!(!target.exists(), "{why} leaves no directory behind");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{why} leaves no half-restored directory"
        );
    }
    // Assert: the intact file restores, but never into a directory that holds something.
    let (code, output) = restore(&file, app.data_dir()).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("not empty"), "{output}");
    let (code, output) = restore(&file, &dir.path().join("good")).await;
    assert_eq!(code, Some(0), "{output}");
}

#[actix_web::test]
async fn verify_passes_on_a_healthy_shop_and_names_each_damaged_snapshot() {
    // Arrange: a stopped shop with tickets, orders and a payment.
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    for _ in 0..3 {
        let ticket = app.listed_ticket(&seller).await;
        app.reserved_order(&buyer, &ticket).await;
    }
    app.stop().await;
    let (code, output) = verify(app.data_dir()).await;
    assert_eq!(code, Some(0), "a healthy shop verifies: {output}");
    assert!(output.contains("OK"), "{output}");
    let mut damaged = Vec::new();
    {
        let db = sled::open(app.data_dir().join("db")).expect("the stopped shop's store");
        let tickets = db.open_tree("tickets").expect("tickets");
        let (key, _) = tickets.first().expect("read").expect("a ticket");
        tickets.insert(&key, &[2, 65, 1, 0xff][..]).expect("damage");
        damaged.push(format!("tickets/{}", hex(&key)));
        let orders = db.open_tree("orders").expect("orders");
        let (first, _) = orders.first().expect("read").expect("an order");
        let (_, last) = orders.last().expect("read").expect("an order");
        orders.insert(&first, last).expect("damage");
        damaged.push(format!("orders/{}", hex(&first)));
        db.flush().expect("flush");
    }

    // Act
    let (code, output) = verify(app.data_dir()).await;

    // Assert
    assert_eq!(code, Some(1), "damage fails the check: {output}");
    for name in damaged {
        assert!(output.contains(&name), "{name} is named: {output}");
    }
}

#[actix_web::test]
async fn verify_refuses_a_running_shop_saying_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shop = spawn_process(dir.path(), &[]);
    shop.wait_ready().await;

    let (code, output) = verify(dir.path()).await;

    assert_ne!(code, Some(0), "{output}");
    assert!(output.contains("is running"), "{output}");
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
