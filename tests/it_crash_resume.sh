#!/usr/bin/env bash
# Crash safety: `peerflow get` is killed with SIGKILL mid-download, part of
# a piece it had verified is then damaged on disk (as a torn write or bit rot
# would), and it is restarted. The restart must validate what is on disk
# before trusting it: the pieces that still hash right are kept (not fetched
# again), the damaged one is not announced and is fetched again, and the
# file ends byte-exact.
# Fast resume: a clean stop leaves a resume record, trusted at the next
# start only while the files keep the size and mtime it recorded; after
# kill -9 or any change to the data, everything is hashed again.
. "$(dirname "$0")/lib.sh"
pf_setup 120
require_peerflow

SIZE=$((48 << 20))
PLEN=$((256 << 10))
PIECES=$((SIZE / PLEN))
gen_file "$SIZE" "$T/seed/movie.bin" crash
$PF_BIN create -p 256K -o "$T/movie.torrent" "$T/seed/movie.bin"

# The seeder is slowed down so the kill lands mid-transfer.
spawn seeder $PF_BIN seed -d "$T/seed" -l 0 --bind 127.0.0.1 --no-tracker \
    --upload-rate 6M "$T/movie.torrent"
sport=$(port_of seeder)

spawn leech1 $PF_BIN get -d "$T/leech" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$sport" --stats "$T/leech1.json" "$T/movie.torrent"
# Wait for a third of the pieces, then pull the plug.
for _ in $(seq 300); do
    if [ -s "$T/leech1.json" ]; then
        have=$(json_get "$T/leech1.json" have)
        [ "$have" -ge $((PIECES / 3)) ] && break
    fi
    sleep 0.1
done
pid=$(_pid_of leech1)
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
have_killed=$(json_get "$T/leech1.json" have)
log "killed -9 with at least $have_killed/$PIECES pieces verified"
[ "$have_killed" -ge $((PIECES / 3)) ] || fail "download never got a third of the way"
[ "$have_killed" -lt "$PIECES" ] || fail "download finished before the kill"

# Damage the middle of piece 2 (verified: pieces arrive roughly in order,
# and a third of the file was there).
printf 'torn write torn write torn write' |
    dd of="$T/leech/movie.bin" bs=1 seek=$((2 * PLEN + 1000)) conv=notrunc status=none

# Restart with no peer first: only what verifies on disk is claimed.
spawn leech2 $PF_BIN get -v -d "$T/leech" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/leech2.json" "$T/movie.torrent"
prev=-1; stable=0
for _ in $(seq 200); do
    if [ -s "$T/leech2.json" ]; then
        h=$(json_get "$T/leech2.json" have)
        if [ "$h" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
        prev=$h
        [ $stable -ge 3 ] && [ "$h" -gt 0 ] && break
    fi
    sleep 0.5
done
have_checked=$prev
log "after restart and check: $have_checked pieces verified on disk"
[ "$have_checked" -ge $((have_killed - 1)) ] || fail "restart kept $have_checked < $have_killed - 1 pieces"
[ "$have_checked" -lt "$PIECES" ] || fail "restart claims every piece, the damaged one included"
[ "$(json_get "$T/leech2.json" downloaded)" = 0 ] || fail "downloaded bytes with no peer?"
grep -q "checking existing data (resume record: no record)" "$T/logs/leech2.log" ||
    fail "after kill -9 the restart did not hash the data"
stop leech2

# Restart with the seeder: only the missing pieces (and the damaged one)
# are fetched, and the result is byte-exact.
spawn leech3 timeout 100 $PF_BIN get -v -d "$T/leech" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$sport" --stats "$T/leech3.json" "$T/movie.torrent"
expect_exit0 leech3 100
assert_same_file "$T/seed/movie.bin" "$T/leech/movie.bin"
down=$(json_get "$T/leech3.json" downloaded)
need=$(( (PIECES - have_checked) * PLEN ))
log "second run downloaded $down bytes; $need were missing after the check"
[ "$down" -ge "$need" ] || fail "downloaded $down < the $need missing bytes: stats wrong?"
[ "$down" -le $((need + 8 * PLEN)) ] || fail "downloaded $down bytes, far more than the $need missing: verified pieces were not kept"
# leech2 stopped cleanly and changed nothing: leech3 resumed from its record.
grep -q "fast resume, $have_checked of $PIECES pieces" "$T/logs/leech3.log" ||
    fail "leech3 did not fast-resume leech2's $have_checked pieces"

# Complete and untouched: the next start trusts the record, hashes nothing.
spawn leech4 timeout 30 $PF_BIN get -v -d "$T/leech" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/leech4.json" "$T/movie.torrent"
expect_exit0 leech4 30
grep -q "fast resume, $PIECES of $PIECES pieces" "$T/logs/leech4.log" || fail "no fast resume of the complete file"

# Damaged after a clean stop (mtime changes): the record is not trusted,
# the data is hashed, the damaged piece fetched again.
printf 'bit rot' | dd of="$T/leech/movie.bin" bs=1 seek=$((7 * PLEN + 99)) conv=notrunc status=none
spawn leech5 timeout 60 $PF_BIN get -v -d "$T/leech" -l 0 --bind 127.0.0.1 --no-tracker \
    --peer "127.0.0.1:$sport" --stats "$T/leech5.json" "$T/movie.torrent"
expect_exit0 leech5 60
grep -q "resume record: files changed since it was written" "$T/logs/leech5.log" ||
    fail "a record for changed files was trusted"
assert_same_file "$T/seed/movie.bin" "$T/leech/movie.bin"
[ "$(json_get "$T/leech5.json" downloaded)" = "$PLEN" ] ||
    fail "after damage to one piece, downloaded $(json_get "$T/leech5.json" downloaded) bytes, want $PLEN"
