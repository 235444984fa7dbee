//! Rate limits per client address on the routes that cost a password hash: signup, signin
//! and password change (DESIGN §8). Each is a GCRA bucket per address (`governor`): a burst
//! of the configured size, refilled evenly over a minute. Past it, 429 with `Retry-After`
//! and the error envelope.
//!
//! The client address is the connection's peer, unless the peer is a proxy the operator
//! named with `--trusted-proxy`: then it is the nearest address in `X-Forwarded-For` that is
//! not itself a trusted proxy. A client cannot pick its own address by sending the header
//! to a shop that trusts no proxy.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use crate::config::Config;

/// Which limit a request counts against.
#[derive(Clone, Copy, Debug)]
pub enum Limited {
    Signup,
    Signin,
    PasswordChange,
}

type Bucket = DefaultKeyedRateLimiter<IpAddr>;

pub struct RateLimits {
    signup: Option<Bucket>,
    signin: Option<Bucket>,
    password_change: Option<Bucket>,
    trusted_proxies: Vec<IpAddr>,
    /// Checks since the buckets were last swept of idle addresses.
    checks: AtomicU64,
}

/// Addresses seen are swept of the ones whose bucket is full again every this many checks,
/// so that a flood from many addresses cannot grow memory without bound.
const SWEEP_EVERY: u64 = 4096;

impl RateLimits {
    pub fn from_config(config: &Config) -> RateLimits {
        let per_minute = |n: u32| NonZeroU32::new(config.limit(n)).map(Quota::per_minute);
        RateLimits {
            signup: per_minute(config.signups_per_minute).map(RateLimiter::keyed),
            signin: per_minute(config.signins_per_minute).map(RateLimiter::keyed),
            password_change: per_minute(config.password_changes_per_minute).map(RateLimiter::keyed),
            trusted_proxies: config.trusted_proxies.clone(),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts the request against `limit`; 429 when the client has used its allowance.
    pub fn check(&self, limit: Limited, req: &HttpRequest) -> Result<(), ApiError> {
        let bucket = match limit {
            Limited::Signup => &self.signup,
            Limited::Signin => &self.signin,
            Limited::PasswordChange => &self.password_change,
        };
        let Some(bucket) = bucket else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for bucket in [&self.signup, &self.signin, &self.password_change]
                .into_iter()
                .flatten()
            {
                bucket.retain_recent();
            }
        }
        let Some(client) = self.client_address(req) else {
            return Ok(());
        };
        bucket.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests(whole_seconds(wait))
        })
    }

    /// Who is asking: the peer, or behind trusted proxies the client they forwarded for.
    pub fn client_address(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|address| address.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|address| !self.trusted_proxies.contains(address))
                .unwrap_or(peer),
        )
    }
}

/// A wait as the whole seconds `Retry-After` takes, rounded up (never 0: that would invite
/// an immediate retry that fails again).
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}
