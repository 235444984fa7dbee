//! `ticketing backup`, `restore` and `verify`: the operator's commands around a data
//! directory (docs/OPERATIONS.md, "Backups").
//!
//! This is the glue: where the bytes go, which files, what is printed, and the exit code.
//! The file's layout, the consistent cut of the journal and the comparison of snapshots
//! with the journal are the store's (`store::backup`, `store::verify`). A running shop
//! holds sled's lock, so `backup` asks it through its control socket (`control`); a stopped
//! one is opened here directly. Nothing half-written is ever left under the final name: a
//! backup is written to `FILE.partial` and renamed once whole and synced; a restore is built
//! in a sibling directory and renamed onto the target once it is complete.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::config::{BackupArgs, RestoreArgs, VerifyArgs};
use crate::control;
use crate::store::Store;
use crate::store::backup::{BackupSummary, read_backup, restore};

/// The data directory's own files a backup carries: the generated session secret, without
/// which every session token of the restored shop would be refused.
const CARRIED_FILES: [&str; 1] = ["jwt-secret"];

/// Store cache for a command that opens the store itself: it reads each record once.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The files of `data_dir` a backup carries, those that exist.
pub fn data_dir_files(data_dir: &Path) -> std::io::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut files = Vec::new();
    for name in CARRIED_FILES {
        match std::fs::read(data_dir.join(name)) {
            Ok(contents) => files.push((name, contents)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(files)
}

/// Opens the store of a stopped shop in `data_dir`, which must hold one: `Store::open` would
/// make an empty store in a mistyped directory and report on that. The operator's commands
/// open a stopped shop this way too (`operator`).
pub(crate) fn open_existing(data_dir: &Path) -> anyhow::Result<Store> {
    let db = data_dir.join("db");
    anyhow::ensure!(
        db.join("db").exists(),
        "{} holds no shop's store (no {})",
        data_dir.display(),
        db.display()
    );
    Store::open(&db, CACHE_BYTES)
}

/// Prints the outcome and turns it into the exit code.
fn finish(outcome: anyhow::Result<String>) -> ExitCode {
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every file the commands create is owner-only: backups hold password hashes, sessions
/// and the session secret.
fn owner_only() {
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

fn summary_line(summary: &BackupSummary) -> String {
    format!(
        "{} journal events, {} sessions, {} webhook ids, storage format {}, {} bytes",
        summary.events, summary.sessions, summary.webhooks, summary.storage_format, summary.bytes
    )
}

pub fn backup_main(args: BackupArgs) -> ExitCode {
    owner_only();
    finish(backup(&args))
}

fn backup(args: &BackupArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let partial = partial_path(&args.to);
    let outcome = write_backup_file(args, &partial);
    let (summary, source) = match outcome {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, &args.to).with_context(|| {
        format!(
            "Failed to rename {} to {}",
            partial.display(),
            args.to.display()
        )
    })?;
    sync_parent(&args.to)?;
    Ok(format!(
        "Backed up {} ({source}) to {}: {}, in {:.1} s",
        args.data_dir.display(),
        args.to.display(),
        summary_line(&summary),
        started.elapsed().as_secs_f64()
    ))
}

/// `FILE.partial`, beside the file.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes the whole backup to `partial` and syncs it; answers what it holds and where it
/// came from.
fn write_backup_file(
    args: &BackupArgs,
    partial: &Path,
) -> anyhow::Result<(BackupSummary, &'static str)> {
    let file =
        File::create(partial).with_context(|| format!("Failed to create {}", partial.display()))?;
    let socket = args.data_dir.join(control::SOCKET_NAME);
    let summary = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(mut stream) => {
            stream
                .write_all(format!("{}\n", control::BACKUP_REQUEST).as_bytes())
                .context("Failed to ask the running shop for a backup")?;
            // Checked as it arrives, so a stream the shop cut short is never taken for a
            // backup.
            let mut out = BufWriter::with_capacity(256 * 1024, &file);
            let tee = Tee {
                input: BufReader::with_capacity(256 * 1024, stream),
                copy: &mut out,
            };
            let summary = read_backup(tee, |_| Ok(()))
                .context("The backup the running shop sent is not whole")?;
            out.flush()?;
            drop(out);
            (summary, "through the running shop's control socket")
        }
        Err(_) => {
            // No socket, or a dead shop's: the store is free unless a shop without a
            // socket holds it.
            let store = open_existing(&args.data_dir).map_err(|error| {
                anyhow::anyhow!(
                    "{error:#}. Its control socket {} does not answer, so the shop cannot be \
                     asked for the backup either",
                    socket.display()
                )
            })?;
            let files = data_dir_files(&args.data_dir)?;
            let out = BufWriter::with_capacity(256 * 1024, &file);
            let summary = store
                .write_backup(out, &files, &|| false)
                .context("Failed to write the backup")?;
            (summary, "the shop is stopped")
        }
    };
    file.sync_all()
        .with_context(|| format!("Failed to sync {}", partial.display()))?;
    Ok(summary)
}

/// Copies what is read into `copy` as well.
struct Tee<'a, R: Read, W: Write> {
    input: R,
    copy: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buffer)?;
        self.copy.write_all(&buffer[..n])?;
        Ok(n)
    }
}

fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("Failed to sync the directory {}", parent.display()))
}

pub fn restore_main(args: RestoreArgs) -> ExitCode {
    owner_only();
    finish(restore_into(&args))
}

fn restore_into(args: &RestoreArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let target = &args.data_dir;
    if let Ok(mut entries) = std::fs::read_dir(target) {
        anyhow::ensure!(
            entries.next().is_none(),
            "The data directory {} is not empty: restore only into a new or empty directory",
            target.display()
        );
    } else if target.exists() {
        anyhow::bail!("{} exists and is not a directory", target.display());
    }
    let open = || {
        File::open(&args.from)
            .map(|file| BufReader::with_capacity(256 * 1024, file))
            .with_context(|| format!("Failed to open {}", args.from.display()))
    };
    // The whole file is checked before anything is written: a corrupt backup leaves nothing.
    let checked = read_backup(open()?, |_| Ok(()))
        .with_context(|| format!("Refusing to restore {}", args.from.display()))?;
    let building = building_path(target)?;
    let outcome = (|| {
        std::fs::create_dir(&building)
            .with_context(|| format!("Failed to create {}", building.display()))?;
        let (summary, files) = restore(open()?, &building.join("db"))
            .with_context(|| format!("Failed to restore {}", args.from.display()))?;
        anyhow::ensure!(
            summary == checked,
            "{} changed while it was being restored",
            args.from.display()
        );
        for (name, contents) in files {
            anyhow::ensure!(
                CARRIED_FILES.contains(&name.as_str()),
                "the backup carries an unknown file {name:?}"
            );
            crate::data_dir::write_atomically(&building.join(&name), &contents)
                .with_context(|| format!("Failed to write {name}"))?;
        }
        // An empty target directory is replaced whole (rename(2) allows it).
        std::fs::rename(&building, target).with_context(|| {
            format!(
                "Failed to move {} to {}",
                building.display(),
                target.display()
            )
        })?;
        sync_parent(target)?;
        Ok(summary)
    })();
    match outcome {
        Ok(summary) => Ok(format!(
            "Restored {} into {}: {}, in {:.1} s. Start the shop on it: its start-up replays \
             the journal and rebuilds every projection.",
            args.from.display(),
            target.display(),
            summary_line(&summary),
            started.elapsed().as_secs_f64()
        )),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&building);
            Err(error)
        }
    }
}

/// A sibling of `target` to build the restore in, on the same file system so the final
/// rename is atomic.
fn building_path(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} names no directory", target.display()))?;
    let mut building = std::ffi::OsString::from(".");
    building.push(name);
    building.push(format!(".restoring-{}", std::process::id()));
    Ok(target.with_file_name(building))
}

pub fn verify_main(args: VerifyArgs) -> ExitCode {
    match verify(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints the report; answers whether the journal and the projections agree.
fn verify(args: &VerifyArgs) -> anyhow::Result<bool> {
    let socket = args.data_dir.join(control::SOCKET_NAME);
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        anyhow::bail!(
            "The shop in {} is running: verify needs it stopped (its snapshots move while it \
             serves). To check a running shop, back it up, restore the backup into a new \
             directory, start and stop a shop there once, and verify that.",
            args.data_dir.display()
        );
    }
    let started = Instant::now();
    let store = open_existing(&args.data_dir)?;
    let report = store.verify().context("Failed to read the store")?;
    let trees = crate::store::verify::Report::trees();
    let snapshots: Vec<String> = trees
        .iter()
        .zip(report.snapshots)
        .map(|(tree, n)| format!("{n} {tree}"))
        .collect();
    println!(
        "Verified {}: {} journal events (checkpoint {}) against {} snapshots and {} sessions, \
         in {:.1} s",
        args.data_dir.display(),
        report.events,
        report.checkpoint,
        snapshots.join(", "),
        report.sessions,
        started.elapsed().as_secs_f64()
    );
    if report.behind > 0 {
        println!(
            "{} snapshots are behind the journal; the next start's replay brings them up to date",
            report.behind
        );
    }
    for difference in &report.differences {
        println!("DIFFERENCE {difference}");
    }
    if report.difference_count > report.differences.len() as u64 {
        println!(
            "... and {} more differences",
            report.difference_count - report.differences.len() as u64
        );
    }
    if report.difference_count == 0 {
        println!("OK: the projections agree with the journal");
        Ok(true)
    } else {
        println!(
            "FAILED: {} differences between the journal and the projections. A start with \
             --rebuild-projections rebuilds them from the journal.",
            report.difference_count
        );
        Ok(false)
    }
}
