#!/usr/bin/python3
"""The lab's HLS player emulator: an adaptive-bitrate player that plays a
packaged title (master playlist, media playlists, fMP4 init + segments)
the way hls.js does, so rendition choice, stalls and start-up are real.

  hls_player.py --base URL --src DIR --out RESULT.json
                [--buffer-s 30] [--rebuffer-s 2] [--safety 0.8]
                [--start-level lowest|middle|N] [--leave-s S] [--t0 EPOCH]

--base is the title's folder URL ending in '/': peerflow's local server
(http://127.0.0.1:8000/t/) or the CDN itself (http://10.77.0.2/title/).
The player requests BASE + master.m3u8, then the media playlist of the
rendition it starts at and the audio playlist, then init and segments by
the relative URIs the playlists name.  --src is the title's folder on
disk: every byte read is compared with the file of the same path.

* Two loaders, as hls.js's stream controllers: video (playlists, init,
  segments) on one keep-alive HTTP connection, audio (its init and
  segments) on another, one request at a time each, each with its own
  buffer; playback has what both hold (MSE's intersection).
* Buffer target: each loader requests its next segment while less than
  --buffer-s (30, hls.js's maxBufferLength) of its media are buffered
  ahead of the playhead.
* Throughput rule (hls.js's EwmaBandWidthEstimator with its VoD defaults):
  every video segment's download gives a sample, bits / (request -> last
  byte; audio segments are not samples), weighted by its duration in
  seconds, into two EWMAs with half-
  lives of 3 s and 9 s; the estimate is the lower of the two (500 kbit/s
  before any sample).  Before each segment the player picks the highest
  rendition whose BANDWIDTH <= --safety (0.8) x estimate, the lowest if
  none.  A switch loads the new rendition's playlist (once) and its init
  segment, then continues at the same media time.  No abandon of a
  segment in flight (hls.js would abandon a too-slow load): that is left
  out on purpose, the rule alone decides.
* Playback starts once the first video segment (and the audio covering
  it) is in; it runs in real time.  A stall is the playhead reaching the
  end of the buffer before the end of the title; it ends when --rebuffer-s
  are buffered again (with 4 s segments: the next segment is in).
* --leave-s: leave that long after arrival (default: at the end).

Result JSON (the fields report.py reads from player.py's, plus): levels
[{bandwidth, uri}], fetches [[t_req, t_done, path, bytes, kind, level,
seg, played]] (kind: playlist, init, video, audio; played: the segment's
media was reached by the playhead), played_s_by_level, mean_bitrate_bps
(declared BANDWIDTH weighted by time played), mean_media_bps (the played
segments' own bytes per second), switches (rendition changes in play
order), level_changes [[wall, media_s, level]], estimates [[wall, bps]].
"""

import argparse
import http.client
import math
import os
import socket
import sys
import threading
import time
import urllib.parse

import player_common
from player_common import CHUNK, STOP, TICK

DEFAULT_ESTIMATE = 500e3  # hls.js abrEwmaDefaultEstimate, bit/s


def parse_attrs(s):
    """KEY=VALUE,KEY="quoted, value" -> dict."""
    out, i = {}, 0
    while i < len(s):
        eq = s.find("=", i)
        if eq < 0:
            break
        key = s[i:eq].strip()
        if s[eq + 1:eq + 2] == '"':
            end = s.index('"', eq + 2)
            out[key] = s[eq + 2:end]
            i = end + 2
        else:
            end = s.find(",", eq + 1)
            end = len(s) if end < 0 else end
            out[key] = s[eq + 1:end]
            i = end + 1
    return out


