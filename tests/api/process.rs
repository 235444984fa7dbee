//! The binary as a self-hoster runs it: signals, one process per data directory, and the
//! session secret it generates and keeps.
//!
//! These tests run the real `ticketing` executable as a child process (or the app in-process
//! where no signal is involved), each with its own temporary data directory.

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, free_port, spawn_app_with, spawn_process, wait_exit};

#[actix_web::test]
async fn sigterm_stops_the_server_gracefully_with_exit_code_zero_and_keeps_its_data() {
    // Arrange: a running server with one account.
    let dir = tempfile::tempdir().expect("temp dir");
    let server = spawn_process(dir.path(), &[]);
    server.wait_ready().await;
    let client = Client::new();
    let signup = client
        .post(format!("{}/api/users/signup", server.address))
        .json(&json!({"email": "term@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(signup.status(), 201);

    // Act
    let status = server.terminate().await;

    // Assert: a clean exit, and the account is there for the next process.
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let next = spawn_process(dir.path(), &[]);
    next.wait_ready().await;
    let signin = client
        .post(format!("{}/api/users/signin", next.address))
        .json(&json!({"email": "term@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(signin.status(), 200);
    next.kill();
}

#[actix_web::test]
async fn a_second_process_on_the_same_data_directory_fails_at_once_with_a_clear_message() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let first = spawn_process(dir.path(), &[]);
    first.wait_ready().await;

    // Act
    let started = Instant::now();
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .env("TICKETING_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("TICKETING_DATA_DIR", dir.path())
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let status = wait_exit(&mut second, Duration::from_secs(10)).await;

    // Assert
    let status = status.expect("the second process exits instead of serving");
    assert!(!status.success(), "it must fail, not serve");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it fails at once, not after {:?}",
        started.elapsed()
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(second.stderr.as_mut().expect("piped stderr"), &mut stderr)
        .expect("stderr");
    assert!(
        stderr.contains("in use by another ticketing process"),
        "clear message, got: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    let health = Client::new()
        .get(format!("{}/healthz", first.address))
        .send()
        .await
        .expect("the first process still serves");
    assert_eq!(health.status(), 200);
    first.kill();
}

#[actix_web::test]
async fn without_jwt_key_a_private_secret_is_generated_and_sessions_survive_a_restart() {
    // Arrange: no configured secret.
    let mut app = spawn_app_with(|config| config.jwt_secret = None).await;
    let client = app.client();
    assert_eq!(
        app.signup(&client, "kept@example.com", PASSWORD)
            .await
            .status(),
        201
    );
    let secret_file = app.data_dir().join("jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).expect("the secret is kept in the data dir");

    // Act
    app.restart().await;

    // Assert: the same secret, readable by the owner only, still signs this session.
    assert_eq!(
        std::fs::read_to_string(&secret_file).expect("still there"),
        secret
    );
    assert!(secret.trim().len() >= 32, "a secret of real length");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only permissions");
    }
    let current: Value = app.current_user(&client).await;
    assert_eq!(current["currentUser"]["email"], "kept@example.com");
}

#[actix_web::test]
async fn start_up_logs_each_important_setting_and_never_a_secret() {
    // Arrange: every secret set, to values that must not appear anywhere in the log.
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = [
        ("JWT_KEY", "jwt-secret-that-must-not-be-logged"),
        (
            "STRIPE_SECRET_KEY",
            "sk_test_secret_that_must_not_be_logged",
        ),
        (
            "STRIPE_WEBHOOK_SECRET",
            "whsec_secret_that_must_not_be_logged",
        ),
    ];
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ticketing"));
    command
        .env("TICKETING_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKETING_DATA_DIR", dir.path())
        .env("STRIPE_API_BASE", "http://127.0.0.1:9")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in secrets {
        command.env(key, value);
    }
    let mut server = crate::helpers::ChildApp {
        child: command.spawn().expect("the binary starts"),
        address: format!("http://127.0.0.1:{port}"),
    };
    let mut stdout = server.child.stdout.take().expect("piped stdout");
    let mut stderr = server.child.stderr.take().expect("piped stderr");
    server.wait_ready().await;

    // Act
    let status = server.terminate().await;

    // Assert
    assert!(status.success(), "exit status: {status}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut log).expect("stdout");
    std::io::Read::read_to_string(&mut stderr, &mut log).expect("stderr");
    for setting in [
        "Listening",
        "Data directory",
        "Purchase holds",
        "Session signing secret",
        "Payments",
        "Stripe webhooks",
    ] {
        assert!(
            log.contains(setting),
            "no start-up line for {setting:?} in:\n{log}"
        );
    }
    for (name, value) in secrets {
        assert!(!log.contains(value), "{name} appears in the log:\n{log}");
    }
}
