//! ticketing: a ticket marketplace in one process.
//!
//! `Application::build` opens the store, starts the actors, the hold supervisor and the HTTP
//! server, and leaves the journal's replay to a start-up task: until it ends, `/readyz` and
//! the API answer 503 (`readiness`). `run_until_stopped` serves until the given shutdown
//! future resolves, or until start-up fails.
//! The binary and the tests start the app the same way. The `ticketing loadtest`
//! subcommand is the `loadtest` crate and `ticketing healthcheck` is `healthcheck`: HTTP
//! clients of a running shop, nothing of this one. `ticketing backup`, `restore` and
//! `verify` are `backup`; a running shop answers `backup` on its control socket (`control`).

pub mod actors;
pub mod backup;
pub mod clock;
pub mod config;
pub mod control;
pub mod data_dir;
pub mod gateway;
pub mod healthcheck;
pub mod http;
pub mod meters;
pub mod operator;
pub mod readiness;
pub mod store;
mod sync;
pub mod telemetry;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use actors::accounts::Accounts;
use actors::holds::HoldSupervisor;
use actors::passwords::Passwords;
use actors::paying::PaymentSettler;
use actors::tokens::Tokens;
use actors::{Services, Settings};
use clock::IdGenerator;
use config::Config;
use http::AppState;
use readiness::Readiness;
use store::Store;

/// A started shop: the store is open, the actors and the hold supervisor running, the
/// listener bound, and the journal's replay under way (`readiness`). Serving starts with
/// `run_until_stopped`.
pub struct Application {
    readiness: Readiness,
    server: actix_web::dev::Server,
    address: SocketAddr,
    /// Tells long streams that the shop stops (`AppState::stopping`).
    stopping: tokio::sync::watch::Sender<bool>,
    /// `/metrics` on its own address (`--metrics-addr`), when asked for.
    metrics_server: Option<actix_web::dev::Server>,
    services: Services,
    /// The store, for start-up's replay and the final flush.
    store: Store,
    /// The control socket (`ticketing backup` of a running shop); stopped before the store
    /// closes.
    control: Option<control::Control>,
    /// Threads the entity actors and the hold supervisor run on; stopped at shutdown.
    arbiters: Vec<actix::Arbiter>,
    /// The hold supervisor's address, kept so it lives as long as the app.
    _supervisor: Addr<HoldSupervisor>,
    /// The payment settler's address, likewise.
    _settler: Addr<PaymentSettler>,
}

