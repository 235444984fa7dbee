//! Entity ids: 12 bytes shown as 24 lowercase hex characters, ordered by creation time.
//!
//! The first 6 bytes are a millisecond timestamp and the last 6 a sequence, both supplied by
//! the caller (see `clock::IdGenerator`), so ids sort by creation and byte order equals text
//! order. The typed wrappers keep a ticket id from being passed where an order id belongs.

use std::fmt;

/// The 12 raw bytes every typed id wraps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawId([u8; 12]);

/// A string that is not 24 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a well-formed id")]
pub struct InvalidId;

impl RawId {
    /// Builds an id from a millisecond timestamp and a sequence; both are truncated to 48 bits.
    pub fn from_parts(millis: u64, sequence: u64) -> Self {
        let mut bytes = [0u8; 12];
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&sequence.to_be_bytes()[2..]);
        RawId(bytes)
    }

    /// Parses exactly 24 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let text = text.as_bytes();
        if text.len() != 24 {
            return Err(InvalidId);
        }
        let mut bytes = [0u8; 12];
        for (i, pair) in text.chunks(2).enumerate() {
            bytes[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(RawId(bytes))
    }

    /// Rebuilds an id from the 12 bytes `as_bytes` gave.
    pub fn from_array(bytes: [u8; 12]) -> Self {
        RawId(bytes)
    }

    /// Rebuilds an id from the bytes `as_bytes` produced (store keys).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidId> {
        bytes.try_into().map(RawId).map_err(|_| InvalidId)
    }

    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// When the id was made: its first 6 bytes, in milliseconds since the epoch.
    pub fn created_millis(&self) -> u64 {
        let mut millis = [0u8; 8];
        millis[2..].copy_from_slice(&self.0[..6]);
        u64::from_be_bytes(millis)
    }
}

fn hex_digit(c: u8) -> Result<u8, InvalidId> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(InvalidId),
    }
}

impl fmt::Display for RawId {
    // Ids are formatted for every response and log span: one `write_str` of a buffer
    // instead of twelve formatting calls.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 24];
        for (pair, b) in text.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        // Every byte written is an ASCII hex digit.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for RawId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(RawId);

        impl $name {
            pub fn new(raw: RawId) -> Self {
                $name(raw)
            }

            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                RawId::parse(text).map($name)
            }

            pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidId> {
                RawId::from_bytes(bytes).map($name)
            }

            pub fn as_bytes(&self) -> &[u8; 12] {
                self.0.as_bytes()
            }

            /// When the id was made (ids sort by it).
            pub fn created_at(&self) -> super::time::Timestamp {
                super::time::Timestamp::from_millis(self.0.created_millis())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A ticket listed for sale.
    TicketId
);
typed_id!(
    /// A purchase attempt: a hold on one ticket by one buyer.
    OrderId
);
typed_id!(
    /// A payment attempt for one order.
    ChargeId
);
typed_id!(
    /// One signed-in session; revoking it signs out exactly that session.
    SessionId
);
