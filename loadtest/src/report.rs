//! The load test's report: what was run, each phase's numbers, the on-sale's figures, the
//! thresholds' and the audit's verdicts, as one serialisable value (`--json`), a human
//! summary, or (through `html`) the HTML report; and the exit code they make.
//!
//! Formatting only; uses `stats`, `audit`, `onsale`, `threshold` and `html` types and serde.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use super::audit::{Findings, Tally};
use super::charts::ChartError;
use super::html::Page;
use super::onsale::OnSaleSummary;
use super::stats::{PhaseSummary, Totals};
use super::threshold::Verdict;
use super::timeline::Timeline;
use super::{EXIT_AUDIT_FAILED, EXIT_THRESHOLD_BROKEN};
use crate::args::Scenario;

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub url: String,
    pub versions: Versions,
    pub load: Load,
    /// Signups and the tickets listed before the run.
    pub setup: PhaseSummary,
    /// The scenario itself; its throughput is the headline number.
    pub run: RunSummary,
    /// The on-sale's own figures (onsale only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onsale: Option<OnSaleSummary>,
    /// Each --threshold and whether the run met it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Verdict>,
    pub audit: AuditSummary,
    /// The run over time and its whole histograms, for the charts, CSV and interval log.
    #[serde(skip)]
    pub detail: Detail,
}

/// Which builds met: the load tester's, and the shop's as its GET /healthz tells it.
#[derive(Clone, Debug, Serialize)]
pub struct Versions {
    pub loadtest: &'static str,
    /// `None` when the shop does not say.
    pub shop: Option<String>,
}

/// The run phase in full, beyond its summary.
#[derive(Clone, Debug)]
pub struct Detail {
    /// When the run phase began (the interval log's base time).
    pub started: SystemTime,
    pub timeline: Timeline,
    pub totals: Totals,
}

impl Default for Detail {
    fn default() -> Self {
        Detail {
            started: SystemTime::UNIX_EPOCH,
            timeline: Timeline::default(),
            totals: Totals::new(),
        }
    }
}

/// The shape of the load.
#[derive(Clone, Debug, Serialize)]
pub struct Load {
    /// "closed" (workers wait for answers) or "open" (fixed send times).
    pub mode: &'static str,
    pub concurrency: u64,
    pub rate_rps: Option<f64>,
    pub threads: u64,
    pub users: u64,
    pub tickets: u64,
    /// What was asked for: a duration or a number of requests (marketplace only).
    pub planned_secs: Option<f64>,
    pub planned_requests: Option<u64>,
    /// Seconds at the start of the run left out of the figures.
    pub warmup_secs: Option<f64>,
    /// The length of one interval of the timeline, in seconds.
    pub interval_secs: f64,
    /// Onsale: the buyers and the seconds over which they arrive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_secs: Option<f64>,
}

/// The run phase, plus how well an open loop kept to its schedule.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub phase: PhaseSummary,
    /// Open loop only: the most any request went out after its intended send time. Large
    /// values mean the load generator (or the in-flight cap) could not keep the rate.
    pub max_send_lag_ms: Option<f64>,
}

/// The audit's verdict, plus the numbers of its own reads.
#[derive(Clone, Debug, Serialize)]
pub struct AuditSummary {
    #[serde(flatten)]
    pub findings: Findings,
    /// The audit's own reads.
    pub requests: PhaseSummary,
}

/// Violations the human summary lists; the JSON report has them all.
const SHOWN_VIOLATIONS: usize = 20;

impl Report {
    /// Whether the audit found nothing wrong.
    pub fn passed(&self) -> bool {
        self.audit.findings.passed
    }

    /// The thresholds the run broke.
    pub fn broken(&self) -> impl Iterator<Item = &Verdict> {
        self.thresholds.iter().filter(|v| !v.passed)
    }

    /// 0 when the audit passed and every threshold was met; `EXIT_AUDIT_FAILED` when the
    /// audit failed (whatever the thresholds); `EXIT_THRESHOLD_BROKEN` when only a threshold
    /// was broken.
    pub fn exit_code(&self) -> u8 {
        if !self.passed() {
            EXIT_AUDIT_FAILED
        } else if self.broken().next().is_some() {
            EXIT_THRESHOLD_BROKEN
        } else {
            0
        }
    }

