//! The wall clock and id generation: the only places that read the system time.
//!
//! The domain takes `now` and fresh ids as arguments; this module produces them.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::ids::RawId;
use crate::domain::time::Timestamp;
use crate::sync::lock;

/// The current time.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        // A clock before 1970 is a misconfigured host; treat it as the epoch.
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}

/// Makes ids that sort by creation time and never repeat within the process: a 48-bit
/// millisecond timestamp, then a 48-bit sequence that starts at a random point and only
/// grows. Across restarts the timestamp part differs.
pub struct IdGenerator {
    /// (last millisecond used, last sequence used)
    last: Mutex<(u64, u64)>,
}

const SEQUENCE_MASK: u64 = (1 << 48) - 1;

impl IdGenerator {
    pub fn new() -> IdGenerator {
        // Start low in the 48-bit space so a busy millisecond never wraps the sequence.
        let start = rand::random::<u64>() & ((1 << 40) - 1);
        IdGenerator {
            last: Mutex::new((0, start)),
        }
    }

    pub fn next(&self) -> RawId {
        let now = now().millis();
        let mut last = lock(&self.last);
        // Within one millisecond, or if the clock stepped back, keep the last timestamp
        // and count up, so ids stay strictly increasing.
        let millis = now.max(last.0);
        let sequence = (last.1 + 1) & SEQUENCE_MASK;
        *last = (millis, sequence);
        RawId::from_parts(millis, sequence)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        IdGenerator::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strictly_increase_even_within_one_millisecond() {
        let ids = IdGenerator::new();
        let mut previous = ids.next();
        for _ in 0..10_000 {
            let id = ids.next();
            assert!(id > previous);
            previous = id;
        }
    }
}
