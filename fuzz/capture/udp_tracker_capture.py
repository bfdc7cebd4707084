#!/usr/bin/env python3
"""A BEP 15 tracker that records what clients send, for fuzz/corpus/udp_tracker.

    udp_tracker_capture.py --port P --out DIR --name CLIENT [--seconds S]

Listens on 127.0.0.1:P (and [::1]:P with --v6), answers a connect with a
fixed connection id, an announce with an empty peer list and a scrape with
zeros, and writes each datagram it received to DIR/req-CLIENT-ACTION-N
(ACTION: connect, announce, scrape).  Runs S seconds (default 20) or until
it has seen an announce and, with --want-scrape, a scrape.
"""
import argparse, os, select, socket, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--name", required=True)
ap.add_argument("--seconds", type=float, default=20)
ap.add_argument("--v6", action="store_true")
ap.add_argument("--want-scrape", action="store_true")
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
socks[0].bind(("127.0.0.1", a.port))
if a.v6:
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.bind(("::1", a.port))
    socks.append(s6)
names = {0: "connect", 1: "announce", 2: "scrape"}
count, seen = {}, set()
end = time.time() + a.seconds
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.2)
    for s in r:
        d, frm = s.recvfrom(65536)
        if len(d) < 16:
            continue
        action = struct.unpack(">I", d[8:12])[0]
        tid = d[12:16]
        name = names.get(action, "unknown")
        count[name] = count.get(name, 0) + 1
        with open(os.path.join(a.out, "req-%s-%s-%d" % (a.name, name, count[name])), "wb") as f:
            f.write(d)
        seen.add(name)
        if action == 0:
            s.sendto(struct.pack(">I", 0) + tid + bytes.fromhex("5151515151515151"), frm)
        elif action == 1:
            s.sendto(struct.pack(">I", 1) + tid + struct.pack(">III", 60, 0, 1), frm)
        elif action == 2:
            s.sendto(struct.pack(">I", 2) + tid + bytes(12 * ((len(d) - 16) // 20)), frm)
    if "announce" in seen and (not a.want_scrape or "scrape" in seen):
        time.sleep(0.5)
        break
print("captured", count)
