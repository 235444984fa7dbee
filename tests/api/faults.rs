//! Faults (DESIGN §8): a disk that fills up, a secret cut short, a journal record or a
//! snapshot that cannot be read, and a data directory others could read.
//!
//! The corrupt-record tests write into a stopped shop's sled directly: producing corruption
//! is their point, and no API can.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};
use ticketing::Application;

use crate::helpers::{
    JWT_SECRET, PASSWORD, TestApp, free_port, spawn_app, spawn_process, test_config, wait_exit,
};

/// A tmpfs of a few megabytes, mounted for one test (root only); unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().expect("a mount point");
        let path = dir.path().to_path_buf();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("the mount command runs");
        assert!(
            mounted.success(),
            "the disk-full test mounts a small tmpfs and so needs root (as in CI)"
        );
        SmallDisk { _dir: dir, path }
    }

    fn grow(&self, megabytes: u32) {
        let grown = Command::new("mount")
            .args(["-o", &format!("remount,size={megabytes}m")])
            .arg(&self.path)
            .status()
            .expect("the mount command runs");
        assert!(grown.success(), "the tmpfs grows");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The token of a fresh account on a shop at `base`.
async fn token_at(base: &str, email: &str) -> String {
    let response = Client::new()
        .post(format!("{base}/api/users/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("signup");
    assert_eq!(response.status(), 201);
    response
        .cookies()
        .find(|c| c.name() == "session")
        .expect("a session cookie")
        .value()
        .to_owned()
}

/// Every ticket id listed at `base`, following the pages.
async fn listed_at(base: &str) -> Vec<String> {
    let mut path = "/api/tickets?limit=1000".to_owned();
    let mut ids = Vec::new();
    loop {
        let response = Client::new()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("listing");
        let next = crate::helpers::next_link(&response);
        let page: Vec<Value> = response.json().await.expect("json");
        ids.extend(
            page.iter()
                .map(|t| t["id"].as_str().expect("an id").to_owned()),
        );
        match next {
            Some(next) => path = next,
            None => return ids,
        }
    }
}

#[actix_web::test]
async fn a_full_disk_stops_the_shop_without_a_2xx_and_the_restart_keeps_every_acknowledged_write() {
    // Arrange: the shop's data on a 3 MB disk, its logs elsewhere.
    let disk = SmallDisk::mount(3);
    let data = disk.path.join("data");
    let logs = tempfile::tempdir().expect("a log dir");
    let stderr = std::fs::File::create(logs.path().join("stderr")).expect("a log file");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ticketing"))
        .env("TICKETING_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKETING_DATA_DIR", &data)
        .env("JWT_KEY", JWT_SECRET)
        .env("TICKETING_CACHE_MB", "4")
        .env("TICKETING_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the binary starts");
    let ready = crate::helpers::eventually(Duration::from_secs(30), || async {
        Client::new()
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "the shop starts");
    let token = token_at(&base, "full@example.com").await;
    let title = "x".repeat(190);
    // Act: list tickets until the disk is full.
    let mut acknowledged = Vec::new();
    let mut last = None;
    // One client for the loop: building one per request made each take 23 ms, and hid
    // that a refused write could still reach the disk (sled's own timed flush, now off).
    let client = Client::new();
    for _ in 0..20_000 {
        let response = client
            .post(format!("{base}/api/tickets"))
            .bearer_auth(&token)
            .json(&json!({"title": title, "price": 5}))
            .send()
            .await;
        match response {
            Ok(response) if response.status() == 201 => {
                let body: Value = response.json().await.expect("json");
                acknowledged.push(body["id"].as_str().expect("an id").to_owned());
            }
            Ok(response) => {
                last = Some(response.status().as_u16());
                break;
            }
            Err(_) => break,
        }
    }
    // Assert: the first failure was a 5xx, nothing was acknowledged after it, and the
    // process ended with an error naming the cause.
    assert!(acknowledged.len() > 100, "the disk held some tickets first");
    assert!(
        last.is_none_or(|status| status >= 500),
        "the failure: {last:?}"
    );
    let after = Client::new()
        .post(format!("{base}/api/tickets"))
        .bearer_auth(&token)
        .json(&json!({"title": "after", "price": 5}))
        .send()
        .await;
    assert!(
        after.as_ref().map_or(true, |r| !r.status().is_success()),
        "nothing is acknowledged after a failed flush"
    );
    let status = wait_exit(&mut child, Duration::from_secs(30))
        .await
        .expect("the shop stops on its own");
    assert!(!status.success(), "a non-zero exit: {status}");
    let log = std::fs::read_to_string(logs.path().join("stderr")).expect("the log");
    assert!(
        log.contains("No space left") || log.contains("StorageFull"),
        "the cause is named: {log}"
    );

    // Restarted with room, every acknowledged ticket is there, and nothing more.
    disk.grow(64);
    let restarted = spawn_process(&data, &[]);
    restarted.wait_ready().await;
    let listed = listed_at(&restarted.address).await;
    // Every acknowledged write is there, and nothing refused: the write in flight when the
    // flush failed may have reached the disk, but the fence took it back (store/fence.rs).
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !listed.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    let refused: Vec<_> = listed
        .iter()
        .filter(|id| !acknowledged.contains(id))
        .collect();
    assert!(
        refused.is_empty(),
        "refused and listed after the restart: {refused:?}"
    );
}

fn generated_secret_config(dir: &Path) -> ticketing::config::Config {
    let mut config = test_config(dir);
    config.jwt_secret = None;
    config
}

#[actix_web::test]
async fn a_secret_found_short_or_given_short_stops_the_start_with_a_clear_message() {
    for found in ["", "cut-short"] {
        // Arrange: a secret file as a crash in the middle of writing it would leave it.
        let dir = tempfile::tempdir().expect("a data dir");
        std::fs::write(dir.path().join("jwt-secret"), found).expect("write");
        // Act
        let error = Application::build(generated_secret_config(dir.path()))
            .await
            .err()
            .expect("the start is refused");
        // Assert
        let message = format!("{error:#}");
        assert!(message.contains("at least 32"), "{message}");
        assert!(message.contains("jwt-secret"), "{message}");
        assert!(message.contains("Delete the file"), "{message}");
    }
    let dir = tempfile::tempdir().expect("a data dir");
    let mut config = test_config(dir.path());
    config.jwt_secret = Some("too-short".to_owned().into());
    let error = Application::build(config)
        .await
        .err()
        .expect("a short JWT_KEY is refused");
    assert!(format!("{error:#}").contains("JWT_KEY"), "{error:#}");
}

#[actix_web::test]
async fn a_generated_secret_is_whole_owner_only_and_leaves_no_temporary_file() {
    // Arrange
    let dir = tempfile::tempdir().expect("a data dir");
    // Act
    let app = Application::build(generated_secret_config(dir.path()))
        .await
        .expect("starts");
    drop(app);
    // Assert
    let path = dir.path().join("jwt-secret");
    let secret = std::fs::read_to_string(&path).expect("kept");
    assert_eq!(secret.len(), 64, "32 random bytes in hex");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir.path().join("jwt-secret.tmp").exists());
}

#[actix_web::test]
async fn a_wide_data_directory_is_made_owner_only_and_the_binary_creates_only_private_files() {
    // Arrange: a directory an earlier release left readable by everyone.
    let dir = tempfile::tempdir().expect("a data dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let notes = dir.path().join("notes");
    std::fs::write(&notes, "kept").expect("write");
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Act
    let server = spawn_process(dir.path(), &[]);
    server.wait_ready().await;
    token_at(&server.address, "private@example.com").await;
    server.terminate().await;
    // Assert: the directory, the old file and every file the shop made are owner-only.
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&notes), 0o600);
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).expect("a directory") {
            let entry = entry.expect("an entry").path();
            assert_eq!(mode(&entry) & 0o077, 0, "{} is private", entry.display());
            if entry.is_dir() {
                stack.push(entry);
            }
        }
    }
}

