//! The black-box API suite: one test binary, one module per area.

#[allow(dead_code)] // Each area uses its own part of the harness.
mod helpers;
mod users;
