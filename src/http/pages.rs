//! The browser client: one page, its ES modules and its style, embedded in the binary.
//!
//! The page talks to the JSON API only (and the ticket feed). Its script is plain ES modules
//! under `pages/js/`, loaded by the browser as they are: no bundler, no build step, nothing
//! to install (docs/ARCHITECTURE.md, "The page"). A strict Content-Security-Policy allows
//! nothing but this origin's own script, style and connections, so injected markup could not
//! run; only when a Stripe publishable key is configured does it let Stripe.js in, from
//! Stripe's origins alone. Routes are hash routes, so every deep link is a request for `/`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpResponse, web};

use super::AppState;
use super::error::{ApiError, Envelope};

const INDEX: &str = include_str!("pages/index.html");
const STYLE: &str = include_str!("pages/app.css");

/// Every module the page loads, by file name under `/js/`.
const MODULES: &[(&str, &str)] = &[
    ("main.js", include_str!("pages/js/main.js")),
    ("api.js", include_str!("pages/js/api.js")),
    ("dom.js", include_str!("pages/js/dom.js")),
    ("feed.js", include_str!("pages/js/feed.js")),
    ("listing.js", include_str!("pages/js/listing.js")),
    ("ticket.js", include_str!("pages/js/ticket.js")),
    ("order.js", include_str!("pages/js/order.js")),
    ("orders.js", include_str!("pages/js/orders.js")),
    ("my_tickets.js", include_str!("pages/js/my_tickets.js")),
    ("paged.js", include_str!("pages/js/paged.js")),
    ("account.js", include_str!("pages/js/account.js")),
    ("forms.js", include_str!("pages/js/forms.js")),
    ("authenticate.js", include_str!("pages/js/authenticate.js")),
];

/// The policy on every page asset: this origin only, never framed.
const POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

/// The policy when the page takes cards with Stripe.js: the same, plus Stripe's script, the
/// frames its card field and the bank's 3-D Secure page live in, and its API (Stripe's
/// documented CSP for Stripe.js). Each directive repeats 'self', as it replaces
/// default-src for its kind.
const POLICY_WITH_STRIPE: &str = "default-src 'self'; frame-ancestors 'none'; \
     script-src 'self' https://js.stripe.com; \
     frame-src 'self' https://js.stripe.com https://hooks.stripe.com; \
     connect-src 'self' https://api.stripe.com";

fn asset(state: &AppState, content_type: &str, body: &'static str) -> HttpResponse {
    let policy = if state.page_config.uses_stripe() {
        POLICY_WITH_STRIPE
    } else {
        POLICY
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, policy))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The page.
///
/// Every deep link is a hash route, so this is the only page.
#[utoipa::path(
    method(get, head),
    path = "/",
    tag = "page",
    operation_id = "page",
    responses(
        (status = 200, description = "The page", body = String,
            content_type = "text/html; charset=utf-8"),
    )
)]
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/html; charset=utf-8", INDEX)
}

/// The page's style.
#[utoipa::path(
    method(get, head),
    path = "/app.css",
    tag = "page",
    operation_id = "pageStyle",
    responses(
        (status = 200, description = "The style sheet", body = String,
            content_type = "text/css; charset=utf-8"),
    )
)]
pub async fn style(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/css; charset=utf-8", STYLE)
}

/// One of the page's script modules.
///
/// 404 for a name that is not one of them.
#[utoipa::path(
    method(get, head),
    path = "/js/{name}",
    tag = "page",
    operation_id = "pageModule",
    params(("name" = String, Path, description = "The module's file name", example = "main.js")),
    responses(
        (status = 200, description = "The module", body = String,
            content_type = "text/javascript; charset=utf-8"),
        (status = 404, description = "No such module", body = Envelope),
    )
)]
pub async fn module(
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    MODULES
        .iter()
        .find(|(file, _)| *file == name.as_str())
        .map(|(_, body)| asset(&state, "text/javascript; charset=utf-8", body))
        .ok_or(ApiError::NotFound)
}
