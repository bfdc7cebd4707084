"""What the lab's two player emulators share: player.py (one progressive
file, Range reads) and hls_player.py (an ABR title, hls.js's rule).

* STOP: set by SIGTERM/SIGINT; each player's playback clock polls it.
* PlayerBase: the counters both keep (bytes, mismatched bytes, errors,
  retries before the server is ready, first request, first byte), the
  byte-exact comparison, the pause between retries, and the result
  fields report.py reads from either player.
* add_common_args / main: the options both take (--out, --rebuffer-s,
  --leave-s, --t0, --wait-url) and the start-up both do: t0, signals, and
  waiting for the URL's server to accept connections.
"""

import json
import os
import signal
import socket
import sys
import time
import urllib.parse

TICK = 0.05
CHUNK = 65536

STOP = [False]


def mismatched(want, data):
    """How many bytes of data differ from want (a length difference counts)."""
    if want == data:
        return 0
    return sum(1 for x, y in zip(want, data) if x != y) + abs(len(want) - len(data))


class Clock:
    """The playback clock's record, as both players keep it: the state
    (startup, playing, stalled, ended; player.py adds seeking and paused),
    the stalls and the seconds stalled, and the intervals played, play:
    [[wall_start, wall_end, media_start_s, media_end_s], ...]."""

    def __init__(self):
        self.state = "startup"
        self.stalls = 0
        self.stall_s = 0.0
        self.wait_since = None   # when the stall (or player.py's seek) began
        self.play = []
        self.cur = None          # the interval being played

    def cut(self):
        """Closes the interval being played, if any."""
        if self.cur:
            self.play.append(self.cur)
            self.cur = None

    def resume(self, now, media_s):
        """Playback (re)starts at media second media_s; a stall ends."""
        if self.state == "stalled":
            self.stall_s += now - self.wait_since
        self.state = "playing"
        self.cur = [now, now, media_s, media_s]

    def advance(self, now, media_s):
        self.cur[1], self.cur[3] = now, media_s

    def stall(self, now):
        self.state = "stalled"
        self.stalls += 1
        self.wait_since = now
        self.cut()

    def end(self):
        self.state = "ended"
        self.cut()

    def finish(self, now):
        """At exit: the interval in progress closed, a stall in progress counted."""
        self.cut()
        if self.state == "stalled":
            self.stall_s += now - self.wait_since


class PlayerBase:
    def __init__(self, a):
        self.a = a
        self.stop = False
        self.bytes = 0
        self.mismatch = 0
        self.errors = []
        self.not_ready = 0
        self.first_request = None
        self.first_byte = None

    def retry_pause(self, what):
        """After a failed read: before the first byte the client's server is
        not ready yet (counted, retried soon); after it, an error."""
        if self.first_byte is None:
            self.not_ready += 1
            time.sleep(0.1)
        else:
            self.errors.append("%.1f %s" % (time.time() - self.a.t0, what))
            time.sleep(0.2)

    def result(self, url, startup_at, clock, played_s, now, seeks=0, seek_wait_s=0.0, reads=(),
               head=None, tail=None):
        """The result JSON: url, head's fields, the common ones (clock's:
        stalls, play...), tail's, left."""
        t0, fr = self.a.t0, self.first_request
        res = {"url": url}
        res.update(head or {})
        res.update({
            "t0": t0,
            "first_request": fr,
            "first_byte_s": (self.first_byte - fr) if self.first_byte and fr else None,
            "startup_s": (startup_at - fr) if startup_at and fr else None,
            "startup_from_arrival_s": (startup_at - t0) if startup_at else None,
            "stalls": clock.stalls,
            "stall_s": round(clock.stall_s, 3),
            "stalled_at_exit": clock.state == "stalled",
            "seeks": seeks,
            "seek_wait_s": round(seek_wait_s, 3),
            "bytes": self.bytes,
            "mismatched_bytes": self.mismatch,
            "played_s": round(played_s, 2),
            "ended": clock.state == "ended",
            "errors": self.errors[:20],
            "not_ready_retries": self.not_ready,
            "play": [[round(x, 3) for x in p] for p in clock.play],
            "reads": [[round(r[0], 3), round(r[1], 3), r[2], r[3]] for r in reads],
        })
        res.update(tail or {})
        res["left"] = now
        return res

    def write(self, res):
        """Writes res to --out atomically (the lab reads it while we run)."""
        tmp = self.a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f)
        os.replace(tmp, self.a.out)


def add_common_args(ap):
    ap.add_argument("--out", required=True)
    ap.add_argument("--rebuffer-s", type=float, default=2)
    ap.add_argument("--leave-s", type=float, default=0)
    ap.add_argument("--t0", type=float, default=0)
    ap.add_argument("--wait-url", type=float, default=60,
                    help="wait up to S s for the URL's server to accept connections")


def main(a, url, name, player_class):
    """Sets t0 and the stop signals, waits for url's server, plays: the exit code."""
    if not a.t0:
        a.t0 = time.time()
    signal.signal(signal.SIGTERM, lambda *_: STOP.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *_: STOP.__setitem__(0, True))
    u = urllib.parse.urlsplit(url)
    end = time.time() + a.wait_url
    while True:
        try:
            socket.create_connection((u.hostname, u.port or 80), timeout=1).close()
            break
        except OSError:
            if time.time() > end or STOP[0]:
                print("%s: %s never accepted a connection" % (name, url), file=sys.stderr)
                return 1
            time.sleep(0.02)
    player_class(a).run()
    return 0
