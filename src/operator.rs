//! The operator's commands beside backups (docs/OPERATIONS.md, "Operator commands"):
//! `ticketing journal` prints the journal as JSON lines, `ticketing export` the orders,
//! charges, tickets or users as CSV or JSON lines, and `ticketing admin` refunds an order
//! or lists, disables and enables accounts.
//!
//! Each command is a `Request`, run by the one function here whichever process runs it. A
//! running shop holds sled's lock, so the command goes over its control socket as one line
//! (`Request::line`) and the shop runs it with its own store and services (`control`); a
//! stopped shop's store is opened by the command itself (`main`). A change (a disabling, a
//! refund) is an event committed like any other, through the same function the shop uses.
//! Exports are folded from the journal with the domain's `evolve`, so they are one
//! consistent cut of the shop, never a mix of snapshots taken at different moments.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::actors::Services;
use crate::actors::accounts::{self, Access, AccessChange, Accounts};
use crate::actors::error::EntityError;
use crate::actors::paying::{Refunded, refund_order};
use crate::clock::iso8601;
use crate::config::{
    AdminArgs, AdminCommand, ExportArgs, Format, JournalArgs, Table, UsersCommand,
};
use crate::control;
use crate::store::Store;
use domain::charge::{self, Charge};
use domain::events::Event;
use domain::ids::OrderId;
use domain::order::{self, Order};
use domain::ticket::{self, Ticket};
use domain::user::{self, Email, User};

/// How often `--follow` looks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Starts the line that ends the shop's answer on the control socket. No JSON line or CSV
/// row can hold a NUL, so an answer cut short is never taken for a whole one.
const STATUS: char = '\0';

/// One operator command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The journal's events after position `after` (from the first when `None`), and with
    /// `follow` every one committed later, until the shop stops.
    Journal { after: Option<u64>, follow: bool },
    /// One table, as folded from the journal.
    Export { table: Table, format: Format },
    /// Disable the account with this email (revoking its sessions), or enable it again.
    Access { email: String, access: Access },
    /// Refund a paid order in full.
    Refund { order_id: String },
}

impl Request {
    /// The request as the control socket carries it: one line of words.
    pub fn line(&self) -> String {
        match self {
            Request::Journal { after, follow } => format!(
                "journal {} {}",
                after.map_or("-".to_owned(), |a| a.to_string()),
                if *follow { "follow" } else { "once" }
            ),
            Request::Export { table, format } => {
                format!("export {} {}", table.name(), format.name())
            }
            Request::Access { email, access } => format!("{} {email}", verb(*access)),
            Request::Refund { order_id } => format!("refund {order_id}"),
        }
    }

    /// Reads what `line` wrote; `None` for anything else.
    pub fn parse(line: &str) -> Option<Request> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["journal", after, follow] => Some(Request::Journal {
                after: match *after {
                    "-" => None,
                    number => Some(number.parse().ok()?),
                },
                follow: match *follow {
                    "follow" => true,
                    "once" => false,
                    _ => return None,
                },
            }),
            ["export", table, format] => Some(Request::Export {
                table: Table::from_name(table)?,
                format: Format::from_name(format)?,
            }),
            [verb @ ("disable" | "enable"), email] => Some(Request::Access {
                email: (*email).to_owned(),
                access: if *verb == "disable" {
                    Access::Disable
                } else {
                    Access::Enable
                },
            }),
            ["refund", order_id] => Some(Request::Refund {
                order_id: (*order_id).to_owned(),
            }),
            _ => None,
        }
    }

    /// Whether the request only reads (and streams what it read).
    pub fn reads(&self) -> bool {
        matches!(self, Request::Journal { .. } | Request::Export { .. })
    }
}

/// What a command runs against: the store, always; the running shop's services when it is
/// the shop that runs it.
pub struct Shop {
    pub store: Store,
    /// Currency of the amounts in exports.
    pub currency: String,
    pub running: Option<Running>,
}

/// The services only a running shop has.
pub struct Running {
    pub accounts: Accounts,
    pub services: Services,
    /// Changes wait for the start-up replay: until it ends, the projections a change
    /// reads may not hold the account or order yet.
    pub readiness: crate::readiness::Readiness,
}

