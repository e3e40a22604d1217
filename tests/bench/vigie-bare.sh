#!/usr/bin/env bash
# Adapter of the shared benchmark harness for the baseline: Vigie's client tunnel in A, and in
# B a tunnel end with the same WireGuard and batched I/O but none of the connector's filter,
# session lookup or NAT (`vigie-lab bench tunnel-bare`). Compared with vigie-tunnel.sh in the
# same run, it gives what the connector's per-session work costs.
set -euo pipefail
VIGIE_BENCH_PEER=bare exec "$(dirname "${BASH_SOURCE[0]}")/vigie-tunnel.sh" "$@"
