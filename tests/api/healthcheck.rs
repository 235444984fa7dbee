//! `ticketing healthcheck`, the container's HEALTHCHECK: healthy only when the shop's
//! /healthz answers 200, through the library call and through the binary's exit code.

use std::time::Duration;

use ticketing::healthcheck::{HealthError, check};

use crate::helpers::{free_port, spawn_app};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `ticketing healthcheck` with `args` and `TICKETING_ADDR` set to `addr`; its exit
/// code and its output.
async fn run_healthcheck(addr: &str, args: &[&str]) -> (Option<i32>, String) {
    let args: Vec<&std::ffi::OsStr> = std::iter::once("healthcheck")
        .chain(args.iter().copied())
        .map(std::ffi::OsStr::new)
        .collect();
    crate::helpers::run_binary(&args, Some(addr)).await
}

#[actix_web::test]
async fn a_running_shop_is_healthy() {
    // Arrange
    let app = spawn_app().await;
    let url = app.url("/healthz").parse().expect("a URL");

    // Act
    let outcome = check(&url, TIMEOUT).await;

    // Assert
    assert!(outcome.is_ok(), "healthy, got {outcome:?}");
}

#[actix_web::test]
async fn no_answer_and_an_answer_other_than_200_are_both_unhealthy() {
    // Arrange: nothing listens on a free port; the shop answers 404 for an unknown path.
    let app = spawn_app().await;
    let nobody = format!("http://127.0.0.1:{}/healthz", free_port())
        .parse()
        .expect("a URL");
    let wrong_path = app.url("/no-such-page").parse().expect("a URL");

    // Act
    let unreachable = check(&nobody, TIMEOUT).await;
    let not_found = check(&wrong_path, TIMEOUT).await;

    // Assert
    assert!(
        matches!(unreachable, Err(HealthError::Unreachable { .. })),
        "nothing listening, got {unreachable:?}"
    );
    assert!(
        matches!(not_found, Err(HealthError::Status { status, .. }) if status == 404),
        "a 404, got {not_found:?}"
    );
}

#[actix_web::test]
async fn the_binary_exits_zero_for_a_healthy_shop_found_from_its_listen_address_and_one_otherwise()
{
    // Arrange: the shop listens on 127.0.0.1:PORT; the check is pointed at it the way the
    // container does, through TICKETING_ADDR alone (0.0.0.0 means "ask over loopback").
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().expect("a port");
    let everywhere = format!("0.0.0.0:{port}");
    let nobody = format!("127.0.0.1:{}", free_port());

    // Act
    let (healthy, healthy_text) = run_healthcheck(&everywhere, &[]).await;
    let (explicit, _) = run_healthcheck(&nobody, &["--url", &app.url("/healthz")]).await;
    let (down, down_text) = run_healthcheck(&nobody, &["--timeout-ms", "2000"]).await;

    // Assert
    assert_eq!(healthy, Some(0), "healthy shop: {healthy_text}");
    assert_eq!(explicit, Some(0), "--url wins over the listen address");
    assert_eq!(down, Some(1), "no shop: {down_text}");
    assert!(
        down_text.contains("unhealthy") && !down_text.contains("panicked"),
        "one clear line: {down_text}"
    );
}
