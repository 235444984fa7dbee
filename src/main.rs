//! The `ticketing` binary: parse the configuration, then serve (start logging, run until a
//! signal), run the load tester, check a running shop's health, back up, restore and verify
//! a data directory, or run an operator's command (journal, export, admin).

use std::process::ExitCode;

use clap::Parser;

use ticketing::Application;
use ticketing::config::{Cli, Command, Config};

/// mimalloc instead of glibc's allocator, for speed: malloc and free were a large share of
/// the server's CPU. It costs some memory at start; docs/BENCHMARKS.md measures both.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => serve(cli.serve),
        Some(Command::Loadtest(args)) => loadtest::main(*args),
        Some(Command::Healthcheck(args)) => ticketing::healthcheck::main(args, cli.serve.addr),
        Some(Command::Backup(args)) => ticketing::backup::backup_main(args),
        Some(Command::Restore(args)) => ticketing::backup::restore_main(args),
        Some(Command::Verify(args)) => ticketing::backup::verify_main(args),
        Some(Command::Journal(args)) => ticketing::operator::journal_main(args),
        Some(Command::Export(args)) => ticketing::operator::export_main(args),
        Some(Command::Admin(args)) => ticketing::operator::admin_main(args),
    }
}

fn serve(config: Config) -> ExitCode {
    use std::io::IsTerminal;
    // Every file the shop creates (sled's included) is owner-only: the data directory holds
    // password hashes, session ids and the session secret (DESIGN §8).
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    ticketing::telemetry::init(
        config.log_json,
        std::io::stdout().is_terminal(),
        std::io::stdout,
    );
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config).await?;
        app.run_until_stopped(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "Cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