/// Runs a reading request, writing its output to `out`; `stop` ends a `follow`.
pub fn read(
    request: &Request,
    shop: &Shop,
    out: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<()> {
    match request {
        Request::Journal { after, follow } => {
            write_journal(&shop.store, *after, *follow, out, stop)
        }
        Request::Export { table, format } => export(shop, *table, *format, out),
        Request::Access { .. } | Request::Refund { .. } => {
            anyhow::bail!("{} is not a read", request.line())
        }
    }
}

/// Runs a changing request; answers what it did, in a sentence.
pub async fn change(request: &Request, shop: &Shop) -> anyhow::Result<String> {
    if let Some(running) = &shop.running {
        running
            .readiness
            .wait()
            .await
            .map_err(|reason| anyhow::anyhow!("The shop did not start: {reason}"))?;
    }
    match request {
        Request::Access { email, access } => {
            let email = Email::parse(email)
                .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?;
            let change = match &shop.running {
                Some(running) => running.accounts.set_access(&email, *access).await,
                None => accounts::set_access(&shop.store, &email, *access).await,
            };
            let email = email.as_str();
            Ok(
                match (change.map_err(|error| anyhow::anyhow!("{error}"))?, access) {
                    (AccessChange::Changed { user_id, sessions }, Access::Disable) => {
                        format!("Disabled {email} (user {user_id}); revoked {sessions} session(s)")
                    }
                    (AccessChange::Changed { user_id, .. }, Access::Enable) => {
                        format!("Enabled {email} (user {user_id}): it may sign in again")
                    }
                    (AccessChange::Unchanged { user_id }, Access::Disable) => {
                        format!("{email} (user {user_id}) was already disabled")
                    }
                    (AccessChange::Unchanged { user_id }, Access::Enable) => {
                        format!("{email} (user {user_id}) was not disabled")
                    }
                },
            )
        }
        Request::Refund { order_id } => {
            let Some(running) = &shop.running else {
                anyhow::bail!(
                    "A refund goes through the shop's payment provider with the running shop's \
                     keys: start the shop, then run this again"
                );
            };
            let id = OrderId::parse(order_id)
                .map_err(|_| anyhow::anyhow!("{order_id:?} is not an order id"))?;
            let refunded =
                refund_order(&running.services, id)
                    .await
                    .map_err(|error| match error {
                        EntityError::NotFound => anyhow::anyhow!("No order has the id {order_id}"),
                        EntityError::Unavailable => anyhow::anyhow!(
                            "The payment provider gave no definite answer; run this again (the \
                         refund is made once however often it is asked for)"
                        ),
                        other => anyhow::anyhow!("Order {order_id}: {other}"),
                    })?;
            Ok(match refunded {
                Refunded::Now { refund_id, charge } => format!(
                    "Refunded order {order_id}: {} {} back through refund {refund_id}",
                    charge.amount,
                    shop.currency.to_uppercase()
                ),
                Refunded::Before { refund_id, .. } => {
                    format!("Order {order_id} was already refunded (refund {refund_id})")
                }
            })
        }
        Request::Journal { .. } | Request::Export { .. } => {
            anyhow::bail!("{} is not a change", request.line())
        }
    }
}

/// The word for an access change in a request line.
fn verb(access: Access) -> &'static str {
    match access {
        Access::Disable => "disable",
        Access::Enable => "enable",
    }
}

