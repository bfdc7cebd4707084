#!/usr/bin/env bash
# Terminal escape injection (issue 19 item 8): names from outside -- a
# torrent's name, file paths, comment, created by, tracker and web seed
# URLs, a magnet's dn/tr/ws/x.pe -- hold ESC, CR, BEL and DEL.  Every
# command that prints them (info for a .torrent and for a magnet, create's
# summary, seed and get with their progress lines, play's URL list and
# status lines) must write no byte below 0x20 other than \n and \t, and no
# 0x7f, to stdout or stderr.  The transfers must still work (get completes,
# play serves the file byte-exact).
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_cmd curl

ESC=$'\e'
EVIL="evil${ESC}[31mred${ESC}]0;pwned"$'\a'"x"$'\r'"y"$'\x7f'
mkdir -p "$T/src/$EVIL/sub${ESC}[2J"
gen_file 700K "$T/src/$EVIL/sub${ESC}[2J/f${ESC}[5mile"$'\a'".bin" esc1
gen_file 300K "$T/src/$EVIL/plain.bin" esc2

# A .torrent whose every text field is hostile (bencoded by hand: peerflow
# create would not write such comments or URLs).
$PY - "$T/src/$EVIL" "$T/evil.torrent" <<'PY'
import hashlib, os, sys
root, out = sys.argv[1], sys.argv[2]
def b(x):
    if isinstance(x, int): return b"i%de" % x
    if isinstance(x, str): x = x.encode("utf-8", "surrogateescape")
    if isinstance(x, bytes): return b"%d:" % len(x) + x
    if isinstance(x, list): return b"l" + b"".join(b(i) for i in x) + b"e"
    return b"d" + b"".join(b(k) + b(v) for k, v in sorted(x.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape"))) + b"e"
files, data = [], b""
for dirpath, _, names in sorted(os.walk(root)):
    for n in sorted(names):
        p = os.path.join(dirpath, n)
        rel = os.path.relpath(p, root).split(os.sep)
        d = open(p, "rb").read()
        files.append({"length": len(d), "path": rel})
        data += d
plen = 65536
pieces = b"".join(hashlib.sha1(data[i:i + plen]).digest() for i in range(0, len(data), plen))
E = "\x1b"
info = {"name": os.path.basename(root), "piece length": plen, "pieces": pieces, "files": files}
meta = {"info": info,
        "announce": "http://127.0.0.1:9/" + E + "[2J" + "announce\r\x07",
        "announce-list": [["http://127.0.0.1:9/" + E + "[2J" + "announce\r\x07"], ["http://127.0.0.1:9/t" + E + "]2;x\x07/announce"]],
        "url-list": ["http://127.0.0.1:9/" + E + "[6n/"],
        "comment": "comment " + E + "[1;31mred\r\x07\x7f",
        "created by": "maker " + E + "P+q\x1b\\\x07"}
open(out, "wb").write(b(meta))
print(hashlib.sha1(b(info)).hexdigest())
PY
hash=$($PF_BIN info "$T/evil.torrent" 2>/dev/null | awk '/^info hash:/ {print $3}')
[ ${#hash} = 40 ] || fail "peerflow info cannot read the crafted torrent"

# clean FILE WHAT: no control byte but \n and \t, no DEL.
clean() {
    $PY - "$1" "$2" <<'PY' || fail "$2 wrote raw control bytes to the terminal (see above)"
import sys
data = open(sys.argv[1], "rb").read()
bad = [(i, c) for i, c in enumerate(data) if (c < 0x20 and c not in (9, 10)) or c == 0x7f]
if bad:
    i = bad[0][0]
    print(f"{sys.argv[2]}: {len(bad)} raw control bytes, first 0x{bad[0][1]:02x} at {i}: "
          f"{data[max(0, i - 40):i + 20]!r}", file=sys.stderr)
    sys.exit(1)
print(f"{sys.argv[2]}: {len(data)} bytes, no raw control byte")
PY
}

$PF_BIN info "$T/evil.torrent" >"$T/info.out" 2>&1
clean "$T/info.out" "info (.torrent)"
grep -q 'name:.*evil\\x1b\[31mred' "$T/info.out" || fail "info does not show the escaped name: $(head -3 "$T/info.out")"
grep -q 'comment:.*\\x1b\[1;31mred\\x0d\\x07\\x7f' "$T/info.out" || fail "info: comment not shown escaped"
grep -q 'created by:.*\\x1bP' "$T/info.out" || fail "info: created by not shown escaped"
grep -q 'tier 1: http://127.0.0.1:9/t\\x1b\]2;x\\x07/announce' "$T/info.out" || fail "info: tracker URL not shown escaped"
grep -q 'sub\\x1b\[2J/f\\x1b\[5mile\\x07.bin' "$T/info.out" || fail "info: file path not shown escaped"
$PF_BIN info --scrape "$T/evil.torrent" >"$T/scrape.out" 2>&1 || true
clean "$T/scrape.out" "info --scrape"

mag="magnet:?xt=urn:btih:$hash&dn=evil%1B%5B31mred%0D%07%7F&tr=http%3A%2F%2F127.0.0.1%3A9%2F%1B%5B2Jannounce&ws=http%3A%2F%2F127.0.0.1%3A9%2F%1B%5D0%3Bx%07%2F&x.pe=127.0.0.1%3A9%1B"
$PF_BIN info "$mag" >"$T/minfo.out" 2>&1 || true
clean "$T/minfo.out" "info (magnet)"
grep -q 'name:.*evil\\x1b\[31mred\\x0d\\x07\\x7f' "$T/minfo.out" || fail "info (magnet): dn not shown escaped: $(head -2 "$T/minfo.out")"

# create's summary names the output, which is named after the folder.
(cd "$T" && $PF_BIN create -v "src/$EVIL") >"$T/create.out" 2>&1 || fail "create failed: $(tail -2 "$T/create.out")"
clean "$T/create.out" "create"
grep -q 'evil\\x1b\[31mred.*\.torrent' "$T/create.out" || fail "create: summary does not name the output escaped"

# seed and get (-v: progress and protocol lines), then play from a magnet.
spawn seed $PF_BIN seed -v -d "$T/src" -l 0 --bind 127.0.0.1 "$T/evil.torrent"
sport=$(port_of seed)
spawn get $PF_BIN get -v -d "$T/dl" -l 0 --bind 127.0.0.1 --peer "127.0.0.1:$sport" "$T/evil.torrent"
expect_exit0 get 60
assert_same_tree "$T/src/$EVIL" "$T/dl/$EVIL"
grep -q 'download complete: evil\\x1b\[31mred' "$T/logs/get.log" || fail "get: no escaped 'download complete' line"
clean "$T/logs/get.log" "get -v"

start_play viewer "magnet:?xt=urn:btih:$hash&dn=evil%1B%5B31mred%0D%07%7F&x.pe=127.0.0.1:$sport" -v
fetch_same "$PLAY_URL" "$T/src/$EVIL/plain.bin" 30
sleep 6 # a few of play's -v status lines (every 5 s)
stop viewer
stop seed
clean "$T/logs/viewer.log" "play -v"
clean "$T/logs/seed.log" "seed -v"
grep -q 'serving evil\\x1b\[31mred' "$T/logs/viewer.log" || fail "play: no escaped 'serving' line"
log "every command printed the hostile names escaped"
