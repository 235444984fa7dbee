//! The HTTP layer: routes, extractors, the error envelope, and pages.
//!
//! It may use `actors` and `domain`, never `store`. A handler authenticates, reads its typed
//! body (`input`: each field a domain newtype), asks `Services` once (a message to one
//! actor, or a read of a projection), and maps the answer to JSON; `error` maps every
//! failure to the envelope. Every route is registered here, in one table.

pub mod access_log;
pub mod auth;
pub mod error;
pub mod guard;
pub mod health;
pub mod input;
pub mod limits;
pub mod orders;
pub mod page_config;
pub mod pages;
pub mod paging;
pub mod payments;
pub mod request_id;
pub mod ticket_dispatch;
pub mod ticket_events;
pub mod tickets;
pub mod users;

use actix_web::{Resource, web};

use crate::actors::Services;
use crate::actors::accounts::Accounts;

/// Largest accepted JSON body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach. One instance per server, shared by all workers.
pub struct AppState {
    pub services: Services,
    pub accounts: Accounts,
    pub session_secs: u64,
    pub cookie_secure: bool,
    /// Verifies Stripe webhooks; `None` turns the webhook route off (404).
    pub webhook_secret: Option<secrecy::SecretString>,
    /// Whether start-up has finished (`/readyz`, and the API's 503 until then).
    pub readiness: crate::readiness::Readiness,
    /// Rate limits on signup, signin and password change (DESIGN §8).
    pub limits: limits::RateLimits,
    /// What GET /api/config tells the page.
    pub page_config: page_config::PageConfig,
    /// Turns true when the shop stops, so that long streams (the ticket feed) end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The live ticket feed every GET /api/tickets/events reads.
    pub ticket_feed: ticket_events::TicketFeed,
    /// The app's metrics: the access log counts every request in them, `/metrics` renders
    /// them.
    pub meters: crate::meters::Meters,
}

/// The route table (all but `metrics_route`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::PayloadConfig::new(BODY_LIMIT))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    // The page's files answer HEAD as well (actix sends the head alone), as static files do.
    .service(
        resource("/")
            .route(web::get().to(pages::index))
            .route(web::head().to(pages::index)),
    )
    .service(
        resource("/js/{name}")
            .route(web::get().to(pages::module))
            .route(web::head().to(pages::module)),
    )
    .service(
        resource("/app.css")
            .route(web::get().to(pages::style))
            .route(web::head().to(pages::style)),
    )
    .service(resource("/healthz").route(web::get().to(health::healthz)))
    .service(resource("/readyz").route(web::get().to(health::readyz)))
    .service(resource("/api/users/signup").route(web::post().to(users::signup)))
    .service(resource("/api/users/signin").route(web::post().to(users::signin)))
    .service(resource("/api/users/signout").route(web::post().to(users::signout)))
    .service(resource("/api/users/currentuser").route(web::get().to(users::current_user)))
    .service(resource("/api/users/password").route(web::post().to(users::change_password)))
    .service(resource("/api/users/me/tickets").route(web::get().to(tickets::mine)))
    .service(resource("/api/config").route(web::get().to(page_config::show)))
    .service(
        resource("/api/tickets")
            .route(web::get().to(tickets::list))
            .route(web::post().to(tickets::create)),
    )
    .service(resource("/api/tickets/events").route(web::get().to(ticket_events::stream)))
    .service(
        resource("/api/tickets/{id}")
            .route(web::get().to(tickets::show))
            .route(web::put().to(tickets::update))
            .route(web::delete().to(tickets::withdraw)),
    )
    .service(
        resource("/api/orders")
            .route(web::get().to(orders::list))
            .route(web::post().to(orders::reserve)),
    )
    .service(
        resource("/api/orders/{id}")
            .route(web::get().to(orders::show))
            .route(web::delete().to(orders::cancel)),
    )
    .service(resource("/api/payments").route(web::post().to(payments::pay)))
    .service(resource("/api/payments/webhook").route(web::post().to(payments::webhook)))
    .service(resource("/api/payments/{id}").route(web::get().to(payments::show)))
    .service(
        resource("/api/payments/{id}/authenticate").route(web::post().to(payments::authenticate)),
    )
    .default_service(web::to(error::not_found));
}

/// GET /metrics: on the public address by default, or alone on `--metrics-addr`.
pub fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").route(web::get().to(health::metrics)));
}

/// A resource whose unserved methods answer 405 in the envelope.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
}
