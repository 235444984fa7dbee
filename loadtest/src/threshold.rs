//! `--threshold`: a target the run must meet, such as `reserve.p99<50ms`, `rps>=1000` or
//! `errors<0.1%`, parsed from the command line and judged against the run's figures.
//!
//! A threshold names a figure, a comparison and a value:
//! - latency: `KIND.STAT` with STAT one of p50, p90, p99, p99.9, max, mean, and a value
//!   with its unit (`us`, `ms` or `s`): `reserve.p99<50ms`;
//! - throughput: `rps` for the whole run or `KIND.rps`, in requests per second:
//!   `rps>=2000`, `reserve.rps>500`;
//! - error rate: `errors` or `KIND.errors`, as a percentage or a fraction: `errors<0.1%`.
//!   Errors are answers that are no answer, a 5xx, or a success with a broken body
//!   (`stats::Answer::is_error`); a refusal the API promises (409) is not an error.
//!
//! A figure that cannot be measured (no request of that kind in the run) breaks its
//! threshold: CI should not pass on a number nobody measured. Pure: uses `stats` only.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::stats::{Kind, PhaseSummary};

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Less => actual < limit,
            Op::LessOrEqual => actual <= limit,
            Op::Greater => actual > limit,
            Op::GreaterOrEqual => actual >= limit,
        }
    }
}

/// A latency statistic of one kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stat {
    P50,
    P90,
    P99,
    P99_9,
    Max,
    Mean,
}

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Figure {
    /// Milliseconds.
    Latency(Kind, Stat),
    /// Requests per second, of one kind or of all.
    Throughput(Option<Kind>),
    /// A fraction of the requests, of one kind or of all.
    Errors(Option<Kind>),
}

/// One target, as given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    text: String,
    figure: Figure,
    op: Op,
    /// In the figure's unit: milliseconds, requests per second, or a fraction.
    limit: f64,
}

/// Why a threshold does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThresholdError {
    #[error("{0:?} has no comparison: write e.g. reserve.p99<50ms, rps>=1000, errors<0.1%")]
    NoComparison(String),
    #[error(
        "{0:?} is not a figure: use KIND.p50|p90|p99|p99.9|max|mean, rps, KIND.rps, errors or \
         KIND.errors, with KIND one of {kinds}",
        kinds = Kind::ALL.map(Kind::name).join(", ")
    )]
    Figure(String),
    #[error("{0:?} is not a latency: give a number with its unit, e.g. 50ms, 1.5s, 800us")]
    Latency(String),
    #[error("{0:?} is not a rate: give a percentage or a fraction, e.g. 0.1% or 0.001")]
    Rate(String),
    #[error("{0:?} is not a number of requests per second")]
    Throughput(String),
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op, len) = [
            ("<=", Op::LessOrEqual),
            (">=", Op::GreaterOrEqual),
            ("<", Op::Less),
            (">", Op::Greater),
        ]
        .into_iter()
        .find_map(|(symbol, op)| compact.find(symbol).map(|at| (at, op, symbol.len())))
        .ok_or_else(|| ThresholdError::NoComparison(text.to_owned()))?;
        let (name, value) = (&compact[..at], &compact[at + len..]);
        let figure = figure(name).ok_or_else(|| ThresholdError::Figure(name.to_owned()))?;
        let limit = match figure {
            Figure::Latency(..) => {
                latency_ms(value).ok_or_else(|| ThresholdError::Latency(value.to_owned()))?
            }
            Figure::Errors(_) => {
                rate(value).ok_or_else(|| ThresholdError::Rate(value.to_owned()))?
            }
            Figure::Throughput(_) => number(value.strip_suffix("/s").unwrap_or(value))
                .ok_or_else(|| ThresholdError::Throughput(value.to_owned()))?,
        };
        Ok(Threshold {
            text: compact,
            figure,
            op,
            limit,
        })
    }
}

fn figure(name: &str) -> Option<Figure> {
    match name {
        "rps" => return Some(Figure::Throughput(None)),
        "errors" => return Some(Figure::Errors(None)),
        _ => {}
    }
    let (kind, stat) = name.split_once('.')?;
    let kind = Kind::from_name(kind)?;
    Some(match stat {
        "p50" => Figure::Latency(kind, Stat::P50),
        "p90" => Figure::Latency(kind, Stat::P90),
        "p99" => Figure::Latency(kind, Stat::P99),
        "p99.9" => Figure::Latency(kind, Stat::P99_9),
        "max" => Figure::Latency(kind, Stat::Max),
        "mean" => Figure::Latency(kind, Stat::Mean),
        "rps" => Figure::Throughput(Some(kind)),
        "errors" => Figure::Errors(Some(kind)),
        _ => return None,
    })
}

fn number(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn latency_ms(text: &str) -> Option<f64> {
    let units = [("ms", 1.0), ("us", 0.001), ("µs", 0.001), ("s", 1000.0)];
    units
        .into_iter()
        .find_map(|(unit, scale)| Some(number(text.strip_suffix(unit)?)? * scale))
}

fn rate(text: &str) -> Option<f64> {
    match text.strip_suffix('%') {
        Some(percent) => number(percent).map(|p| p / 100.0),
        None => number(text).filter(|fraction| *fraction <= 1.0),
    }
}

/// How one threshold fared.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The threshold as given (without spaces).
    pub threshold: String,
    pub passed: bool,
    /// The measured figure in the threshold's unit, or why there is none.
    pub actual: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "met" } else { "BROKEN" };
        write!(f, "{verdict} {}: {}", self.threshold, self.actual)
    }
}

