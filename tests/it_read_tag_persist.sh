#!/usr/bin/env bash
# Piece tags kept across restarts (net/tag_store.h, docs/ARCHITECTURE.md
# "Verify on read: piece tags").  A `peerflow seed` with --tag-key checks
# its data once and stops cleanly: the resume record and the tag file are
# written beside the data, the key file (0600, folder 0700) outside it.
#  1. Restarted with the same key (fast resume): every tag is restored, and
#     a `peerflow get` of the whole torrent from it is served with no
#     SHA-1 read-back at all (its stop's summary: "0 by SHA-1").
#  2. Bytes of 8 pieces flipped while the seed was down, size and mtime
#     kept (the resume record is trusted, the tags restored): a real
#     libtorrent leecher beside an honest seed completes byte-exact with
#     no byte of a failed piece; the rotten pieces failed their tag and
#     SHA-1 caught them (at most 8 SHA-1 read-backs: every other piece was
#     proved by its restored tag).
#  3. A tag file truncated, then one with a byte flipped (its HMAC
#     fails), then one made under another key: each is refused with a
#     warning, no tag is restored, and a download from the seed is
#     byte-exact with every read-back SHA-1-checked.
#  4. A key file open to other users, or not a key: a warning, no
#     persistence, the seed serves as before.
#
# Regression test: tags lost at a restart (every first read-back paying
# SHA-1: bench/throughput.sh's fast-resume seed at 0.57x), or a tag file
# trusted when it should not be.
. "$(dirname "$0")/lib.sh"
pf_setup 180
require_peerflow
require_libtorrent

piece=$((128 * 1024))
gen_file 4M "$T/src/movie.bin" movie
size=$(stat -c %s "$T/src/movie.bin")
npieces=$(((size + piece - 1) / piece))
$PF_BIN create -p 128K -o "$T/movie.torrent" "$T/src/movie.bin" >/dev/null
mkdir -p "$T/data"
cp "$T/src/movie.bin" "$T/data/movie.bin"
KEY=$T/state/pf/tag.key
SEED_ARGS=(-vv -d "$T/data" -l 0 --bind 127.0.0.1 --no-tracker)

# summary NAME: "TAGS SHA1" from NAME's stop ("verify on read: ...").
summary() {
    local line
    line=$(grep -o "verify on read: [0-9]* pieces proved by their tag, [0-9]* by SHA-1" "$T/logs/$1.log" | tail -1)
    [ -n "$line" ] || fail "$1: no verify-on-read summary in its log"
    awk '{print $4, $10}' <<<"$line"
}

# fetch_from SEED GETNAME: a `peerflow get` of the torrent from SEED, byte-exact.
fetch_from() {
    local port; port=$(port_of "$1")
    spawn "$2" $PF_BIN get -d "$T/$2" -l 0 --bind 127.0.0.1 --no-tracker --peer "127.0.0.1:$port" \
        --no-tag-key "$T/movie.torrent"
    expect_exit0 "$2" 30
    assert_same_file "$T/src/movie.bin" "$T/$2/movie.bin"
}

# checked_seed NAME: a seed that checks its data in full, stopped cleanly
# once done (its resume record and tag file written).
checked_seed() {
    local n=0
    spawn "$1" $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$KEY" --stats "$T/$1.json" "$T/movie.torrent"
    wait_for_log "$1" "checking existing data" 10 >/dev/null
    until [ -s "$T/$1.json" ] && [ "$(json_get "$T/$1.json" complete 2>/dev/null)" = True ]; do
        n=$((n + 1)); [ $n -gt 200 ] && fail "$1: the seed never finished its check"
        sleep 0.1
    done
    stop "$1"
}

# rot FILE OFFSET...: flips a byte at each offset, size and mtime kept.
rot() { rot_bytes "$@"; }

# 0. First run: a full check tags every piece; a clean stop saves them.
checked_seed first
tags_file=$(ls "$T/data/.peerflow/"*.tags 2>/dev/null) || fail "no tag file after a clean stop"
ls "$T/data/.peerflow/"*.resume >/dev/null || fail "no resume record after a clean stop"
[ "$(stat -c %a "$KEY")" = 600 ] || fail "key file mode $(stat -c %a "$KEY"), want 600"
[ "$(stat -c %a "$(dirname "$KEY")")" = 700 ] || fail "key folder mode $(stat -c %a "$(dirname "$KEY")"), want 700"
[ "$(stat -c %s "$KEY")" = 192 ] || fail "key file of $(stat -c %s "$KEY") bytes, want 192"
[ "$(stat -c %s "$tags_file")" = $((80 + 8 * npieces)) ] || fail "tag file of $(stat -c %s "$tags_file") bytes"
grep -q "$(head -c 16 "$KEY" | od -An -tx1 | tr -d ' \n')" <(od -An -tx1 "$tags_file" | tr -d ' \n') &&
    fail "the tag file holds the key's bytes"

