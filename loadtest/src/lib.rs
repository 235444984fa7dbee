//! `ticketing loadtest`: sign up users, list tickets, load a running shop over HTTP with a
//! scenario, then audit its end state read back over the API; and `ticketing loadtest
//! merge`, which combines the interval logs of several runs.
//!
//! The load tester is a client of the shop, not a part of it: a crate of its own that
//! depends on nothing of the server and reaches it only over HTTP. `run` is the library
//! entry point (the tests call it in-process); `main` is the subcommand the server's binary
//! embeds: its own multi-threaded tokio runtime with `--threads` workers, the report on
//! stdout, the files asked for, and the exit code.
//!
//! Modules, one concern each: `args` (the flags), `client` (API calls), `setup` (users and
//! tickets), `driver` (closed, rounds or open-loop pacing), `scenario` (race and marketplace),
//! `onsale` (the on-sale spike and its figures), `ledger` (what the server acknowledged), `audit`
//! (read-back and checks), `stats` (histograms), `timeline` (the run per interval), `hdrlog`
//! (interval logs), `merge` (combining them), `threshold` (targets for CI), `report` (JSON and
//! human summary), `charts` and `html` (the HTML report), `progress` (the bar on stderr).

pub mod args;
pub mod audit;
pub mod charts;
pub mod client;
pub mod driver;
pub mod hdrlog;
pub mod html;
pub mod ledger;
pub mod merge;
pub mod onsale;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod setup;
pub mod stats;
pub mod threshold;
pub mod timeline;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

pub use args::{LoadtestArgs, LoadtestCommand, LoadtestOutputs, MergeArgs, Scenario};
use charts::ChartError;
use client::Api;
use driver::{Pace, Until, drive};
use ledger::Ledger;
use onsale::OnSale;
use progress::Progress;
use report::{AuditSummary, Detail, Load, Report, RunSummary, Versions};
use scenario::{Marketplace, Race, Shopper};
use stats::Recorder;
use timeline::Timeline;

/// Exit code when the run finished and the audit found violations.
pub const EXIT_AUDIT_FAILED: u8 = 1;
/// Exit code when the run could not be carried out (bad flags, server unreachable, a
/// setup or audit read failed, a file could not be written). Clap's own usage errors exit
/// 2 as well.
pub const EXIT_FATAL: u8 = 2;
/// Exit code when the audit passed but a --threshold was broken.
pub const EXIT_THRESHOLD_BROKEN: u8 = 3;

/// How long the marketplace runs when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Marketplace users when --users is absent (or the concurrency, when that is larger).
const DEFAULT_MARKETPLACE_USERS: usize = 10;
/// Tickets listed when --tickets is absent: a few for the race and the marketplace, an
/// arena block for the on-sale.
const DEFAULT_TICKETS: u64 = 20;
const DEFAULT_ONSALE_TICKETS: u64 = 500;
/// Requests in flight when --concurrency is absent; the on-sale's buyers arrive by the
/// thousand, so it lets many more shop at once.
const DEFAULT_CONCURRENCY: u64 = 10;
const DEFAULT_ONSALE_CONCURRENCY: u64 = 256;

/// The flags, checked and resolved into what the run does.
struct Plan {
    url: reqwest::Url,
    users: usize,
    tickets: usize,
    concurrency: usize,
    pace: Pace,
    until: Until,
    warmup: Duration,
    load: Load,
}

