#!/usr/bin/python3
"""peerflow lab: a swarm of emulated viewers on shaped links, measured
against the fluid-model CDN bound, side by side with webtorrent-cli and
libtorrent viewers and with the CDN alone.

  lab.py SCENARIO [--modes cdn-only,peerflow,webtorrent,libtorrent]
         [--out DIR] [--seed N] [--keep-caches] [--scale F]

SCENARIO is a file or a name in tools/lab/scenarios/ (flash-crowd, ...),
or "household" (household.py: does a viewer's upload yield to the home's
own traffic? uTP/LEDBAT against TCP and libtorrent on a shaped uplink).
Runs each mode on a freshly built network (same viewers, same schedule),
writes everything into the run directory (default
/tmp/pflab-runs/<time>-<scenario>) and prints report.md's tables.
Needs root (network namespaces, tc).  See docs/LAB.md.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

try:
    import tomllib
except ImportError:  # pragma: no cover
    sys.exit("lab.py: needs Python 3.11+ (tomllib)")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import netlab  # noqa: E402
import report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
ALL_MODES = ["cdn-only", "peerflow", "webtorrent", "libtorrent"]
# Locality variants of peerflow (scenarios with several ISPs), run on
# demand: "peerflow" is told its ISP by --local-net (the client side);
# "peerflow-alto" learns it from the tracker's ALTO map (the operator's
# side: the tracker chooses peers by PID and sends each viewer its PID's
# networks); "peerflow-noloc" has no locality at all.
EXTRA_MODES = ["peerflow-alto", "peerflow-noloc"]
CDN_IP = "10.77.0.2"
TRACKER_IP = "10.77.0.3"


def log(msg):
    print("[lab %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --- scenario -------------------------------------------------------------------

DEFAULTS = {
    # kind "progressive": one MP4 (player.py); "hls": a packaged title of
    # three renditions by tests/media/make_title.sh (hls_player.py, ABR)
    "media": {"kind": "progressive", "duration_s": 180, "bitrate_kbit": 2500, "piece_kib": 256},
    "net": {"queue_ms": 100},
    "cdn": {"capacity_mbit": 200, "down_mbit": 1000},
    "tracker": {"interval_s": 15},
    "seeders": {"count": 0, "up_mbit": 10, "down_mbit": 10},
    "player": {"startup_s": 4, "rebuffer_s": 2, "max_buffer_s": 30},
}
GROUP_DEFAULTS = {
    "count": 1, "isp": "a", "arrival": "fixed", "start_s": 0, "window_s": 0, "watch_s": 60,
    "up_mbit": 1, "down_mbit": 8, "upload_rate_kbyte": 0, "seek_fraction": 0.0,
    "leave_early_fraction": 0.0, "pause_fraction": 0.0,
}


def load_scenario(arg):
    path = arg
    if not os.path.exists(path):
        path = os.path.join(HERE, "scenarios", arg + ".toml")
    if not os.path.exists(path):
        sys.exit("lab.py: no scenario %s (files: %s)" % (
            arg, ", ".join(sorted(f[:-5] for f in os.listdir(os.path.join(HERE, "scenarios"))))))
    with open(path, "rb") as f:
        sc = tomllib.load(f)
    for k, d in DEFAULTS.items():
        sc[k] = dict(d, **sc.get(k, {}))
    groups = sc.get("viewers", [])
    if isinstance(groups, dict):
        groups = [groups]
    sc["viewers"] = [dict(GROUP_DEFAULTS, **g) for g in groups]
    sc.setdefault("name", os.path.basename(path)[:-5])
    sc.setdefault("seed", 1)
    sc.setdefault("modes", ALL_MODES)
    sc["_path"] = path
    return sc


def plan_viewers(sc):
    """Every viewer's arrival, departure and actions: the same for every mode."""
    rng = random.Random(sc["seed"])
    dur = sc["media"]["duration_s"]
    out = []
    for g in sc["viewers"]:
        n, w = g["count"], float(g["window_s"])
        if g["arrival"] == "poisson":
            mean = float(g.get("mean_gap_s") or 0) or (w / n if n else 1)
            if g.get("mean_gap_s"):
                w = 0  # an open-ended process: no window to fit
            times, t = [], 0.0
            for _ in range(n):
                times.append(t)
                t += rng.expovariate(1.0 / mean)
            if w and times[-1] > w:  # keep the window: scale into it
                times = [x * w / times[-1] for x in times]
        else:
            times = [w * i / max(1, n - 1) if n > 1 else 0.0 for i in range(n)]
        for t in times:
            watch = float(g["watch_s"])
            actions = []
            if rng.random() < g["leave_early_fraction"]:
                watch = rng.uniform(15, max(16, watch / 2))
            if rng.random() < g["seek_fraction"]:
                at = rng.uniform(10, max(11, watch / 2))
                actions.append({"t": round(at, 1), "op": "seek",
                                "to_s": round(rng.uniform(at + 20, max(at + 21, dur - 30)), 1)})
            if rng.random() < g["pause_fraction"]:
                actions.append({"t": round(rng.uniform(10, max(11, watch - 10)), 1), "op": "pause",
                                "dur_s": round(rng.uniform(5, 15), 1)})
            out.append({"arrive_s": round(g["start_s"] + t, 2), "watch_s": round(watch, 1),
                        "actions": actions, "group": g})
    out.sort(key=lambda v: v["arrive_s"])
    for i, v in enumerate(out):
        v["name"] = "v%02d" % (i + 1)
    return out


