#!/usr/bin/python3
"""The lab's player emulator: reads a stream over HTTP the way a player
with a buffer does, so stalls are real.

  player.py --url URL --src FILE --bitrate BYTES_PER_S --out RESULT.json
            [--startup-s 4] [--rebuffer-s 2] [--max-buffer-s 30]
            [--leave-s S] [--actions JSON] [--t0 EPOCH]

* One HTTP connection reads ahead from the play position; reading pauses
  (TCP back-pressure) while max_buffer_s of media are buffered.
* Playback starts when startup_s of media are buffered (or the file's end
  is), and consumes bitrate bytes per second while playing.  A stall starts
  when playback reaches the end of the buffer before the end of the file;
  it ends once rebuffer_s are buffered again.
* Actions (seconds after arrival): {"t":30,"op":"seek","to_s":95} drops the
  buffer and reads from media second 95 with a Range request (the wait is a
  seek wait, not a stall); {"t":50,"op":"pause","dur_s":10}.
* --leave-s: the viewer leaves that long after arrival (default: at the
  end of the file).
* Every byte read is compared with --src at its offset (byte-exact check).

Result JSON: startup_s (first request -> playback starts), startup_from_
arrival_s (t0 -> playback starts), stalls, stall_s, seeks, seek_wait_s,
bytes, mismatched_bytes, errors, and "play": the intervals spent playing
[[wall_start, wall_end, media_start_s, media_end_s], ...] (wall = epoch).
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

import player_common
from player_common import CHUNK, STOP, TICK


class Player(player_common.PlayerBase):
    def __init__(self, a):
        super().__init__(a)
        self.url = urllib.parse.urlsplit(a.url)
        self.size = os.path.getsize(a.src)
        self.src = os.open(a.src, os.O_RDONLY)
        self.rate = float(a.bitrate)
        self.lock = threading.Lock()
        self.gen = 0               # bumped by a seek
        self.read_pos = 0          # next byte the reader fetches
        self.play_pos = 0.0        # bytes played (float: media clock)
        self.conn = None
        self.reads = []            # [wall_from, wall_to, byte_from, byte_to]
        self.seg = None            # (wall_from, byte_from) of the reads in progress

    # --- the reader thread ---------------------------------------------------
    def reader(self):
        while not self.stop:
            with self.lock:
                gen, pos = self.gen, self.read_pos
            if pos >= self.size:
                time.sleep(TICK)
                continue
            seg_t, seg_pos = time.time(), pos
            with self.lock:
                if self.stop:
                    break
                self.seg = (seg_t, seg_pos)
            try:
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port or 80,
                                                  timeout=120)
                self.conn = conn
                path = self.url.path + ("?" + self.url.query if self.url.query else "")
                if self.first_request is None:
                    self.first_request = time.time()
                conn.request("GET", path, headers={"Range": "bytes=%d-" % pos})
                resp = conn.getresponse()
                if resp.status not in (200, 206):
                    raise IOError("HTTP %d" % resp.status)
                if resp.status == 200 and pos:
                    raise IOError("HTTP 200 to a Range request")
                while not self.stop:
                    with self.lock:
                        if gen != self.gen:
                            break
                        ahead = self.read_pos - self.play_pos
                    if ahead >= self.a.max_buffer_s * self.rate:
                        time.sleep(TICK)
                        continue
                    data = resp.read1(CHUNK)
                    if not data:
                        break
                    if self.first_byte is None:
                        self.first_byte = time.time()
                    self.mismatch += player_common.mismatched(
                        os.pread(self.src, len(data), pos), data)
                    now = time.time()
                    with self.lock:
                        if gen != self.gen or self.stop:
                            break
                        pos += len(data)
                        if now - seg_t >= 0.5:
                            self.reads.append([seg_t, now, seg_pos, pos])
                            seg_t, seg_pos = now, pos
                        self.seg = (seg_t, seg_pos)
                        self.read_pos = pos
                        self.bytes += len(data)
                self.end_segment(seg_t, seg_pos, pos)
                conn.close()
            except Exception as e:  # noqa: BLE001 -- a broken read is retried
                self.end_segment(seg_t, seg_pos, pos)
                with self.lock:
                    stale = gen != self.gen
                if not self.stop and not stale:
                    self.retry_pause(e)
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass

    def end_segment(self, seg_t, seg_pos, pos):
        """Records the reads since seg_t, unless stop() already has."""
        with self.lock:
            if pos > seg_pos and self.seg is not None:
                self.reads.append([seg_t, time.time(), seg_pos, pos])
            self.seg = None

    def stop_reading(self):
        """Stops the reader; the reads in progress count too (they are
        demand, and the lab's bound lost up to 2 MB per viewer without)."""
        with self.lock:
            self.stop = True
            if self.seg is not None and self.read_pos > self.seg[1]:
                self.reads.append([self.seg[0], time.time(), self.seg[1], self.read_pos])
            self.seg = None

    def seek(self, to_byte):
        with self.lock:
            self.gen += 1
            self.read_pos = to_byte
            self.play_pos = float(to_byte)
        c = self.conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(2)
            except OSError:
                pass

    # --- the playback clock -------------------------------------------------------
    def run(self):
        a = self.a
        t0 = a.t0
        actions = sorted(json.loads(a.actions) if a.actions else [], key=lambda x: x["t"])
        leave_at = t0 + a.leave_s if a.leave_s else None
        th = threading.Thread(target=self.reader, daemon=True)
        th.start()
        clock = player_common.Clock()  # its states, and here seeking and paused
        startup_at = None
        seeks = 0
        seek_wait = 0.0
        pause_until = None
        last = time.time()
        while not STOP[0]:
            time.sleep(TICK)
            now = time.time()
            dt = now - last
            last = now
            if leave_at and now >= leave_at:
                break
            while actions and now >= t0 + actions[0]["t"]:
                act = actions.pop(0)
                if clock.state == "ended":
                    continue
                clock.cut()
                if act["op"] == "seek":
                    to = min(int(act["to_s"] * self.rate), self.size - 1)
                    self.seek(to)
                    seeks += 1
                    if clock.state == "stalled":
                        clock.stall_s += now - clock.wait_since
                    if clock.state != "startup":
                        clock.state = "seeking"
                        clock.wait_since = now
                elif act["op"] == "pause" and clock.state == "playing":
                    clock.state = "paused"
                    pause_until = now + act["dur_s"]
            with self.lock:
                ahead = self.read_pos - self.play_pos
                at_end = self.read_pos >= self.size
            if clock.state in ("startup", "stalled", "seeking"):
                need = (a.startup_s if clock.state == "startup" else a.rebuffer_s) * self.rate
                if ahead >= need or at_end:
                    if clock.state == "startup":
                        startup_at = now
                    elif clock.state == "seeking":
                        seek_wait += now - clock.wait_since
                    clock.resume(now, self.play_pos / self.rate)
                continue
            if clock.state == "paused":
                if now >= pause_until:
                    clock.resume(now, self.play_pos / self.rate)
                continue
            if clock.state != "playing":
                continue
            with self.lock:
                self.play_pos = min(self.play_pos + dt * self.rate, float(self.read_pos))
                pp, rp = self.play_pos, self.read_pos
            clock.advance(now, pp / self.rate)
            if pp >= self.size:
                clock.end()
                if not leave_at:
                    break
            elif pp >= rp:
                clock.stall(now)
        now = time.time()
        clock.finish(now)
        self.stop_reading()
        played = sum(p[3] - p[2] for p in clock.play)
        self.write(self.result(a.url, startup_at, clock, played, now, seeks=seeks,
                               seek_wait_s=seek_wait, reads=self.reads))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--bitrate", type=float, required=True, help="bytes per second")
    ap.add_argument("--startup-s", type=float, default=4)
    ap.add_argument("--max-buffer-s", type=float, default=30)
    ap.add_argument("--actions")
    player_common.add_common_args(ap)
    a = ap.parse_args()
    return player_common.main(a, a.url, "player", Player)


if __name__ == "__main__":
    sys.exit(main())
