//! /api/users: signup, signin, signout, currentuser, password (DESIGN §4).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentUser, MaybeUser, cleared_cookie, session_cookie, token_of};
use super::error::{ApiError, Envelope};
use super::input::{AllValid, Body, Field, FromField};
use super::limits::Limited;
use crate::actors::accounts::{AccountError, SignedIn};
use domain::ids::SessionId;
use domain::user::{Email, Password};

// The bodies' fields are `Field`s, judged as the body is read, so their schemas are given
// as the JSON the rule takes (`value_type`); `required`, because a missing field is a 400
// although `#[serde(default)]` lets the body itself be read without it.

/// Signup's body.
#[derive(Deserialize, ToSchema)]
pub struct NewAccount {
    /// An email address; trimmed and lower-cased, and unique among accounts.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "ada@example.com")]
    email: Field<Email>,
    /// 8 to 128 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128)]
    password: Field<Password>,
}

/// Signin's body. Any non-empty password is taken: one no account could have is refused
/// like a wrong one, so the answer says nothing about the rules.
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    /// Normalised as signup does.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "ada@example.com")]
    email: Field<Email>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1)]
    password: Field<GivenPassword>,
}

/// The password change's body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    current_password: Field<CurrentPassword>,
    /// 8 to 128 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128)]
    new_password: Field<Password>,
}

pub struct GivenPassword(String);

impl FromField for GivenPassword {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        match value.and_then(Value::as_str) {
            Some(text) if !text.is_empty() => Ok(GivenPassword(text.to_owned())),
            _ => Err("You must supply a password".to_owned()),
        }
    }
}

/// The current password of a change: one no account could have is simply not theirs.
pub struct CurrentPassword(Password);

impl FromField for CurrentPassword {
    fn from_field(value: Option<&Value>) -> Result<Self, String> {
        value
            .and_then(Value::as_str)
            .and_then(|text| Password::parse(text).ok())
            .map(CurrentPassword)
            .ok_or_else(|| AccountError::WrongCurrentPassword.to_string())
    }
}

/// Creates an account and signs it in.
///
/// The answer sets the `session` cookie; its token is accepted as `Authorization: Bearer`
/// too.
#[utoipa::path(
    post,
    path = "/api/users/signup",
    tag = "users",
    operation_id = "signup",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Signed up and signed in", body = UserBody,
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "A bad email or password (one entry for each), or \
            \"Email in use\"", body = Envelope),
        (status = 429, description = "Too many signups from this address", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Password hashing is busy", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    Body(body): Body<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::Signup, &req)?;
    let (email, password) = (("email", body.email), ("password", body.password)).all_valid()?;
    let signed_in = state.accounts.signup(email, password).await?;
    Ok(signed_in_response(
        &state,
        signed_in,
        HttpResponse::Created(),
    ))
}

/// Signs in.
///
/// An unknown email and a wrong password get byte-identical answers. The answer sets the
/// `session` cookie; its token is accepted as `Authorization: Bearer` too.
#[utoipa::path(
    post,
    path = "/api/users/signin",
    tag = "users",
    operation_id = "signin",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = UserBody,
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "A missing email or password (one entry for each), or \
            \"Invalid credentials\"", body = Envelope),
        (status = 403, description = "\"This account is disabled\": the right password for an \
            account an operator disabled", body = Envelope),
        (status = 429, description = "Too many signins from this address, or too many failed \
            ones for this account", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Password hashing is busy", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn signin(
    state: web::Data<AppState>,
    req: HttpRequest,
    Body(body): Body<Credentials>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::Signin, &req)?;
    let (email, GivenPassword(password)) =
        (("email", body.email), ("password", body.password)).all_valid()?;
    let password = Password::parse(&password).map_err(|_| AccountError::InvalidCredentials)?;
    let signed_in = state.accounts.signin(email, password).await?;
    Ok(signed_in_response(&state, signed_in, HttpResponse::Ok()))
}

/// Signs out.
///
/// Clears the cookie and revokes this session (only this one) on the server. Signed out
/// already, it answers the same.
#[utoipa::path(
    post,
    path = "/api/users/signout",
    tag = "users",
    operation_id = "signout",
    security((), ("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Signed out", body = Empty,
            headers(("set-cookie" = String, description = "The cleared session cookie"))),
    )
)]
pub async fn signout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = token_of(&req) {
        state.accounts.signout(&token).await?;
    }
    Ok(HttpResponse::Ok()
        .cookie(cleared_cookie(state.cookie_secure))
        .json(Empty {}))
}

/// Changes the caller's password.
///
/// Every other session of theirs is signed out.
#[utoipa::path(
    post,
    path = "/api/users/password",
    tag = "users",
    operation_id = "changePassword",
    security(("cookie" = []), ("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = Empty),
        (status = 400, description = "A wrong current password or a bad new one (one entry \
            for each)", body = Envelope),
        (status = 401, description = "Not signed in", body = Envelope),
        (status = 429, description = "Too many password changes from this address",
            body = Envelope, headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Password hashing is busy", body = Envelope,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    Body(body): Body<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::PasswordChange, &req)?;
    let (CurrentPassword(current), new) = (
        ("currentPassword", body.current_password),
        ("newPassword", body.new_password),
    )
        .all_valid()?;
    let session = SessionId::parse(&user.claims.sid).ok();
    state
        .accounts
        .change_password(user.id, session, current, new)
        .await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// Who is signed in.
///
/// `currentUser` is null when the caller is not signed in (or the token is bad, expired or
/// revoked).
#[utoipa::path(
    get,
    path = "/api/users/currentuser",
    tag = "users",
    operation_id = "currentUser",
    security((), ("cookie" = []), ("bearer" = [])),
    responses((status = 200, description = "The caller, or null", body = CurrentUserResponse))
)]
pub async fn current_user(user: MaybeUser) -> HttpResponse {
    let current = user.0.map(|u| CurrentUserBody {
        id: u.claims.sub,
        email: u.claims.email,
        iat: u.claims.iat,
        exp: u.claims.exp,
    });
    HttpResponse::Ok().json(CurrentUserResponse {
        current_user: current,
    })
}

/// An account, as signup and signin answer.
#[derive(Serialize, ToSchema)]
struct UserBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    email: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CurrentUserResponse {
    /// Always present: null when signed out.
    #[schema(required = true)]
    current_user: Option<CurrentUserBody>,
}

/// The session's claims.
#[derive(Serialize, ToSchema)]
struct CurrentUserBody {
    #[schema(pattern = "^[0-9a-f]{24}$")]
    id: String,
    email: String,
    /// When the session began, in seconds since the Unix epoch.
    iat: u64,
    /// When the session ends, in seconds since the Unix epoch.
    exp: u64,
}

/// `{}`: the answer of a change that has nothing more to say.
// Braced: a unit struct would be serialised as `null`.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

fn signed_in_response(
    state: &AppState,
    signed_in: SignedIn,
    mut builder: actix_web::HttpResponseBuilder,
) -> HttpResponse {
    builder
        .cookie(session_cookie(
            signed_in.token,
            state.session_secs,
            state.cookie_secure,
        ))
        .json(UserBody {
            id: signed_in.user_id.to_string(),
            email: signed_in.email.as_str().to_owned(),
        })
}
