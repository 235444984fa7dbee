//! The data directory: created owner-only, tightened when an older release left it wider,
//! and the place of the generated session secret (DESIGN §8).
//!
//! It holds password hashes, session ids and the secret that signs sessions, so it is 0700
//! and its files 0600. A directory an earlier release created with wider permissions is
//! tightened with a warning, never refused: upgrades must open it. The generated secret is
//! written atomically (a temporary file, fsync, rename, fsync of the directory), so a crash
//! or a full disk can never leave a short secret behind; one found short anyway (written by
//! an earlier release), or given short, stops the start with a message saying what to do.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::config::Config;

/// The shortest signing secret accepted: HS256 with less is guessable offline.
pub const MIN_SECRET_BYTES: usize = 32;

/// Creates the directory owner-only, or tightens an existing one and everything in it.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("Failed to create the data directory {}", dir.display()))?;
        return Ok(());
    }
    let mut widened = Vec::new();
    tighten(dir, &mut widened)
        .with_context(|| format!("Failed to restrict the permissions of {}", dir.display()))?;
    if !widened.is_empty() {
        tracing::warn!(
            count = widened.len(),
            first = %widened[0].display(),
            "The data directory held files other users could read; made them owner-only"
        );
    }
    // Only the owner: the mode of the directory itself may have been the only wide one.
    let mode = std::fs::metadata(dir)?.permissions().mode();
    debug_assert_eq!(mode & 0o077, 0);
    Ok(())
}

/// Sets `path` to 0700 (directories) or 0600 (files) where it allows more, recursively.
fn tighten(path: &Path, widened: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let wanted = if metadata.is_dir() { 0o700 } else { 0o600 };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(mode & !0o077 | wanted & 0o700),
        )?;
        widened.push(path.to_path_buf());
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            tighten(&entry?.path(), widened)?;
        }
    }
    Ok(())
}

/// The JWT signing secret and where it came from: configuration, or a file in the data
/// directory, generated on first start.
pub fn jwt_secret(config: &Config) -> anyhow::Result<(Vec<u8>, &'static str)> {
    if let Some(secret) = &config.jwt_secret {
        let secret = secret.expose_secret().as_bytes().to_vec();
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "The session signing secret given (JWT_KEY or --jwt-secret) is {} bytes; at least \
             {MIN_SECRET_BYTES} are needed. Use a long random value, or leave it unset to have \
             one generated and kept in the data directory.",
            secret.len()
        );
        return Ok((secret, "configured (JWT_KEY)"));
    }
    let path = config.data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().as_bytes().to_vec();
            anyhow::ensure!(
                secret.len() >= MIN_SECRET_BYTES,
                "The session signing secret in {} is {} bytes; at least {MIN_SECRET_BYTES} are \
                 needed. It was probably cut short while being written (a crash or a full \
                 disk). Delete the file to have a new one generated (every session is then \
                 signed out), or set JWT_KEY.",
                path.display(),
                secret.len()
            );
            Ok((secret, "kept in the data directory"))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let secret: String = (0..32)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect();
            write_atomically(&path, secret.as_bytes())
                .with_context(|| format!("Failed to save {}", path.display()))?;
            Ok((
                secret.into_bytes(),
                "generated and kept in the data directory",
            ))
        }
        Err(error) => Err(error).with_context(|| format!("Failed to read {}", path.display())),
    }
}

/// Writes `contents` to `path` owner-only so that `path` either does not exist or holds all
/// of it, whatever happens meanwhile.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
