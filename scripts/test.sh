#!/usr/bin/env bash
# Runs every test of Vigie on a fresh Debian machine, as root: installs what is missing
# (scripts/setup.sh), then formatting, clippy, the unit, simulation and end-to-end tests, and a
# bounded run of every fuzz target. Stops at the first failure.
#   FUZZ_SECONDS (default 60): time per fuzz target; 0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, simulation and end-to-end tests)"
cargo test --workspace --locked

if ((FUZZ_SECONDS > 0)); then
  ./scripts/fuzz.sh "$FUZZ_SECONDS"
fi
echo "== all tests passed"
