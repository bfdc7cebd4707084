"""The lab's results: per-viewer QoE, totals, the fluid-model CDN bound,
a Markdown report and PNG plots (python3-matplotlib, when installed).

The bound, per one-second bin t of a mode's run (payload bytes):
    demand(t)  = sum over viewers of the bytes their players read during t
                 (read-ahead included: what the delivery system must hand
                 over, when the player asks for it)
    upload(t)  = sum over viewers present (arrived, not yet left) and seeders
                 of their upload capacity (link rate, or the client's
                 upload cap when lower)
    novel(t)   = bytes first read by any player during t (64 KiB slots), when
                 no seeder holds everything
    bound(t)   = max(novel(t), demand(t) - upload(t), 0)
The CDN must serve at least sum(bound): demand the peers' upload cannot
carry, and one copy of anything no peer holds.  It is a fluid bound: it
ignores start-up bursts and read-ahead, so a real swarm cannot meet it
exactly.
"""

import json
import math
import os


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _pct(xs, q):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(math.ceil(q * len(xs))) - 1)]


SLOT = 65536  # bytes: the unit of "first read by anyone"


def _spread(bins, t0, ws, we, amount):
    """Adds amount, spread evenly over wall time [ws, we), to 1 s bins."""
    n = len(bins)
    if we <= ws:
        b = int(ws - t0)
        if 0 <= b < n:
            bins[b] += amount
        return
    b = int(ws - t0)
    while b < n and t0 + b < we:
        lo, hi = max(ws, t0 + b), min(we, t0 + b + 1)
        if hi > lo and b >= 0:
            bins[b] += amount * (hi - lo) / (we - ws)
        b += 1


def _upload_cap(res, v):
    cap = v["up_mbit"] * 1e6 / 8
    if v.get("upload_rate_kbyte"):
        cap = min(cap, v["upload_rate_kbyte"] * 1000)
    return 0 if res["mode"] == "cdn-only" else cap


def fluid_bound_abr(sc, res):
    """The bound for an ABR title (hls_player.py), per one-second bin t:
    demand(t) = bytes of the files the players fetched during t and played
                (playlists and init segments; a segment only if the playhead
                reached it: what was played, at whichever rendition)
    upload(t) = as fluid_bound's
    novel(t)  = one copy of each file played by anyone, at the first
                played fetch of it by anyone
    bound(t)  = max(novel(t), demand(t) - upload(t), 0)"""
    t0 = res["t_start"]
    nbins = int(math.ceil(res["t_end"] - t0)) + 1
    demand, playback, upload, novel = ([0.0] * nbins for _ in range(4))
    seed_up = sc["seeders"]["count"] * sc["seeders"]["up_mbit"] * 1e6 / 8
    first = {}
    for v in res["viewers"]:
        p = v.get("player")
        if not p:
            continue
        cap = _upload_cap(res, v)
        _spread(upload, t0, p["t0"], p["left"], cap * max(0.0, p["left"] - p["t0"]))
        mean = (p.get("mean_media_bps") or 0) / 8
        for ws, we, ms, me in p["play"]:
            _spread(playback, t0, ws, we, mean * (me - ms))
        for tr, td, path, n, kind, level, seg, played in p.get("fetches", []):
            if not played:
                continue
            _spread(demand, t0, tr, td, n)
            if path not in first or tr < first[path][0]:
                first[path] = (tr, td, n)
    if not sc["seeders"]["count"]:
        for tr, td, n in first.values():
            _spread(novel, t0, tr, td, n)
    series, total = [], 0.0
    for b in range(nbins):
        bd = max(novel[b], demand[b] - upload[b] - seed_up, 0.0)
        total += bd
        series.append((b, bd, demand[b], upload[b] + seed_up, novel[b], playback[b]))
    return series, total


