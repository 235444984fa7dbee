//! When requests go out: a closed loop of workers, rounds that start together, or an open
//! loop at a fixed rate whose latencies count from each request's intended send time.
//!
//! Knows nothing of the API: it calls a step with a sequence number and the intended send
//! time, and the step records its own latency from that time. Uses tokio and indicatif only.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How requests are paced.
#[derive(Clone, Debug)]
pub enum Pace {
    /// `workers` tasks, each sending its next request when its previous answer arrives.
    /// The intended send time is the actual one, so a slow server slows the load.
    Closed { workers: usize },
    /// Rounds of `size` requests sent together; a round starts when the previous round has
    /// been answered completely.
    Rounds { size: u64 },
    /// Open loop: bursts of `burst` requests at fixed intended times, `rate` requests per
    /// second on average, whatever the server does. At most `max_in_flight` requests are
    /// out at once; a request that waits for room still counts its latency from its
    /// intended time, so a stalled server shows up in the percentiles (no coordinated
    /// omission).
    Open {
        rate: f64,
        burst: u64,
        max_in_flight: usize,
    },
}

/// When the load stops.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// After this many steps.
    Count(u64),
    /// No step starts (closed) or is scheduled (open) after this long.
    Elapsed(Duration),
}

impl Until {
    /// Whether step `seq` may start `elapsed` after the drive began.
    fn allows(self, seq: u64, elapsed: Duration) -> bool {
        match self {
            Until::Count(count) => seq < count,
            Until::Elapsed(duration) => elapsed < duration,
        }
    }
}

/// How a drive went.
#[derive(Clone, Copy, Debug)]
pub struct Driven {
    /// From the first step's start to the last step's end.
    pub elapsed: Duration,
    /// Open loop only: the most any request was sent after its intended time, because the
    /// load generator or the in-flight cap held it back.
    pub max_send_lag: Option<Duration>,
}

/// Runs `step(seq, intended_send_time)` for seq = 0, 1, 2, ... as `pace` and `until` say,
/// and waits for every step to finish. Each finished step advances `progress` by one.
pub async fn drive<S, F>(
    pace: &Pace,
    until: Until,
    progress: &ProgressBar,
    step: S,
) -> anyhow::Result<Driven>
where
    S: Fn(u64, Instant) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let step = Arc::new(step);
    match *pace {
        Pace::Closed { workers } => closed(workers.max(1), until, progress, step).await,
        Pace::Rounds { size } => rounds(size.max(1), until, progress, step).await,
        Pace::Open {
            rate,
            burst,
            max_in_flight,
        } => {
            open(
                rate,
                burst.max(1),
                max_in_flight.max(1),
                until,
                progress,
                step,
            )
            .await
        }
    }
}

async fn closed<S, F>(
    workers: usize,
    until: Until,
    progress: &ProgressBar,
    step: Arc<S>,
) -> anyhow::Result<Driven>
where
    S: Fn(u64, Instant) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (step, next, progress) = (step.clone(), next.clone(), progress.clone());
        tasks.spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if !until.allows(seq, start.elapsed()) {
                    break;
                }
                step(seq, Instant::now()).await;
                progress.inc(1);
            }
        });
    }
    join_all(tasks).await?;
    Ok(Driven {
        elapsed: start.elapsed(),
        max_send_lag: None,
    })
}

async fn rounds<S, F>(
    size: u64,
    until: Until,
    progress: &ProgressBar,
    step: Arc<S>,
) -> anyhow::Result<Driven>
where
    S: Fn(u64, Instant) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let mut seq = 0;
    while until.allows(seq, start.elapsed()) {
        let end = match until {
            Until::Count(count) => (seq + size).min(count),
            Until::Elapsed(_) => seq + size,
        };
        let mut tasks = JoinSet::new();
        let now = Instant::now();
        for s in seq..end {
            let progress = progress.clone();
            let request = step(s, now);
            tasks.spawn(async move {
                request.await;
                progress.inc(1);
            });
        }
        join_all(tasks).await?;
        seq = end;
    }
    Ok(Driven {
        elapsed: start.elapsed(),
        max_send_lag: None,
    })
}

