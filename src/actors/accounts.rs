//! The account service: signup, signin, signout and session lookup.
//!
//! Accounts need no actor: the only contended rule, one account per email, is enforced by a
//! claim on the store's email index (atomic, in memory) before `UserCreated` is committed,
//! so concurrent signups with one email (in any letter case) produce exactly one account.
//! Sessions are records in the store's sessions tree, written durably before the reply.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::passwords::{PasswordError, Passwords};
use super::tokens::{Claims, Tokens};
use crate::clock::{Clock, IdGenerator};
use crate::store::{EmailClaim, PriorState, SessionRecord, Store, StoreError};
use crate::sync::lock;
use domain::ids::{SessionId, UserId};
use domain::user::{self, Email, Password, User};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Email in use")]
    EmailInUse,
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// The current password given for a change was wrong.
    #[error("Current password is incorrect")]
    WrongCurrentPassword,
    /// An operator disabled the account (`ticketing admin users disable`).
    #[error("This account is disabled")]
    Disabled,
    /// No account has the email an operator's command named.
    #[error("No account has that email")]
    UnknownEmail,
    /// Too many failed signins on this account; try again after this long.
    #[error("Too many failed signins for this account; try again later")]
    Locked(Duration),
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
    failed_signins: Arc<FailedSignins>,
    clock: Clock,
    /// Password changes and disablings commit one at a time: users have no actor to
    /// serialise them, and a change is checked against the version it read
    /// (`change_password`). A signin opens its session under it too, so that no session
    /// outlives the disabling of its account (`signin`).
    user_writes: Arc<tokio::sync::Mutex<()>>,
}

impl Accounts {
    /// `failed_signins_per_hour`: failures one account may see in an hour before it refuses
    /// signins for a while (0: no limit).
    pub fn new(
        store: Store,
        ids: Arc<IdGenerator>,
        passwords: Passwords,
        tokens: Tokens,
        session_secs: u64,
        failed_signins_per_hour: u32,
        clock: Clock,
    ) -> Accounts {
        Accounts {
            store,
            ids,
            passwords,
            tokens,
            session_secs,
            failed_signins: Arc::new(FailedSignins::new(failed_signins_per_hour)),
            clock,
            user_writes: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Hashes running now (for `/metrics`).
    pub fn hashes_running(&self) -> usize {
        self.passwords.running()
    }

    #[tracing::instrument(name = "Signing up", skip_all, fields(user_id))]
    pub async fn signup(&self, email: Email, password: Password) -> Result<SignedIn, AccountError> {
        let user_id = UserId::new(self.ids.next());
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        if self.store.claim_email(&email, user_id) == EmailClaim::InUse {
            return Err(AccountError::EmailInUse);
        }
        // Given back if the signup fails or its request is dropped before the commit (the
        // client went away while the password was hashing): the email is free again at once.
        let mut claim = ClaimGuard {
            store: &self.store,
            email: &email,
            user_id,
            committed: false,
        };
        self.commit_user(user_id, email.clone(), &password).await?;
        claim.committed = true;
        drop(claim);
        let signed_in = self.open_session(user_id, email)?;
        self.store.durable().await?;
        Ok(signed_in)
    }

    /// Changes the caller's password after checking the current one, and revokes every
    /// other session of theirs (DESIGN §4).
    #[tracing::instrument(name = "Changing a password", skip_all, fields(user_id = %user_id))]
    pub async fn change_password(
        &self,
        user_id: UserId,
        session_id: Option<SessionId>,
        current: Password,
        new: Password,
    ) -> Result<(), AccountError> {
        let user = self
            .store
            .projections()
            .user(user_id)?
            .ok_or(AccountError::InvalidCredentials)?;
        let hash = Some(user.password_hash.clone());
        if !self.passwords.verify(current.expose(), hash).await? {
            return Err(AccountError::WrongCurrentPassword);
        }
        let new_hash = self.passwords.hash(new.expose()).await?;
        {
            let _one_at_a_time = self.user_writes.lock().await;
            let now = self
                .store
                .projections()
                .user(user_id)?
                .ok_or(AccountError::InvalidCredentials)?;
            if now.version != user.version {
                // Changed meanwhile (another of the user's sessions): the check above was
                // against a password that no longer holds.
                return Err(AccountError::WrongCurrentPassword);
            }
            self.store
                .commit(&user::change_password(&now, new_hash), PriorState::Unknown)?
                .finish();
        }
        self.store.revoke_sessions(user_id, session_id)?;
        self.store.durable().await?;
        Ok(())
    }

    /// Disables or enables the account with `email` (an operator's command, through the
    /// control socket). Waits its turn with password changes, which commit the next
    /// version too.
    pub async fn set_access(
        &self,
        email: &Email,
        access: Access,
    ) -> Result<AccessChange, AccountError> {
        let _one_at_a_time = self.user_writes.lock().await;
        set_access(&self.store, email, access).await
    }

    async fn commit_user(
        &self,
        user_id: UserId,
        email: Email,
        password: &Password,
    ) -> Result<(), AccountError> {
        let hash = self.passwords.hash(password.expose()).await?;
        self.store
            .commit(
                &user::decide_signup(user_id, email, hash),
                PriorState::Unknown,
            )?
            .finish();
        Ok(())
    }

    /// Unknown email and wrong password are the same error, after the same amount of work.
    /// An account that has seen too many failures refuses signins for a while, before any
    /// password is checked, so guessing cannot go on from many addresses either.
    #[tracing::instrument(name = "Signing in", skip_all)]
    pub async fn signin(&self, email: Email, password: Password) -> Result<SignedIn, AccountError> {
        if let Some(wait) = self.failed_signins.locked_for(&email) {
            return Err(AccountError::Locked(wait));
        }
        let user: Option<User> = self.store.projections().user_by_email(&email)?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.passwords.verify(password.expose(), hash).await? {
            self.failed_signins.failed(&email);
            return Err(AccountError::InvalidCredentials);
        }
        let user = user.ok_or(AccountError::InvalidCredentials)?;
        let signed_in = {
            // Read again under the lock `set_access` takes: an account disabled while its
            // password was hashing must not get a session after its sessions were revoked.
            let _no_disabling_meanwhile = self.user_writes.lock().await;
            let user = self
                .store
                .projections()
                .user(user.id)?
                .ok_or(AccountError::InvalidCredentials)?;
            // Told only to the holder of the right password, who may as well know why.
            if user.disabled {
                return Err(AccountError::Disabled);
            }
            self.open_session(user.id, user.email)?
        };
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
            .is_some_and(|s| s.user_id == user_id && s.expires_at > self.clock.now());
        Ok(live.then_some(claims))
    }

    fn open_session(&self, user_id: UserId, email: Email) -> Result<SignedIn, AccountError> {
        let session_id = SessionId::new(self.ids.next());
        let now = self.clock.now();
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

/// An operator's change to whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Disable,
    Enable,
}

/// What an access change came to.
#[derive(Debug, PartialEq, Eq)]
pub enum AccessChange {
    /// The event was committed; a disabling revoked this many sessions (an enabling none).
    Changed { user_id: UserId, sessions: usize },
    /// The account already was so: nothing was written.
    Unchanged { user_id: UserId },
}

/// Disables the account with `email` (commits `UserDisabled` and revokes every session of
/// the account) or enables it again (`UserEnabled`), and returns once that is durable. The
/// one way it is done, whether the shop serves (`Accounts::set_access`, serialised with
/// password changes) or is stopped (the command holds the store's lock, so nothing else
/// writes).
pub async fn set_access(
    store: &Store,
    email: &Email,
    access: Access,
) -> Result<AccessChange, AccountError> {
    let user = store
        .projections()
        .user_by_email(email)?
        .ok_or(AccountError::UnknownEmail)?;
    let event = match access {
        Access::Disable => user::disable(&user),
        Access::Enable => user::enable(&user),
    };
    let Some(event) = event else {
        return Ok(AccessChange::Unchanged { user_id: user.id });
    };
    store.commit(&event, PriorState::Unknown)?.finish();
    let sessions = match access {
        Access::Disable => store.revoke_sessions(user.id, None)?,
        Access::Enable => 0,
    };
    store.durable().await?;
    Ok(AccessChange::Changed {
        user_id: user.id,
        sessions,
    })
}

/// Gives a signup's email claim back when dropped before the signup committed: on an error,
/// and when the request's future is dropped mid-hash. (A commit turns the claim into the
/// account's entry in the email index.)
struct ClaimGuard<'a> {
    store: &'a Store,
    email: &'a Email,
    user_id: UserId,
    committed: bool,
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.store.release_email_claim(self.email, self.user_id);
        }
    }
}

