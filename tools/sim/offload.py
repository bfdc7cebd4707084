#!/usr/bin/env python3
"""Offload against audience size (issue 17 item 5, docs/BENCHMARKS.md
"Simulator"): runs `peerflow sim SCENARIO --viewers N` for each N (nice
10, one at a time, kept in OUT/N), prints a Markdown table and draws
offload share and CDN / fluid bound against the audience as a PNG.

    tools/sim/offload.py [--scenario S] [--out DIR] [--png FILE] [--reuse] N...

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
    ap.add_argument("--scenario", default=os.path.join(SRC, "tools/sim/scenarios/offload-sweep.sim"))
    ap.add_argument("--out", default="/tmp/pf-sim-offload")
    ap.add_argument("--png", default=None)
    ap.add_argument("--bin", default=os.environ.get("PF_BIN", os.path.join(SRC, "build/peerflow")))
    ap.add_argument("--reuse", action="store_true", help="use runs already in OUT")
    ap.add_argument("n", nargs="+", type=int)
    a = ap.parse_args()
    rows = []
    print("| viewers | present (mean) | peak present | CDN (GB) | fluid bound (GB) | CDN / bound | offload "
          "| start-up p50 / p90 (s) | stalls | upload / viewer (MB) | wall (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in a.n:
        s, present, wall = run(a.bin, a.scenario, n, a.out, a.reuse)
        rows.append((n, present, s))
        print("| %d | %.1f | %d | %.2f | %.2f | %.2f | %.3f | %.2f / %.2f | %d | %.1f | %s |" % (
            n, present, s["peak_present"], s["cdn_bytes"] / 1e9, s["fluid_bound_bytes"] / 1e9,
            s["cdn_over_bound"], s["offload"], s["startup_p50_s"], s["startup_p90_s"], s["stalls"],
            s["upload_per_viewer_mean_bytes"] / 1e6, "%.0f" % wall if wall is not None else "-"), flush=True)
    if not a.png:
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = [r[1] for r in rows]
    off = [r[2]["offload"] for r in rows]
    # the best offload the fluid bound allows: 1 - bound / what was read
    best = [1 - r[2]["fluid_bound_bytes"] / r[2]["demand_bytes"] if r[2]["demand_bytes"] else 0 for r in rows]
    ratio = [r[2]["cdn_over_bound"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=90)
    ax.semilogx(x, off, "o-", label="offload (peers / all bytes)")
    ax.semilogx(x, best, "s--", label="fluid bound's offload (1 - bound / demand)")
    for r, xi, yi in zip(rows, x, off):
        ax.annotate("N=%d" % r[0], (xi, yi), textcoords="offset points", xytext=(4, -12), fontsize=7)
    ax.set_xlabel("viewers present at once (mean)")
    ax.set_ylabel("share of bytes from peers")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax2 = ax.twinx()
    ax2.semilogx(x, ratio, "^:", color="tab:red", label="CDN / fluid bound")
    ax2.set_ylabel("CDN / fluid bound", color="tab:red")
    ax2.set_ylim(0, max(ratio) * 1.2 if ratio else 1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.set_title("Offload against audience size (%s)" % rows[0][2]["scenario"], fontsize=9)
    fig.tight_layout()
    fig.savefig(a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
