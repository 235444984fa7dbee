//! The progress bar on stderr: one bar per phase, hidden with --json or when stderr is not a
//! terminal, so pipes and CI logs get only the report.
//!
//! Uses indicatif only.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Makes the bars of a run, or hidden bars.
#[derive(Clone, Copy)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Visible only when asked for and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        Progress {
            visible: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// A bar towards a known number of requests.
    pub fn counting(&self, phase: &str, total: u64) -> ProgressBar {
        self.bar(
            ProgressBar::new(total),
            "{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} {elapsed}",
            phase,
        )
    }

    /// A counter of requests over a fixed time.
    pub fn timed(&self, phase: &str, duration: Duration) -> ProgressBar {
        let bar = self.bar(
            ProgressBar::no_length(),
            "{prefix:>8} {spinner} {pos} requests, {per_sec}, {elapsed} of {msg}",
            phase,
        );
        bar.set_message(format!("{duration:?}"));
        bar
    }

    /// A spinner for a phase of unknown length (the audit's reads).
    pub fn spinner(&self, phase: &str) -> ProgressBar {
        self.bar(
            ProgressBar::no_length(),
            "{prefix:>8} {spinner} reading back, {elapsed}",
            phase,
        )
    }

    fn bar(&self, bar: ProgressBar, template: &str, phase: &str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        // The templates are constants; should one not parse, the default style still works.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(phase.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}
