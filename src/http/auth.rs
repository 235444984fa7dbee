//! Who is calling: the session token from the `session` cookie or `Authorization: Bearer`.
//!
//! `CurrentUser` rejects with 401 when there is no live session; `MaybeUser` never rejects.
//! A bad, expired or revoked token counts as signed out.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::error::ApiError;
use crate::actors::tokens::Claims;
use domain::ids::UserId;

pub const SESSION_COOKIE: &str = "session";

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: UserId,
    pub claims: Claims,
}

/// A caller who may or may not be signed in.
pub struct MaybeUser(pub Option<CurrentUser>);

/// The token of an `Authorization: Bearer` header; the scheme is matched in any letter case
/// (RFC 9110 §11.1).
pub fn bearer_token(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// The raw token a request carries, valid or not (for signout).
pub fn token_of(req: &HttpRequest) -> Option<String> {
    bearer_token(req.headers()).or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
}

fn authenticate(req: &HttpRequest) -> Result<Option<CurrentUser>, ApiError> {
    let Some(token) = token_of(req) else {
        return Ok(None);
    };
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("application state is not registered"))
    })?;
    let Some(claims) = state.accounts.authenticate(&token)? else {
        return Ok(None);
    };
    match UserId::parse(&claims.sub) {
        Ok(id) => Ok(Some(CurrentUser { id, claims })),
        Err(_) => Ok(None),
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<CurrentUser, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|user| user.ok_or(ApiError::Unauthorized)))
    }
}

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = Ready<Result<MaybeUser, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).map(MaybeUser))
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure when configured.
pub fn session_cookie(token: String, max_age_secs: u64, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(
            max_age_secs.min(i64::MAX as u64) as i64
        ))
        .finish()
}

/// A cookie that makes the browser forget the session.
pub fn cleared_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), 0, secure);
    cookie.make_removal();
    cookie
}
