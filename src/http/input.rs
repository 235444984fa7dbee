//! Reading request bodies into domain newtypes, one error entry per bad field.
//!
//! Bodies are taken as JSON objects and read field by field (not through a derived struct),
//! so `{}` gives an error for every missing field and a wrong type names its field.

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};

/// Collects field errors while a body is read.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// Reads a string field and parses it; records `message` under `name` on any failure.
    pub fn text<T, E>(
        &mut self,
        body: &Map<String, Value>,
        name: &str,
        message: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let parsed = body
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| parse(s).ok());
        if parsed.is_none() {
            self.fail(name, message);
        }
        parsed
    }

    /// `text`, with the message of the parse error itself (one text per rule, kept with
    /// the rule in `domain`); a missing or non-string field gets `missing`.
    pub fn text_explained<T, E: std::fmt::Display>(
        &mut self,
        body: &Map<String, Value>,
        name: &str,
        missing: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let Some(text) = body.get(name).and_then(Value::as_str) else {
            self.fail(name, missing);
            return None;
        };
        match parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(name, &error.to_string());
                None
            }
        }
    }

    /// Reads a field that may be a JSON number or a numeric string, as its decimal text.
    pub fn decimal<T, E>(
        &mut self,
        body: &Map<String, Value>,
        name: &str,
        message: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let text = match body.get(name) {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            _ => None,
        };
        let parsed = text.and_then(|t| parse(&t).ok());
        if parsed.is_none() {
            self.fail(name, message);
        }
        parsed
    }

    pub fn fail(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError {
            message: message.to_owned(),
            field: Some(name.to_owned()),
        });
    }

    /// Ends the read: every field was good, or the request is a 400 listing the bad ones.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// All fields parsed, or the validation error: `both(fields, a, b)` in handlers.
pub fn all2<A, B>(fields: Fields, a: Option<A>, b: Option<B>) -> Result<(A, B), ApiError> {
    fields.finish()?;
    match (a, b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "a field failed without an error entry"
        ))),
    }
}
