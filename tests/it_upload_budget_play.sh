#!/usr/bin/env bash
# The monthly upload budget kept across a viewer's crash (issue 15 item 6,
# "a test that restarts a viewer mid-month"): a `peerflow play` viewer
# that holds the whole title uploads to a real libtorrent leecher with
# --upload-budget 2M (slowed to 256 KiB/s so a kill can land mid-way), is
# killed with SIGKILL after about 1 MiB, and restarts in the same month
# (PEERFLOW_BUDGET_PERIOD).  What it read in its own /stats.json before
# the kill is what it reads after the restart: budget_used is kept (the
# crash costs at most one 256 KiB reservation chunk, counted as used),
# uploads stop at the budget ("off": ["budget"]), the leecher never gets
# more than 2 MiB from the viewer in all, and /metrics says the same.
# it_upload_budget.sh does the same with `peerflow seed`.
. "$(dirname "$0")/lib.sh"
pf_setup 150
require_peerflow
require_libtorrent
require_cmd curl

BUDGET=$((2 << 20))
CHUNK=$((256 << 10))
gen_file 16M "$T/src/movie.bin" budget-play
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/src/movie.bin" >/dev/null
pport=$(free_port)
BF=$T/state/upload-budget
mkdir -p "$T/state"
export PEERFLOW_BUDGET_PERIOD=2031-01

file_used() { sed -n 's/^used //p' "$BF"; }
up() { stats_json "$PLAY_BASE/stats.json" "d['upload']['$1']"; }
leech_down() { json_get "$T/leech.json" downloaded 2>/dev/null || echo 0; }
# view NAME: the viewer, its cache holding the whole title.
view() {
    mkdir -p "$T/$1.cache"
    cp "$T/src/movie.bin" "$T/$1.cache/"
    start_play "$1" "$T/movie.torrent" -l "$pport" --upload-rate 256K --upload-budget 2M \
        --budget-file "$BF" -v
    for _ in $(seq 200); do
        [ "$(stats_json "$PLAY_BASE/stats.json" 'd["complete"]')" = True ] && break
        sleep 0.1
    done
    [ "$(stats_json "$PLAY_BASE/stats.json" 'd["complete"]')" = True ] || fail "$1 never verified its data"
}

view viewer1
[ "$(up period)" = 2031-01 ] || fail "viewer1's period is $(up period)"
[ "$(up budget)" = "$BUDGET" ] || fail "viewer1's budget is $(up budget)"
spawn leech $LT_PEER get --torrent "$T/movie.torrent" --dir "$T/leech" --no-tracker \
    --peer "127.0.0.1:$pport" --stats-file "$T/leech.json" --stats-interval 0.2 --timeout 140
# About half the budget, read from /stats.json; then the plug.
for _ in $(seq 300); do
    [ "$(up uploaded)" -ge $((BUDGET / 2)) ] && break
    sleep 0.1
done
read -r used1 sent1 < <(stats_json "$PLAY_BASE/stats.json" 'd["upload"]["budget_used"], d["upload"]["uploaded"]' | tr -d '(),')
pid=$(_pid_of viewer1)
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
log "viewer1 killed -9: its /stats.json said uploaded $sent1, budget_used $used1; the budget file says $(file_used)"
[ "$sent1" -ge $((BUDGET / 2)) ] && [ "$sent1" -lt "$BUDGET" ] || fail "the kill did not land mid-budget ($sent1)"
[ "$used1" -ge "$sent1" ] || fail "viewer1 said budget_used $used1 < uploaded $sent1"
sleep 1
got1=$(leech_down)
[ "$(file_used)" -ge "$got1" ] || fail "the leecher got $got1 > the $(file_used) reserved on disk before the crash"

# Restart in the same month: /stats.json shows the budget used kept, at
# once (before the leecher is back), at most one chunk above the last
# reading (the dead process's reservation counts as spent).
view viewer2
used2=$(up budget_used) up2=$(up uploaded) peers2=$(stats_json "$PLAY_BASE/stats.json" 'd["peers"]')
log "viewer2 restarted: /stats.json says budget_used $used2, budget_left $(up budget_left), uploaded $up2"
[ "$(up period)" = 2031-01 ] || fail "viewer2's period is $(up period)"
[ "$used2" -ge "$used1" ] || fail "budget_used went from $used1 to $used2 across the restart: not kept"
# (The leecher may be back already, on a loaded machine: what viewer2
# has reserved for it since, a chunk ahead of what it sent, is allowed on
# top.)
extra=0
[ "$peers2" -gt 0 ] || [ "$up2" -gt 0 ] && extra=$((CHUNK + (up2 + CHUNK - 1) / CHUNK * CHUNK))
[ "$used2" -le $((used1 + CHUNK + 4 * 16384 + extra)) ] ||
    fail "budget_used $used2 after the restart (viewer2 uploaded $up2): more than a chunk above $used1"
m=$(curl -sS "$PLAY_BASE/metrics" | sed -n 's/^peerflow_upload_budget_used_bytes //p')
[ -n "$m" ] && [ "$m" -ge "$used1" ] || fail "/metrics: peerflow_upload_budget_used_bytes '$m' after the restart, below $used1"

# The leecher comes back for the rest: uploads stop at the budget.
for _ in $(seq 400); do
    [ "$(up enabled)" = False ] && break
    sleep 0.1
done
[ "$(up enabled)" = False ] || fail "viewer2 never ran out of budget (budget_used $(up budget_used))"
[ "$(up off)" = "['budget']" ] || fail "viewer2 off for $(up off), not the budget"
sleep 2 # nothing more goes
got2=$(leech_down) used3=$(up budget_used) left3=$(up budget_left)
log "month 2031-01: the leecher got $got2 bytes in all (viewer1 >= $sent1, viewer2 $(up uploaded)); /stats.json says $used3 used, $left3 left; the file $(file_used)"
[ "$got2" -le "$BUDGET" ] || fail "the leecher got $got2 bytes, over the $BUDGET budget"
[ "$used3" -le "$BUDGET" ] || fail "/stats.json says $used3 used, over the budget"
[ "$left3" -lt 16384 ] || fail "uploads stopped with $left3 of the budget left"
[ "$got2" -ge $((BUDGET - CHUNK - 2 * 16384)) ] ||
    fail "the leecher got $got2: the crash cost more than one chunk of the budget"
# (into a variable first: grep -q ending the pipe early made curl fail
# on the rest of /metrics, and pipefail failed the test)
metrics=$(curl -sS "$PLAY_BASE/metrics")
grep -qx 'peerflow_upload_off{reason="budget"} 1' <<<"$metrics" ||
    fail "/metrics: no peerflow_upload_off{reason=\"budget\"} 1"
sleep 1
[ "$(leech_down)" = "$got2" ] || fail "the leecher still receives after the budget was spent"
stop leech
stop viewer2
log "a viewer's budget kept across kill -9: $used1 used before, $used2 after the restart, spent to the block at $used3"
