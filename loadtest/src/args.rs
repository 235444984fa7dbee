//! The load tester's flags (`ticketing loadtest ...`). The server's binary embeds them as
//! its `loadtest` subcommand; they have no environment variables, because a shell script
//! names them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// What `ticketing loadtest` does. The load tester is an HTTP client of a running shop, so
/// these flags have no environment variables: a shell script names them.
#[derive(Args, Clone, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct LoadtestArgs {
    /// `merge`: combine interval logs of several load generators into one report.
    #[command(subcommand)]
    pub command: Option<LoadtestCommand>,

    /// Base URL of the shop to load, e.g. http://127.0.0.1:3000 or https://shop.example
    /// (HTTPS through rustls, checked against the system's roots and --cacert).
    #[arg(long, required = true)]
    pub url: Option<reqwest::Url>,

    /// What the users do: `race` (every buyer orders the same ticket at once, for each
    /// ticket), `marketplace` (browse, list, buy, pay and cancel in a realistic mix) or
    /// `onsale` (--buyers arrive within --ramp for the tickets listed before, and pay).
    #[arg(long, value_enum, default_value_t = Scenario::Marketplace)]
    pub scenario: Scenario,

    /// Users to sign up (default: for marketplace 10 or the concurrency if larger, and at
    /// least the concurrency; for race one seller plus one buyer per concurrent request;
    /// onsale signs up one seller and --buyers).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    pub users: Option<u64>,

    /// Tickets the sellers list before the run (default 20; 500 for onsale).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tickets: Option<u64>,

    /// Requests in flight at once: closed-loop workers, the open-loop cap, for `race` the
    /// buyers on each ticket, for `onsale` the buyers shopping at once (default 10; 256 for
    /// onsale). Also the size of the connection pool.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,

    /// Onsale: buyers who arrive at the start.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub buyers: u64,

    /// Onsale: the buyers arrive evenly spread over this many seconds.
    #[arg(long, value_parser = seconds, default_value = "1")]
    pub ramp: Duration,

    /// Seconds at the start of the run left out of every figure (marketplace only; the run
    /// lasts this much longer than --duration).
    #[arg(long, value_parser = seconds)]
    pub warmup: Option<Duration>,

    /// How long the marketplace runs, in seconds (default 10 when --requests is absent).
    #[arg(long, value_parser = seconds, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// How many marketplace requests to send, instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Open loop at this many requests per second: requests go out at fixed intended times
    /// and latency counts from the intended time. Without it, the loop is closed.
    #[arg(long, value_parser = per_second)]
    pub rate: Option<f64>,

    /// Threads of the load generator's runtime (pin it elsewhere with taskset).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: u64,

    /// Time allowed for one request, in seconds; a request that takes longer counts as an
    /// error.
    #[arg(long, value_parser = seconds, default_value = "30")]
    pub timeout: Duration,

    /// Print one JSON report on stdout instead of the human summary (no progress bar).
    #[arg(long, default_value_t = false)]
    pub json: bool,

    #[command(flatten)]
    pub outputs: LoadtestOutputs,

    /// A PEM file of certificates to trust besides the system's roots (a shop behind HTTPS
    /// with a private or self-signed certificate).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
}

/// What a load test (or a merge) writes besides its summary, and the targets it must meet.
#[derive(Args, Clone, Debug)]
pub struct LoadtestOutputs {
    /// Write a self-contained HTML report with charts to FILE.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Write the run per interval and kind of request to FILE as CSV: count, answers,
    /// p50/p90/p99/max.
    #[arg(long, value_name = "FILE.csv")]
    pub timeseries: Option<PathBuf>,

    /// Write the run's latencies per interval, kind and answer to FILE in HdrHistogram's
    /// interval log format (`ticketing loadtest merge` combines several).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Length of one interval of --timeseries, --hdr-log and the report's charts, in
    /// seconds.
    #[arg(long, value_parser = seconds, default_value = "1")]
    pub interval: Duration,

    /// A target the run must meet, e.g. 'reserve.p99<50ms', 'rps>=1000', 'errors<0.1%'
    /// (repeatable). A broken one makes the command exit 3.
    #[arg(long = "threshold", value_name = "TARGET")]
    pub thresholds: Vec<crate::threshold::Threshold>,
}

/// `ticketing loadtest`'s own subcommands.
#[derive(Subcommand, Clone, Debug)]
pub enum LoadtestCommand {
    /// Merge interval logs (`--hdr-log`) of several load generators into one report.
    Merge(MergeArgs),
}

/// `ticketing loadtest merge`.
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// The interval logs to merge; their intervals line up by wall-clock time.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,

    /// Print one JSON summary on stdout instead of the human one.
    #[arg(long, default_value_t = false)]
    pub json: bool,

    #[command(flatten)]
    pub outputs: LoadtestOutputs,
}

/// The load tester's scenarios.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Race,
    Marketplace,
    Onsale,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

fn per_second(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("{text:?} is not a positive number of requests per second"))
}
