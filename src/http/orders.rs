//! /api/orders: reserve, list, show, cancel (DESIGN §4).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, Envelope};
use super::input::{Body, Field};
use super::paging::{PageQuery, page_response};
use super::tickets::price_number;
use crate::clock::iso8601;
use domain::ids::{OrderId, TicketId};
use domain::order::Order;

/// The body of a reservation.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// The ticket to hold.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[0-9a-f]{24}$")]
    ticket_id: Field<TicketId>,
}

/// Reserves a ticket.
///
/// The order, with status "created", holds the ticket until `expiresAt`: nobody else can
/// reserve it meanwhile, and it is for sale again if the order is not paid by then.
#[utoipa::path(
    post,
    path = "/api/orders",
    tag = "orders",
    operation_id = "reserve",
    security(("cookie" = []), ("bearer" = [])),
    request_body = Reservation,
    responses(
        (status = 201, description = "Reserved: the order", body = OrderBody),
        (status = 400, description = "Not a ticket id, or the caller's own ticket",
            body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 404, description = "No such ticket", body = Envelope),
        (status = 409, description = "\"Ticket is already reserved\" (held or sold), or the \
            caller holds too many tickets already", body = Envelope),
    )
)]
pub async fn reserve(
    state: web::Data<AppState>,
    user: CurrentUser,
    Body(body): Body<Reservation>,
) -> Result<HttpResponse, ApiError> {
    let ticket_id = body.ticket_id.valid("ticketId")?;
    let order = state.services.reserve(ticket_id, user.id).await?;
    Ok(HttpResponse::Created().json(OrderBody::from(&order)))
}

/// The caller's orders.
///
/// Oldest first, each with its ticket, paged like the listing.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    operation_id = "listOrders",
    security(("cookie" = []), ("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's orders", body = Vec<OrderBody>,
            headers(("link" = String, description = "The next page, when this one is full"))),
        (status = 400, description = "A bad limit or cursor", body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse(
        OrderId::parse,
        "cursor must be an order id from a previous page",
    )?;
    let orders = state
        .services
        .orders_of(user.id, page.after, page.limit)
        .await?;
    let bodies: Vec<_> = orders.iter().map(OrderBody::from).collect();
    let last = orders.last().map(|o| o.id.to_string());
    Ok(page_response("/api/orders", page.limit, &bodies, last))
}

/// One of the caller's orders.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "orders",
    operation_id = "showOrder",
    security(("cookie" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The order's id", pattern = "^[0-9a-f]{24}$")),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 403, description = "Another buyer's order", body = Envelope),
        (status = 404, description = "No such order (or not a well-formed id)", body = Envelope),
    )
)]
pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.services.order(parse_id(&path)?)?;
    if order.buyer != user.id {
        return Err(ApiError::Forbidden);
    }
    Ok(HttpResponse::Ok().json(OrderBody::from(&order)))
}

/// Cancels an order.
///
/// Its ticket is for sale again when the answer arrives. Cancelling a cancelled order
/// answers the same.
#[utoipa::path(
    delete,
    path = "/api/orders/{id}",
    tag = "orders",
    operation_id = "cancelOrder",
    security(("cookie" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The order's id", pattern = "^[0-9a-f]{24}$")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 403, description = "Another buyer's order", body = Envelope),
        (status = 404, description = "No such order (or not a well-formed id)", body = Envelope),
        (status = 409, description = "Paid, or a payment is in flight", body = Envelope),
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    state.services.cancel_order(id, user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn parse_id(text: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(text).map_err(|_| ApiError::NotFound)
}

/// An order as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    /// "created", "awaiting:payment" (a payment is in flight), "complete" or "cancelled".
    #[schema(example = "created")]
    status: &'static str,
    /// The buyer's id.
    #[schema(pattern = "^[0-9a-f]{24}$")]
    user_id: String,
    /// When the hold ends unless the order is paid: ISO 8601, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T14:00:00.000Z")]
    expires_at: String,
    ticket: OrderTicketBody,
    /// From 0; every change adds 1.
    version: u64,
}

/// The ticket an order is for.
#[derive(Serialize, ToSchema)]
struct OrderTicketBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    title: String,
    /// In the shop's currency, at most two decimals.
    price: f64,
    version: u64,
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> OrderBody {
        OrderBody {
            id: order.id.to_string(),
            status: order.status.as_str(),
            user_id: order.buyer.to_string(),
            expires_at: iso8601(order.expires_at),
            ticket: OrderTicketBody {
                id: order.ticket.id.to_string(),
                title: order.ticket.title.as_str().to_owned(),
                price: price_number(order.ticket.price),
                version: order.ticket.version.get(),
            },
            version: order.version.get(),
        }
    }
}
