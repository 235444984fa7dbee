//! The control socket: `<data-dir>/control.sock`, through which `ticketing backup` asks a
//! running shop for a backup, since sled's lock keeps a second process out of the store.
//!
//! The socket is 0600 inside the 0700 data directory: only the shop's own OS user reaches
//! it, which is the same authority as reading the data directory, so it asks for nothing
//! more. One request a connection, a line of text: `backup` answers the backup file's bytes
//! (`store::backup`), then closes. The shop serves it from `Application::build` on, removes
//! a socket a dead shop left (holding the store's lock, it knows none other lives), and
//! stops it, removing the file, before it closes the store.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::store::Store;

/// The socket's name inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";
/// The request for a backup.
pub const BACKUP_REQUEST: &str = "backup";
/// Time a client has to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Time one write to a client may block before the backup is given up: a client that stops
/// reading must not hold the store open forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The listening socket. Lifecycle: started by `Application::build`, stopped by
/// `run_until_stopped` before the store closes; a backup under way then ends with an abort
/// record at its next check.
pub struct Control {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    stopping: Arc<AtomicBool>,
}

impl Control {
    /// Listens on `<data_dir>/control.sock`. `None`, with a warning, when the socket cannot
    /// be made (a path too long for a Unix socket): the shop serves without it, and
    /// `ticketing backup` then says the shop runs but does not answer.
    pub fn start(data_dir: &Path, store: Store) -> Option<Control> {
        use std::os::unix::fs::PermissionsExt;
        let path = data_dir.join(SOCKET_NAME);
        // Any socket here is a dead shop's: this one holds the store's lock.
        let _ = std::fs::remove_file(&path);
        let listener = match tokio::net::UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "No control socket: `ticketing backup` cannot reach this shop");
                return None;
            }
        };
        if let Err(error) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(%error, "Failed to make the control socket owner-only");
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let data_dir = data_dir.to_path_buf();
        let flag = stopping.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let (store, flag, data_dir) =
                            (store.clone(), flag.clone(), data_dir.clone());
                        tokio::spawn(serve(stream, store, flag, data_dir));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "The control socket failed to accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(path = %path.display(), "Control socket (ticketing backup)");
        Some(Control {
            path,
            task,
            stopping,
        })
    }

    /// Stops listening, tells backups under way to end, and removes the socket file.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::Release);
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Answers one connection.
async fn serve(
    stream: tokio::net::UnixStream,
    store: Store,
    stopping: Arc<AtomicBool>,
    data_dir: PathBuf,
) {
    let mut stream = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, stream.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(_))) || line.trim() != BACKUP_REQUEST {
        tracing::warn!(request = %line.trim(), "An unknown request on the control socket");
        return;
    }
    let stream = match stream.into_inner().into_std() {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "Failed to take over a control connection");
            return;
        }
    };
    let outcome = tokio::task::spawn_blocking(move || {
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let started = std::time::Instant::now();
        let files = crate::backup::data_dir_files(&data_dir)?;
        let summary = store
            .write_backup(
                BufWriter::with_capacity(256 * 1024, stream),
                &files,
                &|| stopping.load(Ordering::Acquire),
            )
            .map_err(anyhow::Error::new)?;
        Ok::<_, anyhow::Error>((summary, started.elapsed()))
    })
    .await;
    match outcome {
        Ok(Ok((summary, took))) => tracing::info!(
            events = summary.events,
            sessions = summary.sessions,
            bytes = summary.bytes,
            millis = took.as_millis() as u64,
            "Wrote a backup to the control socket"
        ),
        Ok(Err(error)) => tracing::error!("A backup failed: {error:#}"),
        Err(error) => tracing::error!(%error, "The backup task failed"),
    }
}
