#!/usr/bin/env bash
# `peerflow tracker --interval 5` keeps peers that re-announce at their own
# pace (issue 19 item 6: it forgot them after 10 s while peerflow's client
# re-announces every 15 s at the soonest).  Two real `peerflow seed`s
# announce to it; /scrape
# is polled every 0.5 s for 40 s (at least two re-announce gaps of each):
# both must be listed at every poll.  Then the seed is killed (no
# "stopped"): it must still be forgotten, within twice its 15 s gap plus
# the expiry timer's period.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow
require_cmd curl

spawn tracker "$PF_BIN" tracker -l 0 --bind 127.0.0.1 --interval 5 -v
tport=$(port_of tracker)
url="http://127.0.0.1:$tport/announce"
gen_file 2M "$T/seed/show.bin" tracker-expiry
$PF_BIN create -p 64K -t "$url" -o "$T/show.torrent" "$T/seed/show.bin" >/dev/null
ih=$(info_hash "$T/show.torrent")
ih_esc=$(echo "$ih" | sed 's/../%&/g')

spawn seeder "$PF_BIN" seed -d "$T/seed" -l 0 --bind 127.0.0.1 "$T/show.torrent"
mkdir -p "$T/seed2" && cp "$T/seed/show.bin" "$T/seed2/"
spawn seeder2 "$PF_BIN" seed -d "$T/seed2" -l 0 --bind 127.0.0.1 "$T/show.torrent"

# counts: "complete incomplete" of the torrent (0 0 when it is unknown)
counts() {
    curl -sS --max-time 3 "http://127.0.0.1:$tport/scrape?info_hash=$ih_esc" -o "$T/scrape" ||
        { echo "? ?"; return; }
    $PY - "$T/scrape" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read()
c = re.search(rb"8:completei(\d+)e", b)
i = re.search(rb"10:incompletei(\d+)e", b)
print(int(c.group(1)) if c else 0, int(i.group(1)) if i else 0)
PY
}

# wait until both are known
for _ in $(seq 100); do
    read -r c i <<<"$(counts)"
    [ "$((c + i))" = 2 ] && break
    sleep 0.2
done
[ "$((c + i))" = 2 ] || fail "the tracker never listed both peers ($c complete, $i incomplete)"
log "both peers listed; polling for 40 s"
min=2
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt 40 ]; do
    read -r c i <<<"$(counts)"
    [ "$((c + i))" -lt "$min" ] && min=$((c + i)) && log "only $((c + i)) peer(s) listed at $(($(date +%s) - t0)) s"
    sleep 0.5
done
[ "$min" = 2 ] || fail "peers were forgotten while they kept announcing (as few as $min listed)"
gaps=$(grep -c 'GET /announce' "$T/logs/tracker.log" || true)
log "40 s: both peers listed at every poll ($gaps announces seen by the tracker)"

# The seed vanishes without a word: forgotten within 2 x 15 s + 2 s.
kill -KILL -- "-$(_pid_of seeder)" 2>/dev/null || true
t0=$(date +%s)
while :; do
    read -r c i <<<"$(counts)"
    [ "$((c + i))" -le 1 ] && break
    [ $(($(date +%s) - t0)) -gt 40 ] && fail "a dead peer was not forgotten in 40 s"
    sleep 0.5
done
log "the killed seed was forgotten after $(($(date +%s) - t0)) s"
stop seeder2
