//! The account service: signup, signin, signout and session lookup.
//!
//! Accounts need no actor: the only contended rule, one account per email, is enforced by a
//! claim on the store's email index (atomic, in memory) before `UserCreated` is committed,
//! so concurrent signups with one email (in any letter case) produce exactly one account.
//! Sessions are records in the store's sessions tree, written durably before the reply.

use std::sync::Arc;

use super::passwords::{PasswordError, Passwords};
use super::tokens::{Claims, Tokens};
use crate::clock::{self, IdGenerator};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::user::{self, Email, Password, User};
use crate::store::{EmailClaim, Known, SessionRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Email in use")]
    EmailInUse,
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("failed to sign a session token")]
    Token(#[from] jsonwebtoken::errors::Error),
}

/// A fresh session for a user.
pub struct SignedIn {
    pub user_id: UserId,
    pub email: Email,
    pub token: String,
    pub claims: Claims,
}

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    ids: Arc<IdGenerator>,
    passwords: Passwords,
    tokens: Tokens,
    session_secs: u64,
}

impl Accounts {
    pub fn new(
        store: Store,
        ids: Arc<IdGenerator>,
        passwords: Passwords,
        tokens: Tokens,
        session_secs: u64,
    ) -> Accounts {
        Accounts {
            store,
            ids,
            passwords,
            tokens,
            session_secs,
        }
    }

    #[tracing::instrument(name = "Signing up", skip_all, fields(user_id))]
    pub async fn signup(&self, email: Email, password: Password) -> Result<SignedIn, AccountError> {
        let user_id = UserId::new(self.ids.next());
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        if self.store.claim_email(&email, user_id) == EmailClaim::InUse {
            return Err(AccountError::EmailInUse);
        }
        let committed = self.commit_user(user_id, email.clone(), &password).await;
        if committed.is_err() {
            self.store.release_email_claim(&email, user_id);
        }
        committed?;
        let signed_in = self.open_session(user_id, email)?;
        self.store.durable().await?;
        Ok(signed_in)
    }

    async fn commit_user(
        &self,
        user_id: UserId,
        email: Email,
        password: &Password,
    ) -> Result<(), AccountError> {
        let hash = self.passwords.hash(password.expose()).await?;
        self.store
            .commit(&user::decide_signup(user_id, email, hash), Known::Nothing)?
            .finish();
        Ok(())
    }

    /// Unknown email and wrong password are the same error, after the same amount of work.
    #[tracing::instrument(name = "Signing in", skip_all)]
    pub async fn signin(&self, email: Email, password: Password) -> Result<SignedIn, AccountError> {
        let user: Option<User> = self.store.user_by_email(&email)?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.passwords.verify(password.expose(), hash).await? {
            return Err(AccountError::InvalidCredentials);
        }
        let user = user.ok_or(AccountError::InvalidCredentials)?;
        let signed_in = self.open_session(user.id, user.email)?;
        self.store.durable().await?;
        Ok(signed_in)
    }

    /// Revokes the token's session (if the token names one); signing out twice is fine.
    #[tracing::instrument(name = "Signing out", skip_all)]
    pub async fn signout(&self, token: &str) -> Result<(), AccountError> {
        if let Some(session_id) = self
            .tokens
            .read(token)
            .and_then(|c| SessionId::parse(&c.sid).ok())
        {
            self.store.delete_session(session_id)?;
            self.store.durable().await?;
        }
        Ok(())
    }

    /// The claims of a token whose signature, expiry and server-side session all hold.
    pub fn authenticate(&self, token: &str) -> Result<Option<Claims>, AccountError> {
        let Some(claims) = self.tokens.read(token) else {
            return Ok(None);
        };
        let (Ok(session_id), Ok(user_id)) =
            (SessionId::parse(&claims.sid), UserId::parse(&claims.sub))
        else {
            return Ok(None);
        };
        let live = self
            .store
            .session(session_id)?
            .is_some_and(|s| s.user_id == user_id && s.expires_at > clock::now());
        Ok(live.then_some(claims))
    }

    fn open_session(&self, user_id: UserId, email: Email) -> Result<SignedIn, AccountError> {
        let session_id = SessionId::new(self.ids.next());
        let now = clock::now();
        let expires_at = now.plus_secs(self.session_secs);
        self.store.put_session(
            session_id,
            &SessionRecord {
                user_id,
                expires_at,
            },
        )?;
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.as_str().to_owned(),
            sid: session_id.to_string(),
            iat: now.millis() / 1000,
            exp: expires_at.millis() / 1000,
        };
        let token = self.tokens.issue(&claims)?;
        Ok(SignedIn {
            user_id,
            email,
            token,
            claims,
        })
    }
}
