#!/usr/bin/python3
"""A scripted hostile BitTorrent peer for peerflow's misbehaving-peer tests.

Pure python3 standard library. It speaks the BEP 3 wire protocol (plus the
BEP 6 Fast and BEP 10 extension bits in its handshake) over real TCP, and
each MODE is one misbehaviour:

    wrong-data     claims every piece and answers requests with corrupt
                   blocks: --corrupt all (every block), first (block 0 of
                   each piece, the rest right) or half (even blocks)
    lying          claims every piece (--claim bitfield|have|have-all) and
                   never serves: --on-request ignore|reject|choke; or
                   lies in a malformed way: --claim have-past-end (a HAVE
                   for the piece after the last), bitfield-spare-bits (the
                   bits past the last piece set), bitfield-short,
                   bitfield-long (one byte too few / too many)
    huge-length    after the handshake and a bitfield, announces a message
                   of --length bytes (default 0xffffffff = 4 GiB) and
                   streams filler after it
    request-flood  (client) asks the --connect seeder for blocks as fast as
                   it can (--rate requests/s, 0 = unlimited), duplicates
                   included; --no-read never reads what the seeder sends
    metadata-flood (client) BEP 9: asks the --connect peerflow for the
                   info dict's first piece over and over for --duration s
                   (each ask ~30 bytes, each answer up to 16 KiB) and never
                   reads the answers
    out-of-range   (client) one connection per bad request: piece index
                   past the end, begin past the piece, a block crossing
                   the piece end, length 0, length > 128 KiB; a valid
                   request first proves each connection works
    silent         --stage tcp (accepts, never says a word), handshake
                   (handshake only) or bitfield (handshake, bitfield,
                   unchoke, then never answers a request)
    slowloris      trickles one byte per --interval seconds: --stage
                   handshake (the handshake itself), piece (a normal
                   start, then every requested PIECE a byte at a time) or,
                   dialling --connect (--conns N at once), idle (a normal
                   handshake, then keep-alives a byte at a time)
    disconnect-mid-block
                   claims every piece; on a request sends half of the
                   PIECE message, then closes (every time it is dialled)
    wrong-infohash answers a handshake with another info-hash; with
                   --connect also dials peerflow with another info-hash
    unsolicited    claims every piece and sends PIECE messages (zeros) for
                   random blocks nobody requested, as fast as it can
    squat          (client) slot squatting: --conns connections to each
                   --connect peerflow (one thread, non-blocking), each a
                   normal handshake, HAVE_NONE and INTERESTED, then only a
                   keep-alive every --interval s: never a request, whatever
                   peerflow says; --squat-reconnect S redials S seconds
                   after peerflow closes one (a persistent squatter)
    probe          not hostile: dials each --connect peerflow with the right
                   info-hash once and records whether it answers (a control
                   for the ban checks: another address is still welcome)

Usage:
    hostile_peer.py MODE --torrent T [--data FILE] [--listen PORT]
                    [--connect HOST:PORT]... [--report FILE]
                    [--reconnect HOST:PORT] [--duration S] [mode options]

It listens on --bind (default 127.0.0.1) with --listen PORT (0 = any port,
printed as "listening on port N", the line tests/lib.sh's port_of reads) so
peerflow can dial it with --peer, and/or dials --connect targets; outgoing
connections leave from --bind too, so 127.0.0.2, .3 ... give each hostile
peer its own address (peerflow bans addresses). --reconnect HOST:PORT (or
@FILE, read when needed): once peerflow closed a connection, it dials
HOST:PORT with the right info-hash every --reconnect-interval s, up to
--reconnect-count times, and records whether peerflow answers the handshake
("accepted") or hangs up first ("refused") -- how a test sees a ban from
outside.  peerflow bans an endpoint (address and port; the whole address
only once several of its endpoints lied): --reconnect-from-listen makes
those dials leave from the --listen endpoint peerflow dialled and banned,
not from a new port (which is another endpoint, welcome).

The --report FILE (JSON, rewritten after every event and at exit):
    {"mode", "info_hash", "pieces", "conns": [{"id", "dir" ("in"|"out"),
      "remote", "t_open", "t_close", "closed_by" ("remote"|"us"|null),
      "got_handshake", "requests", "blocks_sent", "bad_blocks_sent",
      "bad_pieces": [...], "bytes_sent", "bytes_recv", "notes": [...]}],
     "reconnects": [{"t", "result", "detail", "target"}] (also probe),
     "cases": [...] (out-of-range), "flood": {"requests", "rate", ...}
     (request-flood, metadata-flood), "squat": {"dials", "connect_failed",
     "handshaked", "unchoked", "closed_by_remote", "open", "peak_open",
     "samples": [[t, open], ...]} (squat: no per-connection records),
     "done": bool}
Times are seconds since start. Each event is also a line on stdout.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import time

BLOCK = 16384
PSTR = b"\x13BitTorrent protocol"
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)
HAVE_ALL, HAVE_NONE, REJECT = 0x0E, 0x0F, 0x10
EXTENDED = 20

T0 = time.monotonic()
LOCK = threading.Lock()
STOP = threading.Event()


def now():
    return round(time.monotonic() - T0, 3)


def say(*a):
    with LOCK:
        print("[hostile %7.3f]" % now(), *a, flush=True)


# --- bencode / torrent ---------------------------------------------------------

def bdecode(b, i=0, spans=None):
    c = b[i:i + 1]
    if c == b"i":
        e = b.index(b"e", i)
        return int(b[i + 1:e]), e + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i, spans)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i, spans)
            start = i
            v, i = bdecode(b, i, spans)
            out[k] = v
            if spans is not None:
                spans[k] = (start, i)
        return out, i + 1
    colon = b.index(b":", i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n], colon + 1 + n


class Torrent:
    def __init__(self, path, data_path=None):
        raw = open(path, "rb").read()
        spans = {}
        meta, _ = bdecode(raw, 0, spans)
        s, e = spans[b"info"]
        self.info_hash = hashlib.sha1(raw[s:e]).digest()
        info = meta[b"info"]
        self.piece_length = info[b"piece length"]
        self.hashes = info[b"pieces"]
        self.num_pieces = len(self.hashes) // 20
        if b"files" in info:
            self.length = sum(f[b"length"] for f in info[b"files"])
        else:
            self.length = info[b"length"]
        self.name = info[b"name"].decode("utf-8", "replace")
        self.data = None
        if data_path:
            if os.path.getsize(data_path) != self.length:
                raise SystemExit("hostile_peer: --data size differs from the torrent's length")
            self.data = open(data_path, "rb")
        self.data_lock = threading.Lock()

    def piece_size(self, i):
        if i == self.num_pieces - 1:
            return self.length - i * self.piece_length
        return self.piece_length

    def read(self, piece, begin, length):
        if self.data is None:
            return bytes(length)
        with self.data_lock:
            self.data.seek(piece * self.piece_length + begin)
            return self.data.read(length)

    def bitfield(self):
        n = self.num_pieces
        b = bytearray((n + 7) // 8)
        for i in range(n):
            b[i // 8] |= 0x80 >> (i % 8)
        return bytes(b)


# --- the report ------------------------------------------------------------------

class Report:
    def __init__(self, path, mode, tor):
        self.path = path
        self.doc = {"mode": mode, "info_hash": tor.info_hash.hex(), "pieces": tor.num_pieces,
                    "conns": [], "reconnects": [], "cases": [], "flood": {}, "done": False}

    def conn(self, direction, remote):
        with LOCK:
            c = {"id": len(self.doc["conns"]), "dir": direction, "remote": remote,
                 "t_open": now(), "t_close": None, "closed_by": None, "got_handshake": False,
                 "requests": 0, "blocks_sent": 0, "bad_blocks_sent": 0, "bad_pieces": [],
                 "bytes_sent": 0, "bytes_recv": 0, "notes": []}
            self.doc["conns"].append(c)
        return c

    def save(self):
        if not self.path:
            return
        with LOCK:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.doc, f)
            os.replace(tmp, self.path)


# --- one connection --------------------------------------------------------------

class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, rep, rec, tor, args):
        self.s = sock
        self.rep = rep
        self.rec = rec
        self.tor = tor
        self.a = args
        self.buf = b""
        self.fast = False
        self.peer_choking = True
        self.peer_interested = False
        self.s.settimeout(0.5)
        # one peer id per connection after the first: peerflow refuses a
        # second connection from a peer id it already has
        self.peer_id = args.peer_id if rec["id"] == 0 else \
            args.peer_id[:8] + bytes(random.getrandbits(8) for _ in range(12))

    def note(self, msg):
        self.rec["notes"].append("%.3f %s" % (now(), msg))
        say("conn %d (%s %s): %s" % (self.rec["id"], self.rec["dir"], self.rec["remote"], msg))
        self.rep.save()

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            raise Closed("send: %s" % e)
        self.rec["bytes_sent"] += len(data)

    def recv_some(self, timeout=0.5):
        """Appends whatever arrives within timeout to self.buf; Closed on EOF."""
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(262144)
        except socket.timeout:
            return False
        except OSError as e:
            raise Closed("recv: %s" % e)
        if not d:
            raise Closed("eof")
        self.rec["bytes_recv"] += len(d)
        self.buf += d
        return True

    def recv_exact(self, n, deadline):
        while len(self.buf) < n:
            if STOP.is_set() or time.monotonic() > deadline:
                return None
            self.recv_some(min(0.5, max(0.01, deadline - time.monotonic())))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake_bytes(self, info_hash):
        reserved = bytearray(8)
        if not self.a.no_fast:
            reserved[7] |= 0x04
        if not self.a.no_ext:
            reserved[5] |= 0x10
        return PSTR + bytes(reserved) + info_hash + self.peer_id

    def read_handshake(self, timeout=10):
        hs = self.recv_exact(68, time.monotonic() + timeout)
        if hs is None:
            raise Closed("no handshake within %ss" % timeout)
        if hs[:20] != PSTR:
            raise Closed("bad handshake")
        self.fast = bool(hs[27] & 0x04) and not self.a.no_fast
        self.rec["got_handshake"] = True
        return hs[28:48]

    def msg(self, mid, payload=b""):
        return struct.pack(">IB", 1 + len(payload), mid) + payload

    def read_msg(self, deadline):
        """One message as (id, payload), (None, b"") for a keep-alive; None on
        timeout."""
        head = self.recv_exact(4, deadline)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        if n == 0:
            return (None, b"")
        if n > 2 * 1024 * 1024:
            raise Closed("peer announced a %d-byte message" % n)
        body = self.recv_exact(n, deadline + 30)
        if body is None:
            raise Closed("message body timed out")
        return body[0], body[1:]

    def track(self, m):
        mid, pl = m
        if mid == CHOKE:
            self.peer_choking = True
        elif mid == UNCHOKE:
            self.peer_choking = False
        elif mid == INTERESTED:
            self.peer_interested = True
        elif mid == NOT_INTERESTED:
            self.peer_interested = False

    def open_as_server(self, info_hash):
        """peerflow dialled us: its handshake first, then ours."""
        theirs = self.read_handshake()
        if theirs != self.tor.info_hash:
            self.note("handshake for an unknown info-hash %s" % theirs.hex())
        self.send(self.handshake_bytes(info_hash))

    def open_as_client(self, info_hash, expect_reply=True, timeout=10):
        self.send(self.handshake_bytes(info_hash))
        if expect_reply:
            self.read_handshake(timeout)

    def claim(self, how):
        n = self.tor.num_pieces
        if how == "have-all" and self.fast:
            self.send(self.msg(HAVE_ALL))
        elif how in ("have", "have-past-end"):
            if self.fast:
                self.send(self.msg(HAVE_NONE))
            for i in range(n + (how == "have-past-end")):
                self.send(self.msg(HAVE, struct.pack(">I", i)))
        elif how == "bitfield-spare-bits":  # the bits past the last piece set
            self.send(self.msg(BITFIELD, b"\xff" * ((n + 7) // 8)))
        elif how == "bitfield-short":  # one byte short of the piece count
            self.send(self.msg(BITFIELD, self.tor.bitfield()[:-1]))
        elif how == "bitfield-long":  # one byte too many
            self.send(self.msg(BITFIELD, self.tor.bitfield() + b"\xff"))
        else:
            self.send(self.msg(BITFIELD, self.tor.bitfield()))
        if how != "bitfield":
            self.note("claimed its pieces by %s" % how)


# --- serving modes (peerflow downloads from us) ------------------------------------

def corrupt_block(args, tor, piece, begin, data):
    b = begin // BLOCK
    if args.corrupt == "all":
        bad = True
    elif args.corrupt == "first":
        bad = b == 0
    else:  # half
        bad = b % 2 == 0
    if not bad:
        return data, False
    return bytes(x ^ 0xA5 for x in data), True


def serve(c, args):
    """The serving loop shared by wrong-data, lying, slowloris piece and
    disconnect-mid-block: claim everything, unchoke, handle requests."""
    mode = args.mode
    c.claim(args.claim)
    if not (mode == "lying" and args.on_request == "choke"):
        c.send(c.msg(UNCHOKE))
    queue = []
    while not STOP.is_set():
        m = c.read_msg(time.monotonic() + 0.2)
        if m is not None:
            c.track(m)
            mid, pl = m
            if mid == REQUEST and len(pl) == 12:
                queue.append(struct.unpack(">III", pl))
                c.rec["requests"] += 1
            elif mid == CANCEL and len(pl) == 12:
                r = struct.unpack(">III", pl)
                if r in queue:
                    queue.remove(r)
            elif mid == INTERESTED and mode == "lying" and args.on_request == "choke":
                c.send(c.msg(UNCHOKE))
        while queue:
            piece, begin, length = queue.pop(0)
            if mode == "lying":
                if args.on_request == "reject" and c.fast:
                    c.send(c.msg(REJECT, struct.pack(">III", piece, begin, length)))
                elif args.on_request == "choke":
                    # unchoke, then choke again at the first request: never serves
                    c.send(c.msg(CHOKE))
                    c.send(c.msg(UNCHOKE))
                continue
            if piece >= c.tor.num_pieces or begin + length > c.tor.piece_size(piece):
                c.note("out-of-range request %d/%d/%d" % (piece, begin, length))
                continue
            data = c.tor.read(piece, begin, length)
            bad = False
            if mode == "wrong-data":
                data, bad = corrupt_block(args, c.tor, piece, begin, data)
            frame = struct.pack(">IBII", 9 + length, PIECE, piece, begin) + data
            if mode == "disconnect-mid-block":
                c.send(frame[:len(frame) // 2])
                c.note("sent half of PIECE %d/%d (%d of %d bytes), closing"
                       % (piece, begin, len(frame) // 2, len(frame)))
                raise Closed("by us mid-block")
            if mode == "slowloris":
                c.note("trickling PIECE %d/%d one byte per %ss" % (piece, begin, args.interval))
                for k in range(len(frame)):
                    if STOP.is_set():
                        return
                    c.send(frame[k:k + 1])
                    drain(c, args.interval)
                continue
            c.send(frame)
            c.rec["blocks_sent"] += 1
            if bad:
                c.rec["bad_blocks_sent"] += 1
                if piece not in c.rec["bad_pieces"]:
                    c.rec["bad_pieces"].append(piece)
            if args.block_delay:
                time.sleep(args.block_delay)
        if mode in ("wrong-data",) and c.rec["blocks_sent"] and c.rec["blocks_sent"] % 64 == 0:
            c.rep.save()


def drain(c, seconds):
    """Waits seconds while reading (and discarding) what the peer sends."""
    end = time.monotonic() + seconds
    while not STOP.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        c.recv_some(min(left, 0.5))
        c.buf = b""


def handle_incoming(c, args):
    mode = args.mode
    tor = c.tor
    if mode == "silent" and args.stage == "tcp":
        c.note("accepted; staying silent")
        drain(c, 1e9)
        return
    if mode == "slowloris" and args.stage == "handshake":
        hs = c.handshake_bytes(tor.info_hash)
        c.note("trickling the handshake one byte per %ss" % args.interval)
        for k in range(len(hs)):
            c.send(hs[k:k + 1])
            drain(c, args.interval)
        c.note("handshake fully trickled")
        drain(c, 1e9)
        return
    if mode == "wrong-infohash":
        other = hashlib.sha1(b"not this torrent" + tor.info_hash).digest()
        c.open_as_server(other)
        c.note("answered with info-hash %s" % other.hex())
        drain(c, 1e9)
        return
    c.open_as_server(tor.info_hash)
    c.note("handshake done")
    if mode == "silent":
        if args.stage == "bitfield":
            c.claim("bitfield")
            c.send(c.msg(UNCHOKE))
            c.note("claimed every piece and unchoked; now silent")
        else:
            c.note("silent after the handshake")
        t_req = None
        while not STOP.is_set():
            m = c.read_msg(time.monotonic() + 0.5)
            if m and m[0] == REQUEST:
                c.rec["requests"] += 1
                if t_req is None:
                    t_req = now()
                    c.note("first request (never answered)")
            if m and m[0] == CANCEL:
                c.rec.setdefault("cancels", 0)
                c.rec["cancels"] = c.rec.get("cancels", 0) + 1
        return
    if mode == "unsolicited":
        c.claim("bitfield")
        c.send(c.msg(UNCHOKE))
        c.note("sending PIECE messages nobody asked for")
        c.s.setblocking(True)
        c.s.settimeout(2)
        n = 0
        junk = bytes(BLOCK)
        while not STOP.is_set():
            piece = random.randrange(tor.num_pieces)
            begin = random.randrange(max(1, tor.piece_size(piece) // BLOCK)) * BLOCK
            length = min(BLOCK, tor.piece_size(piece) - begin)
            try:
                c.s.sendall(struct.pack(">IBII", 9 + length, PIECE, piece, begin) + junk[:length])
            except socket.timeout:
                continue
            except OSError as e:
                raise Closed("send: %s" % e)
            n += 1
            c.rec["bytes_sent"] += 13 + length
            c.rec["blocks_sent"] = n
            if n % 1000 == 0:
                c.rep.save()
        return
    if mode == "huge-length":
        c.claim("bitfield")
        c.send(struct.pack(">I", args.length))
        c.note("announced a message of %d bytes" % args.length)
        filler = bytes(65536)
        sent = 0
        while not STOP.is_set() and sent < args.filler:
            c.send(filler)
            sent += len(filler)
            c.rec["filler_sent"] = sent
        c.note("sent %d filler bytes; waiting" % sent)
        drain(c, 1e9)
        return
    serve(c, args)


def run_conn(sock, remote, direction, rep, tor, args, fn):
    rec = rep.conn(direction, remote)
    rep.save()
    c = Conn(sock, rep, rec, tor, args)
    say("conn %d: %s %s" % (rec["id"], "accepted from" if direction == "in" else "connected to", remote))
    try:
        fn(c, args)
        rec["closed_by"] = rec["closed_by"] or "us"
    except Closed as e:
        why = str(e)
        rec["closed_by"] = "us" if why.startswith("by us") else "remote"
        rec["close_reason"] = why
    except Exception as e:  # a bug here must not look like peerflow's doing
        rec["closed_by"] = "us"
        rec["close_reason"] = "hostile_peer error: %r" % e
    finally:
        rec["t_close"] = now()
        try:
            sock.close()
        except OSError:
            pass
        say("conn %d closed by %s after %.3fs (%s); sent %d B, received %d B"
            % (rec["id"], rec["closed_by"], rec["t_close"] - rec["t_open"],
               rec.get("close_reason", ""), rec["bytes_sent"], rec["bytes_recv"]))
        rep.save()
        if rec["closed_by"] == "remote" and args.reconnect:
            RECONNECT.set()


# --- client modes (we dial a peerflow) -------------------------------------------

SOURCE = None  # --bind: our address for outgoing connections too


LISTEN_PORT = 0  # our listening port, once bound (--reconnect-from-listen dials from it)


def dial(hostport, timeout=5, from_listen=False):
    host, _, port = hostport.rpartition(":")
    if from_listen and SOURCE and LISTEN_PORT and ":" not in host:
        # Leave from our listen endpoint itself (SO_REUSEPORT on both
        # sockets): peerflow bans endpoints, address and port.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((SOURCE, LISTEN_PORT))
        s.settimeout(timeout)
        try:
            s.connect((host.strip("[]"), int(port)))
        except OSError:
            s.close()
            raise
        return s
    src = (SOURCE, 0) if SOURCE and ":" not in host else None
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout,
                                    source_address=src)


def wait_unchoke(c, timeout):
    deadline = time.monotonic() + timeout
    while c.peer_choking:
        m = c.read_msg(deadline)
        if m is None:
            return False
        c.track(m)
    return True


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)


def metadata_flood(c, args):
    """BEP 9: asks for the info dict's first piece over and over (each ask
    ~30 bytes, each answer up to 16 KiB), never reading the answers."""
    tor = c.tor
    c.open_as_client(tor.info_hash)
    c.send(c.msg(EXTENDED, b"\0" + bencode({b"m": {b"ut_metadata": 3}})))
    their_id = None
    deadline = time.monotonic() + 10
    while their_id is None:
        m = c.read_msg(deadline)
        if m is None:
            raise Closed("no extension handshake from peerflow")
        if m[0] == EXTENDED and m[1][:1] == b"\0":
            doc, _ = bdecode(m[1][1:])
            their_id = doc.get(b"m", {}).get(b"ut_metadata")
            if not their_id:
                c.note("peerflow offers no ut_metadata")
                return
    c.note("ut_metadata is id %d; flooding requests, reading nothing" % their_id)
    req = c.msg(EXTENDED, bytes([their_id]) + bencode({b"msg_type": 0, b"piece": 0}))
    fl = c.rep.doc["flood"]
    fl.update({"requests": 0, "start": now()})
    c.s.setblocking(True)
    c.s.settimeout(2)
    end = time.monotonic() + args.duration
    batch = req * args.batch
    k = 0
    last_save = time.monotonic()
    while time.monotonic() < end and not STOP.is_set():
        try:
            c.s.sendall(batch)
        except socket.timeout:
            fl["send_blocked"] = fl.get("send_blocked", 0) + 1
            continue
        except OSError as e:
            raise Closed("send: %s" % e)
        k += args.batch
        fl["requests"] = k
        if time.monotonic() - last_save > 1:
            fl["rate"] = round(k / max(0.001, now() - fl["start"]))
            c.rep.save()
            last_save = time.monotonic()
    fl["end"] = now()
    fl["rate"] = round(k / max(0.001, fl["end"] - fl["start"]))
    c.note("sent %d metadata requests in %.1fs" % (k, fl["end"] - fl["start"]))


def request_flood(c, args):
    tor = c.tor
    c.open_as_client(tor.info_hash)
    c.note("handshake done; interested")
    c.send(c.msg(INTERESTED))
    if not wait_unchoke(c, 15):
        c.note("not unchoked within 15 s; flooding anyway")
    else:
        c.note("unchoked; flooding")
    fl = c.rep.doc["flood"]
    fl.update({"requests": 0, "start": now()})
    reqs = []
    for p in range(tor.num_pieces):
        for b in range(0, tor.piece_size(p), BLOCK):
            reqs.append(struct.pack(">IBIII", 13, REQUEST, p, b, min(BLOCK, tor.piece_size(p) - b)))
    batch = args.batch
    end = time.monotonic() + args.duration
    c.s.setblocking(True)
    c.s.settimeout(2)
    k = 0
    last_save = time.monotonic()
    while time.monotonic() < end and not STOP.is_set():
        chunk = []
        for _ in range(batch):
            # mostly the first few pieces again and again (duplicates), some spread
            if random.random() < 0.7:
                chunk.append(reqs[k % min(len(reqs), 64)])
            else:
                chunk.append(random.choice(reqs))
            k += 1
        try:
            c.s.sendall(b"".join(chunk))
        except socket.timeout:
            fl["send_blocked"] = fl.get("send_blocked", 0) + 1
            if not args.no_read:
                pass
        except OSError as e:
            raise Closed("send: %s" % e)
        fl["requests"] = k
        c.rec["bytes_sent"] += 17 * batch
        if not args.no_read:
            c.s.setblocking(False)
            try:
                for _ in range(16):  # at most 16 MiB a round: keep flooding
                    d = c.s.recv(1 << 20)
                    if not d:
                        raise Closed("eof")
                    c.rec["bytes_recv"] += len(d)
            except (BlockingIOError, socket.timeout):
                pass
            except OSError as e:
                raise Closed("recv: %s" % e)
            c.s.setblocking(True)
            c.s.settimeout(2)
        if args.rate:
            time.sleep(batch / args.rate)
        if time.monotonic() - last_save > 1:
            fl["rate"] = round(k / max(0.001, now() - fl["start"]))
            c.rep.save()
            last_save = time.monotonic()
    fl["end"] = now()
    fl["rate"] = round(k / max(0.001, fl["end"] - fl["start"]))
    c.note("flooded %d requests in %.1fs (%d/s)" % (k, fl["end"] - fl["start"], fl["rate"]))


OOR_CASES = [
    ("piece index = num_pieces", lambda t: (t.num_pieces, 0, BLOCK)),
    ("piece index 0xffffffff", lambda t: (0xFFFFFFFF, 0, BLOCK)),
    ("begin = piece length", lambda t: (0, t.piece_size(0), BLOCK)),
    ("block crossing the piece end", lambda t: (0, t.piece_size(0) - BLOCK // 2, BLOCK)),
    ("past the file end (last piece)",
     lambda t: (t.num_pieces - 1, t.piece_size(t.num_pieces - 1), BLOCK)),
    ("length 0", lambda t: (0, 0, 0)),
    ("length 128 KiB + 1", lambda t: (0, 0, 128 * 1024 + 1)),
    ("length 0xffffffff", lambda t: (0, 0, 0xFFFFFFFF)),
    ("begin 0xffffffff", lambda t: (0, 0xFFFFFFFF, BLOCK)),
]


def out_of_range_case(c, args, name, req):
    """A valid request first (the connection works), then the bad one;
    records whether peerflow closed the connection and whether it sent
    anything for the bad request."""
    tor = c.tor
    case = {"case": name, "request": list(req), "valid_served": False, "closed": False,
            "t_close": None, "bad_served": False}
    c.rep.doc["cases"].append(case)
    c.open_as_client(tor.info_hash)
    c.send(c.msg(INTERESTED))
    if not wait_unchoke(c, 10):
        case["note"] = "never unchoked"
        c.note("%s: never unchoked" % name)
        return
    c.send(struct.pack(">IBIII", 13, REQUEST, 0, 0, BLOCK))
    deadline = time.monotonic() + 10
    while not case["valid_served"]:
        m = c.read_msg(deadline)
        if m is None:
            break
        if m[0] == PIECE and m[1][:8] == struct.pack(">II", 0, 0):
            case["valid_served"] = True
    t_bad = time.monotonic()
    c.send(struct.pack(">IBIII", 13, REQUEST, *req))
    try:
        deadline = time.monotonic() + args.case_timeout
        while True:
            m = c.read_msg(deadline)
            if m is None:
                break
            if m[0] == PIECE and m[1][:8] == struct.pack(">II", req[0], req[1]):
                case["bad_served"] = True
    except Closed:
        case["closed"] = True
        case["t_close"] = round(time.monotonic() - t_bad, 3)
        c.note("%s: closed by peerflow %.3fs after the request" % (name, case["t_close"]))
        raise
    c.note("%s: connection still open after %ss" % (name, args.case_timeout))


def squat(args, rep, tor):
    """Many connections that take a slot each and never use it: handshake,
    HAVE_NONE (Fast) and INTERESTED, then keep-alives.  One thread with a
    selector, so that hundreds of connections cost little."""
    sel = selectors.DefaultSelector()
    st = {"dials": 0, "connect_failed": 0, "handshaked": 0, "unchoked": 0, "closed_by_remote": 0,
          "open": 0, "peak_open": 0, "samples": []}
    rep.doc["squat"] = st
    redial = []  # (when, target)

    def hello():
        reserved = bytearray(8)
        reserved[7] |= 0x04
        reserved[5] |= 0x10
        pid = b"-SQ0001-" + bytes(random.getrandbits(8) for _ in range(12))
        return (PSTR + bytes(reserved) + tor.info_hash + pid + struct.pack(">IB", 1, HAVE_NONE)
                + struct.pack(">IB", 1, INTERESTED))

    def dial_one(target):
        host, _, port = target.rpartition(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            if SOURCE:
                s.bind((SOURCE, 0))
            rc = s.connect_ex((host.strip("[]"), int(port)))
        except OSError:
            rc = -1
        st["dials"] += 1
        if rc not in (0, errno.EINPROGRESS):
            st["connect_failed"] += 1
            s.close()
            if args.squat_reconnect:
                redial.append((time.monotonic() + args.squat_reconnect, target))
            return
        conn = {"target": target, "connected": False, "buf": b"", "hs": False, "next_ka": 0.0,
                "unchoked": False}
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def drop(s, conn, by_remote):
        sel.unregister(s)
        s.close()
        if conn["connected"]:
            st["open"] -= 1
            if by_remote:
                st["closed_by_remote"] += 1
        else:
            st["connect_failed"] += 1
        if args.squat_reconnect and not STOP.is_set():
            redial.append((time.monotonic() + args.squat_reconnect, conn["target"]))

    for target in args.connect:
        for _ in range(args.conns):
            dial_one(target)
    say("squat: %d dials to %s" % (st["dials"], ", ".join(args.connect)))
    next_sample = 0.0
    while not STOP.is_set():
        for key, ev in sel.select(timeout=0.2):
            s, conn = key.fileobj, key.data
            if not conn["connected"]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    drop(s, conn, False)
                    continue
                conn["connected"] = True
                st["open"] += 1
                st["peak_open"] = max(st["peak_open"], st["open"])
                try:
                    s.sendall(hello())
                except OSError:
                    drop(s, conn, True)
                    continue
                conn["next_ka"] = time.monotonic() + args.interval
                sel.modify(s, selectors.EVENT_READ, conn)
                continue
            try:
                d = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                drop(s, conn, True)
                continue
            b = conn["buf"] + d
            if not conn["hs"]:
                if len(b) < 68:
                    conn["buf"] = b
                    continue
                conn["hs"] = True
                st["handshaked"] += 1
                b = b[68:]
            while len(b) >= 4:
                (n,) = struct.unpack(">I", b[:4])
                if len(b) < 4 + n:
                    break
                if n and b[4] == UNCHOKE and not conn["unchoked"]:
                    conn["unchoked"] = True
                    st["unchoked"] += 1
                b = b[4 + n:]
            conn["buf"] = b[-(1 << 20):]
        t = time.monotonic()
        for key in list(sel.get_map().values()):
            conn = key.data
            if conn["connected"] and t >= conn["next_ka"]:
                conn["next_ka"] = t + args.interval
                try:
                    key.fileobj.send(b"\0\0\0\0")
                except OSError:
                    pass
        for item in [r for r in redial if r[0] <= t]:
            redial.remove(item)
            dial_one(item[1])
        if t >= next_sample:
            next_sample = t + 1.0
            st["samples"].append([now(), st["open"]])
            rep.save()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    rep.save()


def run_client(args, rep, tor):
    if args.mode == "squat":
        squat(args, rep, tor)
    elif args.mode in ("request-flood", "metadata-flood"):
        for hp in args.connect:
            sock = dial(hp)
            run_conn(sock, hp, "out", rep, tor, args,
                     request_flood if args.mode == "request-flood" else metadata_flood)
    elif args.mode == "out-of-range":
        for name, mk in OOR_CASES:
            req = mk(tor)
            sock = dial(args.connect[0])
            run_conn(sock, args.connect[0], "out", rep, tor, args,
                     lambda c, a, name=name, req=req: out_of_range_case(c, a, name, req))
    elif args.mode == "probe":
        for hp in args.connect:
            probe(args, rep, tor, hp)
    elif args.mode == "wrong-infohash":
        other = hashlib.sha1(b"not this torrent" + tor.info_hash).digest()
        for hp in args.connect:
            sock = dial(hp)

            def go(c, a, other=other):
                c.open_as_client(other, expect_reply=False)
                c.note("sent a handshake for info-hash %s" % other.hex())
                got = c.recv_exact(68, time.monotonic() + a.case_timeout)
                if got is not None:
                    c.rec["notes"].append("peerflow answered the handshake")
                    c.note("peerflow answered a handshake for an unknown info-hash")
                    drain(c, a.case_timeout)
            run_conn(sock, hp, "out", rep, tor, args, go)
    else:
        def go(c, a):
            c.open_as_client(tor.info_hash)
            if a.mode == "slowloris" and a.stage == "idle":
                c.note("handshake done; now one keep-alive byte per %ss" % a.interval)
                while not STOP.is_set():
                    c.send(b"\0")
                    drain(c, a.interval)
            elif a.mode == "silent":
                drain(c, 1e9)
            else:
                serve(c, a)

        def one(hp):
            try:
                sock = dial(hp)
            except OSError as e:
                rep.doc.setdefault("dial_errors", []).append("%s: %s" % (hp, e))
                return
            run_conn(sock, hp, "out", rep, tor, args, go)
        ths = [threading.Thread(target=one, args=(hp,), daemon=True)
               for hp in args.connect for _ in range(args.conns)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()


RECONNECT = threading.Event()


def reconnector(args, rep, tor):
    """After peerflow dropped us: dial it with the right info-hash and see
    whether it answers the handshake."""
    while not STOP.is_set():
        if not RECONNECT.wait(0.2):
            continue
        time.sleep(args.reconnect_delay)
        target = args.reconnect
        if target.startswith("@"):  # @FILE: HOST:PORT read from FILE now
            try:
                target = open(target[1:]).read().strip()
            except OSError:
                target = ""
        while not STOP.is_set() and target:
            probe(args, rep, tor, target)
            if len(rep.doc["reconnects"]) >= args.reconnect_count:
                return
            time.sleep(args.reconnect_interval)


def probe(args, rep, tor, target):
    """Dials target with the right info-hash; records in "reconnects"
    whether it answered the handshake ("accepted"), hung up first
    ("refused"), said nothing for 5 s ("silent") or could not be reached."""
    entry = {"t": now(), "result": None, "detail": "", "target": target}
    try:
        s = dial(target, from_listen=args.reconnect_from_listen)
        entry["from"] = "%s:%d" % s.getsockname()[:2]
        s.settimeout(5)
        s.sendall(PSTR + bytes(8) + tor.info_hash + args.peer_id)
        got = b""
        try:
            while len(got) < 68:
                d = s.recv(68 - len(got))
                if not d:
                    break
                got += d
        except socket.timeout:
            entry["detail"] = "no reply in 5 s"
        except ConnectionResetError as e:
            # Closed with our handshake unread: a reset is a refusal too.
            entry["reset"] = str(e)
        except OSError as e:
            entry["detail"] = str(e)
        s.close()
        if len(got) == 68 and got[28:48] == tor.info_hash:
            entry["result"] = "accepted"
        elif entry["detail"]:
            entry["result"] = "silent"
        else:
            entry["result"] = "refused"
            entry["detail"] = "closed after %d bytes" % len(got)
    except OSError as e:
        entry["result"] = "connect-failed"
        entry["detail"] = str(e)
    rep.doc["reconnects"].append(entry)
    say("handshake probe to %s: %s %s" % (target, entry["result"], entry["detail"]))
    rep.save()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["wrong-data", "lying", "huge-length", "request-flood",
                                     "out-of-range", "silent", "slowloris",
                                     "disconnect-mid-block", "wrong-infohash", "probe",
                                     "unsolicited", "metadata-flood", "squat"])
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--data", help="the torrent's (single) file, for blocks served right")
    ap.add_argument("--listen", type=int, default=None, help="listen port (0 = any)")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--connect", action="append", default=[], help="HOST:PORT to dial")
    ap.add_argument("--report", help="JSON report file")
    ap.add_argument("--duration", type=float, default=300, help="exit after S seconds")
    ap.add_argument("--corrupt", choices=["all", "first", "half"], default="all")
    ap.add_argument("--claim", default="bitfield",
                    choices=["bitfield", "have", "have-all", "have-past-end",
                             "bitfield-spare-bits", "bitfield-short", "bitfield-long"])
    ap.add_argument("--on-request", choices=["ignore", "reject", "choke"], default="ignore")
    ap.add_argument("--length", type=lambda s: int(s, 0), default=0xFFFFFFFF)
    ap.add_argument("--filler", type=int, default=64 << 20, help="bytes sent after the length")
    ap.add_argument("--rate", type=float, default=0, help="request-flood: requests/s (0 = max)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--no-read", action="store_true", help="request-flood: never read")
    ap.add_argument("--stage", default="bitfield")
    ap.add_argument("--interval", type=float, default=1.0, help="slowloris: s per byte")
    ap.add_argument("--block-delay", type=float, default=0, help="s to sleep after each block")
    ap.add_argument("--case-timeout", type=float, default=5)
    ap.add_argument("--conns", type=int, default=1,
                    help="client modes: parallel connections per --connect target")
    ap.add_argument("--squat-reconnect", type=float, default=0,
                    help="squat: redial this many seconds after a connection is closed (0: never)")
    ap.add_argument("--reconnect", help="HOST:PORT (or @FILE holding it) to redial after "
                    "peerflow closes us")
    ap.add_argument("--reconnect-delay", type=float, default=0.5)
    ap.add_argument("--reconnect-interval", type=float, default=2)
    ap.add_argument("--reconnect-count", type=int, default=3)
    ap.add_argument("--reconnect-from-listen", action="store_true",
                    help="reconnect (and probe) from our --listen address and port, the "
                    "endpoint peerflow dialled, rather than from a new port")
    ap.add_argument("--no-fast", action="store_true")
    ap.add_argument("--no-ext", action="store_true")
    args = ap.parse_args()
    args.peer_id = b"-HO0001-" + bytes(random.getrandbits(8) for _ in range(12))
    global SOURCE
    SOURCE = args.bind

    tor = Torrent(args.torrent, args.data)
    rep = Report(args.report, args.mode, tor)
    rep.save()
    signal.signal(signal.SIGTERM, lambda *a: STOP.set())
    signal.signal(signal.SIGINT, lambda *a: STOP.set())
    threads = []
    if args.listen is not None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if args.reconnect_from_listen:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        ls.bind((args.bind, args.listen))
        global LISTEN_PORT
        LISTEN_PORT = ls.getsockname()[1]
        ls.listen(64)
        ls.settimeout(0.2)
        say("listening on port %d (%s, info-hash %s, %d pieces)"
            % (ls.getsockname()[1], args.mode, tor.info_hash.hex(), tor.num_pieces))
        print("listening on port %d" % ls.getsockname()[1], flush=True)

        def acceptor():
            while not STOP.is_set():
                try:
                    s, addr = ls.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                th = threading.Thread(target=run_conn, daemon=True,
                                      args=(s, "%s:%d" % addr, "in", rep, tor, args,
                                            handle_incoming))
                th.start()
        th = threading.Thread(target=acceptor, daemon=True)
        th.start()
        threads.append(th)
    if args.reconnect:
        th = threading.Thread(target=reconnector, args=(args, rep, tor), daemon=True)
        th.start()
    if args.connect:
        th = threading.Thread(target=lambda: run_client(args, rep, tor), daemon=True)
        th.start()
        threads.append(th)
    end = time.monotonic() + args.duration
    while not STOP.is_set() and time.monotonic() < end:
        if args.listen is None and not any(t.is_alive() for t in threads):
            break
        time.sleep(0.1)
    STOP.set()
    rep.doc["done"] = True
    rep.save()
    say("done")


if __name__ == "__main__":
    main()
