#!/usr/bin/env bash
# Vigie's main job on a fresh Debian machine, as root: installs what is missing
# (scripts/setup.sh), builds Vigie, and runs it in the lab (`vigie-lab demo`): a test PKI shaped
# like IGC-Santé, a hospital LAN with real servers (a web app, Dovecot), the connector seeded
# with a hospital directory and serving in its own network namespace, a real pcscd with the
# vpcd virtual reader and an emulated CPS4 card, and the real client reading the card, opening
# a session and its tunnel (`vigie up`), then curl reaching the apps through it. It stays up
# for you to try things; Enter pulls the card out and puts it back; Ctrl-C ends it and cleans
# up.
#   LAB_DIR (default ./lab-out): where the lab writes its PKI, logs and state (replaced at the
#   next run). Extra arguments go to `vigie-lab demo` (e.g. --once).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== building Vigie (debug build; the first build takes several minutes)"
cargo build --workspace --locked --bins --examples
exec ./target/debug/vigie-lab demo --dir "${LAB_DIR:-lab-out}" "$@"
