#!/usr/bin/env bash
# `peerflow tracker` limits from the command line, end to end with curl and
# python3:
#   - --rate-limit 6 --rate-burst 5: five announces from 127.0.0.1 pass,
#     the sixth gets "failure reason: rate limit exceeded" with "retry in";
#     another source address (127.0.0.2) is not affected;
#   - a flood of 3000 requests from one address is refused cheaply and the
#     tracker keeps serving others; -v reports the count at exit;
#   - --max-peers 3: a fourth peer replaces the least recently seen one
#     (scrape shows 3);
#   - --rate-limit 0 turns the limit off.
. "$(dirname "$0")/lib.sh"
pf_setup 60
require_peerflow
require_cmd curl

IH='%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14'
announce() { # announce PORT SRC_ADDR PEER_NUM
    curl -sS --max-time 5 --interface "$2" \
        "http://127.0.0.1:$1/announce?info_hash=$IH&peer_id=-PF0001-00000000000$3&port=$((7000 + $3))&left=1&compact=1" |
        tr -d '\000'
}

# 6 a minute: a token every 10 s, so six curls in a row stay within one
# token's time even on a loaded machine (at 60, one second, they did not).
spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --rate-limit 6 --rate-burst 5 \
    --max-peers 3 -v
port=$(port_of tracker 20)

for i in 1 2 3 4 5; do
    out=$(announce "$port" 127.0.0.1 "$i")
    grep -q 'failure reason' <<<"$out" && fail "announce $i of the burst refused: $out"
done
out=$(announce "$port" 127.0.0.1 6)
grep -q '14:failure reason19:rate limit exceeded8:retry ini1e' <<<"$out" ||
    fail "the 6th announce was not rate-limited: $out"
log "burst of 5 passed, the 6th: $out"
out=$(announce "$port" 127.0.0.2 7)
grep -q 'failure reason' <<<"$out" && fail "127.0.0.2 was limited too: $out"
# --max-peers 3: peers 1..5 and 7 announced, 3 kept
out=$(curl -sS --max-time 5 --interface 127.0.0.2 "http://127.0.0.1:$port/scrape?info_hash=$IH" | tr -d '\000')
grep -q '10:incompletei3e' <<<"$out" || fail "scrape after 6 peers with --max-peers 3: $out"
log "another address is served; --max-peers 3 keeps 3"

# A flood from 127.0.0.3 on keep-alive connections.
$PY - "$port" <<'PY' >"$T/flood.out" || fail "flood: $(cat "$T/flood.out")"
import http.client, sys, time
port = int(sys.argv[1])
ih = "%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14"
c = http.client.HTTPConnection("127.0.0.1", port, source_address=("127.0.0.3", 0), timeout=5)
ok = limited = 0
t0 = time.time()
for i in range(3000):
    c.request("GET", "/announce?info_hash=%s&peer_id=-PF0001-%012d&port=9000&left=1" % (ih, i))
    body = c.getresponse().read()
    if b"rate limit exceeded" in body:
        limited += 1
    else:
        ok += 1
print("ok %d limited %d in %.2f s" % (ok, limited, time.time() - t0))
sys.exit(0 if ok <= 10 and limited >= 2990 else 1)
PY
log "flood from 127.0.0.3: $(cat "$T/flood.out")"
out=$(announce "$port" 127.0.0.4 8)
grep -q 'failure reason' <<<"$out" && fail "127.0.0.4 refused during/after the flood: $out"
kill -TERM "$PID_tracker"
expect_exit0 tracker 10
grep -E 'rate-limited' "$T/logs/tracker.log" | tail -1
grep -qE '[0-9]{4} rate-limited' "$T/logs/tracker.log" || fail "tracker did not report the rate-limited count"

# --rate-limit 0: no limit
spawn tracker2 "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --rate-limit 0
port=$(port_of tracker2 20)
for i in $(seq 1 30); do
    out=$(announce "$port" 127.0.0.1 1)
    grep -q 'failure reason' <<<"$out" && fail "--rate-limit 0 still limited announce $i: $out"
done
log "--rate-limit 0: 30 quick announces all served"
stop tracker2
