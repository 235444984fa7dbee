//! The black-box API suite: one test binary, one module per area.

mod audit;
mod compat;
mod defences;
mod fake_stripe;
mod faults;
mod healthcheck;
mod helpers;
mod holds;
mod limits;
mod loadtest;
mod loadtest_kit;
mod operations;
mod orders;
mod payments;
mod payments_recovery;
mod payments_webhooks;
mod process;
mod races;
mod recovery;
mod sellers;
mod settlement;
mod soak;
mod stripe_gateway;
mod tickets;
mod users;
mod webhook;
