#!/usr/bin/python3
"""peerflow lab household: does a viewer's upload to the swarm yield to the
household's own traffic?  (issue 15: uTP with LEDBAT on the last mile)

  lab.py household [--modes none,pf-utp,pf-utp60,pf-tcp,lt-utp] [--out DIR]
                   [--up-mbit 2] [--buffer-ms 500] [--phase-s 20]

Three namespaces in a row: "home" (the viewer's household), "modem" (its
line) and "net" (the rest of the Internet: the swarm's other peers, the far
end of the household's own traffic).  The uplink is a tbf at --up-mbit on
the modem's egress with a drop-tail buffer of --buffer-ms of its rate (an
ISP's deep buffer); the downlink is not shaped.  GSO is off on every veth,
so tbf sees packets.

In every mode, on one timeline:
  0 .. P/4      nothing but the probe: the line's base RTT
  P/4 .. P      the home peer seeds to 3 leechers in "net" (no P2P: idle)
  P .. 2P       the household uploads over TCP as well (its goodput counted)
  2P .. 3P      P2P alone again: does it take the uplink back?
and all along a UDP probe every 100 ms from home to net and back (the
household's "ping"; it queues in the same buffer as everything else).

Modes:  none      no P2P at all: the household alone (the reference)
        pf-utp    peerflow seed over uTP, default LEDBAT target (100 ms)
        pf-utp60  peerflow seed over uTP, --utp-target 60
        pf-tcp    peerflow seed over TCP
        lt-utp    libtorrent seed over uTP only (its LEDBAT), libtorrent leechers
peerflow leechers use the seed's transport.

Writes per mode a samples.json (per-second uplink bytes, household bytes,
probe RTTs) into the run directory, and report.md with the table and
household.svg (probe delay over time, one line per mode).  Needs root.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import netlab  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
LT_PEER = os.path.join(REPO, "tests", "peers", "lt_peer.py")
ALL_MODES = ["none", "pf-utp", "pf-utp60", "pf-tcp", "lt-utp"]
HOME_IP, NET_IP = "10.79.1.1", "10.79.0.2"
HOME_GW, NET_GW = "10.79.1.254", "10.79.0.254"
LEECH_IPS = ["10.79.0.3", "10.79.0.4", "10.79.0.5"]
PROBE_PORT, SINK_PORT = 7001, 7002


def log(msg):
    print("[household %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(args, check=True):
    return netlab.run(args, check=check)


class Net:
    """home <-> modem <-> net.  The uplink's buffer is in the modem, as on a
    real line: a tbf on the modem's egress towards net.  (A qdisc on the
    home host itself would push back on the household's TCP sender, TCP
    small queues and local drops, and hide the bufferbloat.)  Names carry
    netlab's prefix and this process's pid, so `lab.py --cleanup` finds
    stale ones."""

    def __init__(self, up_mbit, buffer_ms):
        tag = "%s%d" % (netlab.PREFIX, os.getpid())
        self.home, self.modem, self.net = tag + "-home", tag + "-modem", tag + "-net"
        self.up_mbit, self.buffer_ms = up_mbit, buffer_ms
        self.dev_up = netlab.PREFIX + "mu"  # the modem's end towards net: shaped

    def build(self):
        P = netlab.PREFIX
        for ns in (self.home, self.modem, self.net):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.home, "link", "add", P + "h0", "type", "veth", "peer", "name", P + "mh",
             "netns", self.modem])
        run(["ip", "-n", self.modem, "link", "add", self.dev_up, "type", "veth", "peer", "name", P + "n0",
             "netns", self.net])
        run(["ip", "-n", self.home, "addr", "add", HOME_IP + "/24", "dev", P + "h0"])
        run(["ip", "-n", self.modem, "addr", "add", HOME_GW + "/24", "dev", P + "mh"])
        run(["ip", "-n", self.modem, "addr", "add", NET_GW + "/24", "dev", self.dev_up])
        run(["ip", "-n", self.net, "addr", "add", NET_IP + "/24", "dev", P + "n0"])
        for ip in LEECH_IPS:
            run(["ip", "-n", self.net, "addr", "add", ip + "/24", "dev", P + "n0"])
        for ns, dev in ((self.home, P + "h0"), (self.modem, P + "mh"), (self.modem, self.dev_up),
                        (self.net, P + "n0")):
            run(["ip", "-n", ns, "link", "set", dev, "gso_max_size", "1500", "gso_max_segs", "1", "up"])
        run(["ip", "-n", self.home, "route", "add", "default", "via", HOME_GW])
        run(["ip", "-n", self.net, "route", "add", "10.79.1.0/24", "via", NET_GW])
        run(["ip", "netns", "exec", self.modem, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        rate_bps = self.up_mbit * 1e6
        limit = max(int(rate_bps / 8 * self.buffer_ms / 1000), 3000)
        run(["tc", "-n", self.modem, "qdisc", "add", "dev", self.dev_up, "root", "tbf", "rate",
             "%dkbit" % int(self.up_mbit * 1000), "burst", "3028", "limit", str(limit)])

    def uplink_bytes(self):
        out = run(["tc", "-n", self.modem, "-s", "qdisc", "show", "dev", self.dev_up], check=False)
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Sent "):
                return int(line.split()[1])
        return 0

    def popen(self, ns, argv, log_path):
        out = open(log_path, "ab")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=out, start_new_session=True)
        out.close()
        return p

    def teardown(self):
        for ns in (self.home, self.modem, self.net):
            netlab.kill_ns_procs(ns)
            run(["ip", "netns", "del", ns], check=False)


# --- the household's own traffic: helpers run inside the namespaces --------------

def helper_main(argv):
    """python3 household.py --helper KIND ...: runs inside a namespace."""
    kind = argv[0]
    if kind == "echo":  # UDP echo server in net
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((NET_IP, PROBE_PORT))
        while True:
            d, a = s.recvfrom(2048)
            s.sendto(d, a)
    if kind == "sink":  # TCP sink in net: prints "t bytes" lines, t = wall clock
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((NET_IP, SINK_PORT))
        srv.listen(4)
        while True:
            c, _ = srv.accept()
            total = 0
            last = time.time()
            while True:
                d = c.recv(65536)
                if not d:
                    break
                total += len(d)
                now = time.time()
                if now - last >= 0.25:
                    print("%.3f %d" % (now, total), flush=True)
                    last = now
            print("%.3f %d end" % (time.time(), total), flush=True)
            c.close()
    if kind == "upload":  # the household's TCP upload from home, for argv[1] seconds
        dur = float(argv[1])
        c = socket.create_connection((NET_IP, SINK_PORT))
        buf = b"\0" * 65536
        end = time.time() + dur
        while time.time() < end:
            c.send(buf)
        c.close()
        return 0
    if kind == "probe":  # UDP probe from home every 100 ms: prints "t rtt_ms" (or "t lost")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.001)
        seq, sent = 0, {}
        nxt = time.time()
        while True:
            now = time.time()
            if now >= nxt:
                s.sendto(seq.to_bytes(8, "big") + b"\0" * 56, (NET_IP, PROBE_PORT))
                sent[seq] = now
                seq += 1
                nxt += 0.1
            try:
                d, _ = s.recvfrom(2048)
                k = int.from_bytes(d[:8], "big")
                if k in sent:
                    t0 = sent.pop(k)
                    print("%.3f %.2f" % (t0, (time.time() - t0) * 1000), flush=True)
            except socket.timeout:
                pass
            for k in [k for k, t0 in sent.items() if now - t0 > 5]:
                print("%.3f lost" % sent.pop(k), flush=True)
    return 2


# --- one mode ----------------------------------------------------------------------

def start_p2p(net, mode, a, d):
    """Seed in home, 3 leechers in net.  Returns the processes."""
    procs = []
    data, tor = os.path.join(a.work, "src"), os.path.join(a.work, "hh.torrent")
    if mode.startswith("pf-"):
        tr = "tcp" if mode == "pf-tcp" else "utp"
        extra = ["--utp-target", "60"] if mode == "pf-utp60" else []
        seed = net.popen(net.home, [a.pf_bin, "seed", "-d", data, "-l", "6881", "--bind", HOME_IP,
                                    "--no-tracker", "--transport", tr] + extra + [tor],
                         os.path.join(d, "seed.log"))
        procs.append(seed)
        time.sleep(1.0)
        for i, ip in enumerate(LEECH_IPS):
            procs.append(net.popen(net.net, [a.pf_bin, "get", "-d", os.path.join(d, "leech%d" % i), "-l", "0",
                                             "--bind", ip, "--no-tracker", "--transport", tr, "--peer",
                                             "%s:6881" % HOME_IP, tor], os.path.join(d, "leech%d.log" % i)))
    else:  # lt-utp
        ready = os.path.join(d, "seed.ready")
        seed = net.popen(net.home, [PY, LT_PEER, "seed", "--torrent", tor, "--dir", data, "--no-tracker",
                                    "--transport", "utp", "--ready-file", ready, "--bind", HOME_IP],
                         os.path.join(d, "seed.log"))
        procs.append(seed)
        for _ in range(200):
            if os.path.exists(ready) and open(ready).read().strip():
                break
            time.sleep(0.1)
        port = open(ready).read().split()[0]
        for i, ip in enumerate(LEECH_IPS):
            procs.append(net.popen(net.net, [PY, LT_PEER, "get", "--torrent", tor, "--dir",
                                             os.path.join(d, "leech%d" % i), "--no-tracker", "--transport", "utp",
                                             "--bind", ip, "--peer", "%s:%s" % (HOME_IP, port),
                                             "--timeout", str(int(a.phase_s * 4))],
                                   os.path.join(d, "leech%d.log" % i)))
    return procs


def run_mode(a, mode):
    d = os.path.join(a.out, mode)
    os.makedirs(d, exist_ok=True)
    net = Net(a.up_mbit, a.buffer_ms)
    procs = []
    try:
        net.build()
        me = os.path.abspath(__file__)
        procs.append(net.popen(net.net, [PY, me, "--helper", "echo"], os.path.join(d, "echo.log")))
        sink_log = os.path.join(d, "sink.log")
        procs.append(net.popen(net.net, [PY, me, "--helper", "sink"], sink_log))
        time.sleep(0.5)
        probe_log = os.path.join(d, "probe.log")
        procs.append(net.popen(net.home, [PY, me, "--helper", "probe"], probe_log))
        P = a.phase_s
        t0 = time.time()
        up = []  # (t, uplink bytes)

        def sample_until(t_end):
            while time.time() < t_end:
                up.append((time.time() - t0, net.uplink_bytes()))
                time.sleep(0.5)

        sample_until(t0 + P / 4)
        if mode != "none":
            procs += start_p2p(net, mode, a, d)
        sample_until(t0 + P)
        upl = net.popen(net.home, [PY, me, "--helper", "upload", str(P)], os.path.join(d, "upload.log"))
        sample_until(t0 + 2 * P)
        upl.wait(timeout=30)
        sample_until(t0 + 3 * P)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
            except OSError:
                pass
        net.teardown()
    probes, lost = [], 0
    for line in open(probe_log):
        f = line.split()
        if len(f) == 2 and f[1] != "lost":
            probes.append((float(f[0]) - t0, float(f[1])))
        elif len(f) == 2:
            lost += 1
    hh = []
    for line in open(sink_log):
        f = line.split()
        if len(f) >= 2:
            hh.append((float(f[0]) - t0, int(f[1])))
    res = {"mode": mode, "phase_s": a.phase_s, "up_mbit": a.up_mbit, "buffer_ms": a.buffer_ms,
           "probes": probes, "probes_lost": lost, "household": hh, "uplink": up}
    with open(os.path.join(d, "samples.json"), "w") as f:
        json.dump(res, f)
    return res


# --- the report ----------------------------------------------------------------------

def pct(vals, q):
    if not vals:
        return float("nan")
    v = sorted(vals)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def rate_between(series, t1, t2):
    """bytes/s of a cumulative (t, bytes) series between t1 and t2."""
    pts = [(t, b) for t, b in series if t1 <= t <= t2]
    if len(pts) < 2:
        return 0.0
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def summarize(r):
    P = r["phase_s"]
    base = pct([ms for t, ms in r["probes"] if t < P / 4], 0.5)
    alone1 = [ms for t, ms in r["probes"] if P / 2 <= t < P]
    during = [ms for t, ms in r["probes"] if P + P / 4 <= t < 2 * P]
    alone2 = [ms for t, ms in r["probes"] if 2 * P + P / 2 <= t < 3 * P]
    hh_rate = rate_between(r["household"], P + P / 4, 2 * P)
    up1 = rate_between(r["uplink"], P / 2, P)
    upd = rate_between(r["uplink"], P + P / 4, 2 * P)
    up2 = rate_between(r["uplink"], 2 * P + P / 2, 3 * P)
    return {
        "base_ms": base,
        "p2p_added_p50": pct(alone1, 0.5) - base, "p2p_added_p95": pct(alone1, 0.95) - base,
        "hh_added_p50": pct(during, 0.5) - base, "hh_added_p95": pct(during, 0.95) - base,
        "after_added_p50": pct(alone2, 0.5) - base,
        "hh_mbit": hh_rate * 8 / 1e6,
        "p2p_mbit_before": up1 * 8 / 1e6, "p2p_mbit_during": max(0.0, (upd - hh_rate) * 8 / 1e6),
        "p2p_mbit_after": up2 * 8 / 1e6, "lost": r["probes_lost"],
    }


COLORS = {"none": "#777777", "pf-utp": "#1f77b4", "pf-utp60": "#2ca02c", "pf-tcp": "#d62728",
          "lt-utp": "#9467bd"}


def svg_plot(results, path):
    """Probe RTT over time, one polyline per mode (no plotting library)."""
    W, H, L, B, T, R = 900, 420, 60, 40, 20, 130
    P = next(iter(results.values()))["phase_s"]
    tmax = 3 * P
    ymax = 50.0
    for r in results.values():
        for _, ms in r["probes"]:
            ymax = max(ymax, ms)
    ymax = min(ymax * 1.05, 5000)
    X = lambda t: L + (W - L - R) * t / tmax  # noqa: E731
    Y = lambda v: T + (H - T - B) * (1 - min(v, ymax) / ymax)  # noqa: E731
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>']
    for k in range(0, 6):
        v = ymax * k / 5
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, Y(v), Y(v)))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (L - 5, Y(v) + 4, v))
    for t in range(0, int(tmax) + 1, max(1, int(P / 4))):
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (X(t), H - B + 16, t))
    for t, label in ((P / 4, "P2P starts"), (P, "household upload"), (2 * P, "household stops")):
        o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4"/>' %
                 (X(t), X(t), T, H - B))
        o.append('<text x="%.1f" y="%d" fill="#555">%s</text>' % (X(t) + 3, T + 12, label))
    o.append('<text x="%d" y="%d" text-anchor="middle">time (s)</text>' % ((L + W - R) / 2, H - 5))
    o.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">probe RTT (ms)</text>' %
             ((T + H - B) / 2, (T + H - B) / 2))
    for i, (m, r) in enumerate(results.items()):
        pts = " ".join("%.1f,%.1f" % (X(t), Y(ms)) for t, ms in r["probes"])
        c = COLORS.get(m, "#000")
        o.append('<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"/>' % (c, pts))
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>' %
                 (W - R + 10, W - R + 30, T + 20 * i + 10, T + 20 * i + 10, c))
        o.append('<text x="%d" y="%d">%s</text>' % (W - R + 35, T + 20 * i + 14, m))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def report(a, results):
    hh_alone = results["none"] and summarize(results["none"])["hh_mbit"] if "none" in results else None
    lines = ["Household uplink %.1f Mbit/s (tbf), %d ms buffer; phases of %d s; probe every 100 ms."
             % (a.up_mbit, a.buffer_ms, a.phase_s), "",
             "| mode | base RTT (ms) | added delay, P2P alone: p50 / p95 (ms) | added delay with the household "
             "upload: p50 / p95 (ms) | household upload (Mbit/s) | of its goodput alone | P2P upload before / "
             "during / after (Mbit/s) | probes lost |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, r in results.items():
        s = summarize(r)
        share = "%.0f %%" % (100 * s["hh_mbit"] / hh_alone) if hh_alone else "-"
        lines.append("| %s | %.1f | %.0f / %.0f | %.0f / %.0f | %.2f | %s | %.2f / %.2f / %.2f | %d |" % (
            m, s["base_ms"], s["p2p_added_p50"], s["p2p_added_p95"], s["hh_added_p50"], s["hh_added_p95"],
            s["hh_mbit"], share, s["p2p_mbit_before"], s["p2p_mbit_during"], s["p2p_mbit_after"], s["lost"]))
    md = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(md)
    svg_plot(results, os.path.join(a.out, "household.svg"))
    return md


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--helper":
        return helper_main(argv[1:])
    ap = argparse.ArgumentParser(prog="peerflow lab household", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--out")
    ap.add_argument("--up-mbit", type=float, default=2.0)
    ap.add_argument("--buffer-ms", type=int, default=500)
    ap.add_argument("--phase-s", type=float, default=20.0)
    ap.add_argument("--size", default="256M", help="the seeded file (never finished by the leechers)")
    ap.add_argument("--pf-bin", default=os.environ.get("PF_BIN") or os.path.join(REPO, "build", "peerflow"))
    ap.add_argument("--report", action="store_true", help="--out is a run directory: rewrite its report")
    a = ap.parse_args(argv)
    modes = a.modes.split(",")
    for m in modes:
        if m not in ALL_MODES:
            sys.exit("household: unknown mode %s (modes: %s)" % (m, ", ".join(ALL_MODES)))
    a.out = a.out or "/tmp/pflab-runs/%s-household" % time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(a.out, exist_ok=True)
    if a.report:
        results = {}
        for m in ALL_MODES:
            p = os.path.join(a.out, m, "samples.json")
            if os.path.exists(p):
                results[m] = json.load(open(p))
        print(report(a, results))
        return 0
    if os.geteuid() != 0:
        sys.exit("peerflow lab household: needs root (network namespaces and tc)")
    netlab.cleanup_stale(log)
    a.pf_bin = os.path.abspath(a.pf_bin)
    a.work = os.path.join(a.out, "data")
    os.makedirs(os.path.join(a.work, "src"), exist_ok=True)
    src = os.path.join(a.work, "src", "hh.bin")
    if not os.path.exists(src):
        run(["sh", "-c", "head -c %s /dev/urandom > %s" % (a.size, src)])
        run([a.pf_bin, "create", "-p", "1M", "-o", os.path.join(a.work, "hh.torrent"), src])
    results = {}
    for m in modes:
        log("mode %s: %d s" % (m, int(3 * a.phase_s)))
        results[m] = run_mode(a, m)
        s = summarize(results[m])
        log("  %s: P2P alone adds %.0f ms (p50), %.0f ms with the household upload; household %.2f Mbit/s; "
            "P2P %.2f / %.2f / %.2f Mbit/s" % (m, s["p2p_added_p50"], s["hh_added_p50"], s["hh_mbit"],
                                               s["p2p_mbit_before"], s["p2p_mbit_during"], s["p2p_mbit_after"]))
    print(report(a, results))
    log("run directory: %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
