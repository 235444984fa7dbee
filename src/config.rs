//! Configuration: command-line flags, each with an environment variable (DESIGN §6). The
//! `loadtest` subcommand's flags are the load tester's own (`loadtest::LoadtestArgs`); the
//! `backup`, `restore` and `verify` subcommands take theirs from the structs at the end.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    Loadtest(Box<loadtest::LoadtestArgs>),
    /// Ask a running shop's GET /healthz: exit 0 when it answers 200, 1 otherwise (for a
    /// container's HEALTHCHECK; see docs/OPERATIONS.md).
    Healthcheck(HealthcheckArgs),
    /// Write a consistent backup of a shop, running or stopped, to one file with a checksum
    /// (see docs/OPERATIONS.md, "Backups").
    Backup(BackupArgs),
    /// Make a new data directory from a backup file; a shop started on it serves what the
    /// backed-up one did.
    Restore(RestoreArgs),
    /// Check a stopped shop's projections against its journal: exit 0 when they agree, 1
    /// listing each difference, 2 when the store cannot be read.
    Verify(VerifyArgs),
    /// Print a shop's journal, running or stopped, as JSON lines; with --follow, keep
    /// printing events as a running shop commits them (see docs/OPERATIONS.md).
    Journal(JournalArgs),
    /// Export a shop's orders, charges, tickets or users as CSV or JSON lines, for
    /// accounting (see docs/OPERATIONS.md).
    Export(ExportArgs),
    /// An operator's changes: refund an order, list or disable accounts (see
    /// docs/OPERATIONS.md).
    Admin(AdminArgs),
}

/// What `ticketing backup` copies, and where to.
#[derive(Args, Clone, Debug)]
pub struct BackupArgs {
    /// The shop's data directory.
    #[arg(long, env = "TICKETING_DATA_DIR")]
    pub data_dir: PathBuf,

    /// The backup file to write (replaced only once the new one is whole).
    #[arg(long)]
    pub to: PathBuf,
}

/// What `ticketing restore` reads, and the new data directory.
#[derive(Args, Clone, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    pub from: PathBuf,

    /// The data directory to create; it must not exist, or be empty.
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// What `ticketing journal` prints.
#[derive(Args, Clone, Debug)]
pub struct JournalArgs {
    /// The shop's data directory (the shop's own default when not given).
    #[arg(long, env = "TICKETING_DATA_DIR", default_value = "./ticketing-data")]
    pub data_dir: PathBuf,

    /// Only the events after this one (the `id` of the last line already read).
    #[arg(long, value_name = "ID")]
    pub since: Option<u64>,

    /// Keep printing events as the running shop commits them, until it stops.
    #[arg(long)]
    pub follow: bool,

    /// Unused by the journal; accepted so that one environment serves every command.
    #[arg(long, env = "TICKETING_CURRENCY", default_value = "usd", hide = true)]
    pub currency: String,
}

/// What `ticketing export` writes.
#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    /// Which entities.
    #[arg(value_enum)]
    pub table: Table,

    /// The shop's data directory (the shop's own default when not given).
    #[arg(long, env = "TICKETING_DATA_DIR", default_value = "./ticketing-data")]
    pub data_dir: PathBuf,

    /// CSV with a header row, or one JSON object a line.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,

    /// Currency named beside amounts when the shop is stopped (a running shop names its
    /// own): the shop's `--currency`.
    #[arg(long, env = "TICKETING_CURRENCY", default_value = "usd")]
    pub currency: String,
}

/// The entities `ticketing export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Orders,
    Charges,
    Tickets,
    Users,
}

impl Table {
    const ALL: [Table; 4] = [Table::Orders, Table::Charges, Table::Tickets, Table::Users];

    pub fn name(self) -> &'static str {
        match self {
            Table::Orders => "orders",
            Table::Charges => "charges",
            Table::Tickets => "tickets",
            Table::Users => "users",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|table| table.name() == name)
    }
}

/// How `ticketing export` writes rows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        [Format::Csv, Format::Json]
            .into_iter()
            .find(|format| format.name() == name)
    }
}

/// `ticketing admin`: the data directory, and the change.
#[derive(Args, Clone, Debug)]
pub struct AdminArgs {
    /// The shop's data directory (the shop's own default when not given).
    #[arg(
        long,
        env = "TICKETING_DATA_DIR",
        default_value = "./ticketing-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Currency named beside amounts when the shop is stopped: the shop's `--currency`.
    #[arg(long, env = "TICKETING_CURRENCY", default_value = "usd", global = true)]
    pub currency: String,

    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Clone, Debug)]
pub enum AdminCommand {
    /// Refund a paid order in full through the running shop's payment provider. The order
    /// stays complete and its ticket sold; the payment records the refund.
    Refund {
        /// The order's id.
        order: String,
    },
    /// List accounts, or disable or enable one.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand, Clone, Debug)]
pub enum UsersCommand {
    /// Every account: id, creation time, email, active or disabled.
    List {
        /// CSV with a header row, or one JSON object a line.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
    },
    /// Disable an account: it can no longer sign in, and its sessions are revoked.
    Disable {
        /// The account's email.
        email: String,
    },
    /// Enable a disabled account again: it may sign in (its old sessions stay revoked).
    Enable {
        /// The account's email.
        email: String,
    },
}

/// Which data directory `ticketing verify` checks.
#[derive(Args, Clone, Debug)]
pub struct VerifyArgs {
    /// The stopped shop's data directory.
    #[arg(long, env = "TICKETING_DATA_DIR")]
    pub data_dir: PathBuf,
}

/// Everything the server needs to start.
#[derive(Args, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TICKETING_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Serve GET /metrics on this address instead of `--addr`, so that it need not be
    /// public (the public address then answers 404 for it).
    #[arg(long, env = "TICKETING_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

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

    /// Stripe publishable key (pk_...), handed to the page (GET /api/config) for Stripe.js.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY")]
    pub stripe_publishable_key: Option<String>,

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

    /// Seconds past a hold's deadline that a payment waiting on the buyer's authentication
    /// (3-D Secure) is given before the shop abandons it: cancels the payment at Stripe and
    /// frees the ticket. A buyer who started paying just before the deadline still has
    /// this long to authenticate.
    #[arg(
        long,
        env = "TICKETING_AUTHENTICATION_GRACE_SECS",
        default_value_t = 300
    )]
    pub authentication_grace_secs: u64,

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

/// What `ticketing healthcheck` asks. Without `--url` it asks the shop this configuration
/// would start (`--addr` / `TICKETING_ADDR`), over loopback when that listens everywhere.
#[derive(Args, Clone, Debug)]
pub struct HealthcheckArgs {
    /// The URL to GET, e.g. http://127.0.0.1:3000/healthz (default: /healthz on the listen
    /// address).
    #[arg(long)]
    pub url: Option<reqwest::Url>,

    /// Time allowed for the answer, in milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
}

/// On or off, as a flag's value.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
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
    pub fn gateway(&self) -> crate::gateway::GatewayConfig {
        crate::gateway::GatewayConfig {
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
