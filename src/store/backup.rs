//! Backups: one file holding a consistent copy of a shop, written while it serves, and its
//! restore into a fresh directory (docs/STORAGE.md, "Backups").
//!
//! The journal is the truth and append-only, so a consistent copy is a prefix of it: every
//! record below a position that was handed out before the backup began, once a flush that
//! began after every one of them was inserted has made them durable. Records below that
//! position never change again, so they are read from the live tree while the shop goes on
//! appending above it. Beside the journal the file holds what is not rebuilt from it: the
//! sessions, the handled webhook ids, the storage format, and files the caller adds (the
//! generated session secret). The projections are not copied: the restored shop's start-up
//! replays the whole journal and rebuilds them. Everything is streamed, record by record.
//!
//! Only this module knows the file's layout; the caller (`crate::backup`) chooses where the
//! bytes go and whether they come from a running shop's control socket or a stopped store.

use std::io::{Read, Write};
use std::path::Path;

use super::codec::{decode_event, encode_counter};
use super::{FORMAT_VERSION, Store, StoreError};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"TKBACKUP";
/// The layout of the file itself (not of the records inside, which is `FORMAT_VERSION`).
pub const BACKUP_FORMAT: u32 = 1;
/// Limits that no genuine record comes near; past them the file is corrupt, and saying so
/// beats allocating what a damaged length asks for.
const MAX_KEY: usize = 4096;
const MAX_VALUE: usize = 64 << 20;
/// Records written between two looks at whether the shop is stopping.
const STOP_CHECK_EVERY: u64 = 1024;
/// Records per sled batch when restoring: one insert each is several times slower.
const RESTORE_BATCH: usize = 10_000;

/// What a record of the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A journal record: key the 8-byte sequence number, value the event as stored.
    Event = 1,
    /// A session: key and value as in the `sessions` tree.
    Session = 2,
    /// A handled Stripe webhook event id (the key; no value).
    Webhook = 3,
    /// A file of the data directory: key its name, value its contents.
    File = 4,
    /// The shop gave up mid-way (it is stopping, or its store failed): value the reason.
    Abort = 0xEE,
    /// The last record: value the record count and the journal position, 8 bytes each.
    End = 0xFF,
}

impl Kind {
    fn from_code(code: u8) -> Option<Kind> {
        [
            Kind::Event,
            Kind::Session,
            Kind::Webhook,
            Kind::File,
            Kind::Abort,
            Kind::End,
        ]
        .into_iter()
        .find(|kind| *kind as u8 == code)
    }
}

/// Why a backup could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a ticketing backup: the file does not start with \"TKBACKUP\"")]
    NotABackup,
    #[error("backup file format {0} is unknown (made by a newer release of ticketing?)")]
    UnknownFormat(u32),
    #[error(
        "the backup holds storage format {found}; this release reads up to {supported}: \
         restore it with the release that made it or a later one"
    )]
    NewerStorage { found: u64, supported: u64 },
    #[error(
        "the backup is truncated: it ends after {at} bytes, before its end record and checksum"
    )]
    Truncated { at: u64 },
    #[error("the backup is corrupt at byte {at}: {why}")]
    Corrupt { at: u64, why: String },
    #[error(
        "the backup is corrupt: its checksum does not match its contents (stored {stored:08x}, \
         computed {computed:08x})"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("the shop gave the backup up: {0}")]
    Aborted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// The storage format of the records (`meta/format` of the shop backed up).
    pub storage_format: u64,
    pub events: u64,
    pub sessions: u64,
    pub webhooks: u64,
    pub files: u64,
    /// Every journal record below this position is in the backup.
    pub journal_end: u64,
    /// The file's size.
    pub bytes: u64,
}

/// Writes the framing and keeps the running checksum.
struct Writer<W: Write> {
    out: W,
    crc: crc32fast::Hasher,
    records: u64,
    bytes: u64,
}

