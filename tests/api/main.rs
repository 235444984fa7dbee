//! The black-box API test binary: one `mod` line per test file.
mod fake_stripe;
mod stripe_gateway;
mod webhook;
