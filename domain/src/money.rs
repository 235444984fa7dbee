//! Prices as integer cents, parsed from the decimal text a client sent.
//!
//! Floats never touch money (DESIGN §7.8): "19.99" becomes 1999 cents by reading digits.

use std::fmt;

/// A ticket price: from 0.50 to 999999.99, in whole cents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(u64);

/// Why a price was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Price must be a number from 0.50 to 999999.99 with at most two decimals")]
pub struct InvalidPrice;

impl Price {
    pub const MIN_CENTS: u64 = 50;
    pub const MAX_CENTS: u64 = 99_999_999;

    /// Parses decimal text such as `20`, `20.5` or `19.99`: digits, then optionally a point
    /// and one or two digits. Signs, exponents and spaces are refused.
    pub fn parse(text: &str) -> Result<Price, InvalidPrice> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 9 || !all_digits(whole) {
            return Err(InvalidPrice);
        }
        if fraction.len() > 2 || !all_digits(fraction) || (text.ends_with('.')) {
            return Err(InvalidPrice);
        }
        let whole: u64 = whole.parse().map_err(|_| InvalidPrice)?;
        let fraction_cents = match fraction.len() {
            0 => 0,
            1 => u64::from(fraction.as_bytes()[0] - b'0') * 10,
            _ => fraction.parse::<u64>().map_err(|_| InvalidPrice)?,
        };
        Price::from_cents(whole * 100 + fraction_cents)
    }

    pub fn from_cents(cents: u64) -> Result<Price, InvalidPrice> {
        if (Self::MIN_CENTS..=Self::MAX_CENTS).contains(&cents) {
            Ok(Price(cents))
        } else {
            Err(InvalidPrice)
        }
    }

    pub fn cents(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}
