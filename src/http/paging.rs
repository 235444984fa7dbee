//! Paged lists (DESIGN §4): `?limit=` (1 to 1000, default 100) and `?cursor=`, the id of the
//! last item of the previous page; `Link: <…>; rel="next"` when more may follow.

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::error::ApiError;
use super::input::{AllValid, Field};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The query of a paged list, as sent. Both are text, so that `parse` words a bad one; the
/// `param` attributes give the OpenAPI document what each must be.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items, from 1 to 1000; 100 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The id of the last item of the previous page, as the `Link` header names it.
    #[param(pattern = "^[0-9a-f]{24}$")]
    cursor: Option<String>,
}

/// A page asked for: at most `limit` items after `after`.
pub struct Page<Id> {
    pub limit: usize,
    pub after: Option<Id>,
}

impl PageQuery {
    /// Reads the query; a bad limit or cursor is a 400 naming it.
    pub fn parse<Id, E>(
        &self,
        parse_id: impl Fn(&str) -> Result<Id, E>,
        cursor_message: &str,
    ) -> Result<Page<Id>, ApiError> {
        let limit = match &self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| "limit must be a whole number from 1 to 1000".to_owned()),
        };
        let cursor = match &self.cursor {
            None => Ok(None),
            Some(text) => parse_id(text)
                .map(Some)
                .map_err(|_| cursor_message.to_owned()),
        };
        let (limit, after) = (
            ("limit", Field::judged(limit)),
            ("cursor", Field::judged(cursor)),
        )
            .all_valid()?;
        Ok(Page { limit, after })
    }
}

/// 200 with the page's items, and a `Link` to the next page when this one is full: `last`
/// is the id of its last item, the next page's cursor.
pub fn page_response<T: Serialize>(
    path: &str,
    limit: usize,
    items: &[T],
    last: Option<String>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(last) = last.filter(|_| items.len() == limit) {
        response.insert_header((
            header::LINK,
            format!("<{path}?limit={limit}&cursor={last}>; rel=\"next\""),
        ));
    }
    response.json(items)
}
