#!/usr/bin/env bash
# Misbehaving peers that break the wire protocol (tests/peers/hostile_peer.py),
# around one honest `peerflow seed` and one `peerflow get` downloading from it:
#
#   huge4g   (the get dials it) handshakes, sends a bitfield, then announces
#            a 4 GiB message (length prefix 0xffffffff) and streams filler
#   huge1m   the same with 1 MiB + 65 bytes, just past the largest message
#            peerflow accepts (a 1 MiB bitfield + 64)
#   wrongih  (the get dials it) answers the handshake for another info-hash,
#            and also dials the seeder with another info-hash
#   badhave, spare, short, long   (the get dials them) lie in a malformed
#            way: a HAVE for the piece after the last one; a bitfield with
#            the bits past the last piece set; a bitfield one byte short;
#            one byte too long
#   oor      dials the seeder once per bad request -- piece index past the
#            end or 0xffffffff, begin at/after the piece end, a block
#            crossing the piece end, past the end of the file, length 0,
#            128 KiB + 1, 0xffffffff -- each after a valid request that
#            must be served (the connection works until the bad one)
#
# Asserts: the get exits 0 with the source's bytes (cmp) and the seeder
# keeps serving; every hostile connection is closed by peerflow, within
# 2 s of the offence (the 4 GiB / 1 MiB peers before 16 of the 64 MiB of
# filler they offer got in), no bad request is answered with data, the seeder never answers a
# handshake for an info-hash it does not serve; the get's and the seeder's
# peak RSS stay under 64 MiB.
. "$(dirname "$0")/lib.sh"
. "$PF_SRC/tests/peers/hostile_lib.sh"
pf_setup 90
require_peerflow

# 16 MiB + 12345 bytes: the last piece is short, so "past the end of the
# file" differs from "past the piece"
gen_file 16789012 "$T/src/file.bin" hostile-protocol
$PF_BIN create -p 256K -o "$T/file.torrent" "$T/src/file.bin" >/dev/null
spawn seed $PF_BIN seed -vv -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 4M \
    "$T/file.torrent"
seed_port=$(port_of seed)
watch_hwm seed

hostile huge4g huge-length --torrent "$T/file.torrent" --listen 0
huge4g_port=$HOSTILE_PORT
hostile huge1m huge-length --length 0x00100041 --torrent "$T/file.torrent" --listen 0
huge1m_port=$HOSTILE_PORT
hostile wrongih wrong-infohash --torrent "$T/file.torrent" --listen 0 \
    --connect "127.0.0.1:$seed_port" --case-timeout 3
wrongih_port=$HOSTILE_PORT

liars=()
for claim in badhave:have-past-end spare:bitfield-spare-bits short:bitfield-short \
    long:bitfield-long; do
    hostile "${claim%%:*}" lying --claim "${claim#*:}" --torrent "$T/file.torrent" --listen 0
    liars+=(--peer "127.0.0.1:$HOSTILE_PORT")
done

spawn get $PF_BIN get -vv -d "$T/get" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$seed_port" --peer "127.0.0.1:$huge4g_port" \
    --peer "127.0.0.1:$huge1m_port" --peer "127.0.0.1:$wrongih_port" "${liars[@]}" \
    --stats "$T/get.json" "$T/file.torrent"
watch_hwm get
hostile oor out-of-range --torrent "$T/file.torrent" --connect "127.0.0.1:$seed_port" \
    --case-timeout 3

expect_exit0 get 40
assert_same_file "$T/src/file.bin" "$T/get/file.bin"
assert_hwm_below get 64

