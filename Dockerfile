# The shop as a container image: the binary is built on the official Rust image with the
# toolchain the project pins (Cargo.toml's rust-version, 1.95) and runs on a slim Debian of
# the same release, as a non-root user, listening on 0.0.0.0:3000 with its data in the
# volume /data. docs/OPERATIONS.md, "Installing", tells how to run it.
#
#   docker build -t ticketing .
#   docker run -d --name ticketing -p 3000:3000 -v ticketing-data:/data --stop-timeout 40 ticketing
#
# Both base images are arguments so a site can pin them by digest or use a mirror:
#   docker build --build-arg RUST_IMAGE=rust:1.95.0-slim-bookworm@sha256:... .
# The build stage needs only a C compiler besides Rust (aws-lc-sys and mimalloc build C code
# with it); the slim Rust image has gcc.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /build
# The workspace: the server's manifest and sources, and its member crates (the rules in
# domain/, the load tester in loadtest/), without which `--locked` cannot resolve it. A new
# member needs a line here and one in .dockerignore; CI checks both even where no engine runs.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY domain ./domain
COPY loadtest ./loadtest
# No BuildKit cache mounts: the file builds with the legacy builder too. A build compiles
# every dependency (a few minutes on 2 cores); the layer is reused while nothing copied in
# above changes.
RUN cargo build --release --locked --bin ticketing

FROM ${RUNTIME_IMAGE}
# ca-certificates: `ticketing loadtest` checks an HTTPS shop against the system's roots (the
# shop's own Stripe client carries its roots). The user owns /data, created 0700 as the shop
# wants it; a fresh named volume copies that ownership.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ticketing \
    && useradd --system --uid 10001 --gid ticketing --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin ticketing \
    && mkdir /data \
    && chown ticketing:ticketing /data \
    && chmod 0700 /data
COPY --from=build /build/target/release/ticketing /usr/local/bin/ticketing

ENV TICKETING_ADDR=0.0.0.0:3000 \
    TICKETING_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 3000
USER 10001:10001

# The image has no curl or wget: the binary asks its own /healthz (on loopback, at the port
# of TICKETING_ADDR) and exits 0 or 1. /healthz answers from the moment the shop listens,
# so a long journal replay does not count as unhealthy; it turns 503 when the store fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["ticketing", "healthcheck"]

# SIGTERM (docker stop) finishes requests in flight (up to 30 s), flushes and exits 0; give
# it that long with `--stop-timeout 40`. A failed flush exits non-zero: run with
# `--restart unless-stopped` (or on-failure) so the next start replays the journal.
ENTRYPOINT ["ticketing"]
CMD ["serve"]