impl<W: Write> Writer<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.bytes += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    fn record(&mut self, kind: Kind, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.write(&[kind as u8])?;
        self.write(&(key.len() as u32).to_be_bytes())?;
        self.write(key)?;
        self.write(&(value.len() as u32).to_be_bytes())?;
        self.write(value)?;
        self.records += 1;
        Ok(())
    }
}

impl Store {
    /// Streams a consistent backup of the store to `out`: `files` (name, contents) from the
    /// data directory, the sessions, the handled webhook ids, and the journal up to a
    /// position covering every write acknowledged before this call (the module's opening).
    /// `stopping` is asked now and then; once it says yes the backup ends with an abort
    /// record. An error after the header is written to `out` too, as an abort record, so a
    /// reader at the other end of a socket learns why the stream ended.
    pub fn write_backup<W: Write>(
        &self,
        out: W,
        files: &[(&str, Vec<u8>)],
        stopping: &dyn Fn() -> bool,
    ) -> Result<BackupSummary, BackupError> {
        let mut writer = Writer {
            out,
            crc: crc32fast::Hasher::new(),
            records: 0,
            bytes: 0,
        };
        let storage_format = FORMAT_VERSION;
        writer.write(MAGIC)?;
        writer.write(&BACKUP_FORMAT.to_be_bytes())?;
        writer.write(&storage_format.to_be_bytes())?;
        match self.write_records(&mut writer, files, stopping) {
            Ok(mut summary) => {
                summary.storage_format = storage_format;
                let crc = writer.crc.clone().finalize();
                writer.out.write_all(&crc.to_be_bytes())?;
                writer.out.flush()?;
                summary.bytes = writer.bytes + 4;
                Ok(summary)
            }
            Err(error) => {
                // Best effort: the reader would see a truncated stream otherwise.
                let _ = writer.record(Kind::Abort, &[], error.to_string().as_bytes());
                let _ = writer.out.flush();
                Err(error)
            }
        }
    }

    fn write_records<W: Write>(
        &self,
        writer: &mut Writer<W>,
        files: &[(&str, Vec<u8>)],
        stopping: &dyn Fn() -> bool,
    ) -> Result<BackupSummary, BackupError> {
        let mut summary = BackupSummary::default();
        let check = |n: u64| -> Result<(), BackupError> {
            if n.is_multiple_of(STOP_CHECK_EVERY) && stopping() {
                return Err(BackupError::Aborted("the shop is stopping".into()));
            }
            Ok(())
        };
        for (name, contents) in files {
            writer.record(Kind::File, name.as_bytes(), contents)?;
            summary.files += 1;
        }
        // Sessions and webhook ids before the journal's end is chosen: a session read here
        // was opened after its user's record was appended, so that record is in the prefix.
        for entry in self.inner.sessions.iter() {
            let (key, value) = entry.map_err(StoreError::from)?;
            writer.record(Kind::Session, &key, &value)?;
            summary.sessions += 1;
            check(summary.sessions)?;
        }
        for entry in self.inner.webhooks.iter() {
            let (key, _) = entry.map_err(StoreError::from)?;
            writer.record(Kind::Webhook, &key, &[])?;
            summary.webhooks += 1;
            check(summary.webhooks)?;
        }
        let end = self.durable_journal_end()?;
        for entry in self.inner.journal.records_below(end) {
            let (key, value) = entry.map_err(StoreError::from)?;
            writer.record(Kind::Event, &key, &value)?;
            summary.events += 1;
            check(summary.events)?;
        }
        summary.journal_end = end;
        let mut end_value = Vec::with_capacity(16);
        // The end record counts itself.
        end_value.extend((writer.records + 1).to_be_bytes());
        end_value.extend(end.to_be_bytes());
        writer.record(Kind::End, &[], &end_value)?;
        Ok(summary)
    }

