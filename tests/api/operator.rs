//! The operator's commands through the real binary (docs/OPERATIONS.md): `ticketing
//! journal` (JSON lines, `--since`, `--follow`), `ticketing export` (CSV and JSON lines,
//! agreeing with the API), and `ticketing admin` (disabling an account, refunding an
//! order), each on a running shop, through its control socket, and on a stopped one.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::fake_stripe::FakeStripe;
use crate::helpers::{PASSWORD, TestApp, run_binary, spawn_app};
use crate::payments::{purchase, stripe_app};

/// Runs the binary with `args` and `--data-dir`; its exit code and its stdout and stderr
/// together.
async fn run(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.extend(["--data-dir".as_ref(), app.data_dir().as_os_str()]);
    run_binary(&all, None).await
}

/// The JSON lines of an output, skipping the outcome line on stderr.
fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Signs `email` up; the client holding the session.
async fn account(app: &TestApp, email: &str) -> Client {
    let client = app.client();
    let response = app.signup(&client, email, PASSWORD).await;
    assert_eq!(response.status(), 201, "signup of {email}");
    client
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["kind"].as_str().expect("a kind"))
        .collect()
}

#[actix_web::test]
async fn the_journal_prints_each_event_once_as_a_json_line_running_or_stopped() {
    // Arrange
    let mut app = spawn_app().await;
    let seller = account(&app, "seller@example.com").await;
    let ticket = app
        .listed_ticket_json(&seller, "A concert", json!("12.50"))
        .await;

    // Act
    let (code, running) = run(&app, &["journal"]).await;

    // Assert: the events in commit order, the API's ids, no password hash.
    assert_eq!(code, Some(0), "{running}");
    let events = json_lines(&running);
    assert_eq!(
        kinds(&events),
        ["UserCreated", "TicketCreated"],
        "{running}"
    );
    assert_eq!(events[0]["email"], "seller@example.com");
    assert_eq!(events[1]["ticketId"], ticket["id"]);
    assert_eq!(events[1]["price"], "12.50");
    assert!(!running.contains("argon2"), "no password hash: {running}");
    let first: u64 = events[0]["id"].as_u64().expect("a position");
    assert!(events[1]["id"].as_u64().expect("a position") > first);

    // Act: from after the first event; then the same on the stopped shop.
    let since = first.to_string();
    let (_, after_first) = run(&app, &["journal", "--since", &since]).await;
    app.stop().await;
    let (code, stopped) = run(&app, &["journal"]).await;

    // Assert
    assert_eq!(kinds(&json_lines(&after_first)), ["TicketCreated"]);
    assert_eq!(code, Some(0), "{stopped}");
    assert_eq!(json_lines(&stopped), events, "the same lines either way");
}

