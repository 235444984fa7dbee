//! Typed request bodies: each handler's body is a struct of `Field<T>`s, one per JSON field,
//! and `T`'s rule (a domain newtype's `parse`) judges the field as the body is read.
//!
//! A field never fails the body's deserialisation: a missing, mistyped or invalid field
//! becomes the rule's message, and `AllValid` turns a handler's fields into their values or
//! one 400 listing every bad field (DESIGN §4: `{}` to signup gives two entries). The
//! messages are the domain errors' own texts, so each rule is worded in one place.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use super::error::{ApiError, FieldError};
use domain::charge::{CardToken, InvalidCardToken};
use domain::ids::{OrderId, TicketId};
use domain::money::{InvalidPrice, Price};
use domain::ticket::{InvalidTitle, Title};
use domain::user::{Email, InvalidEmail, InvalidPassword, Password};

/// A value a request body may carry, judged by one rule.
pub trait FromField: Sized {
    /// The value, or the message saying what the field must be. `None` is a missing field.
    fn from_field(value: Option<&Value>) -> Result<Self, String>;
}

/// One field of a request body, already judged by its type's rule.
pub struct Field<T>(Result<T, String>);

impl<T: FromField> Default for Field<T> {
    /// A field the client left out (used through `#[serde(default)]`).
    fn default() -> Self {
        Field(T::from_field(None))
    }
}

impl<'de, T: FromField> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Field(T::from_field(Some(&value))))
    }
}

impl<T> Field<T> {
    /// A field judged by a rule of the caller's own (the query string's paging, say).
    pub fn judged(value: Result<T, String>) -> Self {
        Field(value)
    }

    /// The value, or a 400 naming this one field.
    pub fn valid(self, name: &str) -> Result<T, ApiError> {
        self.0.map_err(|message| {
            ApiError::Validation(vec![FieldError {
                message,
                field: Some(name.to_owned()),
            }])
        })
    }
}

/// Named fields that are valid all together or not at all: `(("email", body.email),
/// ("password", body.password)).all_valid()?` gives both values, or one 400 with an entry
/// for each bad field.
pub trait AllValid {
    type Values;
    fn all_valid(self) -> Result<Self::Values, ApiError>;
}

macro_rules! all_valid_for_tuples {
    ($($field:ident: $t:ident),+) => {
        impl<$($t),+> AllValid for ($((&str, Field<$t>),)+) {
            type Values = ($($t,)+);

            fn all_valid(self) -> Result<Self::Values, ApiError> {
                let ($($field,)+) = self;
                let mut errors = Vec::new();
                $(
                    let (name, field) = $field;
                    let $field = field.0.map_err(|message| {
                        errors.push(FieldError { message, field: Some(name.to_owned()) });
                    });
                )+
                match ($($field,)+) {
                    ($(Ok($field),)+) => Ok(($($field,)+)),
                    _ => Err(ApiError::Validation(errors)),
                }
            }
        }
    };
}

all_valid_for_tuples!(a: A, b: B);

/// A JSON string, parsed by `parse`; anything else (or nothing) gets `parse`'s message for
/// the empty text, which every rule here refuses.
fn text<T, E: ToString>(
    value: Option<&Value>,
    parse: impl Fn(&str) -> Result<T, E>,
    missing: impl ToString,
) -> Result<T, String> {
    match value.and_then(Value::as_str) {
        Some(text) => parse(text).map_err(|e| e.to_string()),
        None => Err(missing.to_string()),
    }
}

impl FromField for Email {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        text(value, Email::parse, InvalidEmail)
    }
}

impl FromField for Password {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        text(value, Password::parse, InvalidPassword)
    }
}

impl FromField for Title {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        text(value, Title::parse, InvalidTitle::Length)
    }
}

impl FromField for CardToken {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        text(value, CardToken::parse, InvalidCardToken)
    }
}

impl FromField for Price {
    /// A JSON number or a numeric string, read as its decimal text (never as a float).
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        let decimal = match value {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.trim().to_owned(),
            _ => return Err(InvalidPrice.to_string()),
        };
        Price::parse(&decimal).map_err(|e| e.to_string())
    }
}

/// The OpenAPI schema of a price as a request may give it (`FromField for Price` above): a
/// JSON number or a numeric string, with the domain's bounds, so the two cannot disagree.
pub fn price_schema() -> Schema {
    let (min, max) = (
        Price::MIN_CENTS as f64 / 100.0,
        Price::MAX_CENTS as f64 / 100.0,
    );
    let one_of = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(min))
                .maximum(Some(max)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[0-9]{1,9}(\.[0-9]{1,2})?\s*$")),
        )
        .description(Some(format!(
            "A number, or a numeric string such as \"20.00\", from {min:.2} to {max:.2} with at \
             most two decimals"
        )))
        .build();
    Schema::OneOf(one_of)
}

/// Ids are one rule (`domain::ids`), but the API words it with the field it names.
impl FromField for TicketId {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        const MESSAGE: &str = "ticketId must be a valid ticket id";
        text(value, |t| TicketId::parse(t).map_err(|_| MESSAGE), MESSAGE)
    }
}

impl FromField for OrderId {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        const MESSAGE: &str = "orderId must be a valid order id";
        text(value, |t| OrderId::parse(t).map_err(|_| MESSAGE), MESSAGE)
    }
}

/// A typed JSON body: read as a JSON object (so `[]` or `"x"` is "must be a JSON object",
/// in the envelope of `error::json_error`), then into `T`, whose `Field`s cannot fail.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let object = web::Json::<Map<String, Value>>::from_request(req, payload);
        Box::pin(async move {
            let object = object.await?.into_inner();
            serde_json::from_value(Value::Object(object))
                .map(Body)
                .map_err(|_| ApiError::BadRequest("Request body must be a JSON object".into()))
                .map_err(Into::into)
        })
    }
}