impl Threshold {
    /// Judges the threshold against a phase's figures.
    pub fn judge(&self, run: &PhaseSummary) -> Verdict {
        let measured = self.measure(run);
        let (passed, actual) = match measured {
            Ok(actual) => (self.op.holds(actual, self.limit), self.show(actual)),
            Err(why) => (false, why),
        };
        Verdict {
            threshold: self.text.clone(),
            passed,
            actual,
        }
    }

    fn measure(&self, run: &PhaseSummary) -> Result<f64, String> {
        let kind_of = |kind: Kind| {
            run.kinds
                .get(&kind)
                .filter(|k| k.count > 0)
                .ok_or_else(|| format!("no {} request was measured", kind.name()))
        };
        match self.figure {
            Figure::Latency(kind, stat) => {
                let l = &kind_of(kind)?.latency_ms;
                Ok(match stat {
                    Stat::P50 => l.p50,
                    Stat::P90 => l.p90,
                    Stat::P99 => l.p99,
                    Stat::P99_9 => l.p99_9,
                    Stat::Max => l.max,
                    Stat::Mean => l.mean,
                })
            }
            Figure::Throughput(None) => Ok(run.throughput_rps),
            Figure::Throughput(Some(kind)) => {
                let count = run.kinds.get(&kind).map_or(0, |k| k.count);
                if run.elapsed_secs > 0.0 {
                    Ok(count as f64 / run.elapsed_secs)
                } else {
                    Err("the run measured no time".to_owned())
                }
            }
            Figure::Errors(None) => {
                let errors: u64 = run.kinds.values().map(|k| k.errors).sum();
                if run.requests == 0 {
                    return Err("no request was measured".to_owned());
                }
                Ok(errors as f64 / run.requests as f64)
            }
            Figure::Errors(Some(kind)) => {
                let k = kind_of(kind)?;
                Ok(k.errors as f64 / k.count as f64)
            }
        }
    }

    fn show(&self, actual: f64) -> String {
        match self.figure {
            Figure::Latency(..) => format!("{actual:.2} ms"),
            Figure::Throughput(_) => format!("{actual:.1} requests/s"),
            Figure::Errors(_) => format!("{:.3}%", actual * 100.0),
        }
    }
}

/// Judges every threshold.
pub fn judge_all(thresholds: &[Threshold], run: &PhaseSummary) -> Vec<Verdict> {
    thresholds.iter().map(|t| t.judge(run)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Answer, Recorder};
    use std::time::{Duration, Instant};

    /// 100 reservations of 1..=100 ms, one of them a 500, over 2 s.
    fn run() -> PhaseSummary {
        let recorder = Recorder::new();
        let t0 = Instant::now();
        for ms in 1..=100u64 {
            let answer = if ms == 100 {
                Answer::Status(500)
            } else {
                Answer::Status(201)
            };
            recorder.record(Kind::Reserve, answer, t0, t0 + Duration::from_millis(ms));
        }
        recorder.summary(Duration::from_secs(2))
    }

    #[test]
    fn thresholds_are_judged_against_the_figure_they_name() {
        let cases = [
            ("reserve.p99<50ms", false, "p99 is 99 ms"),
            ("reserve.p99 < 0.2s", true, "units convert"),
            (
                "reserve.p50<=51ms",
                true,
                "p50 is 50 ms (to 3 significant digits)",
            ),
            ("reserve.max>=100000us", true, "max is 100 ms"),
            ("rps>=50", true, "100 requests in 2 s"),
            ("reserve.rps>50", false, "exactly 50/s is not more"),
            ("errors<1%", false, "one 500 in 100 is 1%"),
            ("reserve.errors<=0.01", true, "a fraction works too"),
            ("pay.p99<1s", false, "no payment was measured"),
        ];
        let run = run();
        for (text, passed, why) in cases {
            let threshold: Threshold = text.parse().expect(why);
            let verdict = threshold.judge(&run);
            assert_eq!(verdict.passed, passed, "{text}: {why} ({})", verdict.actual);
        }
    }

    #[test]
    fn a_threshold_that_says_nothing_measurable_is_refused_with_its_reason() {
        let cases = [
            (
                "reserve.p99",
                ThresholdError::NoComparison("reserve.p99".into()),
            ),
            (
                "reserve.p42<1ms",
                ThresholdError::Figure("reserve.p42".into()),
            ),
            ("p99<1ms", ThresholdError::Figure("p99".into())),
            ("buy.p99<1ms", ThresholdError::Figure("buy.p99".into())),
            ("reserve.p99<50", ThresholdError::Latency("50".into())),
            ("errors<5", ThresholdError::Rate("5".into())),
            ("rps>fast", ThresholdError::Throughput("fast".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Threshold>(), Err(expected), "{text}");
        }
    }
}