impl Plan {
    fn of(args: &LoadtestArgs) -> anyhow::Result<Plan> {
        let url = args.url.clone().context("--url is required")?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--url must be an http:// or https:// URL, not {url}");
        }
        let onsale = args.scenario == Scenario::Onsale;
        let concurrency_flag = args.concurrency.unwrap_or(if onsale {
            DEFAULT_ONSALE_CONCURRENCY
        } else {
            DEFAULT_CONCURRENCY
        });
        let tickets_flag = args.tickets.unwrap_or(if onsale {
            DEFAULT_ONSALE_TICKETS
        } else {
            DEFAULT_TICKETS
        });
        let concurrency = size(concurrency_flag, "--concurrency")?;
        let tickets = size(tickets_flag, "--tickets")?;
        let users = match (args.users, args.scenario) {
            (Some(_), Scenario::Onsale) => {
                bail!("The on-sale signs up one seller and --buyers; --users does not apply")
            }
            (Some(users), _) => size(users, "--users")?,
            (None, Scenario::Race) => concurrency.saturating_add(1),
            (None, Scenario::Marketplace) => DEFAULT_MARKETPLACE_USERS.max(concurrency),
            (None, Scenario::Onsale) => size(args.buyers, "--buyers")?.saturating_add(1),
        };
        let warmup = args.warmup.unwrap_or(Duration::ZERO);
        if args.warmup.is_some() && args.scenario != Scenario::Marketplace {
            bail!(
                "--warmup applies to the marketplace, a steady load; the race and the on-sale \
                 are measured whole"
            );
        }
        // Clap enforces these too; `LoadtestArgs` can also be built by hand.
        if users < 2 || tickets == 0 || concurrency == 0 || args.threads == 0 {
            bail!("--users must be at least 2, and --tickets, --concurrency, --threads at least 1");
        }
        if args
            .rate
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            bail!("--rate must be a positive number of requests per second");
        }
        // A marketplace user does one thing at a time; with fewer users than requests in
        // flight, requests would queue in the load tester and its wait would pass for
        // server latency.
        if args.scenario == Scenario::Marketplace && users < concurrency {
            bail!(
                "The marketplace needs --users ({users}) at least --concurrency \
                 ({concurrency}): each user has one request in flight at a time"
            );
        }
        let (pace, until) = match args.scenario {
            Scenario::Onsale => {
                if args.duration.is_some() || args.requests.is_some() || args.rate.is_some() {
                    bail!(
                        "--duration, --requests and --rate do not apply to the on-sale: \
                         --buyers arrive over --ramp"
                    );
                }
                let rate = args.buyers as f64 / args.ramp.as_secs_f64();
                (
                    Pace::Open {
                        rate,
                        burst: 1,
                        max_in_flight: concurrency,
                    },
                    Until::Count(args.buyers),
                )
            }
            Scenario::Race => {
                if args.duration.is_some() || args.requests.is_some() {
                    bail!(
                        "--duration and --requests apply to the marketplace; the race sends \
                         --tickets × --concurrency reservations"
                    );
                }
                let pace = match args.rate {
                    Some(rate) => Pace::Open {
                        rate,
                        burst: concurrency_flag,
                        max_in_flight: concurrency,
                    },
                    None => Pace::Rounds {
                        size: concurrency_flag,
                    },
                };
                (
                    pace,
                    Until::Count(tickets_flag.saturating_mul(concurrency_flag)),
                )
            }
            Scenario::Marketplace => {
                let pace = match args.rate {
                    Some(rate) => Pace::Open {
                        rate,
                        burst: 1,
                        max_in_flight: concurrency,
                    },
                    None => Pace::Closed {
                        workers: concurrency,
                    },
                };
                // The warm-up comes on top of the measured duration.
                let until = match (args.requests, args.duration) {
                    (Some(requests), _) => Until::Count(requests),
                    (None, Some(duration)) => Until::Elapsed(duration + warmup),
                    (None, None) => Until::Elapsed(DEFAULT_DURATION + warmup),
                };
                (pace, until)
            }
        };
        let load = Load {
            // The on-sale's arrivals are an open-loop schedule of their own.
            mode: if args.rate.is_some() || onsale {
                "open"
            } else {
                "closed"
            },
            concurrency: concurrency_flag,
            rate_rps: args.rate,
            threads: args.threads,
            users: users as u64,
            tickets: tickets_flag,
            planned_secs: match (args.scenario, until) {
                (Scenario::Marketplace, Until::Elapsed(d)) => Some((d - warmup).as_secs_f64()),
                _ => None,
            },
            planned_requests: match until {
                Until::Count(n) => Some(n),
                Until::Elapsed(_) => None,
            },
            warmup_secs: args.warmup.map(|w| w.as_secs_f64()),
            interval_secs: args.outputs.interval.as_secs_f64(),
            buyers: onsale.then_some(args.buyers),
            ramp_secs: onsale.then_some(args.ramp.as_secs_f64()),
        };
        Ok(Plan {
            url,
            users,
            tickets,
            concurrency,
            pace,
            until,
            warmup,
            load,
        })
    }
}

