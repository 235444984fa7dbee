//! Time and id generation: the only place the system time is read.
//!
//! The app is given a `Clock` (`Application::build_with_clock`; the system's by default).
//! Tests give it a manual one and move it by hand, so a 15-minute hold runs out the moment
//! a test says so: the hold supervisor sleeps on the clock it was given, and a manual clock
//! wakes it when it is moved past the deadline. The domain takes `now` and fresh ids as
//! arguments; this module produces them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::sync::lock;
use domain::ids::RawId;
use domain::time::Timestamp;

/// Where the app's time comes from. Cheap to clone; clones share one source.
#[derive(Clone)]
pub struct Clock {
    source: Arc<Source>,
}

enum Source {
    System,
    /// Milliseconds since the epoch, moved only by `advance`; watchers wake on each move.
    Manual(watch::Sender<u64>),
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock {
            source: Arc::new(Source::System),
        }
    }

    /// A clock that stands at `start` until `advance` moves it.
    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            source: Arc::new(Source::Manual(watch::Sender::new(start.millis()))),
        }
    }

    pub fn now(&self) -> Timestamp {
        match &*self.source {
            Source::System => system_now(),
            Source::Manual(millis) => Timestamp::from_millis(*millis.borrow()),
        }
    }

    /// Moves a manual clock forward (the system clock moves by itself: nothing happens).
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(millis) = &*self.source {
            let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
            millis.send_modify(|now| *now = now.saturating_add(by));
        }
    }

    /// Resolves once the clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: Timestamp) {
        match &*self.source {
            Source::System => {
                let wait = deadline.millis().saturating_sub(system_now().millis());
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Source::Manual(millis) => {
                let mut moves = millis.subscribe();
                // The sender lives as long as the clock, and so as long as this borrow of it.
                let _ = moves.wait_for(|now| *now >= deadline.millis()).await;
            }
        }
    }
}

fn system_now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        // A clock before 1970 is a misconfigured host; treat it as the epoch.
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}

/// Makes ids that sort by creation time and never repeat within the process: a 48-bit
/// millisecond timestamp from the app's clock, then a 48-bit sequence that starts at a
/// random point and only grows. Across restarts the timestamp part differs.
pub struct IdGenerator {
    clock: Clock,
    /// (last millisecond used, last sequence used)
    last: Mutex<(u64, u64)>,
}

const SEQUENCE_MASK: u64 = (1 << 48) - 1;

impl IdGenerator {
    pub fn new(clock: Clock) -> IdGenerator {
        // Start low in the 48-bit space so a busy millisecond never wraps the sequence.
        let start = rand::random::<u64>() & ((1 << 40) - 1);
        IdGenerator {
            clock,
            last: Mutex::new((0, start)),
        }
    }

    pub fn next(&self) -> RawId {
        let now = self.clock.now().millis();
        let mut last = lock(&self.last);
        // Within one millisecond, or if the clock stepped back, keep the last timestamp
        // and count up, so ids stay strictly increasing.
        let millis = now.max(last.0);
        let sequence = (last.1 + 1) & SEQUENCE_MASK;
        *last = (millis, sequence);
        RawId::from_parts(millis, sequence)
    }
}

/// ISO 8601 in UTC with milliseconds, e.g. `2026-11-22T14:00:00.000Z`: how the API and
/// the operator's commands show a time.
pub fn iso8601(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(at.millis() as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strictly_increase_even_within_one_millisecond() {
        let ids = IdGenerator::new(Clock::system());
        let mut previous = ids.next();
        for _ in 0..10_000 {
            let id = ids.next();
            assert!(id > previous);
            previous = id;
        }
    }

    #[tokio::test]
    async fn a_manual_clock_stands_still_until_moved_and_wakes_its_sleepers() {
        let clock = Clock::manual(Timestamp::from_millis(1_000));
        let deadline = Timestamp::from_millis(61_000);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(deadline).await }
        });
        assert_eq!(clock.now(), Timestamp::from_millis(1_000));
        clock.advance(Duration::from_secs(30));
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the move past the deadline")
            .expect("the sleeper");
        assert_eq!(clock.now(), deadline);
    }
}
