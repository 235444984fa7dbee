//! The journal fence: where the journal stops being true after a failed flush.
//!
//! A flush that fails (a full disk) may still have written part of what it covered, and sled
//! writes its buffers out as they fill even between flushes. Every record from the first one
//! no successful flush covered on was refused (5xx) or never answered, so none of them may
//! come back at the next start (DESIGN §8, "a failed flush is fatal"). When the store fails it
//! writes that position here; the next open removes those records, has the projections
//! rebuilt from what is left (they may hold refused changes too), then clears the fence.
//!
//! The file is allocated in full when the store opens, so that recording the fence on a full
//! disk overwrites blocks the file already has instead of needing new ones.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The file's name inside the store's directory.
const FILE_NAME: &str = "journal.fence";
/// One block: overwriting it in place needs no new space.
const FILE_LEN: usize = 4096;
const MAGIC: &[u8; 8] = b"TKFENCE1";

/// The fence file of one store directory.
pub(crate) struct Fence {
    file: File,
}

impl Fence {
    /// Opens the fence file, creating it (allocated, cleared and synced) when missing, and
    /// answers the fence a failed run left, if any.
    pub(crate) fn open(dir: &Path) -> std::io::Result<(Fence, Option<u64>)> {
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        let mut contents = Vec::with_capacity(FILE_LEN);
        file.read_to_end(&mut contents)?;
        if contents.len() < FILE_LEN {
            // New, or cut short by a crash while it was being made: nothing was recorded
            // in it yet (a fence is only written once the file is whole and synced).
            file.write_all_at(&[0; FILE_LEN], 0)?;
            file.sync_all()?;
            File::open(dir)?.sync_all()?;
            return Ok((Fence { file }, None));
        }
        Ok((Fence { file }, decode(&contents[..24])))
    }

    /// Records that every journal record from `seq` on was refused. Overwrites the file in
    /// place and syncs it.
    pub(crate) fn set(&self, seq: u64) -> std::io::Result<()> {
        self.file.write_all_at(&encode(seq), 0)?;
        self.file.sync_data()
    }

    /// Forgets the fence once the records past it are gone for good.
    pub(crate) fn clear(&self) -> std::io::Result<()> {
        self.file.write_all_at(&[0; 24], 0)?;
        self.file.sync_data()
    }
}

/// The magic, the position, and the position's complement: a torn or foreign write reads as
/// no fence rather than as a wrong one.
fn encode(seq: u64) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&seq.to_be_bytes());
    bytes[16..].copy_from_slice(&(!seq).to_be_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<u64> {
    let (magic, rest) = bytes.split_first_chunk::<8>()?;
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let check = rest.first_chunk::<8>()?;
    let seq = u64::from_be_bytes(*seq);
    (magic == MAGIC && u64::from_be_bytes(*check) == !seq).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_survives_reopening_until_it_is_cleared() {
        let dir = tempfile::tempdir().expect("a dir");
        let (fence, found) = Fence::open(dir.path()).expect("opens");
        assert_eq!(found, None);
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME))
                .expect("made")
                .len(),
            FILE_LEN as u64,
            "allocated in full when made"
        );
        fence.set(42).expect("set");
        drop(fence);
        let (fence, found) = Fence::open(dir.path()).expect("reopens");
        assert_eq!(found, Some(42));
        fence.clear().expect("cleared");
        drop(fence);
        assert_eq!(Fence::open(dir.path()).expect("reopens").1, None);
    }

    #[test]
    fn a_damaged_fence_reads_as_none() {
        let mut bytes = encode(7);
        bytes[20] ^= 1;
        assert_eq!(decode(&bytes), None);
        assert_eq!(decode(&[0; 24]), None);
        assert_eq!(decode(&encode(0)), Some(0));
    }
}
