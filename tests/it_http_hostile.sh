#!/usr/bin/env bash
# `peerflow play`'s media server against hostile clients, while a normal
# client streams the file (curl, rate-limited so it is in flight the whole
# time) and must get it byte-exact:
#   - the server binds 127.0.0.1 by default (no --bind given);
#   - path traversal (../, %2e%2e, encoded slashes, backslashes, %00, //,
#     absolute-form targets, a raw NUL): 400;
#   - malformed and hostile Range values: 416 for unsatisfiable ones
#     (bytes=18446744073709551615-, huge-huge past the end), the whole file
#     (200) for ignored ones (several ranges, negative, last < first);
#   - a 9 KiB header: 431, a 9 KiB request line: 414, then closed;
#   - slowloris (a header byte per second): 408 and closed after the header
#     timeout (--http-header-timeout 2);
#   - a client that never reads its response: closed after the send
#     timeout (--http-send-timeout 5);
#   - a flood of silent connections past --http-max-conns 16: new clients
#     are still served (the oldest idle ones make room).
# python3 does the nasty things; the normal client is curl.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_cmd curl

gen_file 24M "$T/viewer.cache/movie.mp4" hostile
cp "$T/viewer.cache/movie.mp4" "$T/movie.mp4"
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/movie.mp4" >/dev/null
size=$(stat -c %s "$T/movie.mp4")

# No --bind: the default must be loopback.
spawn viewer "$PF_BIN" play -d "$T/viewer.cache" --http-port 0 -l 0 --no-tracker \
    --http-header-timeout 2 --http-send-timeout 5 --http-idle-timeout 5 --http-max-conns 16 \
    "$T/movie.torrent"