# --- huge lengths -----------------------------------------------------------
for h in huge4g huge1m; do
    hrep "$h" 'len(d["conns"]) >= 1' | grep -qx True || fail "$h: peerflow never connected"
    log "$h: $(hrep "$h" '[(c["closed_by"], round(c["t_close"] - c["t_open"], 3), c.get("filler_sent", 0)) for c in d["conns"]]') (closed by, after s, filler bytes sent)"
    [ "$(hrep "$h" 'all(c["closed_by"] == "remote" for c in d["conns"])')" = True ] ||
        fail "$h: a connection was not closed by peerflow: $(hrep "$h" 'd["conns"]')"
    [ "$(hrep "$h" 'all(c["t_close"] - c["t_open"] < 2 for c in d["conns"])')" = True ] ||
        fail "$h: peerflow took over 2 s to close it"
    # it offers 64 MiB of filler; the kernel's socket buffers take a few MiB
    [ "$(hrep "$h" 'max(c.get("filler_sent", 0) for c in d["conns"]) < 16 << 20')" = True ] ||
        fail "$h: peerflow kept reading a message it cannot accept (16 MiB of filler in)"
done

# --- malformed claims -----------------------------------------------------------
for h in badhave spare short long; do
    log "$h: $(hrep "$h" '[(c["closed_by"], c["t_close"] and round(c["t_close"] - c["t_open"], 3), c["requests"]) for c in d["conns"]]') (closed by, after s, requests)"
    [ "$(hrep "$h" 'len(d["conns"]) >= 1 and all(c["closed_by"] == "remote" and c["t_close"] - c["t_open"] < 2 for c in d["conns"])')" = True ] ||
        fail "$h: the get kept a peer whose claim is malformed: $(hrep "$h" 'd["conns"]')"
    [ "$(hrep "$h" 'sum(c["requests"] for c in d["conns"])')" = 0 ] || fail "$h: the get asked a malformed liar for blocks"
done

# --- wrong info-hash ------------------------------------------------------------
# the get dialled it: closed right after the other info-hash came back
log "wrongih: $(hrep wrongih '[(c["dir"], c["closed_by"], round(c["t_close"] - c["t_open"], 3), c["bytes_recv"]) for c in d["conns"]]') (dir, closed by, after s, bytes received)"
[ "$(hrep wrongih 'any(c["dir"] == "in" for c in d["conns"])')" = True ] || fail "wrongih: the get never dialled it"
[ "$(hrep wrongih 'all(c["closed_by"] == "remote" and c["t_close"] - c["t_open"] < 2 for c in d["conns"] if c["dir"] == "in")')" = True ] ||
    fail "wrongih: the get kept a peer that answered for another info-hash"
# it dialled the seeder: hung up on without a handshake reply
[ "$(hrep wrongih '[c for c in d["conns"] if c["dir"] == "out"][0]["closed_by"]')" = remote ] ||
    fail "wrongih: the seeder kept a connection for an unknown info-hash open"
[ "$(hrep wrongih '[c for c in d["conns"] if c["dir"] == "out"][0]["bytes_recv"]')" = 0 ] ||
    fail "wrongih: the seeder sent bytes to a handshake for an unknown info-hash"

# --- out-of-range requests ------------------------------------------------------
wait_exit oor 40 || fail "the out-of-range client failed"
out=$($PY - "$T/oor.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("ok   %d cases" % len(d["cases"]) if len(d["cases"]) == 9 else "FAIL %d of 9 cases ran" % len(d["cases"]))
for c in d["cases"]:
    bad = []
    if not c["valid_served"]:
        bad.append("the valid request before it was not served")
    if c["bad_served"]:
        bad.append("the seeder answered the bad request with data")
    if not (c["closed"] and c["t_close"] < 2):
        bad.append("the seeder did not close the connection within 2 s")
    print("%s %s: closed after %ss %s" % ("FAIL" if bad else "ok  ", c["case"], c["t_close"],
                                          "; ".join(bad) or json.dumps(c["request"])))
PY
)
while IFS= read -r line; do log "oor: $line"; done <<<"$out"
! grep -q '^FAIL' <<<"$out" || fail "oor: $(grep -m1 '^FAIL' <<<"$out")"
is_running seed || fail "the seeder died"
assert_hwm_below seed 64
