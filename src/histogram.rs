//! A cumulative histogram of milliseconds for `/metrics`, lock-free so that hot paths (the
//! flusher, every hold expiry) can record into it.
//!
//! Used for how late holds end (`actors::Services`, recorded by the hold supervisor) and how long the store's
//! flushes take (`store::Store::flush_ms`); `http::health` writes both in the Prometheus
//! text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in milliseconds.
pub const BOUNDS_MS: [u64; 22] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000,
    5_000, 10_000,
];

pub struct Histogram {
    /// One counter per bound in `BOUNDS_MS`, plus one for everything above.
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ms: AtomicU64::new(0),
        }
    }

    /// Records one observation of `ms` milliseconds.
    pub fn record(&self, ms: u64) {
        let bucket = BOUNDS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(BOUNDS_MS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Cumulative counts per upper bound (`None` is +Inf), then the sum in ms.
    pub fn snapshot(&self) -> (Vec<(Option<u64>, u64)>, u64) {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, count)| {
                total += count.load(Ordering::Relaxed);
                (BOUNDS_MS.get(i).copied(), total)
            })
            .collect();
        (cumulative, self.sum_ms.load(Ordering::Relaxed))
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_observation_counts_in_the_first_bucket_that_holds_it() {
        let histogram = Histogram::new();
        for ms in [0, 1, 4, 5, 250, 60_000] {
            histogram.record(ms);
        }
        let (buckets, sum) = histogram.snapshot();
        let at = |bound: Option<u64>| {
            buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, count)| *count)
                .expect("bucket exists")
        };
        assert_eq!(at(Some(1)), 2, "0 and 1 ms are within the 1 ms bucket");
        assert_eq!(at(Some(5)), 4, "4 and 5 ms join at 5 ms (cumulative)");
        assert_eq!(at(Some(300)), 5);
        assert_eq!(at(Some(10_000)), 5, "a minute is above every bound");
        assert_eq!(at(None), 6, "+Inf counts everything");
        assert_eq!(sum, 60_260);
    }
}