def parse_master(text):
    """(levels [{bandwidth, uri}] sorted by bandwidth, audio playlist URI or None)."""
    levels, audio, pending = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = parse_attrs(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA:"):
            a = parse_attrs(line.split(":", 1)[1])
            if a.get("TYPE") == "AUDIO" and a.get("URI") and (audio is None or
                                                               a.get("DEFAULT") == "YES"):
                audio = a["URI"]
        elif line and not line.startswith("#") and pending is not None:
            levels.append({"bandwidth": int(pending["BANDWIDTH"]), "uri": line})
            pending = None
    levels.sort(key=lambda x: x["bandwidth"])
    return levels, audio


def parse_media(text):
    """{init, segs: [(uri, start_s, dur_s)]} of a VoD media playlist."""
    init, segs, dur, t = None, [], None, 0.0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MAP:"):
            init = parse_attrs(line.split(":", 1)[1]).get("URI")
        elif line.startswith("#EXTINF:"):
            dur = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#") and dur is not None:
            segs.append((line, t, dur))
            t += dur
            dur = None
    return {"init": init, "segs": segs}


class Ewma:
    """hls.js's Ewma: alpha from a half-life, samples weighted (seconds)."""

    def __init__(self, halflife):
        self.alpha = math.exp(math.log(0.5) / halflife)
        self.est = 0.0
        self.weight = 0.0

    def sample(self, weight, value):
        a = self.alpha ** weight
        self.est = value * (1 - a) + a * self.est
        self.weight += weight

    def estimate(self):
        zero = 1 - self.alpha ** self.weight
        return self.est / zero if zero > 0 else 0.0


class Estimator:
    def __init__(self):
        self.fast, self.slow = Ewma(3.0), Ewma(9.0)

    def sample(self, secs, nbytes):
        secs = max(secs, 0.05)  # hls.js: minimum 50 ms per sample
        bps = nbytes * 8 / secs
        self.fast.sample(secs, bps)
        self.slow.sample(secs, bps)

    def estimate(self):
        if self.fast.weight < 0.001:
            return DEFAULT_ESTIMATE
        return min(self.fast.estimate(), self.slow.estimate())


def choose_level(levels, estimate, safety):
    """The highest rendition whose BANDWIDTH <= safety x estimate, else the lowest."""
    best = 0
    for i, lv in enumerate(levels):
        if lv["bandwidth"] <= safety * estimate:
            best = i
    return best


class Player(player_common.PlayerBase):
    def __init__(self, a):
        super().__init__(a)
        self.base = a.base if a.base.endswith("/") else a.base + "/"
        u = urllib.parse.urlsplit(self.base)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.lock = threading.Lock()
        self.conns = {}      # loader name -> its keep-alive HTTPConnection
        self.fetches = []
        self.estimates = []
        self.est = Estimator()
        # media state shared with the clock
        self.buffered = []   # [(start_s, end_s, level, bytes, fetch index)] in media order
        self.video_end = 0.0  # media seconds of video buffered
        self.audio_end = None  # ... of audio (None: no audio playlist)
        self.audio_done = True
        self.audio_start = {}  # fetch index -> media start of an audio segment
        self.duration = None
        self.done = False    # every segment is in
        self.play_pos = 0.0

    # --- HTTP ---------------------------------------------------------------------
    @property
    def buf_end(self):
        """Media buffered: what both video and audio hold (MSE's intersection)."""
        return self.video_end if self.audio_end is None else min(self.video_end, self.audio_end)

    def get(self, rel, kind, level=None, seg=None, who="main"):
        """GETs BASE + rel to the end on loader who's connection; retries until
        it has it or the player stops.  (data, seconds, fetch index)."""
        while not self.stop:
            t_req = time.time()
            if self.first_request is None:
                self.first_request = t_req
            try:
                conn = self.conns.get(who)
                if conn is None:
                    conn = self.conns[who] = http.client.HTTPConnection(self.host, self.port,
                                                                         timeout=60)
                conn.request("GET", self.path + rel)
                resp = conn.getresponse()
                if resp.status != 200:
                    resp.read()
                    raise IOError("HTTP %d for %s" % (resp.status, rel))
                parts = []
                while True:
                    if self.stop:
                        raise IOError("stopped")
                    # read(), not read1(): read1 never closes the response at
                    # its Content-Length, and the next request on the
                    # connection then fails (http.client's CannotSendRequest)
                    d = resp.read(CHUNK)
                    if not d:
                        break
                    if self.first_byte is None:
                        self.first_byte = time.time()
                    parts.append(d)
                data = b"".join(parts)
                t_done = time.time()
                self.check(rel, data)
                with self.lock:
                    self.bytes += len(data)
                    self.fetches.append([round(t_req, 3), round(t_done, 3), rel, len(data), kind,
                                         level, seg, kind in ("playlist", "init")])
                    idx = len(self.fetches) - 1
                return data, t_done - t_req, idx
            except Exception as e:  # noqa: BLE001 -- reconnect and retry
                try:
                    self.conns.pop(who).close()
                except Exception:  # noqa: BLE001
                    pass
                if self.stop:
                    break
                self.retry_pause("%s: %s" % (rel, e))
        return None, 0.0, None

    def check(self, rel, data):
        try:
            with open(os.path.join(self.a.src, rel), "rb") as f:
                want = f.read()
        except OSError:
            self.mismatch += len(data)
            return
        self.mismatch += player_common.mismatched(want, data)

    # --- the loader thread ---------------------------------------------------------
    def loader(self):
        a = self.a
        text = self.get("master.m3u8", "playlist")[0]
        if text is None:
            return
        self.levels, audio_uri = parse_master(text.decode())
        media = {}

        def playlist(uri):
            if uri not in media:
                t = self.get(uri, "playlist")[0]
                if t is None:
                    return None
                media[uri] = parse_media(t.decode())
            return media[uri]
        n = len(self.levels)
        level = {"lowest": 0, "middle": (n - 1) // 2}.get(a.start_level)
        if level is None:
            level = min(n - 1, int(a.start_level))
        pl = playlist(self.levels[level]["uri"])
        audio = playlist(audio_uri) if audio_uri else None
        if pl is None or (audio_uri and audio is None):
            return
        self.duration = sum(s[2] for s in pl["segs"])
        if audio:
            with self.lock:
                self.audio_end, self.audio_done = 0.0, False
            th = threading.Thread(target=self.audio_loader, args=(audio,), daemon=True)
            th.start()
        init_of = None
        i = 0
        while i < len(pl["segs"]) and not self.stop:
            with self.lock:
                ahead = self.video_end - self.play_pos
            if ahead >= a.buffer_s:
                time.sleep(TICK)
                continue
            if i > 0:
                est = self.est.estimate()
                want = choose_level(self.levels, est, a.safety)
                self.estimates.append([round(time.time(), 3), round(est)])
                if want != level:
                    level = want
                    pl = playlist(self.levels[level]["uri"])
                    if pl is None:
                        return
            if init_of != level and pl["init"]:
                if self.get(pl["init"], "init", level)[0] is None:
                    return
                init_of = level
            uri, start, dur = pl["segs"][i]
            data, secs, vfetch = self.get(uri, "video", level, i)
            if data is None:
                return
            self.est.sample(secs, len(data))
            end = start + dur
            with self.lock:
                self.buffered.append((start, end, level, len(data), vfetch))
                self.video_end = end
                if i == len(pl["segs"]) - 1:
                    self.done = True
            i += 1

    def audio_loader(self, audio):
        """The audio track on its own connection and buffer, as hls.js's
        audio stream controller: not a throughput sample."""
        if audio["init"] and self.get(audio["init"], "init", who="audio")[0] is None:
            return
        for j, (uri, start, dur) in enumerate(audio["segs"]):
            while not self.stop:
                with self.lock:
                    ahead = self.audio_end - self.play_pos
                if ahead < self.a.buffer_s:
                    break
                time.sleep(TICK)
            data, _, idx = self.get(uri, "audio", None, j, who="audio")
            if data is None:
                return
            with self.lock:
                self.audio_start[idx] = start
                self.audio_end = start + dur
        with self.lock:
            self.audio_done = True

    # --- the playback clock -----------------------------------------------------------
    def run(self):
        a = self.a
        t0 = a.t0
        leave_at = t0 + a.leave_s if a.leave_s else None
        th = threading.Thread(target=self.loader, daemon=True)
        th.start()
        clock = player_common.Clock()
        startup_at = None
        by_level = {}
        changes = []
        last = time.time()
        seg_i = 0
        while not STOP[0]:
            time.sleep(TICK)
            now = time.time()
            dt, last = now - last, now
            if leave_at and now >= leave_at:
                break
            if not th.is_alive() and not self.buffered and clock.state == "startup":
                break  # the loader gave up before anything played
            with self.lock:
                ahead = self.buf_end - self.play_pos
                done = self.done and self.audio_done
            if clock.state in ("startup", "stalled"):
                ok = ahead > 0 if clock.state == "startup" else (ahead >= a.rebuffer_s or
                                                                 (done and ahead > 0))
                if ok:
                    if clock.state == "startup":
                        startup_at = now
                    clock.resume(now, self.play_pos)
                continue
            if clock.state != "playing":
                continue
            with self.lock:
                p0 = self.play_pos
                p1 = min(p0 + dt, self.buf_end)
                self.play_pos = p1
                segs = list(self.buffered)
            # time played at each rendition, and the switches in play order
            p = p0
            while seg_i < len(segs) and p < p1:
                s, e, lv, _, fi = segs[seg_i]
                if not self.fetches[fi][7]:
                    self.fetches[fi][7] = True
                    if not changes or changes[-1][2] != lv:
                        changes.append([round(now, 3), s, lv])
                q = min(e, p1)
                by_level[lv] = by_level.get(lv, 0.0) + (q - p)
                p = q
                if p >= e - 1e-9:
                    seg_i += 1
            clock.advance(now, p1)
            if done and p1 >= self.buf_end - 1e-9:
                clock.end()
                if not leave_at:
                    break
            elif p1 >= self.buf_end - 1e-9:
                clock.stall(now)
        now = time.time()
        clock.finish(now)
        self.stop = True
        for c in list(self.conns.values()):
            if c is not None and c.sock is not None:
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        th.join(2)
        played_to = self.play_pos
        for idx, start in self.audio_start.items():  # audio segments the playhead reached
            self.fetches[idx][7] = start < played_to or (start == 0 and played_to > 0)
        levels = getattr(self, "levels", [])
        played = sum(by_level.values())
        mean_bw = (sum(levels[lv]["bandwidth"] * s for lv, s in by_level.items()) / played
                   if played else None)
        seg_bytes = sum(b for s, e, lv, b, fi in self.buffered if self.fetches[fi][7])
        seg_secs = sum(e - s for s, e, lv, b, fi in self.buffered if self.fetches[fi][7])
        res = self.result(self.base + "master.m3u8", startup_at, clock, played, now,
                          head={"kind": "hls"}, tail={
                              "duration_s": self.duration,
                              "levels": levels,
                              "fetches": self.fetches,
                              "played_s_by_level": {str(k): round(v, 2)
                                                    for k, v in sorted(by_level.items())},
                              "mean_bitrate_bps": round(mean_bw) if mean_bw else None,
                              "mean_media_bps": (round(seg_bytes * 8 / seg_secs) if seg_secs
                                                 else None),
                              "switches": max(0, len(changes) - 1),
                              "level_changes": changes,
                              "estimates": self.estimates,
                          })
        self.write(res)
        return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the title's folder URL")
    ap.add_argument("--src", required=True, help="the title's folder on disk")
    ap.add_argument("--buffer-s", type=float, default=30)
    ap.add_argument("--safety", type=float, default=0.8)
    ap.add_argument("--start-level", default="lowest")
    player_common.add_common_args(ap)
    a = ap.parse_args(argv)
    return player_common.main(a, a.base, "hls_player", Player)


if __name__ == "__main__":
    sys.exit(main())