#[actix_web::test]
async fn following_the_journal_prints_events_as_the_shop_commits_them() {
    // Arrange: a follower started before anything happens.
    let app = spawn_app().await;
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .args(["journal", "--follow", "--data-dir"])
        .arg(app.data_dir())
        .env_remove("TICKETING_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut lines = tokio::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();

    // Act
    account(&app, "late@example.com").await;

    // Assert: the signup arrives on the follower's output without it being run again.
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line within 10 s")
        .expect("readable")
        .expect("a line before the end");
    let event: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(
        (event["kind"].as_str(), event["email"].as_str()),
        (Some("UserCreated"), Some("late@example.com"))
    );
    follower.kill().await.expect("stopped");
}

#[actix_web::test]
async fn exports_agree_with_the_api_in_csv_and_in_json_lines() {
    // Arrange: a sale paid, and a title a spreadsheet would run as a formula.
    let app = spawn_app().await;
    let sale = purchase(&app, json!("12.50")).await;
    let paid = app.pay(&sale.buyer, &sale.order_id, "tok_visa").await;
    assert_eq!(paid.status(), 201);
    let payment: Value = paid.json().await.expect("json");
    let seller = account(&app, "formula@example.com").await;
    let tricky = app
        .listed_ticket_json(&seller, "=HYPERLINK(\"x\"), row 2", json!(5))
        .await;
    let order = app.order_json(&sale.buyer, &sale.order_id).await;

    // Act
    let (code, orders) = run(&app, &["export", "orders", "--format", "json"]).await;
    let (_, charges) = run(&app, &["export", "charges", "--format", "json"]).await;
    let (_, tickets) = run(&app, &["export", "tickets", "--format", "json"]).await;
    let (csv_code, tickets_csv) = run(&app, &["export", "tickets"]).await;

    // Assert
    assert_eq!(
        (code, csv_code),
        (Some(0), Some(0)),
        "{orders}{tickets_csv}"
    );
    let orders = json_lines(&orders);
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["id"], order["id"]);
    assert_eq!(orders[0]["status"], "complete");
    assert_eq!(orders[0]["price"], "12.50");
    assert_eq!(orders[0]["currency"], "USD");
    assert_eq!(orders[0]["expiresAt"], order["expiresAt"]);
    let charges = json_lines(&charges);
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["id"], payment["id"]);
    assert_eq!(
        (&charges[0]["amount"], &charges[0]["status"]),
        (&json!("12.50"), &json!("completed"))
    );
    assert_eq!(charges[0]["refundId"], Value::Null);
    let tickets = json_lines(&tickets);
    let statuses: Vec<(&Value, &Value)> =
        tickets.iter().map(|t| (&t["id"], &t["status"])).collect();
    assert_eq!(
        statuses,
        [
            (&json!(sale.ticket_id), &json!("sold")),
            (&tricky["id"], &json!("for sale"))
        ]
    );
    let mut csv = tickets_csv.lines();
    assert_eq!(
        csv.next(),
        Some("id,createdAt,sellerId,sellerEmail,title,price,currency,status,orderId,version")
    );
    let tricky_row = csv.nth(1).expect("the second ticket's row");
    assert!(
        tricky_row
            .contains(",formula@example.com,\"'=HYPERLINK(\"\"x\"\"), row 2\",5.00,USD,for sale,,"),
        "quoted, with its quotes doubled, and not a formula: {tricky_row}"
    );
}

#[actix_web::test]
async fn a_disabled_account_cannot_sign_in_and_loses_its_sessions_until_it_is_enabled_again() {
    // Arrange
    let mut app = spawn_app().await;
    let first = account(&app, "first@example.com").await;
    let second = account(&app, "second@example.com").await;
    assert_eq!(
        app.current_user(&first).await["currentUser"]["email"],
        "first@example.com"
    );

    // Act: on the running shop.
    let (code, output) = run(&app, &["admin", "users", "disable", "First@Example.com"]).await;

    // Assert: the session is gone, the right password is refused with the reason, the
    // event is in the journal, and disabling again writes nothing.
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("revoked 1 session"), "{output}");
    assert_eq!(app.current_user(&first).await["currentUser"], Value::Null);
    let signin = app
        .signin(&app.client(), "first@example.com", PASSWORD)
        .await;
    assert_eq!(signin.status(), 403);
    let body: Value = signin.json().await.expect("json");
    assert_eq!(
        body,
        json!({"errors": [{"message": "This account is disabled"}]})
    );
    assert_eq!(
        app.current_user(&second).await["currentUser"]["email"],
        "second@example.com"
    );
    let (_, again) = run(&app, &["admin", "users", "disable", "first@example.com"]).await;
    assert!(again.contains("already disabled"), "{again}");
    let (_, journal) = run(&app, &["journal"]).await;
    let disabled = kinds(&json_lines(&journal))
        .into_iter()
        .filter(|k| *k == "UserDisabled")
        .count();
    assert_eq!(disabled, 1, "{journal}");

    // Act: on the stopped shop; then an address nobody has.
    app.stop().await;
    let (code, output) = run(&app, &["admin", "users", "disable", "second@example.com"]).await;
    let (unknown, unknown_output) =
        run(&app, &["admin", "users", "disable", "nobody@example.com"]).await;
    let (_, list) = run(&app, &["admin", "users", "list", "--format", "json"]).await;
    app.restart().await;

    // Assert
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(unknown, Some(1), "{unknown_output}");
    assert!(
        unknown_output.contains("No account has that email"),
        "{unknown_output}"
    );
    let statuses: Vec<(Value, Value)> = json_lines(&list)
        .into_iter()
        .map(|u| (u["email"].clone(), u["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("first@example.com"), json!("disabled")),
            (json!("second@example.com"), json!("disabled"))
        ]
    );
    assert_eq!(app.current_user(&second).await["currentUser"], Value::Null);
    let signin = app
        .signin(&app.client(), "second@example.com", PASSWORD)
        .await;
    assert_eq!(signin.status(), 403, "still disabled after the restart");

    // Act: enabled again, on the running shop.
    let (code, output) = run(&app, &["admin", "users", "enable", "second@example.com"]).await;
    let (_, again) = run(&app, &["admin", "users", "enable", "second@example.com"]).await;

    // Assert: it may sign in; its old session stays revoked; one event.
    assert_eq!(code, Some(0), "{output}");
    assert!(again.contains("was not disabled"), "{again}");
    let back = app.client();
    let signin = app.signin(&back, "second@example.com", PASSWORD).await;
    assert_eq!(signin.status(), 200);
    assert_eq!(
        app.current_user(&back).await["currentUser"]["email"],
        "second@example.com"
    );
    assert_eq!(app.current_user(&second).await["currentUser"], Value::Null);
    let (_, journal) = run(&app, &["journal"]).await;
    let last = json_lines(&journal).pop().expect("events");
    assert_eq!(last["kind"], "UserEnabled", "{journal}");
}

