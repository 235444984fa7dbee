//! /api/tickets: list, show, create, edit (DESIGN §4).

use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{AllValid, Body, Field};
use super::paging::{PageQuery, page_response};
use crate::actors::ticket::UpdateTicket;
use domain::ids::TicketId;
use domain::money::Price;
use domain::ticket::{Ticket, Title};
use domain::version::Version;

const TICKET_CURSOR: &str = "cursor must be a ticket id from a previous page";

/// The body of a listing and of an edit: the whole ticket as the seller sets it.
#[derive(Deserialize)]
pub struct TicketFields {
    #[serde(default)]
    title: Field<Title>,
    #[serde(default)]
    price: Field<Price>,
}

impl TicketFields {
    fn all_valid(self) -> Result<(Title, Price), ApiError> {
        (("title", self.title), ("price", self.price)).all_valid()
    }
}

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

pub async fn show(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let ticket = state.services.ticket(id)?;
    Ok(with_etag(&ticket))
}

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

/// The owner takes a free ticket off sale: 204, and from then on it is gone (404).
pub async fn withdraw(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId::parse(&path).map_err(|_| ApiError::NotFound)?;
    state.services.withdraw_ticket(id, user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own tickets in every state, oldest first, paged like the listing.
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
#[derive(Serialize)]
struct OwnTicketBody {
    #[serde(flatten)]
    ticket: TicketBody,
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
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    id: String,
    title: String,
    price: f64,
    user_id: String,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
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
