#!/usr/bin/python3
"""The lab's HLS player emulator (tools/lab/hls_player.py) checked on its
own, without namespaces or peerflow, in about 20 s:
  - the playlist parsers and the throughput rule (hls.js's EWMA, highest
    BANDWIDTH <= 0.8 x estimate) on fixed inputs
  - a 12 s title (tests/media/make_title.sh, cached in the build tree)
    played from three local HTTP servers at once:
      fast: starts at the lowest rendition, switches up once, plays all
            12 s with no stall, every byte equal to the title's file
      1.6 Mbit/s: stays at the lowest (0.8 x 1.6 < 2.43), no switch
      segment 2 of every rendition held back 7 s: exactly one stall
"""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("PF_SRC") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PF_BUILD") or os.path.join(SRC, "build")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(SRC, "tools", "lab"))
import hls_player  # noqa: E402

FAILS = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, file=sys.stderr)
    if not ok:
        FAILS.append(what)


def unit():
    levels, audio = hls_player.parse_master(
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x, y",DEFAULT=YES,URI="au.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2000,CODECS="avc1,mp4a"\nhi.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1000\nlo.m3u8\n')
    check([x["uri"] for x in levels] == ["lo.m3u8", "hi.m3u8"] and audio == "au.m3u8",
          "master playlist: renditions by BANDWIDTH, quoted commas, the audio playlist")
    m = hls_player.parse_media('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\na.m4s\n'
                               '#EXTINF:2.5,\nb.m4s\n#EXT-X-ENDLIST\n')
    check(m == {"init": "init.mp4", "segs": [("a.m4s", 0.0, 4.0), ("b.m4s", 4.0, 2.5)]},
          "media playlist: init, segments with start and duration")
    e = hls_player.Estimator()
    check(e.estimate() == hls_player.DEFAULT_ESTIMATE, "estimate before a sample: 500 kbit/s")
    for _ in range(5):
        e.sample(2.0, 1_000_000)  # 4 Mbit/s
    check(abs(e.estimate() - 4e6) < 1, "constant samples: the estimate is the rate (%.0f)"
          % e.estimate())
    e.sample(4.0, 500_000)  # 1 Mbit/s: the fast EWMA drops first, the estimate follows
    check(e.estimate() < e.slow.estimate() and e.estimate() < 2.5e6,
          "a slow segment: estimate = the lower (fast) EWMA")
    lv = [{"bandwidth": b} for b in (1_000_000, 2_500_000, 5_000_000)]
    check([hls_player.choose_level(lv, est, 0.8) for est in (1e5, 3.1e6, 3.2e6, 7e6)] ==
          [0, 0, 1, 2], "rule: highest BANDWIDTH <= 0.8 x estimate, else the lowest")


def make_title():
    d = os.path.join(BUILD, "test-media", "hls-title-12s")
    if not os.path.exists(os.path.join(d, "master.m3u8")):
        tmp = d + ".tmp"
        subprocess.run(["bash", os.path.join(SRC, "tests", "media", "make_title.sh"),
                        "--seconds", "12", tmp], check=True)
        os.replace(tmp, d)
    return d


def server(root, rate=0.0, hold=None):
    """A local HTTP/1.1 server of root: rate (bytes/s per response) or
    hold (a path fragment answered only after 7 s)."""
    class H(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *a, **k):
            super().__init__(*a, directory=root, **k)

        def log_message(self, *a):
            pass

        def copyfile(self, src, dst):
            if hold and hold in self.path:
                time.sleep(7)
            while True:
                b = src.read(16384)
                if not b:
                    break
                dst.write(b)
                if rate:
                    time.sleep(len(b) / rate)
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    s.handle_error = lambda *a: None  # a player leaving mid-response is no news
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def main():
    unit()
    if FAILS:
        return 1
    import shutil
    if not shutil.which("ffmpeg"):
        print("SKIP: it_lab_hls_player: ffmpeg missing (the parsers and the rule passed)")
        return 0
    title = make_title()
    tmp = tempfile.mkdtemp(prefix="pf-hlsplayer-")
    cases = {"fast": server(title), "slow": server(title, rate=1.6e6 / 8),
             "held": server(title, hold="-00002.m4s")}
    procs = {}
    for name, s in cases.items():
        procs[name] = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tools", "lab", "hls_player.py"), "--base",
             "http://127.0.0.1:%d/" % s.server_address[1], "--src", title,
             "--out", os.path.join(tmp, name + ".json")])
    r = {}
    for name, p in procs.items():
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
        check(p.returncode == 0, "%s: the player exited 0 (%s)" % (name, p.returncode))
        with open(os.path.join(tmp, name + ".json")) as f:
            r[name] = json.load(f)
        x = r[name]
        print("%s: stalls %d, switches %d, per rendition %s, mean %s bit/s, startup %.2f s"
              % (name, x["stalls"], x["switches"], x["played_s_by_level"], x["mean_bitrate_bps"],
                 x["startup_s"] or -1), file=sys.stderr)
        check(x["mismatched_bytes"] == 0 and not x["errors"],
              "%s: every byte equals the title's file, no errors" % name)
        check(x["ended"] and abs(x["played_s"] - 12) < 0.01, "%s: played the 12 s to the end"
              % name)
    f = r["fast"]
    check(f["stalls"] == 0 and f["switches"] == 1 and f["level_changes"][0][2] == 0 and
          f["level_changes"][-1][2] == 2, "fast: lowest first, then one switch to the highest")
    s = r["slow"]
    check(s["stalls"] == 0 and s["switches"] == 0 and s["played_s_by_level"] == {"0": 12.0},
          "slow (1.6 Mbit/s): the lowest rendition throughout, no stall")
    check(r["held"]["stalls"] == 1 and r["held"]["stall_s"] > 1,
          "held segment: one stall (%.1f s)" % r["held"]["stall_s"])
    played = [q for q in f["fetches"] if q[4] == "video"]
    check(all(q[7] for q in played) and len(played) == 3, "fast: 3 video segments, all played")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