/// Stops `app`, then lets `damage` write into its sled directly.
async fn damage_while_stopped(app: &mut TestApp, damage: impl FnOnce(&sled::Db)) {
    app.stop().await;
    let db = sled::open(app.data_dir().join("db")).expect("the stopped shop's store");
    damage(&db);
    db.flush().expect("flush");
}

#[actix_web::test]
async fn a_corrupt_journal_record_stops_the_start_naming_its_tree_and_key() {
    // Arrange: a shop with a ticket, whose last journal record is then damaged, as if it
    // crashed before any checkpoint.
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    app.listed_ticket(&seller).await;
    let mut key = 0;
    damage_while_stopped(&mut app, |db| {
        let events = db.open_tree("events").expect("the journal");
        let (last, _) = events.last().expect("read").expect("a record");
        key = u64::from_be_bytes(last.as_ref().try_into().expect("8 bytes"));
        events.insert(last, &[2, 2, 1, 0xff][..]).expect("damage");
        db.open_tree("meta")
            .expect("meta")
            .remove(b"checkpoint")
            .expect("forget the checkpoint");
    })
    .await;
    // Act
    let config = test_config(app.data_dir());
    let application = Application::build(config).await.expect("listening");
    let readiness = application.readiness();
    let running = actix_rt::spawn(application.run_until_stopped(std::future::pending()));
    // Assert
    let reason = readiness.wait().await.expect_err("the start fails");
    assert!(reason.contains("events"), "{reason}");
    assert!(reason.contains(&key.to_string()), "{reason}");
    let stopped = running
        .await
        .expect("the task")
        .expect_err("the app stops with it");
    assert!(format!("{stopped:#}").contains("events"), "{stopped:#}");
}

#[actix_web::test]
async fn an_unreadable_snapshot_is_rebuilt_from_the_journal() {
    // Arrange: a ticket listed, reserved and released, whose snapshot is then damaged.
    let mut app = spawn_app().await;
    let (seller, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let ticket = app.listed_ticket(&seller).await;
    let order = app.reserved_order(&buyer, &ticket).await;
    assert_eq!(app.cancel(&buyer, &order).await.status(), 204);
    let before = app.ticket_json(&ticket).await;
    damage_while_stopped(&mut app, |db| {
        let tickets = db.open_tree("tickets").expect("the snapshots");
        let (key, _) = tickets.first().expect("read").expect("a snapshot");
        tickets
            .insert(key, &[2, 65, 1, 0xff, 0xff][..])
            .expect("damage");
    })
    .await;
    // Act
    app.restart().await;
    // Assert
    assert_eq!(app.ticket_json(&ticket).await, before);
    assert_eq!(app.listed_ids().await, vec![json!(ticket)]);
}
