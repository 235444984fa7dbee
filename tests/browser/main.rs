//! The end-to-end suite: the real app, driven through the page in headless Chromium
//! (Debian's `chromium` and `chromium-driver`, over WebDriver with `fantoccini`).
//!
//! One binary of its own (`cargo test --test browser`), reusing the API suite's harness
//! (`TestApp`) to start the app. Chromium missing or unable to start is a failure, never a
//! skip: `.ci/run` installs it where it is missing.

// The API suite's harness, shared as it is: this suite uses a part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod accessibility;
mod authentication;
mod kit;
mod seller;
mod shop;
