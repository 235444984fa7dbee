//! Configuration: command-line flags, each with an environment variable (DESIGN §6), and
//! the `loadtest` subcommand's flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

/// A ticket marketplace in one binary. With no arguments it serves a working shop on
/// 127.0.0.1:3000 with its data in ./ticketing-data and test payments.
#[derive(Parser)]
#[command(name = "ticketing", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the shop (the default when no command is given).
    Serve,
    /// Load a running shop over HTTP, then audit its end state (see README, "Load testing").
    Loadtest(Box<LoadtestArgs>),
}

/// Everything the server needs to start.
#[derive(Args, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TICKETING_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Directory for the store and the generated JWT secret. One process per directory.
    #[arg(long, env = "TICKETING_DATA_DIR", default_value = "./ticketing-data")]
    pub data_dir: PathBuf,

    /// How long a purchase attempt holds a ticket, in seconds.
    #[arg(long, env = "TICKETING_HOLD_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub hold_secs: u64,

    /// Secret for signing session tokens. When absent, one is generated on first start and
    /// kept in the data directory, so sessions survive restarts.
    #[arg(long, env = "JWT_KEY", hide_env_values = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,

    /// How long a session lasts, in seconds (default 7 days).
    #[arg(long, env = "TICKETING_SESSION_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_secs: u64,

    /// Stripe secret key. When absent, an offline test gateway takes payments.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true, value_parser = secret)]
    pub stripe_secret_key: Option<SecretString>,

    /// Stripe API base URL (tests point it at a local fake).
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,

    /// Secret that signs Stripe's webhooks (whsec_...). When absent, the webhook route is off.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub stripe_webhook_secret: Option<SecretString>,

    /// Currency of every charge (ISO 4217, lower case).
    #[arg(long, env = "TICKETING_CURRENCY", default_value = "usd")]
    pub currency: String,

    /// How long one call to Stripe may take, in milliseconds.
    #[arg(long, env = "TICKETING_STRIPE_TIMEOUT_MS", default_value_t = 10_000)]
    pub stripe_timeout_ms: u64,

    /// Attempts per Stripe call (same idempotency key) before its outcome counts as unknown.
    #[arg(long, env = "TICKETING_STRIPE_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub stripe_attempts: u32,

    /// How often payments with an unknown outcome are asked about again, in milliseconds.
    #[arg(long, env = "TICKETING_PAYMENT_RETRY_MS", default_value_t = 30_000)]
    pub payment_retry_ms: u64,

    /// Age in seconds past which a payment of unknown outcome is looked up at Stripe (by the
    /// order id in its metadata) instead of asked for again: Stripe forgets an idempotency
    /// key after 24 hours, and asking later could charge twice.
    #[arg(long, env = "TICKETING_PAYMENT_MAX_AGE_SECS", default_value_t = 23 * 3600)]
    pub payment_max_age_secs: u64,

    /// Mark the session cookie Secure (serve over HTTPS when set).
    #[arg(long, env = "TICKETING_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "TICKETING_LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    /// How long an idle ticket or order actor stays in memory, in milliseconds.
    #[arg(long, env = "TICKETING_ACTOR_IDLE_MS", default_value_t = 60_000)]
    pub actor_idle_ms: u64,

    /// Store cache size in MiB: sled's page cache for the journal and the snapshots. Its
    /// resident memory runs two to three times above this, so the default is small; raise it
    /// on a machine with memory to spare and a large catalogue (docs/BENCHMARKS.md).
    #[arg(long, env = "TICKETING_CACHE_MB", default_value_t = 32)]
    pub cache_mb: u64,

    /// HTTP worker threads and actor arbiters (default: one per core).
    #[arg(long, env = "TICKETING_WORKERS")]
    pub workers: Option<usize>,

    /// Rebuild every projection from the journal at start-up.
    #[arg(long, env = "TICKETING_REBUILD_PROJECTIONS", default_value_t = false)]
    pub rebuild_projections: bool,

    /// `off` lifts every limit below at once (the rates, the hold cap, the hashing queue),
    /// for load tests on a private network. Timeouts and the Origin check stay (DESIGN §8).
    #[arg(long, env = "TICKETING_LIMITS", value_enum, default_value_t = Switch::On)]
    pub limits: Switch,

    /// Signups per minute from one client address (0: no limit).
    #[arg(long, env = "TICKETING_SIGNUPS_PER_MINUTE", default_value_t = 5)]
    pub signups_per_minute: u32,

    /// Signins per minute from one client address (0: no limit).
    #[arg(long, env = "TICKETING_SIGNINS_PER_MINUTE", default_value_t = 20)]
    pub signins_per_minute: u32,

    /// Password changes per minute from one client address (0: no limit).
    #[arg(
        long,
        env = "TICKETING_PASSWORD_CHANGES_PER_MINUTE",
        default_value_t = 5
    )]
    pub password_changes_per_minute: u32,

    /// Failed signins per hour on one account, from anywhere, before it is locked for the
    /// rest of that hour (0: no limit).
    #[arg(long, env = "TICKETING_FAILED_SIGNINS_PER_HOUR", default_value_t = 20)]
    pub failed_signins_per_hour: u32,

    /// Address of a reverse proxy whose `X-Forwarded-For` names the real client (repeat, or
    /// separate with commas). Without it, the client is the connection's peer.
    #[arg(
        long = "trusted-proxy",
        env = "TICKETING_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Tickets one buyer may hold at once, unpaid (0: no cap).
    #[arg(long = "max-holds", env = "TICKETING_MAX_HOLDS", default_value_t = 10)]
    pub max_holds_per_buyer: u32,

    /// Password hashes that may wait for a free core; past it, 503 with Retry-After.
    #[arg(long, env = "TICKETING_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// Time allowed for a request's headers to arrive, in milliseconds (408 after it).
    #[arg(long, env = "TICKETING_HEADER_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_timeout_ms: u64,

    /// Time allowed for a request's body to arrive once its headers have, in milliseconds
    /// (408 after it, and the connection is closed).
    #[arg(long, env = "TICKETING_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,

    /// How long an idle keep-alive connection stays open, in seconds.
    #[arg(long, env = "TICKETING_KEEP_ALIVE_SECS", default_value_t = 5)]
    pub keep_alive_secs: u64,
}

/// On or off, as a flag's value.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

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
    pub thresholds: Vec<crate::loadtest::threshold::Threshold>,
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

fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_owned()))
}

impl Config {
    /// `value`, or 0 (no limit) when `--limits off`.
    pub fn limit(&self, value: u32) -> u32 {
        match self.limits {
            Switch::On => value,
            Switch::Off => 0,
        }
    }

    /// The payment gateway's settings.
    pub fn gateway(&self) -> crate::payments::GatewayConfig {
        crate::payments::GatewayConfig {
            secret_key: self.stripe_secret_key.clone(),
            api_base: self.stripe_api_base.clone(),
            currency: self.currency.clone(),
            timeout: std::time::Duration::from_millis(self.stripe_timeout_ms.max(1)),
            max_attempts: self.stripe_attempts,
        }
    }

    /// The defaults, as if started with no flags and no environment (tests build on this).
    pub fn defaults() -> Config {
        Cli::parse_from(["ticketing"]).serve
    }

    /// Threads for HTTP workers and for actor arbiters.
    pub fn threads(&self) -> usize {
        self.workers
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1)
    }
}
