#!/usr/bin/env bash
# Adapter of the shared benchmark harness (shared/bench) for Vigie's tunnel: the client's
# tunnel in namespace A, the connector's data plane in namespace B, as `vigie up` and
# `vigie-connector serve` run them after a grant (see tests/src/bench.rs).
#
#   sudo OUR_ADAPTER=$PWD/tests/bench/vigie-tunnel.sh ../shared/bench/run.sh
#   VIGIE_LAB=path/to/vigie-lab   (default: target/release/vigie-lab, else target/debug)
#   VIGIE_BENCH_PEER=bare         B runs the baseline end without filter and NAT instead
#                                 (what vigie-bare.sh sets)
#
# Called as `vigie-tunnel.sh check|up|down` with the BENCH_* variables of the harness. It
# touches nothing outside the two namespaces and BENCH_STATE_DIR, and stops by PID only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

lab() {
  if [[ -n ${VIGIE_LAB:-} ]]; then
    echo "$VIGIE_LAB"
  elif [[ -x $root/target/release/vigie-lab ]]; then
    echo "$root/target/release/vigie-lab"
  else
    echo "$root/target/debug/vigie-lab"
  fi
}

# Starts one end in NS, records its PID, and waits (bounded) for its TUN device.
start_end() {
  local ns=$1 end=$2 ifname=$3 log="$BENCH_STATE_DIR/vigie-$2.log" pid i
  ip netns exec "$ns" "$(lab)" bench "$end" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >>"$BENCH_PIDFILE"
  for ((i = 0; i < 100; i++)); do
    ip -n "$ns" link show dev "$ifname" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "vigie $end exited: $(tail -n 5 "$log")" >&2; return 1; }
    sleep 0.1
  done
  echo "vigie $end made no $ifname in 10 s: $(tail -n 5 "$log")" >&2
  return 1
}

case "${1:-${BENCH_ACTION:-}}" in
  check)
    bin=$(lab)
    [[ -x $bin ]] || { echo "$bin not built: cargo build --release -p vigie-lab" >&2; exit 1; }
    profile=$(basename "$(dirname "$bin")")
    what=vigie
    [[ ${VIGIE_BENCH_PEER:-} == bare ]] && what="vigie without filter and NAT"
    echo "$what $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown) ($profile build)"
    ;;
  up)
    mkdir -p "$BENCH_STATE_DIR"
    # The connector's "app" is the address the harness measures against, on B's loopback
    # (the bare end holds it on its TUN device instead).
    [[ ${VIGIE_BENCH_PEER:-} == bare ]] || ip -n "$BENCH_NS_B" addr add "$BENCH_TUN_B/32" dev lo
    if [[ ${VIGIE_BENCH_PEER:-} == bare ]]; then
      start_end "$BENCH_NS_B" tunnel-bare "$BENCH_IF_B"
    else
      start_end "$BENCH_NS_B" tunnel-connector "$BENCH_IF_B"
    fi
    start_end "$BENCH_NS_A" tunnel-client "$BENCH_IF_A"
    ;;
  down)
    if [[ -f ${BENCH_PIDFILE:-} ]]; then
      mapfile -t pids <"$BENCH_PIDFILE"
      for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
      for _ in $(seq 30); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
      done
      for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    ip -n "$BENCH_NS_B" addr del "$BENCH_TUN_B/32" dev lo 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 check|up|down   (inputs: the BENCH_* variables of shared/bench)" >&2
    exit 2
    ;;
esac