    /// The human summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = &self.load;
        let _ = writeln!(
            out,
            "ticketing loadtest {}: {} on {} (shop version {})",
            self.versions.loadtest,
            scenario_name(self.scenario),
            self.url,
            self.versions.shop.as_deref().unwrap_or("not told")
        );
        let _ = writeln!(out, "load: {}", describe_load(load));
        out.push('\n');
        phase(&mut out, "setup", &self.setup);
        phase(&mut out, "run", &self.run.phase);
        if let Some(lag) = self.run.max_send_lag_ms {
            let _ = writeln!(out, "  latest send after its intended time: {lag:.2} ms");
        }
        phase(&mut out, "audit reads", &self.audit.requests);
        if let Some(sale) = &self.onsale {
            out.push('\n');
            onsale(&mut out, sale);
        }
        too_many_requests(
            &mut out,
            [&self.setup, &self.run.phase, &self.audit.requests],
        );
        out.push('\n');
        audit(&mut out, &self.audit.findings);
        thresholds(&mut out, &self.thresholds);
        out
    }

    /// The HTML report: settings, verdicts, the summary and the charts.
    pub fn html(&self) -> Result<String, ChartError> {
        let load = &self.load;
        let mut settings = vec![
            (
                "scenario".to_owned(),
                scenario_name(self.scenario).to_owned(),
            ),
            ("shop".to_owned(), self.url.clone()),
            (
                "shop version".to_owned(),
                self.versions
                    .shop
                    .clone()
                    .unwrap_or_else(|| "not told".to_owned()),
            ),
            (
                "load tester version".to_owned(),
                self.versions.loadtest.to_owned(),
            ),
            ("load".to_owned(), describe_load(load)),
            ("interval".to_owned(), format!("{} s", load.interval_secs)),
        ];
        if let Some(warmup) = load.warmup_secs {
            settings.push((
                "warm-up".to_owned(),
                format!(
                    "{warmup} s ({} requests left out)",
                    self.run.phase.warmup_requests
                ),
            ));
        }
        let mut verdicts = vec![(
            self.passed(),
            format!(
                "audit {}: {} violations",
                if self.passed() { "passed" } else { "FAILED" },
                self.audit.findings.violations.len()
            ),
        )];
        verdicts.extend(self.thresholds.iter().map(|v| (v.passed, v.to_string())));
        Page {
            title: format!("ticketing loadtest: {}", scenario_name(self.scenario)),
            settings,
            verdicts,
            summary: self.render(),
            timeline: &self.detail.timeline,
            totals: &self.detail.totals,
        }
        .render()
    }
}

/// The shape of the load, in one line.
fn describe_load(load: &Load) -> String {
    let pace = match (load.buyers, load.rate_rps) {
        (Some(buyers), _) => format!(
            "{buyers} buyers arriving over {} s, at most {} shopping at once",
            load.ramp_secs.unwrap_or(0.0),
            load.concurrency
        ),
        (None, Some(rate)) => format!(
            "open loop at {rate} requests/s, at most {} in flight",
            load.concurrency
        ),
        (None, None) => format!("closed loop, {} in flight", load.concurrency),
    };
    format!(
        "{} users, {} tickets; {pace}; {} thread{}",
        load.users,
        load.tickets,
        load.threads,
        if load.threads == 1 { "" } else { "s" }
    )
}

/// The scenario as the command line names it.
pub fn scenario_name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Race => "race",
        Scenario::Marketplace => "marketplace",
        Scenario::Onsale => "onsale",
    }
}

/// Says loudly when the shop's rate limits answered: those figures measure the limits.
fn too_many_requests<'a>(out: &mut String, phases: impl IntoIterator<Item = &'a PhaseSummary>) {
    let limited: u64 = phases.into_iter().map(|p| p.count_of(429)).sum();
    if limited > 0 {
        let _ = writeln!(
            out,
            "\n{limited} answers were 429 Too Many Requests: the shop's rate limits refused them. \
             Load a private shop started with --limits off (TICKETING_LIMITS=off)."
        );
    }
}

fn onsale(out: &mut String, s: &OnSaleSummary) {
    let _ = writeln!(
        out,
        "on-sale: {} buyers for {} tickets; {} served ({:.1}%), {} paid; {} found it sold out, {} gave up",
        s.buyers,
        s.tickets,
        s.served,
        s.served_share * 100.0,
        s.paid,
        s.sold_out_to,
        s.gave_up
    );
    match (s.sold_out, s.last_hold_secs) {
        (true, Some(secs)) => {
            let _ = writeln!(out, "  sold out {secs:.3} s after the first buyer arrived");
        }
        (_, Some(secs)) => {
            let _ = writeln!(
                out,
                "  NOT sold out: {} of {} tickets held, the last {secs:.3} s after the first buyer arrived",
                s.served, s.tickets
            );
        }
        (_, None) => {
            let _ = writeln!(out, "  no ticket was held");
        }
    }
    let _ = writeln!(
        out,
        "  holds per second at peak (busiest 100 ms): {:.0}",
        s.peak_holds_per_sec
    );
    let ms = |p: &super::stats::Percentiles| {
        format!(
            "p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2} ms",
            p.p50, p.p90, p.p99, p.max
        )
    };
    let _ = writeln!(
        out,
        "  a hold (reservation answered 201): {}",
        ms(&s.hold_latency_ms)
    );
    let _ = writeln!(out, "  arrival to hold: {}", ms(&s.time_to_hold_ms));
}

