//! The run over time: per interval (a second unless `--interval` says otherwise) and kind of
//! request, the count, the answers and the latency percentiles; and per interval, kind and
//! answer, the latency histogram that `hdrlog` writes out.
//!
//! Intervals are counted from the phase's start by the time each answer arrived. Only the
//! latest two are kept as full histograms; older ones are summarised and compressed as soon
//! as a later answer arrives, so an hour-long run stays small. An answer that arrives for
//! an interval already closed (its task was descheduled between reading the clock and
//! recording) is counted in the earliest open one. Pure bookkeeping: no clock, no I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

use super::stats::{Answer, DIGITS, Kind, add_into, record_n};

/// One kind's requests in one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The interval's number: it starts `index × interval` after the phase began.
    pub index: u64,
    pub kind: Kind,
    pub count: u64,
    pub answers: BTreeMap<Answer, u64>,
    /// Latency percentiles in milliseconds; all zero when `count` is 0.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One kind and answer's latencies in one interval, compressed (HdrHistogram V2 + deflate).
#[derive(Clone, Debug)]
pub struct Slice {
    pub index: u64,
    pub kind: Kind,
    pub answer: Answer,
    encoded: Vec<u8>,
}

impl Slice {
    /// The latencies, in microseconds.
    pub fn histogram(&self) -> Histogram<u64> {
        Deserializer::new()
            .deserialize(&mut self.encoded.as_slice())
            .expect("a slice holds a histogram this module serialised")
    }
}

/// A phase's intervals, closed.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub interval: Duration,
    /// Ordered by interval, then kind.
    pub rows: Vec<Row>,
    /// Ordered by interval, then kind, then answer.
    pub slices: Vec<Slice>,
}

type Open = BTreeMap<(Kind, Answer), Histogram<u64>>;

/// Builds a timeline as answers arrive (`record`) or from histograms read back (`add`).
pub struct TimelineBuilder {
    origin: Instant,
    interval: Duration,
    open: BTreeMap<u64, Open>,
    closed: Timeline,
}

impl TimelineBuilder {
    /// A timeline whose interval 0 starts at `origin`.
    pub fn new(origin: Instant, interval: Duration) -> TimelineBuilder {
        let interval = interval.max(Duration::from_millis(1));
        TimelineBuilder {
            origin,
            interval,
            open: BTreeMap::new(),
            closed: Timeline {
                interval,
                ..Timeline::default()
            },
        }
    }

    /// One answer that arrived at `finished`, `micros` after it was meant to go out.
    pub fn record(&mut self, kind: Kind, answer: Answer, finished: Instant, micros: u64) {
        let since = finished.saturating_duration_since(self.origin);
        let index = u64::try_from(since.as_nanos() / self.interval.as_nanos()).unwrap_or(u64::MAX);
        let index = self.place(index);
        record_n(self.histogram(index, kind, answer), micros, 1);
    }

    /// Adds a histogram of answers in interval `index` (read back from an interval log).
    /// Like answers, histograms must come in the order of their intervals, give or take one.
    pub fn add(&mut self, index: u64, kind: Kind, answer: Answer, latency: &Histogram<u64>) {
        let index = self.place(index);
        add_into(self.histogram(index, kind, answer), latency);
    }

    /// Closes the intervals before the one preceding `index` (they are complete), and
    /// answers where something of interval `index` goes: there, or in the earliest interval
    /// still open if `index` is closed already.
    fn place(&mut self, index: u64) -> u64 {
        let done: Vec<u64> = self
            .open
            .keys()
            .copied()
            .take_while(|open| open.saturating_add(1) < index)
            .collect();
        for old in done {
            self.close(old);
        }
        let floor = match self.open.keys().next() {
            Some(&earliest) => earliest,
            None => self.closed_through().map_or(0, |last| last + 1),
        };
        index.max(floor)
    }

    /// Closes every interval and answers the timeline.
    pub fn finish(&mut self) -> Timeline {
        let open: Vec<u64> = self.open.keys().copied().collect();
        for index in open {
            self.close(index);
        }
        self.closed.clone()
    }

    fn closed_through(&self) -> Option<u64> {
        self.closed.rows.last().map(|row| row.index)
    }

    fn histogram(&mut self, index: u64, kind: Kind, answer: Answer) -> &mut Histogram<u64> {
        self.open
            .entry(index)
            .or_default()
            .entry((kind, answer))
            .or_insert_with(|| {
                // Auto-resizing: most intervals see only short latencies, and a histogram
                // sized for an hour would cost hundreds of kilobytes each.
                Histogram::new(DIGITS).expect("3 significant digits are a valid precision")
            })
    }

