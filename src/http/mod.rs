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
pub mod openapi;
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

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Resource, Responder, Route, web};

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

/// One path of a route table and its handler for each method it serves.
type Entry = (&'static str, Vec<(Method, Route)>);

/// The route table (all but `metrics_route`). `served_routes` reads the same table, so the
/// OpenAPI tests check what is registered, not a copy of it. Order matters: actix tries the
/// paths in this order, so a fixed path comes before a pattern that would also match it
/// (`/api/tickets/events` before `/api/tickets/{id}`).
fn table() -> Vec<Entry> {
    vec![
        // The page's files answer HEAD as well (actix sends the head alone), as static files do.
        ("/", with_head(pages::index)),
        ("/js/{name}", with_head(pages::module)),
        ("/app.css", with_head(pages::style)),
        ("/healthz", vec![on(Method::GET, health::healthz)]),
        ("/readyz", vec![on(Method::GET, health::readyz)]),
        (
            "/api/openapi.json",
            vec![on(Method::GET, openapi::document)],
        ),
        ("/api/users/signup", vec![on(Method::POST, users::signup)]),
        ("/api/users/signin", vec![on(Method::POST, users::signin)]),
        ("/api/users/signout", vec![on(Method::POST, users::signout)]),
        (
            "/api/users/currentuser",
            vec![on(Method::GET, users::current_user)],
        ),
        (
            "/api/users/password",
            vec![on(Method::POST, users::change_password)],
        ),
        (
            "/api/users/me/tickets",
            vec![on(Method::GET, tickets::mine)],
        ),
        ("/api/config", vec![on(Method::GET, page_config::show)]),
        (
            "/api/tickets",
            vec![
                on(Method::GET, tickets::list),
                on(Method::POST, tickets::create),
            ],
        ),
        (
            "/api/tickets/events",
            vec![on(Method::GET, ticket_events::stream)],
        ),
        (
            "/api/tickets/{id}",
            vec![
                on(Method::GET, tickets::show),
                on(Method::PUT, tickets::update),
                on(Method::DELETE, tickets::withdraw),
            ],
        ),
        (
            "/api/orders",
            vec![
                on(Method::GET, orders::list),
                on(Method::POST, orders::reserve),
            ],
        ),
        (
            "/api/orders/{id}",
            vec![
                on(Method::GET, orders::show),
                on(Method::DELETE, orders::cancel),
            ],
        ),
        ("/api/payments", vec![on(Method::POST, payments::pay)]),
        (
            "/api/payments/webhook",
            vec![on(Method::POST, payments::webhook)],
        ),
        ("/api/payments/{id}", vec![on(Method::GET, payments::show)]),
        (
            "/api/payments/{id}/authenticate",
            vec![on(Method::POST, payments::authenticate)],
        ),
    ]
}

/// The metrics' table: apart from `table`, because `--metrics-addr` serves it alone.
fn metrics_table() -> Vec<Entry> {
    vec![("/metrics", vec![on(Method::GET, health::metrics)])]
}

/// Registers the route table (all but `metrics_route`), with the extractors' error handlers
/// and the envelope's 404 for every other path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::PayloadConfig::new(BODY_LIMIT))
    .app_data(web::QueryConfig::default().error_handler(error::query_error));
    register(cfg, table());
    cfg.default_service(web::to(error::not_found));
}

/// GET /metrics: on the public address by default, or alone on `--metrics-addr`.
pub fn metrics_route(cfg: &mut web::ServiceConfig) {
    register(cfg, metrics_table());
}

/// Every (method, path) the app serves, `/metrics` included, in the table's order: what
/// `openapi::ApiDoc` must describe, no more and no less (its tests compare the two).
pub fn served_routes() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .chain(metrics_table())
        .flat_map(|(path, handlers)| {
            handlers
                .into_iter()
                .map(move |(method, _route)| (method, path))
        })
        .collect()
}

/// Each path of `table` as one resource, so a method it does not serve gets the 405 envelope.
fn register(cfg: &mut web::ServiceConfig, table: Vec<Entry>) {
    for (path, handlers) in table {
        let resource = handlers
            .into_iter()
            .fold(resource(path), |resource, (_, route)| resource.route(route));
        cfg.service(resource);
    }
}

/// `handler` for `method`: the method beside its route, so `served_routes` can read it.
fn on<F, Args>(method: Method, handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (method.clone(), web::method(method).to(handler))
}

/// GET and HEAD for one of the page's files.
fn with_head<F, Args>(handler: F) -> Vec<(Method, Route)>
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    vec![on(Method::GET, handler.clone()), on(Method::HEAD, handler)]
}

/// A resource whose unserved methods answer 405 in the envelope.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
}
