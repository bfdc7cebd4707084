#!/usr/bin/env bash
# `peerflow tracker` over UDP against floods, end to end on loopback:
#   1. 30,000 datagrams of random bytes (and random lengths), and 5,000
#      announces with connection ids it never gave: no reply to what is
#      not well-formed, an error to the rest (ids it never gave), nothing
#      stored, never a crash;
#   2. 100,000 simulated peers, each from its own address in 127.0.0.0/8,
#      over 1,000 torrents, against --max-torrents 100 --max-peers-total
#      5000: the tracker keeps to its limits (errors for the rest) and its
#      memory stays flat (RSS growth under 64 MB);
#   3. one address announcing as fast as it can: the per-source limit
#      (--rate-limit 600 --rate-burst 300) answers most with errors (the
#      tracker is full by then too: counted apart, "rate-limited");
#   4. afterwards a client is still served: `peerflow info --scrape` over
#      UDP.  -v totals at exit tell the counts.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
LOAD_BIN=$PF_BUILD/udp_tracker_load
[ -x "$LOAD_BIN" ] || fail "no load generator at $LOAD_BIN (it is a build target)"

spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --max-torrents 100 --max-peers-total 5000 \
    --rate-limit 600 --rate-burst 300 -v
port=$(port_of tracker)
tpid=$(_pid_of tracker)
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$tpid/status"; }
rss0=$(rss)

# --- 1. junk and forged ids -----------------------------------------------------
$PY - "$port" <<'PY' >"$T/junk.out" || fail "junk: $(cat "$T/junk.out")"
import os, random, select, socket, struct, sys, time
port = int(sys.argv[1])
random.seed(7)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
count = {"replies": 0, "errors": 0}
def drain(wait=0.0):
    end = time.time() + wait
    while True:
        left = max(0.0, end - time.time())
        if not select.select([s], [], [], left)[0]:
            if time.time() >= end:
                return
            continue
        r = s.recv(2048)
        count["replies"] += 1
        count["errors"] += len(r) >= 8 and struct.unpack(">I", r[:4])[0] == 3
for i in range(30000):
    n = random.choice([0, 1, 8, 15, 16, 17, 97, 98, 200, 1500, random.randrange(2000)])
    d = bytearray(os.urandom(n))
    if n >= 12 and i % 2:  # a known action with garbage around it
        d[8:12] = struct.pack(">I", random.randrange(3))
    if n >= 8 and d[:8] == bytes.fromhex("0000041727101980"):
        d[0] ^= 1  # never a real connect
    s.sendto(bytes(d), ("127.0.0.1", port))
    if i % 64 == 0:
        drain()
drain(1.0)
junk = dict(count)
count.update(replies=0, errors=0)
for i in range(5000):  # well-formed announces, ids never handed out
    d = struct.pack(">QII", random.getrandbits(64), 1, i) + os.urandom(80) + struct.pack(">H", 6881)
    s.sendto(d, ("127.0.0.1", port))
    if i % 64 == 0:
        drain()
drain(1.0)
print(junk["replies"], junk["errors"], count["replies"], count["errors"])
PY
read -r junk_replies junk_errors forged_replies forged_errors <"$T/junk.out"
log "junk: $junk_replies replies, $junk_errors of them errors (to the well-formed announces and scrapes among it, whose ids are forged); forged ids: $forged_replies replies, $forged_errors errors"
[ "$junk_errors" -eq "$junk_replies" ] || fail "junk got something other than an error"
[ "$forged_errors" -eq "$forged_replies" ] || fail "a forged id got something other than an error"
# ids are checked before the rate limit: every forged announce was answered
# (some replies may be lost to the socket: at least 90% came)
[ "$forged_errors" -ge 4500 ] || fail "forged ids: $forged_errors errors of 5000"
is_running tracker || fail "the tracker died on junk"

# --- 2. many sources, beyond the limits -------------------------------------------
out=$("$LOAD_BIN" --port "$port" --pid "$tpid" --sources --peers 100000 --torrents 1000 \
    --seconds 4 --warmup 3 --window 128)
log "many sources: $out"
errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$out")
announces=$(sed -E 's/.* announces=([0-9]+)|^announces=([0-9]+).*/\1\2/' <<<"$out")
[ "$errors" -gt 0 ] || fail "no error reply beyond --max-torrents/--max-peers-total"
[ "$announces" -gt 0 ] || fail "no announce served"
rss1=$(rss)
log "RSS: $rss0 kB at start, $rss1 kB after 100,000 sources"
[ $((rss1 - rss0)) -lt $((64 * 1024)) ] || fail "RSS grew by $(((rss1 - rss0) / 1024)) MB"

# --- 3. one source, as fast as it can ---------------------------------------------
out=$("$LOAD_BIN" --port "$port" --pid "$tpid" --peers 1000 --torrents 10 --seconds 2 --warmup 1)
log "one source: $out"
errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$out")
announces=$(sed -E 's/^announces=([0-9]+).*/\1/' <<<"$out")
[ "$errors" -gt $((announces * 10)) ] || fail "one source flooding: $announces served, $errors errors"

# --- 4. still serving -----------------------------------------------------------------
gen_file 64K "$T/x.bin" flood
$PF_BIN create -t "udp://127.0.0.1:$port/announce" -o "$T/x.torrent" "$T/x.bin" >/dev/null
# The flood came from this host's address too, and the tracker may still
# be working through the packets queued in its socket (a loaded CI run:
# "rate limited" to the first scrape): it must serve again within 5 s.
for try in $(seq 10); do
    $PF_BIN info --scrape "$T/x.torrent" >"$T/scrape.out"
    grep -q "udp://127.0.0.1:$port/announce: 0 seeders, 0 leechers" "$T/scrape.out" && break
    sleep 0.5
done
grep -q "udp://127.0.0.1:$port/announce: 0 seeders, 0 leechers" "$T/scrape.out" ||
    fail "after the floods: $(grep -A2 scrape: "$T/scrape.out")"
[ "$try" = 1 ] || log "the scrape after the floods was served at try $try"
stop tracker
grep "peerflow tracker:" "$T/logs/tracker.log" | tail -3 >&2
totals=$(grep -E "peerflow tracker: [0-9]+ torrents, [0-9]+ peers" "$T/logs/tracker.log" | tail -1)
[ -n "$totals" ] || fail "no totals at exit"
torrents=$(sed -E 's/.*tracker: ([0-9]+) torrents.*/\1/' <<<"$totals")
peers=$(sed -E 's/.* torrents, ([0-9]+) peers.*/\1/' <<<"$totals")
limited=$(sed -E 's/.* ([0-9]+) rate-limited.*/\1/' <<<"$totals")
[ "$torrents" -le 100 ] || fail "$torrents torrents kept, over --max-torrents 100"
[ "$peers" -le 5000 ] || fail "$peers peers kept, over --max-peers-total 5000"
[ "$limited" -ge 10000 ] || fail "only $limited requests rate-limited"
malformed=$(sed -nE 's/.* ([0-9]+) malformed.*/\1/p' "$T/logs/tracker.log" | tail -1)
[ "$malformed" -ge 10000 ] || fail "only $malformed datagrams counted malformed"
[ "$junk_replies" -le $((30000 - malformed)) ] || fail "junk got $junk_replies replies"
log "limits held ($torrents torrents, $peers peers); $limited rate-limited; $malformed datagrams dropped as malformed"
