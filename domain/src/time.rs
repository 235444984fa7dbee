//! Points in time as milliseconds since the Unix epoch.
//!
//! The domain never reads a clock; callers pass `now` in (see `clock::Clock`).

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    /// This instant plus a number of whole seconds.
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}