# 1. Restart: tags restored, no SHA-1 read-back.
spawn again $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$KEY" "$T/movie.torrent"
wait_for_log again "fast resume" 10 >/dev/null
restored=$(wait_for_log again "piece tags restored" 10 | sed -E 's/.*: ([0-9]+) piece tags restored.*/\1/')
[ "$restored" = "$npieces" ] || fail "$restored piece tags restored, want $npieces"
fetch_from again get1
stop again
read -r tags sha < <(summary again)
log "restarted seed: $tags read-backs proved by their tag, $sha by SHA-1 ($npieces pieces)"
[ "$sha" = 0 ] || fail "$sha read-backs needed SHA-1 after a restart with the tags kept"
[ "$tags" -ge "$npieces" ] || fail "only $tags read-backs proved by their tag, want $npieces"

# 2. Rot while the seed is down: restored tags do not vouch for it.
offs=""
for k in 1 4 9 13 17 22 27 31; do
    [ $((k * piece)) -lt "$size" ] && offs="$offs $((k * piece + 4321))"
done
rot "$T/data/movie.bin" $offs
cmp -s "$T/data/movie.bin" "$T/src/movie.bin" && fail "rot: nothing changed"
spawn rotten $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$KEY" "$T/movie.torrent"
rotten_port=$(port_of rotten)
wait_for_log rotten "fast resume" 10 >/dev/null
wait_for_log rotten "$npieces piece tags restored" 10 >/dev/null
lt_beside_rotten "$T/movie.torrent" "$T/src" movie.bin 1M
read -r tags sha < <(summary rotten)
made=$(wc -w <<<"$offs")
log "rotten seed: $tags proved by their tag, $sha by SHA-1; $made pieces rotted, $N_ROT caught"
[ "$tags" -ge 1 ] || fail "no read-back was proved by a restored tag"
[ "$sha" -le "$made" ] || fail "$sha read-backs needed SHA-1, but only $made pieces were rotted"
[ "$sha" -ge "$N_ROT" ] || fail "$N_ROT rotten pieces caught but only $sha SHA-1 read-backs"

# 3. Tag files that must not be used: each costs SHA-1 read-backs only.
cp "$T/src/movie.bin" "$T/data/movie.bin" # whole again (a new mtime: a full check)
checked_seed recheck
good=$T/good.tags
cp "$tags_file" "$good"
# bad_run NAME WHY [KEYFILE]: the seed refuses its tag file for WHY and
# serves a byte-exact copy, every read-back SHA-1-checked.
bad_run() {
    local name=$1 why=$2 key=${3:-$KEY} tags sha
    spawn "$name" $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$key" "$T/movie.torrent"
    wait_for_log "$name" "fast resume" 10 >/dev/null
    wait_for_log "$name" "piece tags not restored: tag file $why" 10 >/dev/null
    grep -q "piece tags restored" "$T/logs/$name.log" && fail "$name: tags restored from a bad tag file"
    fetch_from "$name" "get_$name"
    stop "$name"
    read -r tags sha < <(summary "$name")
    log "$name: $tags proved by their tag, $sha by SHA-1"
    [ "$sha" -ge "$npieces" ] || fail "$name: only $sha SHA-1 read-backs of $npieces pieces"
    return 0
}
head -c $((80 + 8 * npieces - 5)) "$good" >"$tags_file"
bad_run truncated "wrong size"
cp "$good" "$tags_file"
$PY - "$tags_file" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(48 + 8 * 3 + 2)  # a byte of piece 3's tag
    b = f.read(1)
    f.seek(48 + 8 * 3 + 2)
    f.write(bytes([b[0] ^ 1]))
PYEOF
bad_run flipped "corrupt"
cp "$good" "$tags_file"
$PY - "$tags_file" <<'PYEOF'
import sys
# piece 0's and piece 1's tags swapped: each a real tag, in the wrong place
with open(sys.argv[1], "r+b") as f:
    f.seek(48)
    a, b = f.read(8), f.read(8)
    f.seek(48)
    f.write(b + a)
PYEOF
bad_run swapped "corrupt"
cp "$good" "$tags_file"
bad_run otherkey "made under another key" "$T/state/pf/other.key"

# 4. Key files that cannot be used: a warning, and the seed works.
chmod 644 "$KEY"
spawn openkey $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$KEY" "$T/movie.torrent"
wait_for_log openkey "piece tag key .*open to other users.*not kept across restarts" 10 >/dev/null
fetch_from openkey get_openkey
stop openkey
chmod 600 "$KEY"
head -c 100 /dev/urandom >"$T/state/pf/short.key"
chmod 600 "$T/state/pf/short.key"
spawn shortkey $PF_BIN seed "${SEED_ARGS[@]}" --tag-key "$T/state/pf/short.key" "$T/movie.torrent"
wait_for_log shortkey "piece tag key .*not a key" 10 >/dev/null
fetch_from shortkey get_shortkey
stop shortkey
