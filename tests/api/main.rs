//! The black-box API suite: one test binary, one module per area.

mod audit;
mod compat;
mod fake_stripe;
#[allow(dead_code)] // Each area uses its own part of the harness.
mod helpers;
mod holds;
mod loadtest;
mod loadtest_kit;
mod orders;
mod payments;
mod payments_recovery;
mod payments_webhooks;
mod process;
mod races;
mod recovery;
mod stripe_gateway;
mod tickets;
mod users;
mod webhook;
