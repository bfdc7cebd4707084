#!/usr/bin/env bash
# Stopping with many files (issue 19 item 9): `peerflow get` of a torrent
# of 20,000 small files gets SIGTERM mid-download and must exit within a
# few seconds (it took 8-38 s here: one open and one fdatasync per file
# written, and a backlog of queued writes), leaving a resume record the
# next start trusts; that start completes the download byte-exact.  A
# SIGTERM during the hash check also ends it at once, and leaves no record
# claiming the unchecked pieces missing: the next start checks again and
# finds everything.  (Syscall counts: scripts/bench-stop-many-files.sh.)
. "$(dirname "$0")/lib.sh"
pf_setup 300
require_peerflow

N=20000
$PY - "$T/src/many" $N <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(19)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(rnd.randbytes(100 + (i * 37) % 400))
PY
$PF_BIN create -p 16K -o "$T/many.torrent" "$T/src/many" >/dev/null
PIECES=$($PF_BIN info "$T/many.torrent" | awk '/^pieces:/ {print $2}')
log "$N files in $PIECES pieces"

# elapsed_since T0
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

spawn seed $PF_BIN seed -d "$T/src" -l 0 --bind 127.0.0.1 --no-tracker --upload-rate 1M "$T/many.torrent"
sport=$(port_of seed)

# 1. SIGTERM mid-download.
spawn get1 $PF_BIN get -d "$T/dl" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$sport" \
    --stats "$T/get1.json" "$T/many.torrent"
for _ in $(seq 300); do
    [ -s "$T/get1.json" ] && [ "$(json_get "$T/get1.json" have)" -ge $((PIECES / 4)) ] && break
    sleep 0.1
done
have=$(json_get "$T/get1.json" have)
[ "$have" -lt "$PIECES" ] || fail "finished before the signal"
t0=$(date +%s.%N)
kill -TERM "$(_pid_of get1)"
rc=0
wait_exit get1 60 || rc=$?
took=$(since "$t0")
log "get exited $rc ${took}s after SIGTERM with >= $have of $PIECES pieces"
[ "$rc" = 1 ] || fail "get exited $rc after SIGTERM, want 1 (interrupted)"
awk -v t="$took" 'BEGIN { exit !(t < 6) }' || fail "get took ${took}s to stop (want < 6 s)"
ls "$T/dl/.peerflow/"*.resume >/dev/null 2>&1 || fail "no resume record after a clean stop"

# The record is trusted, and the rest comes.
spawn get2 $PF_BIN get -v -d "$T/dl" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$sport" \
    "$T/many.torrent"
expect_exit0 get2 120
line=$(grep -o "fast resume, [0-9]* of $PIECES pieces" "$T/logs/get2.log") ||
    fail "the restart did not trust the resume record: $(grep -i resume "$T/logs/get2.log")"
kept=$(awk '{print $3}' <<<"$line")
[ "$kept" -ge "$have" ] || fail "the record kept $kept pieces, fewer than the $have verified"
assert_same_tree "$T/src/many" "$T/dl/many"
stop seed

# 2. SIGTERM during the hash check of complete data with no record.
cp -r "$T/src/many" "$T/chk"
mkdir -p "$T/c" && mv "$T/chk" "$T/c/many"
spawn chk1 $PF_BIN get -v -d "$T/c" -l 0 --bind 127.0.0.1 --no-tracker "$T/many.torrent"
wait_for_log chk1 "checking existing data" 30 >/dev/null
t0=$(date +%s.%N)
# a fast machine may finish the check (and exit) before the signal
kill -TERM "$(_pid_of chk1)" 2>/dev/null || log "chk1 had already exited"
rc=0
wait_exit chk1 60 || rc=$?
took=$(since "$t0")
log "check stopped: exit $rc after ${took}s"
awk -v t="$took" 'BEGIN { exit !(t < 4) }' || fail "get took ${took}s to stop during its check"
if [ "$rc" = 1 ]; then
    # Stopped mid-check: no record, or one the next start finds complete.
    spawn chk2 $PF_BIN get -v -d "$T/c" -l 0 --bind 127.0.0.1 --no-tracker "$T/many.torrent"
    expect_exit0 chk2 60
    ! grep -q "fast resume, [0-9]* of $PIECES" "$T/logs/chk2.log" ||
        grep -q "fast resume, $PIECES of $PIECES" "$T/logs/chk2.log" ||
        fail "a check cut short left a record claiming pieces missing: $(grep -i resume "$T/logs/chk2.log")"
else
    [ "$rc" = 0 ] || fail "get exited $rc"
    log "the check finished before the signal was handled"
fi
