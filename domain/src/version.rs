//! Entity versions: 0 at creation, plus exactly 1 for every later change.

/// How many changes an entity has seen since it was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    pub const INITIAL: Version = Version(0);

    pub fn new(value: u64) -> Self {
        Version(value)
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }
}
