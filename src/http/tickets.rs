//! /api/tickets: list, show, create, edit (DESIGN §4).

use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, Envelope};
use super::input::{AllValid, Body, Field, price_schema};
use super::paging::{PageQuery, page_response};
use crate::actors::ticket::UpdateTicket;
use domain::ids::TicketId;
use domain::money::Price;
use domain::ticket::{Ticket, Title};
use domain::version::Version;

const TICKET_CURSOR: &str = "cursor must be a ticket id from a previous page";

/// The body of a listing and of an edit: the whole ticket as the seller sets it.
#[derive(Deserialize, ToSchema)]
pub struct TicketFields {
    /// 1 to 200 characters after trimming (stored trimmed); no control or invisible
    /// characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "Front row")]
    title: Field<Title>,
    #[serde(default)]
    #[schema(schema_with = price_schema, required = true)]
    price: Field<Price>,
}

impl TicketFields {
    fn all_valid(self) -> Result<(Title, Price), ApiError> {
        (("title", self.title), ("price", self.price)).all_valid()
    }
}

/// The tickets for sale.
///
/// Neither held nor sold, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/tickets",
    tag = "tickets",
    operation_id = "listTickets",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tickets", body = Vec<TicketBody>,
            headers(("link" = String, description = "The next page, when this one is full"))),
        (status = 400, description = "A bad limit or cursor", body = Envelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse(TicketId::parse, TICKET_CURSOR)?;
    let tickets = state
        .services
        .tickets_for_sale(page.after, page.limit)
        .await?;
    let bodies: Vec<_> = tickets.iter().map(TicketBody::from).collect();
    let last = tickets.last().map(|t| t.id.to_string());
    Ok(page_response("/api/tickets", page.limit, &bodies, last))
}

/// One ticket.
///
/// `orderId` is there while the ticket is held or sold. A withdrawn ticket is not found.
#[utoipa::path(
    get,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "showTicket",
    params(("id" = String, Path, description = "The ticket's id", pattern = "^[0-9a-f]{24}$")),
    responses(
        (status = 200, description = "The ticket", body = TicketBody,
            headers(("etag" = String, description = "The ticket's version, for If-Match"))),
        (status = 404, description = "No such ticket (or not a well-formed id)", body = Envelope),
    )
)]
pub async fn show(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let ticket = state.services.ticket(id)?;
    Ok(with_etag(&ticket))
}

