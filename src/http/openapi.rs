//! GET /api/openapi.json: the API's OpenAPI 3.1 description, generated from the code.
//!
//! Each handler describes itself with `#[utoipa::path]` beside its code (method, path,
//! parameters, bodies, answers), and each body type derives `ToSchema` from the same struct
//! that is serialised, so a changed field changes the document. `ApiDoc` gathers them; the
//! answers that come from no one handler (the start-up gate, a body's size and content type,
//! the Origin check, a server fault: `health.rs`, `input.rs`, `guard.rs`, `error.rs`) are
//! added here, once, by `CommonAnswers`, and the two session schemes by `Sessions`. The
//! route table in `mod.rs` stays the one place routes are registered; the tests below check
//! that it and this document name the same (method, path) pairs.
//!
//! May use the handlers' modules and `utoipa`; nothing here runs on any other route.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::auth::SESSION_COOKIE;
use super::error::{ApiError, Envelope};
use super::{health, orders, page_config, pages, payments, ticket_events, tickets, users};

/// The description, with `info` from Cargo.toml (title "ticketing", the package's version,
/// description and license).
#[derive(OpenApi)]
#[openapi(
    paths(
        pages::index,
        pages::module,
        pages::style,
        health::healthz,
        health::readyz,
        health::metrics,
        document,
        users::signup,
        users::signin,
        users::signout,
        users::current_user,
        users::change_password,
        tickets::mine,
        page_config::show,
        tickets::list,
        tickets::create,
        ticket_events::stream,
        tickets::show,
        tickets::update,
        tickets::withdraw,
        orders::list,
        orders::reserve,
        orders::show,
        orders::cancel,
        payments::pay,
        payments::webhook,
        payments::show,
        payments::authenticate,
    ),
    // Named by no operation: the feed's events carry it as text (`ticket_events.rs`).
    components(schemas(ticket_events::TicketNews)),
    modifiers(&Sessions, &CommonAnswers, &HeadOperationIds),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "tickets", description = "Listing, editing and watching tickets"),
        (name = "orders", description = "Reservations: an order holds its ticket until paid or expired"),
        (name = "payments", description = "Paying for an order, and Stripe's webhook"),
        (name = "shop", description = "What the page needs to know about the shop"),
        (name = "health", description = "Liveness, readiness and metrics, for operators"),
        (name = "page", description = "The browser client: one page, its modules and style"),
    )
)]
pub struct ApiDoc;

/// The document, built and written once: it depends on nothing but the code.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

/// This document.
///
/// The API's OpenAPI 3.1 description, generated from the code that serves it.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "shop",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn document() -> Result<HttpResponse, ApiError> {
    match &*DOCUMENT {
        Ok(json) => Ok(HttpResponse::Ok()
            .insert_header(ContentType::json())
            .body(json.as_str())),
        Err(cause) => Err(ApiError::internal(anyhow::anyhow!(
            "Failed to write the OpenAPI document: {cause}"
        ))),
    }
}

/// The two ways a request carries its session (`auth.rs`), named by the operations'
/// `security(("cookie" = []), ("bearer" = []))`: either one will do.
struct Sessions;