    /// A journal position below which every record is on disk and none will be added, at
    /// or past every position handed out before this call: so every write acknowledged
    /// before it. Blocks for one group-commit flush.
    fn durable_journal_end(&self) -> Result<u64, BackupError> {
        let journal = &self.inner.journal;
        let end = journal.handed_out_below();
        // Appends below `end` still inserting finish in microseconds (a failed insert is
        // let go too), and a flush must begin after them to cover them.
        while journal.written_below() < end {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        self.inner.flusher.wait_blocking()?;
        Ok(end)
    }
}

/// The data directory's files a backup carries: (name, contents).
pub type CarriedFiles = Vec<(String, Vec<u8>)>;

/// One record read back from a backup.
pub enum Entry<'a> {
    Event { key: &'a [u8], value: &'a [u8] },
    Session { key: &'a [u8], value: &'a [u8] },
    Webhook { key: &'a [u8] },
    File { name: &'a str, contents: &'a [u8] },
}

/// Reads the bytes and keeps the running checksum and the position, for messages.
struct Reader<R: Read> {
    input: R,
    crc: crc32fast::Hasher,
    at: u64,
}

impl<R: Read> Reader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> Result<(), BackupError> {
        match self.input.read_exact(buffer) {
            Ok(()) => {
                self.crc.update(buffer);
                self.at += buffer.len() as u64;
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(BackupError::Truncated { at: self.at })
            }
            Err(error) => Err(error.into()),
        }
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let mut bytes = [0; 4];
        self.read(&mut bytes)?;
        Ok(u32::from_be_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, BackupError> {
        let mut bytes = [0; 8];
        self.read(&mut bytes)?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn sized(&mut self, buffer: &mut Vec<u8>, limit: usize, what: &str) -> Result<(), BackupError> {
        let at = self.at;
        let len = self.u32()? as usize;
        if len > limit {
            return Err(BackupError::Corrupt {
                at,
                why: format!("a {what} of {len} bytes (at most {limit} are ever written)"),
            });
        }
        buffer.resize(len, 0);
        self.read(buffer)
    }
}

/// Reads a whole backup from `input`, checking its header, every record's framing and the
/// checksum, and hands each record to `visit` as it goes. Nothing is kept in memory but
/// the record at hand. The error says what is wrong and where.
pub fn read_backup(
    input: impl Read,
    mut visit: impl FnMut(Entry<'_>) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut reader = Reader {
        input,
        crc: crc32fast::Hasher::new(),
        at: 0,
    };
    let mut magic = [0; 8];
    match reader.read(&mut magic) {
        Err(BackupError::Truncated { .. }) => return Err(BackupError::NotABackup),
        other => other?,
    }
    if &magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = reader.u32()?;
    if format != BACKUP_FORMAT {
        return Err(BackupError::UnknownFormat(format));
    }
    let mut summary = BackupSummary {
        storage_format: reader.u64()?,
        ..BackupSummary::default()
    };
    if summary.storage_format > FORMAT_VERSION {
        return Err(BackupError::NewerStorage {
            found: summary.storage_format,
            supported: FORMAT_VERSION,
        });
    }
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut records = 0u64;
    loop {
        let at = reader.at;
        let mut code = [0];
        reader.read(&mut code)?;
        let Some(kind) = Kind::from_code(code[0]) else {
            return Err(BackupError::Corrupt {
                at,
                why: format!("unknown record kind {}", code[0]),
            });
        };
        reader.sized(&mut key, MAX_KEY, "key")?;
        reader.sized(&mut value, MAX_VALUE, "value")?;
        records += 1;
        let corrupt = |why: &str| BackupError::Corrupt {
            at,
            why: why.to_owned(),
        };
        match kind {
            Kind::Event => {
                if key.len() != 8 {
                    return Err(corrupt("a journal record whose key is not 8 bytes"));
                }
                summary.events += 1;
                visit(Entry::Event {
                    key: &key,
                    value: &value,
                })?;
            }
            Kind::Session => {
                summary.sessions += 1;
                visit(Entry::Session {
                    key: &key,
                    value: &value,
                })?;
            }
            Kind::Webhook => {
                summary.webhooks += 1;
                visit(Entry::Webhook { key: &key })?;
            }
            Kind::File => {
                let name = std::str::from_utf8(&key)
                    .map_err(|_| corrupt("a file whose name is not UTF-8"))?;
                summary.files += 1;
                visit(Entry::File {
                    name,
                    contents: &value,
                })?;
            }
            Kind::Abort => {
                return Err(BackupError::Aborted(
                    String::from_utf8_lossy(&value).into_owned(),
                ));
            }
            Kind::End => {
                let (Ok(count), Ok(end)) = (
                    <[u8; 8]>::try_from(value.get(..8).unwrap_or_default()),
                    <[u8; 8]>::try_from(value.get(8..).unwrap_or_default()),
                ) else {
                    return Err(corrupt("an end record of the wrong size"));
                };
                if u64::from_be_bytes(count) != records {
                    return Err(corrupt(&format!(
                        "the end record counts {} records, the file holds {records}",
                        u64::from_be_bytes(count)
                    )));
                }
                summary.journal_end = u64::from_be_bytes(end);
                break;
            }
        }
    }
    let computed = reader.crc.clone().finalize();
    let mut stored = [0; 4];
    match reader.input.read_exact(&mut stored) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(BackupError::Truncated { at: reader.at });
        }
        Err(error) => return Err(error.into()),
    }
    let stored = u32::from_be_bytes(stored);
    if stored != computed {
        return Err(BackupError::Checksum { stored, computed });
    }
    summary.bytes = reader.at + 4;
    let mut extra = [0; 1];
    if reader.input.read(&mut extra)? != 0 {
        return Err(BackupError::Corrupt {
            at: summary.bytes,
            why: "bytes follow the checksum".into(),
        });
    }
    Ok(summary)
}

/// Writes the backup read from `input` into a new store at `db_dir` (which must not hold
/// one): the journal, the sessions, the webhook ids and the storage format. Every journal
/// record is decoded on the way, so a backup this release cannot replay is refused here
/// rather than at start-up. Answers the summary and the files the backup holds, for the
/// caller to put in the data directory. On an error the caller removes `db_dir`.
pub fn restore(
    input: impl Read,
    db_dir: &Path,
) -> Result<(BackupSummary, CarriedFiles), BackupError> {
    let db = sled::Config::new()
        .path(db_dir)
        .flush_every_ms(None)
        .open()
        .map_err(StoreError::from)?;
    let trees = |name: &str| db.open_tree(name).map_err(StoreError::from);
    let (events, sessions, webhooks, meta) = (
        trees("events")?,
        trees("sessions")?,
        trees("webhook_events")?,
        trees("meta")?,
    );
    let mut files = Vec::new();
    let mut batch = sled::Batch::default();
    let mut batched = 0;
    let summary = read_backup(input, |entry| {
        match entry {
            Entry::Event { key, value } => {
                if let Err(reason) = decode_event(value) {
                    let seq = u64::from_be_bytes(key.try_into().unwrap_or_default());
                    return Err(StoreError::Corrupt {
                        tree: "events",
                        key: seq.to_string(),
                        reason,
                    }
                    .into());
                }
                batch.insert(key, value);
                batched += 1;
                if batched == RESTORE_BATCH {
                    events
                        .apply_batch(std::mem::take(&mut batch))
                        .map_err(StoreError::from)?;
                    batched = 0;
                }
            }
            Entry::Session { key, value } => {
                sessions.insert(key, value).map_err(StoreError::from)?;
            }
            Entry::Webhook { key } => {
                webhooks.insert(key, &[]).map_err(StoreError::from)?;
            }
            Entry::File { name, contents } => files.push((name.to_owned(), contents.to_vec())),
        }
        Ok(())
    })?;
    events.apply_batch(batch).map_err(StoreError::from)?;
    // The first release wrote no format record; a directory without one reads as format 1.
    if summary.storage_format >= 2 {
        meta.insert(b"format", encode_counter(summary.storage_format)?)
            .map_err(StoreError::from)?;
    }
    db.flush().map_err(StoreError::from)?;
    Ok((summary, files))
}