async fn open<S, F>(
    rate: f64,
    burst: u64,
    max_in_flight: usize,
    until: Until,
    progress: &ProgressBar,
    step: Arc<S>,
) -> anyhow::Result<Driven>
where
    S: Fn(u64, Instant) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let room = Arc::new(Semaphore::new(max_in_flight));
    let lag_micros = AtomicU64::new(0);
    let between_bursts = burst as f64 / rate;
    let start = Instant::now();
    for seq in 0.. {
        let offset = Duration::try_from_secs_f64((seq / burst) as f64 * between_bursts)
            .context("The schedule ran past what a duration can hold")?;
        if !until.allows(seq, offset) {
            break;
        }
        let intended = start + offset;
        tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
        let permit = room
            .clone()
            .acquire_owned()
            .await
            .context("The in-flight limit was closed")?;
        let lag = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
        lag_micros.fetch_max(lag, Ordering::Relaxed);
        let request = step(seq, intended);
        let progress = progress.clone();
        tokio::spawn(async move {
            request.await;
            progress.inc(1);
            drop(permit);
        });
    }
    // Every permit back means every request has been answered.
    let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    let _drained = room
        .acquire_many(all)
        .await
        .context("The in-flight limit was closed")?;
    Ok(Driven {
        elapsed: start.elapsed(),
        max_send_lag: Some(Duration::from_micros(lag_micros.load(Ordering::Relaxed))),
    })
}

async fn join_all(mut tasks: JoinSet<()>) -> anyhow::Result<()> {
    while let Some(result) = tasks.join_next().await {
        result.context("A load task failed")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Every step's sequence number and intended send time, in the order they ran.
    type Seen = Arc<Mutex<Vec<(u64, Instant)>>>;

    fn recording_step() -> (
        Seen,
        impl Fn(u64, Instant) -> std::future::Ready<()> + Send + Sync + 'static,
    ) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let step = move |seq, intended| {
            sink.lock().expect("not poisoned").push((seq, intended));
            std::future::ready(())
        };
        (seen, step)
    }

    #[tokio::test]
    async fn a_closed_loop_runs_each_step_exactly_once_up_to_the_count() {
        let (seen, step) = recording_step();
        let pace = Pace::Closed { workers: 4 };
        drive(&pace, Until::Count(50), &ProgressBar::hidden(), step)
            .await
            .expect("drives");
        let mut seqs: Vec<u64> = seen.lock().expect("lock").iter().map(|s| s.0).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn an_open_loop_schedules_bursts_at_fixed_intended_times() {
        let (seen, step) = recording_step();
        let pace = Pace::Open {
            rate: 200.0,
            burst: 5,
            max_in_flight: 5,
        };
        let driven = drive(&pace, Until::Count(20), &ProgressBar::hidden(), step)
            .await
            .expect("drives");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 20);
        let start = seen[0].1;
        for (seq, intended) in &seen {
            // Bursts of 5 at 200 requests/s are 25 ms apart.
            let expected = Duration::from_millis(25 * (seq / 5));
            let actual = *intended - start;
            assert!(
                actual.abs_diff(expected) < Duration::from_micros(1),
                "request {seq} at {actual:?}, expected {expected:?}"
            );
        }
        assert!(driven.max_send_lag.is_some());
    }

    #[tokio::test]
    async fn an_open_loop_for_a_duration_schedules_only_inside_it() {
        let (seen, step) = recording_step();
        let pace = Pace::Open {
            rate: 100.0,
            burst: 1,
            max_in_flight: 2,
        };
        drive(
            &pace,
            Until::Elapsed(Duration::from_millis(100)),
            &ProgressBar::hidden(),
            step,
        )
        .await
        .expect("drives");
        assert_eq!(seen.lock().expect("lock").len(), 10);
    }
}
