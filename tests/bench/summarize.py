#!/usr/bin/env python3
"""Vigie's whole benchmark, summarised: the tables (medians with their [min-max] spread over
rounds), the targets met or not, and a chart.

    tests/bench/summarize.py RESULTS_DIR

RESULTS_DIR is what scripts/bench.sh writes: `upload/` and `download/` (the shared harness's
runs, client to connector and back), and `results.tsv` (Vigie's own benchmarks). Every file
holds rows `section<TAB>round<TAB>scenario<TAB>metric<TAB>value`. Writes `summary.md` and,
when matplotlib is installed, `chart.png` in RESULTS_DIR.
"""

import collections
import pathlib
import statistics
import sys

TUNNELS = ["veth", "wireguard-go", "boringtun", "vigie-bare", "ours"]
LABELS = {
    "veth": "veth underlay (ceiling)",
    "wireguard-go": "wireguard-go (Debian)",
    "boringtun": "boringtun-cli 0.7.1",
    "vigie-bare": "Vigie without filter and NAT",
    "ours": "**Vigie**",
}


def read(path):
    """Rows of a results file as {(section, scenario, metric): {round: value}}."""
    table = collections.defaultdict(dict)
    if not path.exists():
        return table
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) != 5:
            continue
        section, rnd, scenario, metric, value = parts
        try:
            table[(section, scenario, metric)][rnd] = float(value)
        except ValueError:
            continue
    return table


