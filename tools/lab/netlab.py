"""The lab's network: one namespace per host, joined by veth pairs to a
bridge that lives in a "switch" namespace of its own, so nothing is added
to the machine's own network.  Every namespace and link carries the
"pflab-" prefix; a namespace's name also carries the lab's pid, so a later
run can tell a stale one (its lab is gone) from a live one.

Addresses (10.77.0.0/16, routed nowhere):
    10.77.0.0/24   infrastructure: the CDN origin, the tracker, seeders
    10.77.1.0/24   ISP "a" viewers (the default group)
    10.77.2.0/24   ISP "b" viewers ... one /24 per ISP tag, in order

Shaping (no netem on this kernel): every host's upload is an HTB tree on
its own end of the veth, its download an HTB tree on the switch's end.
Each tree is one parent class at the link rate with three leaves, one per
kind of far end (infrastructure, the same ISP, another ISP), each able to
borrow the whole link; each leaf's queue is a bfifo sized to queue_ms of
the link rate.  The leaves exist to count bytes by far end (CDN bytes per
viewer, inter-ISP bytes), not to divide the link.  GSO is off on every
veth (gso_max_segs 1) so the queues see real packets.

Delay: the only delay is queueing, up to queue_ms per direction when a link
is saturated; propagation delay is ~0 (a veth hop).  See docs/LAB.md.
"""

import os
import re
import signal
import subprocess
import time

PREFIX = "pflab-"
SUBNET = "10.77"


def run(args, check=True, quiet=False):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def ns_pids(ns):
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def kill_ns_procs(ns, grace=3.0):
    """Every process still inside one of the lab's own namespaces was
    started by a lab run: TERM, then KILL."""
    pids = ns_pids(ns)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + grace
    while pids and time.monotonic() < end:
        pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
        time.sleep(0.05)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def lab_namespaces():
    out = run(["ip", "netns", "list"], check=False)
    return [l.split()[0] for l in out.splitlines() if l.startswith(PREFIX)]


def _owner_alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"lab" in f.read()
    except OSError:
        return False


def cleanup_stale(log=print):
    """Removes the namespaces of lab runs whose process is gone."""
    n = 0
    for ns in lab_namespaces():
        m = re.match(r"pflab-(\d+)-", ns)
        if m and int(m.group(1)) != os.getpid() and _owner_alive(int(m.group(1))):
            continue
        kill_ns_procs(ns)
        run(["ip", "netns", "del", ns], check=False)
        n += 1
    if n:
        log("removed %d stale pflab- namespace(s) of an earlier run" % n)
    return n


def _rate(mbit):
    return "%dkbit" % max(8, int(round(mbit * 1000)))


class Host:
    def __init__(self, name, ip, isp, up_mbit, down_mbit, idx):
        self.name, self.ip, self.isp = name, ip, isp
        self.up_mbit, self.down_mbit = up_mbit, down_mbit
        self.idx = idx
        self.ns = None
        self.port = "%sp%d" % (PREFIX, idx)   # switch end
        self.dev = "%se%d" % (PREFIX, idx)    # host end


