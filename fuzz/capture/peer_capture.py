#!/usr/bin/python3
"""Captures what a real BitTorrent client sends on the peer wire, for the
fuzz corpora (fuzz/corpus/wire, fuzz/corpus/session).  See docs/FUZZING.md.

A scripted peer listens on 127.0.0.1; the client under test (libtorrent
through python3-libtorrent, or WebTorrent through node) is told to connect
to it, and every byte the client sends is saved, starting with its
handshake -- the framing fuzz_wire and fuzz_session expect.

  peer_capture.py --client lt|wt --role leech|seed --torrent T --data DIR
                  [--magnet] [--meta] [--pex] [--time S] --out FILE

--role is the scripted peer's role: `leech` (the client seeds: we send
interested and request every block, so the capture holds the client's
bitfield, unchoke and PIECE messages), `seed` (the client downloads: we send
have_all and unchoke and serve blocks and the info dict, so the capture
holds its interested, REQUEST and ut_metadata messages).  --magnet starts
the client from a magnet link (no metadata); --meta makes the scripted
leecher ask for the info dict over ut_metadata first; --pex opens a second
connection from another port and waits (default 70 s) for the client's
ut_pex message about it.  The scripted peer uses peerflow's extension ids
(ut_metadata 1, ut_pex 2), so the client's extended messages carry the ids
peerflow would see.
"""
import argparse
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

UT_METADATA, UT_PEX = 1, 2
BLOCK = 16384


def bdecode(b, i=0):
    c = b[i:i + 1]
    if c == b'i':
        j = b.index(b'e', i)
        return int(b[i + 1:j]), j + 1
    if c == b'l':
        i, out = i + 1, []
        while b[i:i + 1] != b'e':
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        i, out = i + 1, {}
        while b[i:i + 1] != b'e':
            k, i = bdecode(b, i)
            out[k], i = bdecode(b, i)
        return out, i + 1
    j = b.index(b':', i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, str):
        return bencode(v.encode())
    if isinstance(v, list):
        return b'l' + b''.join(bencode(x) for x in v) + b'e'
    return b'd' + b''.join(bencode(k if isinstance(k, bytes) else k.encode()) + bencode(v[k])
                           for k in sorted(v, key=lambda k: k if isinstance(k, bytes) else k.encode())) + b'e'


def msg(mid, payload=b''):
    return (len(payload) + 1).to_bytes(4, 'big') + bytes([mid]) + payload


class Torrent:
    def __init__(self, path, data_dir):
        raw = open(path, 'rb').read()
        top, _ = bdecode(raw)
        info = top[b'info']
        # The info dict's own bytes, for the info-hash and ut_metadata.
        start = raw.index(b'4:infod') + 6
        _, end = bdecode(raw, start)
        self.info_raw = raw[start:end]
        self.info_hash = hashlib.sha1(self.info_raw).digest()
        self.piece_len = info[b'piece length']
        self.length = info[b'length']
        self.num_pieces = (self.length + self.piece_len - 1) // self.piece_len
        self.data = open(os.path.join(data_dir, info[b'name'].decode()), 'rb').read()
        self.name = info[b'name'].decode()