impl Modify for Sessions {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie that signup and signin set (HttpOnly, SameSite=Lax). A \
                 POST, PUT or DELETE that carries it from another site's page is refused (403).",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The same session token as the cookie, as `Authorization: Bearer`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Answers that no handler gives but a layer around them does, each added to the
/// operations it can reach (an answer the handler lists itself keeps its own description,
/// and the common cause is added to it).
struct CommonAnswers;

/// One such answer: the status, the component it is kept as, what it means, and which
/// operations can get it.
struct CommonAnswer {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    applies: fn(&str, &str, &Operation) -> bool,
}

const COMMON_ANSWERS: &[CommonAnswer] = &[
    // `health::until_ready`, and `EntityError::Unavailable` when the shop stops.
    CommonAnswer {
        status: "503",
        name: "Unavailable",
        description: "The shop is starting (Retry-After says when to ask again) or stopping",
        applies: |path, _, _| path.starts_with("/api/"),
    },
    // `error::json_error`: the typed body's extractor, before the handler runs.
    CommonAnswer {
        status: "413",
        name: "PayloadTooLarge",
        description: "The body is larger than 64 KiB",
        applies: |path, _, operation| takes_json(path, operation),
    },
    CommonAnswer {
        status: "415",
        name: "UnsupportedMediaType",
        description: "The body is not `application/json`",
        applies: |path, _, operation| takes_json(path, operation),
    },
    CommonAnswer {
        status: "408",
        name: "RequestTimeout",
        description: "The body did not arrive in time; the connection is closed",
        applies: |path, _, operation| takes_json(path, operation),
    },
    // `guard::guard`, before routing.
    CommonAnswer {
        status: "403",
        name: "ForeignOrigin",
        description: "The session cookie came with a request from another site's page",
        applies: |_, method, _| matches!(method, "post" | "put" | "delete"),
    },
    // `ApiError::Internal`: the body names only the request id.
    CommonAnswer {
        status: "500",
        name: "ServerFault",
        description: "A server fault; the body gives only the request id, for the logs",
        applies: |path, _, _| path.starts_with("/api/"),
    },
];

/// Whether the operation reads a typed JSON body (`input::Body`). The webhook reads its body
/// as text instead, since Stripe's signature covers the bytes as sent, so neither the JSON
/// limit nor the content type check applies to it.
fn takes_json(path: &str, operation: &Operation) -> bool {
    operation.request_body.is_some() && path != "/api/payments/webhook"
}

impl Modify for CommonAnswers {
    fn modify(&self, document: &mut Document) {
        let envelope = Ref::from_schema_name(Envelope::name());
        let components = document.components.get_or_insert_with(Components::new);
        for answer in COMMON_ANSWERS {
            let response = ResponseBuilder::new()
                .description(answer.description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(envelope.clone())).build(),
                );
            components
                .responses
                .insert(answer.name.to_owned(), RefOr::T(response.build()));
        }
        for (path, item) in document.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                for answer in COMMON_ANSWERS {
                    if !(answer.applies)(path, method, operation) {
                        continue;
                    }
                    let responses = &mut operation.responses.responses;
                    match responses.get_mut(answer.status) {
                        Some(RefOr::T(own)) => {
                            own.description = format!(
                                "{}; or {}{}",
                                own.description,
                                answer.description[..1].to_lowercase(),
                                &answer.description[1..]
                            );
                        }
                        Some(RefOr::Ref(_)) => {}
                        None => {
                            responses.insert(
                                answer.status.to_owned(),
                                RefOr::Ref(Ref::from_response_name(answer.name)),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A GET and a HEAD described by one `#[utoipa::path(method(get, head))]` share its
/// operation id, which must be unique in the document: the HEAD's gets a suffix.
struct HeadOperationIds;

impl Modify for HeadOperationIds {
    fn modify(&self, document: &mut Document) {
        for item in document.paths.paths.values_mut() {
            if let Some(id) = item
                .head
                .as_mut()
                .and_then(|head| head.operation_id.as_mut())
            {
                id.push_str("Head");
            }
        }
    }
}

/// A path's operations with their methods' names as the document spells them.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::http::served_routes;

    /// Every (METHOD, path) the document describes.
    fn described() -> BTreeSet<(String, String)> {
        let mut document = ApiDoc::openapi();
        let mut found = BTreeSet::new();
        for (path, item) in document.paths.paths.iter_mut() {
            for (method, _) in operations(item) {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn the_document_describes_exactly_the_routes_the_app_serves() {
        // Arrange
        let served: BTreeSet<(String, String)> = served_routes()
            .into_iter()
            .map(|(method, path)| (method.as_str().to_owned(), path.to_owned()))
            .collect();

        // Act
        let described = described();

        // Assert
        let undescribed: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undescribed.is_empty() && unserved.is_empty(),
            "served but not described: {undescribed:?}\ndescribed but not served: {unserved:?}"
        );
    }

    #[test]
    fn the_route_table_names_each_route_once() {
        // Arrange
        let served = served_routes();

        // Act
        let distinct: BTreeSet<_> = served.iter().map(|(m, p)| (m.as_str(), *p)).collect();

        // Assert
        assert_eq!(distinct.len(), served.len(), "{served:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_unique_operation_ids_and_known_schemas() {
        // Arrange
        let json = DOCUMENT.as_ref().expect("the document serialises");
        let document: serde_json::Value = serde_json::from_str(json).expect("JSON");

        // Act
        let version = document["openapi"].as_str();
        let mut ids = Vec::new();
        let mut refs = Vec::new();
        for item in document["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("a path item").values() {
                ids.push(operation["operationId"].as_str().expect("an id").to_owned());
            }
        }
        collect_refs(&document, &mut refs);

        // Assert
        assert_eq!(version, Some("3.1.0"));
        assert_eq!(document["info"]["title"], "ticketing");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} names nothing in the document"
            );
        }
    }

    /// Every `$ref` in `value`.
    fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value.as_str()) {
                        ("$ref", Some(reference)) => refs.push(reference.to_owned()),
                        _ => collect_refs(value, refs),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    collect_refs(item, refs);
                }
            }
            _ => {}
        }
    }
}