fn size(value: u64, flag: &str) -> anyhow::Result<usize> {
    usize::try_from(value).with_context(|| format!("{flag} {value} is too large"))
}

/// Runs a whole load test against `args.url`: setup, the scenario, the audit, and the
/// thresholds. Answers the report whether or not the audit passed and the thresholds held;
/// an error means the test could not be carried out. Shows progress on stderr unless
/// `args.json` is set or stderr is not a terminal. Writes no file (`write_files` does).
pub async fn run(args: &LoadtestArgs) -> anyhow::Result<Report> {
    let plan = Plan::of(args)?;
    let progress = Progress::new(!args.json);
    let http = client::http_client(plan.concurrency, args.timeout, args.cacert.as_deref())?;
    let ledger = Arc::new(Ledger::new());

    // Setup: users, then tickets (one seller in the race and the on-sale, everyone in the
    // marketplace).
    let setup_stats = Arc::new(Recorder::new());
    let api = Api::new(http, &plan.url, setup_stats.clone());
    let shop_version = api.shop_version().await?;
    let started = Instant::now();
    let bar = progress.counting("signup", plan.users as u64);
    let signups = setup::SIGNUP_CONCURRENCY.min(plan.concurrency);
    let users = setup::sign_up(&api, plan.users, signups, &bar)
        .await
        .with_context(|| format!("Setup on {} failed", plan.url))?;
    bar.finish_and_clear();
    let sellers = match args.scenario {
        Scenario::Race | Scenario::Onsale => &users[..1],
        Scenario::Marketplace => &users[..],
    };
    let bar = progress.counting("tickets", plan.tickets as u64);
    let tickets =
        setup::list_tickets(&api, sellers, plan.tickets, plan.concurrency, &ledger, &bar).await?;
    bar.finish_and_clear();
    if args.scenario == Scenario::Onsale {
        onsale::check_listing(&api, &tickets).await?;
    }
    let setup_summary = setup_stats.summary(started.elapsed());

    // The run.
    let run_started = SystemTime::now();
    let run_stats = Arc::new(Recorder::starting(
        Instant::now(),
        args.outputs.interval,
        plan.warmup,
    ));
    let run_api = api.recording_into(run_stats.clone());
    let bar = match plan.until {
        Until::Count(total) => progress.counting("run", total),
        Until::Elapsed(duration) => progress.timed("run", duration),
    };
    let mut onsale = None;
    let driven = match args.scenario {
        Scenario::Race => {
            for ticket in &tickets {
                ledger.race_ticket(ticket);
            }
            // Buyers are every user but the seller, reused when there are fewer than the
            // concurrency (a buyer racing themself is refused like anyone else).
            let buyers = (0..plan.concurrency)
                .map(|i| {
                    let index = 1 + i % (users.len() - 1);
                    (index, users[index].clone())
                })
                .collect();
            let race = Arc::new(Race {
                api: run_api,
                ledger: ledger.clone(),
                tickets,
                buyers,
            });
            drive(&plan.pace, plan.until, &bar, move |seq, intended| {
                race.clone().step(seq, intended)
            })
            .await?
        }
        Scenario::Marketplace => {
            let shoppers = users
                .iter()
                .cloned()
                .enumerate()
                .map(|(index, session)| Shopper::new(index, session))
                .collect();
            let market = Arc::new(Marketplace::new(run_api, ledger.clone(), shoppers, tickets));
            drive(&plan.pace, plan.until, &bar, move |seq, intended| {
                market.clone().step(seq, intended)
            })
            .await?
        }
        Scenario::Onsale => {
            let buyers = users.iter().cloned().enumerate().skip(1).collect();
            let sale = Arc::new(OnSale::new(run_api, ledger.clone(), buyers, tickets));
            let step = sale.clone();
            let driven = drive(&plan.pace, plan.until, &bar, move |seq, arrived| {
                step.clone().step(seq, arrived)
            })
            .await?;
            onsale = Some(sale.summary());
            driven
        }
    };
    bar.finish_and_clear();
    let run_summary = RunSummary {
        phase: run_stats.summary(driven.elapsed.saturating_sub(plan.warmup)),
        max_send_lag_ms: driven.max_send_lag.map(|lag| lag.as_secs_f64() * 1000.0),
    };
    let (totals, timeline) = run_stats.finish();

    // The audit.
    let audit_stats = Arc::new(Recorder::new());
    let audit_api = api.recording_into(audit_stats.clone());
    let bar = progress.spinner("audit");
    let started = Instant::now();
    let facts = ledger.facts();
    let observed = audit::read_back(&audit_api, &users, &facts, plan.concurrency)
        .await
        .context("The audit could not read the end state")?;
    let findings = audit::check(&facts, &observed, users.len());
    bar.finish_and_clear();

    Ok(Report {
        scenario: args.scenario,
        url: plan.url.to_string(),
        versions: Versions {
            loadtest: env!("CARGO_PKG_VERSION"),
            shop: shop_version,
        },
        load: plan.load,
        setup: setup_summary,
        thresholds: threshold::judge_all(&args.outputs.thresholds, &run_summary.phase),
        run: run_summary,
        onsale,
        audit: AuditSummary {
            findings,
            requests: audit_stats.summary(started.elapsed()),
        },
        detail: Detail {
            started: run_started,
            timeline,
            totals,
        },
    })
}