class Lab:
    """Builds and tears down the namespaces.  Use as a context manager."""

    def __init__(self, queue_ms=100, log=print):
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.sw = self.tag + "-sw"
        self.queue_ms = queue_ms
        self.hosts = {}
        self.isps = ["a"]
        self.log = log
        self.built = False

    def isp_net(self, isp):
        if isp == "infra":
            return "%s.0" % SUBNET
        if isp not in self.isps:
            self.isps.append(isp)
        return "%s.%d" % (SUBNET, 1 + self.isps.index(isp))

    def add_host(self, name, isp, up_mbit, down_mbit):
        net = self.isp_net(isp)
        n = sum(1 for h in self.hosts.values() if h.isp == isp)
        ip = "%s.%d" % (net, n + 2)
        h = Host(name, ip, isp, up_mbit, down_mbit, len(self.hosts) + 1)
        h.ns = "%s-%s" % (self.tag, name)
        self.hosts[name] = h
        return h

    # --- building -----------------------------------------------------------

    def build(self):
        run(["ip", "netns", "add", self.sw])
        self.built = True
        run(["ip", "-n", self.sw, "link", "set", "lo", "up"])
        run(["ip", "-n", self.sw, "link", "add", PREFIX + "br", "type", "bridge"])
        run(["ip", "-n", self.sw, "link", "set", PREFIX + "br", "up"])
        for h in self.hosts.values():
            self._build_host(h)

    def _build_host(self, h):
        run(["ip", "netns", "add", h.ns])
        run(["ip", "-n", h.ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.sw, "link", "add", h.port, "type", "veth", "peer", "name", h.dev,
             "netns", h.ns])
        run(["ip", "-n", self.sw, "link", "set", h.port, "master", PREFIX + "br",
             "gso_max_size", "1500", "gso_max_segs", "1", "up"])
        run(["ip", "-n", h.ns, "addr", "add", h.ip + "/16", "dev", h.dev])
        run(["ip", "-n", h.ns, "link", "set", h.dev, "gso_max_size", "1500", "gso_max_segs", "1",
             "up"])
        if h.up_mbit:
            self._shape(h.ns, h.dev, h.up_mbit, h.isp, "dst")
        if h.down_mbit:
            self._shape(self.sw, h.port, h.down_mbit, h.isp, "src")

    def _shape(self, ns, dev, mbit, isp, direction):
        """HTB: 1:1 at the link rate; leaves 1:10 infra, 1:20 same ISP, 1:30 other."""
        rate = _rate(mbit)
        limit = max(int(mbit * 1e6 / 8 * self.queue_ms / 1000), 16 * 1514)
        quantum = "1514"
        tc = ["tc", "-n", ns]
        run(tc + ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "30"])
        run(tc + ["class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rate,
                  "ceil", rate, "quantum", quantum])
        for leaf in (10, 20, 30):
            run(tc + ["class", "add", "dev", dev, "parent", "1:1", "classid", "1:%d" % leaf, "htb",
                      "rate", _rate(mbit / 3), "ceil", rate, "quantum", quantum])
            run(tc + ["qdisc", "add", "dev", dev, "parent", "1:%d" % leaf, "bfifo", "limit",
                      str(limit)])
        run(tc + ["filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                  "match", "ip", direction, "%s.0.0/24" % SUBNET, "flowid", "1:10"])
        if isp != "infra":
            run(tc + ["filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "2",
                      "u32", "match", "ip", direction, self.isp_net(isp) + ".0/24", "flowid",
                      "1:20"])

    # --- running things -------------------------------------------------------

    def popen(self, host, argv, log_path, env=None, stdout_path=None):
        """Starts argv inside host's namespace, in its own process group."""
        out = open(stdout_path or log_path, "ab")
        err = out if not stdout_path else open(log_path, "ab")
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.Popen(["ip", "netns", "exec", self.hosts[host].ns] + argv, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, env=e, start_new_session=True)
        out.close()
        if err is not out:
            err.close()
        return p

    # --- counters -------------------------------------------------------------

    def port_bytes(self):
        """{host: (bytes the host sent, bytes it received)} from the switch
        ports' counters (wire bytes, one `ip` call)."""
        import json
        out = run(["ip", "-n", self.sw, "-s", "-j", "link", "show"], check=False)
        try:
            links = json.loads(out)
        except ValueError:
            return {}
        by_port = {}
        for l in links:
            st = l.get("stats64") or l.get("stats") or {}
            by_port[l.get("ifname", "").split("@")[0]] = (st.get("rx", {}).get("bytes", 0),
                                                         st.get("tx", {}).get("bytes", 0))
        return {h.name: by_port.get(h.port, (0, 0)) for h in self.hosts.values()}

    def class_bytes(self, host, direction):
        """{"infra","same","other": bytes} of a host's upload ("up") or
        download ("down") leaves."""
        h = self.hosts[host]
        ns, dev = (h.ns, h.dev) if direction == "up" else (self.sw, h.port)
        out = run(["tc", "-n", ns, "-s", "class", "show", "dev", dev], check=False)
        res = {"infra": 0, "same": 0, "other": 0}
        names = {"1:10": "infra", "1:20": "same", "1:30": "other"}
        cur = None
        for line in out.splitlines():
            m = re.match(r"class htb (\S+) ", line)
            if m:
                cur = names.get(m.group(1))
                continue
            m = re.match(r"\s*Sent (\d+) bytes", line)
            if m and cur:
                res[cur] = int(m.group(1))
                cur = None
        return res

    # --- tearing down -------------------------------------------------------------

    def teardown(self):
        existing = set(lab_namespaces())
        for h in self.hosts.values():
            if h.ns in existing:
                kill_ns_procs(h.ns)
                run(["ip", "netns", "del", h.ns], check=False)
        if self.built:
            run(["ip", "netns", "del", self.sw], check=False)
            self.built = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False