impl Application {
    /// Builds the shop on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, clock::Clock::system()).await
    }

    /// Builds the shop on `clock` (tests pass a manual one and move it by hand).
    pub async fn build_with_clock(
        config: Config,
        clock: clock::Clock,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.addr)
            .with_context(|| format!("Failed to listen on {}", config.addr))?;
        let address = listener.local_addr()?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .with_context(|| format!("Failed to listen for /metrics on {addr}"))?,
            ),
            None => None,
        };
        data_dir::prepare(&config.data_dir)?;
        let meters = meters::Meters::new();
        let store = Store::open_timed(
            &config.data_dir.join("db"),
            config.cache_mb * 1024 * 1024,
            meters.flush_seconds(),
        )?;

        let threads = config.threads();
        let arbiters: Vec<actix::Arbiter> = (0..threads).map(|_| actix::Arbiter::new()).collect();
        let ids = Arc::new(IdGenerator::new(clock.clone()));
        let settings = Settings {
            hold_secs: config.hold_secs,
            idle_after: Duration::from_millis(config.actor_idle_ms.max(1)),
            max_holds_per_buyer: config.limit(config.max_holds_per_buyer),
            payment_max_age_secs: config.payment_max_age_secs,
            authentication_grace_secs: config.authentication_grace_secs,
            clock: clock.clone(),
        };
        let gateway = gateway::from_config(&config.gateway())?;
        let gateway_name = gateway.describe();
        let services = Services::new(
            store.clone(),
            ids.clone(),
            settings,
            gateway,
            arbiters.iter().map(|a| a.handle()).collect(),
            meters.hold_expiry_lag_seconds(),
        );
        let readiness = Readiness::new();

        let (supervisor_services, ready) = (services.clone(), readiness.clone());
        let supervisor = HoldSupervisor::start_in_arbiter(&arbiters[0].handle(), move |_| {
            HoldSupervisor::new(supervisor_services, ready)
        });

        let (settler_services, ready) = (services.clone(), readiness.clone());
        let retry_every = Duration::from_millis(config.payment_retry_ms.max(10));
        let settler = PaymentSettler::start_in_arbiter(&arbiters[0].handle(), move |_| {
            PaymentSettler::new(settler_services, retry_every, ready)
        });

        let (jwt_secret, jwt_source) = data_dir::jwt_secret(&config)?;
        let accounts = Accounts::new(
            store.clone(),
            ids,
            Passwords::new(
                threads,
                (config.limits == config::Switch::On).then_some(config.hash_queue),
            ),
            Tokens::new(&jwt_secret, clock.clone()),
            config.session_secs,
            config.limit(config.failed_signins_per_hour),
            clock.clone(),
        );
        let expired = store
            .drop_expired_sessions(clock.now())
            .context("Failed to drop expired sessions")?;
        let (stopping, stopping_seen) = tokio::sync::watch::channel(false);
        let control_accounts = accounts.clone();
        let state = web::Data::new(AppState {
            services: services.clone(),
            accounts,
            session_secs: config.session_secs,
            cookie_secure: config.cookie_secure,
            webhook_secret: config.stripe_webhook_secret.clone(),
            readiness: readiness.clone(),
            limits: http::limits::RateLimits::from_config(&config),
            page_config: http::page_config::PageConfig::from_config(&config),
            ticket_feed: http::ticket_events::TicketFeed::new(
                services.clone(),
                stopping_seen.clone(),
            ),
            stopping: stopping_seen,
            meters: meters.clone(),
        });
        let body_timeout = Duration::from_millis(config.body_timeout_ms.max(1));
        let readiness_data = web::Data::new(readiness.clone());
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .configure(http::metrics_route)
                })
                .listen(listener)?
                .workers(1)
                .disable_signals()
                .run();
                Some(server)
            }
            None => None,
        };
        let public_metrics = metrics_server.is_none();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(readiness_data.clone())
                .wrap(middleware::from_fn(http::guard::guard))
                .wrap(middleware::from_fn(move |req, next| {
                    http::guard::body_timeout(req, next, body_timeout)
                }))
                .wrap(middleware::from_fn(http::health::until_ready))
                .wrap(middleware::from_fn(
                    http::request_id::answer_with_request_id,
                ))
                .wrap(TracingLogger::<http::access_log::AccessLog>::new())
                .app_data(state.clone())
                .configure(|cfg| {
                    if public_metrics {
                        http::metrics_route(cfg);
                    }
                    http::routes(cfg);
                })
        })
        .listen(listener)?
        .workers(threads)
        .client_request_timeout(Duration::from_millis(config.header_timeout_ms.max(1)))
        .keep_alive(Duration::from_secs(config.keep_alive_secs))
        .client_disconnect_timeout(Duration::from_secs(1))
        .disable_signals()
        .shutdown_timeout(30)
        .run();

        tracing::info!(%address, "Listening");
        tracing::info!(data_dir = %config.data_dir.display(), expired_sessions = expired, "Data directory");
        tracing::info!(hold_secs = config.hold_secs, "Purchase holds");
        tracing::info!(source = jwt_source, "Session signing secret");
        tracing::info!(secure = config.cookie_secure, "Session cookie");
        tracing::info!(gateway = %gateway_name, currency = %config.currency, "Payments");
        tracing::info!(
            enabled = config.stripe_webhook_secret.is_some(),
            "Stripe webhooks at /api/payments/webhook"
        );
        tracing::info!(threads, "HTTP workers and actor arbiters");
        match config.limits {
            config::Switch::On => tracing::info!(
                signups_per_minute = config.signups_per_minute,
                signins_per_minute = config.signins_per_minute,
                password_changes_per_minute = config.password_changes_per_minute,
                failed_signins_per_hour = config.failed_signins_per_hour,
                max_holds_per_buyer = config.max_holds_per_buyer,
                hash_queue = config.hash_queue,
                trusted_proxies = ?config.trusted_proxies,
                "Limits for a public shop (0: none; --limits off lifts them all)"
            ),
            config::Switch::Off => tracing::warn!(
                "LIMITS ARE OFF (--limits off): no rate limits, no hold cap, no bound on \
                 waiting password hashes. Only for load tests on a private network."
            ),
        }

        // Histogram samples queue until folded into their buckets: fold them even when
        // nobody scrapes. On an app arbiter, so it ends with the app.
        arbiters[0].spawn(meters.upkeep());

        // On an app arbiter, not the caller's: the actors the replay's follow-ups start live
        // there, and so stop with the app instead of outliving it on the caller's arbiter.
        arbiters[0].spawn(start_up(
            services.clone(),
            store.clone(),
            config.rebuild_projections,
            readiness.clone(),
        ));

        if let Some(addr) = config.metrics_addr {
            tracing::info!(%addr, "Metrics at /metrics, on this address only");
        }
        let control = control::Control::start(
            &config.data_dir,
            operator::Shop {
                store: store.clone(),
                currency: config.currency.clone(),
                running: Some(operator::Running {
                    accounts: control_accounts,
                    services: services.clone(),
                    readiness: readiness.clone(),
                }),
            },
        );

        Ok(Application {
            readiness,
            server,
            address,
            stopping,
            metrics_server,
            services,
            store,
            control,
            arbiters,
            _supervisor: supervisor,
            _settler: settler,
        })
    }

    /// The address actually bound (the port is chosen by the OS when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The hold supervisor: send it `ExpireDue` to expire what is due now, without waiting
    /// for its own wake-up (tests on a manual clock do).
    pub fn hold_supervisor(&self) -> Addr<HoldSupervisor> {
        self._supervisor.clone()
    }

    /// Where start-up is; `wait` on it to know when the shop serves its API.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight
    /// finish, stops the actors and flushes the store. Returns the error if start-up failed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handle = self.server.handle();
        // The server future drives the accept loop and the stop command: keep it polled.
        let mut server = actix_rt::spawn(self.server);
        let metrics = self.metrics_server.map(|server| {
            let handle = server.handle();
            (handle, actix_rt::spawn(server))
        });
        let readiness = self.readiness.clone();
        let store = self.store.clone();
        // Start-up failed, or a flush did (DESIGN §8: fatal). From the moment the store fails
        // the gate answers 503 to everything, so nothing more is acknowledged.
        let failed = async move {
            tokio::select! {
                reason = readiness.failed() => reason,
                cause = store.failed() => {
                    let reason = format!("the store failed: {cause}");
                    readiness.set_failed(reason.clone());
                    reason
                }
            }
        };
        let mut failure = None;
        tokio::select! {
            result = &mut server => result.context("The HTTP server task failed")??,
            () = shutdown => {
                tracing::info!("Shutting down: finishing requests in flight");
                // Streams have no end of their own: end them, or the stop waits for them.
                let _ = self.stopping.send(true);
                handle.stop(true).await;
                server.await.context("The HTTP server task failed")??;
            }
            reason = failed => {
                let _ = self.stopping.send(true);
                handle.stop(false).await;
                server.await.context("The HTTP server task failed")??;
                failure = Some(reason);
            }
        }
        if let Some((handle, server)) = metrics {
            handle.stop(true).await;
            server.await.context("The metrics server task failed")??;
        }
        if let Some(control) = self.control {
            control.stop();
        }
        if !self.store.has_failed() {
            self.store.durable().await?;
        }
        self.services.shutdown();
        for arbiter in self.arbiters {
            arbiter.stop();
            // Joining blocks, so wait on the blocking pool; the arbiter thread ends promptly.
            let _ = tokio::task::spawn_blocking(move || arbiter.join()).await;
        }
        drop(self.services);
        drop((self._supervisor, self._settler));
        if self.store.has_failed() {
            // Fail-stop: no flush after a failed one, not even on the way out.
            self.store.abandon();
        } else {
            // Returning means the data directory is free to open again.
            self.store.close(Duration::from_secs(10)).await;
        }
        match failure {
            Some(reason) => Err(anyhow::anyhow!("The shop stopped: {reason}")),
            None => {
                tracing::info!("Stopped");
                Ok(())
            }
        }
    }
}

