#!/usr/bin/python3
"""A run's evening as a picture (docs/BENCHMARKS.md "Simulator"): from a
`peerflow sim --out DIR` run's viewers.csv, the viewers present over
time and the offload share of the viewers who arrived in each bin (their
peer bytes over their peer + CDN bytes), as a PNG and a Markdown table.

    tools/sim/timeline.py DIR [--bin SECONDS] [--png FILE] [--clock H:M --speed X]

--clock and --speed label the axis with the evening's clock time when
the scenario is time-compressed (prime-time.sim: --clock 18:00 --speed 12)."""
import argparse
import csv
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--bin", type=float, default=60)
    ap.add_argument("--png")
    ap.add_argument("--clock", default=None)
    ap.add_argument("--speed", type=float, default=1)
    a = ap.parse_args()
    vs = list(csv.DictReader(open(os.path.join(a.dir, "viewers.csv"))))
    end = max(float(v["depart_s"]) for v in vs)
    nb = int(end // a.bin) + 1
    arr = [0] * nb
    cdn = [0.0] * nb
    peer = [0.0] * nb
    present = [0.0] * nb  # viewer-seconds in the bin / bin
    for v in vs:
        t0, t1 = float(v["arrive_s"]), float(v["depart_s"])
        b = int(t0 // a.bin)
        arr[b] += 1
        cdn[b] += float(v["cdn_bytes"])
        peer[b] += float(v["peer_bytes"])
        for k in range(int(t0 // a.bin), min(int(t1 // a.bin) + 1, nb)):
            lo, hi = max(t0, k * a.bin), min(t1, (k + 1) * a.bin)
            if hi > lo:
                present[k] += (hi - lo) / a.bin

    def label(t):
        if not a.clock:
            return "%.0f s" % t
        h, m = (int(x) for x in a.clock.split(":"))
        mins = h * 60 + m + t * a.speed / 60
        return "%02d:%02d" % (int(mins // 60) % 24, int(mins % 60))

    print("| from | arrivals | present (mean) | offload of those arriving |")
    print("|---|---:|---:|---:|")
    for k in range(nb):
        tot = cdn[k] + peer[k]
        print("| %s | %d | %.0f | %s |" % (label(k * a.bin), arr[k], present[k],
                                         "%.3f" % (peer[k] / tot) if tot else "-"))
    if not a.png:
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = [(k + 0.5) * a.bin for k in range(nb)]
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=90)
    ax.plot(x, present, "-", color="tab:gray", label="viewers present")
    ax.set_ylabel("viewers present")
    ax.set_xlabel("evening (compressed %gx)" % a.speed if a.clock else "simulated time (s)")
    ticks = [k * a.bin for k in range(0, nb + 1, max(1, nb // 8))]
    ax.set_xticks(ticks)
    ax.set_xticklabels([label(t) for t in ticks], fontsize=7)
    ax2 = ax.twinx()
    off = [peer[k] / (cdn[k] + peer[k]) if cdn[k] + peer[k] else None for k in range(nb)]
    ax2.plot([xi for xi, o in zip(x, off) if o is not None], [o for o in off if o is not None], "o-",
             color="tab:blue", label="offload of viewers arriving")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("offload (peers / all)", color="tab:blue")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
