//! /api/orders: reserve, list, show, cancel (DESIGN §4).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{Body, Field};
use super::paging::{PageQuery, page_response};
use super::tickets::price_number;
use domain::ids::{OrderId, TicketId};
use domain::order::Order;
use domain::time::Timestamp;

/// The body of a reservation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    #[serde(default)]
    ticket_id: Field<TicketId>,
}

/// Reserves a ticket: the order, with its hold (DESIGN §4, POST /api/orders).
pub async fn reserve(
    state: web::Data<AppState>,
    user: CurrentUser,
    Body(body): Body<Reservation>,
) -> Result<HttpResponse, ApiError> {
    let ticket_id = body.ticket_id.valid("ticketId")?;
    let order = state.services.reserve(ticket_id, user.id).await?;
    Ok(HttpResponse::Created().json(OrderBody::from(&order)))
}

/// The caller's orders, oldest first, paged like the listing.
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
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    id: String,
    status: &'static str,
    user_id: String,
    expires_at: String,
    ticket: OrderTicketBody,
    version: u64,
}

#[derive(Serialize)]
struct OrderTicketBody {
    id: String,
    title: String,
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

/// ISO 8601 in UTC with milliseconds, e.g. `2026-11-22T14:00:00.000Z`.
pub fn iso8601(at: Timestamp) -> String {
    DateTime::from_timestamp_millis(at.millis() as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}