def fluid_bound(sc, res):
    """[(t_rel, bound, demand, upload, novel, playback)] per second (bytes), and the sum."""
    if res.get("kind") == "hls":
        return fluid_bound_abr(sc, res)
    rate = res["bitrate"]
    t0 = res["t_start"]
    nbins = int(math.ceil(res["t_end"] - t0)) + 1
    demand = [0.0] * nbins
    playback = [0.0] * nbins
    upload = [0.0] * nbins
    novel = [0.0] * nbins
    seeders = sc["seeders"]["count"]
    seed_up = seeders * sc["seeders"]["up_mbit"] * 1e6 / 8
    reads = []
    for v in res["viewers"]:
        p = v.get("player")
        if not p:
            continue
        cap = v["up_mbit"] * 1e6 / 8
        if v.get("upload_rate_kbyte"):
            cap = min(cap, v["upload_rate_kbyte"] * 1000)
        if res["mode"] == "cdn-only":
            cap = 0
        _spread(upload, t0, p["t0"], p["left"], cap * max(0.0, p["left"] - p["t0"]))
        for ws, we, ms, me in p["play"]:
            _spread(playback, t0, ws, we, rate * (me - ms))
        for ws, we, b0, b1 in p.get("reads", []):
            _spread(demand, t0, ws, we, b1 - b0)
            reads.append((ws, we, b0, b1))
    if not seeders:
        seen = set()
        for ws, we, b0, b1 in sorted(reads):
            new = [s for s in range(b0 // SLOT, (b1 + SLOT - 1) // SLOT) if s not in seen]
            seen.update(new)
            if new:
                _spread(novel, t0, ws, we, min(len(new) * SLOT, b1 - b0 + SLOT))
    for b in range(nbins):
        upload[b] += seed_up
    series = []
    total = 0.0
    for b in range(nbins):
        bd = max(novel[b], demand[b] - upload[b], 0.0)
        total += bd
        series.append((b, bd, demand[b], upload[b], novel[b], playback[b]))
    return series, total


def summarize(sc, res):
    vs = [v for v in res["viewers"] if v.get("player")]
    pl = [v["player"] for v in vs]
    series, bound = fluid_bound(sc, res)
    cdn = res["nginx"]["body_bytes"]
    peer = sum(v["down"]["same"] + v["down"]["other"] for v in vs)
    inter = sum(v["down"]["other"] for v in vs)
    up = sum(v["up"]["same"] + v["up"]["other"] for v in vs)
    exact = all(p["mismatched_bytes"] == 0 for p in pl) and len(pl) == len(res["viewers"])
    s = {
        "mode": res["mode"],
        "viewers": len(res["viewers"]),
        "players": len(pl),
        "startup_med": _median([p["startup_s"] for p in pl]),
        "startup_p90": _pct([p["startup_s"] for p in pl], 0.9),
        "startup_arr_med": _median([p["startup_from_arrival_s"] for p in pl]),
        "no_start": sum(1 for p in pl if p["startup_s"] is None),
        "stalls": sum(p["stalls"] for p in pl),
        "stall_s": sum(p["stall_s"] for p in pl),
        "stalled_viewers": sum(1 for p in pl if p["stalls"]),
        "seek_wait_med": _median([p["seek_wait_s"] / p["seeks"] for p in pl if p["seeks"]]),
        "played_s": sum(p["played_s"] for p in pl),
        "read_bytes": sum(p["bytes"] for p in pl),
        "cdn_bytes": cdn,
        "cdn_requests": res["nginx"]["requests"],
        "cdn_wire": sum(res["cdn_up_classes"].values()),
        "peer_wire": peer,
        "inter_isp_wire": inter,
        "upload_wire": up,
        "bound": bound,
        "ratio": cdn / bound if bound else None,
        "exact": exact,
        "mismatched": sum(p["mismatched_bytes"] for p in pl),
        "read_errors": sum(len(p["errors"]) for p in pl),
        "client_deaths": sum(1 for v in res["viewers"] if v.get("client_died") is not None),
        "series": series,
    }
    if res.get("kind") == "hls":
        played = sum(p["played_s"] for p in pl)
        s["mean_bitrate"] = (sum((p["mean_bitrate_bps"] or 0) * p["played_s"] for p in pl) /
                             played if played else None)
        s["mean_media_bps"] = (sum((p["mean_media_bps"] or 0) * p["played_s"] for p in pl) /
                               played if played else None)
        s["switches"] = sum(p["switches"] for p in pl)
        s["played_demand"] = sum(f[3] for p in pl for f in p["fetches"] if f[7])
        nlev = max((len(p["levels"]) for p in pl), default=0)
        s["played_by_level"] = [sum(p["played_s_by_level"].get(str(i), 0) for p in pl)
                                for i in range(nlev)]
        s["levels"] = next((p["levels"] for p in pl if p["levels"]), [])
    smp = [x["cpu"] for x in res["samples"] if x.get("cpu")]
    if len(smp) > 1 and smp[-1][1] > smp[0][1]:
        s["cpu_busy"] = (smp[-1][0] - smp[0][0]) / (smp[-1][1] - smp[0][1])
    cl = [v.get("client") for v in vs if v.get("client")]
    if cl and all("peer_downloaded" in c for c in cl):  # peerflow's own counters
        s["pf_cdn"] = sum(c["cdn_downloaded"] for c in cl)
        s["pf_peer"] = sum(c["peer_downloaded"] for c in cl)
        s["pf_wasted"] = sum(c.get("wasted", 0) for c in cl)
        s["pf_up"] = sum(c["uploaded"] for c in cl)
        # Payload with peers of another ISP, by the engine's own count
        # (--local-net; 0 without it).
        s["pf_remote_down"] = sum(c.get("remote_downloaded", 0) for c in cl)
    return s


def _mb(x):
    return "-" if x is None else "%.1f" % (x / 1e6)


def _f(x, fmt="%.2f"):
    return "-" if x is None else fmt % x


def write(rundir, sc, results):
    sums = {m: summarize(sc, r) for m, r in results.items()}
    base = sums.get("cdn-only")
    lines = []
    r0 = next(iter(results.values()))
    lines.append("### lab: %s: %d viewers, %d s of %.0f kbit/s media (%d B)" % (
        sc["name"], r0 and len(r0["viewers"]), sc["media"]["duration_s"], r0["bitrate"] * 8 / 1000,
        r0["size"]))
    lines.append("")
    if sc.get("description"):
        lines.append(sc["description"].strip())
        lines.append("")
    modes = list(sums)
    lines.append("| | " + " | ".join(modes) + " |")
    lines.append("|---|" + "---:|" * len(modes))

    def row(label, fn):
        lines.append("| %s | %s |" % (label, " | ".join(fn(sums[m]) for m in modes)))
    row("viewers (players that ran)", lambda s: "%d (%d)" % (s["viewers"], s["players"]))
    hls = r0.get("kind") == "hls"
    row("median startup, request -> %s (s)" % ("the first segment in" if hls else
                                                "%g s buffered" % sc["player"]["startup_s"]),
        lambda s: _f(s["startup_med"]))
    row("p90 startup (s)", lambda s: _f(s["startup_p90"]))
    row("median startup from arrival, incl. client start (s)", lambda s: _f(s["startup_arr_med"]))
    if base:
        row("median startup / CDN-only", lambda s: _f(
            s["startup_med"] / base["startup_med"] if s["startup_med"] and base["startup_med"]
            else None))
    row("never started", lambda s: str(s["no_start"]))
    row("stalls (viewers with any)", lambda s: "%d (%d)" % (s["stalls"], s["stalled_viewers"]))
    row("stall time, total (s)", lambda s: "%.1f" % s["stall_s"])
    row("median seek wait (s)", lambda s: _f(s["seek_wait_med"]))
    row("media played, total (s)", lambda s: "%.0f" % s["played_s"])
    if hls:
        row("mean bitrate played (declared BANDWIDTH, kbit/s)", lambda s: _f(
            s["mean_bitrate"] and s["mean_bitrate"] / 1e3, "%.0f"))
        row("mean bitrate played (segments' own bytes, kbit/s)", lambda s: _f(
            s["mean_media_bps"] and s["mean_media_bps"] / 1e3, "%.0f"))
        row("rendition switches", lambda s: str(s["switches"]))
        row("time played per rendition (s, low..high)", lambda s: " / ".join(
            "%.0f" % x for x in s["played_by_level"]))
        row("bytes of what was played (demand, MB)", lambda s: _mb(s["played_demand"]))
    row("bytes the players read (MB)", lambda s: _mb(s["read_bytes"]))
    row("CDN bytes (nginx body, MB)", lambda s: _mb(s["cdn_bytes"]))
    row("CDN requests", lambda s: str(s["cdn_requests"]))
    row("fluid bound (MB)", lambda s: _mb(s["bound"]))
    row("CDN / bound", lambda s: _f(s["ratio"]))
    row("CDN bytes / bytes the players read", lambda s: _f(s["cdn_bytes"] / s["read_bytes"]
                                                          if s["read_bytes"] else None))
    if base:
        row("CDN bytes / CDN-only's", lambda s: _f(s["cdn_bytes"] / base["cdn_bytes"]
                                                   if base["cdn_bytes"] else None))
    row("peer bytes (wire, MB)", lambda s: _mb(s["peer_wire"]))
    row("viewer upload (wire, MB)", lambda s: _mb(s["upload_wire"]))
    if any("pf_cdn" in sums[m] for m in modes):
        row("peerflow's counters: CDN / peers / wasted / uploaded (MB)", lambda s: "%s / %s / %s / %s" % (
            _mb(s["pf_cdn"]), _mb(s["pf_peer"]), _mb(s["pf_wasted"]), _mb(s["pf_up"]))
            if "pf_cdn" in s else "")
    if len(set(v["isp"] for v in r0["viewers"])) > 1:
        row("inter-ISP peer bytes (wire, MB)", lambda s: _mb(s["inter_isp_wire"]))
        if any(sums[m].get("pf_remote_down") for m in modes):
            row("peerflow's counter: from peers of another ISP (MB)",
                lambda s: _mb(s["pf_remote_down"]) if s.get("pf_remote_down") else "")
    row("every byte read = source", lambda s: "yes" if s["exact"] else
        "NO (%d bytes differ, %d missing players)" % (s["mismatched"], s["viewers"] - s["players"]))
    row("machine CPU busy during the mode (2 cores)", lambda s: "%.0f%%" % (100 * s["cpu_busy"])
        if "cpu_busy" in s else "-")
    row("read errors / clients that died", lambda s: "%d / %d" % (s["read_errors"],
                                                                  s["client_deaths"]))
    lines.append("")
    pf = sums.get("peerflow")
    if pf:
        t = []
        t.append("zero stalls: %s" % ("MET" if pf["stalls"] == 0 and pf["no_start"] == 0
                                      else "MISSED (%d)" % pf["stalls"]))
        if not hls and base and pf["startup_med"] and base["startup_med"]:
            r = pf["startup_med"] / base["startup_med"]
            t.append("median startup <= 1.2x CDN-only: %s (%.2fx)" % ("MET" if r <= 1.2 else
                                                                      "MISSED", r))
        if hls and base and pf.get("mean_bitrate") and base.get("mean_bitrate"):
            r = pf["mean_bitrate"] / base["mean_bitrate"]
            t.append("mean bitrate >= CDN-only's: %s (%.0f vs %.0f kbit/s, %.2fx)" % (
                "MET" if r >= 1 else "MISSED", pf["mean_bitrate"] / 1e3,
                base["mean_bitrate"] / 1e3, r))
        lim = 1.3 if hls else 1.25
        if pf["ratio"] is not None:
            t.append("CDN <= %gx bound: %s (%.2fx)" % (lim, "MET" if pf["ratio"] <= lim else
                                                        "MISSED", pf["ratio"]))
        for other in ("webtorrent", "libtorrent"):
            if other in sums:
                o = sums[other]
                ok = pf["cdn_bytes"] < o["cdn_bytes"]
                per = (pf["cdn_bytes"] / pf["read_bytes"] if pf["read_bytes"] else 0,
                       o["cdn_bytes"] / o["read_bytes"] if o["read_bytes"] else 0)
                t.append("fewer CDN bytes than %s: %s (%.0f vs %.0f MB; per byte read %.2f vs %.2f)"
                         % (other, "MET" if ok else "MISSED", pf["cdn_bytes"] / 1e6,
                            o["cdn_bytes"] / 1e6, per[0], per[1]))
        lines.append("Targets (peerflow): " + "; ".join(t))
        lines.append("")
    # per-viewer tables
    for m, r in results.items():
        lines.append("#### %s, per viewer" % m)
        lines.append("")
        if hls:
            _abr_viewers(lines, r)
            continue
        lines.append("| viewer | isp | arrive (s) | watch (s) | actions | startup (s) | from arrival (s) "
                     "| stalls (s) | read (MB) | CDN (MB) | peers (MB) | upload (MB) | exact |")
        lines.append("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for v in r["viewers"]:
            p = v.get("player")
            if not p:
                lines.append("| %s | %s | %.1f | %.0f | | no result |||||||" % (
                    v["name"], v["isp"], v["arrive_s"], v["watch_s"]))
                continue
            acts = ", ".join("%s@%g" % (x["op"], x["t"]) for x in v["actions"]) or "-"
            lines.append("| %s | %s | %.1f | %.0f | %s | %s | %s | %d (%.1f) | %s | %s | %s | %s | %s |" % (
                v["name"], v["isp"], v["arrive_s"], v["watch_s"], acts, _f(p["startup_s"]),
                _f(p["startup_from_arrival_s"]), p["stalls"], p["stall_s"], _mb(p["bytes"]),
                _mb(v["down"]["infra"]), _mb(v["down"]["same"] + v["down"]["other"]),
                _mb(v["up"]["same"] + v["up"]["other"]),
                "yes" if p["mismatched_bytes"] == 0 else "NO"))
        lines.append("")
    lines.append("Startup: from the player's first request to %s; CDN bytes: "
                 "nginx's body bytes; peer/upload bytes: wire bytes counted by the tc classes "
                 "on each viewer's link (TCP/IP headers included); bound: tools/lab/report.py."
                 % ("the first segment (and its audio) in" if hls else
                    "%g s of media buffered" % sc["player"]["startup_s"]))
    md = "\n".join(lines) + "\n"
    with open(os.path.join(rundir, "report.md"), "w") as f:
        f.write(md)
    with open(os.path.join(rundir, "summary.json"), "w") as f:
        json.dump({m: {k: v for k, v in s.items() if k != "series"} for m, s in sums.items()},
                  f, indent=1)
    plots = plot(rundir, sc, results, sums)
    return {"markdown": md, "sums": sums, "plots": plots}


def _abr_viewers(lines, r):
    lines.append("| viewer | down/up (Mbit/s) | arrive (s) | startup (s) | stalls (s) | played (s) "
                 "| mean kbit/s | switches | s per rendition | read (MB) | CDN (MB) | peers (MB) "
                 "| upload (MB) | exact |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for v in r["viewers"]:
        p = v.get("player")
        if not p:
            lines.append("| %s | %g/%g | %.1f | no result |||||||||||" % (
                v["name"], v["down_mbit"], v["up_mbit"], v["arrive_s"]))
            continue
        lines.append("| %s | %g/%g | %.1f | %s | %d (%.1f) | %.0f | %s | %d | %s | %s | %s | %s | %s "
                     "| %s |" % (
                         v["name"], v["down_mbit"], v["up_mbit"], v["arrive_s"], _f(p["startup_s"]),
                         p["stalls"], p["stall_s"], p["played_s"],
                         _f(p["mean_bitrate_bps"] and p["mean_bitrate_bps"] / 1e3, "%.0f"),
                         p["switches"], " / ".join("%.0f" % p["played_s_by_level"].get(str(i), 0)
                                                  for i in range(len(p["levels"]))),
                         _mb(p["bytes"]), _mb(v["down"]["infra"]),
                         _mb(v["down"]["same"] + v["down"]["other"]),
                         _mb(v["up"]["same"] + v["up"]["other"]),
                         "yes" if p["mismatched_bytes"] == 0 else "NO"))
    lines.append("")


def plot(rundir, sc, results, sums):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    modes = list(results)
    fig, axes = plt.subplots(len(modes), 1, figsize=(9, 2.4 * len(modes) + 0.6), sharex=True,
                             squeeze=False)
    for ax, m in zip(axes[:, 0], modes):
        r = results[m]
        smp = r["samples"]
        ts, rates = [], []
        for a, b in zip(smp, smp[1:]):
            dt = b["t"] - a["t"]
            if dt > 0:
                ts.append(b["t"] - r["t_start"])
                rates.append((b["cdn"] - a["cdn"]) * 8 / dt / 1e6)
        ser = sums[m]["series"]
        ax.plot(ts, rates, label="CDN rate (wire, 1 s)", color="tab:red", lw=1)
        ax.plot([x[0] for x in ser], [x[1] * 8 / 1e6 for x in ser], label="fluid bound",
                color="black", lw=1, ls="--")
        ax.plot([x[0] for x in ser], [x[2] * 8 / 1e6 for x in ser], label="demand (players' reads)",
                color="tab:blue", lw=0.8, alpha=0.5)
        ax.plot([x[0] for x in ser], [x[5] * 8 / 1e6 for x in ser], label="playback",
                color="tab:green", lw=0.8, alpha=0.5)
        ax.set_ylabel("Mbit/s")
        ax.set_title("%s: CDN %.0f MB, bound %.0f MB (%.2fx)" % (
            m, sums[m]["cdn_bytes"] / 1e6, sums[m]["bound"] / 1e6, sums[m]["ratio"] or 0),
            fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds since the first arrival")
    fig.suptitle("%s: CDN rate vs the fluid-model bound" % sc["name"], fontsize=10)
    fig.tight_layout()
    p = os.path.join(rundir, "cdn-rate.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    out.append(p)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for m in modes:
        xs = sorted(v["player"]["startup_s"] for v in results[m]["viewers"]
                    if v.get("player") and v["player"]["startup_s"] is not None)
        if xs:
            ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=m)
    allx = [v["player"]["startup_s"] for m in modes for v in results[m]["viewers"]
            if v.get("player") and v["player"]["startup_s"]]
    if allx and max(allx) > 10 * min(allx):
        ax.set_xscale("log")
    ax.set_xlabel("startup: request -> %g s buffered (s)" % sc["player"]["startup_s"])
    ax.set_ylabel("fraction of viewers")
    ax.set_title("%s: startup-time CDF" % sc["name"], fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = os.path.join(rundir, "startup-cdf.png")
    fig.savefig(p, dpi=90)
    plt.close(fig)
    out.append(p)
    return out
