#!/usr/bin/python3
"""A libtorrent streaming viewer for the lab: libtorrent (python3-libtorrent)
downloads the torrent with its web seed (the CDN) and peers, and a small
HTTP server on 127.0.0.1 hands the file to the player emulator.  Per-piece
deadlines steer libtorrent the way a streaming client would: each time the
reader enters a new piece, the next --window-s of media get
set_piece_deadline(piece, ms until the media clock needs it); a Range
request elsewhere (a seek) clears the deadlines and starts over there.
Web seed requests are capped at 1 MiB (urlseed_max_request_bytes; the
default 16 MiB holds an 8 Mbit/s link for 17 s).

  lt_viewer.py --torrent T --dir D --bind IP --bitrate BYTES_PER_S
               [--http-port 8000] [--port 6881] [--upload-rate BYTES_PER_S]
               [--stats FILE] [--window-s 30]
"""

import argparse
import http.server
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time

import libtorrent as lt

STOP = threading.Event()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--bitrate", type=float, required=True)
    ap.add_argument("--http-port", type=int, default=8000)
    ap.add_argument("--port", type=int, default=6881)
    ap.add_argument("--upload-rate", type=int, default=0)
    ap.add_argument("--stats")
    ap.add_argument("--window-s", type=float, default=30)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    pack = lt.default_settings()
    pack.update({
        "listen_interfaces": "%s:%d" % (a.bind, a.port),
        "outgoing_interfaces": a.bind,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 5,
        # Peers that share an address are distinct peers (bench/stream.sh
        # runs every client on 127.0.0.1): without this, libtorrent keeps
        # one peer per IP, the first the tracker named, often a viewer of
        # an earlier run that is gone, and never dials the seeder.
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": a.upload_rate,
        # A web seed request is 16 MiB by default: on an 8 Mbit/s link that
        # is 17 s in which the deadline pieces cannot use the CDN.  Four
        # pieces (1 MiB at 256 KiB) is what a streaming client would pick.
        "urlseed_max_request_bytes": 4 * 256 * 1024,
        "user_agent": "pflab-lt/" + lt.__version__,
        "alert_mask": (lt.alert.category_t.error_notification
                       | lt.alert.category_t.storage_notification),
    })
    for k in ("ssrf_mitigation", "validate_https_trackers"):
        if k in lt.default_settings():
            pack[k] = False
    ses = lt.session(pack)
    ti = lt.torrent_info(a.torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = os.path.abspath(a.dir)
    flags = atp.flags
    flags &= ~lt.torrent_flags.paused
    flags &= ~lt.torrent_flags.auto_managed
    atp.flags = flags
    h = ses.add_torrent(atp)
    plen = ti.piece_length()
    npieces = ti.num_pieces()
    size = ti.total_size()
    state = {"piece": -1, "gen": 0}
    lock = threading.Lock()

    def steer(pos, restart):
        """Deadlines for the window ahead of read position pos."""
        p0 = pos // plen
        with lock:
            if restart:
                h.clear_piece_deadlines()
            elif p0 == state["piece"]:
                return
            state["piece"] = p0
        last = min(npieces - 1, int((pos + a.window_s * a.bitrate) // plen))
        for p in range(p0, last + 1):
            if h.have_piece(p):
                continue
            ms = max(0, int(((p * plen) - pos) / a.bitrate * 1000))
            h.set_piece_deadline(p, ms)

    # Pieces are read through libtorrent (read_piece): a verified piece may
    # still sit in its store buffer, not yet in the file.
    pieces = {}            # piece -> bytes (the last few)
    waiting = {}           # piece -> Event
    plock = threading.Lock()

    def piece_data(p):
        with plock:
            if p in pieces:
                return pieces[p]
            ev = waiting.get(p)
            if ev is None:
                ev = waiting[p] = threading.Event()
                h.read_piece(p)
        while not ev.wait(0.1):
            if STOP.is_set():
                return None
        with plock:
            return pieces.get(p)

    def on_read_piece(alert):
        with plock:
            if len(pieces) > 64:
                pieces.pop(next(iter(pieces)))
            if not alert.error.value():
                pieces[alert.piece] = bytes(alert.buffer)
            ev = waiting.pop(alert.piece, None)
        if ev:
            ev.set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            start, end = 0, size - 1
            m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if m:
                start = int(m.group(1))
                if m.group(2):
                    end = min(end, int(m.group(2)))
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
            else:
                self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            steer(start, True)
            pos = start
            try:
                while pos <= end and not STOP.is_set():
                    p = pos // plen
                    steer(pos, False)
                    while not h.have_piece(p):
                        if STOP.is_set():
                            return
                        time.sleep(0.02)
                    data = piece_data(p)
                    if data is None:
                        time.sleep(0.05)
                        continue
                    off = pos - p * plen
                    chunk = data[off:off + min(end + 1 - pos, len(data) - off)]
                    self.wfile.write(chunk)
                    pos += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", a.http_port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("listening on port %d" % a.http_port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())

    def write_stats():
        if not a.stats:
            return
        st = h.status()
        d = {"uploaded": st.total_payload_upload, "downloaded": st.total_payload_download,
             "have": st.num_pieces, "pieces": npieces, "peers": st.num_peers,
             "complete": bool(st.is_seeding)}
        with open(a.stats + ".tmp", "w") as fo:
            json.dump(d, fo)
        os.replace(a.stats + ".tmp", a.stats)

    last = 0
    while not STOP.is_set():
        ses.wait_for_alert(50)
        for al in ses.pop_alerts():
            if isinstance(al, lt.read_piece_alert):
                on_read_piece(al)
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            write_stats()
    write_stats()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
