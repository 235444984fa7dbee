//! /api/users: signup, signin, signout, currentuser, password (DESIGN §4).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::{CurrentUser, MaybeUser, cleared_cookie, session_cookie, token_of};
use super::error::ApiError;
use super::input::{AllValid, Body, Field, FromField};
use super::limits::Limited;
use crate::actors::accounts::{AccountError, SignedIn};
use domain::ids::SessionId;
use domain::user::{Email, Password};

/// Signup's body.
#[derive(Deserialize)]
pub struct NewAccount {
    #[serde(default)]
    email: Field<Email>,
    #[serde(default)]
    password: Field<Password>,
}

/// Signin's body. Any non-empty password is taken: one no account could have is refused
/// like a wrong one, so the answer says nothing about the rules.
#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: Field<Email>,
    #[serde(default)]
    password: Field<GivenPassword>,
}

/// The password change's body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    #[serde(default)]
    current_password: Field<CurrentPassword>,
    #[serde(default)]
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

pub async fn signout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = token_of(&req) {
        state.accounts.signout(&token).await?;
    }
    Ok(HttpResponse::Ok()
        .cookie(cleared_cookie(state.cookie_secure))
        .json(serde_json::json!({})))
}

/// Changes the caller's password; every other session of theirs is signed out.
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
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

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

#[derive(Serialize)]
struct UserBody {
    id: String,
    email: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CurrentUserResponse {
    current_user: Option<CurrentUserBody>,
}

#[derive(Serialize)]
struct CurrentUserBody {
    id: String,
    email: String,
    iat: u64,
    exp: u64,
}

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
