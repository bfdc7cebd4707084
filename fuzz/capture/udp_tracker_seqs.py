#!/usr/bin/env python3
"""Record-format seeds for fuzz_udp_tracker's server side, from captured
requests (udp_tracker_capture.py) and hand-made ones.

    udp_tracker_seqs.py CAPTURE_DIR CORPUS_DIR

A record is [ctl][len hi][len lo][datagram]; ctl bits 0-1 pick the source
(IPv4 a, IPv4 b, IPv6 c, v4-mapped a), bits 2-4 how far the clock moves
(0, 1, 30, 61, 121, 181, 3600, 86400 s), bit 5 patches in a valid
connection id, bit 6 expires peers first (see fuzz/fuzz_udp_tracker.c).
"""
import os, struct, sys

cap, out = sys.argv[1], sys.argv[2]
def req(name):
    with open(os.path.join(cap, name), "rb") as f:
        return f.read()
def rec(src, dg, step=0, fix=True, expire=False):
    ctl = src | (step << 2) | (0x20 if fix else 0) | (0x40 if expire else 0)
    return bytes([ctl]) + struct.pack(">H", len(dg)) + dg
def announce(ih, port, left=5, event=0, numwant=-1):
    return (struct.pack(">QII", 0, 1, 0x77) + ih + b"P" * 20 +
            struct.pack(">QQQIIIiH", 0, left, 0, event, 0, 0, numwant, port))
def scrape(*ihs):
    return struct.pack(">QII", 0, 2, 0x78) + b"".join(ihs)
def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

lt, a2 = req("req-libtorrent-announce-1"), req("req-aria2-announce-1")
pf, tr = req("req-peerflow-announce-1"), req("req-transmission-announce-1")
trs = req("req-transmission-scrape-1")
# the clients of one swarm, from three sources, then a scrape
write("seq-clients-one-swarm",
      rec(0, req("req-libtorrent-connect-1"), fix=False) + rec(0, lt) + rec(1, a2) +
      rec(2, pf) + rec(3, tr) + rec(1, trs, step=1))
# ids expire: an announce 181 s later without a fresh id, then with one
write("seq-expired-id", rec(0, lt) + rec(0, lt, step=5, fix=False) + rec(0, lt, step=5))
# completed, stopped, expiry, a day later
ih = b"\x11" * 20
write("seq-events",
      rec(0, announce(ih, 6881, event=2)) + rec(1, announce(ih, 6882, left=0, event=2)) +
      rec(0, announce(ih, 6881, left=0, event=1), step=2) +
      rec(1, announce(ih, 6882, event=3), step=1) + rec(2, announce(ih, 6883), step=7, expire=True))
# limits: more torrents and peers than the fuzzer's tracker holds, a flood
many = b"".join(rec(k % 4, announce(bytes([k]) * 20, 1000 + k)) for k in range(24))
write("seq-limits", many + b"".join(rec(0, scrape(ih)) for _ in range(30)))
# the tracker full of peers (16 in 3 torrents), then a new torrent
full = b"".join(rec(k % 4, announce(bytes([0x40 + k % 3]) * 20, 2000 + k)) for k in range(17))
write("seq-full", full + rec(1, announce(b"\x7f" * 20, 3000)))
# scrapes of 74 and 75 hashes, port 0, a huge numwant, a v6 source
write("seq-odd", rec(0, scrape(*[bytes([k]) * 20 for k in range(75)])) +
      rec(2, announce(ih, 0)) + rec(2, announce(ih, 9, numwant=100000)) +
      rec(1, announce(ih, 9, numwant=0)))
