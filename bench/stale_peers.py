#!/usr/bin/python3
"""Puts peers that have gone on a tracker (bench/stream.sh BENCH_STALE /
BENCH_SILENT): N addresses on 127.0.0.1 where nothing listens any more,
and K whose ports accept connections and never answer (held open until
this process is stopped).  Prints "announced N+K" once the tracker has
them all.

    stale_peers.py TRACKER_PORT INFO_HASH_HEX N K
"""
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request


def main():
    port, ih, n_gone, n_silent = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ports, silent = [], []
    for _ in range(n_gone):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    for _ in range(n_silent):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        silent.append(s)
        ports.append(s.getsockname()[1])
    for i, p in enumerate(ports):
        pid = ("-XX0000-%012d" % i).encode()
        q = "info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=%d&compact=1&event=started" % (
            urllib.parse.quote(ih), urllib.parse.quote(pid), p, 1000 * (i % 2))
        urllib.request.urlopen("http://127.0.0.1:%d/announce?%s" % (port, q), timeout=10).read()
    print("announced %d+%d" % (n_gone, n_silent), flush=True)
    held = []

    def accept(s):
        while True:
            c, _ = s.accept()
            held.append(c)  # never read, never answered

    for s in silent:
        threading.Thread(target=accept, args=(s,), daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
