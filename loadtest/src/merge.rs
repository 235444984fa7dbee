//! `ticketing loadtest merge LOG...`: combines the interval logs (`--hdr-log`) of several
//! load generators into one summary, one HTML report, one CSV, one interval log, and
//! judges thresholds against the combined figures.
//!
//! Intervals line up by wall-clock time (each log's BaseTime plus the interval's start),
//! so the generators' clocks should agree (NTP) to well within an interval. Histograms of
//! the same interval, kind and answer add up. Uses `hdrlog`, `stats`, `timeline`,
//! `threshold`, `html` and `report`; no HTTP.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::Serialize;

use super::html::Page;
use super::stats::{PhaseSummary, Totals};
use super::threshold::{Verdict, judge_all};
use super::timeline::{Timeline, TimelineBuilder};
use super::{EXIT_THRESHOLD_BROKEN, fatal, hdrlog, report, write_outputs};
use crate::args::MergeArgs;

/// The combined runs.
#[derive(Serialize)]
pub struct Merged {
    /// Each log and the `#ticketing` lines that describe its run.
    pub sources: Vec<Source>,
    /// From the first interval's start to the last one's end, over every log.
    pub run: PhaseSummary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Verdict>,
    #[serde(skip)]
    pub started: SystemTime,
    #[serde(skip)]
    pub timeline: Timeline,
    #[serde(skip)]
    pub totals: Totals,
}

/// One merged log.
#[derive(Serialize)]
pub struct Source {
    pub file: PathBuf,
    pub about: Vec<String>,
    pub intervals: usize,
}

/// Reads and merges `args.logs`.
pub fn merge(args: &MergeArgs) -> anyhow::Result<Merged> {
    let mut logs = Vec::new();
    for file in &args.logs {
        let text =
            std::fs::read(file).with_context(|| format!("Failed to read {}", file.display()))?;
        let log =
            hdrlog::read(&text).with_context(|| format!("Failed to read {}", file.display()))?;
        logs.push((file.clone(), log));
    }
    let intervals = || logs.iter().flat_map(|(_, log)| log.intervals.iter());
    let origin = intervals()
        .map(|i| i.start)
        .min()
        .context("The logs hold no interval")?;
    let end = intervals()
        .map(|i| i.start + i.length)
        .max()
        .unwrap_or(origin);
    // No finer than the coarsest log: an interval cannot be split.
    let interval = intervals()
        .map(|i| i.length)
        .fold(args.outputs.interval, Duration::max)
        .max(Duration::from_millis(1));

    let mut totals = Totals::new();
    // The builder counts from an Instant; only differences matter, so any will do.
    let mut timeline = TimelineBuilder::new(std::time::Instant::now(), interval);
    // In time order across all logs, so the builder can close intervals as it goes.
    let mut in_order: Vec<_> = intervals().collect();
    in_order.sort_by_key(|i| i.start);
    for i in in_order {
        let index =
            u64::try_from((i.start - origin).as_nanos() / interval.as_nanos()).unwrap_or(u64::MAX);
        timeline.add(index, i.kind, i.answer, &i.latency);
        totals.entry(i.kind).or_default().add(i.answer, &i.latency);
    }
    let run = PhaseSummary::of(&totals, end - origin, 0);
    let thresholds = judge_all(&args.outputs.thresholds, &run);
    let sources = logs
        .into_iter()
        .map(|(file, log)| Source {
            file,
            about: log.about,
            intervals: log.intervals.len(),
        })
        .collect();
    Ok(Merged {
        sources,
        run,
        thresholds,
        started: SystemTime::UNIX_EPOCH + origin,
        timeline: timeline.finish(),
        totals,
    })
}

impl Merged {
    /// The human summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ticketing loadtest merge: {} logs", self.sources.len());
        for source in &self.sources {
            let _ = writeln!(
                out,
                "  {} ({} intervals): {}",
                source.file.display(),
                source.intervals,
                source.about.join("; ")
            );
        }
        out.push('\n');
        report::phase(&mut out, "run", &self.run);
        if !self.thresholds.is_empty() {
            let broken = self.thresholds.iter().filter(|v| !v.passed).count();
            let _ = writeln!(
                out,
                "thresholds: {broken} of {} broken",
                self.thresholds.len()
            );
            for verdict in &self.thresholds {
                let _ = writeln!(out, "  {verdict}");
            }
        }
        out
    }

    fn page(&self) -> Page<'_> {
        Page {
            title: format!("ticketing loadtest: {} runs merged", self.sources.len()),
            settings: self
                .sources
                .iter()
                .map(|s| (s.file.display().to_string(), s.about.join("; ")))
                .collect(),
            verdicts: self
                .thresholds
                .iter()
                .map(|v| (v.passed, v.to_string()))
                .collect(),
            summary: self.render(),
            timeline: &self.timeline,
            totals: &self.totals,
        }
    }
}

/// The `merge` subcommand: prints the summary (JSON with `--json`), writes the outputs,
/// and exits 0, `EXIT_THRESHOLD_BROKEN`, or `EXIT_FATAL` when the logs cannot be merged.
pub fn main(args: MergeArgs) -> ExitCode {
    let merged = match merge(&args) {
        Ok(merged) => merged,
        Err(error) => return fatal(error),
    };
    let about = vec![format!("merge of {} logs", merged.sources.len())];
    if let Err(error) = write_outputs(
        &args.outputs,
        &merged.timeline,
        merged.started,
        &about,
        || merged.page().render(),
    ) {
        return fatal(error);
    }
    let text = if args.json {
        match serde_json::to_string_pretty(&merged) {
            Ok(json) => json + "\n",
            Err(error) => return fatal(anyhow::Error::new(error).context("Failed to write JSON")),
        }
    } else {
        merged.render()
    };
    print!("{text}");
    if merged.thresholds.iter().any(|v| !v.passed) {
        ExitCode::from(EXIT_THRESHOLD_BROKEN)
    } else {
        ExitCode::SUCCESS
    }
}