/// The status line that ends an answer on the control socket.
pub fn status_line(outcome: &anyhow::Result<String>) -> String {
    match outcome {
        Ok(message) => format!("{STATUS}ok {message}\n"),
        Err(error) => format!("{STATUS}error {}\n", one_line(&format!("{error:#}"))),
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

// ----- the journal -----

fn write_journal(
    store: &Store,
    after: Option<u64>,
    follow: bool,
    out: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<()> {
    let mut next = after.map_or(0, |a| a.saturating_add(1));
    loop {
        for entry in store.events_from(next) {
            let (position, event) = entry?;
            serde_json::to_writer(&mut *out, &event_json(position, &event))?;
            out.write_all(b"\n")?;
            next = position + 1;
        }
        out.flush()?;
        if !follow || stop() {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// One event as a JSON object: its journal position, its kind, and its fields in the API's
/// spelling. Password hashes are left out: an operator reading the journal has no use for
/// them, and logs of it should not hold them.
pub fn event_json(position: u64, event: &Event) -> Value {
    let fields = match event {
        Event::UserCreated(e) => {
            json!({"userId": e.user_id.to_string(), "email": e.email.as_str(), "version": e.version.get()})
        }
        Event::UserUpdated(e) => {
            json!({"userId": e.user_id.to_string(), "email": e.email.as_str(), "version": e.version.get()})
        }
        Event::UserEnabled(e) => {
            json!({"userId": e.user_id.to_string(), "version": e.version.get()})
        }
        Event::UserDisabled(e) => {
            json!({"userId": e.user_id.to_string(), "version": e.version.get()})
        }
        Event::TicketCreated(e) => {
            json!({"ticketId": e.ticket_id.to_string(), "userId": e.owner.to_string(), "title": e.title.as_str(), "price": e.price.to_string(), "version": e.version.get()})
        }
        Event::TicketUpdated(e) => {
            json!({"ticketId": e.ticket_id.to_string(), "title": e.title.as_str(), "price": e.price.to_string(), "orderId": e.order_id.map(|o| o.to_string()), "sold": e.sold, "version": e.version.get()})
        }
        Event::TicketWithdrawn(e) => {
            json!({"ticketId": e.ticket_id.to_string(), "version": e.version.get()})
        }
        Event::OrderCreated(e) => {
            json!({"orderId": e.order_id.to_string(), "ticketId": e.ticket_id.to_string(), "userId": e.buyer.to_string(), "title": e.title.as_str(), "price": e.price.to_string(), "ticketVersion": e.ticket_version.get(), "expiresAt": iso8601(e.expires_at), "version": e.version.get()})
        }
        Event::OrderCancelled(e) => {
            json!({"orderId": e.order_id.to_string(), "ticketId": e.ticket_id.to_string(), "version": e.version.get()})
        }
        Event::OrderExpired(e) => {
            json!({"orderId": e.order_id.to_string(), "ticketId": e.ticket_id.to_string(), "version": e.version.get()})
        }
        Event::OrderCompleted(e) => {
            json!({"orderId": e.order_id.to_string(), "ticketId": e.ticket_id.to_string(), "chargeId": e.charge_id.to_string(), "stripeId": e.stripe_id, "version": e.version.get()})
        }
        Event::ChargeCreated(e) => {
            json!({"chargeId": e.charge_id.to_string(), "orderId": e.order_id.to_string(), "amount": e.amount.to_string(), "orderVersion": e.order_version.get()})
        }
        Event::ChargeFailed(e) => {
            json!({"chargeId": e.charge_id.to_string(), "orderId": e.order_id.to_string(), "ticketId": e.ticket_id.to_string(), "stripeId": e.stripe_id, "version": e.version.get()})
        }
        Event::ChargeRefunded(e) => {
            json!({"chargeId": e.charge_id.to_string(), "orderId": e.order_id.to_string(), "stripeId": e.stripe_id, "refundId": e.refund_id})
        }
        Event::AuthenticationRequested(e) => {
            json!({"chargeId": e.charge_id.to_string(), "orderId": e.order_id.to_string(), "stripeId": e.stripe_id, "abandonAt": iso8601(e.abandon_at), "version": e.version.get()})
        }
    };
    let mut line = json!({"id": position, "kind": event.tag()});
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    line
}

// ----- exports -----

/// An entity's id as stored; its byte order is its creation order.
type Key = [u8; 12];

/// Every entity as the journal leaves it, in creation order (ids sort by creation).
#[derive(Default)]
struct Folded {
    users: BTreeMap<Key, User>,
    tickets: BTreeMap<Key, Ticket>,
    orders: BTreeMap<Key, Order>,
    charges: BTreeMap<Key, Charge>,
}

fn fold(store: &Store) -> anyhow::Result<Folded> {
    let mut folded = Folded::default();
    for entry in store.events_from(0) {
        let (_, event) = entry?;
        if let Some(id) = event.changes_user() {
            step(&mut folded.users, *id.as_bytes(), |s| {
                user::evolve(s, &event)
            });
        }
        if let Some(id) = event.changes_ticket() {
            step(&mut folded.tickets, *id.as_bytes(), |s| {
                ticket::evolve(s, &event)
            });
        }
        if let Some(id) = event.changes_order() {
            step(&mut folded.orders, *id.as_bytes(), |s| {
                order::evolve(s, &event)
            });
        }
        if let Some(id) = event.changes_charge() {
            step(&mut folded.charges, *id.as_bytes(), |s| {
                charge::evolve(s, &event)
            });
        }
    }
    Ok(folded)
}

fn step<T>(map: &mut BTreeMap<Key, T>, id: Key, evolve: impl FnOnce(Option<T>) -> Option<T>) {
    if let Some(after) = evolve(map.remove(&id)) {
        map.insert(id, after);
    }
}

/// A table's columns and rows, every cell a string or null.
type Rows = (Vec<&'static str>, Vec<Vec<Option<String>>>);

fn export(shop: &Shop, table: Table, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let folded = fold(&shop.store)?;
    let email = |id: &Key| folded.users.get(id).map(|u| u.email.as_str().to_owned());
    let currency = shop.currency.to_uppercase();
    let (columns, rows): Rows = match table {
        Table::Users => (
            vec!["id", "createdAt", "email", "status"],
            folded
                .users
                .values()
                .map(|u| {
                    vec![
                        Some(u.id.to_string()),
                        Some(iso8601(u.id.created_at())),
                        Some(u.email.as_str().to_owned()),
                        Some(if u.disabled { "disabled" } else { "active" }.to_owned()),
                    ]
                })
                .collect(),
        ),
        Table::Tickets => (
            vec![
                "id",
                "createdAt",
                "sellerId",
                "sellerEmail",
                "title",
                "price",
                "currency",
                "status",
                "orderId",
                "version",
            ],
            folded
                .tickets
                .values()
                .map(|t| {
                    vec![
                        Some(t.id.to_string()),
                        Some(iso8601(t.id.created_at())),
                        Some(t.owner.to_string()),
                        email(t.owner.as_bytes()),
                        Some(t.title.as_str().to_owned()),
                        Some(t.price.to_string()),
                        Some(currency.clone()),
                        Some(t.status().as_str().to_owned()),
                        t.order_id.map(|o| o.to_string()),
                        Some(t.version.get().to_string()),
                    ]
                })
                .collect(),
        ),
        Table::Orders => (
            vec![
                "id",
                "createdAt",
                "buyerId",
                "buyerEmail",
                "ticketId",
                "title",
                "price",
                "currency",
                "status",
                "expiresAt",
                "chargeId",
                "version",
            ],
            folded
                .orders
                .values()
                .map(|o| {
                    vec![
                        Some(o.id.to_string()),
                        Some(iso8601(o.id.created_at())),
                        Some(o.buyer.to_string()),
                        email(o.buyer.as_bytes()),
                        Some(o.ticket.id.to_string()),
                        Some(o.ticket.title.as_str().to_owned()),
                        Some(o.ticket.price.to_string()),
                        Some(currency.clone()),
                        Some(o.status.as_str().to_owned()),
                        Some(iso8601(o.expires_at)),
                        o.charge_id.map(|c| c.to_string()),
                        Some(o.version.get().to_string()),
                    ]
                })
                .collect(),
        ),
        Table::Charges => (
            vec![
                "id",
                "createdAt",
                "orderId",
                "buyerEmail",
                "amount",
                "currency",
                "status",
                "stripeId",
                "refundId",
            ],
            folded
                .charges
                .values()
                .map(|c| {
                    let buyer = folded
                        .orders
                        .get(c.order_id.as_bytes())
                        .map(|o| *o.buyer.as_bytes());
                    vec![
                        Some(c.id.to_string()),
                        Some(iso8601(c.id.created_at())),
                        Some(c.order_id.to_string()),
                        buyer.and_then(|b| email(&b)),
                        Some(c.amount.to_string()),
                        Some(currency.clone()),
                        Some(c.status.as_str().to_owned()),
                        c.stripe_id.clone(),
                        c.stripe_refund_id.clone(),
                    ]
                })
                .collect(),
        ),
    };
    match format {
        Format::Csv => {
            writeln!(out, "{}", columns.join(","))?;
            for row in rows {
                let cells: Vec<String> = row.iter().map(|cell| csv_cell(cell.as_deref())).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Json => {
            for row in rows {
                let object: serde_json::Map<String, Value> = columns
                    .iter()
                    .zip(row)
                    .map(|(column, cell)| {
                        (
                            (*column).to_owned(),
                            cell.map_or(Value::Null, Value::String),
                        )
                    })
                    .collect();
                serde_json::to_writer(&mut *out, &object)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. A cell a
/// spreadsheet would take for a formula (titles and emails are the users' own text) gets a
/// leading `'`, as OWASP advises for CSV exports.
fn csv_cell(cell: Option<&str>) -> String {
    let Some(text) = cell else {
        return String::new();
    };
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

// ----- the command line -----

pub fn journal_main(args: JournalArgs) -> ExitCode {
    let request = Request::Journal {
        after: args.since,
        follow: args.follow,
    };
    run_command(&args.data_dir, &request, &args.currency)
}

pub fn export_main(args: ExportArgs) -> ExitCode {
    let request = Request::Export {
        table: args.table,
        format: args.format,
    };
    run_command(&args.data_dir, &request, &args.currency)
}

pub fn admin_main(args: AdminArgs) -> ExitCode {
    let request = match args.command {
        AdminCommand::Refund { order } => Request::Refund { order_id: order },
        AdminCommand::Users {
            command: UsersCommand::List { format },
        } => Request::Export {
            table: Table::Users,
            format,
        },
        AdminCommand::Users {
            command: UsersCommand::Disable { email },
        } => Request::Access {
            email,
            access: Access::Disable,
        },
        AdminCommand::Users {
            command: UsersCommand::Enable { email },
        } => Request::Access {
            email,
            access: Access::Enable,
        },
    };
    run_command(&args.data_dir, &request, &args.currency)
}

/// Runs `request` through the running shop's control socket, or on the stopped shop's
/// store; prints the output on stdout and the outcome on stderr.
fn run_command(data_dir: &Path, request: &Request, currency: &str) -> ExitCode {
    let socket = data_dir.join(control::SOCKET_NAME);
    let outcome = match UnixStream::connect(&socket) {
        Ok(stream) => through_the_shop(stream, request),
        Err(_) => on_the_stopped_shop(data_dir, request, currency),
    };
    match outcome {
        Ok(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends the request line, copies the answer to stdout up to its status line, and answers
/// that status.
fn through_the_shop(mut stream: UnixStream, request: &Request) -> anyhow::Result<String> {
    stream
        .write_all(format!("{}\n", request.line()).as_bytes())
        .context("Failed to send the command to the running shop")?;
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            anyhow::bail!("The running shop ended its answer before saying it was whole");
        }
        if let Some(status) = line.strip_prefix(STATUS) {
            stdout.flush()?;
            let status = status.trim_end();
            return match status.split_once(' ').unwrap_or((status, "")) {
                ("ok", message) => Ok(message.to_owned()),
                (_, message) => Err(anyhow::anyhow!("{message}")),
            };
        }
        stdout.write_all(line.as_bytes())?;
        if request.reads() {
            // A follower sees each event as it comes.
            stdout.flush()?;
        }
    }
}

fn on_the_stopped_shop(
    data_dir: &Path,
    request: &Request,
    currency: &str,
) -> anyhow::Result<String> {
    let store = open_existing(data_dir)?;
    let shop = Shop {
        store,
        currency: currency.to_owned(),
        running: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = if request.reads() {
        let mut stdout = BufWriter::new(std::io::stdout().lock());
        read(request, &shop, &mut stdout, &|| true).map(|()| match request {
            // Waiting here would hold the store's lock and keep the shop from starting.
            Request::Journal { follow: true, .. } => {
                "The shop is not running: nothing more will come (--follow follows a running shop)"
                    .to_owned()
            }
            _ => String::new(),
        })
    } else {
        runtime.block_on(change(request, &shop))
    };
    runtime.block_on(shop.store.close(Duration::from_secs(30)));
    outcome
}

/// Opens a stopped shop's store and replays what its journal holds beyond the checkpoint,
/// so that reads and changes see every committed event.
fn open_existing(data_dir: &Path) -> anyhow::Result<Store> {
    let store = crate::backup::open_existing(data_dir)
        .map_err(|error| anyhow::anyhow!("{error:#}, and no shop answers on its control socket"))?;
    store.replay()?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_reads_back_from_its_line_and_nothing_else_does() {
        let requests = [
            Request::Journal {
                after: None,
                follow: false,
            },
            Request::Journal {
                after: Some(41),
                follow: true,
            },
            Request::Export {
                table: Table::Charges,
                format: Format::Json,
            },
            Request::Access {
                email: "a@example.com".to_owned(),
                access: Access::Disable,
            },
            Request::Access {
                email: "a@example.com".to_owned(),
                access: Access::Enable,
            },
            Request::Refund {
                order_id: "0123456789abcdef01234567".to_owned(),
            },
        ];
        for request in requests {
            assert_eq!(Request::parse(&request.line()), Some(request));
        }
        for junk in [
            "",
            "journal",
            "journal x once",
            "export orders xml",
            "drop tables",
        ] {
            assert_eq!(Request::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn csv_cells_are_quoted_when_they_must_be_and_never_read_as_formulas() {
        assert_eq!(csv_cell(None), "");
        assert_eq!(csv_cell(Some("plain")), "plain");
        assert_eq!(csv_cell(Some("a, b")), "\"a, b\"");
        assert_eq!(csv_cell(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell(Some("=1+1")), "'=1+1");
        assert_eq!(csv_cell(Some("-5")), "'-5");
        assert_eq!(csv_cell(Some("@x, y")), "\"'@x, y\"");
    }

    #[test]
    fn the_status_line_starts_with_a_nul_and_holds_one_line() {
        assert_eq!(status_line(&Ok("done".to_owned())), "\0ok done\n");
        let error = anyhow::anyhow!("two\nlines");
        assert_eq!(status_line(&Err(error)), "\0error two lines\n");
    }
}