/// Writes the files `args` asks for: the HTML report, the CSV timeline, the interval log.
pub fn write_files(args: &LoadtestArgs, report: &Report) -> anyhow::Result<()> {
    let load = serde_json::to_string(&report.load).context("Failed to describe the load")?;
    let about = [
        format!("loadtest {}", report.versions.loadtest),
        format!(
            "scenario {} on {}",
            report::scenario_name(report.scenario),
            report.url
        ),
        format!(
            "shop version {}",
            report.versions.shop.as_deref().unwrap_or("not told")
        ),
        format!("load {load}"),
    ];
    write_outputs(
        &args.outputs,
        &report.detail.timeline,
        report.detail.started,
        &about,
        || report.html(),
    )
}

/// Writes `outputs`' files for a timeline that began at `started`; `html` makes the report
/// only when one is asked for (drawing charts takes a moment).
fn write_outputs(
    outputs: &LoadtestOutputs,
    timeline: &Timeline,
    started: SystemTime,
    about: &[String],
    html: impl FnOnce() -> Result<String, ChartError>,
) -> anyhow::Result<()> {
    let write = |path: &std::path::Path, bytes: &[u8]| {
        std::fs::write(path, bytes).with_context(|| format!("Failed to write {}", path.display()))
    };
    if let Some(path) = &outputs.report {
        write(path, html()?.as_bytes())?;
    }
    if let Some(path) = &outputs.timeseries {
        write(path, timeline.csv().as_bytes())?;
    }
    if let Some(path) = &outputs.hdr_log {
        let mut log = Vec::new();
        hdrlog::write(timeline, started, about, &mut log)?;
        write(path, &log)?;
    }
    Ok(())
}

/// The `loadtest` subcommand: runs on its own runtime, prints the report (JSON with
/// `--json`), writes the files asked for, and exits 0 when the audit passed and every
/// threshold held, `EXIT_AUDIT_FAILED` when the audit did not pass,
/// `EXIT_THRESHOLD_BROKEN` when a threshold was broken (naming it on stderr), and
/// `EXIT_FATAL` when the test could not be carried out. `loadtest merge` is `merge::main`.
pub fn main(args: LoadtestArgs) -> ExitCode {
    if let Some(LoadtestCommand::Merge(merge_args)) = args.command {
        return merge::main(merge_args);
    }
    let threads = usize::try_from(args.threads).unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("loadtest")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            return fatal(anyhow::Error::new(error).context("Failed to start the runtime"));
        }
    };
    let report = match runtime.block_on(run(&args)) {
        Ok(report) => report,
        Err(error) => return fatal(error),
    };
    if let Err(error) = write_files(&args, &report) {
        return fatal(error);
    }
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(error) => return fatal(anyhow::Error::new(error).context("Failed to write JSON")),
        }
    } else {
        report.render()
    };
    if let Err(error) = std::io::stdout().lock().write_all(text.as_bytes()) {
        return fatal(anyhow::Error::new(error).context("Failed to print the report"));
    }
    for verdict in report.broken() {
        eprintln!(
            "threshold broken: {} (measured {})",
            verdict.threshold, verdict.actual
        );
    }
    ExitCode::from(report.exit_code())
}

