//! Logging setup: tracing with the level from RUST_LOG (default info), text or JSON.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests start many apps) is a no-op.
pub fn init(
    json: bool,
    ansi: bool,
    writer: impl for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