def spread(values):
    """'median [min-max]' of a list of numbers, or 'n/a'."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(values))}–{fmt(max(values))}]"


def fmt(x):
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def values(table, section, scenario, metric):
    return list(table.get((section, scenario, metric), {}).values())


def paired(table, section, metric, a, b, op):
    """op(a, b) per round where both ran (ratios stay paired with their own round)."""
    ra = table.get((section, a, metric), {})
    rb = table.get((section, b, metric), {})
    return [op(ra[r], rb[r]) for r in ra if r in rb and rb[r]]


def tunnel_table(table, title):
    rows = [f"### {title}", ""]
    rows.append(
        "| tunnel | TCP 1 stream, Mbit/s | ×wireguard-go | vs veth | TCP 4 streams, Mbit/s "
        "| ×wireguard-go | ping, ms | CPU of both ends, % (1 stream) |"
    )
    rows.append("|---|---|---|---|---|---|---|---|")
    for name in TUNNELS:
        if not values(table, "tunnels", name, "tcp1_mbps"):
            continue
        ratio = lambda m: spread(paired(table, "tunnels", m, name, "wireguard-go", lambda x, y: x / y))
        veth = spread(paired(table, "tunnels", "tcp1_mbps", name, "veth", lambda x, y: 100 * x / y))
        cpu = spread(values(table, "tunnels", name, "tcp1_daemon_cpu_pct"))
        rows.append(
            f"| {LABELS[name]} | {spread(values(table, 'tunnels', name, 'tcp1_mbps'))} "
            f"| {ratio('tcp1_mbps') if name != 'wireguard-go' else '1'} | {veth} % "
            f"| {spread(values(table, 'tunnels', name, 'tcp4_mbps'))} "
            f"| {ratio('tcp4_mbps') if name != 'wireguard-go' else '1'} "
            f"| {spread(values(table, 'tunnels', name, 'ping_median_ms'))} | {cpu} |"
        )
    return rows


def cpu_table(table):
    names = sorted({s for (sec, s, _) in table if sec == "cpu_per_end"})
    if not names:
        return []
    rows = ["### CPU per gigabit at each end", ""]
    rows.append("CPU-seconds per gigabit carried (lower is better), and each end's CPU (100 % = one core).")
    rows.append("")
    rows.append("| tunnel | direction | Mbit/s | client CPU-s/Gbit | connector CPU-s/Gbit | client CPU % | connector CPU % |")
    rows.append("|---|---|---|---|---|---|---|")
    for name in names:
        for d, label in (("up", "client → connector"), ("down", "connector → client")):
            v = lambda m: spread(values(table, "cpu_per_end", name, f"{d}_{m}"))
            rows.append(
                f"| {name} | {label} | {v('mbps')} | {v('client_cpu_s_per_gbit')} "
                f"| {v('connector_cpu_s_per_gbit')} | {v('client_cpu_pct')} | {v('connector_cpu_pct')} |"
            )
    return rows


def generic_tables(table, skip):
    """One table per other section: scenarios down, metrics across."""
    rows = []
    sections = sorted({sec for (sec, _, _) in table if sec not in skip})
    for section in sections:
        keys = [(s, m) for (sec, s, m) in table if sec == section]
        scenarios = sorted({s for s, _ in keys})
        metrics = sorted({m for _, m in keys})
        rows += [f"### {section}", "", "| scenario | " + " | ".join(metrics) + " |"]
        rows.append("|---" * (len(metrics) + 1) + "|")
        for s in scenarios:
            cells = [spread(values(table, section, s, m)) for m in metrics]
            rows.append(f"| {s} | " + " | ".join(cells) + " |")
        rows.append("")
    return rows


def med(xs):
    return statistics.median(xs) if xs else None


def targets(up, down, own):
    """Each target of the performance work: what was measured, and whether it is met."""
    rows = ["### Targets", "", "| target | measured (median) | met |", "|---|---|---|"]

    def line(what, value, unit, ok):
        shown = "not measured" if value is None else f"{fmt(value)}{unit}"
        verdict = "—" if value is None else ("yes" if ok(value) else "**no**")
        rows.append(f"| {what} | {shown} | {verdict} |")

    for m, label in (("tcp1_mbps", "1 stream"), ("tcp4_mbps", "4 streams")):
        x = med(paired(up, "tunnels", m, "ours", "wireguard-go", lambda a, b: a / b))
        line(f"throughput ≥ 4× wireguard-go, {label}, upload", x, "×", lambda v: v >= 4)
        x = med(paired(down, "tunnels", m, "ours", "wireguard-go", lambda a, b: a / b))
        line(f"throughput ≥ 4× wireguard-go, {label}, download", x, "×", lambda v: v >= 4)
    x = med(paired(up, "tunnels", "tcp1_mbps", "ours", "veth", lambda a, b: 100 * a / b))
    line("about 20 % of the veth ceiling, 1 stream", x, " %", lambda v: v >= 20)
    for m, label in (("tcp1_mbps", "1 stream"), ("tcp4_mbps", "4 streams")):
        x = med(paired(up, "tunnels", m, "ours", "vigie-bare", lambda a, b: 100 * (1 - a / b)))
        line(f"filter and NAT cost < 5 % of throughput, {label}", x, " %", lambda v: v < 5)
    for n, label in (("1", "1 stream"), ("4", "4 streams")):
        eff = lambda name: {
            r: mbps / cpu
            for r, mbps in up.get(("tunnels", name, f"tcp{n}_mbps"), {}).items()
            if (cpu := up.get(("tunnels", name, f"tcp{n}_daemon_cpu_pct"), {}).get(r))
        }
        ours, bare = eff("ours"), eff("vigie-bare")
        x = med([100 * (1 - ours[r] / bare[r]) for r in ours if r in bare])
        line(f"filter and NAT cost < 5 % of CPU per bit, {label}", x, " %", lambda v: v < 5)
    mib = 1 / (1024 * 1024)
    checks = [
        ("admission", "quic13-server-ec-c16", "admissions_per_cpu_s", 1,
         "≥ 1,500 TLS 1.3 admissions per connector CPU-second (QUIC, 16 clients)", "", lambda v: v >= 1500),
        ("admission", "tcp13-server-ec-c16", "admissions_per_cpu_s", 1,
         "≥ 1,500 TLS 1.3 admissions per connector CPU-second (TCP, 16 clients)", "", lambda v: v >= 1500),
        ("scale", "sessions-10000", "rss_after_bytes", mib,
         "10,000 sessions in under 1 GiB (connector RSS)", " MiB", lambda v: v < 1024),
        ("first_byte", "cps4", "first_byte_minus_signing_ms", 1,
         "first app byte < 300 ms beyond the card's signing (CPS4)", " ms", lambda v: v < 300),
        ("first_byte", "cps3", "first_byte_minus_signing_ms", 1,
         "first app byte < 300 ms beyond the card's signing (CPS3)", " ms", lambda v: v < 300),
        ("session_events", "kill", "seconds", 1, "a kill ends the tunnel in < 2 s", " s", lambda v: v < 2),
        ("session_events", "blocklist", "seconds", 1,
         "a revocation (blocklist entry) ends the tunnel in < 2 s", " s", lambda v: v < 2),
    ]
    for section, scenario, metric, scale, what, unit, ok in checks:
        value = med(values(own, section, scenario, metric))
        line(what, None if value is None else value * scale, unit, ok)
    return rows


def chart(up, down, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [n for n in TUNNELS if n != "veth" and values(up, "tunnels", n, "tcp1_mbps")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (table, title) in zip(axes, ((up, "client → connector"), (down, "connector → client"))):
        width = 0.38
        for i, (metric, label) in enumerate((("tcp1_mbps", "1 stream"), ("tcp4_mbps", "4 streams"))):
            meds, lows, highs = [], [], []
            for n in names:
                v = values(table, "tunnels", n, metric) or [0]
                m = statistics.median(v)
                meds.append(m / 1000)
                lows.append((m - min(v)) / 1000)
                highs.append((max(v) - m) / 1000)
            xs = [x + (i - 0.5) * width for x in range(len(names))]
            bars = ax.bar(xs, meds, width, yerr=[lows, highs], capsize=3, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([LABELS[n].strip("*") for n in names], rotation=15, fontsize=8)
        veth = values(table, "tunnels", "veth", "tcp1_mbps")
        ceiling = f" (veth: {statistics.median(veth) / 1000:.1f})" if veth else ""
        ax.set_title(f"TCP through the tunnel, {title}{ceiling}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("Gbit/s (median, bars: min–max over rounds)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    out = pathlib.Path(sys.argv[1])
    up, down, own = read(out / "upload/results.tsv"), read(out / "download/results.tsv"), read(out / "results.tsv")
    lines = [f"# Vigie benchmark, {out.name}", ""]
    lines += targets(up, down, own) + [""]
    lines += tunnel_table(up, "Tunnel throughput, client → connector (upload)") + [""]
    lines += tunnel_table(down, "Tunnel throughput, connector → client (download)") + [""]
    lines += cpu_table(own) + [""]
    lines += generic_tables(own, {"cpu_per_end"})
    for section, scenario, metric, label in (
        ("crypto", "chacha20-poly1305", "enc_Bps", "ChaCha20-Poly1305 seal, one core"),
        ("tls", "client-rsa2048", "handshakes_per_server_cpu_s", "openssl s_server, TLS 1.3 mTLS handshakes per server CPU-second"),
    ):
        v = values(up, section, scenario, metric)
        if v:
            scale = 8 / 1e9 if metric == "enc_Bps" else 1
            unit = " Gbit/s" if metric == "enc_Bps" else ""
            lines.append(f"- {label}: {spread([x * scale for x in v])}{unit}")
    if chart(up, down, out / "chart.png"):
        lines += ["", "![throughput](chart.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(out / "summary.md")


if __name__ == "__main__":
    main()
