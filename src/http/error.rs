//! The one mapping from every error to HTTP: DESIGN §4's envelope and statuses.
//!
//! Handlers return `ApiError`; actix-web's own failures (bad JSON, wrong content type, body
//! too large, unknown route, wrong method) are turned into it here too, so every error body
//! is `{"errors":[{"message": ..., "field"?: ...}]}`. A server fault logs its cause chain
//! and shows only a generic message (the request-id middleware adds the id).

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::actors::accounts::AccountError;
use crate::actors::error::EntityError;
use crate::actors::passwords::PasswordError;
use domain::error::DomainError;

/// One entry of the error envelope.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    /// What is wrong, in words a person can be shown.
    pub message: String,
    /// The body field (or query parameter) at fault; only for a validation error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One entry per bad field.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("Not signed in")]
    Unauthorized,
    #[error("Not authorized")]
    Forbidden,
    /// The right password for an account an operator disabled.
    #[error("This account is disabled")]
    AccountDisabled,
    /// A cookie-authenticated write from another site's page (`guard.rs`).
    #[error("Requests from another site are not accepted with the session cookie")]
    ForeignOrigin,
    /// A rate limit of DESIGN §8; the client may try again after that many seconds.
    #[error("Too many requests; try again in {0} s")]
    TooManyRequests(u64),
    /// Too much work already queued (password hashing); try again after that many seconds.
    #[error("The shop is busy; try again in {0} s")]
    Busy(u64),
    /// The request's body did not arrive in time.
    #[error("The request took too long to arrive")]
    RequestTimeout,
    #[error("Not found")]
    NotFound,
    /// A path no route serves. Worded apart from `NotFound` (a route's missing thing), so a
    /// client, and the OpenAPI test, can tell a wrong URL from an unknown id.
    #[error("No such route")]
    NoSuchRoute,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PaymentDeclined(String),
    #[error("Request body is too large")]
    PayloadTooLarge,
    #[error("Content type must be application/json")]
    UnsupportedMediaType,
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("Service unavailable")]
    Unavailable,
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(error.into())
    }

    fn entries(&self) -> Vec<FieldError> {
        match self {
            ApiError::Validation(fields) => fields.clone(),
            other => vec![FieldError {
                message: other.to_string(),
                field: None,
            }],
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PaymentDeclined(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Forbidden | ApiError::ForeignOrigin | ApiError::AccountDisabled => {
                StatusCode::FORBIDDEN
            }
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound | ApiError::NoSuchRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "Request failed with a server fault");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests(secs) | ApiError::Busy(secs) = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::Unavailable = self {
            // An actor out of reach (the shop stopping) or a provider with no definite
            // answer: worth a retry, and said so, which also keeps the message from being
            // replaced by a server fault's (`request_id`).
            response.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        if let ApiError::RequestTimeout = self {
            // The rest of a late body may still arrive: nothing after it can be trusted.
            response.insert_header((actix_web::http::header::CONNECTION, "close"));
        }
        response.json(Envelope {
            errors: self.entries(),
        })
    }
}

/// Every error's body: one entry per bad field of a validation error, one entry otherwise.
// DESIGN §4's envelope; also what the OpenAPI document calls `ErrorEnvelope`.
#[derive(Serialize, ToSchema)]
#[schema(as = ErrorEnvelope)]
pub struct Envelope {
    pub errors: Vec<FieldError>,
}

impl From<EntityError> for ApiError {
    fn from(error: EntityError) -> ApiError {
        match error {
            EntityError::Domain(rule) => rule.into(),
            EntityError::NotFound => ApiError::NotFound,
            EntityError::Unavailable => ApiError::Unavailable,
            EntityError::Store(store) => {
                ApiError::internal(anyhow::Error::new(store).context("Failed to use the store"))
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(rule: DomainError) -> ApiError {
        match rule {
            DomainError::AlreadyReserved
            | DomainError::TicketReserved
            | DomainError::OrderPaid
            | DomainError::PaymentInFlight
            | DomainError::OrderCancelled
            | DomainError::WithdrawReserved
            | DomainError::OrderNotPaid
            | DomainError::TooManyHolds(_) => ApiError::Conflict(rule.to_string()),
            DomainError::TicketWithdrawn => ApiError::NotFound,
            DomainError::OwnTicket => ApiError::BadRequest(rule.to_string()),
            DomainError::NotOwner => ApiError::Forbidden,
            DomainError::VersionMismatch => ApiError::PreconditionFailed(rule.to_string()),
            DomainError::NotHeldByOrder => ApiError::internal(
                anyhow::Error::new(rule).context("Follow-up for the wrong order"),
            ),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> ApiError {
        match error {
            AccountError::EmailInUse | AccountError::InvalidCredentials => {
                ApiError::BadRequest(error.to_string())
            }
            AccountError::WrongCurrentPassword => ApiError::Validation(vec![FieldError {
                message: error.to_string(),
                field: Some("currentPassword".into()),
            }]),
            AccountError::Disabled => ApiError::AccountDisabled,
            AccountError::Locked(wait) => {
                ApiError::TooManyRequests(super::limits::whole_seconds(wait))
            }
            AccountError::Password(PasswordError::Busy) => ApiError::Busy(1),
            other => ApiError::internal(
                anyhow::Error::new(other).context("Failed to handle an account request"),
            ),
        }
    }
}

/// actix-web's JSON extractor failures, in the envelope.
pub fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::BadRequest("Request body must be a JSON object".into())
        }
        JsonPayloadError::Deserialize(_) => {
            ApiError::BadRequest("Request body is not valid JSON".into())
        }
        JsonPayloadError::Payload(ref payload) => payload_error(Some(payload)),
        _ => ApiError::BadRequest("Request body could not be read".into()),
    };
    api.into()
}

/// A body that stopped arriving: too slowly (408, `guard`), or for any other reason.
pub fn payload_error(error: Option<&actix_web::error::PayloadError>) -> ApiError {
    if error.is_some_and(super::guard::is_body_timeout) {
        ApiError::RequestTimeout
    } else {
        ApiError::BadRequest("Request body could not be read".into())
    }
}

/// Query-string failures, in the envelope.
pub fn query_error(_: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest("Query string is not valid".into()).into()
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchRoute)
}

/// A known path with a method it does not serve.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_answer_says_so_and_when_to_try_again() {
        let response = ApiError::Unavailable.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }
}