/// Failed signins per account (DESIGN §8). Each failure takes one from the account's
/// bucket (a burst of `per_hour`, refilled over the hour); a failure that finds it empty
/// locks the account until the bucket would take one again. Locks are kept apart from the
/// bucket because checking a bucket spends from it, and a locked account must be refused
/// without spending.
struct FailedSignins {
    bucket: Option<DefaultKeyedRateLimiter<String>>,
    locked: Mutex<HashMap<String, Instant>>,
}

/// Locks are swept of expired ones when there are more than this many.
const LOCKS_BEFORE_SWEEP: usize = 10_000;

impl FailedSignins {
    fn new(per_hour: u32) -> FailedSignins {
        FailedSignins {
            bucket: NonZeroU32::new(per_hour).map(|n| RateLimiter::keyed(Quota::per_hour(n))),
            locked: Mutex::new(HashMap::new()),
        }
    }

    /// How much longer the account stays locked, if it is.
    fn locked_for(&self, email: &Email) -> Option<Duration> {
        let until = *lock(&self.locked).get(email.as_str())?;
        until.checked_duration_since(Instant::now())
    }

    fn failed(&self, email: &Email) {
        let Some(bucket) = &self.bucket else {
            return;
        };
        if let Err(not_until) = bucket.check_key(&email.as_str().to_owned()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut locked = lock(&self.locked);
            if locked.len() > LOCKS_BEFORE_SWEEP {
                let now = Instant::now();
                locked.retain(|_, until| *until > now);
                bucket.retain_recent();
            }
            locked.insert(email.as_str().to_owned(), Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::RawId;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signup_dropped_mid_hash_gives_its_email_back_at_once() {
        // Arrange
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path(), 1024 * 1024).expect("a store");
        store.replay().expect("replay");
        let clock = Clock::system();
        let accounts = Accounts::new(
            store.clone(),
            Arc::new(IdGenerator::new(clock.clone())),
            Passwords::new(1, None),
            Tokens::new(b"a test secret of thirty-two bytes!", clock.clone()),
            3600,
            0,
            clock,
        );
        let email = Email::parse("dropped@example.com").expect("valid");
        let password = Password::parse("a long password").expect("valid");
        // Act: the request goes away while its password hashes (~35 ms).
        let signup = accounts.signup(email.clone(), password);
        let abandoned = tokio::time::timeout(Duration::from_millis(3), signup).await;
        // Assert
        assert!(abandoned.is_err(), "the signup was still hashing");
        let someone_else = UserId::new(RawId::from_parts(1, 1));
        assert_eq!(store.claim_email(&email, someone_else), EmailClaim::Claimed);
        assert!(
            store
                .projections()
                .user_by_email(&email)
                .expect("read")
                .is_none()
        );
    }
}
