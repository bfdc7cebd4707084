#!/usr/bin/python3
"""Offload against audience size (issue 17 item 5, docs/BENCHMARKS.md
"Simulator"): runs `peerflow sim SCENARIO --viewers N` for each N (nice
10, one at a time, kept in OUT/N), prints a Markdown table and draws
offload share and CDN / fluid bound against the audience as a PNG.

    tools/sim/offload.py [--scenario S]... [--out DIR] [--png FILE] [--reuse] N...

Several --scenario give several curves (runs in OUT/NAME/N).

The audience is shown as the viewers present on average while anyone
is (viewer-seconds over the span from the first arrival to the last
departure), the number that decides whether a title's swarm pays."""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(binary, scenario, n, out, reuse):
    os.makedirs(out, exist_ok=True)
    d = os.path.join(out, str(n))
    summ = os.path.join(d, "summary.json")
    wall = None
    if not (reuse and os.path.exists(summ)):
        t0 = time.monotonic()
        subprocess.run(["nice", "-n", "10", binary, "sim", "-q", scenario, "--viewers", str(n), "--out", d],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t0
    s = json.load(open(summ))
    vs = list(csv.DictReader(open(os.path.join(d, "viewers.csv"))))
    first = min(float(v["arrive_s"]) for v in vs)
    last = max(float(v["depart_s"]) for v in vs)
    present = sum(float(v["depart_s"]) - float(v["arrive_s"]) for v in vs) / max(last - first, 1e-9)
    return s, present, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", action="append", default=None)
    ap.add_argument("--out", default="/tmp/pf-sim-offload")
    ap.add_argument("--png", default=None)
    ap.add_argument("--bin", default=os.environ.get("PF_BIN", os.path.join(SRC, "build/peerflow")))
    ap.add_argument("--reuse", action="store_true", help="use runs already in OUT")
    ap.add_argument("n", nargs="+", type=int)
    a = ap.parse_args()
    scenarios = a.scenario or [os.path.join(SRC, "tools/sim/scenarios/offload-sweep.sim")]
    series = []
    print("| scenario | viewers | present (mean) | peak present | CDN (GB) | fluid bound (GB) | CDN / bound | offload "
          "| start-up p50 / p90 (s) | stalls | upload / viewer (MB) | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        rows = []
        series.append(rows)
        out = os.path.join(a.out, os.path.splitext(os.path.basename(sc))[0]) if len(scenarios) > 1 else a.out
        for n in a.n:
            s, present, wall = run(a.bin, sc, n, out, a.reuse)
            rows.append((n, present, s))
            print("| %s | %d | %.1f | %d | %.2f | %.2f | %.2f | %.3f | %.2f / %.2f | %d | %.1f | %s |" % (
                s["scenario"], n, present, s["peak_present"], s["cdn_bytes"] / 1e9, s["fluid_bound_bytes"] / 1e9,
                s["cdn_over_bound"], s["offload"], s["startup_p50_s"], s["startup_p90_s"], s["stalls"],
                s["upload_per_viewer_mean_bytes"] / 1e6, "%.0f" % wall if wall is not None else "-"), flush=True)
    if not a.png:
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=90)
    ax2 = ax.twinx()
    top = 1
    for i, rows in enumerate(series):
        c = "C%d" % i
        name = rows[0][2]["scenario"]
        x = [r[1] for r in rows]
        off = [r[2]["offload"] for r in rows]
        # the most the fluid bound leaves to the peers: 1 - bound / what was read
        best = [1 - r[2]["fluid_bound_bytes"] / r[2]["demand_bytes"] if r[2]["demand_bytes"] else 0 for r in rows]
        ratio = [r[2]["cdn_over_bound"] for r in rows]
        top = max([top] + ratio)
        ax.semilogx(x, off, "o-", color=c, label="%s: offload" % name)
        ax.semilogx(x, best, "s--", color=c, alpha=0.5, label="%s: bound's offload" % name)
        ax2.semilogx(x, ratio, "^:", color=c, alpha=0.7, label="%s: CDN / bound" % name)
        for r, xi, yi in zip(rows, x, off):
            ax.annotate("%d" % r[0], (xi, yi), textcoords="offset points", xytext=(3, -11), fontsize=6, color=c)
    ax.set_xlabel("viewers present at once (mean); points labelled with the audience N")
    ax.set_ylabel("offload (peers / all bytes)")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax2.set_ylabel("CDN / fluid bound (dotted, log)")
    ax2.set_yscale("log")
    ax2.set_ylim(0.5, top * 2)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, fontsize=6, loc="lower center", ncol=2)
    ax.set_title("Offload against audience size (peerflow sim)", fontsize=9)
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    fig.savefig(a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