class ScriptedPeer:
    def __init__(self, tor, role, meta, sock, record, k=0):
        self.t, self.role, self.meta, self.s, self.rec = tor, role, meta, sock, record
        self.k = k
        self.peer_id = b'-PC0001-capture%05d' % k
        self.buf = b''
        self.peer_ext = {}
        self.requested = False

    def send(self, b):
        try:
            self.s.sendall(b)
        except OSError:
            pass

    def greet(self):
        reserved = bytearray(8)
        reserved[5] |= 0x10  # BEP 10
        reserved[7] |= 0x04  # BEP 6
        self.send(bytes([19]) + b'BitTorrent protocol' + bytes(reserved) + self.t.info_hash +
                  self.peer_id)
        # A listen port per connection: libtorrent drops a second
        # connection that claims the same ip:port.
        ext = {'m': {'ut_metadata': UT_METADATA, 'ut_pex': UT_PEX}, 'v': 'peerflow-capture',
               'reqq': 250, 'p': 6881 + self.k}
        if self.role == 'seed':
            ext['metadata_size'] = len(self.t.info_raw)
        self.send(msg(20, b'\x00' + bencode(ext)))
        if self.role == 'seed':
            self.send(msg(14))  # have all
            self.send(msg(1))   # unchoke
        else:
            self.send(msg(15))  # have none
            self.send(msg(2))   # interested

    def request_all(self):
        if self.requested:
            return
        self.requested = True
        for i in range(self.t.num_pieces):
            plen = min(self.t.piece_len, self.t.length - i * self.t.piece_len)
            for off in range(0, plen, BLOCK):
                self.send(msg(6, i.to_bytes(4, 'big') + off.to_bytes(4, 'big') +
                              min(BLOCK, plen - off).to_bytes(4, 'big')))

    def on_message(self, mid, p):
        if mid == 20 and p[:1] == b'\x00':
            try:
                self.peer_ext, _ = bdecode(p[1:])
            except Exception:
                self.peer_ext = {}
            utm = self.peer_ext.get(b'm', {}).get(b'ut_metadata', 0)
            if self.role == 'leech' and self.meta and utm:
                self.send(msg(20, bytes([utm]) + bencode({'msg_type': 0, 'piece': 0})))
        elif mid == 20 and p[:1] == bytes([UT_METADATA]) and self.role == 'seed':
            d, end = bdecode(p[1:])
            utm = self.peer_ext.get(b'm', {}).get(b'ut_metadata', 0)
            if d.get(b'msg_type') == 0 and utm:
                k = d.get(b'piece', 0)
                chunk = self.t.info_raw[k * BLOCK:(k + 1) * BLOCK]
                self.send(msg(20, bytes([utm]) + bencode(
                    {'msg_type': 1, 'piece': k, 'total_size': len(self.t.info_raw)}) + chunk))
        elif mid in (5, 14) and self.role == 'leech':
            # WebTorrent only unchokes on an `interested` that arrives
            # after it set the wire up; say it again.
            self.send(msg(3) + msg(2))
        elif mid == 1 and self.role == 'leech':  # unchoke
            self.request_all()
        elif mid == 17 and self.role == 'leech':  # allowed fast
            pass
        elif mid == 2 and self.role == 'seed':  # interested: unchoke (again)
            self.send(msg(1))
        elif mid == 6 and self.role == 'seed':  # request
            i, off, n = (int.from_bytes(p[k:k + 4], 'big') for k in (0, 4, 8))
            start = i * self.t.piece_len + off
            self.send(msg(7, p[:8] + self.t.data[start:start + n]))

    def run(self, deadline, idle):
        self.s.settimeout(0.2)
        last = time.time()
        got_hs = False
        while time.time() < deadline and time.time() - last < idle:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            last = time.time()
            self.rec.extend(d)
            self.buf += d
            if not got_hs:
                if len(self.buf) < 68:
                    continue
                self.buf = self.buf[68:]
                got_hs = True
                self.greet()
            while len(self.buf) >= 4:
                n = int.from_bytes(self.buf[:4], 'big')
                if len(self.buf) < 4 + n:
                    break
                body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                if n:
                    self.on_message(body[0], body[1:])
        self.s.close()


def start_lt(args, port, targets):
    import libtorrent as lt
    ses = lt.session({'listen_interfaces': '127.0.0.1:%d' % (port + 10), 'enable_dht': False,
                      'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
                      'enable_outgoing_utp': False, 'enable_incoming_utp': False,
                      'out_enc_policy': 2, 'in_enc_policy': 2, 'allow_multiple_connections_per_ip': True})
    if args.magnet:
        p = lt.parse_magnet_uri('magnet:?xt=urn:btih:' + args.tor.info_hash.hex())
        p.save_path = args.scratch
        h = ses.add_torrent(p)
    else:
        h = ses.add_torrent({'ti': lt.torrent_info(args.torrent),
                             'save_path': args.data if args.role == 'leech' else args.scratch})
    time.sleep(1.0)
    for t in targets:
        h.connect_peer(('127.0.0.1', t))
    return ses


