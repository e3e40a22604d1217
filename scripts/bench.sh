#!/usr/bin/env bash
# Vigie's whole benchmark, in one command, on a Debian 12 machine as root:
#
#   sudo ./scripts/bench.sh              # about 25 minutes; writes tests/bench/results/<time>/
#   QUICK=1 sudo ./scripts/bench.sh      # a short run to check it works (about 8 minutes)
#
# Installs what it needs (scripts/setup.sh, the shared harness's setup: iperf3, jq,
# boringtun-cli; python3-matplotlib for the chart), builds Vigie in release, then measures:
#   1. tunnels, side by side in one run (../shared/bench): the veth ceiling, wireguard-go,
#      boringtun-cli, Vigie without filter and NAT, and Vigie (client tunnel → connector data
#      plane), TCP 1 and 4 streams and ping, client → connector; then connector → client;
#      with the harness's ChaCha20-Poly1305 ceiling and openssl's mTLS handshake anchor;
#   2. CPU per gigabit at each end (tests/bench/cpu-per-end.sh), Vigie and the references;
#   3. admissions per connector CPU-second, TLS 1.2/TCP and TLS 1.3/QUIC (bench `admission`);
#   4. 10,000 concurrent sessions: memory, time to admit, filtering (bench `scale`);
#   5. time to first app byte with the card's signing apart (bench `first_byte`);
#   6. time from a kill, an HR suspension, a blocklist entry to the session's end
#      (bench `session_events`);
# and writes summary.md (every table, medians with [min–max] over rounds, the targets met or
# not) and chart.png in the results folder. Nothing leaves the namespaces the benchmarks make.
#   HARNESS (default ../shared/bench)  the shared harness
#   OUT (default tests/bench/results/<UTC time>)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
harness=$(cd "${HARNESS:-../shared/bench}" && pwd)
out=${OUT:-$root/tests/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (namespaces, TUN devices)" >&2; exit 1; }

./scripts/setup.sh
"$harness/setup.sh"
# Debian's own Python, which python3-matplotlib is for (another python3 may come first).
python=/usr/bin/python3
if ! "$python" -c 'import matplotlib' 2>/dev/null; then
  echo "bench: installing python3-matplotlib (the chart)"
  apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null
fi

echo "== building Vigie (release)"
cargo build --release --locked -p vigie-lab -p vigie-connector -p vigie-client --bins

mkdir -p "$out"
own=$out/results.tsv
: >"$own"
export VIGIE_BENCH_TSV=$own
if [[ -n ${QUICK:-} ]]; then
  rounds=(REPEATS=1 DURATION=5 PING_COUNT=10 SPEED_SECONDS=1 TLS_SECONDS=1)
  export ROUNDS=1 DURATION=5
else
  rounds=(REPEATS=3 DURATION=10)
fi
tunnels="wireguard-go boringtun $root/tests/bench/vigie-bare.sh"
adapter=$root/tests/bench/vigie-tunnel.sh

echo "== 1. tunnels side by side, client → connector (and the crypto and TLS anchors)"
env "${rounds[@]}" MAX_SECONDS=1200 TUNNELS="$tunnels" OUR_ADAPTER="$adapter" \
  OUT_DIR="$out/upload" "$harness/run.sh"
echo "== 1. tunnels side by side, connector → client"
env "${rounds[@]}" MAX_SECONDS=1200 SECTIONS=tunnels IPERF_ARGS=-R TUNNELS="$tunnels" \
  OUR_ADAPTER="$adapter" OUT_DIR="$out/download" "$harness/run.sh"

echo "== 2. CPU per gigabit at each end"
tests/bench/cpu-per-end.sh "$own" vigie="$adapter" \
  wireguard-go="$harness/adapters/wireguard-go.sh" boringtun="$harness/adapters/boringtun.sh"

for bench in "vigie-connector admission" "vigie-connector scale" "vigie-lab first_byte" \
  "vigie-connector session_events"; do
  set -- $bench
  echo "== cargo bench -p $1 --bench $2"
  cargo bench --locked -p "$1" --bench "$2" | tee "$out/$2.md"
done

"$python" tests/bench/summarize.py "$out"
echo "== results in $out (summary.md, chart.png)"
