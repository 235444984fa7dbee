//! /api/payments: pay for an order, read a charge, the offline gateway's authentication
//! step, and Stripe's webhook (DESIGN §4, §5).

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::input::{AllValid, Body, Field, FromField};
use super::tickets::price_number;
use crate::actors::paying::{PayOrder, PaymentStatus};
use crate::gateway::webhook;
use domain::charge::{CardToken, Charge};
use domain::ids::{ChargeId, OrderId};

/// The body of a payment.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    #[serde(default)]
    order_id: Field<OrderId>,
    #[serde(default)]
    token: Field<CardToken>,
}

/// 201 `{id}` when paid (or already paid), 402 when declined, 202 when the gateway gave no
/// definite answer and the order stays awaiting payment until it is settled, and 202 with
/// `status: "requires_action"` and the client secret when the buyer must authenticate.
pub async fn pay(
    state: web::Data<AppState>,
    user: CurrentUser,
    Body(body): Body<Payment>,
) -> Result<HttpResponse, ApiError> {
    let (order_id, token) = (("orderId", body.order_id), ("token", body.token)).all_valid()?;
    let token = token.into_string();
    let answer = state
        .services
        .pay(order_id, PayOrder { by: user.id, token })
        .await?;
    payment_answer(answer)
}

/// The body of the offline gateway's authentication step.
#[derive(Deserialize)]
pub struct Authentication {
    #[serde(default)]
    outcome: Field<Passed>,
}

/// What the buyer did at the simulated authentication: `"succeed"` or `"fail"`.
struct Passed(bool);

impl FromField for Passed {
    fn from_field(value: Option<&serde_json::Value>) -> Result<Self, String> {
        match value.and_then(serde_json::Value::as_str) {
            Some("succeed") => Ok(Passed(true)),
            Some("fail") => Ok(Passed(false)),
            _ => Err(r#"outcome must be "succeed" or "fail""#.to_owned()),
        }
    }
}

/// POST /api/payments/:id/authenticate, only with the offline gateway (404 otherwise): the
/// buyer passes or fails the simulated authentication of a payment that answered
/// `requires_action`. Answers as a payment does: 201 paid, 402 failed (the order is
/// cancelled, the ticket for sale again), 409 for an order cancelled or expired meanwhile.
pub async fn authenticate(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    Body(body): Body<Authentication>,
) -> Result<HttpResponse, ApiError> {
    let id = ChargeId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let Passed(passed) = body.outcome.valid("outcome")?;
    let answer = state
        .services
        .simulate_authentication(id, user.id, passed)
        .await?;
    payment_answer(answer)
}

/// Where a payment stands, as the API answers it.
fn payment_answer(answer: PaymentStatus) -> Result<HttpResponse, ApiError> {
    match answer {
        PaymentStatus::Paid { charge_id } => Ok(HttpResponse::Created().json(PaymentBody {
            id: charge_id.to_string(),
        })),
        PaymentStatus::Declined { message, .. } => Err(ApiError::PaymentDeclined(message)),
        PaymentStatus::Pending { charge_id } => Ok(HttpResponse::Accepted().json(PendingBody {
            id: charge_id.to_string(),
            status: "awaiting:payment",
        })),
        PaymentStatus::ActionRequired {
            charge_id,
            client_secret,
        } => Ok(HttpResponse::Accepted().json(ActionRequiredBody {
            id: charge_id.to_string(),
            status: "requires_action",
            client_secret,
        })),
    }
}

/// The charge record, for the buyer of its order.
pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ChargeId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let charge = state.services.charge(id)?;
    if state.services.order(charge.order_id)?.buyer != user.id {
        return Err(ApiError::Forbidden);
    }
    Ok(HttpResponse::Ok().json(ChargeBody::from(&charge)))
}

/// Stripe's webhook: the signature is checked over the raw body before anything else.
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let secret = state.webhook_secret.as_ref().ok_or(ApiError::NotFound)?;
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("Missing Stripe-Signature header".into()))?;
    let event = webhook::verify(&body, signature, secret.expose_secret())
        .map_err(|_| ApiError::BadRequest("Invalid webhook signature".into()))?;
    state.services.handle_webhook(event).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})))
}

#[derive(Serialize)]
struct PaymentBody {
    id: String,
}

#[derive(Serialize)]
struct PendingBody {
    id: String,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionRequiredBody {
    id: String,
    status: &'static str,
    client_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChargeBody {
    id: String,
    order_id: String,
    status: &'static str,
    amount: f64,
    stripe_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stripe_refund_id: Option<String>,
}

impl From<&Charge> for ChargeBody {
    fn from(charge: &Charge) -> ChargeBody {
        ChargeBody {
            id: charge.id.to_string(),
            order_id: charge.order_id.to_string(),
            status: charge.status.as_str(),
            amount: price_number(charge.amount),
            stripe_id: charge.stripe_id.clone(),
            stripe_refund_id: charge.stripe_refund_id.clone(),
        }
    }
}
