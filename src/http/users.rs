//! /api/users: signup, signin, signout, currentuser, password (DESIGN §4).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AppState;
use super::auth::{CurrentUser, MaybeUser, cleared_cookie, session_cookie, token_of};
use super::error::ApiError;
use super::input::{Fields, all2};
use super::limits::Limited;
use crate::actors::accounts::SignedIn;
use domain::ids::SessionId;
use domain::user::{Email, Password};

const EMAIL_MESSAGE: &str = "Email must be valid";
const PASSWORD_MESSAGE: &str = "Password must be between 8 and 128 characters";

pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::Signup, &req)?;
    let mut fields = Fields::default();
    let email = fields.text(&body, "email", EMAIL_MESSAGE, Email::parse);
    let password = fields.text(&body, "password", PASSWORD_MESSAGE, Password::parse);
    let (email, password) = all2(fields, email, password)?;
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
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::Signin, &req)?;
    let mut fields = Fields::default();
    let email = fields.text(&body, "email", EMAIL_MESSAGE, Email::parse);
    let password = fields.text(&body, "password", "You must supply a password", |p| {
        if p.is_empty() {
            Err(())
        } else {
            Ok(p.to_owned())
        }
    });
    let (email, password) = all2(fields, email, password)?;
    // A password no account could have is refused like any wrong password.
    let password = Password::parse(&password)
        .map_err(|_| ApiError::BadRequest("Invalid credentials".into()))?;
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
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limited::PasswordChange, &req)?;
    let mut fields = Fields::default();
    let current = fields.text(
        &body,
        "currentPassword",
        "Current password is incorrect",
        Password::parse,
    );
    let new = fields.text(&body, "newPassword", PASSWORD_MESSAGE, Password::parse);
    let (current, new) = all2(fields, current, new)?;
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