    fn close(&mut self, index: u64) {
        let Some(open) = self.open.remove(&index) else {
            return;
        };
        let mut kinds: BTreeMap<Kind, (Histogram<u64>, BTreeMap<Answer, u64>)> = BTreeMap::new();
        for ((kind, answer), histogram) in open {
            let (all, answers) = kinds.entry(kind).or_insert_with(|| {
                (
                    Histogram::new(DIGITS).expect("3 significant digits are a valid precision"),
                    BTreeMap::new(),
                )
            });
            add_into(all, &histogram);
            answers.insert(answer, histogram.len());
            let mut encoded = Vec::new();
            V2DeflateSerializer::new()
                .serialize(&histogram, &mut encoded)
                .expect("serialising a histogram into memory cannot fail");
            self.closed.slices.push(Slice {
                index,
                kind,
                answer,
                encoded,
            });
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        for (kind, (all, answers)) in kinds {
            self.closed.rows.push(Row {
                index,
                kind,
                count: all.len(),
                answers,
                p50_ms: ms(all.value_at_quantile(0.50)),
                p90_ms: ms(all.value_at_quantile(0.90)),
                p99_ms: ms(all.value_at_quantile(0.99)),
                max_ms: ms(all.max()),
            });
        }
    }
}

impl Timeline {
    /// The start of interval `index`, in seconds after the phase began.
    pub fn secs(&self, index: u64) -> f64 {
        index as f64 * self.interval.as_secs_f64()
    }

    /// The CSV of `--timeseries`: one row per interval and kind from the first interval
    /// with an answer to the last (a kind with no answer in an interval has count 0 and
    /// empty percentiles), one column per answer seen.
    pub fn csv(&self) -> String {
        let kinds: Vec<Kind> = {
            let mut kinds: Vec<Kind> = self.rows.iter().map(|r| r.kind).collect();
            kinds.sort_unstable();
            kinds.dedup();
            kinds
        };
        let answers: Vec<Answer> = {
            let mut answers: Vec<Answer> = self
                .rows
                .iter()
                .flat_map(|r| r.answers.keys().copied())
                .collect();
            answers.sort_unstable();
            answers.dedup();
            answers
        };
        let mut out = String::from("time_s,kind,count");
        for answer in &answers {
            let _ = write!(out, ",{}", answer.tag());
        }
        out.push_str(",p50_ms,p90_ms,p99_ms,max_ms\n");
        let by_key: BTreeMap<(u64, Kind), &Row> =
            self.rows.iter().map(|r| ((r.index, r.kind), r)).collect();
        let (Some(first), Some(last)) = (
            self.rows.first().map(|r| r.index),
            self.rows.last().map(|r| r.index),
        ) else {
            return out;
        };
        for index in first..=last {
            for kind in &kinds {
                let _ = write!(out, "{:.3},{},", self.secs(index), kind.name());
                match by_key.get(&(index, *kind)) {
                    Some(row) => {
                        let _ = write!(out, "{}", row.count);
                        for answer in &answers {
                            let _ = write!(out, ",{}", row.answers.get(answer).unwrap_or(&0));
                        }
                        let _ = writeln!(
                            out,
                            ",{:.3},{:.3},{:.3},{:.3}",
                            row.p50_ms, row.p90_ms, row.p99_ms, row.max_ms
                        );
                    }
                    None => {
                        out.push('0');
                        for _ in &answers {
                            out.push_str(",0");
                        }
                        out.push_str(",,,,\n");
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_fall_into_the_interval_of_their_arrival_and_old_intervals_close() {
        let t0 = Instant::now();
        let mut builder = TimelineBuilder::new(t0, Duration::from_secs(1));
        let ms = Duration::from_millis;
        builder.record(Kind::Reserve, Answer::Status(201), t0 + ms(100), 1_000);
        builder.record(Kind::Reserve, Answer::Status(409), t0 + ms(900), 3_000);
        builder.record(Kind::Pay, Answer::Status(201), t0 + ms(1500), 20_000);
        builder.record(Kind::Reserve, Answer::Status(201), t0 + ms(3100), 2_000);
        assert_eq!(builder.closed.rows.len(), 2, "intervals 0 and 1 closed");
        // A straggler for interval 0 counts in the earliest interval still open.
        builder.record(Kind::Reserve, Answer::Status(201), t0 + ms(200), 1_000);
        let timeline = builder.finish();
        let rows: Vec<(u64, Kind, u64)> = timeline
            .rows
            .iter()
            .map(|r| (r.index, r.kind, r.count))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, Kind::Reserve, 2),
                (1, Kind::Pay, 1),
                (3, Kind::Reserve, 2)
            ]
        );
        let first = &timeline.rows[0];
        assert_eq!(first.answers[&Answer::Status(409)], 1);
        assert!((first.max_ms - 3.0).abs() < 0.01, "{}", first.max_ms);
        let slice = timeline
            .slices
            .iter()
            .find(|s| s.index == 1 && s.kind == Kind::Pay)
            .expect("a slice for pay");
        assert_eq!(slice.histogram().len(), 1);
    }

    #[test]
    fn the_csv_has_one_row_per_interval_and_kind_with_a_column_per_answer() {
        let t0 = Instant::now();
        let mut builder = TimelineBuilder::new(t0, Duration::from_secs(1));
        builder.record(Kind::Reserve, Answer::Status(201), t0, 1_000);
        builder.record(
            Kind::Pay,
            Answer::Error,
            t0 + Duration::from_millis(2500),
            5_000,
        );
        let csv = builder.finish().csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "time_s,kind,count,201,error,p50_ms,p90_ms,p99_ms,max_ms"
        );
        assert_eq!(lines.len(), 1 + 3 * 2, "three seconds, two kinds: {csv}");
        assert_eq!(lines[1], "0.000,reserve,1,1,0,1.000,1.000,1.000,1.000");
        assert_eq!(lines[2], "0.000,pay,0,0,0,,,,");
    }
}
