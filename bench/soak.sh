#!/usr/bin/env bash
# The full crash soak (docs/BENCHMARKS.md, "Crash soak"): the release binary under mixed
# load, SIGKILLed at a random moment 20 times in a row (or $1 times), restarted on the same
# data directory and audited after each kill. `cargo test` runs the same test with 3 kills.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
SOAK_KILLS="${1:-20}" SOAK_BIN="$PWD/target/release/ticketing" \
    cargo test --test api soak -- --nocapture
