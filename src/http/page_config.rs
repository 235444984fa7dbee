//! GET /api/config: what the page needs to know about this shop (DESIGN §4): the currency
//! to format money in, how long a hold lasts, and Stripe's publishable key when one is
//! configured (the page then takes cards with Stripe.js). Nothing secret is here.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::config::Config;

/// What the page needs to know about this shop.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// ISO 4217, upper case, as `Intl.NumberFormat` takes it.
    #[schema(example = "USD")]
    currency: String,
    /// How long a reservation holds its ticket.
    hold_seconds: u64,
    /// Stripe's publishable key, when the shop takes cards with Stripe.js.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    stripe_publishable_key: Option<String>,
}

impl PageConfig {
    pub fn from_config(config: &Config) -> PageConfig {
        PageConfig {
            currency: config.currency.to_uppercase(),
            hold_seconds: config.hold_secs,
            stripe_publishable_key: config.stripe_publishable_key.clone(),
        }
    }
}

impl PageConfig {
    /// Whether the page takes cards with Stripe.js (and its CSP lets Stripe in).
    pub fn uses_stripe(&self) -> bool {
        self.stripe_publishable_key.is_some()
    }
}

/// What the page needs to know about this shop.
///
/// The currency to format money in, how long a hold lasts, and Stripe's publishable key
/// when one is configured. Nothing secret.
#[utoipa::path(
    get,
    path = "/api/config",
    tag = "shop",
    operation_id = "pageConfig",
    responses((status = 200, description = "The shop's settings for the page", body = PageConfig))
)]
pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.page_config)
}