/// Replays the journal into the projections (rebuilding them first when asked), re-drives
/// the follow-ups it found, and marks the shop ready; or marks start-up failed.
async fn start_up(services: Services, store: Store, rebuild: bool, readiness: Readiness) {
    let started = std::time::Instant::now();
    let replayed = tokio::task::spawn_blocking(move || {
        if rebuild {
            store
                .drop_projections()
                .context("Failed to drop the projections")?;
        }
        store.replay().context("Failed to replay the journal")
    })
    .await
    .context("The replay task failed")
    .and_then(|replayed| replayed);
    let replayed = match replayed {
        Ok(replayed) => replayed,
        Err(error) => {
            tracing::error!("{error:#}");
            return readiness.set_failed(format!("{error:#}"));
        }
    };
    let follow_ups = replayed.follow_ups.len();
    for (follow_up, commit) in replayed.follow_ups {
        match services.follow_up(follow_up).await {
            Ok(()) => commit.finish(),
            Err(error) => tracing::error!(
                ?follow_up,
                ?error,
                "Failed to re-drive a follow-up; it stays pending"
            ),
        }
    }
    tracing::info!(
        events = replayed.events,
        follow_ups,
        millis = started.elapsed().as_millis() as u64,
        "Replayed the journal after the checkpoint; ready"
    );
    readiness.set_ready(replayed.events);
}
