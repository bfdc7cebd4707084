#!/usr/bin/env bash
# The monthly upload budget (issue 15 item 6) against a real libtorrent
# leecher.  `peerflow seed --upload-budget 2M` (slowed to 256 KiB/s so a
# kill can land mid-way) is killed with SIGKILL after about 1 MiB, and
# restarted in the same month: the budget is kept (the leecher never gets
# more than 2 MiB from it in all, the crash costs at most one 256 KiB
# reservation chunk), uploads stop at the budget, and the status shows it
# spent.  A new month (PEERFLOW_BUDGET_PERIOD, the CLI's override of the
# calendar month) starts from 0; a clean stop gives the unspent
# reservation back.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_libtorrent

BUDGET=$((2 << 20))
CHUNK=$((256 << 10))
gen_file 16M "$T/seed/movie.bin" budget
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/seed/movie.bin" >/dev/null
port=$(free_port)
BF=$T/state/upload-budget
mkdir -p "$T/state"

up() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["upload"].get(sys.argv[2], ""))' "$@"; }
file_used() { sed -n 's/^used //p' "$BF"; }
file_period() { sed -n 's/^period //p' "$BF"; }
seed() { # NAME PERIOD
    spawn "$1" env PEERFLOW_BUDGET_PERIOD="$2" $PF_BIN seed -d "$T/seed" -l "$port" \
        --bind 127.0.0.1 --no-tracker --upload-rate 256K --upload-budget 2M --budget-file "$BF" \
        --stats "$T/$1.json" -v "$T/movie.torrent"
    port_of "$1" >/dev/null
}
leech_down() { json_get "$T/leech.json" downloaded 2>/dev/null || echo 0; }

seed seed1 2031-01
spawn leech $LT_PEER get --torrent "$T/movie.torrent" --dir "$T/leech" --no-tracker \
    --peer "127.0.0.1:$port" --stats-file "$T/leech.json" --stats-interval 0.2 --timeout 140
# About half the budget, then the plug.
for _ in $(seq 300); do
    [ -s "$T/seed1.json" ] && [ "$(json_get "$T/seed1.json" uploaded)" -ge $((BUDGET / 2)) ] && break
    sleep 0.1
done
pid=$(_pid_of seed1)
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
sent1=$(json_get "$T/seed1.json" uploaded)
used1=$(file_used)
log "seed1 killed -9 after uploading >= $sent1 bytes; the budget file says $used1 used in $(file_period)"
[ "$sent1" -ge $((BUDGET / 2)) ] && [ "$sent1" -lt "$BUDGET" ] || fail "the kill did not land mid-budget ($sent1)"
[ "$(file_period)" = 2031-01 ] || fail "budget file period $(file_period)"
# What was written to the leecher by the kill was reserved on disk first.
sleep 1
got1=$(leech_down)
[ "$used1" -ge "$got1" ] || fail "leecher got $got1 > the $used1 reserved on disk before the crash"
[ $((used1 - got1)) -le $((CHUNK + 2 * 16384)) ] || fail "reserved $used1 but only $got1 went: more than a chunk ahead"

# Restart in the same month: the budget is kept.
seed seed2 2031-01
for _ in $(seq 400); do
    [ -s "$T/seed2.json" ] && [ "$(up "$T/seed2.json" enabled)" = False ] && break
    sleep 0.1
done
[ "$(up "$T/seed2.json" enabled)" = False ] || fail "seed2 never ran out of budget"
[ "$(up "$T/seed2.json" off)" = "['budget']" ] || fail "seed2 off for $(up "$T/seed2.json" off), not the budget"
# The status line (every 5 s with -v) says so.
wait_for_log seed2 'up off \(budget spent\) \| budget [0-9.]+ [KM]?i?B left of 2.0 MiB' 12 >/dev/null
sleep 2 # nothing more goes
got2=$(leech_down)
sent2=$(json_get "$T/seed2.json" uploaded)
used2=$(file_used)
left2=$(up "$T/seed2.json" budget_left)
log "month 2031-01: the leecher got $got2 bytes in all (seed1 >= $sent1, seed2 $sent2); the file says $used2 used, $left2 left"
[ "$got2" -le "$BUDGET" ] || fail "the leecher got $got2 bytes, over the $BUDGET budget"
[ "$used2" -le "$BUDGET" ] || fail "the file says $used2 used, over the budget"
[ "$left2" -lt 16384 ] || fail "uploads stopped with $left2 of the budget left"
[ "$got2" -ge $((BUDGET - CHUNK - 2 * 16384)) ] ||
    fail "the leecher got $got2: the crash cost more than one chunk of the budget"
[ "$(json_get "$T/seed2.json" uploaded)" = "$sent2" ] || fail "seed2 still uploading"
sleep 1
[ "$(leech_down)" = "$got2" ] || fail "the leecher still receives after the budget was spent"

# A new month: uploads go again, from 0.
stop seed2
seed seed3 2031-02
for _ in $(seq 200); do
    [ "$(leech_down)" -ge $((got2 + 512 * 1024)) ] && break
    sleep 0.1
done
got3=$(leech_down)
[ "$got3" -ge $((got2 + 512 * 1024)) ] || fail "the new month did not upload (leecher at $got3)"
[ "$(file_period)" = 2031-02 ] || fail "budget file period $(file_period) after the month changed"
stop seed3
sent3=$(json_get "$T/seed3.json" uploaded)
used3=$(file_used)
log "month 2031-02: seed3 uploaded $sent3 bytes before a clean stop; the file says $used3 used"
# A clean stop gives back what was reserved and not spent (what was in
# flight when its connections closed counts as spent).
[ "$used3" -ge "$sent3" ] || fail "file $used3 < uploaded $sent3"
[ $((used3 - sent3)) -le $((2 * 16384)) ] || fail "the clean stop kept $((used3 - sent3)) bytes of reservation"
[ "$(up "$T/seed3.json" period)" = 2031-02 ] || fail "seed3's stats period"
stop leech
log "budget kept across kill -9 (at most $((used1 - got1)) bytes reserved ahead at the crash), spent to the block, reset by a new month"
