//! The control socket: `<data-dir>/control.sock`, through which `ticketing backup` and the
//! operator's commands (`ticketing journal`, `export`, `admin`) reach a running shop, since
//! sled's lock keeps a second process out of the store.
//!
//! The socket is 0600 inside the 0700 data directory: only the shop's own OS user reaches
//! it, which is the same authority as reading the data directory, so it asks for nothing
//! more. One request a connection, a line of text: `backup` answers the backup file's bytes
//! (`store::backup`), then closes; any other line is an `operator::Request`, answered with
//! its output and a status line. The shop serves it from `Application::build` on, removes
//! a socket a dead shop left (holding the store's lock, it knows none other lives), and
//! stops it, removing the file, before it closes the store.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::operator::{self, Request, Shop};

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
    pub fn start(data_dir: &Path, shop: Shop) -> Option<Control> {
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
        let shop = Arc::new(shop);
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let (shop, flag, data_dir) = (shop.clone(), flag.clone(), data_dir.clone());
                        tokio::spawn(serve(stream, shop, flag, data_dir));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "The control socket failed to accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(path = %path.display(), "Control socket (ticketing backup, journal, export, admin)");
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
    shop: Arc<Shop>,
    stopping: Arc<AtomicBool>,
    data_dir: PathBuf,
) {
    let mut stream = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, stream.read_line(&mut line)).await;
    let line = line.trim();
    if !matches!(read, Ok(Ok(_))) {
        tracing::warn!("A control connection sent no request");
        return;
    }
    if line == BACKUP_REQUEST {
        return backup(stream.into_inner(), shop, stopping, data_dir).await;
    }
    let Some(request) = Request::parse(line) else {
        tracing::warn!(request = %line, "An unknown request on the control socket");
        let answer = operator::status_line(&Err(anyhow::anyhow!("Unknown request: {line}")));
        let _ = stream.write_all(answer.as_bytes()).await;
        return;
    };
    tracing::info!(request = %request.line(), "An operator's command on the control socket");
    if !request.reads() {
        let outcome = operator::change(&request, &shop).await;
        match &outcome {
            Ok(message) => tracing::info!(%message, "Operator's command done"),
            Err(error) => tracing::warn!("Operator's command refused: {error:#}"),
        }
        let _ = stream
            .write_all(operator::status_line(&outcome).as_bytes())
            .await;
        return;
    }
    let Some(stream) = blocking(stream.into_inner()) else {
        return;
    };
    // Reads walk the journal (blocking), and a follower waits between polls.
    let outcome = tokio::task::spawn_blocking(move || {
        let mut out = BufWriter::with_capacity(64 * 1024, &stream);
        // A follower that went away is noticed here too: with no new event there is
        // nothing to write, so no failed write would tell.
        let stop = || stopping.load(Ordering::Acquire) || hung_up(&stream);
        let outcome = operator::read(&request, &shop, &mut out, &stop).map(|()| String::new());
        out.write_all(operator::status_line(&outcome).as_bytes())?;
        out.flush()?;
        outcome
    })
    .await;
    match outcome {
        Ok(Ok(_)) => {}
        // A reader that went away ends its follow this way too.
        Ok(Err(error)) => tracing::info!("An operator's read ended early: {error:#}"),
        Err(error) => tracing::error!(%error, "An operator's read failed"),
    }
}

/// The connection as a blocking std stream, for an answer written from a blocking task,
/// each write bounded by `WRITE_TIMEOUT`; `None`, logged, when it cannot be taken over.
fn blocking(stream: tokio::net::UnixStream) -> Option<std::os::unix::net::UnixStream> {
    let taken = stream.into_std().and_then(|stream| {
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(stream)
    });
    taken
        .inspect_err(|error| tracing::error!(%error, "Failed to take over a control connection"))
        .ok()
}

/// Whether the client closed its end: it sends nothing after its request line, so a read
/// that finds the end of the stream (rather than nothing yet) means it is gone.
fn hung_up(stream: &std::os::unix::net::UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: recv writes at most one byte, into `byte`, which outlives the call; the
    // descriptor is the stream's own and open. MSG_DONTWAIT keeps the socket blocking for
    // the writes.
    let read = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast::<libc::c_void>(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read == 0
}

/// Writes a backup to the connection.
async fn backup(
    stream: tokio::net::UnixStream,
    shop: Arc<Shop>,
    stopping: Arc<AtomicBool>,
    data_dir: PathBuf,
) {
    let Some(stream) = blocking(stream) else {
        return;
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let files = crate::backup::data_dir_files(&data_dir)?;
        let summary = shop
            .store
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
