//! /api/payments: pay for an order, read a charge, the offline gateway's authentication
//! step, and Stripe's webhook (DESIGN §4, §5).

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, Envelope};
use super::input::{AllValid, Body, Field, FromField};
use super::tickets::price_number;
use crate::actors::paying::{PayOrder, PaymentStatus};
use crate::gateway::webhook;
use domain::charge::{CardToken, Charge};
use domain::ids::{ChargeId, OrderId};

/// The body of a payment.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The order to pay for.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[0-9a-f]{24}$")]
    order_id: Field<OrderId>,
    /// A card token (Stripe's, or a test card's such as "tok_visa"): at most 255 bytes.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, example = "tok_visa")]
    token: Field<CardToken>,
}

/// Pays for an order.
///
/// 201 `{id}` when paid (or already paid: no second charge), 402 when declined, 202 when the
/// gateway gave no definite answer and the order stays awaiting payment until it is
/// settled, and 202 with `status: "requires_action"` and the client secret when the buyer
/// must authenticate.
#[utoipa::path(
    post,
    path = "/api/payments",
    tag = "payments",
    operation_id = "pay",
    security(("cookie" = []), ("bearer" = [])),
    request_body = Payment,
    responses(
        (status = 201, description = "Paid: the order is complete", body = PaymentBody),
        (status = 202, description = "No definite answer yet, or the buyer must authenticate",
            body = AcceptedBody),
        (status = 400, description = "A bad order id or token (one entry for each)",
            body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 402, description = "Declined: the order is cancelled, the ticket for sale \
            again", body = Envelope),
        (status = 403, description = "Another buyer's order", body = Envelope),
        (status = 404, description = "No such order", body = Envelope),
        (status = 409, description = "The order is cancelled or expired, or a payment is in \
            flight", body = Envelope),
    )
)]
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
#[derive(Deserialize, ToSchema)]
pub struct Authentication {
    #[serde(default)]
    #[schema(schema_with = outcome_schema, required = true)]
    outcome: Field<Passed>,
}

/// The schema of `Passed`'s two words.
fn outcome_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["succeed", "fail"]))
        .description(Some("What the buyer did at the simulated authentication"))
        .build()
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

/// Passes or fails a payment's simulated authentication.
///
/// Only with the offline gateway (404 otherwise), for a payment that answered
/// `requires_action`. Answers as a payment does: 201 paid, 402 failed (the order is
/// cancelled, the ticket for sale again), 409 for an order cancelled or expired meanwhile.
#[utoipa::path(
    post,
    path = "/api/payments/{id}/authenticate",
    tag = "payments",
    operation_id = "authenticatePayment",
    security(("cookie" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The payment's id", pattern = "^[0-9a-f]{24}$")),
    request_body = Authentication,
    responses(
        (status = 201, description = "Paid: the order is complete", body = PaymentBody),
        (status = 202, description = "No definite answer yet", body = AcceptedBody),
        (status = 400, description = "A bad outcome", body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 402, description = "Failed: the order is cancelled, the ticket for sale \
            again", body = Envelope),
        (status = 403, description = "Another buyer's payment", body = Envelope),
        (status = 404, description = "No such payment, or the shop takes real payments",
            body = Envelope),
        (status = 409, description = "The order is cancelled or expired, or its payment \
            needs no authentication", body = Envelope),
    )
)]
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
        PaymentStatus::Pending { charge_id } => Ok(HttpResponse::Accepted().json(
            AcceptedBody::Pending(PendingBody {
                id: charge_id.to_string(),
                status: "awaiting:payment",
            }),
        )),
        PaymentStatus::ActionRequired {
            charge_id,
            client_secret,
        } => Ok(
            HttpResponse::Accepted().json(AcceptedBody::ActionRequired(ActionRequiredBody {
                id: charge_id.to_string(),
                status: "requires_action",
                client_secret,
            })),
        ),
    }
}

/// A payment's record.
///
/// For the buyer of its order only.
#[utoipa::path(
    get,
    path = "/api/payments/{id}",
    tag = "payments",
    operation_id = "showPayment",
    security(("cookie" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The payment's id", pattern = "^[0-9a-f]{24}$")),
    responses(
        (status = 200, description = "The payment", body = ChargeBody),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 403, description = "Another buyer's payment", body = Envelope),
        (status = 404, description = "No such payment (or not a well-formed id)",
            body = Envelope),
    )
)]
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

/// Stripe's webhook.
///
/// The signature is checked over the raw body before anything else. The route is off (404)
/// unless a webhook secret is configured.
#[utoipa::path(
    post,
    path = "/api/payments/webhook",
    tag = "payments",
    operation_id = "stripeWebhook",
    params(("stripe-signature" = String, Header,
        description = "Stripe's signature of the body, with the configured secret")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it"),
    responses(
        (status = 200, description = "Received", body = Received),
        (status = 400, description = "A missing or invalid signature", body = Envelope),
        (status = 404, description = "Webhooks are off: no webhook secret is configured",
            body = Envelope),
        (status = 413, description = "The body is larger than 64 KiB", body = Envelope),
    )
)]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let secret = state.webhook_secret.as_ref().ok_or(ApiError::NotFound)?;
    // Read as bytes, not through a typed extractor: Stripe signs the body exactly as sent.
    // Read here rather than by actix's `String` extractor, whose errors are plain text.
    let bytes = payload
        .to_bytes_limited(super::BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?
        .map_err(|error| super::error::payload_error(error.as_error()))?;
    let body = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::BadRequest("Request body is not valid JSON".into()))?;
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("Missing Stripe-Signature header".into()))?;
    let event = webhook::verify(body, signature, secret.expose_secret())
        .map_err(|_| ApiError::BadRequest("Invalid webhook signature".into()))?;
    state.services.handle_webhook(event).await?;
    Ok(HttpResponse::Ok().json(Received { received: true }))
}

/// A paid order's payment.
#[derive(Serialize, ToSchema)]
struct PaymentBody {
    /// Our payment id (not Stripe's).
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
}

/// A 202 to a payment: one body or the other, told apart by `status`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum AcceptedBody {
    Pending(PendingBody),
    ActionRequired(ActionRequiredBody),
}

/// The gateway gave no definite answer: the order stays awaiting payment until it is
/// settled.
#[derive(Serialize, ToSchema)]
struct PendingBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    /// "awaiting:payment".
    #[schema(example = "awaiting:payment")]
    status: &'static str,
}

/// The buyer must authenticate the payment (3-D Secure) with the client secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ActionRequiredBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    /// "requires_action".
    #[schema(example = "requires_action")]
    status: &'static str,
    /// The PaymentIntent's client secret, for Stripe.js's `handleNextAction`.
    client_secret: String,
}

/// The webhook's acknowledgement.
#[derive(Serialize, ToSchema)]
struct Received {
    received: bool,
}

/// A payment's record.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChargeBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    #[schema(pattern = "^[0-9a-f]{24}$")]
    order_id: String,
    /// "created", "failed" or "completed".
    #[schema(example = "completed")]
    status: &'static str,
    /// In the shop's currency, at most two decimals.
    amount: f64,
    /// The PaymentIntent's id, once the gateway named one; null until then.
    #[schema(required = true)]
    stripe_id: Option<String>,
    /// The refund's id, when the payment was refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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