WT_SCRIPT = r"""
import WebTorrent from 'webtorrent'
import fs from 'fs'
const [torrent, dir, magnet, ...peers] = process.argv.slice(2)
const client = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: false, secure: 0 })
const t = client.add(magnet !== '-' ? magnet : fs.readFileSync(torrent), { path: dir, announce: [] })
t.on('ready', () => {})
setTimeout(() => { for (const p of peers) t.addPeer('127.0.0.1:' + p) }, 1500)
// WebTorrent itself never adds peers to ut_pex; with --pex, tell each wire
// about a few and send the message now instead of after 65 s.
if (process.env.PF_CAPTURE_PEX) t.on('wire', w => setTimeout(() => {
  if (!w.ut_pex) return
  w.ut_pex.addPeer('10.1.2.3:6881', { prefersEncryption: true, isSender: true })
  w.ut_pex.addPeer('192.0.2.7:51413', { reachable: true })
  w.ut_pex.addPeer6('[2001:db8::1]:6881', { utp: true })
  w.ut_pex._sendMessage()
  w.ut_pex.dropPeer('10.1.2.3:6881')
  w.ut_pex._sendMessage()
}, 3000))
setTimeout(() => process.exit(0), 120000)
"""


def start_wt(args, port, targets):
    node_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '.pf-node')
    script = os.path.join(node_dir, 'pf_capture_%d.mjs' % os.getpid())
    with open(script, 'w') as f:
        f.write(WT_SCRIPT)
    magnet = 'magnet:?xt=urn:btih:' + args.tor.info_hash.hex() if args.magnet else '-'
    env = dict(os.environ, PF_CAPTURE_PEX='1') if args.pex else None
    proc = subprocess.Popen(['node', script, args.torrent, args.data if args.role == 'leech' else args.scratch,
                             magnet] + [str(t) for t in targets], cwd=node_dir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.script = script
    return proc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--client', choices=['lt', 'wt'], required=True)
    ap.add_argument('--role', choices=['leech', 'seed'], required=True)
    ap.add_argument('--torrent', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--magnet', action='store_true')
    ap.add_argument('--meta', action='store_true')
    ap.add_argument('--pex', action='store_true')
    ap.add_argument('--time', type=float, default=0)
    ap.add_argument('--idle', type=float, default=4, help='stop after this long without data')
    ap.add_argument('--port', type=int, default=28100)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    args.tor = Torrent(args.torrent, args.data)
    args.scratch = '/tmp/pf_capture_%d' % os.getpid()
    os.makedirs(args.scratch, exist_ok=True)
    nconn = 2 if args.pex else 1
    total = args.time or (75 if args.pex else 12 + args.idle)
    listeners = []
    for k in range(nconn):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', args.port + k))
        s.listen(4)
        s.settimeout(total)
        listeners.append(s)
    client = (start_lt if args.client == 'lt' else start_wt)(args, args.port, [args.port + k for k in range(nconn)])
    records = [bytearray() for _ in range(nconn)]
    deadline = time.time() + total

    def serve(k):
        try:
            c, _ = listeners[k].accept()
        except OSError:
            return
        ScriptedPeer(args.tor, args.role, args.meta, c, records[k], k).run(deadline, total if args.pex else args.idle)

    th = [threading.Thread(target=serve, args=(k,)) for k in range(nconn)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    if args.client == 'wt':
        client.kill()
        client.wait()
        os.unlink(client.script)
    for k, r in enumerate(records):
        out = args.out if k == 0 else args.out + '.%d' % k
        with open(out, 'wb') as f:
            f.write(bytes(r))
        print('%s: %d bytes' % (out, len(r)))
    sys.stdout.flush()
    os._exit(0)  # skip libtorrent's slow destructors


if __name__ == '__main__':
    main()
