//! The load test's report: what was run, each phase's numbers, and the audit's verdict, as
//! one serialisable value (`--json`) or a human summary.
//!
//! Formatting only; uses `stats` and `audit` types and serde.

use std::fmt::Write as _;

use serde::Serialize;

use super::audit::{Findings, Tally};
use super::stats::PhaseSummary;
use crate::config::Scenario;

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub url: String,
    pub load: Load,
    /// Signups and the tickets listed before the run.
    pub setup: PhaseSummary,
    /// The scenario itself; its throughput is the headline number.
    pub run: RunSummary,
    pub audit: AuditSummary,
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
    /// Whether the audit found nothing wrong (the exit code follows it).
    pub fn passed(&self) -> bool {
        self.audit.findings.passed
    }

    /// The human summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = &self.load;
        let pace = match load.rate_rps {
            Some(rate) => format!(
                "open loop at {rate} requests/s, at most {} in flight",
                load.concurrency
            ),
            None => format!("closed loop, {} in flight", load.concurrency),
        };
        let _ = writeln!(
            out,
            "ticketing loadtest: {} on {}",
            scenario_name(self.scenario),
            self.url
        );
        let _ = writeln!(
            out,
            "load: {} users, {} tickets; {pace}; {} thread{}",
            load.users,
            load.tickets,
            load.threads,
            if load.threads == 1 { "" } else { "s" }
        );
        out.push('\n');
        phase(&mut out, "setup", &self.setup);
        phase(&mut out, "run", &self.run.phase);
        if let Some(lag) = self.run.max_send_lag_ms {
            let _ = writeln!(out, "  latest send after its intended time: {lag:.2} ms");
        }
        phase(&mut out, "audit reads", &self.audit.requests);
        out.push('\n');
        audit(&mut out, &self.audit.findings);
        out
    }
}

fn scenario_name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Race => "race",
        Scenario::Marketplace => "marketplace",
    }
}

fn phase(out: &mut String, name: &str, phase: &PhaseSummary) {
    let _ = writeln!(
        out,
        "{name}: {} requests in {:.2} s, {:.1} requests/s",
        phase.requests, phase.elapsed_secs, phase.throughput_rps
    );
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