# --- media and torrent -------------------------------------------------------------

def make_media(sc, cache_dir):
    m = sc["media"]
    kbit = m["bitrate_kbit"]
    key = "pflab-%ds-%dk.mp4" % (m["duration_s"], kbit)
    path = os.path.join(cache_dir, key)
    if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        log("ffmpeg encodes %s (%d s at %d kbit/s)" % (path, m["duration_s"], kbit))
        v = max(100, kbit - 128)
        tmp = path + ".tmp.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                        "-t", str(m["duration_s"]), "-c:v", "libx264", "-preset", "ultrafast",
                        "-b:v", "%dk" % v, "-minrate", "%dk" % v, "-maxrate", "%dk" % v,
                        "-bufsize", "%dk" % v, "-x264-params", "nal-hrd=cbr", "-g", "50",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                        "-movflags", "+faststart", "-f", "mp4", tmp], check=True)
        os.replace(tmp, path)
    return path


def make_title(sc, cache_dir):
    """A packaged HLS+DASH title (tests/media/make_title.sh), cached by length."""
    secs = sc["media"]["duration_s"]
    path = os.path.join(cache_dir, "pflab-title-%ds" % secs)
    if not os.path.exists(os.path.join(path, "master.m3u8")):
        os.makedirs(cache_dir, exist_ok=True)
        log("make_title.sh encodes %s (%d s, 3 renditions)" % (path, secs))
        tmp = path + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["nice", "-n", "10", "bash", os.path.join(REPO, "tests", "media",
                        "make_title.sh"), "--seconds", str(secs), tmp], check=True)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    return path


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def bdecode_info_span(data):
    """(start, end) of the info dictionary's bytes in a .torrent."""
    def skip(i):
        c = data[i:i + 1]
        if c == b"i":
            return data.index(b"e", i) + 1
        if c in (b"l", b"d"):
            i += 1
            while data[i:i + 1] != b"e":
                i = skip(i)
            return i + 1
        colon = data.index(b":", i)
        return colon + 1 + int(data[i:colon])
    i = 1
    while data[i:i + 1] != b"e":
        kend = skip(i)
        key = data[data.index(b":", i) + 1:kend]
        vend = skip(kend)
        if key == b"info":
            return kend, vend
        i = vend
    raise ValueError("no info dictionary")


# --- one mode's run --------------------------------------------------------------------