/// Lists a ticket for sale.
#[utoipa::path(
    post,
    path = "/api/tickets",
    tag = "tickets",
    operation_id = "createTicket",
    security(("cookie" = []), ("bearer" = [])),
    request_body = TicketFields,
    responses(
        (status = 201, description = "Listed, at version 0", body = TicketBody,
            headers(("etag" = String, description = "The ticket's version, for If-Match"))),
        (status = 400, description = "A bad title or price (one entry for each)",
            body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    Body(body): Body<TicketFields>,
) -> Result<HttpResponse, ApiError> {
    let (title, price) = body.all_valid()?;
    let ticket = state.services.create_ticket(user.id, title, price).await?;
    Ok(HttpResponse::Created()
        .insert_header(etag(&ticket))
        .json(TicketBody::from(&ticket)))
}

/// Edits a ticket: its title and price, both given.
///
/// Only while it is neither held nor sold. With `If-Match`, only if the ticket is still at
/// that version.
#[utoipa::path(
    put,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "updateTicket",
    security(("cookie" = []), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The ticket's id", pattern = "^[0-9a-f]{24}$"),
        ("if-match" = Option<String>, Header, nullable = false,
            description = "The ETag (version) the edit is based on, or `*`"),
    ),
    request_body = TicketFields,
    responses(
        (status = 200, description = "Edited: the ticket with its version + 1",
            body = TicketBody,
            headers(("etag" = String, description = "The ticket's version, for If-Match"))),
        (status = 400, description = "A bad title or price (one entry for each)",
            body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 403, description = "Not the seller's ticket", body = Envelope),
        (status = 404, description = "No such ticket (or not a well-formed id)", body = Envelope),
        (status = 409, description = "Held or sold: \"Cannot edit a reserved ticket\"",
            body = Envelope),
        (status = 412, description = "The ticket has changed since the If-Match version \
            (or that is not a version)", body = Envelope),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    req: HttpRequest,
    Body(body): Body<TicketFields>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let expected = if_match(&req)?;
    let (title, price) = body.all_valid()?;
    let message = UpdateTicket {
        by: user.id,
        title,
        price,
        expected,
    };
    let ticket = state.services.update_ticket(id, message).await?;
    Ok(with_etag(&ticket))
}

/// Takes a ticket off sale.
///
/// Only the seller's, and only while neither held nor sold; from then on it is gone (404),
/// except from the seller's own list.
#[utoipa::path(
    delete,
    path = "/api/tickets/{id}",
    tag = "tickets",
    operation_id = "withdrawTicket",
    security(("cookie" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The ticket's id", pattern = "^[0-9a-f]{24}$")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 403, description = "Not the seller's ticket", body = Envelope),
        (status = 404, description = "No such ticket (or not a well-formed id, or withdrawn \
            already)", body = Envelope),
        (status = 409, description = "Held or sold", body = Envelope),
    )
)]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId::parse(&path).map_err(|_| ApiError::NotFound)?;
    state.services.withdraw_ticket(id, user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own tickets, in every state.
///
/// Oldest first, paged like the listing; each with where it stands.
#[utoipa::path(
    get,
    path = "/api/users/me/tickets",
    tag = "tickets",
    operation_id = "myTickets",
    security(("cookie" = []), ("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's tickets",
            body = Vec<OwnTicketBody>,
            headers(("link" = String, description = "The next page, when this one is full"))),
        (status = 400, description = "A bad limit or cursor", body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
    )
)]
pub async fn mine(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse(TicketId::parse, TICKET_CURSOR)?;
    let tickets = state
        .services
        .tickets_of(user.id, page.after, page.limit)
        .await?;
    let bodies: Vec<_> = tickets.iter().map(OwnTicketBody::from).collect();
    let last = tickets.last().map(|t| t.id.to_string());
    Ok(page_response(
        "/api/users/me/tickets",
        page.limit,
        &bodies,
        last,
    ))
}

/// A ticket as its seller sees it in their own list: the ticket and where it stands.
#[derive(Serialize, ToSchema)]
struct OwnTicketBody {
    #[serde(flatten)]
    ticket: TicketBody,
    /// "for sale", "held", "sold" or "withdrawn".
    #[schema(example = "for sale")]
    status: &'static str,
}

impl From<&Ticket> for OwnTicketBody {
    fn from(ticket: &Ticket) -> OwnTicketBody {
        OwnTicketBody {
            ticket: TicketBody::from(ticket),
            status: ticket.status().as_str(),
        }
    }
}

/// A ticket as the API shows it. `price` is a JSON number; `orderId` only while held or sold.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    title: String,
    /// In the shop's currency, at most two decimals.
    #[schema(example = 20.5)]
    price: f64,
    /// The seller's id.
    #[schema(pattern = "^[0-9a-f]{24}$")]
    user_id: String,
    /// From 0; every change adds 1.
    version: u64,
    /// The order holding or having bought the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[0-9a-f]{24}$")]
    order_id: Option<String>,
}

impl From<&Ticket> for TicketBody {
    fn from(ticket: &Ticket) -> TicketBody {
        TicketBody {
            id: ticket.id.to_string(),
            title: ticket.title.as_str().to_owned(),
            price: price_number(ticket.price),
            user_id: ticket.owner.to_string(),
            version: ticket.version.get(),
            order_id: ticket.order_id.map(|id| id.to_string()),
        }
    }
}

/// Cents as a JSON number: the nearest double to n/100 prints as exactly two decimals or fewer.
pub fn price_number(price: Price) -> f64 {
    price.cents() as f64 / 100.0
}

fn etag(ticket: &Ticket) -> ETag {
    ETag(EntityTag::new_strong(ticket.version.get().to_string()))
}

fn with_etag(ticket: &Ticket) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(etag(ticket))
        .json(TicketBody::from(ticket))
}

/// The version named by If-Match, if any; a malformed one is a 412 like a stale one.
fn if_match(req: &HttpRequest) -> Result<Option<Version>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(|v| Some(Version::new(v)))
        .map_err(|_| {
            ApiError::PreconditionFailed("The ticket has changed since you read it".into())
        })
}
