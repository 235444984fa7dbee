//! `ticketing healthcheck`: asks a running shop's GET /healthz and exits 0 when it answers
//! 200, 1 otherwise, so a container's HEALTHCHECK needs no curl or wget in the image.
//!
//! Like the load tester it is a client of the shop over HTTP: it uses none of the server's
//! modules, only the listen address from the configuration to find the shop by default.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::config::HealthcheckArgs;

/// Why a shop counts as unhealthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no answer from {url}: {source}")]
    Unreachable {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}")]
    Status { url: Url, status: StatusCode },
    #[error("cannot start the client: {0}")]
    Client(String),
}

/// Runs the check and turns its outcome into the exit code: 0 healthy, 1 not. One line on
/// stdout or stderr says which (Docker keeps it in `docker inspect`'s health log).
pub fn main(args: HealthcheckArgs, listen: SocketAddr) -> ExitCode {
    let url = match args.url {
        Some(url) => url,
        None => match default_url(listen) {
            Ok(url) => url,
            Err(error) => {
                eprintln!("unhealthy: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| HealthError::Client(error.to_string()))
        .and_then(|runtime| runtime.block_on(check(&url, timeout)));
    match outcome {
        Ok(()) => {
            println!("healthy: {url} answered 200");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("unhealthy: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The /healthz of a shop listening on `listen`, reached over loopback: a shop listening on
/// every interface (0.0.0.0 or ::, as in a container) is asked on 127.0.0.1 or ::1.
pub fn default_url(listen: SocketAddr) -> Result<Url, HealthError> {
    let mut target = listen;
    if target.ip().is_unspecified() {
        target.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    // SocketAddr's Display brackets IPv6 addresses, as a URL needs.
    Url::parse(&format!("http://{target}/healthz"))
        .map_err(|error| HealthError::Client(format!("bad address {target}: {error}")))
}

/// One GET of `url` within `timeout`; healthy only on 200 (/healthz answers 503 once the
/// store has failed).
pub async fn check(url: &Url, timeout: Duration) -> Result<(), HealthError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // A proxy set in the environment must not stand between the check and the shop.
        .no_proxy()
        .build()
        .map_err(|error| HealthError::Client(error.to_string()))?;
    let response =
        client
            .get(url.clone())
            .send()
            .await
            .map_err(|source| HealthError::Unreachable {
                url: url.clone(),
                source,
            })?;
    match response.status() {
        StatusCode::OK => Ok(()),
        status => Err(HealthError::Status {
            url: url.clone(),
            status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_follows_the_listen_address_and_reaches_every_interface_over_loopback() {
        let cases = [
            (
                "127.0.0.1:3000",
                "http://127.0.0.1:3000/healthz",
                "loopback as is",
            ),
            (
                "0.0.0.0:3000",
                "http://127.0.0.1:3000/healthz",
                "every IPv4 interface",
            ),
            (
                "[::]:8080",
                "http://[::1]:8080/healthz",
                "every IPv6 interface",
            ),
            (
                "10.1.2.3:80",
                "http://10.1.2.3/healthz",
                "a given address (port 80 elided)",
            ),
            (
                "[fe80::1]:3000",
                "http://[fe80::1]:3000/healthz",
                "a given IPv6 address",
            ),
        ];
        for (listen, expected, why) in cases {
            let listen: SocketAddr = listen.parse().expect("a socket address");
            let url = default_url(listen).expect("a URL");
            assert_eq!(url.as_str(), expected, "{why}");
        }
    }
}