#[actix_web::test]
async fn an_operator_refund_pays_a_paid_order_back_once_through_stripe() {
    // Arrange: a sale paid through the real Stripe client, and an order never paid.
    let fake = FakeStripe::start().await;
    let mut app = stripe_app(&fake, |_| {}).await;
    let sale = purchase(&app, json!(20)).await;
    let paid = app.pay(&sale.buyer, &sale.order_id, "pm_card_visa").await;
    assert_eq!(paid.status(), 201);
    let charge_id = paid.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let unpaid = purchase(&app, json!(30)).await;

    // Act
    let (code, output) = run(&app, &["admin", "refund", &sale.order_id]).await;
    let (again_code, again) = run(&app, &["admin", "refund", &sale.order_id]).await;
    let (refused, refused_output) = run(&app, &["admin", "refund", &unpaid.order_id]).await;

    // Assert: one refund of the whole amount, recorded on the payment; the order stays
    // paid and its ticket sold.
    assert_eq!((code, again_code), (Some(0), Some(0)), "{output}{again}");
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount, 2000);
    assert!(output.contains(&refunds[0].id), "{output}");
    assert!(again.contains("already refunded"), "{again}");
    let record = app.payment_json(&sale.buyer, &charge_id).await;
    assert_eq!(record["stripeRefundId"], refunds[0].id.as_str());
    let order = app.order_json(&sale.buyer, &sale.order_id).await;
    assert_eq!(order["status"], "complete");
    assert_eq!(refused, Some(1), "{refused_output}");
    assert!(
        refused_output.contains("Only a paid order can be refunded"),
        "{refused_output}"
    );

    // Act / assert: a stopped shop cannot reach Stripe with its keys, and says so.
    app.stop().await;
    let (stopped, stopped_output) = run(&app, &["admin", "refund", &sale.order_id]).await;
    assert_eq!(stopped, Some(1), "{stopped_output}");
    assert!(
        stopped_output.contains("start the shop"),
        "{stopped_output}"
    );
}

#[actix_web::test]
async fn a_command_on_a_directory_without_a_shop_says_so_and_makes_nothing() {
    let empty = tempfile::tempdir().expect("a temp dir");
    let missing = empty.path().join("no-shop-here");
    let (code, output) = run_binary(
        &[
            "journal".as_ref(),
            "--data-dir".as_ref(),
            missing.as_os_str(),
        ],
        None,
    )
    .await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("holds no shop's store"), "{output}");
    assert!(!Path::new(&missing).exists(), "nothing was created");
}