class ModeRun:
    def __init__(self, lab_args, sc, mode, viewers, media, torrent, ih, rundir):
        self.args, self.sc, self.mode = lab_args, sc, mode
        self.viewers = viewers
        self.media, self.torrent, self.ih = media, torrent, ih
        self.dir = os.path.join(rundir, mode)
        os.makedirs(self.dir, exist_ok=True)
        self.hls = sc["media"]["kind"] == "hls"
        self.size = dir_size(media) if self.hls else os.path.getsize(media)
        self.bitrate = self.size / sc["media"]["duration_s"]
        self.procs = []
        self.samples = []
        self.stop_sampler = threading.Event()

    def spawn(self, lab, host, argv, name, env=None, stdout=None):
        p = lab.popen(host, argv, os.path.join(self.dir, name + ".log"), env=env,
                      stdout_path=stdout)
        self.procs.append(p)
        return p

    def stop_proc(self, p, grace=5.0):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def build(self, lab):
        sc = self.sc
        lab.add_host("cdn", "infra", sc["cdn"]["capacity_mbit"], sc["cdn"]["down_mbit"])
        lab.add_host("tracker", "infra", 0, 0)
        for i in range(sc["seeders"]["count"]):
            lab.add_host("seed%d" % (i + 1), "infra", sc["seeders"]["up_mbit"],
                         sc["seeders"]["down_mbit"])
        for v in self.viewers:
            g = v["group"]
            h = lab.add_host(v["name"], g["isp"], g["up_mbit"], g["down_mbit"])
            v["ip"] = h.ip
        assert lab.hosts["cdn"].ip == CDN_IP and lab.hosts["tracker"].ip == TRACKER_IP
        lab.build()

    def start_infra(self, lab):
        ngx = os.path.join(self.dir, "nginx")
        os.makedirs(os.path.join(ngx, "tmp"), exist_ok=True)
        open(os.path.join(ngx, "access.log"), "w").close()
        conf = os.path.join(ngx, "nginx.conf")
        www = os.path.dirname(self.media)
        with open(conf, "w") as f:
            f.write("""user root root;
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    log_format pf '$msec $status $bytes_sent $body_bytes_sent $remote_addr "$http_range" $request_time';
    access_log {d}/access.log pf;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {{
        listen {ip}:80;
        root {www};
    }}
}}
""".format(d=ngx, ip=CDN_IP, www=www))
        self.ngx = self.spawn(lab, "cdn", ["/usr/sbin/nginx", "-p", ngx + "/", "-e",
                                           ngx + "/error.log", "-c", conf], "nginx")
        targv = [self.args.pf_bin, "tracker", "-l", "6969", "--bind", TRACKER_IP, "--interval",
                 str(self.sc["tracker"]["interval_s"])]
        if self.mode == "peerflow-alto":
            targv += self.alto_maps(lab)
        self.tracker = self.spawn(lab, "tracker", targv, "tracker")
        wait_tcp(lab, "cdn", CDN_IP, 80, 10)
        wait_tcp(lab, "tracker", TRACKER_IP, 6969, 10)
        for i in range(self.sc["seeders"]["count"]):
            name = "seed%d" % (i + 1)
            self.spawn(lab, name, [self.args.pf_bin, "seed", "-d", www, "-l", "6881",
                                   "--stats", os.path.join(self.dir, name + ".json"),
                                   self.torrent], name)

    def alto_maps(self, lab):
        """The operator's ALTO network map (a PID per ISP, its /24) and a
        cost map (1 within a PID, 10 between), as tracker arguments."""
        isps = sorted({x["group"]["isp"] for x in self.viewers})
        net = {"meta": {"vtag": {"resource-id": "lab", "tag": "1"}},
               "network-map": {"isp-" + i: {"ipv4": [lab.isp_net(i) + ".0/24"]} for i in isps}}
        cost = {"meta": {"dependent-vtags": [{"resource-id": "lab", "tag": "1"}],
                         "cost-type": {"cost-mode": "numerical", "cost-metric": "routingcost"}},
                "cost-map": {"isp-" + i: {"isp-" + j: 1 if i == j else 10 for j in isps} for i in isps}}
        paths = [os.path.join(self.dir, "alto-net.json"), os.path.join(self.dir, "alto-cost.json")]
        for path, doc in zip(paths, (net, cost)):
            with open(path, "w") as f:
                json.dump(doc, f)
        return ["--alto-network-map", paths[0], "--alto-cost-map", paths[1]]

    def start_viewer(self, lab, v):
        vd = os.path.join(self.dir, v["name"])
        os.makedirs(vd, exist_ok=True)
        v["dir"] = vd
        v["t0"] = time.time()
        g = v["group"]
        up_b = int(g["upload_rate_kbyte"] * 1000)
        cache = os.path.join(self.args.cache_root, self.mode, v["name"])
        os.makedirs(cache, exist_ok=True)
        v["cache"] = cache
        client = None
        if self.mode == "cdn-only":
            url = "http://%s/%s" % (CDN_IP, os.path.basename(self.media))
            if self.hls:
                url += "/"
        elif self.mode.startswith("peerflow"):
            argv = [self.args.pf_bin, "play", "-d", cache, "--http-port", "8000", "-l", "6881",
                    "--stats", os.path.join(vd, "stats.json")]
            if up_b:
                argv += ["--upload-rate", str(up_b)]
            # Several ISPs: each viewer is told its own (the network map an
            # operator would hand out, ALTO/P4P style); PF_LAB_NO_LOCALITY=1
            # leaves it out, PF_LAB_LOCAL_SHARE=F sets --local-share (A/B).
            # peerflow-alto is told by the tracker, peerflow-noloc by nobody.
            if len({x["isp"] for x in self.sc["viewers"]}) > 1 and self.mode == "peerflow" and \
                    not os.environ.get("PF_LAB_NO_LOCALITY"):
                argv += ["--local-net", lab.isp_net(g["isp"]) + ".0/24"]
                if os.environ.get("PF_LAB_LOCAL_SHARE"):
                    argv += ["--local-share", os.environ["PF_LAB_LOCAL_SHARE"]]
            # e.g. PF_LAB_CLIENT_ARGS=-vv: a timed debug log per viewer
            argv += os.environ.get("PF_LAB_CLIENT_ARGS", "").split()
            client = self.spawn(lab, v["name"], argv + [self.torrent], v["name"] + "/client")
            url = "http://127.0.0.1:8000/t/" if self.hls else "http://127.0.0.1:8000/files/0"
        elif self.mode == "webtorrent":
            argv = [os.path.join(REPO, ".pf-node", "bin", "webtorrent-tcp"), "download",
                    self.torrent, "-o", cache, "-p", "8000", "-s", "0", "-q", "--keep-seeding"]
            if up_b:
                argv += ["-u", str(max(1, up_b // 1000))]
            client = self.spawn(lab, v["name"], argv, v["name"] + "/client")
            url = "http://127.0.0.1:8000/webtorrent/%s/%s" % (self.ih, os.path.basename(self.media))
        elif self.mode == "libtorrent":
            argv = [PY, os.path.join(HERE, "lt_viewer.py"), "--torrent", self.torrent, "--dir",
                    cache, "--bind", v["ip"], "--bitrate", "%.0f" % self.bitrate,
                    "--stats", os.path.join(vd, "stats.json")]
            if up_b:
                argv += ["--upload-rate", str(up_b)]
            client = self.spawn(lab, v["name"], argv, v["name"] + "/client")
            url = "http://127.0.0.1:8000/" + os.path.basename(self.media)
        else:
            raise ValueError("unknown mode " + self.mode)
        pl = self.sc["player"]
        if self.hls:
            argv = [PY, os.path.join(HERE, "hls_player.py"), "--base", url, "--src", self.media,
                    "--out", os.path.join(vd, "player.json"),
                    "--buffer-s", str(pl["max_buffer_s"]), "--rebuffer-s", str(pl["rebuffer_s"]),
                    "--safety", str(pl.get("safety", 0.8)),
                    "--start-level", str(pl.get("start_level", "lowest")),
                    "--leave-s", str(v["watch_s"]), "--t0", "%.6f" % v["t0"]]
            v["player"] = self.spawn(lab, v["name"], argv, v["name"] + "/player")
            v["client"] = client
            return
        argv = [PY, os.path.join(HERE, "player.py"), "--url", url, "--src", self.media,
                "--bitrate", "%.1f" % self.bitrate, "--out", os.path.join(vd, "player.json"),
                "--startup-s", str(pl["startup_s"]), "--rebuffer-s", str(pl["rebuffer_s"]),
                "--max-buffer-s", str(pl["max_buffer_s"]), "--leave-s", str(v["watch_s"]),
                "--actions", json.dumps(v["actions"]), "--t0", "%.6f" % v["t0"]]
        v["player"] = self.spawn(lab, v["name"], argv, v["name"] + "/player")
        v["client"] = client

    def sampler(self, lab):
        while not self.stop_sampler.is_set():
            t = time.time()
            self.samples.append({"t": t, "ports": lab.port_bytes(), "cpu": cpu_times()})
            self.stop_sampler.wait(max(0.05, 1.0 - (time.time() - t)))

    def run(self):
        log("%s: building %d hosts" % (self.mode, len(self.viewers) + 2 +
                                       self.sc["seeders"]["count"]))
        with netlab.Lab(queue_ms=self.sc["net"]["queue_ms"], log=log) as lab:
            self.build(lab)
            self.start_infra(lab)
            th = threading.Thread(target=self.sampler, args=(lab,), daemon=True)
            th.start()
            t_start = time.time()
            self.t_start = t_start
            pending = list(self.viewers)
            active = []
            last_note = 0
            deadline = t_start + max(v["arrive_s"] + v["watch_s"] for v in self.viewers) + 90
            try:
                while pending or active:
                    now = time.time()
                    while pending and now >= t_start + pending[0]["arrive_s"]:
                        v = pending.pop(0)
                        self.start_viewer(lab, v)
                        active.append(v)
                    for v in list(active):
                        if v["player"].poll() is not None:
                            if v["client"]:
                                self.stop_proc(v["client"])
                            active.remove(v)
                        elif v["client"] and v["client"].poll() is not None and \
                                not v.get("client_died"):
                            v["client_died"] = v["client"].returncode
                            log("%s: %s's client exited early (status %s)" %
                                (self.mode, v["name"], v["client"].returncode))
                    if now > deadline:
                        log("%s: over time; stopping %d viewers" % (self.mode, len(active)))
                        for v in active:
                            self.stop_proc(v["player"])
                            if v["client"]:
                                self.stop_proc(v["client"])
                        break
                    if now - last_note >= 15:
                        log("%s: t=%.0fs, %d viewers watching, %d to come" %
                            (self.mode, now - t_start, len(active), len(pending)))
                        last_note = now
                    time.sleep(0.1)
            finally:
                self.t_end = time.time()
                self.stop_sampler.set()
                th.join(3)
                for p in self.procs:
                    self.stop_proc(p, 3.0)
                self.collect(lab)
        return self.result

    def collect(self, lab):
        res = {"mode": self.mode, "t_start": self.t_start, "t_end": self.t_end,
               "size": self.size, "bitrate": self.bitrate, "kind": self.sc["media"]["kind"],
               "viewers": []}
        for v in self.viewers:
            r = {"name": v["name"], "ip": v.get("ip"), "isp": v["group"]["isp"],
                 "arrive_s": v["arrive_s"], "watch_s": v["watch_s"], "actions": v["actions"],
                 "up_mbit": v["group"]["up_mbit"], "down_mbit": v["group"]["down_mbit"],
                 "upload_rate_kbyte": v["group"]["upload_rate_kbyte"],
                 "client_died": v.get("client_died")}
            if "dir" in v:
                r["player"] = read_json(os.path.join(v["dir"], "player.json"))
                r["client"] = read_json(os.path.join(v["dir"], "stats.json"))
                r["down"] = lab.class_bytes(v["name"], "down")
                r["up"] = lab.class_bytes(v["name"], "up")
            res["viewers"].append(r)
        res["cdn_up_classes"] = lab.class_bytes("cdn", "up")
        res["nginx"] = nginx_totals(os.path.join(self.dir, "nginx", "access.log"))
        res["samples"] = [{"t": s["t"], "cdn": s["ports"].get("cdn", (0, 0))[0],
                           "viewers_rx": sum(b[1] for h, b in s["ports"].items()
                                             if h.startswith("v")),
                           "cpu": s["cpu"]}
                          for s in self.samples]
        with open(os.path.join(self.dir, "result.json"), "w") as f:
            json.dump(res, f, indent=1)
        if not self.args.keep_caches:
            shutil.rmtree(os.path.join(self.args.cache_root, self.mode), ignore_errors=True)
        self.result = res


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4], sum(v))


def wait_tcp(lab, host, ip, port, timeout):
    end = time.time() + timeout
    code = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)"
    while time.time() < end:
        r = subprocess.run(["ip", "netns", "exec", lab.hosts[host].ns, PY, "-c", code, ip,
                            str(port)], stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("%s:%d (%s) never accepted a connection" % (ip, port, host))


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def nginx_totals(path):
    body = wire = reqs = 0
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 4:
                    wire += int(p[2])
                    body += int(p[3])
                    reqs += 1
    except OSError:
        pass
    return {"body_bytes": body, "bytes": wire, "requests": reqs}


# --- main -------------------------------------------------------------------------------

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "household":  # its own timeline: household.py
        import household
        return household.main(sys.argv[2:])
    ap = argparse.ArgumentParser(prog="peerflow lab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--modes", help="comma-separated, from: " + ",".join(ALL_MODES + EXTRA_MODES))
    ap.add_argument("--out", help="run directory")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep-caches", action="store_true")
    ap.add_argument("--pf-bin", default=os.environ.get("PF_BIN") or
                    os.path.join(REPO, "build", "peerflow"))
    ap.add_argument("--media-cache", default="/tmp/pflab-media")
    ap.add_argument("--cleanup", action="store_true",
                    help="only remove stale pflab- namespaces and exit")
    ap.add_argument("--report", action="store_true",
                    help="SCENARIO is a run directory: rewrite its report from its results")
    a = ap.parse_args()
    if a.report:
        sc = load_scenario(os.path.join(a.scenario, "scenario.toml"))
        results = {}
        for m in ALL_MODES + EXTRA_MODES:
            r = read_json(os.path.join(a.scenario, m, "result.json"))
            if r:
                results[m] = r
        print(report.write(a.scenario, sc, results)["markdown"])
        return 0
    if os.geteuid() != 0:
        sys.exit("peerflow lab: needs root (network namespaces and tc)")
    netlab.cleanup_stale(log)
    if a.cleanup:
        return 0
    sc = load_scenario(a.scenario)
    if a.seed is not None:
        sc["seed"] = a.seed
    modes = a.modes.split(",") if a.modes else list(sc["modes"])
    for m in modes:
        if m not in ALL_MODES + EXTRA_MODES:
            sys.exit("peerflow lab: unknown mode %s (modes: %s)" % (m, ", ".join(ALL_MODES + EXTRA_MODES)))
    if not os.access(a.pf_bin, os.X_OK):
        sys.exit("peerflow lab: no peerflow binary at %s (--pf-bin or PF_BIN)" % a.pf_bin)
    a.pf_bin = os.path.abspath(a.pf_bin)
    rundir = a.out or os.path.join("/tmp/pflab-runs", time.strftime("%Y%m%d-%H%M%S-") + sc["name"])
    os.makedirs(rundir, exist_ok=True)
    rundir = os.path.abspath(rundir)
    a.cache_root = os.path.join(rundir, "caches")
    shutil.copy(sc["_path"], os.path.join(rundir, "scenario.toml"))
    log("run directory %s" % rundir)

    def on_signal(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second one must not cut the teardown short
        raise KeyboardInterrupt
    # SIGINT too: a shell starts background jobs with SIGINT ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    hls = sc["media"]["kind"] == "hls"
    if hls and [m for m in modes if not m.startswith("peerflow") and m != "cdn-only"]:
        sys.exit("peerflow lab: an hls title runs in cdn-only and peerflow modes only")
    src = make_title(sc, a.media_cache) if hls else make_media(sc, a.media_cache)
    www = os.path.join(rundir, "www")
    os.makedirs(www, exist_ok=True)
    os.chmod(rundir, 0o755)
    # hls: the folder "title" is the torrent's name, so BEP 19's multi-file
    # web seed URL (base + name + '/' + path) is nginx's /title/<path>
    media = os.path.join(www, "title" if hls else "video.mp4")
    if not os.path.exists(media):
        (shutil.copytree if hls else shutil.copy)(src, media)
    torrent = os.path.join(rundir, "title.torrent" if hls else "video.torrent")
    subprocess.run([a.pf_bin, "create", "-p", "%dK" % sc["media"]["piece_kib"],
                    "-t", "http://%s:6969/announce" % TRACKER_IP,
                    "-w", "http://%s/%s" % (CDN_IP, "" if hls else "video.mp4"), "-o", torrent,
                    media], check=True, stdout=subprocess.DEVNULL)
    with open(torrent, "rb") as f:
        data = f.read()
    s, e = bdecode_info_span(data)
    ih = hashlib.sha1(data[s:e]).hexdigest()
    viewers = plan_viewers(sc)
    with open(os.path.join(rundir, "plan.json"), "w") as f:
        json.dump([{k: v[k] for k in ("name", "arrive_s", "watch_s", "actions")} for v in viewers],
                  f, indent=1)
    msize = dir_size(media) if hls else os.path.getsize(media)
    log("%s: %d viewers, media %d s, %d B (%.0f kbit/s); modes %s" % (
        sc["name"], len(viewers), sc["media"]["duration_s"], msize,
        msize * 8 / sc["media"]["duration_s"] / 1000, ", ".join(modes)))
    results = {}
    rc = 0
    try:
        for m in modes:
            vs = [dict(v) for v in viewers]
            results[m] = ModeRun(a, sc, m, vs, media, torrent, ih, rundir).run()
            rep = report.write(rundir, sc, results)
            log("%s done" % m)
    except KeyboardInterrupt:
        log("interrupted: tearing down")
        rc = 130
    except Exception as ex:  # noqa: BLE001
        log("failed: %s" % ex)
        rc = 1
        raise
    finally:
        netlab.cleanup_stale(lambda *_: None)
    if results:
        rep = report.write(rundir, sc, results)
        print(rep["markdown"])
        log("report: %s/report.md" % rundir)
    return rc


if __name__ == "__main__":
    sys.exit(main())
