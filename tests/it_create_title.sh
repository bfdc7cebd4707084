#!/usr/bin/env bash
# peerflow create on a packaged title (issue 16 item 1).  ffmpeg packages a
# three-rendition title (tests/media/make_title.sh: one folder with a DASH
# MPD and an HLS master + media playlists over the same fMP4 segments; and
# the TS variant): create prints the summary, the torrent lists every file
# of the folder, each track's init segment then its segments in
# presentation order (a rendition contiguous), then the manifests and
# playlists, then the rest; the web seed (BEP 19, multi-file: URL + name +
# '/' + path) serves the whole title to `peerflow get` from nginx, byte
# for byte.  Broken titles -- a malformed master, a missing segment, a URI
# outside the title, an encrypted or live playlist, a dynamic MPD -- each
# fail with a message naming the manifest, the line and the path, exit
# status 1, no crash, no .torrent.
. "$(dirname "$0")/lib.sh"
pf_setup 240
require_peerflow
require_cmd ffmpeg

mk=$PF_SRC/tests/media/make_title.sh
bash "$mk" --seconds 12 "$T/www/title" >"$T/logs/make.log" 2>&1 || fail "make_title.sh failed"
bash "$mk" --ts --seconds 8 "$T/www/ts" >"$T/logs/make_ts.log" 2>&1 || fail "make_title.sh --ts failed"
echo "poster" >"$T/www/title/poster.jpg"
mkdir -p "$T/www/title/extra"
echo "notes" >"$T/www/title/extra/notes.txt"

start_nginx_origin "$T/www"
$PF_BIN create -p 64K -w "$NGINX_URL/" -o "$T/title.torrent" "$T/www/title" >"$T/create.out" 2>"$T/create.err" ||
    fail "create failed: $(cat "$T/create.err")"
cat "$T/create.out" >&2
# ffmpeg's segment count (the audio's last, short, segment comes and goes
# with the encoder's settings): from the folder, not from our parser.
nseg=$(ls "$T/www/title" | grep -c '^chunk-stream.*\.m4s$')
grep -q "^manifest.mpd: DASH, 4 tracks, $nseg segments, 12.00 s\$" "$T/create.out" || fail "no DASH summary"
grep -q "^master.m3u8: HLS, 4 tracks, $nseg segments, 12.00 s\$" "$T/create.out" || fail "no HLS summary"
grep -Eq '^  video 1280x720 +4\.600 Mbit/s +3 segments +12\.00 s  2$' "$T/create.out" || fail "no 720p track line"

