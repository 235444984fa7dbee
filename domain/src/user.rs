//! Accounts: the email and password rules and the user entity.

use std::fmt;

use super::events::{Event, UserCreated, UserDisabled, UserEnabled, UserUpdated};
use super::ids::UserId;
use super::version::Version;

/// An email address, trimmed and lower-cased, so `A@x.io ` and `a@x.io` are one account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Email must be valid")]
pub struct InvalidEmail;

impl Email {
    /// Normalises (trim, lower-case) and checks the shape `local@domain.tld`.
    pub fn parse(text: &str) -> Result<Email, InvalidEmail> {
        let email = text.trim().to_lowercase();
        let Some((local, domain)) = email.split_once('@') else {
            return Err(InvalidEmail);
        };
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        let ok = !local.is_empty()
            && email.len() <= 254
            && domain.contains('.')
            && labels_ok
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Email(email))
        } else {
            Err(InvalidEmail)
        }
    }

    /// An address as it was accepted earlier and stored (see `Title::restore`). Only the
    /// store calls this.
    pub fn restore(stored: String) -> Email {
        Email(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed: 8 to 128 characters. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Password must be between 8 and 128 characters")]
pub struct InvalidPassword;

impl Password {
    pub fn parse(text: &str) -> Result<Password, InvalidPassword> {
        let length = text.chars().count();
        if (8..=128).contains(&length) {
            Ok(Password(text.to_owned()))
        } else {
            Err(InvalidPassword)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A registered account. The password is kept only as an argon2 PHC string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub version: Version,
    /// Disabled by an operator: signing in is refused (DESIGN §4 says nothing of it; the
    /// operator's guide, docs/OPERATIONS.md, does).
    pub disabled: bool,
}

/// Signing up: uniqueness of the email is claimed by the caller before this is committed,
/// so the rule here only shapes the event.
pub fn decide_signup(id: UserId, email: Email, password_hash: String) -> Event {
    Event::UserCreated(UserCreated {
        user_id: id,
        email,
        password_hash,
        version: Version::INITIAL,
    })
}

/// Changing the password: the caller has checked the current one and hashed the new one.
pub fn change_password(user: &User, password_hash: String) -> Event {
    Event::UserUpdated(UserUpdated {
        user_id: user.id,
        email: user.email.clone(),
        password_hash,
        version: user.version.next(),
    })
}

/// Disabling an account (an operator's command): `None` when it already is, so disabling
/// twice writes one event.
pub fn disable(user: &User) -> Option<Event> {
    (!user.disabled).then(|| {
        Event::UserDisabled(UserDisabled {
            user_id: user.id,
            version: user.version.next(),
        })
    })
}

/// Enabling a disabled account again: `None` when it is not disabled.
pub fn enable(user: &User) -> Option<Event> {
    user.disabled.then(|| {
        Event::UserEnabled(UserEnabled {
            user_id: user.id,
            version: user.version.next(),
        })
    })
}

/// Applies an event to a user snapshot; events that do not concern users, and events the
/// snapshot has already seen (by version), leave it as it is.
pub fn evolve(state: Option<User>, event: &Event) -> Option<User> {
    match (state, event) {
        (None, Event::UserCreated(e)) => Some(User {
            id: e.user_id,
            email: e.email.clone(),
            password_hash: e.password_hash.clone(),
            version: e.version,
            disabled: false,
        }),
        (Some(u), Event::UserUpdated(e)) if e.version > u.version => Some(User {
            email: e.email.clone(),
            password_hash: e.password_hash.clone(),
            version: e.version,
            ..u
        }),
        (Some(u), Event::UserDisabled(e)) if e.version > u.version => Some(User {
            version: e.version,
            disabled: true,
            ..u
        }),
        (Some(u), Event::UserEnabled(e)) if e.version > u.version => Some(User {
            version: e.version,
            disabled: false,
            ..u
        }),
        (state, _) => state,
    }
}
