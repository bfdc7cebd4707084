#!/usr/bin/python3
"""A catalogue run's long tail as a picture (docs/BENCHMARKS.md
"Simulator, research output"): from a `peerflow sim --out DIR` run of a
`catalogue` scenario, the titles grouped by their audience, with the
share of the viewers and of the CDN bytes in each group and its offload.

    tools/sim/catalogue.py DIR [--png FILE]"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--png")
    a = ap.parse_args()
    s = json.load(open(os.path.join(a.dir, "summary.json")))
    g = s["by_title_audience"]
    uppers = [x["viewers_from"] for x in g[1:]]
    names = ["%d" % x["viewers_from"] if (i == len(g) - 1 or uppers[i] - 1 == x["viewers_from"])
             else "%d-%d" % (x["viewers_from"], uppers[i] - 1) for i, x in enumerate(g)]
    names[-1] = "%d+" % g[-1]["viewers_from"]
    nv = sum(x["viewers"] for x in g)
    cdn = sum(x["cdn_bytes"] for x in g)
    print("| viewers of the title | titles | viewers | share of viewers | CDN (GB) | share of CDN | offload |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n, x in zip(names, g):
        print("| %s | %d | %d | %.1f%% | %.2f | %.1f%% | %.3f |" % (n, x["titles"], x["viewers"], 100 * x["viewers"] / nv,
                                                             x["cdn_bytes"] / 1e9, 100 * x["cdn_bytes"] / cdn,
                                                             x["offload"]))
    if not a.png:
        return 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=90)
    xs = range(len(g))
    ax.bar([x - 0.2 for x in xs], [x["viewers"] / nv for x in g], 0.4, label="share of viewers", color="tab:gray")
    ax.bar([x + 0.2 for x in xs], [x["cdn_bytes"] / cdn for x in g], 0.4, label="share of CDN bytes",
           color="tab:red", alpha=0.7)
    ax.plot(list(xs), [x["offload"] for x in g], "o-", color="tab:blue", label="offload in the group")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names)
    ax.set_xlabel("viewers a title had over the run (%d titles, Zipf s=%g, %d viewers)" % (
        s["titles"], s["zipf_s"], s["viewers"]), fontsize=8)
    ax.set_ylim(0, max(0.5, max(x["offload"] for x in g) * 1.2))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