fn fatal(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_FATAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The flags as the binary's subcommand takes them.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    fn plan(flags: &[&str]) -> anyhow::Result<Plan> {
        let argv = ["loadtest", "--url", "http://127.0.0.1:9"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => Plan::of(&cli.args),
            Err(error) => panic!("{flags:?} parse as a loadtest command: {error}"),
        }
    }

    #[test]
    fn the_race_sends_tickets_times_concurrency_reservations_in_rounds() {
        let plan = plan(&[
            "--scenario",
            "race",
            "--tickets",
            "3",
            "--concurrency",
            "10",
        ])
        .expect("a valid plan");
        assert_eq!(plan.users, 11, "one seller and ten buyers");
        assert!(matches!(plan.until, Until::Count(30)));
        assert!(matches!(plan.pace, Pace::Rounds { size: 10 }));
    }

    #[test]
    fn a_rate_makes_the_loop_open_with_the_concurrency_as_its_cap() {
        let plan = plan(&["--rate", "500", "--concurrency", "16", "--requests", "100"])
            .expect("a valid plan");
        assert!(matches!(
            plan.pace,
            Pace::Open {
                burst: 1,
                max_in_flight: 16,
                ..
            }
        ));
        assert_eq!(plan.users, 16, "at least one user per request in flight");
        assert_eq!(plan.load.mode, "open");
    }

    #[test]
    fn the_marketplace_runs_ten_seconds_unless_told_otherwise() {
        let plan = plan(&[]).expect("a valid plan");
        assert!(matches!(plan.until, Until::Elapsed(d) if d == DEFAULT_DURATION));
        assert!(matches!(plan.pace, Pace::Closed { workers: 10 }));
    }

    #[test]
    fn the_onsale_sends_five_thousand_buyers_within_a_second_for_five_hundred_tickets() {
        let plan = plan(&["--scenario", "onsale"]).expect("a valid plan");
        assert_eq!(
            (plan.users, plan.tickets),
            (5001, 500),
            "a seller and the buyers"
        );
        assert!(matches!(plan.until, Until::Count(5000)));
        assert!(matches!(
            plan.pace,
            Pace::Open { rate, burst: 1, max_in_flight: 256 } if (rate - 5000.0).abs() < 1e-9
        ));
        assert_eq!(plan.load.mode, "open");
    }

    #[test]
    fn the_warmup_lengthens_a_timed_marketplace_run() {
        let plan = plan(&["--duration", "5", "--warmup", "2"]).expect("a valid plan");
        assert!(matches!(plan.until, Until::Elapsed(d) if d == Duration::from_secs(7)));
        assert_eq!(plan.load.planned_secs, Some(5.0), "the measured part");
    }

    #[test]
    fn contradictory_flags_are_refused_before_any_request() {
        let cases: [(&[&str], &str); 7] = [
            (
                &["--scenario", "race", "--duration", "5"],
                "a race has no duration",
            ),
            (
                &["--scenario", "race", "--requests", "5"],
                "a race has a fixed count",
            ),
            (
                &["--users", "3", "--concurrency", "4"],
                "fewer marketplace users than requests in flight",
            ),
            (
                &["--scenario", "race", "--warmup", "1"],
                "a race is measured whole",
            ),
            (
                &["--scenario", "onsale", "--duration", "5"],
                "buyers arrive over the ramp, not for a duration",
            ),
            (
                &["--scenario", "onsale", "--users", "50"],
                "the on-sale counts buyers",
            ),
            (
                &["--scenario", "onsale", "--rate", "50"],
                "the ramp sets the on-sale's rate",
            ),
        ];
        for (flags, why) in cases {
            assert!(plan(flags).is_err(), "{why}");
        }
    }
}