fn thresholds(out: &mut String, verdicts: &[Verdict]) {
    if verdicts.is_empty() {
        return;
    }
    let broken = verdicts.iter().filter(|v| !v.passed).count();
    let _ = writeln!(out, "thresholds: {broken} of {} broken", verdicts.len());
    for verdict in verdicts {
        let _ = writeln!(out, "  {verdict}");
    }
}

/// One phase's lines of the summary.
pub fn phase(out: &mut String, name: &str, phase: &PhaseSummary) {
    let _ = writeln!(
        out,
        "{name}: {} requests in {:.2} s, {:.1} requests/s",
        phase.requests, phase.elapsed_secs, phase.throughput_rps
    );
    if phase.warmup_requests > 0 {
        let _ = writeln!(
            out,
            "  (after a warm-up of {} requests, left out of these figures)",
            phase.warmup_requests
        );
    }
    if phase.kinds.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}  answers",
        "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    for (kind, k) in &phase.kinds {
        let l = &k.latency_ms;
        let answers: Vec<String> = k
            .statuses
            .iter()
            .map(|(status, n)| format!("{status}×{n}"))
            .collect();
        let _ = writeln!(
            out,
            "  {:<14} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            kind.label(),
            k.count,
            l.p50,
            l.p90,
            l.p99,
            l.p99_9,
            l.max,
            answers.join(" ")
        );
    }
}

fn audit(out: &mut String, f: &Findings) {
    let verdict = if f.passed { "PASSED" } else { "FAILED" };
    let _ = writeln!(
        out,
        "audit {verdict}: {} users' orders read ({} orders, {} live), {} tickets checked",
        f.users_read, f.orders_read, f.live_orders, f.tickets_checked
    );
    let tally = |t: Tally| format!("{}/{}", t.ok, t.of);
    let _ = writeln!(
        out,
        "  orders acknowledged and present {}, paid and complete {}, cancelled and cancelled {}",
        tally(f.reserved_present),
        tally(f.paid_complete),
        tally(f.cancelled_cancelled)
    );
    if let Some(race) = f.race_won_once {
        let _ = writeln!(
            out,
            "  race: {} tickets won by exactly one buyer",
            tally(race)
        );
    }
    if f.passed {
        let _ = writeln!(
            out,
            "  no ticket held or sold twice; every held ticket names its one live order"
        );
        return;
    }
    let _ = writeln!(out, "  {} violations:", f.violations.len());
    for violation in f.violations.iter().take(SHOWN_VIOLATIONS) {
        let _ = writeln!(out, "  - {violation}");
    }
    if f.violations.len() > SHOWN_VIOLATIONS {
        let _ = writeln!(
            out,
            "  ... and {} more (--json lists them all)",
            f.violations.len() - SHOWN_VIOLATIONS
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Answer, Kind, Recorder};
    use std::time::{Duration, Instant};

    fn phase_with(answers: &[Answer]) -> PhaseSummary {
        let recorder = Recorder::new();
        let t0 = Instant::now();
        for answer in answers {
            recorder.record(Kind::Signup, *answer, t0, t0 + Duration::from_millis(1));
        }
        recorder.summary(Duration::from_secs(1))
    }

    #[test]
    fn answers_of_429_are_called_out_with_the_way_to_lift_the_limits() {
        let limited = phase_with(&[
            Answer::Status(201),
            Answer::Status(429),
            Answer::Status(429),
        ]);
        let calm = phase_with(&[Answer::Status(201)]);
        let mut out = String::new();
        too_many_requests(&mut out, [&calm, &limited]);
        assert!(out.contains("2 answers were 429"), "{out}");
        assert!(out.contains("--limits off"), "{out}");
        let mut quiet = String::new();
        too_many_requests(&mut quiet, [&calm]);
        assert!(quiet.is_empty(), "nothing to say without a 429: {quiet}");
    }
}