url=$(wait_for_log viewer '^https?://[^ ]+/files/0/' 20)
url=${url%%[[:space:]]*}
port=$(sed -E 's#^https?://[^:/]+:([0-9]+)/.*#\1#' <<<"$url")
log "viewer serves $url"
assert_listens_on 127.0.0.1 "$port"
log "bound to 127.0.0.1:$port only"
# the data is local: wait until it is verified (a HEAD answers at once anyway)
for _ in $(seq 100); do
    [ "$(curl -s --max-time 2 "http://127.0.0.1:$port/stats.json" | $PY -c 'import json,sys; print(json.load(sys.stdin).get("complete"))' 2>/dev/null)" = True ] && break
    sleep 0.1
done

# The normal client: curl into a pipe drained at a steady ~3 MB/s (64 KiB
# every 20 ms), so it streams for about 8 s and reads like a player.
# (curl's own --limit-rate reads in bursts and then pauses for seconds,
# which a short send timeout rightly treats as a client that stopped.)
(
    set -o pipefail
    curl -sS --max-time 60 -w '%{http_code}' -D "$T/normal.head" "$url" 2>"$T/normal.err" |
        $PY -c '
import sys, time
i, o = sys.stdin.buffer, open(sys.argv[1], "wb")
while True:
    b = i.read(65536)
    if not b:
        break
    o.write(b)
    time.sleep(0.02)
' "$T/normal.out.raw"
) &
normal_pid=$!

$PY - "$port" "$size" >"$T/logs/hostile.log" 2>&1 <<'PY' || { cat "$T/logs/hostile.log" >&2; fail "hostile clients: see above"; }
import socket, sys, threading, time

port, size = int(sys.argv[1]), int(sys.argv[2])
errors = []
lock = threading.Lock()

def err(msg):
    with lock:
        errors.append(msg)
        print("FAIL:", msg, flush=True)

def note(msg):
    with lock:
        print(msg, flush=True)

def dial(rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s

def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(4096)
        if not b:
            break
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest

def closed(s, within):
    """True if the server closes s (EOF or reset) within `within` s."""
    s.settimeout(0.2)
    t0 = time.time()
    while time.time() - t0 < within:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False

def exchange(raw, expect_close=False):
    s = dial()
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    head, _ = read_head(s)
    status = int(head.split(" ")[1]) if head.startswith("HTTP/1.1 ") else 0
    was_closed = closed(s, 3) if expect_close else None
    s.close()
    return status, head, was_closed

def req(path, extra=b"", method=b"GET"):
    return method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n"

def checks():
    # traversal and friends: 400
    for p in [b"/files/0/../../../../etc/passwd", b"/files/0/%2e%2e/%2e%2e/etc/passwd",
              b"/files/0/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", b"/files/0/..%2f..%2fetc%2fpasswd",
              b"/files/0/..%5c..%5cwin.ini", b"/files/0/..\\..\\win.ini",
              b"/files/0/movie.mp4%00.txt", b"//etc/passwd", b"/files/0//etc/passwd",
              b"/files/../stats.json", b"/%2e%2e/%2e%2e/etc/passwd", b"/files/0/%zz",
              b"http://127.0.0.1/files/0/../../etc/passwd"]:
        st, _, _ = exchange(req(p))
        if st != 400:
            err("%r: status %d, want 400" % (p, st))
    st, _, c = exchange(b"GET /files/0/a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", True)
    if st != 400 or not c:
        err("raw NUL in the target: status %d, closed %s" % (st, c))
    st, _, _ = exchange(req(b"/files/0/movie.mp4", method=b"HEAD"))
    if st != 200:
        err("HEAD of the real file: %d" % st)
    note("traversal: 400 for all, the real name still 200")
    # ranges
    for r, want in [(b"bytes=18446744073709551615-", 416), (b"bytes=18446744073709551616-", 416),
                    (b"bytes=99999999999999999999-99999999999999999999", 416),
                    (b"bytes=%d-" % size, 416), (b"bytes=-0", 416),
                    (b"bytes=99999999999999999999-99999999999999999998", 200),
                    (b"bytes=0-1,5-6", 200), (b"bytes=-5-9", 200), (b"bytes=--1", 200),
                    (b"bytes=5-1", 200), (b"bytes=0x10-", 200), (b"bytes=" + b",".join([b"0-0"] * 300), 200),
                    (b"bytes=-10", 206), (b"bytes=%d-" % (size - 1), 206)]:
        st, head, _ = exchange(req(b"/files/0/movie.mp4", b"Range: " + r + b"\r\n", b"HEAD"))
        if st != want:
            err("Range %r: status %d, want %d" % (r[:60], st, want))
        if want == 416 and ("Content-Range: bytes */%d" % size) not in head:
            err("Range %r: no Content-Range bytes */%d" % (r[:60], size))
        if want == 200 and ("Content-Length: %d" % size) not in head:
            err("Range %r: 200 without the whole length" % r[:60])
    note("ranges: 416 / 200 / 206 as documented")
    # oversized
    st, head, c = exchange(req(b"/files/0/movie.mp4", b"X-Big: " + b"a" * 9216 + b"\r\n"), True)
    if st != 431 or not c:
        err("9 KiB header: status %d, closed %s" % (st, c))
    st, _, c = exchange(req(b"/files/0/" + b"a" * 9216), True)
    if st != 414 or not c:
        err("9 KiB request line: status %d, closed %s" % (st, c))
    st, _, c = exchange(req(b"/", b"".join(b"X-%d: y\r\n" % i for i in range(100))), True)
    if st != 431 or not c:
        err("100 header fields: status %d, closed %s" % (st, c))
    note("oversized heads: 431 / 414 and closed")

def slowloris():
    s = dial()
    t0 = time.time()
    s.sendall(b"GET /files/0/movie.mp4 HTTP/1.1\r\n")
    answered = None
    for ch in b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 20:
        s.settimeout(1.0)
        try:
            b = s.recv(1, socket.MSG_PEEK)
            if b:
                answered = time.time() - t0
                break
        except socket.timeout:
            pass
        try:
            s.send(bytes([ch]))
        except OSError:
            break
    head, _ = read_head(s)
    if answered is None:
        answered = time.time() - t0
    if not head.startswith("HTTP/1.1 408"):
        err("slowloris: got %r, want 408" % head[:40])
    if not (1.5 <= answered <= 4.5):
        err("slowloris: answered after %.1f s, want about 2 s" % answered)
    if not closed(s, 3):
        err("slowloris: connection not closed after the 408")
    s.close()
    note("slowloris: 408 after %.1f s and closed" % answered)

def nonreader():
    s = dial(rcvbuf=4096)
    s.sendall(req(b"/files/0/movie.mp4"))
    time.sleep(9)  # send timeout 5 s once its queue stops moving
    got, ended = 0, False
    s.settimeout(5)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                ended = True
                break
            got += len(b)
    except (ConnectionResetError, BrokenPipeError):
        ended = True
    except socket.timeout:
        pass
    s.close()
    if not ended or got >= size:
        err("non-reader: ended %s after %d of %d bytes" % (ended, got, size))
    note("non-reader: cut off after %d of %d bytes" % (got, size))

def flood():
    socks = []
    for _ in range(40):
        try:
            socks.append(dial())
        except OSError as e:
            err("flood: connect failed: %s" % e)
            break
        time.sleep(0.01)
    t0 = time.time()
    st, _, _ = exchange(req(b"/files/0/movie.mp4", method=b"HEAD"))
    served = time.time() - t0
    if st != 200:
        err("flood: a new client got %d, want 200" % st)
    n_closed = sum(1 for s in socks if closed(s, 0.05))
    for s in socks:
        s.close()
    if n_closed < 40 - 16:
        err("flood: only %d of 40 silent connections were closed (cap 16)" % n_closed)
    note("flood: new client served in %.3f s; %d silent connections closed" % (served, n_closed))

threads = [threading.Thread(target=f) for f in (slowloris, nonreader, flood)]
for t in threads:
    t.start()
checks()
for t in threads:
    t.join()
sys.exit(1 if errors else 0)
PY
cat "$T/logs/hostile.log" | while read -r line; do log "hostile: $line"; done

wait $normal_pid || fail "the normal client failed: $(cat "$T/normal.err")"
# curl -w appended the status code to the body stream
tail -c 3 "$T/normal.out.raw" >"$T/normal.code"
[ "$(cat "$T/normal.code")" = 200 ] || fail "the normal client got status $(cat "$T/normal.code")"
head -c -3 "$T/normal.out.raw" >"$T/normal.out"
assert_same_file "$T/movie.mp4" "$T/normal.out"
is_running viewer || fail "peerflow play died"
# still serving, and a Range read is right
curl -sS --max-time 10 -r 1000-1999 -o "$T/range.out" "$url" || fail "curl after the attack failed"
dd if="$T/movie.mp4" bs=1000 skip=1 count=1 status=none | cmp -s - "$T/range.out" ||
    fail "bytes 1000-1999 differ after the attack"
log "after the attack: the normal stream was byte-exact and the server still answers"
stop viewer
