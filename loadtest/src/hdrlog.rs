//! `--hdr-log`: the run's timeline in HdrHistogram's interval log format, and reading such
//! logs back for `ticketing loadtest merge`.
//!
//! One histogram per interval, kind of request and answer, tagged `kind:answer`
//! (`reserve:201`, `reserve:409`, `pay:error`), values in microseconds (the max column in
//! milliseconds). BaseTime is the run's start in Unix time and interval timestamps count
//! from it, so logs written on several machines line up on the wall clock when merged.
//! Any HdrHistogram tool reads them (Java's HistogramLogProcessor filters by tag). Lines
//! starting `#ticketing ` describe the run; merge shows them. Uses hdrhistogram, base64,
//! `stats` and `timeline`.

use std::io::Write;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use super::stats::{Answer, Kind};
use super::timeline::Timeline;

/// The prefix of the comment lines that describe the run.
const ABOUT: &str = "ticketing ";

/// Why a log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HdrLogError {
    #[error("failed to write the interval log: {0}")]
    Write(#[from] std::io::Error),
    #[error("failed to encode a histogram: {0:?}")]
    Encode(hdrhistogram::serialization::V2DeflateSerializeError),
    #[error("not an interval log: {0:?}")]
    Parse(hdrhistogram::serialization::interval_log::LogIteratorError),
    #[error("interval at {start:?} has no tag of the form kind:answer (found {tag:?})")]
    Tag {
        start: Duration,
        tag: Option<String>,
    },
    #[error("interval {tag} at {start:?} holds no readable histogram")]
    Histogram { start: Duration, tag: String },
}

/// Writes `timeline` as an interval log whose BaseTime is `base` (when the phase began),
/// preceded by `about` as `#ticketing ...` comment lines.
pub fn write(
    timeline: &Timeline,
    base: SystemTime,
    about: &[String],
    out: &mut impl Write,
) -> Result<(), HdrLogError> {
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    for line in about {
        builder.add_comment(&format!("{ABOUT}{line}"));
    }
    builder
        .add_comment("values in microseconds; Interval_Max in milliseconds; tags are kind:answer");
    builder
        .with_start_time(base)
        .with_base_time(base)
        .with_max_value_divisor(1000.0);
    let mut writer = builder.begin_log_with(out, &mut serializer)?;
    for slice in &timeline.slices {
        let tag = format!("{}:{}", slice.kind.name(), slice.answer.tag());
        let start = timeline.interval * u32::try_from(slice.index).unwrap_or(u32::MAX);
        writer
            .write_histogram(&slice.histogram(), start, timeline.interval, Tag::new(&tag))
            .map_err(|error| {
                match error {
                hdrhistogram::serialization::interval_log::IntervalLogWriterError::IoError(
                    io,
                ) => HdrLogError::Write(io),
                hdrhistogram::serialization::interval_log::IntervalLogWriterError::SerializeError(
                    e,
                ) => HdrLogError::Encode(e),
            }
            })?;
    }
    Ok(())
}

/// One interval histogram read back.
pub struct Interval {
    /// When it began, since the Unix epoch.
    pub start: Duration,
    pub length: Duration,
    pub kind: Kind,
    pub answer: Answer,
    pub latency: Histogram<u64>,
}

/// An interval log read back.
pub struct Log {
    /// The `#ticketing ...` lines, without the prefix.
    pub about: Vec<String>,
    pub intervals: Vec<Interval>,
}

/// Reads an interval log this module wrote (or any whose tags are `kind:answer`).
pub fn read(text: &[u8]) -> Result<Log, HdrLogError> {
    let about = String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| line.strip_prefix('#')?.strip_prefix(ABOUT))
        .map(str::to_owned)
        .collect();
    let mut base = Duration::ZERO;
    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(text) {
        match entry.map_err(HdrLogError::Parse)? {
            LogEntry::BaseTime(time) => base = time,
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(h) => {
                let start = base + h.start_timestamp();
                let tag = h.tag().map(|t| t.as_str().to_owned());
                let parsed = tag.as_deref().and_then(|t| {
                    let (kind, answer) = t.split_once(':')?;
                    Some((Kind::from_name(kind)?, Answer::from_tag(answer)?))
                });
                let Some((kind, answer)) = parsed else {
                    return Err(HdrLogError::Tag { start, tag });
                };
                let unreadable = || HdrLogError::Histogram {
                    start,
                    tag: tag.clone().unwrap_or_default(),
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .map_err(|_| unreadable())?;
                let latency: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|_| unreadable())?;
                intervals.push(Interval {
                    start,
                    length: h.duration(),
                    kind,
                    answer,
                    latency,
                });
            }
        }
    }
    Ok(Log { about, intervals })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TimelineBuilder;
    use std::time::Instant;

    #[test]
    fn a_written_log_reads_back_with_its_intervals_tags_and_counts() {
        let t0 = Instant::now();
        let mut builder = TimelineBuilder::new(t0, Duration::from_secs(1));
        for ms in 0..20u64 {
            let answer = if ms % 2 == 0 {
                Answer::Status(201)
            } else {
                Answer::Status(409)
            };
            builder.record(
                Kind::Reserve,
                answer,
                t0 + Duration::from_millis(ms * 100),
                1000 + ms,
            );
        }
        let timeline = builder.finish();
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut out = Vec::new();
        write(&timeline, base, &["scenario: race".to_owned()], &mut out).expect("writes");

        let log = read(&out).expect("reads");
        assert_eq!(log.about, vec!["scenario: race".to_owned()]);
        assert_eq!(log.intervals.len(), 4, "two seconds, two answers");
        let total: u64 = log.intervals.iter().map(|i| i.latency.len()).sum();
        assert_eq!(total, 20);
        let second = &log.intervals[2];
        assert_eq!(second.start, Duration::from_secs(1_700_000_001));
        assert_eq!(
            (second.kind, second.answer),
            (Kind::Reserve, Answer::Status(201))
        );
    }
}
