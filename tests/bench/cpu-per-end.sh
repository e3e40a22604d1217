#!/usr/bin/env bash
# CPU per gigabit at each end of a tunnel: the client's (namespace A) and the connector's
# (namespace B) apart, for upload (A→B) and download (B→A), with any adapter of the shared
# harness (../shared/bench/adapters/*.sh, tests/bench/vigie-tunnel.sh).
#
#   sudo tests/bench/cpu-per-end.sh OUT.tsv NAME=ADAPTER [NAME=ADAPTER...]
#   DURATION (default 10) seconds per iperf3 run, ROUNDS (default 3), BENCH_MTU (1420)
#
# Appends rows `cpu_per_end <round> <name> <metric> <value>` to OUT.tsv: for each direction
# `<dir>_mbps`, `<dir>_client_cpu_pct`, `<dir>_connector_cpu_pct` (100 = one core) and
# `<dir>_client_cpu_s_per_gbit`, `<dir>_connector_cpu_s_per_gbit` (CPU-seconds per gigabit
# carried). Each end's daemon is told apart by the namespace it runs in.
#
# Its own two namespaces (vgcpu-<id>-a/b, underlay 198.18.0.1/.2, tunnel 100.64.1.0/24),
# removed on exit with what runs in them; processes stopped by PID only.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "cpu-per-end: run as root" >&2; exit 1; }
(($# >= 2)) || { echo "usage: $0 OUT.tsv NAME=ADAPTER..." >&2; exit 2; }
out=$1
shift
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
ns_a=vgcpu-$id-a ns_b=vgcpu-$id-b
work=$(mktemp -d)
ticks=$(getconf CLK_TCK)

log() { printf '[%s] cpu-per-end: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
  set +e
  local ns p
  for ns in "$ns_a" "$ns_b"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  done
  sleep 0.5
  for ns in "$ns_a" "$ns_b"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$ns_a" "$ns_b"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$ns_a" link add "vc${id}a" type veth peer name "vc${id}b" netns "$ns_b"
ip -n "$ns_a" addr add 198.18.0.1/24 dev "vc${id}a"
ip -n "$ns_b" addr add 198.18.0.2/24 dev "vc${id}b"
ip -n "$ns_a" link set "vc${id}a" up
ip -n "$ns_b" link set "vc${id}b" up

# utime+stime of one process (all threads), in ticks.
cpu_of() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The adapter's daemon running in namespace $1.
daemon_in() {
  local p
  while read -r p; do
    [[ $(ip netns identify "$p" 2>/dev/null) == "$1" ]] && { echo "$p"; return; }
  done <"$BENCH_PIDFILE"
}

adapter_env() {
  local a b
  a=$(wg genkey) b=$(wg genkey)
  export BENCH_NS_A=$ns_a BENCH_NS_B=$ns_b BENCH_UNDERLAY_A=198.18.0.1 BENCH_UNDERLAY_B=198.18.0.2
  export BENCH_IF_A=vc${id}ta BENCH_IF_B=vc${id}tb BENCH_TUN_A=100.64.1.1 BENCH_TUN_B=100.64.1.2
  export BENCH_TUN_PREFIXLEN=24 BENCH_PORT_A=51831 BENCH_PORT_B=51832 BENCH_MTU=${BENCH_MTU:-1420}
  export BENCH_PRIV_A=$a BENCH_PRIV_B=$b
  BENCH_PUB_A=$(wg pubkey <<<"$a") BENCH_PUB_B=$(wg pubkey <<<"$b")
  export BENCH_PUB_A BENCH_PUB_B BENCH_PKI_DIR=$work/pki BENCH_STATE_DIR=$work/state
  export BENCH_PIDFILE=$work/pids BENCH_READY_TIMEOUT=15
  mkdir -p "$BENCH_PKI_DIR" "$BENCH_STATE_DIR"
  : >"$BENCH_PIDFILE"
}

# One iperf3 run: name round direction (up|down).
measure() {
  local name=$1 r=$2 dir=$3 client=$4 connector=$5 flags=() json c0 n0 c1 n1 bits wall t0 t1
  [[ $dir == down ]] && flags=(-R)
  json=$work/iperf-$name-$dir-$r.json
  ip netns exec "$ns_b" iperf3 -s -1 -p 5201 >/dev/null 2>&1 </dev/null &
  local server=$!
  sleep 0.3
  c0=$(cpu_of "$client") n0=$(cpu_of "$connector") t0=$(date +%s.%N)
  timeout $((DURATION + 20)) ip netns exec "$ns_a" iperf3 -c "$BENCH_TUN_B" -p 5201 \
    -t "$DURATION" -J "${flags[@]}" >"$json" 2>/dev/null </dev/null || true
  c1=$(cpu_of "$client") n1=$(cpu_of "$connector") t1=$(date +%s.%N)
  wait "$server" 2>/dev/null || true
  bits=$(jq -r '.end.sum_received.bytes * 8' "$json" 2>/dev/null || echo 0)
  wall=$(awk "BEGIN { print $t1 - $t0 }")
  awk -v name="$name" -v r="$r" -v dir="$dir" -v bits="$bits" -v wall="$wall" -v hz="$ticks" \
    -v dc=$((c1 - c0)) -v dn=$((n1 - n0)) -v secs="$DURATION" 'BEGIN {
      if (bits <= 0) exit
      gbit = bits / 1e9
      printf "cpu_per_end\t%s\t%s\t%s_mbps\t%.1f\n", r, name, dir, bits / secs / 1e6
      printf "cpu_per_end\t%s\t%s\t%s_client_cpu_pct\t%.1f\n", r, name, dir, 100 * dc / hz / wall
      printf "cpu_per_end\t%s\t%s\t%s_connector_cpu_pct\t%.1f\n", r, name, dir, 100 * dn / hz / wall
      printf "cpu_per_end\t%s\t%s\t%s_client_cpu_s_per_gbit\t%.3f\n", r, name, dir, dc / hz / gbit
      printf "cpu_per_end\t%s\t%s\t%s_connector_cpu_s_per_gbit\t%.3f\n", r, name, dir, dn / hz / gbit
    }' >>"$out"
}

for spec in "$@"; do
  name=${spec%%=*} adapter=${spec#*=}
  adapter_env
  if ! "$adapter" up >"$work/$name.log" 2>&1; then
    log "$name: adapter up failed: $(tail -n 3 "$work/$name.log")"
    continue
  fi
  for _ in $(seq 30); do
    ip netns exec "$ns_a" ping -c1 -W1 "$BENCH_TUN_B" >/dev/null 2>&1 && break
  done
  client=$(daemon_in "$ns_a") connector=$(daemon_in "$ns_b")
  log "$name: client PID ${client:-?}, connector PID ${connector:-?}"
  for ((r = 1; r <= ROUNDS; r++)); do
    for dir in up down; do measure "$name" "$r" "$dir" "${client:-0}" "${connector:-0}"; done
  done
  "$adapter" down >>"$work/$name.log" 2>&1 || true
  for p in $(cat "$BENCH_PIDFILE"); do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
done
log "rows appended to $out"
