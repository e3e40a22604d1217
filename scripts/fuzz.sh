#!/usr/bin/env bash
# Runs every cargo-fuzz target of the workspace for a bounded time each.
#   scripts/fuzz.sh [SECONDS]   (default 60 per target)
# Each crate with a parser of untrusted bytes has a `fuzz/` folder; its committed corpus under
# `fuzz/corpus/<target>` seeds the run, and new inputs found are kept out of git.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
# The fuzzer needs nightly-only compiler flags; this stable toolchain accepts them with this.
export RUSTC_BOOTSTRAP=1
# One build folder for every fuzz crate, so shared dependencies are compiled once.
fuzz_target_dir=$PWD/target/fuzz
for dir in */fuzz; do
  [[ -f $dir/Cargo.toml ]] || continue
  crate=${dir%/fuzz}
  for target in $(cd "$crate" && cargo fuzz list); do
    echo "== fuzz $crate/$target for ${seconds}s"
    scratch=$(mktemp -d)
    seed=$crate/fuzz/corpus/$target
    mkdir -p "$seed"
    (cd "$crate" && cargo fuzz run --target-dir "$fuzz_target_dir" "$target" "$scratch" "../$seed" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 15)
    rm -rf "$scratch"
  done
done
