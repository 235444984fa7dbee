//! The HTML report (`--report`, and `merge --report`): one self-contained page with the
//! verdicts, the settings, the text summary and the charts inline as SVG, so it opens
//! without a network and can be attached to a CI job as one file.
//!
//! Layout and escaping only; the charts come from `charts`.

use std::fmt::Write as _;

use super::charts::{self, ChartError};
use super::stats::{Totals, spectrum};
use super::timeline::Timeline;

/// What one report page shows.
pub struct Page<'a> {
    pub title: String,
    /// (name, value) rows of the settings table.
    pub settings: Vec<(String, String)>,
    /// (passed, line): the audit's and each threshold's verdict.
    pub verdicts: Vec<(bool, String)>,
    /// The human summary, shown as is.
    pub summary: String,
    pub timeline: &'a Timeline,
    pub totals: &'a Totals,
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1000px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse}td,th{padding:.2em .8em;border:1px solid #ddd;text-align:left}\
.passed{color:#176117}.failed{color:#b00020;font-weight:bold}\
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.85em}figure{margin:1em 0}";

impl Page<'_> {
    /// The whole page.
    pub fn render(&self) -> Result<String, ChartError> {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        out.push_str("<h2 id=\"verdicts\">Verdicts</h2>\n<ul>\n");
        for (passed, line) in &self.verdicts {
            let class = if *passed { "passed" } else { "failed" };
            let _ = writeln!(out, "<li class=\"{class}\">{}</li>", escape(line));
        }
        out.push_str("</ul>\n<h2 id=\"settings\">Settings</h2>\n<table>\n");
        for (name, value) in &self.settings {
            let _ = writeln!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                escape(value)
            );
        }
        out.push_str("</table>\n<h2 id=\"summary\">Summary</h2>\n");
        let _ = writeln!(out, "<pre>{}</pre>", escape(&self.summary));

        out.push_str("<h2 id=\"throughput\">Throughput</h2>\n");
        figure(&mut out, "throughput", &charts::throughput(self.timeline)?);
        out.push_str("<h2 id=\"latency-over-time\">Latency over time</h2>\n");
        for kind in self.totals.keys() {
            let svg = charts::latency_over_time(self.timeline, *kind)?;
            figure(&mut out, &format!("latency-{}", kind.name()), &svg);
        }
        out.push_str("<h2 id=\"spectrum\">Latency by percentile</h2>\n");
        let spectra: Vec<_> = self
            .totals
            .iter()
            .map(|(kind, stats)| (*kind, spectrum(&stats.latency)))
            .collect();
        figure(&mut out, "spectrum", &charts::spectrum(&spectra)?);
        out.push_str("</body>\n</html>\n");
        Ok(out)
    }
}

fn figure(out: &mut String, id: &str, svg: &str) {
    let _ = writeln!(out, "<figure id=\"chart-{id}\">\n{svg}\n</figure>");
}

/// Text made safe for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("p99<50ms & \"x\""),
            "p99&lt;50ms &amp; &quot;x&quot;"
        );
    }
}
