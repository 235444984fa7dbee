//! Session tokens: HS256 JWTs naming the user, the email, the session and the expiry.
//!
//! A token is only half of a session: the session id inside it must also still be in the
//! store's sessions tree, so signout revokes exactly that session (DESIGN §7.9).
//!
//! Checking a signature means an HMAC and a JSON decode on every request of a session, a
//! twentieth of a reservation's time; so the claims of tokens already checked are kept by
//! their exact text, with their expiry still checked at each use. Expiry is judged by the
//! app's clock (`clock::Clock`), not the library's, so that a test moving a manual clock
//! sees sessions end when it says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::sync::lock;

/// Checked tokens kept at most; the set is emptied when full (re-checking costs little).
const CHECKED_CAPACITY: usize = 16_384;

/// What a token says. `iat` and `exp` are seconds since the epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id (24 hex).
    pub sub: String,
    pub email: String,
    /// The session id (24 hex).
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Token text -> its claims, for tokens whose signature has been checked.
    checked: Arc<Mutex<HashMap<String, Claims>>>,
    clock: Clock,
}

impl Tokens {
    pub fn new(secret: &[u8], clock: Clock) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` must be there, and is judged below by the app's clock, exactly: a token is
        // dead the second its exp passes.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            checked: Arc::default(),
            clock,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a well-signed, unexpired token; `None` for anything else.
    pub fn read(&self, token: &str) -> Option<Claims> {
        let now_secs = self.clock.now().millis() / 1000;
        if let Some(claims) = lock(&self.checked).get(token) {
            return (claims.exp >= now_secs).then(|| claims.clone());
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        if claims.exp < now_secs {
            return None;
        }
        let mut checked = lock(&self.checked);
        if checked.len() >= CHECKED_CAPACITY {
            checked.clear();
        }
        checked.insert(token.to_owned(), claims.clone());
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "0".repeat(24),
            email: "a@b.test".into(),
            sid: "1".repeat(24),
            iat: 0,
            exp,
        }
    }

    fn now_secs() -> u64 {
        Clock::system().now().millis() / 1000
    }

    fn tokens(secret: &[u8]) -> Tokens {
        Tokens::new(secret, Clock::system())
    }

    #[test]
    fn a_good_token_reads_the_same_the_second_time() {
        let tokens = tokens(b"a test secret of enough length");
        let token = tokens.issue(&claims(now_secs() + 60)).expect("signs");
        let first = tokens.read(&token).expect("valid");
        assert_eq!(tokens.read(&token), Some(first));
    }

    #[test]
    fn a_token_from_another_key_or_edited_is_refused() {
        let tokens = tokens(b"a test secret of enough length");
        let other = super::tests::tokens(b"another secret, just as long...");
        let token = other.issue(&claims(now_secs() + 60)).expect("signs");
        assert_eq!(tokens.read(&token), None);
        let mine = tokens.issue(&claims(now_secs() + 60)).expect("signs");
        tokens.read(&mine).expect("valid");
        let edited = format!("{mine}x");
        assert_eq!(
            tokens.read(&edited),
            None,
            "only the exact checked text is kept"
        );
    }

    #[test]
    fn an_expired_token_is_refused_even_after_it_was_checked() {
        let tokens = tokens(b"a test secret of enough length");
        let stale = tokens.issue(&claims(now_secs() - 1)).expect("signs");
        assert_eq!(tokens.read(&stale), None, "refused on first reading");
        // A token checked while valid whose expiry has since passed.
        lock(&tokens.checked).insert("checked earlier".into(), claims(now_secs() - 1));
        assert_eq!(tokens.read("checked earlier"), None);
    }
}
