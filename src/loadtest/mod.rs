//! `ticketing loadtest`: sign up users, list tickets, load a running shop over HTTP with a
//! scenario, then audit its end state read back over the API.
//!
//! The load tester is a client of the shop, not a part of it: it may use `config` (its
//! flags) and its own modules, and reaches the server only over HTTP. It must not use
//! `actors`, `store`, `http` or `domain`. `run` is the library entry point (the tests call it
//! in-process); `main` is the subcommand: its own multi-threaded tokio runtime with
//! `--threads` workers, the report on stdout, and the exit code.
//!
//! Modules, one concern each: `client` (API calls), `setup` (users and tickets), `driver`
//! (closed, rounds or open-loop pacing), `scenario` (race and marketplace), `ledger` (what
//! the server acknowledged), `audit` (read-back and checks), `stats` (histograms),
//! `report` (JSON and human summary), `progress` (the bar on stderr).

pub mod audit;
pub mod client;
pub mod driver;
pub mod ledger;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod setup;
pub mod stats;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::{LoadtestArgs, Scenario};
use client::Api;
use driver::{Pace, Until, drive};
use ledger::Ledger;
use progress::Progress;
use report::{AuditSummary, Load, Report, RunSummary};
use scenario::{Marketplace, Race, Shopper};
use stats::Recorder;

/// Exit code when the run finished and the audit found violations.
pub const EXIT_AUDIT_FAILED: u8 = 1;
/// Exit code when the run could not be carried out (bad flags, server unreachable, a
/// setup or audit read failed). Clap's own usage errors exit 2 as well.
pub const EXIT_FATAL: u8 = 2;

/// How long the marketplace runs when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Marketplace users when --users is absent (or the concurrency, when that is larger).
const DEFAULT_MARKETPLACE_USERS: usize = 10;

/// The flags, checked and resolved into what the run does.
struct Plan {
    users: usize,
    tickets: usize,
    concurrency: usize,
    pace: Pace,
    until: Until,
    load: Load,
}

impl Plan {
    fn of(args: &LoadtestArgs) -> anyhow::Result<Plan> {
        let concurrency = size(args.concurrency, "--concurrency")?;
        let tickets = size(args.tickets, "--tickets")?;
        let users = match (args.users, args.scenario) {
            (Some(users), _) => size(users, "--users")?,
            (None, Scenario::Race) => concurrency.saturating_add(1),
            (None, Scenario::Marketplace) => DEFAULT_MARKETPLACE_USERS.max(concurrency),
        };
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
                        burst: args.concurrency,
                        max_in_flight: concurrency,
                    },
                    None => Pace::Rounds {
                        size: args.concurrency,
                    },
                };
                (
                    pace,
                    Until::Count(args.tickets.saturating_mul(args.concurrency)),
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
                let until = match (args.requests, args.duration) {
                    (Some(requests), _) => Until::Count(requests),
                    (None, Some(duration)) => Until::Elapsed(duration),
                    (None, None) => Until::Elapsed(DEFAULT_DURATION),
                };
                (pace, until)
            }
        };
        let load = Load {
            mode: if args.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            concurrency: args.concurrency,
            rate_rps: args.rate,
            threads: args.threads,
            users: users as u64,
            tickets: args.tickets,
            planned_secs: match (args.scenario, until) {
                (Scenario::Marketplace, Until::Elapsed(d)) => Some(d.as_secs_f64()),
                _ => None,
            },
            planned_requests: match until {
                Until::Count(n) => Some(n),
                Until::Elapsed(_) => None,
            },
        };
        Ok(Plan {
            users,
            tickets,
            concurrency,
            pace,
            until,
            load,
        })
    }
}

fn size(value: u64, flag: &str) -> anyhow::Result<usize> {
    usize::try_from(value).with_context(|| format!("{flag} {value} is too large"))
}

/// Runs a whole load test against `args.url`: setup, the scenario, the audit. Answers the
/// report whether or not the audit passed; an error means the test could not be carried out.
/// Shows progress on stderr unless `args.json` is set or stderr is not a terminal.
pub async fn run(args: &LoadtestArgs) -> anyhow::Result<Report> {
    let plan = Plan::of(args)?;
    let progress = Progress::new(!args.json);
    let http = client::http_client(plan.concurrency, args.timeout)?;
    let ledger = Arc::new(Ledger::new());

    // Setup: users, then tickets (one seller in the race, everyone in the marketplace).
    let setup_stats = Arc::new(Recorder::new());
    let api = Api::new(http, &args.url, setup_stats.clone());
    let started = Instant::now();
    let bar = progress.counting("signup", plan.users as u64);
    let signups = setup::SIGNUP_CONCURRENCY.min(plan.concurrency);
    let users = setup::sign_up(&api, plan.users, signups, &bar)
        .await
        .with_context(|| format!("Setup on {} failed", args.url))?;
    bar.finish_and_clear();
    let sellers = match args.scenario {
        Scenario::Race => &users[..1],
        Scenario::Marketplace => &users[..],
    };
    let bar = progress.counting("tickets", plan.tickets as u64);
    let tickets =
        setup::list_tickets(&api, sellers, plan.tickets, plan.concurrency, &ledger, &bar).await?;
    bar.finish_and_clear();
    let setup_summary = setup_stats.summary(started.elapsed());

    // The run.
    let run_stats = Arc::new(Recorder::new());
    let run_api = api.recording_into(run_stats.clone());
    let bar = match plan.until {
        Until::Count(total) => progress.counting("run", total),
        Until::Elapsed(duration) => progress.timed("run", duration),
    };
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
    };
    bar.finish_and_clear();
    let run_summary = RunSummary {
        phase: run_stats.summary(driven.elapsed),
        max_send_lag_ms: driven.max_send_lag.map(|lag| lag.as_secs_f64() * 1000.0),
    };

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
        url: args.url.to_string(),
        load: plan.load,
        setup: setup_summary,
        run: run_summary,
        audit: AuditSummary {
            findings,
            requests: audit_stats.summary(started.elapsed()),
        },
    })
}

/// The `loadtest` subcommand: runs on its own runtime, prints the report (JSON with
/// `--json`), and exits 0 when the audit passed, `EXIT_AUDIT_FAILED` when it did not, and
/// `EXIT_FATAL` when the test could not be carried out.
pub fn main(args: LoadtestArgs) -> ExitCode {
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
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_AUDIT_FAILED)
    }
}

fn fatal(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_FATAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};
    use clap::Parser;

    fn plan(flags: &[&str]) -> anyhow::Result<Plan> {
        let argv = ["ticketing", "loadtest", "--url", "http://127.0.0.1:9"]
            .into_iter()
            .chain(flags.iter().copied());
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Some(Command::Loadtest(args))) => Plan::of(&args),
            _ => panic!("{flags:?} parse as a loadtest command"),
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
    fn contradictory_flags_are_refused_before_any_request() {
        let cases: [(&[&str], &str); 3] = [
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
        ];
        for (flags, why) in cases {
            assert!(plan(flags).is_err(), "{why}");
        }
    }
}
