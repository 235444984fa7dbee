//! The report's charts as SVG, drawn by plotters: answers per second by status over time,
//! latency percentiles over time for one kind of request, and the latency percentile
//! spectrum of every kind.
//!
//! Each function answers one self-contained `<svg>` element (text as SVG text, no fonts
//! or scripts needed). Uses plotters, `stats` and `timeline` only.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::stats::{Answer, Kind};
use super::timeline::Timeline;

/// Why a chart could not be drawn (plotters' own error, as text).
#[derive(Debug, thiserror::Error)]
#[error("failed to draw the {chart} chart: {reason}")]
pub struct ChartError {
    chart: &'static str,
    reason: String,
}

const SIZE: (u32, u32) = (960, 360);

/// Distinct colours for up to ten series, then again from the start.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// A named line.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// Draws `series` on one chart with linear axes from zero; `x_label` formats the x axis'
/// values. (A log y axis was tried: plotters labels it with one or two values only, which
/// makes the latencies hard to read off.)
fn draw(
    chart: &'static str,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[Series],
    (x_labels, x_label): (usize, &dyn Fn(&f64) -> String),
) -> Result<String, ChartError> {
    let fail = |reason: String| ChartError { chart, reason };
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_max = points().map(|p| p.0).fold(0.0_f64, f64::max).max(1e-3);
    let x_min = points().map(|p| p.0).fold(x_max, f64::min).min(0.0);
    let y_max = points().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(70);
        let mut chart = builder
            .build_cartesian_2d(x_min..x_max, 0.0..y_max * 1.1)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(x_labels)
            .x_label_formatter(x_label)
            .y_label_formatter(&|y| trim(*y, 2))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}

fn seconds(x: &f64) -> String {
    trim(*x, 3)
}

/// Answers per second over time: all of them, and one line per status ("409", "error").
pub fn throughput(timeline: &Timeline) -> Result<String, ChartError> {
    let per_sec = 1.0 / timeline.interval.as_secs_f64();
    let mut all: BTreeMap<u64, u64> = BTreeMap::new();
    let mut by_answer: BTreeMap<Answer, BTreeMap<u64, u64>> = BTreeMap::new();
    for row in &timeline.rows {
        *all.entry(row.index).or_default() += row.count;
        for (answer, n) in &row.answers {
            *by_answer
                .entry(*answer)
                .or_default()
                .entry(row.index)
                .or_default() += n;
        }
    }
    let line = |counts: &BTreeMap<u64, u64>| -> Vec<(f64, f64)> {
        // Every interval from first to last, so a quiet one shows as zero, not a gap.
        let (Some(first), Some(last)) = (all.keys().next(), all.keys().last()) else {
            return Vec::new();
        };
        (*first..=*last)
            .map(|i| {
                let n = counts.get(&i).copied().unwrap_or(0);
                (timeline.secs(i), n as f64 * per_sec)
            })
            .collect()
    };
    let mut series = vec![Series {
        name: "all answers".to_owned(),
        points: line(&all),
    }];
    series.extend(by_answer.iter().map(|(answer, counts)| Series {
        name: answer.key(),
        points: line(counts),
    }));
    draw(
        "throughput",
        "Answers per second, by status",
        ("seconds into the run", "answers / s"),
        &series,
        (10, &seconds),
    )
}

/// One kind's latency percentiles per interval.
pub fn latency_over_time(timeline: &Timeline, kind: Kind) -> Result<String, ChartError> {
    let rows: Vec<_> = timeline
        .rows
        .iter()
        .filter(|r| r.kind == kind && r.count > 0)
        .collect();
    let line = |name: &str, pick: fn(&super::timeline::Row) -> f64| Series {
        name: name.to_owned(),
        points: rows
            .iter()
            .map(|r| (timeline.secs(r.index), pick(r)))
            .collect(),
    };
    let series = [
        line("p50", |r| r.p50_ms),
        line("p90", |r| r.p90_ms),
        line("p99", |r| r.p99_ms),
        line("max", |r| r.max_ms),
    ];
    draw(
        "latency over time",
        &format!("{}: latency per interval", kind.label()),
        ("seconds into the run", "ms"),
        &series,
        (10, &seconds),
    )
}

/// The percentile spectrum of each kind (HdrHistogram's plot): latency against the
/// percentile, the x axis stretched so 90%, 99%, 99.9%... are evenly spaced.
pub fn spectrum(kinds: &[(Kind, Vec<(f64, f64)>)]) -> Result<String, ChartError> {
    // x = the number of nines: 90% -> 1, 99% -> 2. The maximum (100%) has infinitely many;
    // it is drawn at the whole number of nines just past the highest percentile measured.
    let nines = |percentile: f64| -(1.0 - percentile / 100.0).log10();
    let measured = kinds
        .iter()
        .flat_map(|(_, points)| points.iter())
        .filter(|(p, _)| *p < 100.0)
        .map(|(p, _)| nines(*p))
        .fold(1.0_f64, f64::max);
    let top = (measured + 0.01).ceil();
    let series: Vec<Series> = kinds
        .iter()
        .map(|(kind, points)| Series {
            name: kind.label().to_owned(),
            points: points
                .iter()
                .map(|(p, ms)| (if *p < 100.0 { nines(*p) } else { top }, *ms))
                .collect(),
        })
        .collect();
    draw(
        "spectrum",
        "Latency by percentile",
        ("percentile", "ms"),
        &series,
        // One label per nine, so each falls on 90%, 99%, 99.9%...
        (top as usize + 1, &|x: &f64| {
            format!("{}%", trim(100.0 * (1.0 - 10f64.powf(-x)), 4))
        }),
    )
}

/// A number with at most `decimals` decimals and no trailing zeros: 99.9, 90, 0.
fn trim(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::TimelineBuilder;
    use std::time::{Duration, Instant};

    fn timeline() -> Timeline {
        let t0 = Instant::now();
        let mut builder = TimelineBuilder::new(t0, Duration::from_secs(1));
        for ms in 0..3000u64 {
            let answer = if ms % 3 == 0 {
                Answer::Status(201)
            } else {
                Answer::Status(409)
            };
            builder.record(
                Kind::Reserve,
                answer,
                t0 + Duration::from_millis(ms),
                500 + ms,
            );
        }
        builder.finish()
    }

    #[test]
    fn every_chart_is_one_svg_with_its_series_named() {
        let timeline = timeline();
        let throughput = throughput(&timeline).expect("draws");
        let latency = latency_over_time(&timeline, Kind::Reserve).expect("draws");
        let spectrum = spectrum(&[(
            Kind::Reserve,
            vec![(0.0, 0.5), (90.0, 2.0), (99.0, 3.0), (100.0, 3.5)],
        )])
        .expect("draws");
        for (svg, names) in [
            (&throughput, &["all answers", "201", "409"][..]),
            (&latency, &["p50", "p99", "max"][..]),
            (&spectrum, &["reserve", "99%"][..]),
        ] {
            assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
            assert_eq!(svg.matches("</svg>").count(), 1);
            for name in names {
                // plotters writes each text on a line of its own.
                assert!(
                    svg.contains(&format!("\n{name}\n</text>")),
                    "{name} in the chart"
                );
            }
        }
    }

    #[test]
    fn percentages_print_without_trailing_zeros() {
        assert_eq!(trim(99.9, 4), "99.9");
        assert_eq!(trim(90.0, 4), "90");
        assert_eq!(trim(0.0, 3), "0");
        assert_eq!(trim(1500.0, 0), "1500");
    }
}
