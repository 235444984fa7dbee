//! The black-box API suite: one test binary, one module per area.

mod fake_stripe;
#[allow(dead_code)] // Each area uses its own part of the harness.
mod helpers;
mod loadtest;
mod stripe_gateway;
mod users;
mod webhook;