# The order, from the .torrent itself (bencode read here, not by peerflow).
$PY - "$T/title.torrent" "$T/www/title" "$NGINX_URL/" <<'PY' || fail "file order or web seed (see above)"
import os, re, sys
data = open(sys.argv[1], "rb").read()
def dec(i):
    c = data[i:i+1]
    if c == b"i":
        j = data.index(b"e", i); return int(data[i+1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1; out = [] if c == b"l" else {}
        while data[i:i+1] != b"e":
            if c == b"l":
                v, i = dec(i); out.append(v)
            else:
                k, i = dec(i); v, i = dec(i); out[k.decode()] = v
        return out, i + 1
    j = data.index(b":", i); n = int(data[i:j]); return data[j+1:j+1+n], j + 1 + n
meta, _ = dec(0)
entries = meta["info"]["files"]
# BEP 47 pad files (attr "p", ".pad/N" of N zeros) start every file at a
# piece boundary; the files themselves are checked without them.
plen = meta["info"]["piece length"]
off = 0
for f in entries:
    name = "/".join(p.decode() for p in f["path"])
    pad = b"p" in f.get("attr", b"")
    assert pad == name.startswith(".pad/"), ("pad attr", name)
    assert pad or off % plen == 0, ("not at a piece boundary", name, off)
    assert not pad or (0 < f["length"] < plen and (off + f["length"]) % plen == 0), ("pad", name, off, f["length"])
    off += f["length"]
assert any(b"p" in f.get("attr", b"") for f in entries), "no pad file"
files = ["/".join(p.decode() for p in f["path"]) for f in entries if b"p" not in f.get("attr", b"")]
on_disk = sorted(os.path.relpath(os.path.join(d, n), sys.argv[2]) for d, _, ns in os.walk(sys.argv[2]) for n in ns)
assert sorted(files) == on_disk, ("files differ", files, on_disk)
# The web seed (-w): BEP 19's url-list, the one URL given.
ul = meta.get("url-list")
ul = [ul] if isinstance(ul, bytes) else (ul or [])
assert [u.decode() for u in ul] == [sys.argv[3]], ("url-list", ul, sys.argv[3])
want = []
for r in range(4):  # manifest.mpd first (sorted), its Representations 0..3: init, then segments by number
    want.append("init-stream%d.m4s" % r)
    want += sorted(f for f in on_disk if f.startswith("chunk-stream%d-" % r))
want += ["manifest.mpd", "master.m3u8", "media_3.m3u8", "media_0.m3u8", "media_1.m3u8", "media_2.m3u8",
         "extra/notes.txt", "poster.jpg"]
if files != want:
    print("order:", files, "\nwanted:", want, file=sys.stderr)
    sys.exit(1)
print("order ok: %d files" % len(files), file=sys.stderr)
open(sys.argv[1] + ".files", "w").write("\n".join(files) + "\n")
PY

# The web seed serves the title: no peer, no tracker; `peerflow play`
# fetches through the CDN (its costly source) what the media server is
# asked for: the 720p init segment and segments, the MPD and the master
# playlist, byte for byte, from URL + name + '/' + path.
start_play viewer "$T/title.torrent"
for name in init-stream2.m4s chunk-stream2-00001.m4s chunk-stream2-00002.m4s chunk-stream2-00003.m4s \
    manifest.mpd master.m3u8; do
    fetch_same "$PLAY_BASE/t/$name" "$T/www/title/$name" 60
done
grep -Eq '"GET /title/chunk-stream2-00001\.m4s(\?[^ ]*)? HTTP' "$NGINX_LOG" || fail "no request for /title/chunk-stream2-00001.m4s at the CDN"
grep -Eq '"GET /title/manifest\.mpd(\?[^ ]*)? HTTP' "$NGINX_LOG" || fail "no request for /title/manifest.mpd at the CDN"
stop viewer

# The TS variant: master.m3u8 and v0..v2/index.m3u8 with their segments.
$PF_BIN create -p 32K -o "$T/ts.torrent" "$T/www/ts" >"$T/ts.out" 2>"$T/ts.err" || fail "create ts: $(cat "$T/ts.err")"
grep -q '^master.m3u8: HLS, 3 tracks, 6 segments, 8.00 s$' "$T/ts.out" || fail "no TS summary: $(cat "$T/ts.out")"
$PF_BIN info "$T/ts.torrent" | awk '/^  ts\// && !/\[pad\]$/ {print $1}' >"$T/ts.files"
printf '%s\n' ts/v0/seg000.ts ts/v0/seg001.ts ts/v1/seg000.ts ts/v1/seg001.ts ts/v2/seg000.ts ts/v2/seg001.ts \
    ts/master.m3u8 ts/v0/index.m3u8 ts/v1/index.m3u8 ts/v2/index.m3u8 | diff - "$T/ts.files" >&2 ||
    fail "TS title order (above)"
# --no-title: the plain sorted order.
$PF_BIN create --no-title -p 32K -o "$T/ts_plain.torrent" "$T/www/ts" >"$T/plain.out" 2>&1 || fail "--no-title"
grep -q 'HLS' "$T/plain.out" && fail "--no-title printed a title summary"
$PF_BIN info "$T/ts_plain.torrent" | awk '/^  ts\// {print $1}' | head -1 | grep -qx ts/master.m3u8 || fail "--no-title order"

# Broken titles: each its own copy of the TS title.
broken() { # NAME EDIT-COMMAND EXPECTED-MESSAGE-REGEX
    local d=$T/bad_$1
    rm -rf "$d"
    cp -r "$T/www/ts" "$d"
    (cd "$d" && eval "$2")
    local rc=0
    $PF_BIN create -o "$T/bad_$1.torrent" "$d" >"$T/bad_$1.out" 2>"$T/bad_$1.err" || rc=$?
    log "$1: exit $rc: $(cat "$T/bad_$1.err")"
    [ "$rc" = 1 ] || fail "$1: exit status $rc, wanted 1"
    grep -Eq "$3" "$T/bad_$1.err" || fail "$1: message does not match /$3/"
    [ ! -e "$T/bad_$1.torrent" ] || fail "$1: a .torrent was written"
}
broken malformed "printf '#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv0/index.m3u8\n' >master.m3u8" \
    'master.m3u8: line 2: EXT-X-STREAM-INF without BANDWIDTH'
broken missing_segment "rm v1/seg001.ts" 'v1/index.m3u8: line [0-9]+: segment "v1/seg001.ts" is not in the folder'
broken missing_playlist "rm v2/index.m3u8" 'master.m3u8: line 10: media playlist "v2/index.m3u8" is not in the folder'
broken escaping "sed -i 's|^seg001.ts|../../../etc/passwd|' v0/index.m3u8" \
    'v0/index.m3u8: line [0-9]+: URI "../../../etc/passwd" points outside the title'
broken absolute_url "sed -i 's|^v1/index.m3u8|http://evil.example/x.m3u8|' master.m3u8" \
    'master.m3u8: line 7: URI "http://evil.example/x.m3u8" points outside the title'
broken encrypted "sed -i 's|^#EXTINF|#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF|' v0/index.m3u8" \
    'v0/index.m3u8: line [0-9]+: encrypted'
broken live "sed -i '/EXT-X-ENDLIST/d' v2/index.m3u8" 'v2/index.m3u8: live playlist'
broken garbage "printf '<html>\\001\\377 not a playlist\n#EXT-X-STREAM-INF\n' >master.m3u8" \
    'master.m3u8: line 1: not an HLS playlist'
broken binary "head -c 3000 /dev/urandom >master.m3u8; printf '\n#EXT-X-STREAM-INF\n' >>master.m3u8" \
    'master.m3u8: (line [0-9]+: NUL byte|line 1: not an HLS playlist)'
broken mpd_dynamic "sed 's/type=\"static\"/type=\"dynamic\"/' $T/www/title/manifest.mpd >manifest.mpd" \
    'manifest.mpd: line [0-9]+: <MPD>: type="dynamic"'
broken mpd_missing "cp $T/www/title/manifest.mpd ." \
    'manifest.mpd: line 17: <Representation id="0">: init segment "init-stream0.m4s" is not in the folder'
broken mpd_escaping "sed 's|media=\"chunk|media=\"../../chunk|' $T/www/title/manifest.mpd >manifest.mpd" \
    'manifest.mpd: line [0-9]+: <SegmentTemplate>: URL "../../chunk-stream0-00001.m4s" points outside the title'
log "ok"
