#!/usr/bin/env bash
# `peerflow tracker` end to end with curl: two fake peers announce (compact
# and dictionary model, binary info_hash percent-encoded), each sees the
# other, scrape counts them, unknown paths 404, SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"
pf_setup 60

command -v curl >/dev/null || fail "curl not installed"
[ -x "$PF_BIN" ] || fail "no peerflow binary at $PF_BIN"

# 127.0.0.1 is trusted here, so the fake peers' ip= is believed (without
# --trusted-proxy it is ignored: it_tracker_proxy.sh).
spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 60 --trusted-proxy 127.0.0.1 -v
PORT=$(port_of tracker 20)
BASE="http://127.0.0.1:$PORT"
log "tracker on port $PORT"

# 20 raw bytes including NUL, space, '%', '&' and high bytes.
IH='%00%01%20%25%26%3D%7F%80%FF%FEabcdefghij'
PID_A='-PF0001-aaaaaaaaaaaa'
PID_B='-PF0001-bbbbbbbbbbbb'

get() { # URL OUTFILE
    curl -sS -g --max-time 5 --connect-timeout 5 -o "$2" -w '%{http_code}' "$1"
}
hex() { od -An -tx1 -v "$1" | tr -d ' \n'; }

# Peer A (compact), claims 10.0.0.1:6001 (ip= is honoured from a trusted address).
code=$(get "$BASE/announce?info_hash=$IH&peer_id=$PID_A&port=6001&left=100&event=started&compact=1&ip=10.0.0.1" "$T/a1")
[ "$code" = 200 ] || fail "announce A: HTTP $code"
grep -q 'failure' "$T/a1" && fail "announce A failed: $(cat "$T/a1")"
grep -q '8:intervali60e' "$T/a1" || fail "announce A: no interval: $(cat "$T/a1")"
grep -q '5:peers0:' "$T/a1" || fail "announce A: expected no peers yet: $(cat "$T/a1")"

# Peer B (dictionary model), 10.0.0.2:6002: must see A with A's peer id.
code=$(get "$BASE/announce?info_hash=$IH&peer_id=$PID_B&port=6002&left=0&event=started&compact=0&ip=10.0.0.2" "$T/b1")
[ "$code" = 200 ] || fail "announce B: HTTP $code"
grep -q '2:ip8:10.0.0.1' "$T/b1" || fail "B does not see A: $(cat "$T/b1")"
grep -q '4:porti6001e' "$T/b1" || fail "B sees A with the wrong port: $(cat "$T/b1")"
grep -q -- "7:peer id20:$PID_A" "$T/b1" || fail "B: A's peer id missing: $(cat "$T/b1")"
grep -q '10.0.0.2' "$T/b1" && fail "B sees itself: $(cat "$T/b1")"
grep -q '8:completei1e' "$T/b1" || fail "B: expected 1 seeder: $(cat "$T/b1")"

# A again (compact): exactly B, 0a000002:1772, in a 6-byte peers string.
code=$(get "$BASE/announce?info_hash=$IH&peer_id=$PID_A&port=6001&left=100&compact=1&ip=10.0.0.1" "$T/a2")
[ "$code" = 200 ] || fail "re-announce A: HTTP $code"
h=$(hex "$T/a2")
case $h in
*"$(printf '5:peers6:' | od -An -tx1 | tr -d ' \n')0a0000021772"*) ;;
*) fail "A does not see exactly B (compact): $h" ;;
esac

# Scrape this hash, then all.
code=$(get "$BASE/scrape?info_hash=$IH" "$T/s1")
[ "$code" = 200 ] || fail "scrape: HTTP $code"
grep -q 'd5:filesd20:' "$T/s1" || fail "scrape: bad reply: $(cat "$T/s1")"
grep -q 'd8:completei1e10:downloadedi0e10:incompletei1ee' "$T/s1" || fail "scrape counts: $(cat "$T/s1")"
code=$(get "$BASE/scrape" "$T/s2")
[ "$code" = 200 ] && grep -q '8:completei1e' "$T/s2" || fail "full scrape: $code $(cat "$T/s2")"

# B stops: A no longer sees anyone.
get "$BASE/announce?info_hash=$IH&peer_id=$PID_B&port=6002&left=0&event=stopped&ip=10.0.0.2" "$T/b2" >/dev/null
code=$(get "$BASE/announce?info_hash=$IH&peer_id=$PID_A&port=6001&left=100&ip=10.0.0.1" "$T/a3")
grep -q '5:peers0:' "$T/a3" || fail "A still sees B after stopped: $(cat "$T/a3")"

# Bad requests: failure reason with 200; unknown path 404.
code=$(get "$BASE/announce?info_hash=short&peer_id=$PID_A&port=1" "$T/bad")
[ "$code" = 200 ] && grep -q 'failure reason' "$T/bad" || fail "bad announce: $code $(cat "$T/bad")"
code=$(get "$BASE/nothing" "$T/nf")
[ "$code" = 404 ] || fail "unknown path: HTTP $code"

# Keep-alive: two requests over one connection.
out=$(curl -sS --max-time 5 -v "$BASE/scrape" "$BASE/scrape" -o /dev/null -o /dev/null 2>&1)
grep -q 'Re-using existing connection' <<<"$out" || fail "no connection reuse: $out"

# SIGTERM: clean exit 0.
kill -TERM "$PID_tracker"
expect_exit0 tracker 10
log "ok"
