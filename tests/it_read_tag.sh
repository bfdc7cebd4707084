#!/usr/bin/env bash
# Verify on read with piece tags (net/piece_tags.h): a seed that hash-checked
# its data at start holds a tag of every piece; bytes of its file are then
# flipped on disk while it runs, before any peer asked for them.  A real
# libtorrent leecher dialling it and an honest seed (upload capped)
# completes byte-exact with no byte of a failed piece (total_failed_bytes
# 0): the tags caught the rot (the seed logs the rotten pieces, and at its
# stop, read-backs proved by their tag), the seed keeps running.  The
# untagged path (a fast resume, then rot) is tests/it_bit_rot.sh's.
#
# Regression test: a tag that matched rotten bytes, or a tag kept across a
# change of the piece on disk, would send them to the peer.
. "$(dirname "$0")/lib.sh"
pf_setup 90
require_peerflow
require_libtorrent

piece=$((128 * 1024))
gen_file 4M "$T/src/movie.bin" movie
size=$(stat -c %s "$T/src/movie.bin")
$PF_BIN create -p 128K -o "$T/movie.torrent" "$T/src/movie.bin" >/dev/null
mkdir -p "$T/rotten"
cp "$T/src/movie.bin" "$T/rotten/movie.bin"

# No resume record: a full hash check, every piece tagged.
spawn rotten $PF_BIN seed -vv -d "$T/rotten" -l 0 --bind 127.0.0.1 --no-tracker \
    --stats "$T/rotten.json" "$T/movie.torrent"
rotten_port=$(port_of rotten)
wait_for_log rotten "checking existing data" 10 >/dev/null
n=0
until [ -s "$T/rotten.json" ] && [ "$(json_get "$T/rotten.json" complete 2>/dev/null)" = True ]; do
    n=$((n + 1)); [ $n -gt 200 ] && fail "the seed never finished its check"
    sleep 0.1
done

# Rot after the check: the pieces' tags are those of the good bytes.
offs=""
for k in 1 4 9 13 17 22 27 31; do
    [ $((k * piece)) -lt "$size" ] && offs="$offs $((k * piece + 4321))"
done
# shellcheck disable=SC2086 # one argument per offset
rot_bytes "$T/rotten/movie.bin" $offs
cmp -s "$T/rotten/movie.bin" "$T/src/movie.bin" && fail "rot: nothing changed"

lt_beside_rotten "$T/movie.torrent" "$T/src" movie.bin 1M
line=$(grep -o "verify on read: [0-9]* pieces proved by their tag, [0-9]* by SHA-1" "$T/logs/rotten.log" | tail -1)
log "rotten seed: $line"
[ -n "$line" ] || fail "no verify-on-read summary in the seed's log"
tags=$(awk '{print $4}' <<<"$line")
sha=$(awk '{print $10}' <<<"$line")
[ "$tags" -ge 1 ] || fail "no read-back was proved by its tag (the tags are not used)"
# Each rotten piece read fails its tag and is confirmed by SHA-1; a good
# piece never needs SHA-1 (each was tagged by the check).  Against the
# pieces rotted here, not the log's "failed its hash check" lines: a
# rotten piece met while the seed was already fetching it again is not
# logged so (a CI run: 6 SHA-1 read-backs, 5 such lines, 6 rotten pieces).
made=$(wc -w <<<"$offs")
[ "$sha" -le "$made" ] || fail "$sha read-backs needed SHA-1, but only $made pieces were rotted"
[ "$sha" -ge "$N_ROT" ] || fail "$N_ROT rotten pieces caught but only $sha SHA-1 read-backs"
